//! The process-wide registry: remote calls by service, method and outcome with latency
//! histograms, and webhook deliveries by event type and outcome.
//!
//! One registry per process (as Prometheus clients do): the API clients record into it
//! without being handed anything, and `/metrics` reads it.

use super::Histogram;
use std::collections::BTreeMap;
use std::sync::Mutex;
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

#[derive(Debug, Default)]
struct CallStats {
    outcomes: BTreeMap<Outcome, u64>,
    latency: Histogram,
}

/// Counters and histograms, safe to share between tasks.
#[derive(Debug)]
pub struct Registry {
    calls: Mutex<BTreeMap<(Remote, String), CallStats>>,
    webhooks: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    acks: Mutex<Histogram>,
}

static GLOBAL: Registry = Registry::new();

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
    pub const fn new() -> Self {
        Self {
            calls: Mutex::new(BTreeMap::new()),
            webhooks: Mutex::new(BTreeMap::new()),
            acks: Mutex::new(Histogram::ZERO),
        }
    }

    /// Records one HTTP attempt. `method` is a portal method (`crm.lead.add`) or an endpoint
    /// (`GET /v1/requests/123`); numeric path segments become `{id}`.
    pub fn record_call(&self, remote: Remote, method: &str, outcome: Outcome, elapsed: Duration) {
        let method = normalise_method(method);
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let stats = calls.entry((remote, method)).or_default();
        *stats.outcomes.entry(outcome).or_default() += 1;
        stats.latency.observe(elapsed);
    }

    /// Records one webhook delivery (`outcome`: `enqueued`, `ignored`, `rejected`,
    /// `unavailable`, `lookup`).
    pub fn record_webhook(&self, event: &str, outcome: &'static str) {
        let event = KNOWN_EVENTS
            .iter()
            .copied()
            .find(|known| *known == event)
            .unwrap_or(if event.is_empty() { "unknown" } else { "other" });
        let mut hooks = self.webhooks.lock().unwrap_or_else(|e| e.into_inner());
        *hooks.entry((event, outcome)).or_default() += 1;
    }

    /// Records how long a webhook took from its headers to its durable answer.
    pub fn record_ack(&self, elapsed: Duration) {
        self.acks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(elapsed);
    }

    /// `(service, method, outcome, count)` of every call counter.
    pub fn call_counts(&self) -> Vec<(Remote, String, Outcome, u64)> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls
            .iter()
            .flat_map(|((remote, method), stats)| {
                stats
                    .outcomes
                    .iter()
                    .map(move |(o, n)| (*remote, method.clone(), *o, *n))
            })
            .collect()
    }

    /// `(service, method, latency)` of every call histogram.
    pub fn call_latencies(&self) -> Vec<(Remote, String, Histogram)> {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls
            .iter()
            .map(|((remote, method), stats)| (*remote, method.clone(), stats.latency.clone()))
            .collect()
    }

    /// `(event type, outcome, count)` of every webhook counter.
    pub fn webhook_counts(&self) -> Vec<(&'static str, &'static str, u64)> {
        let hooks = self.webhooks.lock().unwrap_or_else(|e| e.into_inner());
        hooks.iter().map(|((t, o), n)| (*t, *o, *n)).collect()
    }

    /// The webhook acknowledgement latency.
    pub fn ack_latency(&self) -> Histogram {
        self.acks.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
        let counts = r.call_counts();
        assert_eq!(counts.len(), 2);
        assert!(counts
            .iter()
            .all(|(_, m, _, n)| m == "GET /v1/dialogs/{id}" && *n == 1));
        r.record_webhook("close_request", "enqueued");
        r.record_webhook("x-evil-label-flood-123", "ignored");
        r.record_webhook("x-evil-label-flood-456", "ignored");
        assert_eq!(
            r.webhook_counts(),
            vec![("close_request", "enqueued", 1), ("other", "ignored", 2)]
        );
    }
}
