//! The command line (clap), in the library so that the man pages and shell completions are
//! generated from the same definition the binary parses (`vrrp-agent generate-man DIR`,
//! `vrrp-agent generate-completions SHELL`: hidden subcommands `cargo xtask package` runs).

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::dataplane::{KernelLogLevel, XdpMode};

/// The program's name and one-line description, shared by the parser and the man page.
pub const NAME: &str = "vrrp-agent";
const ABOUT: &str = "VRRP with an XDP dataplane; reads keepalived.conf";
const LONG_ABOUT: &str = "VRRP with an XDP dataplane; reads keepalived.conf.\n\n\
    Hosts sharing virtual IP addresses elect a master with VRRP (RFC 3768 v2, RFC 5798 v3), \
    configured in keepalived's syntax. An XDP program validates and counts the adverts and \
    answers ARP for the addresses this host owns; the agent runs the election, adds and removes \
    the addresses, tracks health and runs notify scripts. `run` is the daemon, `check` checks \
    configurations as keepalived -t does, `status` reads the pinned maps.";

#[derive(Parser)]
#[command(name = NAME, version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground, logging to stderr.
    Run {
        /// keepalived-syntax configuration file.
        #[arg(short = 'f', long = "use-file", visible_alias = "config", default_value = "/etc/keepalived/keepalived.conf")]
        file: PathBuf,
        /// Config id selecting `@name` conditional lines (keepalived's -i).
        #[arg(short = 'i', long = "config-id")]
        config_id: Option<String>,
        /// Where this agent pins its maps (a bpf filesystem is mounted there if needed).
        #[arg(long, default_value = "/sys/fs/bpf/vrrp")]
        bpffs: PathBuf,
        /// XDP attach mode. `auto` never picks a mode where XDP_TX silently fails.
        #[arg(long, value_enum, default_value = "auto")]
        xdp_mode: XdpMode,
        /// Replace an XDP program another tool attached to our interfaces (refused by default).
        #[arg(long)]
        force_xdp: bool,
        /// Log level of the XDP program's own log lines (patched in at load time; per-packet
        /// lines are at trace).
        #[arg(long, value_enum, default_value = "warn")]
        kernel_log: KernelLogLevel,
        /// Seconds a notify script may run before it is killed (with its children).
        #[arg(long, default_value_t = 10.0)]
        notify_timeout: f64,
        /// Log filter (tracing EnvFilter syntax, e.g. `info,vrrp_xdp=trace`); overrides RUST_LOG.
        /// The XDP program's lines use the target `vrrp_xdp`.
        #[arg(long)]
        log: Option<String>,
        /// Serve Prometheus metrics at http://ADDR:PORT/metrics.
        #[arg(long, value_name = "ADDR:PORT")]
        metrics: Option<std::net::SocketAddr>,
        /// Where SIGUSR1/SIGUSR2/SIGRTMIN+2 write keepalived.data/.stats/.json (default as
        /// keepalived: $TMPDIR if absolute, else /tmp).
        #[arg(long, hide = true)]
        dump_dir: Option<PathBuf>,
    },
    /// Check a configuration like `keepalived -t`: exit 0 clean, 4 errors, 3 cannot run.
    /// With one `-f` per node (two or more), check the nodes against each other: exit 0 if
    /// failover works as configured, 1 if it does not (3: a file cannot be read).
    #[command(visible_alias = "-t")]
    Check {
        /// The configuration; repeat it, one file per node, to check nodes against each other.
        #[arg(short = 'f', long = "use-file", visible_alias = "config", default_value = "/etc/keepalived/keepalived.conf")]
        file: Vec<PathBuf>,
        /// Config id selecting `@name` conditional lines; with several files, one per `-f`
        /// (in order) or none.
        #[arg(short = 'i', long = "config-id")]
        config_id: Vec<String>,
        /// Print the configuration as understood, as JSON (one file only).
        #[arg(long)]
        dump: bool,
        /// Several nodes: print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Several nodes: warnings fail too (exit 1).
        #[arg(long)]
        strict: bool,
    },
    /// Print each instance's state and counters from the pinned maps.
    Status {
        #[arg(long, default_value = "/sys/fs/bpf/vrrp")]
        bpffs: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Make the running XDP program report each VRRP and ARP packet it handles into the
    /// agent's log (target `vrrp_trace`), or stop it. Off by default.
    Trace {
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[arg(long, default_value = "/sys/fs/bpf/vrrp")]
        bpffs: PathBuf,
    },
    /// Print the signal number for STOP, RELOAD, DATA, STATS or JSON, like `keepalived
    /// --signum` (DATA, STATS and JSON write /tmp/keepalived.data, .stats and .json).
    Signum {
        name: String,
    },
    /// Write the man pages (section 8) into DIR: what packaging installs.
    #[command(hide = true)]
    GenerateMan {
        dir: PathBuf,
    },
    /// Print a completion script for SHELL on stdout.
    #[command(hide = true)]
    GenerateCompletions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where the packaged service (`vrrp-agent.service`) reads its configuration. The agent's own
/// default (`-f`) stays keepalived's path; the package keeps its conffile apart from it, so
/// purging the package never deletes a keepalived configuration.
pub const SERVICE_CONFIG: &str = "/etc/vrrp-agent/keepalived.conf";

/// Exit status after SIGQUIT: the agent left its VIPs, pins, XDP link and lease for the next
/// agent (EX_TEMPFAIL; the unit restarts the service on it at once).
pub const EXIT_HITLESS_RESTART: u8 = 75;

/// The sections of vrrp-agent(8) that clap does not describe: (heading, entries). An entry
/// with a tag becomes a tagged paragraph, one without a plain paragraph.
type ManSection = (&'static str, &'static [(Option<&'static str>, &'static str)]);

const MAN_EXTRA: &[ManSection] = &[
    (
        "SIGNALS",
        &[
            (
                Some("SIGHUP"),
                "Reload the configuration file as keepalived does: instances whose settings did not change keep running undisturbed, \
                 changed ones restart, removed ones stop (a master hands over first, as on SIGTERM), new ones start. \
                 A file with errors is refused and the running configuration stays.",
            ),
            (
                Some("SIGTERM, SIGINT"),
                "Stop with a make-before-break hand-over: a master sends priority 0 but keeps its virtual addresses, and keeps answering \
                 ARP for them, until it hears its successor and one advert interval more, at most its Master_Down_Interval; then it \
                 removes them, detaches XDP, removes its pins and exits 0. A second signal stops at once.",
            ),
            (
                Some("SIGUSR1, SIGUSR2, SIGRTMIN+2"),
                "Write keepalived.data, keepalived.stats and keepalived.json, in keepalived's formats and at its paths ($TMPDIR if \
                 absolute, else /tmp), read from the pinned maps. vrrp-agent signum DATA|STATS|JSON prints the numbers.",
            ),
            (
                Some("SIGQUIT"),
                "Hitless restart: exit at once with status 75, leaving the virtual addresses, the pinned maps, the pinned XDP link and \
                 its lease in place for the next agent, which adopts them if it starts before the lease runs out.",
            ),
        ],
    ),
    (
        "SERVICE",
        &[
            (
                None,
                "The package installs vrrp-agent.service, which runs vrrp-agent run -f /etc/vrrp-agent/keepalived.conf as root. \
                 Reload: systemctl reload vrrp-agent (SIGHUP). Stop: systemctl stop vrrp-agent (SIGTERM, the hand-over above, \
                 within the unit's TimeoutStopSec before SIGKILL).",
            ),
            (
                None,
                "Restart or upgrade without a failover: install the new package (it does not restart the service), then run \
                 systemctl kill -s QUIT --kill-who=main vrrp-agent. The running agent exits with status 75 and systemd starts the \
                 new binary at once, which adopts what the old one left. systemctl restart instead hands the virtual addresses over \
                 to a backup and back.",
            ),
        ],
    ),
    (
        "EXIT STATUS",
        &[
            (Some("run"), "0 after a clean stop; 75 after SIGQUIT (hitless restart); 1 when it cannot start or fails."),
            (Some("check"), "0 clean, 4 errors in the configuration, 3 it cannot be read. With several files: 0 failover works as configured, 1 it does not, 3 a file cannot be read."),
            (Some("all"), "2 for a usage error."),
        ],
    ),
    (
        "FILES",
        &[
            (Some("/etc/vrrp-agent/keepalived.conf"), "The configuration of the packaged service (keepalived.conf syntax)."),
            (Some("/etc/keepalived/keepalived.conf"), "The default of -f when run by hand."),
            (Some("/sys/fs/bpf/vrrp"), "The default --bpffs directory: the pinned maps, read by vrrp-agent status and bpftool."),
            (Some("/usr/lib/systemd/system/vrrp-agent.service"), "The systemd unit."),
        ],
    ),
    ("SEE ALSO", &[(None, "keepalived.conf(5), keepalived(8), systemctl(1), bpftool(8)")]),
];

/// The command line as users see it, for the man pages and completions: the parser's
/// subcommands without the hidden ones (clap_complete would offer those too) and without
/// clap's `help` subcommand.
fn command() -> clap::Command {
    let full = Cli::command();
    let mut cmd = clap::Command::new(NAME)
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .long_about(LONG_ABOUT)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .disable_help_subcommand(true)
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    cmd.build();
    cmd
}

fn man_extra(roff: &mut clap_mangen::roff::Roff) {
    use clap_mangen::roff::{bold, roman};
    for (heading, entries) in MAN_EXTRA {
        roff.control("SH", [*heading]);
        for (tag, text) in *entries {
            match tag {
                Some(tag) => {
                    roff.control("TP", []);
                    roff.text([bold(*tag)]);
                }
                None => {
                    roff.control("PP", []);
                }
            }
            roff.text([roman(*text)]);
        }
    }
}

/// The man pages, (file name, roff source): `vrrp-agent.8` (synopsis, subcommands, signals,
/// the service, exit status, files) and one `vrrp-agent-<subcommand>.8` per visible
/// subcommand with its options.
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let cmd = command();
    let page = |c: &clap::Command| {
        let name = c.get_display_name().unwrap_or_else(|| c.get_name()).to_string();
        let man = clap_mangen::Man::new(c.clone()).title(name.to_uppercase()).section("8").manual("System Administration");
        (format!("{name}.8"), man)
    };
    let (name, man) = page(&cmd);
    let mut main = Vec::new();
    man.render(&mut main)?;
    let mut roff = clap_mangen::roff::Roff::new();
    man_extra(&mut roff);
    roff.to_writer(&mut main)?;
    let mut pages = vec![(name, main)];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let (name, man) = page(sub);
        let mut text = Vec::new();
        man.render(&mut text)?;
        pages.push((name, text));
    }
    Ok(pages)
}

/// Writes [`man_pages`] into `dir` (created if missing); returns the files written.
pub fn write_man_pages(dir: &std::path::Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in man_pages()? {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "vrrp-agent", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn man_pages_name_every_visible_subcommand_and_the_signals() {
        let pages = man_pages().expect("render");
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "vrrp-agent.8");
        for sub in ["run", "check", "status"] {
            assert!(names.contains(&format!("vrrp-agent-{sub}.8").as_str()), "{names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("generate")), "hidden subcommands get no page: {names:?}");
        let main = String::from_utf8(pages[0].1.clone()).expect("utf-8");
        assert!(main.contains(".TH VRRP-AGENT 8"), "{main}");
        for needle in ["SIGHUP", "SIGTERM", "SIGQUIT", ".SH SIGNALS", ".SH FILES", "/etc/vrrp\\-agent/keepalived.conf"] {
            assert!(main.contains(needle), "{needle} missing from vrrp-agent.8");
        }
        // Subcommands are listed on the main page, not the hidden ones.
        assert!(main.contains("vrrp\\-agent\\-run(8)"), "{main}");
        assert!(!main.contains("generate"), "{main}");
        let run = String::from_utf8(pages.iter().find(|(n, _)| n == "vrrp-agent-run.8").expect("run page").1.clone()).expect("utf-8");
        assert!(run.contains("\\-\\-bpffs") && run.contains("\\-\\-xdp\\-mode"), "{run}");
    }

    #[test]
    fn service_config_is_what_the_man_page_and_the_exit_status_say() {
        let main = String::from_utf8(man_pages().expect("render").remove(0).1).expect("utf-8");
        assert!(main.contains(&SERVICE_CONFIG.replace('-', "\\-")));
        assert!(main.contains(&format!("status {EXIT_HITLESS_RESTART}")));
    }

    #[test]
    fn completions_offer_the_subcommands_but_not_the_hidden_ones() {
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
            let text = String::from_utf8(completions(shell)).expect("utf-8");
            for word in ["run", "check", "status", "bpffs", "xdp-mode"] {
                assert!(text.contains(word), "{shell}: {word} missing");
            }
            assert!(!text.contains("generate-man"), "{shell}: a hidden subcommand is offered");
        }
    }
}
