//! The process-wide metrics: remote calls by service, method and outcome with latency
//! histograms, webhook deliveries by event type and outcome, close → comment latency and
//! Chat2Desk's count of this month's calls. Ours here: the bounded label values (event
//! types, `{id}` in paths); prometheus-client does the rest.
//!
//! One registry per process (as Prometheus clients do): the API clients record into it
//! without being handed anything, and `/metrics` reads it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::atomic::Ordering;
use std::sync::LazyLock;
use std::time::Duration;

/// The remote API a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Remote {
    /// The Chat2Desk API.
    Chat2Desk,
    /// The Bitrix24 portal.
    Bitrix24,
}

impl Remote {
    /// The `service` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Remote::Chat2Desk => "chat2desk",
            Remote::Bitrix24 => "bitrix24",
        }
    }
}

/// How one HTTP attempt to a remote API ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Answered with success.
    Ok,
    /// Failed in a way worth retrying (timeouts, 5xx, rate limits, resets).
    Transient,
    /// Failed for good (auth, validation, unknown method).
    Error,
}

impl Outcome {
    /// The `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Transient => "transient",
            Outcome::Error => "error",
        }
    }
}

/// Event types with their own label value; anything else counts as `other` (the label set
/// stays bounded whatever a client posts).
const KNOWN_EVENTS: &[&str] = &[
    "inbox",
    "outbox",
    "new_client",
    "new_request",
    "close_request",
    "close_dialog",
    "client_updated",
    "dialog_transferred",
    "add_tag_to_client",
    "add_tag_to_request",
    "delete_tag_from_client",
    "delete_tag_from_request",
    "comment",
    "new_tag",
    "new_qr_code",
    "outbox_status",
    "client_added_to_blacklist",
    "new_ticket",
    "ticket_updated",
    "ticket_deleted",
    "imported_message",
];

/// Upper bounds of the latency buckets of one HTTP attempt or webhook answer, in seconds.
const CALL_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

/// Upper bounds of the close → comment buckets, in seconds: a webhook takes seconds, a poll
/// up to its period, retries minutes to hours.
const SYNC_BUCKETS: [f64; 12] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    service: &'static str,
    method: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MethodLabels {
    service: &'static str,
    method: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    r#type: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RuleLabels {
    rule: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LineLabels {
    direction: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

/// Which way a message crossed the Open Lines bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A client's message into its line (`imconnector.send.messages`).
    ToLine,
    /// An operator's reply to the client (`POST /messages`).
    ToClient,
}

impl Direction {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ToLine => "to_line",
            Direction::ToClient => "to_client",
        }
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The process-wide counters, histograms and gauges (prometheus-client metrics share their
/// values between clones, so a scrape registers clones of them).
#[derive(Debug)]
pub struct Registry {
    calls: Family<CallLabels, Counter>,
    latency: HistogramFamily<MethodLabels>,
    webhooks: Family<WebhookLabels, Counter>,
    acks: Histogram,
    close_to_comment: Histogram,
    chat2desk_month: Gauge,
    chat2desk_month_known: std::sync::atomic::AtomicBool,
    our_month: Gauge,
    month_projection: Gauge,
    poll_backed_off: Gauge,
    line_messages: Family<LineLabels, Counter>,
    line_latency: HistogramFamily<DirectionLabels>,
    line_resent: Counter,
    skipped: Family<RuleLabels, Counter>,
    waiting: Gauge,
    escalated_today: Gauge,
}

static GLOBAL: LazyLock<Registry> = LazyLock::new(Registry::new);

/// The process-wide registry.
pub fn global() -> &'static Registry {
    &GLOBAL
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        let registry = Self {
            calls: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(CALL_BUCKETS)),
            webhooks: Family::default(),
            acks: Histogram::new(CALL_BUCKETS),
            close_to_comment: Histogram::new(SYNC_BUCKETS),
            chat2desk_month: Gauge::default(),
            chat2desk_month_known: false.into(),
            our_month: Gauge::default(),
            month_projection: Gauge::default(),
            poll_backed_off: Gauge::default(),
            line_messages: Family::default(),
            line_latency: Family::new_with_constructor(|| Histogram::new(CALL_BUCKETS)),
            line_resent: Counter::default(),
            skipped: Family::default(),
            waiting: Gauge::default(),
            escalated_today: Gauge::default(),
        };
        // The bridge's series exist from the start (at 0), so rates and alerts see them
        // before the first message.
        for direction in [Direction::ToLine, Direction::ToClient] {
            for outcome in ["delivered", "refused"] {
                let _ = registry.line_messages.get_or_create(&LineLabels {
                    direction: direction.as_str(),
                    outcome,
                });
            }
            let _ = registry.line_latency.get_or_create(&DirectionLabels {
                direction: direction.as_str(),
            });
        }
        registry
    }

    /// Records one HTTP attempt. `method` is a portal method (`crm.lead.add`) or an endpoint
    /// (`GET /v1/requests/123`); numeric path segments become `{id}`.
    pub fn record_call(&self, remote: Remote, method: &str, outcome: Outcome, elapsed: Duration) {
        let (service, method) = (remote.as_str(), normalise_method(method));
        let labels = MethodLabels { service, method };
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        let labels = CallLabels {
            service,
            method: labels.method,
            outcome: outcome.as_str(),
        };
        self.calls.get_or_create(&labels).inc();
    }

    /// Records one webhook delivery (`outcome`: `enqueued`, `ignored`, `rejected`,
    /// `unavailable`, `lookup`).
    pub fn record_webhook(&self, event: &str, outcome: &'static str) {
        let event = KNOWN_EVENTS
            .iter()
            .copied()
            .find(|known| *known == event)
            .unwrap_or(if event.is_empty() { "unknown" } else { "other" });
        let labels = WebhookLabels {
            r#type: event,
            outcome,
        };
        self.webhooks.get_or_create(&labels).inc();
    }

    /// Records how long a webhook took from its headers to its durable answer.
    pub fn record_ack(&self, elapsed: Duration) {
        self.acks.observe(elapsed.as_secs_f64());
    }

    /// Records how long a request took from its close in Chat2Desk to its last comment.
    pub fn record_close_to_comment(&self, elapsed: Duration) {
        self.close_to_comment.observe(elapsed.as_secs_f64());
    }

    /// Records Chat2Desk's own count of this month's API calls (`companies/api_info`).
    pub fn record_chat2desk_requests_this_month(&self, calls: i64) {
        self.chat2desk_month.set(calls);
        self.chat2desk_month_known.store(true, Ordering::Relaxed);
    }

    /// Records this installation's Chat2Desk calls this month (all nodes) and the month's
    /// projection.
    pub fn record_chat2desk_month(&self, ours: u64, projection: u64) {
        self.our_month.set(i64::try_from(ours).unwrap_or(i64::MAX));
        self.month_projection
            .set(i64::try_from(projection).unwrap_or(i64::MAX));
    }

    /// Records whether the poller backs off because webhooks bring the closed requests.
    pub fn record_poll_backed_off(&self, backed_off: bool) {
        self.poll_backed_off.set(i64::from(backed_off));
    }

    /// Records a message that crossed the Open Lines bridge (`outcome`: `delivered`,
    /// `refused`) and, when delivered, how long it took from being written to arriving.
    pub fn record_line_message(
        &self,
        direction: Direction,
        outcome: &'static str,
        latency: Option<Duration>,
    ) {
        let labels = LineLabels {
            direction: direction.as_str(),
            outcome,
        };
        self.line_messages.get_or_create(&labels).inc();
        if let Some(latency) = latency {
            let labels = DirectionLabels {
                direction: direction.as_str(),
            };
            self.line_latency
                .get_or_create(&labels)
                .observe(latency.as_secs_f64());
        }
    }

    /// Records a client's message sent to its line again because an earlier attempt's fate
    /// was unknown and the chat could not be read to find it (a rare duplicate beats a lost
    /// message).
    pub fn record_line_resent(&self) {
        self.line_resent.inc();
    }

    /// Records a closed request a `[crm.filter]` rule kept out of the CRM; `rule` is the
    /// rule's key (`channels`, `only_tags`, `skip_tags`).
    pub fn record_skipped(&self, rule: &'static str) {
        self.skipped.get_or_create(&RuleLabels { rule }).inc();
    }

    /// Records the escalation counts of every node, as the state database has them now:
    /// clients waiting for an answer, notices sent today.
    pub fn record_escalation_counts(&self, waiting: u64, escalated_today: u64) {
        self.waiting.set(i64::try_from(waiting).unwrap_or(i64::MAX));
        self.escalated_today
            .set(i64::try_from(escalated_today).unwrap_or(i64::MAX));
    }

    /// Registers clones of every metric into `registry` (names without the prefix).
    pub fn register_into(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "remote_calls",
            "HTTP attempts to Chat2Desk and the portal by method and outcome",
            self.calls.clone(),
        );
        registry.register(
            "remote_call_duration_seconds",
            "Latency of HTTP attempts to Chat2Desk and the portal",
            self.latency.clone(),
        );
        registry.register(
            "webhook_events",
            "Webhook deliveries by event type and outcome",
            self.webhooks.clone(),
        );
        registry.register(
            "webhook_ack_duration_seconds",
            "Time from a webhook's headers to its durable answer",
            self.acks.clone(),
        );
        registry.register(
            "close_to_comment_seconds",
            "Time from a request's close in Chat2Desk to its transcript on the portal",
            self.close_to_comment.clone(),
        );
        registry.register(
            "chat2desk_calls_this_month",
            "Chat2Desk API calls this installation made this month (every node)",
            self.our_month.clone(),
        );
        registry.register(
            "chat2desk_calls_month_projection",
            "Chat2Desk API calls projected for the whole month at this month's pace",
            self.month_projection.clone(),
        );
        registry.register(
            "poll_backed_off",
            "1 while the poller polls less often because webhooks bring the closed requests",
            self.poll_backed_off.clone(),
        );
        registry.register(
            "openlines_messages",
            "Messages across the Open Lines bridge by direction and outcome",
            self.line_messages.clone(),
        );
        registry.register(
            "openlines_message_latency_seconds",
            "Time from a message being written to its arrival on the other side of the bridge",
            self.line_latency.clone(),
        );
        registry.register(
            "transcripts_skipped",
            "Closed requests a [crm.filter] rule kept out of the CRM, by the rule's key",
            self.skipped.clone(),
        );
        registry.register(
            "clients_waiting",
            "Clients whose message waits for an operator's answer ([escalation], last day)",
            self.waiting.clone(),
        );
        registry.register(
            "escalations_today",
            "Escalation notices sent since midnight in [crm] timezone (every node)",
            self.escalated_today.clone(),
        );
        registry.register(
            "openlines_resent",
            "Client messages sent to a line again after an attempt whose fate was unknown",
            self.line_resent.clone(),
        );
        if self.chat2desk_month_known.load(Ordering::Relaxed) {
            registry.register(
                "chat2desk_requests_this_month",
                "API calls this month as Chat2Desk counts them (companies/api_info)",
                self.chat2desk_month.clone(),
            );
        }
    }
}

/// `GET /v1/dialogs/42` → `GET /v1/dialogs/{id}`.
fn normalise_method(method: &str) -> String {
    method
        .split('/')
        .map(|part| {
            if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(r: &Registry) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        r.register_into(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    #[test]
    fn counts_by_normalised_method_and_bounded_event_type() {
        let r = Registry::new();
        r.record_call(
            Remote::Chat2Desk,
            "GET /v1/dialogs/42",
            Outcome::Ok,
            Duration::from_millis(3),
        );
        r.record_call(
            Remote::Chat2Desk,
            "GET /v1/dialogs/7",
            Outcome::Transient,
            Duration::ZERO,
        );
        r.record_webhook("close_request", "enqueued");
        r.record_webhook("x-evil-label-flood-123", "ignored");
        r.record_webhook("x-evil-label-flood-456", "ignored");
        let text = page(&r);
        let samples: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("remote_calls_total") || l.starts_with("webhook_events"))
            .collect();
        assert_eq!(samples.len(), 4, "{text}");
        for line in [
            r#"remote_calls_total{service="chat2desk",method="GET /v1/dialogs/{id}",outcome="ok"} 1"#,
            r#"remote_calls_total{service="chat2desk",method="GET /v1/dialogs/{id}",outcome="transient"} 1"#,
            r#"webhook_events_total{type="close_request",outcome="enqueued"} 1"#,
            r#"webhook_events_total{type="other",outcome="ignored"} 2"#,
        ] {
            assert!(samples.contains(&line), "{line} in\n{text}");
        }
        assert!(text.contains(r#"remote_call_duration_seconds_bucket{le="0.005",service="chat2desk",method="GET /v1/dialogs/{id}"} 2"#)
            || text.contains(r#"remote_call_duration_seconds_bucket{service="chat2desk",method="GET /v1/dialogs/{id}",le="0.005"} 2"#), "{text}");
        assert!(
            !text.contains("chat2desk_requests_this_month"),
            "unknown until read"
        );
    }
}
