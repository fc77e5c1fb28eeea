//! The `/v1/...` routes of the simulated API.

use super::params::Params;
use super::render::TimeFormat;
use super::service::{error, field_error, list, not_found, success, Service};
use super::state::{State, MAX_WEBHOOKS};
use crate::sim::http::{SimRequest, SimResponse};
use hyper::Method;
use serde_json::{json, Value};

impl Service {
    /// Answers an authenticated API call.
    pub(super) fn api(&self, req: &SimRequest) -> SimResponse {
        let Some(rest) = req.path.strip_prefix("/v1/") else {
            return not_found();
        };
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let p = Params::of(req);
        let id = |i: usize| segments.get(i).and_then(|s| s.parse::<i64>().ok());
        let m = &req.method;
        let mut s = self.state();
        s.api_calls += 1;
        match (segments.as_slice(), m) {
            (["companies", "api_info"], &Method::GET) => api_info(&s),
            (["requests", _], &Method::GET) if !s.request_endpoint => not_found(),
            (["requests", _, "messages"], &Method::GET) if !s.request_messages_endpoint => {
                not_found()
            }
            (["requests", _], &Method::GET) => match id(1).and_then(|i| s.request_json(i)) {
                Some(v) => success(v),
                None => not_found(),
            },
            (["requests", _, "messages"], &Method::GET) => match id(1) {
                Some(i) if s.requests.contains_key(&i) => request_messages(&s, i, &p),
                _ => not_found(),
            },
            (["clients"], &Method::GET) => clients(&s, &p),
            (["tags"], &Method::GET) => s.tags.list(),
            (["templates"], &Method::GET) => s.templates.list(),
            (["templates", _], &Method::GET) => s.templates.one(id(1)),
            (["tags", "assign_to"], &Method::POST) => {
                drop(s);
                self.assign_tags(&p)
            }
            (["clients"], &Method::POST) => {
                drop(s);
                self.create_client(&p)
            }
            (["messages"], &Method::POST) => {
                drop(s);
                self.send_message(&p)
            }
            (["clients", _], &Method::GET) => match id(1).and_then(|i| s.clients.get(&i)) {
                Some(c) => success(s.client_json(c)),
                None => not_found(),
            },
            (["operators"], &Method::GET) => {
                let email = p.text("email");
                let items: Vec<Value> = s
                    .operators
                    .values()
                    .filter(|o| {
                        email
                            .as_ref()
                            .is_none_or(|e| e.eq_ignore_ascii_case(&o.email))
                    })
                    .map(|o| s.operator_json(o))
                    .collect();
                window(items, &p)
            }
            (["channels"], &Method::GET) => {
                let items = s.channels.values().map(State::channel_json).collect();
                window(items, &p)
            }
            (["channels", _], &Method::GET) => match id(1).and_then(|i| s.channels.get(&i)) {
                Some(c) => success(State::channel_json(c)),
                None => not_found(),
            },
            (["dialogs"], &Method::GET) => dialogs(&s, &p),
            (["dialogs", _], &Method::GET) => match id(1).and_then(|i| s.dialogs.get(&i)) {
                Some(d) => success(s.dialog_json(d)),
                None => not_found(),
            },
            (["messages"], &Method::GET) => messages(&s, &p),
            (["messages", _], &Method::GET) => match id(1).and_then(|i| s.messages.get(&i)) {
                Some(msg) => success(s.message_json(msg, TimeFormat::UtcSuffix)),
                None => not_found(),
            },
            (["webhooks"], &Method::GET) => {
                let items = s.hooks.values().map(State::hook_json).collect();
                window(items, &p)
            }
            (["webhooks", _], &Method::GET) => match id(1).and_then(|i| s.hooks.get(&i)) {
                Some(h) => success(State::hook_json(h)),
                None => not_found(),
            },
            (["webhooks"], &Method::POST) => create_hook(&mut s, &p),
            (["webhooks", _], &Method::PUT) => match id(1) {
                Some(i) if s.hooks.contains_key(&i) => update_hook(&mut s, i, &p),
                _ => not_found(),
            },
            (["webhooks", _], &Method::DELETE) => match id(1).and_then(|i| s.hooks.remove(&i)) {
                Some(h) => success(json!({"id": h.id})),
                None => not_found(),
            },
            (["requests", "close"], &Method::PUT) => {
                let client = p.int("client_id");
                drop(s);
                match client {
                    Some(c) if self.state().open_request_id(c).is_some() => {
                        let id = self.with_events(|st| st.close_request(c));
                        success(json!({"request_id": id}))
                    }
                    _ => field_error(400, "Validation failed", "client_id", "no open request"),
                }
            }
            _ => not_found(),
        }
    }
}

fn api_info(s: &State) -> SimResponse {
    success(json!({
        "mode": "premium", "hook": null, "chat_close_web_hook": null,
        "current_version": "1.0", "requests_this_month": s.api_calls,
        "channels": s.channels.len(), "company_name": "Simulated Company",
        "write_first_option": s.write_first, "domain_urls": [s.web_domain],
    }))
}

/// Applies `limit`/`offset` to a full list and wraps it with `meta`.
fn window(items: Vec<Value>, p: &Params) -> SimResponse {
    let (limit, offset) = p.window();
    let total = items.len();
    let page = items.into_iter().skip(offset).take(limit).collect();
    list(page, total, limit, offset)
}

fn request_messages(s: &State, request_id: i64, p: &Params) -> SimResponse {
    let items: Vec<Value> = s
        .messages
        .values()
        .filter(|m| m.request_id == request_id)
        .map(|m| s.message_json(m, TimeFormat::Unix))
        .collect();
    if s.bare_request_messages {
        SimResponse::json(200, &Value::Array(items))
    } else {
        window(items, p)
    }
}

fn clients(s: &State, p: &Params) -> SimResponse {
    let phone: Option<String> = p
        .text("phone")
        .map(|ph| ph.chars().filter(char::is_ascii_digit).collect());
    let mut items: Vec<Value> = s
        .clients
        .values()
        .filter(|c| phone.as_ref().is_none_or(|ph| *ph == c.phone))
        .map(|c| s.client_json(c))
        .collect();
    if p.descending() {
        items.reverse();
    }
    window(items, p)
}

fn dialogs(s: &State, p: &Params) -> SimResponse {
    let state = p.text("state");
    let operator = p.int("operator_id");
    let mut items: Vec<Value> = s
        .dialogs
        .values()
        .filter(|d| match state.as_deref() {
            Some("open") => d.open,
            Some("closed") => !d.open,
            _ => true,
        })
        .filter(|d| operator.is_none() || d.operator_id == operator)
        .map(|d| s.dialog_json(d))
        .collect();
    if p.descending() {
        items.reverse();
    }
    window(items, p)
}

/// `GET /messages`. `start_id` is taken as inclusive and the default order as ascending by
/// id: neither is documented. A `request_id` filter is not documented either, so it is
/// ignored like any unknown parameter.
fn messages(s: &State, p: &Params) -> SimResponse {
    let start = p.int("start_id");
    let ids = [
        ("dialog_id", p.int("dialog_id")),
        ("client_id", p.int("client_id")),
        ("channel_id", p.int("channel_id")),
        ("operator_id", p.int("operator_id")),
    ];
    let kind = p.text("type");
    let transport = p.text("transport");
    let mut items: Vec<Value> = s
        .messages
        .values()
        .filter(|m| start.is_none_or(|st| m.id >= st))
        .filter(|m| {
            ids.iter().all(|(name, want)| {
                let have = match *name {
                    "dialog_id" => Some(m.dialog_id),
                    "client_id" => Some(m.client_id),
                    "channel_id" => Some(m.channel_id),
                    _ => m.operator_id,
                };
                want.is_none() || *want == have
            })
        })
        .filter(|m| kind.as_deref().is_none_or(|k| k == m.kind))
        .filter(|m| transport.as_deref().is_none_or(|t| t == m.transport))
        .map(|m| s.message_json(m, TimeFormat::UtcSuffix))
        .collect();
    if p.descending() {
        items.reverse();
    }
    window(items, p)
}

fn create_hook(s: &mut State, p: &Params) -> SimResponse {
    let Some(url) = p.text("url").filter(|u| !u.trim().is_empty()) else {
        return field_error(400, "Validation failed", "url", "can't be blank");
    };
    if s.hooks.values().any(|h| h.url == url) {
        return field_error(
            400,
            "This url is already used",
            "url",
            "This url is already used",
        );
    }
    if s.hooks.len() >= MAX_WEBHOOKS {
        // The real text for the 5-hook limit is unknown (doc §3).
        return error(400, "Webhooks limit exceeded");
    }
    let name = p.text("name").unwrap_or_default();
    let channels = p
        .list("channels")
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    let id = s.add_hook(url, name, p.list("events"), channels);
    success(State::hook_json(&s.hooks[&id]))
}

fn update_hook(s: &mut State, id: i64, p: &Params) -> SimResponse {
    if let Some(url) = p.text("url") {
        if s.hooks.values().any(|h| h.url == url && h.id != id) {
            return field_error(
                400,
                "This url is already used",
                "url",
                "This url is already used",
            );
        }
        if let Some(h) = s.hooks.get_mut(&id) {
            h.url = url;
        }
    }
    let Some(h) = s.hooks.get_mut(&id) else {
        return not_found();
    };
    if let Some(name) = p.text("name") {
        h.name = name;
    }
    if p.value("events").is_some() {
        h.events = p.list("events");
    }
    if p.value("channels").is_some() {
        h.channels = p
            .list("channels")
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
    }
    success(State::hook_json(h))
}
