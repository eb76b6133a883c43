//! keepalived's `static_ipaddress`, `static_routes` and `static_rules`: installed at start
//! for the agent's lifetime and removed at exit; and the clean-up, at start, of routes and
//! rules a crashed run left behind (only objects with protocol keepalived, never others').
use tracing::{error, info};

use crate::config::Config;

use super::Ctx;

pub(super) async fn install(ctx: &mut Ctx, cfg: &Config) {
    let mut routes: Vec<_> = cfg.static_routes.clone();
    let mut rules: Vec<_> = cfg.static_rules.clone();
    for i in &cfg.instances {
        routes.extend(i.virtual_routes.iter().cloned());
        rules.extend(i.virtual_rules.iter().cloned());
    }
    for e in ctx.routes.remove_leftovers(&routes, &rules).await {
        error!("removing a route or rule left by an earlier run: {e}");
    }
    let mut errors = ctx.routes.install_addresses(&cfg.static_addresses).await;
    errors.extend(ctx.routes.install_routes(&cfg.static_routes).await);
    errors.extend(ctx.routes.install_rules(&cfg.static_rules).await);
    for e in &errors {
        error!("{}: static address/route/rule {e}", cfg_file(cfg));
    }
    let n = cfg.static_addresses.len() + cfg.static_routes.len() + cfg.static_rules.len();
    if n > 0 {
        info!("{} static address(es)/route(s)/rule(s) installed, {} failed", n - errors.len().min(n), errors.len());
    }
}

/// Everything installed (static and virtual) removed: rules, then routes, then addresses.
pub(super) async fn remove(ctx: &mut Ctx) {
    for e in ctx.routes.remove_all().await {
        error!("removing at exit: {e}");
    }
}

fn cfg_file(cfg: &Config) -> String {
    cfg.instances.first().map(|i| i.file.display().to_string()).unwrap_or_else(|| "configuration".into())
}

/// SIGHUP: static addresses, routes and rules no longer in the file are removed, new ones
/// installed; unchanged ones (wherever they moved in the file) are left alone.
pub(super) async fn reload(ctx: &mut Ctx, old: &Config, new: &Config) {
    use crate::net::routes::{same_addr, same_route, same_rule};
    let gone_rules: Vec<_> = old.static_rules.iter().filter(|r| !new.static_rules.iter().any(|n| same_rule(r, n))).cloned().collect();
    let gone_routes: Vec<_> = old.static_routes.iter().filter(|r| !new.static_routes.iter().any(|n| same_route(r, n))).cloned().collect();
    let gone_addrs: Vec<_> = old.static_addresses.iter().filter(|a| !new.static_addresses.iter().any(|n| same_addr(a, n))).cloned().collect();
    let mut errors = ctx.routes.remove_rules(&gone_rules).await;
    errors.extend(ctx.routes.remove_routes(&gone_routes).await);
    errors.extend(ctx.routes.remove_addresses(&gone_addrs).await);
    errors.extend(ctx.routes.install_addresses(&new.static_addresses).await);
    errors.extend(ctx.routes.install_routes(&new.static_routes).await);
    errors.extend(ctx.routes.install_rules(&new.static_rules).await);
    for e in &errors {
        error!("SIGHUP: {}: static address/route/rule {e}", cfg_file(new));
    }
    let removed = gone_rules.len() + gone_routes.len() + gone_addrs.len();
    if removed > 0 {
        info!("SIGHUP: {removed} static address(es)/route(s)/rule(s) no longer configured: removed");
    }
}
