//! `/_sim/...`: a small control surface for driving the simulator from another process
//! (the packaging end-to-end test, the demo). No token needed; faults still apply.

use super::params::Params;
use super::service::{field_error, not_found, Service};
use crate::sim::http::{SimRequest, SimResponse};
use hyper::Method;
use serde_json::json;

impl Service {
    /// Answers a `/_sim/` call.
    pub(super) fn control(&self, req: &SimRequest) -> SimResponse {
        let p = Params::of(req);
        let route = req.path.trim_end_matches('/');
        let ok = |v: serde_json::Value| SimResponse::json(200, &v);
        match (&req.method, route) {
            (&Method::GET, "/_sim/state") => ok(self.summary()),
            (&Method::POST, "/_sim/operator") => {
                let id = self.state().add_operator(
                    &p.text("first_name").unwrap_or_default(),
                    &p.text("last_name").unwrap_or_default(),
                    &p.text("email").unwrap_or_default(),
                );
                ok(json!({"id": id}))
            }
            (&Method::POST, "/_sim/channel") => {
                let transports = p.list("transports");
                let refs: Vec<&str> = transports.iter().map(String::as_str).collect();
                let id = self.state().add_channel(
                    &p.text("name").unwrap_or_default(),
                    &p.text("phone").unwrap_or_default(),
                    &refs,
                );
                ok(json!({"id": id}))
            }
            (&Method::POST, "/_sim/client") => {
                let mut s = self.state();
                let channel = p.int("channel_id").unwrap_or_else(|| s.default_channel());
                let id = s.add_client(
                    &p.text("name").unwrap_or_default(),
                    p.text("phone").as_deref(),
                    &p.text("transport").unwrap_or_else(|| "whatsapp".into()),
                    channel,
                );
                ok(json!({"id": id}))
            }
            (&Method::POST, "/_sim/message") => {
                let (Some(client), Some(text)) = (p.int("client_id"), p.text("text")) else {
                    return field_error(400, "Validation failed", "client_id", "and text required");
                };
                let operator = p.int("operator_id");
                let kind = if operator.is_some() {
                    "to_client"
                } else {
                    "from_client"
                };
                let id = self.with_events(|s| {
                    s.post(client, kind, Some(&text), operator, None, Vec::new())
                        .unwrap_or((0, Vec::new()))
                });
                if id == 0 {
                    return not_found();
                }
                ok(json!({"id": id}))
            }
            (&Method::POST, "/_sim/write_first") => {
                let enabled = p.text("enabled").is_none_or(|v| v == "1" || v == "true");
                self.state().write_first = enabled;
                ok(json!({"write_first": enabled}))
            }
            (&Method::POST, "/_sim/scenario/close") => {
                let Some(client) = p.int("client_id") else {
                    return field_error(400, "Validation failed", "client_id", "required");
                };
                let id = self.with_events(|s| s.close_request(client));
                ok(json!({"request_id": id}))
            }
            _ => not_found(),
        }
    }

    /// Counts of everything, for `GET /_sim/state`.
    pub(super) fn summary(&self) -> serde_json::Value {
        let s = self.state();
        let open = s.requests.values().filter(|r| r.closed.is_none()).count();
        json!({
            "operators": s.operators.len(), "channels": s.channels.len(),
            "clients": s.clients.len(), "dialogs": s.dialogs.len(),
            "requests_open": open, "requests_closed": s.requests.len() - open,
            "closed_request_ids": s.requests.values().filter(|r| r.closed.is_some())
                .map(|r| r.id).collect::<Vec<_>>(),
            "messages": s.messages.len(), "webhooks": s.hooks.len(),
            "webhook_deliveries": self.deliveries().len(),
            "message_posts": s.writes.iter().filter(|(p, _)| p == "/messages")
                .map(|(_, v)| v.clone()).collect::<Vec<_>>(),
            "client_posts": s.writes.iter().filter(|(p, _)| p == "/clients")
                .map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        })
    }
}
