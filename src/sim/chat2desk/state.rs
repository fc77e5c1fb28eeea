//! The simulated company: operators, channels, clients, dialogs, requests, messages and
//! webhooks, and the scenario operations that change them.

use super::render::TimeFormat;
use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Instant;

/// Most webhooks a company may register (`chat2desk-api.md` §3, BR).
pub(super) const MAX_WEBHOOKS: usize = 5;

pub(super) struct OperatorRec {
    pub id: i64,
    pub first: String,
    pub last: String,
    pub email: String,
}

pub(super) struct ChannelRec {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub transports: Vec<String>,
}

pub(super) struct ClientRec {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub client_phone: Option<String>,
    pub transport: String,
    pub channel_id: i64,
}

pub(super) struct DialogRec {
    pub id: i64,
    pub client_id: i64,
    pub channel_id: i64,
    pub open: bool,
    pub begin: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub operator_id: Option<i64>,
}

pub(super) struct RequestRec {
    pub id: i64,
    pub dialog_id: i64,
    pub client_id: i64,
    pub operator_id: Option<i64>,
    pub created: DateTime<Utc>,
    pub closed: Option<DateTime<Utc>>,
}

pub(super) struct MessageRec {
    pub id: i64,
    pub text: Option<String>,
    pub kind: &'static str,
    pub transport: String,
    pub read: bool,
    pub created: DateTime<Utc>,
    pub client_id: i64,
    pub dialog_id: i64,
    pub request_id: i64,
    pub operator_id: Option<i64>,
    pub channel_id: i64,
    /// `(field, url)` for `photo`/`video`/`audio`/`pdf`.
    pub media: Option<(&'static str, String)>,
    /// `(name, link)` entries of `attachments`.
    pub attachments: Vec<(String, String)>,
    /// The sender's `external_id` (`POST /messages`).
    pub external_id: Option<String>,
}

pub(super) struct HookRec {
    pub id: i64,
    pub url: String,
    pub name: String,
    pub events: Vec<String>,
    pub channels: Vec<i64>,
}

/// A token bucket answering the rate-limit error when empty.
pub(super) struct Bucket {
    pub rate: f64,
    pub burst: f64,
    pub tokens: f64,
    pub updated: Instant,
}

impl Bucket {
    /// Takes a token; false when the caller is over the limit.
    pub fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A webhook event: its `hook_type`, channel (for the hook's channel filter) and body.
pub(super) struct Event {
    pub hook_type: &'static str,
    pub channel_id: i64,
    pub body: Value,
}

/// Everything the simulator knows, behind one mutex.
pub(super) struct State {
    pub token: String,
    pub web_domain: String,
    pub operators: BTreeMap<i64, OperatorRec>,
    pub channels: BTreeMap<i64, ChannelRec>,
    pub clients: BTreeMap<i64, ClientRec>,
    pub dialogs: BTreeMap<i64, DialogRec>,
    pub requests: BTreeMap<i64, RequestRec>,
    pub messages: BTreeMap<i64, MessageRec>,
    pub hooks: BTreeMap<i64, HookRec>,
    /// Overrides every time format when set.
    pub time_format: Option<TimeFormat>,
    /// Zone of zone-less time formats.
    pub naive_zone: Tz,
    /// `GET /requests/{id}/messages` answers a bare array (DG) instead of the envelope.
    pub bare_request_messages: bool,
    /// `GET /requests/{id}` exists (its presence is unsure in the docs).
    pub request_endpoint: bool,
    /// `GET /requests/{id}/messages` exists.
    pub request_messages_endpoint: bool,
    pub auth_status: u16,
    pub rate_limit_status: u16,
    pub bucket: Option<Bucket>,
    pub webhook_retry_scale: f64,
    /// Authenticated API calls answered: what `api_info` reports as `requests_this_month`.
    pub api_calls: u64,
    /// `api_info.write_first_option`: may the company message clients who never wrote.
    pub write_first: bool,
    /// Texts the next `POST /messages` calls are refused with (400), in order.
    pub message_refusals: std::collections::VecDeque<String>,
    /// The parameters of every `POST /messages` and `POST /clients` received, in order:
    /// `(path, params)`.
    pub writes: Vec<(String, Value)>,
    /// How long a successful `POST /messages` answer is held back after the message exists.
    pub message_answer_hold: std::time::Duration,
    /// The company's tags and who carries them.
    pub tags: super::tags::Tags,
    /// The company's message templates.
    pub templates: super::templates::Templates,
    next_id: i64,
}

impl State {
    pub fn new(token: String) -> Self {
        Self {
            token,
            web_domain: "https://web.chat2desk.com".into(),
            operators: BTreeMap::new(),
            channels: BTreeMap::new(),
            clients: BTreeMap::new(),
            dialogs: BTreeMap::new(),
            requests: BTreeMap::new(),
            messages: BTreeMap::new(),
            hooks: BTreeMap::new(),
            time_format: None,
            naive_zone: Tz::UTC,
            bare_request_messages: false,
            request_endpoint: true,
            request_messages_endpoint: true,
            auth_status: 401,
            rate_limit_status: 429,
            bucket: None,
            webhook_retry_scale: 1.0,
            api_calls: 0,
            write_first: true,
            message_refusals: std::collections::VecDeque::new(),
            writes: Vec::new(),
            message_answer_hold: std::time::Duration::ZERO,
            tags: Default::default(),
            templates: Default::default(),
            next_id: 0,
        }
    }

    /// A fresh id in the range typical for `kind` (so ids of different kinds differ).
    fn id(&mut self, base: i64) -> i64 {
        self.next_id += 1;
        base + self.next_id
    }

    pub fn add_operator(&mut self, first: &str, last: &str, email: &str) -> i64 {
        let id = self.id(100);
        self.operators.insert(
            id,
            OperatorRec {
                id,
                first: first.into(),
                last: last.into(),
                email: email.into(),
            },
        );
        id
    }

    pub fn add_channel(&mut self, name: &str, phone: &str, transports: &[&str]) -> i64 {
        let id = self.id(1_000);
        self.channels.insert(
            id,
            ChannelRec {
                id,
                name: name.into(),
                phone: phone.into(),
                transports: transports.iter().map(|t| t.to_string()).collect(),
            },
        );
        id
    }

    /// The first channel, created when there is none.
    pub fn default_channel(&mut self) -> i64 {
        match self.channels.keys().next() {
            Some(id) => *id,
            None => self.add_channel("Main", "79990000000", &["whatsapp", "telegram"]),
        }
    }

    pub fn add_client(
        &mut self,
        name: &str,
        phone: Option<&str>,
        transport: &str,
        channel_id: i64,
    ) -> i64 {
        let id = self.id(17_340_000);
        let phone = match phone {
            Some(p) => p.chars().filter(char::is_ascii_digit).collect(),
            // Non-phone transports show a synthetic id such as "[tg] 807892" (doc §5).
            None => {
                let short: String = transport.chars().take(2).collect();
                format!("[{short}] {}", 800_000 + id % 100_000)
            }
        };
        self.clients.insert(
            id,
            ClientRec {
                id,
                name: name.into(),
                phone,
                client_phone: None,
                transport: transport.into(),
                channel_id,
            },
        );
        id
    }

    pub fn open_request_id(&self, client_id: i64) -> Option<i64> {
        self.requests
            .values()
            .rev()
            .find(|r| r.client_id == client_id && r.closed.is_none())
            .map(|r| r.id)
    }

    /// Adds a message to the client's dialog (opening it and a request when needed) and
    /// returns its id with the webhook events it causes. `None` for an unknown client.
    pub fn post(
        &mut self,
        client_id: i64,
        kind: &'static str,
        text: Option<&str>,
        operator_id: Option<i64>,
        media: Option<(&'static str, String)>,
        attachments: Vec<(String, String)>,
    ) -> Option<(i64, Vec<Event>)> {
        let route = {
            let c = self.clients.get(&client_id)?;
            (c.channel_id, c.transport.clone())
        };
        self.post_via(
            client_id,
            route,
            kind,
            text,
            operator_id,
            media,
            attachments,
            None,
        )
    }

    /// [`State::post`] on a given `(channel, transport)` with an optional `external_id`.
    #[allow(clippy::too_many_arguments)]
    pub fn post_via(
        &mut self,
        client_id: i64,
        (channel_id, transport): (i64, String),
        kind: &'static str,
        text: Option<&str>,
        operator_id: Option<i64>,
        media: Option<(&'static str, String)>,
        attachments: Vec<(String, String)>,
        external_id: Option<String>,
    ) -> Option<(i64, Vec<Event>)> {
        let now = Utc::now().trunc_subsecs(0);
        self.clients.get(&client_id)?;
        let mut events = Vec::new();
        let dialog_id = match self
            .dialogs
            .values()
            .find(|d| d.client_id == client_id && d.channel_id == channel_id)
        {
            Some(d) => d.id,
            None => {
                let id = self.id(5_000_000);
                self.dialogs.insert(
                    id,
                    DialogRec {
                        id,
                        client_id,
                        channel_id,
                        open: true,
                        begin: now,
                        end: None,
                        operator_id: None,
                    },
                );
                id
            }
        };
        let dialog = self.dialogs.get_mut(&dialog_id)?;
        if !dialog.open {
            dialog.open = true;
            dialog.begin = now;
            dialog.end = None;
        }
        if operator_id.is_some() {
            dialog.operator_id = operator_id;
        }
        let dialog_operator = dialog.operator_id;
        let (request_id, is_new_request) = match self.open_request_id(client_id) {
            Some(id) => (id, false),
            None => {
                let id = self.id(8_700_000);
                self.requests.insert(
                    id,
                    RequestRec {
                        id,
                        dialog_id,
                        client_id,
                        operator_id: dialog_operator,
                        created: now,
                        closed: None,
                    },
                );
                events.push(Event {
                    hook_type: "new_request",
                    channel_id,
                    body: json!({"hook_type": "new_request", "request_id": id,
                        "dialog_id": dialog_id, "client_id": client_id,
                        "transport": transport, "operator_id": dialog_operator,
                        "event_time": iso(now)}),
                });
                (id, true)
            }
        };
        if let Some(op) = operator_id {
            if let Some(r) = self.requests.get_mut(&request_id) {
                r.operator_id = Some(op);
            }
        }
        let id = self.id(106_000_000);
        self.messages.insert(
            id,
            MessageRec {
                id,
                text: text.map(String::from),
                kind,
                transport,
                read: kind != "from_client",
                created: now,
                client_id,
                dialog_id,
                request_id,
                operator_id,
                channel_id,
                media,
                attachments,
                external_id,
            },
        );
        let hook_type = match kind {
            "from_client" => Some("inbox"),
            "to_client" | "autoreply" => Some("outbox"),
            _ => None,
        };
        if let Some(hook_type) = hook_type {
            events.push(Event {
                hook_type,
                channel_id,
                body: self.inbox_body(hook_type, id, is_new_request),
            });
        }
        Some((id, events))
    }

    /// The documented `inbox`/`outbox` payload (`chat2desk-api.md` §3).
    fn inbox_body(&self, hook_type: &str, message_id: i64, is_new_request: bool) -> Value {
        let m = &self.messages[&message_id];
        let c = &self.clients[&m.client_id];
        let media = |field: &str| match &m.media {
            Some((f, url)) if *f == field => json!(url),
            _ => Value::Null,
        };
        json!({"hook_type": hook_type, "message_id": m.id, "type": m.kind, "text": m.text,
            "transport": m.transport, "channel_id": m.channel_id, "client_id": m.client_id,
            "operator_id": m.operator_id, "dialog_id": m.dialog_id, "request_id": m.request_id,
            "photo": media("photo"), "video": media("video"), "audio": media("audio"),
            "pdf": media("pdf"), "coordinates": null,
            "attachments": m.attachments.iter()
                .map(|(name, link)| json!({"name": name, "link": link})).collect::<Vec<_>>(),
            "extra_data": {}, "is_new_request": if is_new_request { json!(1) } else { Value::Null },
            "is_new_client": null, "event_time": iso(m.created),
            "client": {"id": c.id, "phone": c.phone, "client_phone": c.client_phone,
                "name": c.name, "assigned_name": null, "external_id": null}})
    }

    /// Closes the client's open request and its dialog. Returns the request id (the latest
    /// request when none is open, 0 when the client never wrote) and the events.
    pub fn close_request(&mut self, client_id: i64) -> (i64, Vec<Event>) {
        let now = Utc::now().trunc_subsecs(0);
        let Some(request_id) = self.open_request_id(client_id) else {
            let latest = self
                .requests
                .values()
                .rev()
                .find(|r| r.client_id == client_id)
                .map_or(0, |r| r.id);
            return (latest, Vec::new());
        };
        let Some(r) = self.requests.get_mut(&request_id) else {
            return (request_id, Vec::new());
        };
        r.closed = Some(now);
        let (dialog_id, operator_id) = (r.dialog_id, r.operator_id);
        let mut channel_id = 0;
        if let Some(d) = self.dialogs.get_mut(&dialog_id) {
            d.open = false;
            d.end = Some(now);
            channel_id = d.channel_id;
        }
        // The real close_request/close_dialog bodies are unknown (doc §3, §6.4); this is the
        // doc's guess by analogy with the documented events.
        let body = |hook_type: &str| {
            json!({"hook_type": hook_type, "request_id": request_id, "dialog_id": dialog_id,
                "client_id": client_id, "operator_id": operator_id, "event_time": iso(now)})
        };
        let events = vec![
            Event {
                hook_type: "close_request",
                channel_id,
                body: body("close_request"),
            },
            Event {
                hook_type: "close_dialog",
                channel_id,
                body: body("close_dialog"),
            },
        ];
        (request_id, events)
    }

    /// `(url, body)` of every delivery the events cause.
    pub fn deliveries_for(&self, events: &[Event]) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for e in events {
            for h in self.hooks.values() {
                let wants = h.events.iter().any(|x| x == e.hook_type);
                let channel_ok = h.channels.is_empty() || h.channels.contains(&e.channel_id);
                if wants && channel_ok {
                    out.push((h.url.clone(), e.body.clone()));
                }
            }
        }
        out
    }

    pub fn add_hook(
        &mut self,
        url: String,
        name: String,
        events: Vec<String>,
        channels: Vec<i64>,
    ) -> i64 {
        let id = self.id(0);
        self.hooks.insert(
            id,
            HookRec {
                id,
                url,
                name,
                events,
                channels,
            },
        );
        id
    }
}

/// ISO-8601 UTC with `Z`, as webhook `event_time`.
pub(super) fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
