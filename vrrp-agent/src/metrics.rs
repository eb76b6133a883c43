//! Prometheus metrics (`vrrp-agent run --metrics ADDR:PORT`): each scrape reads the pinned
//! maps into the same snapshot `vrrp-agent status` prints ([`crate::status::collect`]) and
//! encodes it with `prometheus-client`, served over HTTP/1 by hyper on the agent's runtime.
//! The counter lists are never copied here: the XDP counters iterate
//! `GlobalStats::COUNTER_NAMES`, the drop reasons `DropReason::ALL`.
use std::{convert::Infallible, net::SocketAddr, path::PathBuf};

use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Bytes, header::CONTENT_TYPE, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::{
    collector::Collector,
    encoding::DescriptorEncoder,
    metrics::{counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};
use tracing::{debug, warn};
use vrrp_common::DropReason;

use crate::status::{InstanceView, StatusView};

/// The Prometheus text format (version 0.0.4, what every scraper accepts).
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The states a `vrrp_instance_state` series exists for (one per state, 1 for the current).
const STATES: [&str; 4] = ["INIT", "BACKUP", "MASTER", "FAULT"];

type Labels = Vec<(&'static str, String)>;

/// A per-instance counter family: name, help, and how to read it from the snapshot.
type InstanceCounter = (&'static str, &'static str, fn(&InstanceView) -> u64);

fn instance_labels(i: &InstanceView) -> Labels {
    vec![
        ("instance", i.name.clone()),
        ("interface", i.interface.clone().unwrap_or_else(|| i.ifindex.to_string())),
        ("vrid", i.vrid.to_string()),
    ]
}

/// One scrape's snapshot, encoded on demand.
#[derive(Debug)]
struct Snapshot(StatusView);

/// Emits one metric family: `values` are (labels, value) pairs.
fn family<M: prometheus_client::encoding::EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: impl IntoIterator<Item = (Labels, M)>,
) -> Result<(), std::fmt::Error> {
    let mut values = values.into_iter().peekable();
    let Some((_, first)) = values.peek() else { return Ok(()) };
    let ty = first.metric_type();
    let mut family = enc.encode_descriptor(name, help, None, ty)?;
    for (labels, m) in values {
        m.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn per_instance<M: prometheus_client::encoding::EncodeMetric>(
    enc: &mut DescriptorEncoder,
    view: &StatusView,
    name: &str,
    help: &str,
    f: impl Fn(&InstanceView) -> Option<M>,
) -> Result<(), std::fmt::Error> {
    family(enc, name, help, view.instances.iter().filter_map(|i| f(i).map(|m| (instance_labels(i), m))))
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let v = &self.0;
        let e = &mut enc;
        family(
            e,
            "vrrp_instance_state",
            "Instance state: 1 for the current one (INIT, BACKUP, MASTER, FAULT)",
            v.instances.iter().flat_map(|i| {
                STATES.iter().map(move |s| {
                    let mut l = instance_labels(i);
                    l.push(("state", (*s).to_string()));
                    (l, ConstGauge::new(i64::from(i.state == *s)))
                })
            }),
        )?;
        per_instance(e, v, "vrrp_instance_priority", "Effective priority (advertised)", |i| Some(ConstGauge::new(i64::from(i.priority))))?;
        per_instance(e, v, "vrrp_instance_base_priority", "Configured priority", |i| Some(ConstGauge::new(i64::from(i.base_priority))))?;
        per_instance(e, v, "vrrp_instance_advert_interval_seconds", "Advert interval in use (learned from the master in v3)", |i| {
            Some(ConstGauge::new(f64::from(i.adver_int_cs) / 100.0))
        })?;
        per_instance(e, v, "vrrp_instance_master_down_interval_seconds", "Master_Down_Interval", |i| {
            Some(ConstGauge::new(f64::from(i.master_down_interval_us) / 1e6))
        })?;
        per_instance(e, v, "vrrp_instance_last_transition_age_seconds", "Time since the last state transition", |i| {
            i.since_transition_ms.map(|ms| ConstGauge::new(secs(ms)))
        })?;
        per_instance(e, v, "vrrp_instance_agent_running", "1 while the agent that wrote the instance's status runs", |i| {
            Some(ConstGauge::new(i64::from(i.agent_running)))
        })?;
        let counters: [InstanceCounter; 14] = [
            ("vrrp_instance_transitions", "State transitions", |i| u64::from(i.transitions)),
            ("vrrp_instance_adverts_received", "Adverts seen for the VRID by XDP (valid or not)", |i| i.adverts_rx),
            ("vrrp_instance_adverts_accepted", "Adverts that passed every receive check", |i| i.adverts_accepted),
            ("vrrp_instance_adverts_dropped", "Adverts dropped (vrrp_instance_advert_drops by reason)", |i| i.adverts_dropped),
            ("vrrp_instance_adverts_sent", "Adverts sent", |i| i.adverts_tx),
            ("vrrp_instance_agent_wakeups", "Adverts that woke the agent", |i| i.agent_wakeups),
            ("vrrp_instance_priority_zero_sent", "Priority-0 adverts sent", |i| i.priority_zero_tx),
            ("vrrp_instance_priority_zero_received", "Priority-0 adverts received", |i| i.priority_zero_rx),
            ("vrrp_instance_become_master", "Times the instance became MASTER", |i| i.become_master),
            ("vrrp_instance_release_master", "Times the instance left MASTER", |i| i.release_master),
            ("vrrp_instance_arp_replies", "ARP requests for the VIPs answered by XDP", |i| i.arp_replies),
            ("vrrp_instance_garp_sent", "Gratuitous ARP frames sent", |i| i.garp_sent),
            ("vrrp_instance_na_sent", "Unsolicited neighbour advertisements sent", |i| i.na_sent),
            ("vrrp_instance_vip_conflicts", "ARP frames from another MAC claiming one of the VIPs", |i| i.vip_conflicts),
        ];
        for (name, help, f) in counters {
            per_instance(e, v, name, help, |i| Some(ConstCounter::new(f(i))))?;
        }
        family(
            e,
            "vrrp_instance_advert_drops",
            "Adverts of the instance dropped, by reason",
            v.instances.iter().flat_map(|i| {
                DropReason::ALL.iter().map(move |r| {
                    let mut l = instance_labels(i);
                    l.push(("reason", r.counter_name().to_string()));
                    (l, ConstCounter::new(i.drops.get(r.counter_name()).copied().unwrap_or(0)))
                })
            }),
        )?;
        // XDP's global counters: the drop reasons as one labelled family, the rest by name.
        let is_drop = |name: &str| DropReason::ALL.iter().any(|r| r.counter_name() == name);
        family(
            e,
            "vrrp_xdp_advert_drops",
            "Adverts for configured VRIDs dropped by XDP, by reason",
            DropReason::ALL.iter().map(|r| {
                let n = v.counters.get(r.counter_name()).copied().unwrap_or(0);
                (vec![("reason", r.counter_name().to_string())], ConstCounter::new(n))
            }),
        )?;
        for name in vrrp_common::GlobalStats::COUNTER_NAMES.iter().filter(|n| !is_drop(n)) {
            let n = v.counters.get(name).copied().unwrap_or(0);
            family(e, &format!("vrrp_xdp_{name}"), "XDP counter (vrrp_common::GlobalStats)", [(Labels::new(), ConstCounter::new(n))])?;
        }
        if let Some(l) = &v.lease {
            family(e, "vrrp_agent_lease_fresh", "1 while the agent's lease is fresh (the datapath is not fenced)", [(
                Labels::new(),
                ConstGauge::new(i64::from(l.state == "fresh")),
            )])?;
            if let Some(ms) = l.age_ms {
                family(e, "vrrp_agent_lease_age_seconds", "Time since the agent last renewed its lease", [(Labels::new(), ConstGauge::new(secs(ms)))])?;
            }
        }
        family(
            e,
            "vrrp_tracker_up",
            "Tracker state: 1 up (script succeeding, quorum held, link up), 0 otherwise",
            v.trackers.iter().map(|t| {
                (vec![("kind", t.kind.to_string()), ("name", t.name.clone())], ConstGauge::new(i64::from(t.state == "UP" || t.state == "VALUE")))
            }),
        )?;
        Ok(())
    }
}

/// The snapshot in the Prometheus text format.
pub fn render(view: &StatusView) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot(view.clone())));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

/// One HTTP request: `GET /metrics` reads the pins now.
async fn handle(req: Request<hyper::body::Incoming>, bpffs: PathBuf) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |code: StatusCode, ty: &'static str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = code;
        if let Ok(v) = ty.parse() {
            r.headers_mut().insert(CONTENT_TYPE, v);
        }
        Ok(r)
    };
    if req.uri().path() != "/metrics" {
        return reply(StatusCode::NOT_FOUND, "text/plain", "metrics are at /metrics\n".into());
    }
    match crate::status::collect(&bpffs).map_err(|e| format!("{e:#}")).and_then(|v| render(&v).map_err(|e| e.to_string())) {
        Ok(text) => reply(StatusCode::OK, CONTENT_TYPE_TEXT, text),
        Err(e) => reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", format!("reading the pinned maps: {e}\n")),
    }
}

/// Serves `/metrics` on `listener` until the runtime stops, one task per connection.
pub async fn serve(listener: tokio::net::TcpListener, bpffs: PathBuf) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!("metrics: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let bpffs = bpffs.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, bpffs.clone()));
            // A client that never finishes its request headers is dropped.
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                debug!("metrics: connection from {peer}: {e}");
            }
        });
    }
}

/// Binds `addr` (an error names it) and spawns [`serve`] on the current runtime.
pub async fn start(addr: SocketAddr, bpffs: PathBuf) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("--metrics {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tokio::spawn(serve(listener, bpffs));
    Ok(local)
}
