//! One verdict per `vrrp_instance`, the same for `check` and `run`.
//!
//! The parser judges what keepalived judges (syntax, ranges). This judges what vrrp-agent can
//! run, and `check` prints exactly what `run` will do:
//! - not implemented (`auth_type AH`, VRRPv2 over IPv6): a warning ending in "not started", as every unimplemented feature is a warning (`check`
//!   exits 0 where keepalived accepts the file: the real-world corpus has AH instances);
//!   `run` does not start the instance and names it;
//! - an interface that does not exist (yet): a warning, as in keepalived; `run` starts the
//!   instance in FAULT and brings it up when the interface appears.
//!
//! In every case the other instances run.
use crate::config::{self, Diagnostic, Loaded, RejectedInstance, Severity};

/// Whether an interface of this name exists in the current network namespace.
pub fn interface_exists(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok()
}

/// The interfaces an instance needs: its own and its VIPs' `dev`s, each once.
pub fn interfaces(inst: &config::Instance) -> Vec<&str> {
    let mut out = vec![inst.interface.as_str()];
    for v in inst.vips.iter().chain(&inst.excluded_vips) {
        if let Some(d) = v.dev.as_deref()
            && !out.contains(&d)
        {
            out.push(d);
        }
    }
    out
}

/// What vrrp-agent says about one instance the parser accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Located, for `check` to print and `run` to log.
    pub diagnostics: Vec<Diagnostic>,
    /// Whether `run` starts it (possibly in FAULT, waiting for its interface).
    pub runs: bool,
}

/// Suffix of the diagnostics that keep an instance from running.
pub const NOT_STARTED: &str = "; not started";

/// The verdict on one instance the parser accepted.
pub fn instance_verdict(inst: &config::Instance, interface_exists: &dyn Fn(&str) -> bool) -> Verdict {
    let mut out = Vec::new();
    let mut say = |severity, line: usize, message: String| {
        out.push(Diagnostic {
            file: inst.file.clone(),
            line,
            severity,
            message: format!("vrrp_instance {}: {message}", inst.name),
        })
    };
    // keepalived 2.2.7 sends VRRPv2 over IPv6 outside vrrp_strict, a format no RFC defines
    // (RFC 3768 is IPv4 only; under vrrp_strict the parser has already made it version 3).
    if inst.version == 2 && inst.is_ipv6() {
        say(
            Severity::Warning,
            inst.line,
            format!("VRRP version 2 over IPv6 is not supported (RFC 3768 is IPv4 only; use version 3){NOT_STARTED}"),
        );
    }
    if inst.version == 2 && inst.auth == Some(config::Auth::Ah) {
        say(
            Severity::Warning,
            inst.line,
            format!("auth_type AH is not supported (keepalived deprecates it; use PASS or none){NOT_STARTED}"),
        );
    }
    for name in interfaces(inst) {
        if !interface_exists(name) {
            say(
                Severity::Warning,
                inst.line,
                format!("interface {name} does not exist: `run` starts this instance in FAULT until it appears"),
            );
        }
    }
    let runs = !out.iter().any(|d| d.message.ends_with(NOT_STARTED));
    Verdict { diagnostics: out, runs }
}

/// Applies [`instance_verdict`] to every instance of `loaded`: its diagnostics are added (in
/// file and line order) and the instances that do not run move to `config.rejected` (with
/// `errors` = how many of their diagnostics are errors, possibly 0).
pub fn judge(loaded: &mut Loaded, interface_exists: &dyn Fn(&str) -> bool) {
    let mut kept = Vec::new();
    for inst in std::mem::take(&mut loaded.config.instances) {
        let v = instance_verdict(&inst, interface_exists);
        let errors = v.diagnostics.iter().filter(|d| d.severity >= Severity::Error).count();
        loaded.diagnostics.extend(v.diagnostics);
        if !v.runs {
            loaded.config.rejected.push(RejectedInstance { name: inst.name.clone(), file: inst.file.clone(), line: inst.line, errors });
        } else {
            kept.push(inst);
        }
    }
    loaded.config.instances = kept;
    // Keep the reader's order of files; lines in order within each file.
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for d in &loaded.diagnostics {
        if !files.contains(&d.file) {
            files.push(d.file.clone());
        }
    }
    loaded.diagnostics.sort_by_key(|d| (files.iter().position(|f| *f == d.file), d.line));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Loaded {
        config::parse_str(text, "k.conf", &config::LoadOptions::default()).expect("parse")
    }

    const FILE: &str = "\
vrrp_instance GOOD {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    198.18.0.100
  }
}
vrrp_instance V6 {
  interface eth0
  virtual_router_id 2
  version 2
  virtual_ipaddress {
    2001:db8::100
  }
}
vrrp_instance AH {
  interface eth0
  virtual_router_id 3
  authentication {
    auth_type AH
  }
  virtual_ipaddress {
    198.18.0.101
  }
}
vrrp_instance LATE {
  interface late0
  virtual_router_id 4
  virtual_ipaddress {
    198.18.0.102
  }
}
vrrp_instance V6OK {
  interface eth0
  virtual_router_id 5
  virtual_ipaddress {
    fe80::5
    2001:db8::105
  }
}
";

    #[test]
    fn one_verdict_per_instance() {
        let mut l = load(FILE);
        let before = l.diagnostics.iter().filter(|d| d.severity >= Severity::Error).count();
        judge(&mut l, &|name| name == "eth0");
        let names: Vec<&str> = l.config.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["GOOD", "LATE", "V6OK"], "a missing interface does not stop an instance; IPv6 (v3) runs");
        let rejected: Vec<(&str, usize)> = l.config.rejected.iter().map(|r| (r.name.as_str(), r.line)).collect();
        assert_eq!(rejected, [("V6", 8), ("AH", 16)]);
        let said: Vec<String> = l.diagnostics.iter().skip(before).map(ToString::to_string).collect();
        assert!(said.iter().any(|d| d == "k.conf:8: warning: vrrp_instance V6: VRRP version 2 over IPv6 is not supported (RFC 3768 is IPv4 only; use version 3); not started"), "{said:#?}");
        assert!(said.iter().any(|d| d.starts_with("k.conf:16: warning: vrrp_instance AH: auth_type AH is not supported")), "{said:#?}");
        assert!(said.iter().any(|d| d.starts_with("k.conf:26: warning: vrrp_instance LATE: interface late0 does not exist")), "{said:#?}");
        assert!(!said.iter().any(|d| d.contains("V6OK")), "nothing to say about V6OK: {said:#?}");
        assert_eq!(l.exit_code(), 0, "not implemented: warnings, as keepalived accepts these");
        assert_eq!(l.config.rejected.iter().map(|r| r.errors).collect::<Vec<_>>(), [0, 0]);
        assert_eq!(l.file_level_errors(), 0, "the errors belong to their instances");
    }
}
