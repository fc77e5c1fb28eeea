//! The `/metrics` page: the daemon's own state read at scrape time (health, queue depth, worker
//! totals, last poll and worker round) plus the process-wide metrics, as OpenMetrics text.

use super::{global, Stats};
use crate::store::{Store, LAST_POLL_KEY};
use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

/// The `Content-Type` of the page (Prometheus asks for it first and parses it natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct NodeLabels {
    node: String,
    backend: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct NodeLabel {
    node: String,
}

/// Renders the whole page: `healthy` as the health checks found it, the queue counts and
/// the last poll read from `store`, the worker totals from `stats`.
pub async fn render(store: &Store, stats: &Stats, healthy: bool) -> String {
    let mut r = Registry::with_prefix("chat2desk_b24");
    let help = "1 when /healthz answers 200";
    r.register("healthy", help, ConstGauge::new(i64::from(healthy)));

    let node = store.node().to_string();
    let info = Family::<NodeLabels, Gauge>::default();
    info.get_or_create(&NodeLabels {
        node: node.clone(),
        backend: store.backend().as_str(),
    })
    .set(1);
    let help = "Always 1; labels: this node's [node] name and the database backend";
    r.register("node_info", help, info);
    if let Ok(holder) = store.lease_holder(crate::store::LEADER, Utc::now()).await {
        let leads = holder.is_some_and(|(holder, _, _)| holder == node);
        let leader = Family::<NodeLabel, Gauge>::default();
        leader
            .get_or_create(&NodeLabel { node })
            .set(i64::from(leads));
        let help = "1 while this node holds the leader lease (runs the poller)";
        r.register("leader", help, leader);
    }

    if let Ok(c) = store.counts().await {
        let jobs = Family::<StateLabel, Gauge>::default();
        for (state, n) in [
            ("pending", c.pending),
            ("running", c.running),
            ("done", c.done),
            ("dead", c.dead),
        ] {
            jobs.get_or_create(&StateLabel { state }).set(n as i64);
        }
        r.register("queue_jobs", "Jobs in the queue by state", jobs);
    }
    for (name, help, value) in [
        (
            "requests_synced",
            "Requests synced to the portal since start",
            stats.synced(),
        ),
        (
            "requests_failed",
            "Requests given up (dead) since start",
            stats.dead(),
        ),
        (
            "job_retries",
            "Failed attempts scheduled again since start",
            stats.retried(),
        ),
    ] {
        r.register(name, help, ConstCounter::new(value));
    }

    let last_poll = store.meta(LAST_POLL_KEY).await.ok().flatten();
    if let Some(t) = last_poll.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()) {
        let help = "When the last Chat2Desk poll succeeded (unix seconds)";
        let seconds = t.timestamp_millis() as f64 / 1000.0;
        r.register(
            "last_poll_success_timestamp_seconds",
            help,
            ConstGauge::new(seconds),
        );
    }
    if let Some(ms) = stats.since_tick_ms() {
        let help = "When the worker loop last went round (unix seconds)";
        let seconds = (Utc::now().timestamp_millis() - ms) as f64 / 1000.0;
        r.register(
            "worker_last_tick_timestamp_seconds",
            help,
            ConstGauge::new(seconds),
        );
    }

    global().register_into(&mut r);
    let mut page = String::new();
    prometheus_client::encoding::text::encode(&mut page, &r).expect("writing to a String");
    page
}
