//! The connector's setup on the portal, idempotent (at start and after connecting the app):
//! `imconnector.register`, then per line `imconnector.activate` and
//! `imconnector.connector.data.set`, then the offline events the portal has bound for us,
//! then `imconnector.status` of each line, re-checked a few times because the portal saves
//! a line's status in a background job after `activate` answers (doc §2.2).

use crate::portal::{AppClient, BitrixError};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Events an Open Lines connector needs; the first is required, the others are bound where
/// the portal has them (`events` is probed first: older boxes lack some, doc §3.1).
const EVENTS: [&str; 6] = [
    "OnImConnectorMessageAdd",
    "OnImConnectorMessageUpdate",
    "OnImConnectorMessageDelete",
    "OnImConnectorLineDelete",
    "OnImConnectorStatusDelete",
    SESSION_FINISH,
];
/// The event of a finished session: newer boxes only (older ones answer
/// `ERROR_EVENT_NOT_FOUND`); without it a request closes only when Chat2Desk closes it.
pub const SESSION_FINISH: &str = "OnImConnectorDialogFinish";

/// The connector as registered.
#[derive(Debug, Clone)]
pub struct ConnectorSpec {
    /// `ID` (`[a-z0-9_]`), also the `auth_connector` of our offline events.
    pub id: String,
    /// The settings page the portal frames (`<daemon_url>/bitrix24/connector`).
    pub placement_handler: String,
    /// How often and how long to wait for a line's status to be saved.
    pub status_checks: u32,
    /// Pause between two status checks.
    pub status_pause: Duration,
}

/// One Open Line and what it shows about its Chat2Desk channels.
#[derive(Debug, Clone)]
pub struct LineSpec {
    /// The line id.
    pub line: i64,
    /// `DATA.NAME`: e.g. `Chat2Desk: WhatsApp +7 916 …`.
    pub name: String,
    /// `DATA.URL` / `URL_IM`: the Chat2Desk web app.
    pub url: String,
}

/// What the setup found for one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSetup {
    /// The line.
    pub line: i64,
    /// `imconnector.status` → `CONFIGURED` and `STATUS`.
    pub configured: bool,
}

/// A failed setup step: the portal method, the line, and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{method}{}: {detail}; {fix}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
pub struct SetupError {
    /// Portal method at fault.
    pub method: &'static str,
    /// The line, when the step is per line.
    pub line: Option<i64>,
    /// What the portal said.
    pub detail: String,
    /// What the admin should do.
    pub fix: &'static str,
    /// True when the portal or the network failed (worth trying again later).
    pub transient: bool,
}

fn failed(
    method: &'static str,
    line: Option<i64>,
    e: BitrixError,
    fix: &'static str,
) -> SetupError {
    SetupError {
        method,
        line,
        transient: e.is_transient(),
        detail: e.to_string(),
        fix,
    }
}

/// The connector's icon: a speech bubble (an SVG data URL, doc §2.1).
const ICON: &str = "data:image/svg+xml,%3Csvg%20xmlns%3D%22http%3A%2F%2Fwww.w3.org%2F2000%2Fsvg%22%20viewBox%3D%220%200%2024%2024%22%3E%3Cpath%20fill%3D%22%23ffffff%22%20d%3D%22M4%204h16v11H8l-4%204z%22%2F%3E%3C%2Fsvg%3E";

/// Registers the connector, activates it on every line, binds the offline events and
/// confirms each line's status. Safe to run again at any time.
pub async fn ensure_connector(
    app: &AppClient,
    spec: &ConnectorSpec,
    lines: &[LineSpec],
) -> Result<Vec<LineSetup>, SetupError> {
    register(app, spec).await?;
    for line in lines {
        activate(app, spec, line).await?;
    }
    bind_events(app, spec).await?;
    let mut report = Vec::new();
    for line in lines {
        report.push(LineSetup {
            line: line.line,
            configured: line_configured(app, spec, line.line).await?,
        });
    }
    Ok(report)
}

async fn register(app: &AppClient, spec: &ConnectorSpec) -> Result<(), SetupError> {
    const FIX: &str = "check that the local application has the imopenlines and imconnector scopes";
    let answer = app
        .call(
            "imconnector.register",
            json!({
                "ID": spec.id, "NAME": "Chat2Desk",
                "ICON": {"DATA_IMAGE": ICON, "COLOR": "#1a8cff", "SIZE": "90%", "POSITION": "center"},
                "PLACEMENT_HANDLER": spec.placement_handler,
                // System messages of the line are not for the client's messenger.
                "NEED_SYSTEM_MESSAGES": false,
            }),
        )
        .await
        .map_err(|e| failed("imconnector.register", None, e, FIX))?;
    // The result is nested, and failures come with HTTP 200 (doc §2.1).
    if answer.get("result") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    Err(SetupError {
        method: "imconnector.register",
        line: None,
        detail: format!(
            "{} {}",
            answer["error"].as_str().unwrap_or("refused"),
            answer["error_description"].as_str().unwrap_or("")
        )
        .trim()
        .to_string(),
        fix:
            "check [openlines] connector (letters, digits and _ only) and [bitrix24.app] daemon_url",
        transient: false,
    })
}

async fn activate(
    app: &AppClient,
    spec: &ConnectorSpec,
    line: &LineSpec,
) -> Result<(), SetupError> {
    const FIX: &str =
        "check that Open Line exists in Contact Center and the app's user may manage it";
    let id = Some(line.line);
    app.call(
        "imconnector.activate",
        json!({"CONNECTOR": spec.id, "LINE": line.line, "ACTIVE": 1}),
    )
    .await
    .map_err(|e| failed("imconnector.activate", id, e, FIX))?;
    // Always all four keys: some versions merge DATA, others replace it (doc §2.2).
    app.call(
        "imconnector.connector.data.set",
        json!({"CONNECTOR": spec.id, "LINE": line.line, "DATA": {
            "ID": format!("{}_line_{}", spec.id, line.line),
            "URL": line.url, "URL_IM": line.url, "NAME": line.name,
        }}),
    )
    .await
    .map_err(|e| failed("imconnector.connector.data.set", id, e, FIX))?;
    Ok(())
}

async fn bind_events(app: &AppClient, spec: &ConnectorSpec) -> Result<(), SetupError> {
    const FIX: &str =
        "the app must be authorised by a portal administrator (offline events are admin-only)";
    let available: Vec<String> = app
        .call("events", json!({}))
        .await
        .map(|v| event_names(&v))
        .unwrap_or_default();
    let bound = app
        .call("event.get", json!({}))
        .await
        .map_err(|e| failed("event.get", None, e, FIX))?;
    let already: Vec<String> = bound
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|b| b["connector_id"].as_str() == Some(spec.id.as_str()))
        .filter(|b| b["offline"].as_i64() == Some(1) || b["offline"].as_str() == Some("1"))
        .filter_map(|b| b["event"].as_str().map(str::to_uppercase))
        .collect();
    for (i, event) in EVENTS.iter().enumerate() {
        let upper = event.to_uppercase();
        let required = i == 0;
        let present = available.is_empty() || available.contains(&upper);
        if already.contains(&upper) {
            continue;
        }
        if !(required || present) {
            missing(event);
            continue;
        }
        let bind = app
            .call(
                "event.bind",
                json!({"event": event, "event_type": "offline", "auth_connector": spec.id}),
            )
            .await;
        match bind {
            Ok(_) => tracing::info!(
                portal_method = "event.bind",
                event,
                "Bound an offline event"
            ),
            // Bound meanwhile by another process: what we wanted.
            Err(e) if e.to_string().contains("already binded") => {}
            Err(e) if !required && e.code() == Some("ERROR_EVENT_NOT_FOUND") => missing(event),
            Err(e) => return Err(failed("event.bind", None, e, FIX)),
        }
    }
    Ok(())
}

/// Set once this process has said the portal lacks the finished-session event.
static FINISH_MISSING_SAID: AtomicBool = AtomicBool::new(false);

/// Logs an optional event the portal does not have (the finished-session one matters), once
/// per process: the setup runs again on every SIGHUP and connect, the box stays as old.
fn missing(event: &str) {
    if event == SESSION_FINISH && !FINISH_MISSING_SAID.swap(true, Ordering::Relaxed) {
        tracing::warn!(portal_method = "event.bind", event, "This portal has no OnImConnectorDialogFinish (an older box): a session an operator finishes does not close the Chat2Desk request; its transcript comes when Chat2Desk closes it");
    }
}

/// Switches the connector off on `line` (`imconnector.activate` with `ACTIVE = 0`, which
/// also drops the line's DATA, doc §2.2). True when the line had it on.
pub async fn deactivate(
    app: &AppClient,
    spec: &ConnectorSpec,
    line: i64,
) -> Result<bool, SetupError> {
    const FIX: &str =
        "switch the connector off by hand: Contact Center → the line → Chat2Desk → Отключить";
    let answer = app
        .call(
            "imconnector.activate",
            json!({"CONNECTOR": spec.id, "LINE": line, "ACTIVE": 0}),
        )
        .await
        .map_err(|e| failed("imconnector.activate", Some(line), e, FIX))?;
    Ok(answer == Value::Bool(true))
}

/// Upper-cased event names of an `events` answer (a list, or a map of names).
pub fn event_names(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_uppercase)
            .collect(),
        Value::Object(map) => map.keys().map(|k| k.to_uppercase()).collect(),
        _ => Vec::new(),
    }
}

async fn line_configured(
    app: &AppClient,
    spec: &ConnectorSpec,
    line: i64,
) -> Result<bool, SetupError> {
    const FIX: &str = "open Contact Center → the line → Chat2Desk and check the connector is on";
    for check in 0..spec.status_checks.max(1) {
        if check > 0 {
            tokio::time::sleep(spec.status_pause).await;
        }
        let status = app
            .call(
                "imconnector.status",
                json!({"CONNECTOR": spec.id, "LINE": line}),
            )
            .await
            .map_err(|e| failed("imconnector.status", Some(line), e, FIX))?;
        let yes = |k: &str| status[k] == Value::Bool(true) || status[k] == json!("Y");
        if yes("CONFIGURED") && yes("STATUS") {
            return Ok(true);
        }
    }
    Ok(false)
}
