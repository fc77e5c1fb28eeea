//! `check` lines about the Open Lines bridge's state on the portal: lines an administrator
//! disconnected (left off; how to connect them again), and whether finished sessions reach
//! the daemon (`OnImConnectorDialogFinish` bound; older boxes lack it).

use super::Line;
use crate::config::Config;
use crate::flows::openlines::{event_names, Disconnect, SESSION_FINISH};
use crate::portal::AppClient;
use serde_json::json;
use std::collections::BTreeMap;

/// A warning for configured line `line` when it was disconnected on the portal.
pub(super) fn disconnected(key: &str, line: i64, off: &BTreeMap<i64, Disconnect>) -> Option<Line> {
    let d = off.get(&line)?;
    Some(Line::warn(
        key,
        format!(
            "line {line} was disconnected on the portal ({}, {}): the daemon leaves it off and its clients' messages stay in Chat2Desk; to connect it again run `chat2desk-b24 openlines --reconnect {line}`, then `systemctl reload chat2desk-b24`",
            d.event,
            d.at.format("%Y-%m-%d %H:%M UTC")
        ),
    ))
}

/// Whether finished sessions close Chat2Desk requests: the offline event is bound for the
/// connector, or the portal has no such event (an older box), or it is not bound yet.
pub(super) async fn session_finish(client: &AppClient, config: &Config) -> Line {
    const KEY: &str = "openlines.connector";
    let connector = config.openlines.connector.trim();
    let bound = match client.call("event.get", json!({})).await {
        Ok(v) => v,
        Err(e) => return Line::fail(KEY, format!("event.get failed: {e}")),
    };
    let is_bound = bound.as_array().is_some_and(|all| {
        all.iter().any(|b| {
            b["connector_id"].as_str() == Some(connector)
                && b["event"]
                    .as_str()
                    .is_some_and(|e| e.eq_ignore_ascii_case(SESSION_FINISH))
        })
    });
    if is_bound {
        return Line::ok(
            KEY,
            "a session an operator finishes closes the Chat2Desk request (OnImConnectorDialogFinish bound)",
        );
    }
    let known = client.call("events", json!({})).await.map(|v| {
        event_names(&v)
            .iter()
            .any(|n| n.eq_ignore_ascii_case(SESSION_FINISH))
    });
    match known {
        Ok(false) => Line::warn(
            KEY,
            "this portal has no OnImConnectorDialogFinish (an older box): a session an operator finishes does not close the Chat2Desk request; its transcript comes when Chat2Desk closes it (set the auto-close timer there)",
        ),
        _ => Line::warn(
            KEY,
            "OnImConnectorDialogFinish is not bound yet: start or reload the daemon (it binds it)",
        ),
    }
}
