use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use vrrp_agent::{
    driver::{self, RunOptions},
    config,
    dataplane::{KernelLogLevel, XdpMode},
    crosscheck, status, verdict,
};

#[derive(Parser)]
#[command(name = "vrrp-agent", version, about = "VRRP with an XDP dataplane; reads keepalived.conf")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
}

fn init_logging(spec: Option<&str>) {
    use std::io::IsTerminal as _;
    let spec = spec.map(str::to_string).or_else(|| std::env::var("RUST_LOG").ok()).unwrap_or_else(|| "info".into());
    let mut filter = tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("vrrp-agent: bad log filter {spec:?} ({e}); using info");
        tracing_subscriber::EnvFilter::new("info")
    });
    // netlink-packet-route warns on every link dump that this kernel's IPv6 device config has
    // more fields than it knows; that says nothing about VRRP, so it is kept to errors.
    if !spec.contains("netlink_packet_route")
        && let Ok(d) = "netlink_packet_route=error".parse() {
            filter = filter.add_directive(d);
        }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// `check -f a.conf -f b.conf ...`: the nodes against each other.
fn check_nodes(files: &[PathBuf], config_ids: &[String], json: bool, strict: bool) -> ExitCode {
    let nodes = match crosscheck::load_nodes(files, config_ids) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(3);
        }
    };
    let report = crosscheck::check(&nodes);
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("cannot print the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report.to_text());
    }
    ExitCode::from(report.exit_code(strict))
}

fn main() -> ExitCode {
    // keepalived's `-t -f FILE` spelling: accept it as `check -f FILE`.
    let mut args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "-t" || a == "--config-test") {
        args[1] = "check".to_string();
    }
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Run { file, config_id, bpffs, xdp_mode, force_xdp, kernel_log, notify_timeout, log } => {
            init_logging(log.as_deref());
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("vrrp-agent: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let Ok(notify_timeout) = std::time::Duration::try_from_secs_f64(notify_timeout) else {
                eprintln!("vrrp-agent: --notify-timeout must be a non-negative number of seconds");
                return ExitCode::from(2);
            };
            let opts = RunOptions { config: file, config_id, bpffs, xdp_mode, force_xdp, kernel_log, notify_timeout };
            match runtime.block_on(driver::run(opts)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check { file, config_id, dump, json, strict } => {
            if file.len() > 1 {
                if dump {
                    eprintln!("vrrp-agent check: --dump takes one file; several -f files are checked against each other");
                    return ExitCode::from(2);
                }
                return check_nodes(&file, &config_id, json, strict);
            }
            if json || strict || config_id.len() > 1 {
                eprintln!("vrrp-agent check: --json, --strict and several -i are for two or more -f files (one per node)");
                return ExitCode::from(2);
            }
            let (Some(file), config_id) = (file.into_iter().next(), config_id.into_iter().next()) else {
                return ExitCode::from(2);
            };
            let mut loaded = match config::load(&file, &config::LoadOptions { config_id }) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(3);
                }
            };
            // The same per-instance verdict as `run`: what it would not start is an error.
            verdict::judge(&mut loaded, &verdict::interface_exists);
            for d in &loaded.diagnostics {
                eprintln!("{d}");
            }
            // Environment-dependent (the interface's MTU), so not part of parsing.
            for d in config::advert_size::warnings(&loaded.config, config::advert_size::interface_mtu) {
                eprintln!("{d}");
            }
            let code = loaded.exit_code();
            if dump && code == 0 {
                match serde_json::to_string_pretty(&loaded.config) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("cannot print the configuration: {e}"),
                }
            }
            if code == 0 {
                eprintln!("{}: configuration OK ({} instance(s))", file.display(), loaded.config.instances.len());
            }
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        Command::Status { bpffs, json } => match status::collect(&bpffs) {
            Ok(view) => {
                if json {
                    match serde_json::to_string_pretty(&view) {
                        Ok(s) => println!("{s}"),
                        Err(e) => {
                            eprintln!("{e}");
                            return ExitCode::FAILURE;
                        }
                    }
                } else {
                    status::print(&view);
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vrrp-agent status: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
