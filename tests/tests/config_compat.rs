//! keepalived.conf compatibility: `vrrp-agent check` against `keepalived -t` (2.2.7).
//!
//! Every config is checked by both programs inside a fresh network namespace that holds a
//! link for every interface the config names (keepalived -t also fails on a missing
//! interface). The namespace is deleted on drop, also when a test panics. Needs root and
//! /usr/sbin/keepalived; skips with a printed reason otherwise.
//!
//! # Exit codes
//! keepalived 2.2.7 (`enum exit_code` in keepalived/include/main.h and `config_test_exit()`):
//!
//! | keepalived -t | meaning                                                   | verdict here |
//! |---------------|-----------------------------------------------------------|--------------|
//! | 0 `EXIT_OK`   | nothing reported (but see below: it is also 0 after a missing `include` or a missing `-f` file, which it only logs) | clean if it printed nothing |
//! | 2 `PROGRAM_ERROR` | seen for a keyword missing its parameter (`notify_master` alone) | complains |
//! | 4 `EXIT_CONFIG` | config file not found / bad interface / fatal config error | complains |
//! | 5 `CONFIG_TEST` | anything reported through report_config_error: warnings and errors alike (a truncated auth_pass gives 5 just like priority 400), and a missing interface | complains |
//! | 6 `CONFIG_TEST_SECURITY` | a script would run as root without enable_script_security | complains |
//!
//! vrrp-agent's contract is unchanged: 0 clean or warnings only, 4 errors, 3 cannot run.
//! Because keepalived's 5 does not separate "accepted with a remark" from "rejected", the
//! verdicts compared are:
//! * keepalived prints nothing and exits 0  <=>  `check` exits 0 (warnings allowed: features
//!   vrrp-agent does not implement are warned about where keepalived is silent);
//! * keepalived complains                   =>  `check` has a diagnostic naming every line
//!   (or, for messages without a line, the keyword/name) keepalived complains about; and
//!   whether that complaint is an error (`check` exits 4) or a remark (`check` exits 0) is
//!   the corpus file's declared expectation (`! expect: valid|warn|invalid` on line 1),
//!   with a cross-check that an `invalid` file draws an error-class message from keepalived.
//!
//! How keepalived reports: `(FILE: Line N) message` or `(Line N) message` (global_defs,
//! include errors), and some messages without any location, usually starting with the
//! instance name: `(VI_1) No VIP specified; ...`. Messages are printed once per process
//! (parent, VRRP, checker), so they are de-duplicated.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use vrrp_tests::{Netns, agent_binary, new_prefix, require_root, valid_ifname, workspace_root};

const KEEPALIVED: &str = "/usr/sbin/keepalived";
/// A config id no host has, so `@id` lines select the same way in both programs
/// (keepalived defaults the id to the host name; vrrp-agent to none).
const CONFIG_ID: &str = "vrrp-compat-none";

/// One message of `keepalived -t`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct KaMsg {
    file: Option<String>,
    line: Option<usize>,
    text: String,
}

/// One diagnostic of `vrrp-agent check`.
#[derive(Debug, Clone)]
struct Ours {
    file: String,
    line: usize,
    severity: String,
    text: String,
}

struct Run {
    ka_code: i32,
    ka: Vec<KaMsg>,
    ours_code: i32,
    ours: Vec<Ours>,
    links: Vec<String>,
    /// The namespace both ran in (kept alive until the results are read).
    _ns: Netns,
}

fn skip_reason() -> Option<String> {
    if !Path::new(KEEPALIVED).exists() {
        // `cargo xtask test` installs it: in CI a missing keepalived is a failure, not a skip.
        assert!(std::env::var_os("CI").is_none(), "{KEEPALIVED} not installed, and CI is set: refusing to skip");
        return Some(format!("{KEEPALIVED} not installed"));
    }
    None
}

/// A link named `name` in `ns`: a dummy if the kernel has them, else a bridge (this
/// sandbox's kernel has no dummy driver; keepalived -t accepts either, not an ifb, which
/// lacks multicast).
fn add_link(ns: &Netns, name: &str) -> Result<(), String> {
    if !valid_ifname(name) {
        return Err(format!("'{name}' cannot be a Linux interface name"));
    }
    let ok = ns.ip(&["link", "add", name, "type", "dummy"]).is_ok()
        || ns.ip(&["link", "add", name, "type", "bridge"]).is_ok();
    if !ok {
        return Err(format!("cannot create a link named '{name}'"));
    }
    ns.ip(&["link", "set", name, "up"]).map_err(|e| format!("{name} up: {e}"))?;
    Ok(())
}

fn parse_ka(out: &str) -> Vec<KaMsg> {
    let mut set = BTreeSet::new();
    for raw in out.lines() {
        let l = raw.trim_end();
        if l.trim().is_empty() || l.starts_with("Non-existent interface specified") {
            continue;
        }
        let mut msg = KaMsg { file: None, line: None, text: l.trim().to_string() };
        if let Some(rest) = l.strip_prefix('(')
            && let Some(close) = rest.find(") ")
        {
            let loc = &rest[..close];
            let (file, line) = match loc.rsplit_once("Line ") {
                Some((f, n)) => (f.trim_end().trim_end_matches(':'), n),
                None => ("", ""),
            };
            if let Ok(n) = line.parse::<usize>() {
                msg.line = Some(n);
                msg.file = (!file.is_empty()).then(|| file.to_string());
                msg.text = rest[close + 2..].trim().to_string();
            }
        }
        set.insert(msg);
    }
    set.into_iter().collect()
}

fn parse_ours(stderr: &str) -> Vec<Ours> {
    let mut v = Vec::new();
    for l in stderr.lines() {
        for sev in ["warning", "error", "fatal"] {
            let pat = format!(": {sev}: ");
            if let Some(i) = l.find(&pat)
                && let Some((file, line)) = l[..i].rsplit_once(':')
                && let Ok(line) = line.parse()
            {
                v.push(Ours {
                    file: file.to_string(),
                    line,
                    severity: sev.to_string(),
                    text: l[i + pat.len()..].to_string(),
                });
                break;
            }
        }
    }
    v
}

/// Interface names keepalived says are missing.
fn missing_links(out: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for l in out.lines() {
        for (pre, post) in [("interface ", " for "), ("tracked interface ", " doesn't exist")] {
            let mut from = 0;
            while let Some(i) = l[from..].find(pre) {
                let s = from + i + pre.len();
                if let Some(j) = l[s..].find(post) {
                    let name = &l[s..s + j];
                    if !name.is_empty() && !name.contains(' ') && l.contains("doesn't exist") {
                        names.insert(name.to_string());
                    }
                }
                from = s;
            }
        }
    }
    names
}

/// Run both checkers on `file` in a fresh namespace. `Err` = cannot be compared here
/// (an interface name that cannot be created), with the reason.
fn run_both(file: &Path) -> Result<Run, String> {
    let ns = Netns::create(&new_prefix("cfgcompat")).map_err(|e| format!("netns: {e:#}"))?;
    let agent = agent_binary().map_err(|e| format!("{e:#}"))?;
    let mut links: Vec<String> = Vec::new();
    let (ka_code, ka_out) = loop {
        let out = ns
            .cmd(KEEPALIVED)
            .args(["-t", "-i", CONFIG_ID, "-f"])
            .arg(file)
            .output()
            .map_err(|e| format!("running keepalived: {e}"))?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let missing: Vec<String> = missing_links(&text).into_iter().filter(|n| !links.contains(n)).collect();
        if missing.is_empty() || links.len() > 64 {
            break (out.status.code().unwrap_or(-1), text);
        }
        for name in missing {
            add_link(&ns, &name)?;
            links.push(name);
        }
    };
    let out = ns
        .cmd(agent.to_str().ok_or("agent path is not UTF-8")?)
        .args(["check", "-f"])
        .arg(file)
        .output()
        .map_err(|e| format!("running vrrp-agent: {e}"))?;
    Ok(Run {
        ka_code,
        ka: parse_ka(&ka_out),
        ours_code: out.status.code().unwrap_or(-1),
        ours: parse_ours(&String::from_utf8_lossy(&out.stderr)),
        links,
        _ns: ns,
    })
}

fn same_file(ka: Option<&str>, ours: &str) -> bool {
    match ka {
        None => true,
        Some(k) => Path::new(ours).ends_with(k) || Path::new(k).ends_with(ours),
    }
}

/// "lines A-B" ranges our diagnostics give for blocks they skipped.
fn skipped_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("lines ") {
        rest = &rest[i + 6..];
        let num: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
        if let Some((a, b)) = num.split_once('-')
            && let (Ok(a), Ok(b)) = (a.parse(), b.parse())
        {
            v.push((a, b));
        }
    }
    v
}

/// Names a location-less keepalived message refers to.
fn tokens(text: &str) -> Vec<String> {
    let mut t = Vec::new();
    if let Some(rest) = text.strip_prefix('(')
        && let Some(end) = rest.find(')')
    {
        t.push(rest[..end].to_string());
    }
    for (open, close) in [('[', ']'), ('\'', '\''), ('"', '"')] {
        let mut rest = text;
        while let Some(i) = rest.find(open) {
            let after = &rest[i + 1..];
            let Some(j) = after.find(close) else { break };
            t.push(after[..j].to_string());
            rest = &after[j + 1..];
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let w = w.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        if w.contains('_') && w.len() >= 3 {
            t.push(w.to_string());
        }
        let prev2 = if i >= 2 { format!("{} {}", words[i - 2], words[i - 1]) } else { String::new() };
        if ["track script", "sync group", "Sync group", "Virtual router"].contains(&prev2.as_str()) {
            t.push(w.to_string());
        }
    }
    if text.contains("both use VRID") && words.len() > 2 {
        t.push(words[0].to_string());
        t.push(words[2].to_string());
    }
    t.retain(|s| s.len() >= 2 && s != "{" && s != "}");
    t
}

/// Does one of our diagnostics name what keepalived complains about in `k`?
/// `cascade`: lines after an "Unexpected '{'" that keepalived misparses because it does
/// not skip an unknown block (we name the block's line instead).
fn covered(k: &KaMsg, ours: &[Ours], cascade: &[(Option<String>, usize)]) -> bool {
    match k.line {
        Some(n) => {
            let f = k.file.as_deref();
            ours.iter().any(|o| {
                same_file(f, &o.file)
                    && (o.line == n || skipped_ranges(&o.text).iter().any(|&(a, b)| (a..=b).contains(&n)))
            }) || (k.text.starts_with("Unknown keyword") || k.text.starts_with("Unexpected '{'"))
                && cascade.iter().any(|(cf, l)| *l < n && (cf.is_none() || f.is_none() || cf.as_deref() == f))
        }
        None => {
            if k.text.contains("missing '}'") {
                return ours.iter().any(|o| o.text.contains("never closed"));
            }
            let t = tokens(&k.text);
            ours.iter().any(|o| t.iter().any(|tok| o.text.contains(tok.as_str())))
        }
    }
}

/// keepalived messages of `run` none of our diagnostics names.
fn uncovered(run: &Run) -> Vec<KaMsg> {
    let mut cascade: Vec<(Option<String>, usize)> = Vec::new();
    let mut out = Vec::new();
    // Sorted by (file, line): cascade starts come before the lines they explain.
    let mut msgs = run.ka.clone();
    msgs.sort_by_key(|m| (m.line.unwrap_or(usize::MAX), m.file.clone()));
    for k in &msgs {
        let ok = covered(k, &run.ours, &cascade);
        if ok && k.text.starts_with("Unexpected '{'") && let Some(l) = k.line {
            cascade.push((k.file.clone(), l));
        }
        if !ok {
            out.push(k.clone());
        }
    }
    out
}

fn describe(run: &Run) -> String {
    let mut s = format!("  keepalived -t exit {} (links {:?}):\n", run.ka_code, run.links);
    for k in &run.ka {
        s += &format!("    {:?}:{:?} {}\n", k.file, k.line, k.text);
    }
    s += &format!("  vrrp-agent check exit {}:\n", run.ours_code);
    for o in &run.ours {
        s += &format!("    {}:{}: {}: {}\n", o.file, o.line, o.severity, o.text);
    }
    s
}

/// keepalived messages that say a value was rejected, replaced or dropped.
fn error_class(text: &str) -> bool {
    const PATTERNS: &[&str] = &[
        "not valid", "invalid", "outside range", "must be set", "missing", "Extra '}'",
        "both use VRID", "already defined", "must have a name", "skipping", "Unknown interface",
        "unknown authentication", "more than one sync group",
    ];
    PATTERNS.iter().any(|p| text.contains(p))
}

fn corpus_files(dir: &Path, recurse: bool) -> Vec<PathBuf> {
    fn walk(dir: &Path, recurse: bool, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        v.sort();
        for p in v {
            if p.is_dir() {
                if recurse {
                    walk(&p, recurse, out);
                }
            } else if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(".conf")) {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, recurse, &mut v);
    v
}

#[test]
fn own_corpus_same_verdict_as_keepalived() {
    if !require_root("own_corpus_same_verdict_as_keepalived") {
        return;
    }
    if let Some(r) = skip_reason() {
        eprintln!("SKIP own_corpus_same_verdict_as_keepalived: {r}");
        return;
    }
    let dir = workspace_root().join("tests/keepalived-corpus");
    let files = corpus_files(&dir, false);
    assert!(files.len() >= 25, "corpus too small: {}", files.len());
    let (mut failures, mut counts) = (Vec::new(), [0usize; 3]);
    for f in &files {
        let text = std::fs::read_to_string(f).expect("corpus file");
        let expect = text.lines().next().and_then(|l| l.strip_prefix("! expect: ")).map(str::trim);
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let run = match run_both(f) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: cannot run: {e}"));
                continue;
            }
        };
        let complains = run.ka_code != 0 || !run.ka.is_empty();
        let missed = uncovered(&run);
        let problem = match expect {
            Some("valid") => {
                counts[0] += 1;
                if complains {
                    Some("expected valid, but keepalived complains".to_string())
                } else if run.ours_code != 0 {
                    Some("keepalived accepts it, vrrp-agent does not".to_string())
                } else {
                    None
                }
            }
            Some("warn") => {
                counts[1] += 1;
                if !complains {
                    Some("expected keepalived to complain".to_string())
                } else if run.ours_code != 0 {
                    Some("keepalived keeps everything, vrrp-agent rejects it".to_string())
                } else if !missed.is_empty() {
                    Some(format!("vrrp-agent silent about {missed:?}"))
                } else {
                    None
                }
            }
            Some("invalid") => {
                counts[2] += 1;
                if !complains || !run.ka.iter().any(|k| error_class(&k.text)) {
                    Some("expected an error-class complaint from keepalived".to_string())
                } else if run.ours_code != 4 && run.ours_code != 3 {
                    Some(format!("keepalived rejects it, vrrp-agent exits {}", run.ours_code))
                } else if !missed.is_empty() {
                    Some(format!("vrrp-agent silent about {missed:?}"))
                } else {
                    None
                }
            }
            other => Some(format!("first line must be `! expect: valid|warn|invalid`, got {other:?}")),
        };
        println!("{name}: expect {} keepalived={} ours={}", expect.unwrap_or("?"), run.ka_code, run.ours_code);
        if let Some(p) = problem {
            failures.push(format!("{name}: {p}\n{}", describe(&run)));
        }
    }
    println!("corpus: {} valid, {} warn, {} invalid", counts[0], counts[1], counts[2]);
    assert!(failures.is_empty(), "{} of {} files differ:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn shared_corpus_accepted_and_every_keepalived_complaint_named() {
    if !require_root("shared_corpus_accepted_and_every_keepalived_complaint_named") {
        return;
    }
    if let Some(r) = skip_reason() {
        eprintln!("SKIP shared_corpus_accepted_and_every_keepalived_complaint_named: {r}");
        return;
    }
    let dir = workspace_root().join("../shared/keepalived-configs");
    if !dir.is_dir() {
        eprintln!("SKIP shared_corpus_accepted_and_every_keepalived_complaint_named: {} not present", dir.display());
        return;
    }
    let files = corpus_files(&dir, true);
    assert!(!files.is_empty());
    let (mut failures, mut checked, mut skipped) = (Vec::new(), 0, 0);
    for f in &files {
        let name = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
        let run = match run_both(f) {
            Ok(r) => r,
            Err(e) => {
                println!("SKIP {name}: {e}");
                skipped += 1;
                continue;
            }
        };
        checked += 1;
        let missed = uncovered(&run);
        let errors: Vec<&Ours> = run.ours.iter().filter(|o| o.severity != "warning").collect();
        println!("{name}: keepalived={} ({} messages) ours={} ({} diagnostics)", run.ka_code, run.ka.len(), run.ours_code, run.ours.len());
        if run.ours_code != 0 || !errors.is_empty() {
            failures.push(format!("{name}: vrrp-agent rejects a config keepalived accepts\n{}", describe(&run)));
        } else if !missed.is_empty() {
            let list: Vec<String> = missed.iter().map(|k| format!("{:?}:{:?} {}", k.file, k.line, k.text)).collect();
            failures.push(format!("{name}: keepalived complains, vrrp-agent silent:\n    {}\n{}", list.join("\n    "), describe(&run)));
        }
    }
    println!("shared corpus: {checked} checked, {skipped} skipped");
    assert!(failures.is_empty(), "{} of {} files:\n{}", failures.len(), files.len(), failures.join("\n"));
}

// ------------------------------------------------------------------ the helpers themselves

#[test]
fn parses_keepalived_messages() {
    let out = "(/a/b.conf: Line 7) number '400' outside range [1, 255]\n(Line 15) vrrp_garp_interval '0' is invalid\n(A) Unknown interface!\n(/a/b.conf: Line 7) number '400' outside range [1, 255]\nNon-existent interface specified in configuration\n";
    let m = parse_ka(out);
    assert_eq!(m.len(), 3);
    assert!(m.contains(&KaMsg { file: Some("/a/b.conf".into()), line: Some(7), text: "number '400' outside range [1, 255]".into() }));
    assert!(m.contains(&KaMsg { file: None, line: Some(15), text: "vrrp_garp_interval '0' is invalid".into() }));
    assert!(m.contains(&KaMsg { file: None, line: None, text: "(A) Unknown interface!".into() }));
    let o = parse_ours("/x/y.conf:12: warning: unknown keyword 'a: b', ignored\n/x/y.conf: configuration OK\n");
    assert_eq!((o.len(), o[0].line, o[0].severity.as_str()), (1, 12, "warning"));
    let names = missing_links("(f: Line 2) WARNING - interface bond0.2 for vrrp_instance 42 doesn't exist\n(f: Line 3) (VI_1) tracked interface eth3 doesn't exist\n");
    assert_eq!(names.into_iter().collect::<Vec<_>>(), vec!["bond0.2".to_string(), "eth3".to_string()]);
    assert_eq!(skipped_ranges("vrrp_script x at lines 8-10 is not implemented"), vec![(8, 10)]);
    assert!(tokens("Virtual router VI_2 specified in sync group VG1 doesn't exist").contains(&"VG1".to_string()));
}
