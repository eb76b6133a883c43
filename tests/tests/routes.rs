//! `static_routes` / `static_rules` / `static_ipaddress` (and so `virtual_routes` /
//! `virtual_rules`, the same code) installed and removed through rtnetlink in a network
//! namespace this test creates, checked with `ip route` / `ip rule` / `ip addr`.
//!
//! The rtnetlink socket is opened on a dedicated thread that has entered the namespace
//! (`setns` changes only the calling thread) and runs a current-thread tokio runtime, so
//! every netlink message goes to the test's namespace and nowhere else.

use std::thread;

use vrrp_agent::config::{self, LoadOptions};
use vrrp_agent::net::routes::{RouteErrorKind, Routes};
use vrrp_tests::{Netns, new_prefix, require_root};

/// Runs `f` on a thread inside `ns`, with a current-thread runtime and an rtnetlink handle
/// opened there.
fn in_netns<T: Send>(ns: &Netns, f: impl AsyncFnOnce(rtnetlink::Handle) -> T + Send) -> T {
    thread::scope(|s| {
        s.spawn(|| {
            let fd = std::fs::File::open(ns.path()).expect("open netns");
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let (conn, handle, _) = rtnetlink::new_connection().expect("netlink socket");
                tokio::spawn(conn);
                f(handle).await
            })
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// `ip -n NS args...`; a failure fails the test with the command and its stderr.
fn ip(ns: &Netns, args: &[&str]) -> String {
    ns.ip(args).unwrap_or_else(|e| panic!("{e:#}"))
}

fn setup(test: &str) -> Netns {
    let ns = Netns::create(&format!("{}-ns", new_prefix(test))).expect("netns");
    // A veth pair (the dummy module is not everywhere), both ends up so d0 has carrier.
    ip(&ns, &["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
    ip(&ns, &["link", "set", "d1", "up"]);
    ip(&ns, &["link", "set", "d0", "up"]);
    ip(&ns, &["addr", "add", "198.18.0.1/24", "dev", "d0"]);
    ip(&ns, &["-6", "addr", "add", "2001:db8::1/64", "dev", "d0", "nodad"]);
    ns
}

fn parse(text: &str) -> config::Config {
    let loaded = config::parse_str(text, "routes.conf", &LoadOptions::default()).expect("config parses");
    loaded.config
}

/// The line of `text` (1-based) containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).expect("needle in config") + 1
}

const ROUTES_CONF: &str = "\
static_routes {
    198.18.10.0/24 via 198.18.0.254 dev d0 table 100
    blackhole 198.18.20.0/24 table 100
    198.18.30.0/24 via 198.18.0.253 or 198.18.0.252 dev d0 table 100
    2001:db8:10::/48 via 2001:db8::fe dev d0 table 100 metric 50
    198.18.40.0/24 dev d0 scope link src 198.18.0.1 table 1000
    unreachable 2001:db8:20::/48 table 100
    198.18.50.0/24 via 198.18.99.1 dev d0 onlink table 100 metric 7
    198.18.60.0/24 dev nosuch0 table 100
    198.18.70.0/24 via 198.18.77.1 dev d0 table 100
    198.18.80.0/24 via 198.18.0.254 dev d0 table 100 protocol nosuchproto no_track
    198.18.85.0/24 via 198.18.0.254 dev d0 table 100
    198.18.90.0/24 via 198.18.0.251 dev d0 table 100
    198.18.95.0/24 via 198.18.0.254 dev d0 table 100 protocol static no_track
}
";

#[test]
fn routes_installed_checked_and_removed() {
    if !require_root("routes_installed_checked_and_removed") {
        return;
    }
    let ns = setup("routes");
    let cfg = parse(ROUTES_CONF);
    let routes = cfg.static_routes.clone();
    assert_eq!(routes.len(), 13, "every line parsed: {routes:#?}");

    // Someone else's routes: one identical to ours but static (must survive our removal), one
    // to the same destination with another gateway (ours is prepended; theirs survives), and a
    // leftover of an earlier run with protocol keepalived (taken over and removed).
    ip(&ns, &["route", "add", "198.18.95.0/24", "via", "198.18.0.254", "dev", "d0", "table", "100", "proto", "static"]);
    ip(&ns, &["route", "add", "198.18.90.0/24", "via", "198.18.0.250", "dev", "d0", "table", "100"]);
    ip(&ns, &["route", "add", "198.18.85.0/24", "via", "198.18.0.254", "dev", "d0", "table", "100", "proto", "keepalived"]);

    in_netns(&ns, async |handle| {
        let mut r = Routes::new(handle);
        let errors = r.install_routes(&routes).await;
        let msgs: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "three bad lines: {msgs:#?}");
        let nosuch = line_of(ROUTES_CONF, "nosuch0");
        assert!(
            errors.iter().any(|e| e.line == nosuch && matches!(&e.kind, RouteErrorKind::NoSuchInterface(n) if n == "nosuch0")),
            "{msgs:#?}"
        );
        let unreach = line_of(ROUTES_CONF, "198.18.77.1");
        assert!(
            errors.iter().any(|e| e.line == unreach
                && matches!(&e.kind, RouteErrorKind::Kernel(k) if k.raw_os_error() == Some(libc::ENETUNREACH))),
            "{msgs:#?}"
        );
        let proto = line_of(ROUTES_CONF, "nosuchproto");
        assert!(
            errors.iter().any(|e| e.line == proto && matches!(e.kind, RouteErrorKind::Unsupported(_))
                && e.to_string().starts_with(&format!("line {proto}: route 198.18.80.0/24 via 198.18.0.254"))),
            "{msgs:#?}"
        );

        let t100 = ip(&ns, &["route", "show", "table", "100"]);
        let t100_6 = ip(&ns, &["-6", "route", "show", "table", "100"]);
        let t1000 = ip(&ns, &["route", "show", "table", "1000"]);
        for want in [
            "198.18.10.0/24 via 198.18.0.254 dev d0 proto keepalived",
            "blackhole 198.18.20.0/24 proto keepalived",
            "198.18.50.0/24 via 198.18.99.1 dev d0 proto keepalived metric 7 onlink",
            "198.18.85.0/24 via 198.18.0.254 dev d0 proto keepalived",
            "198.18.90.0/24 via 198.18.0.251 dev d0 proto keepalived",
            "198.18.90.0/24 via 198.18.0.250 dev d0",
            "198.18.95.0/24 via 198.18.0.254 dev d0 proto static",
        ] {
            assert!(t100.contains(want), "table 100 lacks '{want}':\n{t100}");
        }
        assert!(
            t100.contains("198.18.30.0/24 proto keepalived")
                && t100.contains("nexthop via 198.18.0.253 dev d0")
                && t100.contains("nexthop via 198.18.0.252 dev d0"),
            "multipath route missing:\n{t100}"
        );
        assert!(!t100.contains("198.18.60.0") && !t100.contains("198.18.70.0") && !t100.contains("198.18.80.0"), "{t100}");
        assert!(t100_6.contains("2001:db8:10::/48 via 2001:db8::fe dev d0 proto keepalived metric 50"), "{t100_6}");
        assert!(t100_6.contains("unreachable 2001:db8:20::/48"), "{t100_6}");
        assert!(t1000.contains("198.18.40.0/24 dev d0 proto keepalived scope link src 198.18.0.1"), "{t1000}");

        // Idempotent: nothing new, no duplicate.
        let again = r.install_routes(&routes).await;
        assert_eq!(again.len(), 3, "the same three bad lines again");
        assert_eq!(ip(&ns, &["route", "show", "table", "100"]), t100, "a second install changed table 100");

        // Removal: ours go, the others' stay.
        let errors = r.remove_routes(&routes).await;
        assert!(errors.is_empty(), "{errors:#?}");
        let t100 = ip(&ns, &["route", "show", "table", "100"]);
        let left: Vec<&str> = t100.lines().map(str::trim_end).collect();
        assert_eq!(
            left,
            ["198.18.90.0/24 via 198.18.0.250 dev d0", "198.18.95.0/24 via 198.18.0.254 dev d0 proto static"],
            "only the routes we did not add are left:\n{t100}"
        );
        assert_eq!(ip(&ns, &["-6", "route", "show", "table", "100"]).trim(), "", "IPv6 table 100 not empty");
        assert_eq!(ip(&ns, &["route", "show", "table", "1000"]).trim(), "", "table 1000 not empty");

        // Removing again, or removing routes we never installed, does nothing.
        assert!(r.remove_routes(&routes).await.is_empty());
        assert_eq!(ip(&ns, &["route", "show", "table", "100"]), t100);
    });
}

const RULES_CONF: &str = "\
static_rules {
    from 198.18.0.0/24 table 100 priority 100
    to 198.18.50.0/24 table 1000 priority 101
    not from 198.18.1.0/24 lookup 100 priority 102
    fwmark 0x10/0xff table 100 priority 103
    iif d0 blackhole priority 104
    oif d0 unreachable priority 105
    from 198.18.2.0/24 goto 200 priority 106
    nop priority 200
    from 2001:db8::/32 table 100 priority 107
    from 198.18.3.0/24 table 100
}
";

#[test]
fn rules_installed_checked_and_removed() {
    if !require_root("rules_installed_checked_and_removed") {
        return;
    }
    let ns = setup("rules");
    let cfg = parse(RULES_CONF);
    let rules = cfg.static_rules.clone();
    assert_eq!(rules.len(), 10, "every line parsed: {rules:#?}");
    let before4 = ip(&ns, &["rule", "show"]);
    let before6 = ip(&ns, &["-6", "rule", "show"]);

    in_netns(&ns, async |handle| {
        let mut r = Routes::new(handle);
        let errors = r.install_rules(&rules).await;
        assert!(errors.is_empty(), "{errors:#?}");
        let v4 = ip(&ns, &["rule", "show"]);
        let v6 = ip(&ns, &["-6", "rule", "show"]);
        let tracked = |r: &config::Rule| r.track;
        let proto = if rules.iter().all(tracked) { " proto keepalived" } else { "" };
        for want in [
            format!("100:\tfrom 198.18.0.0/24 lookup 100{proto}"),
            format!("101:\tfrom all to 198.18.50.0/24 lookup 1000{proto}"),
            format!("102:\tnot from 198.18.1.0/24 lookup 100{proto}"),
            format!("103:\tfrom all fwmark 0x10/0xff lookup 100{proto}"),
            format!("104:\tfrom all iif d0 blackhole{proto}"),
            format!("105:\tfrom all oif d0 unreachable{proto}"),
            format!("106:\tfrom 198.18.2.0/24 goto 200{proto}"),
            format!("200:\tfrom all nop{proto}"),
        ] {
            assert!(v4.contains(&want), "ip rule lacks '{want}':\n{v4}");
        }
        assert!(v6.contains(&format!("107:\tfrom 2001:db8::/32 lookup 100{proto}")), "{v6}");
        // No priority: the kernel picks one; exactly one such rule.
        assert_eq!(v4.matches("from 198.18.3.0/24 lookup 100").count(), 1, "{v4}");

        // Idempotent.
        assert!(r.install_rules(&rules).await.is_empty());
        assert_eq!(ip(&ns, &["rule", "show"]), v4, "a second install changed the rules");
        assert_eq!(ip(&ns, &["-6", "rule", "show"]), v6);

        // Someone else adds a rule that looks like ours at another priority: it survives.
        ip(&ns, &["rule", "add", "from", "198.18.0.0/24", "table", "100", "priority", "300"]);
        let errors = r.remove_rules(&rules).await;
        assert!(errors.is_empty(), "{errors:#?}");
        let after4 = ip(&ns, &["rule", "show"]);
        let expected4: String = {
            let mut l: Vec<&str> = before4.lines().collect();
            l.insert(l.iter().position(|x| x.starts_with("32766:")).expect("the main rule"), "300:\tfrom 198.18.0.0/24 lookup 100");
            l.join("\n") + "\n"
        };
        assert_eq!(after4, expected4, "only the foreign rule is left");
        assert_eq!(ip(&ns, &["-6", "rule", "show"]), before6);
    });
}

const ADDRS_CONF: &str = "\
static_ipaddress {
    198.18.0.10/24 dev d0 label d0:st
    2001:db8::10/64 dev d0
    198.18.0.11/24 dev nosuch0
    198.18.0.12/24
}
";

#[test]
fn static_addresses_added_and_removed() {
    if !require_root("static_addresses_added_and_removed") {
        return;
    }
    let ns = setup("saddr");
    let cfg = parse(ADDRS_CONF);
    let addrs = cfg.static_addresses.clone();
    assert_eq!(addrs.len(), 4, "{addrs:#?}");
    // Someone else's address: never removed by us.
    ip(&ns, &["-6", "addr", "add", "2001:db8::10/64", "dev", "d0", "nodad"]);

    in_netns(&ns, async |handle| {
        let mut r = Routes::new(handle);
        let errors = r.install_addresses(&addrs).await;
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![line_of(ADDRS_CONF, "nosuch0"), line_of(ADDRS_CONF, "198.18.0.12")], "{errors:#?}");
        let shown = ip(&ns, &["addr", "show", "dev", "d0"]);
        assert!(shown.contains("inet 198.18.0.10/24 scope global secondary d0:st"), "{shown}");
        assert!(shown.contains("inet6 2001:db8::10/64"), "{shown}");

        assert!(r.remove_addresses(&addrs).await.is_empty());
        let shown = ip(&ns, &["addr", "show", "dev", "d0"]);
        assert!(!shown.contains("198.18.0.10"), "{shown}");
        assert!(shown.contains("inet6 2001:db8::10/64"), "the foreign address was removed:\n{shown}");
    });
}

const FOLLOW_CONF: &str = "\
static_routes {
    198.18.10.0/24 via 198.18.0.254 dev d0 table 100
}
static_ipaddress {
    198.18.0.10/24 dev d0
}
";

#[test]
fn routes_and_addresses_come_back_with_their_interface() {
    if !require_root("routes_and_addresses_come_back_with_their_interface") {
        return;
    }
    let ns = setup("relink");
    let cfg = parse(FOLLOW_CONF);
    in_netns(&ns, async |handle| {
        let mut r = Routes::new(handle);
        assert!(r.install_addresses(&cfg.static_addresses).await.is_empty());
        assert!(r.install_routes(&cfg.static_routes).await.is_empty());
        assert!(ip(&ns, &["route", "show", "table", "100"]).contains("198.18.10.0/24 via 198.18.0.254 dev d0"));

        // The interface goes away: the kernel drops the route and the address with it.
        ip(&ns, &["link", "del", "d0"]);
        assert_eq!(ip(&ns, &["route", "show", "table", "100"]).trim(), "");
        // Back, with a new index: installing again puts both back on the new interface.
        ip(&ns, &["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
        ip(&ns, &["link", "set", "d1", "up"]);
        ip(&ns, &["link", "set", "d0", "up"]);
        ip(&ns, &["addr", "add", "198.18.0.1/24", "dev", "d0"]);
        let errors = r.install_addresses(&cfg.static_addresses).await;
        assert!(errors.is_empty(), "{errors:#?}");
        let errors = r.install_routes(&cfg.static_routes).await;
        assert!(errors.is_empty(), "{errors:#?}");
        assert!(ip(&ns, &["route", "show", "table", "100"]).contains("198.18.10.0/24 via 198.18.0.254 dev d0"));
        assert!(ip(&ns, &["addr", "show", "dev", "d0"]).contains("inet 198.18.0.10/24"));

        // Gone again, then removed: not an error.
        ip(&ns, &["link", "del", "d0"]);
        let errors = r.remove_all().await;
        assert!(errors.is_empty(), "{errors:#?}");
        assert!(!r.has_route(&cfg.static_routes[0]) && !r.has_address(&cfg.static_addresses[0]));
    });
}

const LEFTOVER_CONF: &str = "\
static_routes {
    198.18.10.0/24 via 198.18.0.254 dev d0 table 100
    198.18.11.0/24 via 198.18.0.254 dev d0 table 100 protocol static no_track
}
static_rules {
    from 198.18.5.0/24 table 100 priority 500
    from 198.18.6.0/24 table 100
    from 198.18.7.0/24 table 100 priority 502 no_track
}
";

#[test]
fn leftovers_of_an_earlier_run_are_removed_and_nothing_else() {
    if !require_root("leftovers_of_an_earlier_run_are_removed_and_nothing_else") {
        return;
    }
    let ns = setup("leftover");
    let cfg = parse(LEFTOVER_CONF);
    // What a killed agent left (protocol keepalived), and look-alikes it did not make.
    ip(&ns, &["route", "add", "198.18.10.0/24", "via", "198.18.0.254", "dev", "d0", "table", "100", "proto", "keepalived"]);
    ip(&ns, &["route", "add", "198.18.10.0/24", "via", "198.18.0.254", "dev", "d0", "table", "100", "metric", "5"]);
    ip(&ns, &["route", "add", "198.18.11.0/24", "via", "198.18.0.254", "dev", "d0", "table", "100", "proto", "static"]);
    ip(&ns, &["rule", "add", "from", "198.18.5.0/24", "table", "100", "priority", "500", "proto", "keepalived"]);
    ip(&ns, &["rule", "add", "from", "198.18.6.0/24", "table", "100", "priority", "16384", "proto", "keepalived"]);
    ip(&ns, &["rule", "add", "from", "198.18.5.0/24", "table", "100", "priority", "600"]);
    ip(&ns, &["rule", "add", "from", "198.18.7.0/24", "table", "100", "priority", "502"]);
    in_netns(&ns, async |handle| {
        let mut r = Routes::new(handle);
        let errors = r.remove_leftovers(&cfg.static_routes, &cfg.static_rules).await;
        assert!(errors.is_empty(), "{errors:#?}");
        let routes: Vec<String> =
            ip(&ns, &["route", "show", "table", "100"]).lines().map(|l| l.trim_end().to_string()).collect();
        assert_eq!(
            routes,
            [
                "198.18.10.0/24 via 198.18.0.254 dev d0 metric 5",
                "198.18.11.0/24 via 198.18.0.254 dev d0 proto static",
            ],
        );
        let rules = ip(&ns, &["rule", "show"]);
        assert!(!rules.contains("198.18.5.0/24 lookup 100 proto keepalived"), "{rules}");
        assert!(!rules.contains("198.18.6.0/24"), "{rules}");
        assert!(rules.contains("600:\tfrom 198.18.5.0/24 lookup 100"), "{rules}");
        assert!(rules.contains("502:\tfrom 198.18.7.0/24 lookup 100"), "{rules}");
    });
}
