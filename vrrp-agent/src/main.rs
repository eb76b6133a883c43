use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use vrrp_agent::{
    cli::{Cli, Command},
    driver::{self, RunOptions},
    config,
    crosscheck, status, verdict,
};
use vrrp_agent::status::keepalived;

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
        Command::Run { file, config_id, bpffs, xdp_mode, force_xdp, kernel_log, notify_timeout, log, metrics, dump_dir } => {
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
            let dump_dir = dump_dir.unwrap_or_else(keepalived::dump_dir);
            let opts = RunOptions { config: file, config_id, bpffs, xdp_mode, force_xdp, kernel_log, notify_timeout, metrics, dump_dir };
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
        Command::GenerateMan { dir } => match vrrp_agent::cli::write_man_pages(&dir) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vrrp-agent generate-man: {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        },
        Command::GenerateCompletions { shell } => {
            use std::io::Write as _;
            match std::io::stdout().write_all(&vrrp_agent::cli::completions(shell)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vrrp-agent generate-completions: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Trace { state, bpffs } => match vrrp_agent::trace::set(&bpffs, state == "on") {
            Ok(()) => {
                eprintln!("trace {state}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("vrrp-agent trace: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Signum { name } => match keepalived::signum(&name) {
            Some(n) => {
                println!("{n}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("vrrp-agent signum: {name}: not one of STOP, RELOAD, DATA, STATS, JSON");
                ExitCode::from(2)
            }
        },
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
