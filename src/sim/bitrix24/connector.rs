//! Open Lines connectors and offline events (`bitrix24-apps.md` §2, §3): `imconnector.*`,
//! `event.bind/get/unbind`, `event.offline.get/clear/error/list`, and the operator's side of
//! a line (a reply becomes an `OnImConnectorMessageAdd` offline event, a finished session
//! `OnImConnectorDialogFinish`, a disconnect `OnImConnectorStatusDelete`/`LineDelete`).
//!
//! Each chat has a session: the first message after a finish opens a new one (its id is in
//! the `send.messages` answer). A line with CRM lead generation on makes a lead for the
//! client of a new session, unless the message says `disable_crm` or the phone is already a
//! lead's or a contact's (the portal's CRM tracker); the lead is the chat's CRM binding.
//!
//! Traps the doc names are reproduced: `register` answers a nested result and fails with
//! HTTP 200; a line's status is saved a moment after `activate`; rows reserved by
//! `event.offline.get` with `clear=0` stay invisible to a plain `get` until cleared or
//! marked with an error; identical payloads merge under one MD5 `MESSAGE_ID`.

use super::state::State;
use super::values::{int, items, param, text, truthy};
use super::{ApiError, Reply};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// Events a connector app may bind (upper-case, as the portal stores them); the last two
/// only on newer boxes (doc §3.1).
const CONNECTOR_EVENTS: [&str; 7] = [
    "ONIMCONNECTORMESSAGEADD",
    "ONIMCONNECTORMESSAGEUPDATE",
    "ONIMCONNECTORMESSAGEDELETE",
    "ONIMCONNECTORLINEDELETE",
    "ONIMCONNECTORSTATUSDELETE",
    "ONIMCONNECTORDIALOGSTART",
    DIALOG_FINISH,
];
/// The event of a finished session.
const DIALOG_FINISH: &str = "ONIMCONNECTORDIALOGFINISH";

/// The session of one chat on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) id: i64,
    pub(crate) closed: bool,
    /// The lead the line made for this chat (its CRM binding).
    pub(crate) lead: Option<i64>,
}

/// A connector's status on one line.
#[derive(Debug, Clone)]
pub(crate) struct LineStatus {
    pub(crate) data: Value,
    /// When the background job saves the status (doc §2.2 trap 2).
    pub(crate) saved_at: Instant,
}

/// One offline event row.
#[derive(Debug, Clone)]
pub(crate) struct OfflineRow {
    pub(crate) id: i64,
    pub(crate) event: String,
    pub(crate) data: Value,
    pub(crate) user_id: i64,
    pub(crate) message_id: String,
    pub(crate) auth_connector: String,
    pub(crate) process_id: Option<String>,
    pub(crate) error: bool,
    pub(crate) at: String,
}

/// A message that reached a line (client → operator), for tests.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LineMessage {
    /// The Open Line.
    pub line: i64,
    /// The `chat.id` it was sent with.
    pub chat_id: String,
    /// The `user.id`.
    pub user_id: String,
    /// `message.id` (the external id).
    pub message_id: String,
    /// The text.
    pub text: String,
    /// `files[].url`.
    pub files: Vec<String>,
}

/// Everything connector-related the portal keeps.
#[derive(Debug, Default)]
pub(crate) struct Connectors {
    pub(crate) registered: BTreeMap<String, Value>,
    pub(crate) status: BTreeMap<(String, i64), LineStatus>,
    /// `(event, auth_connector)` offline bindings.
    pub(crate) bound: BTreeSet<(String, String)>,
    pub(crate) rows: Vec<OfflineRow>,
    next_row: i64,
    pub(crate) messages: Vec<LineMessage>,
    /// The IM chats' messages, as `im.dialog.messages.get` reads them.
    pub(crate) chat_log: Vec<super::dialog::ChatMessage>,
    /// `(line, external chat id)` → IM chat id.
    chats: BTreeMap<(i64, String), i64>,
    next_im_message: i64,
    /// `message.id` values of delivery statuses received.
    pub(crate) delivered: Vec<String>,
    /// Delay before a line's status is saved.
    pub(crate) status_delay: Duration,
    /// Files attached by operators, by file id: `(name, content type, bytes)`.
    pub(crate) files: BTreeMap<i64, (String, String, Vec<u8>)>,
    /// `(line, external chat id)` → its current session.
    pub(crate) sessions: BTreeMap<(i64, String), Session>,
    next_session: i64,
    /// Lines whose CRM integration makes a lead for a new chat.
    pub(crate) lead_lines: BTreeSet<i64>,
    /// An older box: no `OnImConnectorDialogStart/Finish`.
    pub(crate) old_box: bool,
    /// Injected fault: short links (`/~r<id>`) that redirect to any address.
    pub(crate) redirects: BTreeMap<i64, String>,
    /// `METHOD path` of every request for a file link, in order.
    pub(crate) file_requests: Vec<String>,
    /// The last payload raised per event name, `(data, user_id)`, for a re-delivery.
    last_raised: BTreeMap<String, (Value, i64)>,
}

/// Rows per `event.offline.list` page (the portal's list page).
const LIST_PAGE: usize = 50;

fn arg_error(name: &str) -> ApiError {
    ApiError::new(
        400,
        "ERROR_ARGUMENT",
        &format!("Argument '{name}' is null or empty"),
    )
}

pub(super) fn upper(params: &Value, name: &str) -> Option<Value> {
    let Value::Object(map) = params else {
        return None;
    };
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

pub(super) fn connector_and_line(params: &Value) -> Result<(String, i64), ApiError> {
    let connector = upper(params, "CONNECTOR")
        .and_then(|v| text(&v))
        .filter(|c| !c.is_empty())
        .ok_or_else(|| arg_error("CONNECTOR"))?
        .to_lowercase();
    let line = upper(params, "LINE")
        .and_then(|v| int(&v))
        .filter(|l| *l > 0)
        .ok_or_else(|| arg_error("LINE"))?;
    Ok((connector, line))
}

/// `imconnector.*`.
pub(crate) fn imconnector(
    state: &mut State,
    method: &str,
    params: &Value,
) -> Result<Reply, ApiError> {
    match method {
        "imconnector.register" => register(state, params),
        "imconnector.unregister" => {
            let id = upper(params, "ID")
                .and_then(|v| text(&v))
                .unwrap_or_default();
            let c = &mut state.connectors;
            let existed = c.registered.remove(&id.to_lowercase()).is_some();
            c.status.retain(|(conn, _), _| *conn != id.to_lowercase());
            Ok(Reply::of(json!({ "result": existed })))
        }
        "imconnector.activate" => {
            let (connector, line) = connector_and_line(params)?;
            let active = upper(params, "ACTIVE").is_some_and(|v| truthy(&v));
            let c = &mut state.connectors;
            if active {
                let saved_at = Instant::now() + c.status_delay;
                c.status
                    .entry((connector, line))
                    .and_modify(|s| s.saved_at = saved_at)
                    .or_insert(LineStatus {
                        data: json!([]),
                        saved_at,
                    });
                Ok(Reply::of(json!(true)))
            } else {
                Ok(Reply::of(json!(c
                    .status
                    .remove(&(connector, line))
                    .is_some())))
            }
        }
        "imconnector.connector.data.set" => {
            let (connector, line) = connector_and_line(params)?;
            let data = upper(params, "DATA").unwrap_or(Value::Null);
            let c = &mut state.connectors;
            let delay = c.status_delay;
            c.status
                .entry((connector, line))
                .or_insert(LineStatus {
                    data: json!([]),
                    saved_at: Instant::now() + delay,
                })
                .data = data;
            Ok(Reply::of(json!(true)))
        }
        "imconnector.status" => {
            let (connector, line) = connector_and_line(params)?;
            let configured = state
                .connectors
                .status
                .get(&(connector.clone(), line))
                .is_some_and(|s| s.saved_at <= Instant::now());
            Ok(Reply::of(json!({
                "LINE": line, "CONNECTOR": connector, "ERROR": false,
                "CONFIGURED": configured, "STATUS": configured,
            })))
        }
        "imconnector.send.messages" => send_messages(state, params),
        "imconnector.update.messages" => super::dialog::update_messages(state, params),
        "imconnector.send.status.delivery" | "imconnector.send.status.reading" => {
            let (connector, line) = connector_and_line(params)?;
            let messages = upper(params, "MESSAGES")
                .map(|m| items(&m))
                .unwrap_or_default();
            if messages.is_empty() {
                return Err(arg_error("MESSAGES"));
            }
            if !active(state, &connector, line) {
                return Err(not_active());
            }
            if method.ends_with("delivery") {
                for m in messages {
                    for id in m.pointer("/message/id").map(items).unwrap_or_default() {
                        if let Some(id) = text(&id) {
                            state.connectors.delivered.push(id);
                        }
                    }
                }
            }
            Ok(Reply::of(json!({"SUCCESS": true, "DATA": []})))
        }
        _ => Err(super::not_found(method)),
    }
}

pub(super) fn not_active() -> ApiError {
    ApiError::new(
        400,
        "NOT_ACTIVE_LINE",
        "The line is not active for this connector",
    )
}

pub(super) fn active(state: &State, connector: &str, line: i64) -> bool {
    state.connectors.registered.contains_key(connector)
        && state
            .connectors
            .status
            .contains_key(&(connector.to_string(), line))
}

/// `imconnector.register`: nested `{"result": …}`; failures are HTTP 200 (doc §2.1).
fn register(state: &mut State, params: &Value) -> Result<Reply, ApiError> {
    let fail = |code: &str, text: &str| {
        Ok(Reply::of(
            json!({"result": false, "error": code, "error_description": text}),
        ))
    };
    let Some(id) = upper(params, "ID")
        .and_then(|v| text(&v))
        .filter(|s| !s.is_empty())
    else {
        return fail("CONNECTOR_ID_REQUIRED", "Connector ID is required");
    };
    let id = id.to_lowercase();
    if id.contains('.') || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return fail(
            "APPLICATION_REGISTRATION_ERROR_POINT",
            "Connector ID must not contain a dot",
        );
    }
    if upper(params, "NAME").and_then(|v| text(&v)).is_none() {
        return fail("NAME_REQUIRED", "Connector name is required");
    }
    let icon_ok = upper(params, "ICON")
        .and_then(|i| i.get("DATA_IMAGE").cloned())
        .and_then(|v| text(&v))
        .is_some_and(|d| d.starts_with("data:image/"));
    if !icon_ok {
        return fail("ICON_REQUIRED", "Connector icon is required");
    }
    let Some(handler) = upper(params, "PLACEMENT_HANDLER").and_then(|v| text(&v)) else {
        return fail("NO_PLACEMENT_HANDLER", "Placement handler is required");
    };
    state.connectors.registered.insert(
        id,
        json!({"NAME": upper(params, "NAME"), "PLACEMENT_HANDLER": handler}),
    );
    Ok(Reply::of(json!({"result": true})))
}

/// The `LINE` and non-empty `MESSAGES` of an `imconnector.*.messages` call, refused as the
/// portal does when the array is empty or the connector is not active on the line.
pub(super) fn messages_on_active_line(
    state: &State,
    params: &Value,
) -> Result<(i64, Vec<Value>), ApiError> {
    let (connector, line) = connector_and_line(params)?;
    let messages = upper(params, "MESSAGES")
        .map(|m| items(&m))
        .unwrap_or_default();
    if messages.is_empty() {
        return Err(ApiError::new(
            400,
            "ERROR_ARGUMENT",
            "MESSAGES must be an array of messages",
        ));
    }
    if !active(state, &connector, line) {
        return Err(not_active());
    }
    Ok((line, messages))
}

/// `imconnector.send.messages`: per-message `SUCCESS` (doc §2.3).
fn send_messages(state: &mut State, params: &Value) -> Result<Reply, ApiError> {
    let (line, messages) = messages_on_active_line(state, params)?;
    let mut results = Vec::new();
    for m in messages {
        let user_id = m.pointer("/user/id").and_then(text);
        let chat_id = m.pointer("/chat/id").and_then(text);
        let body = m.get("message");
        let message_text = body.and_then(|b| b.get("text")).and_then(text);
        let files: Vec<String> = body
            .and_then(|b| b.get("files"))
            .map(items)
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f.get("url").and_then(text))
            .collect();
        let (Some(user_id), Some(chat_id), Some(_)) = (user_id, chat_id, body) else {
            results.push(json!({"SUCCESS": false, "ERRORS": [{
                "code": "ERROR_ARGUMENT",
                "message": "The incorrect structure of a message"}]}));
            continue;
        };
        if message_text.is_none() && files.is_empty() {
            results.push(json!({"SUCCESS": false, "ERRORS": [{
                "code": "EMPTY_MESSAGE", "message": "The message is empty"}]}));
            continue;
        }
        let crm_off = body
            .and_then(|b| b.get("disable_crm"))
            .and_then(text)
            .is_some_and(|v| v.eq_ignore_ascii_case("Y"));
        let phone = m.pointer("/user/phone").and_then(text);
        let name = m.pointer("/user/name").and_then(text);
        let (session, opened) = state.connectors.session(line, &chat_id);
        if opened && !crm_off && state.connectors.lead_lines.contains(&line) {
            let lead = line_lead(state, name.as_deref(), phone.as_deref());
            if let Some(s) = state.connectors.sessions.get_mut(&(line, chat_id.clone())) {
                s.lead = lead;
            }
        }
        let c = &mut state.connectors;
        let im_chat = c.im_chat(line, &chat_id);
        let message_id = body
            .and_then(|b| b.get("id"))
            .and_then(text)
            .unwrap_or_default();
        c.messages.push(LineMessage {
            line,
            chat_id: chat_id.clone(),
            user_id: user_id.clone(),
            message_id: message_id.clone(),
            text: message_text.clone().unwrap_or_default(),
            files: files.clone(),
        });
        let im_message = c.next_message();
        let connector_user = 500 + c.chats.len() as i64;
        let shown = message_text.clone().unwrap_or_default();
        super::dialog::pushed(
            &mut c.chat_log,
            (im_chat, im_message),
            connector_user,
            &message_id,
            &shown,
        );
        results.push(json!({
            "user": connector_user.to_string(),
            "message": {"id": message_id, "date": {}, "text": message_text,
                        "files": (0..files.len()).map(|i| 1234 + i).collect::<Vec<_>>()},
            "chat": {"id": chat_id}, "extra": {"disable_tracker": "Y"}, "SUCCESS": true,
            "session": {"ID": session.to_string(), "CHAT_ID": im_chat.to_string()},
        }));
    }
    Ok(Reply::of(
        json!({"SUCCESS": true, "DATA": {"RESULT": results}}),
    ))
}

/// The lead the line's CRM integration makes for a new chat: none when the phone is already
/// a lead's or a contact's (the tracker binds the chat to that one instead).
fn line_lead(state: &mut State, name: Option<&str>, phone: Option<&str>) -> Option<i64> {
    if let Some(phone) = phone {
        for entity in ["LEAD", "CONTACT"] {
            let found = super::execute(
                state,
                "crm.duplicate.findbycomm",
                &json!({"type": "PHONE", "values": [phone], "entity_type": entity}),
            )
            .ok()?;
            let ids = found.result.get(entity).map(items).unwrap_or_default();
            if let Some(id) = ids.first().and_then(int) {
                return (entity == "LEAD").then_some(id);
            }
        }
    }
    let name = name.unwrap_or("Посетитель");
    let phones: Vec<Value> = phone
        .map(|p| json!({"VALUE": p, "VALUE_TYPE": "WORK"}))
        .into_iter()
        .collect();
    let fields =
        json!({"TITLE": format!("{name} - Открытая линия"), "NAME": name, "PHONE": phones});
    let added = super::execute(state, "crm.lead.add", &json!({ "fields": fields })).ok()?;
    int(&added.result)
}

/// `event.bind`, `event.unbind`, `event.get`, `events`.
pub(crate) fn events(
    state: &mut State,
    method: &str,
    params: &Value,
    admin: bool,
) -> Result<Reply, ApiError> {
    let event = param(params, &["event", "EVENT"])
        .and_then(text)
        .unwrap_or_default()
        .to_uppercase();
    let offline = param(params, &["event_type", "EVENT_TYPE"])
        .and_then(text)
        .is_some_and(|t| t.eq_ignore_ascii_case("offline"));
    let connector = param(params, &["auth_connector"])
        .and_then(text)
        .unwrap_or_default();
    match method {
        "events" => Ok(Reply::of(json!(bindable(state)))),
        "event.get" => Ok(Reply::of(json!(state
            .connectors
            .bound
            .iter()
            .map(|(e, c)| json!({"event": e, "connector_id": c, "offline": 1}))
            .collect::<Vec<_>>()))),
        "event.bind" | "event.unbind" => {
            if !bindable(state).contains(&event.as_str()) {
                return Err(ApiError::new(
                    400,
                    "ERROR_EVENT_NOT_FOUND",
                    "Event not found",
                ));
            }
            if !offline {
                // Online handlers need the cloud queue: not simulated.
                return Err(ApiError::new(
                    400,
                    "ERROR_ARGUMENT",
                    "Only offline events are simulated",
                ));
            }
            if !admin {
                return Err(ApiError::new(
                    403,
                    "ACCESS_DENIED",
                    "Access denied! Offline events binding requires administrator access rights",
                ));
            }
            let key = (event, connector);
            let bound = &mut state.connectors.bound;
            if method == "event.unbind" {
                return Ok(Reply::of(json!({"count": u8::from(bound.remove(&key))})));
            }
            if !bound.insert(key) {
                return Err(ApiError::new(
                    400,
                    "ERROR_CORE",
                    "Unable to set event handler: Handler already binded",
                ));
            }
            Ok(Reply::of(json!(true)))
        }
        _ => Err(super::not_found(method)),
    }
}

/// The connector events this box has.
fn bindable(state: &State) -> Vec<&'static str> {
    let all = CONNECTOR_EVENTS.iter().copied();
    match state.connectors.old_box {
        true => all
            .filter(|e| !e.starts_with("ONIMCONNECTORDIALOG"))
            .collect(),
        false => all.collect(),
    }
}

/// `event.offline.*` (admin only, doc §3.5).
pub(crate) fn offline(
    state: &mut State,
    method: &str,
    params: &Value,
    admin: bool,
) -> Result<Reply, ApiError> {
    if !admin {
        return Err(ApiError::new(403, "ACCESS_DENIED", "Access denied!"));
    }
    let connector = param(params, &["auth_connector"])
        .and_then(text)
        .unwrap_or_default();
    let rows = &mut state.connectors.rows;
    match method {
        "event.offline.get" => {
            let limit = param(params, &["limit"])
                .and_then(int)
                .unwrap_or(50)
                .clamp(1, 1000) as usize;
            let clear = param(params, &["clear"]).is_none_or(truthy);
            let want_error = param(params, &["error"]).is_some_and(truthy);
            let given = param(params, &["process_id"]).and_then(text);
            let visible = |r: &OfflineRow| {
                r.auth_connector == connector
                    && r.error == want_error
                    && match &given {
                        Some(p) => r.process_id.as_deref() == Some(p.as_str()),
                        None => r.process_id.is_none(),
                    }
            };
            let picked: Vec<usize> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| visible(r))
                .map(|(i, _)| i)
                .take(limit)
                .collect();
            let events: Vec<Value> = picked.iter().map(|i| row_json(&rows[*i], false)).collect();
            let process_id = if clear {
                let ids: BTreeSet<i64> = picked.iter().map(|i| rows[*i].id).collect();
                rows.retain(|r| !ids.contains(&r.id));
                Value::Null
            } else {
                let process = given.unwrap_or_else(|| super::oauth::random(32));
                for i in &picked {
                    rows[*i].process_id = Some(process.clone());
                }
                json!(process)
            };
            Ok(Reply::of(
                json!({"process_id": process_id, "events": events}),
            ))
        }
        "event.offline.clear" | "event.offline.error" => {
            let process = param(params, &["process_id"])
                .and_then(text)
                .ok_or_else(|| arg_error("process_id"))?;
            let message_ids: BTreeSet<String> = param(params, &["message_id"])
                .map(items)
                .unwrap_or_default()
                .iter()
                .filter_map(text)
                .collect();
            let ids: BTreeSet<i64> = param(params, &["id"])
                .map(items)
                .unwrap_or_default()
                .iter()
                .filter_map(int)
                .collect();
            if method == "event.offline.error" && message_ids.is_empty() {
                return Err(arg_error("message_id"));
            }
            let selected = |r: &OfflineRow| {
                r.process_id.as_deref() == Some(process.as_str())
                    && if !message_ids.is_empty() {
                        message_ids.contains(&r.message_id)
                    } else if !ids.is_empty() {
                        ids.contains(&r.id)
                    } else {
                        true
                    }
            };
            if method == "event.offline.clear" {
                rows.retain(|r| !selected(r));
            } else {
                for r in rows.iter_mut().filter(|r| selected(r)) {
                    r.error = true;
                    r.process_id = None;
                }
            }
            Ok(Reply::of(json!(true)))
        }
        "event.offline.list" => {
            // Pages of 50 from `start`, `next` while more follow (doc §3.5, the portal's
            // list convention).
            let start = param(params, &["start"]).and_then(int).unwrap_or(0).max(0) as usize;
            let mine: Vec<&OfflineRow> = rows
                .iter()
                .filter(|r| r.auth_connector == connector)
                .collect();
            let page: Vec<Value> = mine
                .iter()
                .skip(start)
                .take(LIST_PAGE)
                .map(|r| row_json(r, true))
                .collect();
            let next = start + page.len();
            Ok(Reply {
                total: Some(mine.len() as u64),
                result: json!(page),
                next: (next < mine.len()).then_some(next as u64),
            })
        }
        _ => Err(super::not_found(method)),
    }
}

fn row_json(r: &OfflineRow, list: bool) -> Value {
    let mut row = json!({
        "ID": r.id.to_string(), "TIMESTAMP_X": r.at, "EVENT_NAME": r.event,
        "EVENT_DATA": r.data, "EVENT_ADDITIONAL": {"user_id": r.user_id.to_string()},
        "MESSAGE_ID": r.message_id,
    });
    if list {
        row["PROCESS_ID"] = json!(r.process_id.clone().unwrap_or_default());
        row["ERROR"] = json!(if r.error { "1" } else { "0" });
    }
    row
}

impl Connectors {
    /// The IM chat of the external chat `chat_id` on `line`, made on first use.
    fn im_chat(&mut self, line: i64, chat_id: &str) -> i64 {
        let next = 1700 + self.chats.len() as i64;
        *self
            .chats
            .entry((line, chat_id.to_string()))
            .or_insert(next)
    }

    /// The current session of `chat_id` on `line`, opening one when there is none or the
    /// last was finished; true when it is new.
    fn session(&mut self, line: i64, chat_id: &str) -> (i64, bool) {
        let key = (line, chat_id.to_string());
        if let Some(s) = self.sessions.get(&key).filter(|s| !s.closed) {
            return (s.id, false);
        }
        self.next_session += 1;
        let id = 320 + self.next_session;
        let lead = None;
        self.sessions.insert(
            key,
            Session {
                id,
                closed: false,
                lead,
            },
        );
        (id, true)
    }

    /// An operator finishes the session of `chat_id` on `line`: `OnImConnectorDialogFinish`
    /// (doc §3.1) for every app bound to it (none on an older box). The session id.
    pub(crate) fn finish_session(
        &mut self,
        connector: &str,
        line: i64,
        chat_id: &str,
    ) -> Option<i64> {
        let session = self.sessions.get_mut(&(line, chat_id.to_string()))?;
        if session.closed {
            return None;
        }
        session.closed = true;
        let id = session.id;
        let data = json!({
            "CONNECTOR": connector, "LINE": line.to_string(),
            "DATA": [{
                "connector": {"connector_id": connector, "line_id": line.to_string(),
                              "chat_id": chat_id, "user_id": chat_id},
                "session": {"id": id.to_string(), "closed": "Y", "parent_id": "0",
                            "close_term": "1440"},
                "chat": {"id": chat_id},
                "user": {"id": chat_id},
            }],
        });
        if !self.old_box {
            self.raise(DIALOG_FINISH, data, 1);
        }
        Some(id)
    }

    /// An administrator switches `connector` off on `line` (Contact Center → «Отключить»):
    /// the status row goes, `OnImConnectorStatusDelete` `{connector, line}` is raised.
    pub(crate) fn disconnect(&mut self, connector: &str, line: i64) {
        self.status.remove(&(connector.to_string(), line));
        let data = json!({"connector": connector, "line": line.to_string()});
        self.raise("ONIMCONNECTORSTATUSDELETE", data, 1);
    }

    /// A new IM message id.
    fn next_message(&mut self) -> i64 {
        self.next_im_message += 1;
        86_000 + self.next_im_message
    }

    /// Queues an offline event for every `auth_connector` bound to it (identical payloads
    /// merge into one row, doc §3.5).
    pub(crate) fn raise(&mut self, event: &str, data: Value, user_id: i64) {
        let listeners: Vec<String> = self
            .bound
            .iter()
            .filter(|(e, _)| e == event)
            .map(|(_, c)| c.clone())
            .collect();
        let digest = md5_hex(&format!("{event}|{data}"));
        self.last_raised
            .insert(event.to_string(), (data.clone(), user_id));
        for connector in listeners {
            if self
                .rows
                .iter()
                .any(|r| r.message_id == digest && r.auth_connector == connector)
            {
                continue;
            }
            self.next_row += 1;
            self.rows.push(OfflineRow {
                id: self.next_row,
                event: event.to_string(),
                data: data.clone(),
                user_id,
                message_id: digest.clone(),
                auth_connector: connector,
                process_id: None,
                error: false,
                at: super::state::now_iso(),
            });
        }
    }

    /// Keeps an operator's file; its signed short link on `portal` (`/~<code>`, which
    /// redirects to `/pub/im.file.php?FILE_ID=…&SIGN=…`, doc §3.2).
    pub(crate) fn attach_file(
        &mut self,
        portal: &str,
        name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> String {
        let id = 1000 + self.files.len() as i64;
        self.files
            .insert(id, (name.to_string(), content_type.to_string(), bytes));
        format!("{portal}/~f{id}")
    }

    /// Injected fault: a short link on `portal` that redirects to `location` (a portal
    /// behind an open redirect, or a link pointing elsewhere).
    pub(crate) fn attach_redirect(&mut self, portal: &str, location: &str) -> String {
        let id = 1 + self.redirects.len() as i64;
        self.redirects.insert(id, location.to_string());
        format!("{portal}/~r{id}")
    }

    /// The answer to `GET /~<code>` or `GET /pub/im.file.php`; `None` for other paths.
    pub(crate) fn file_answer(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Option<crate::sim::http::SimResponse> {
        use crate::sim::http::SimResponse;
        let redirect = path
            .strip_prefix("/~r")
            .and_then(|id| id.parse::<i64>().ok());
        if let Some(location) = redirect.and_then(|id| self.redirects.get(&id)) {
            let mut answer = SimResponse::text(302, "text/html; charset=utf-8", "");
            answer.headers.push(("location", location.clone()));
            return Some(answer);
        }
        if let Some(code) = path.strip_prefix("/~f") {
            let Some(id) = code
                .parse::<i64>()
                .ok()
                .filter(|id| self.files.contains_key(id))
            else {
                return Some(SimResponse::text(
                    404,
                    "text/html; charset=utf-8",
                    "Not found",
                ));
            };
            let mut answer = SimResponse::text(302, "text/html; charset=utf-8", "");
            answer.headers.push((
                "location",
                format!("/pub/im.file.php?FILE_ID={id}&SIGN={}", file_sign(id)),
            ));
            return Some(answer);
        }
        if path != "/pub/im.file.php" {
            return None;
        }
        let arg = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let id = arg("FILE_ID").and_then(|v| v.parse::<i64>().ok());
        let file = id
            .filter(|id| arg("SIGN") == Some(file_sign(*id).as_str()))
            .and_then(|id| self.files.get(&id));
        let Some((_, content_type, bytes)) = file else {
            return Some(SimResponse::text(
                403,
                "text/html; charset=utf-8",
                "Access denied",
            ));
        };
        let mut answer = SimResponse::text(200, "application/octet-stream", "");
        answer.headers.push(("content-type", content_type.clone()));
        answer.body = bytes.clone();
        Some(answer)
    }

    /// An operator answers in the line's chat `chat_id` (the external id the connector sent):
    /// the `OnImConnectorMessageAdd` payload of doc §3.2. The IM message id.
    pub(crate) fn operator_reply(
        &mut self,
        connector: &str,
        line: i64,
        chat_id: &str,
        user_id: i64,
        text: &str,
        files: &[(String, String)],
    ) -> i64 {
        let im_chat = self.im_chat(line, chat_id);
        let im_message = self.next_message();
        super::dialog::replied(&mut self.chat_log, (im_chat, im_message), user_id, text);
        let files: Vec<Value> = files
            .iter()
            .map(|(name, link)| json!({"name": name, "type": "file", "link": link, "size": 1024}))
            .collect();
        let data = json!({
            "CONNECTOR": connector, "LINE": line.to_string(),
            "MESSAGES": [{
                "im": {"chat_id": im_chat.to_string(), "message_id": im_message},
                "message": {"user_id": user_id.to_string(), "text": text, "files": files,
                            "attachments": [], "params": {}},
                "chat": {"id": chat_id},
                "attachments_old": [],
            }],
        });
        self.raise("ONIMCONNECTORMESSAGEADD", data, user_id);
        im_message
    }
}

impl super::PortalSim {
    /// The portal hands the last `event` (upper-case name) out once more: its identical
    /// payload is queued again, under the same `MESSAGE_ID` (doc §3.5: `md5` of the name
    /// and data), as a free row — the way an event whose clear failed or came late is read
    /// again by a later `event.offline.get`. False when `event` was never raised.
    pub fn redeliver_offline_event(&self, event: &str) -> bool {
        let mut state = self.portal.state();
        let connectors = &mut state.connectors;
        let Some((data, user_id)) = connectors.last_raised.get(event).cloned() else {
            return false;
        };
        connectors.raise(event, data, user_id);
        true
    }
}

/// The `SIGN` of a file link (the portal signs with its own key).
fn file_sign(id: i64) -> String {
    md5_hex(&format!("sim-file-{id}"))
}

/// `MESSAGE_ID`: the portal's MD5 of the payload, as 32 hex digits.
fn md5_hex(input: &str) -> String {
    use md5::{Digest, Md5};
    format!("{:x}", Md5::digest(input.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_the_rfc_vectors() {
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            md5_hex("message digest"),
            "f96b697d7cb7938d525a2f31aaf161d0"
        );
    }

    #[test]
    fn reserved_rows_are_hidden_from_a_plain_get() {
        let mut state = State::new("s".into());
        state
            .connectors
            .bound
            .insert(("ONIMCONNECTORMESSAGEADD".into(), "c2d".into()));
        state
            .connectors
            .raise("ONIMCONNECTORMESSAGEADD", json!({"a": 1}), 27);
        state
            .connectors
            .raise("ONIMCONNECTORMESSAGEADD", json!({"a": 1}), 27);
        assert_eq!(state.connectors.rows.len(), 1, "identical payloads merge");
        let get = |state: &mut State, p: Value| {
            offline(state, "event.offline.get", &p, true)
                .unwrap()
                .result
        };
        let first = get(&mut state, json!({"clear": 0, "auth_connector": "c2d"}));
        let process = first["process_id"].as_str().unwrap().to_string();
        assert_eq!(first["events"].as_array().unwrap().len(), 1);
        let again = get(&mut state, json!({"clear": 0, "auth_connector": "c2d"}));
        assert!(again["events"].as_array().unwrap().is_empty());
        let mine = get(
            &mut state,
            json!({"clear": 0, "auth_connector": "c2d", "process_id": process}),
        );
        assert_eq!(mine["events"].as_array().unwrap().len(), 1);
    }
}
