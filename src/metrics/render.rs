//! The `/metrics` page: queue depth, worker totals, remote calls, webhook deliveries.

use super::{global, Exposition, HealthProbe};

/// Prefix of every metric name.
const P: &str = "chat2desk_b24";

/// Renders the whole page (reads the queue counts and runs the health checks).
pub async fn render(probe: &HealthProbe) -> String {
    let mut e = Exposition::default();
    let services = probe.services();
    let health = probe.check().await;
    e.family(
        &format!("{P}_healthy"),
        "gauge",
        "1 when /healthz answers 200.",
    );
    e.sample(
        &format!("{P}_healthy"),
        &[],
        f64::from(u8::from(health.is_healthy())),
    );

    let store = &services.store;
    let node = store.node();
    let info = format!("{P}_node_info");
    e.family(
        &info,
        "gauge",
        "Always 1; labels: this node's [node] name and the database backend.",
    );
    e.sample(
        &info,
        &[("node", node), ("backend", store.backend().as_str())],
        1.0,
    );
    if let Ok(holder) = store
        .lease_holder(crate::store::LEADER, chrono::Utc::now())
        .await
    {
        let name = format!("{P}_leader");
        e.family(
            &name,
            "gauge",
            "1 while this node holds the leader lease (runs the poller).",
        );
        let leads = holder.is_some_and(|(holder, _, _)| holder == node);
        e.sample(&name, &[("node", node)], f64::from(u8::from(leads)));
    }

    if let Ok(c) = services.store.counts().await {
        let name = format!("{P}_queue_jobs");
        e.family(&name, "gauge", "Jobs in the queue by state.");
        for (state, n) in [
            ("pending", c.pending),
            ("running", c.running),
            ("done", c.done),
            ("dead", c.dead),
        ] {
            e.sample(&name, &[("state", state)], n as f64);
        }
    }
    let stats = &services.stats;
    for (name, help, value) in [
        (
            "requests_synced_total",
            "Requests synced to the portal since start.",
            stats.synced(),
        ),
        (
            "requests_failed_total",
            "Requests given up (dead) since start.",
            stats.dead(),
        ),
        (
            "job_retries_total",
            "Failed attempts scheduled again since start.",
            stats.retried(),
        ),
    ] {
        let name = format!("{P}_{name}");
        e.family(&name, "counter", help);
        e.sample(&name, &[], value as f64);
    }

    let registry = global();
    let name = format!("{P}_remote_calls_total");
    e.family(
        &name,
        "counter",
        "HTTP attempts to Chat2Desk and the portal by method and outcome.",
    );
    for (remote, method, outcome, n) in registry.call_counts() {
        let labels = [
            ("service", remote.as_str()),
            ("method", method.as_str()),
            ("outcome", outcome.as_str()),
        ];
        e.sample(&name, &labels, n as f64);
    }
    let name = format!("{P}_remote_call_duration_seconds");
    e.family(
        &name,
        "histogram",
        "Latency of HTTP attempts to Chat2Desk and the portal.",
    );
    for (remote, method, h) in registry.call_latencies() {
        e.histogram(
            &name,
            &[("service", remote.as_str()), ("method", method.as_str())],
            &h,
        );
    }
    let name = format!("{P}_webhook_events_total");
    e.family(
        &name,
        "counter",
        "Webhook deliveries by event type and outcome.",
    );
    for (event, outcome, n) in registry.webhook_counts() {
        e.sample(&name, &[("type", event), ("outcome", outcome)], n as f64);
    }
    let name = format!("{P}_webhook_ack_duration_seconds");
    e.family(
        &name,
        "histogram",
        "Time from a webhook's headers to its durable answer.",
    );
    e.histogram(&name, &[], &registry.ack_latency());
    e.finish()
}
