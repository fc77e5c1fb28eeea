//! An administrator's disconnect on the portal (doc §3.1): `OnImConnectorStatusDelete`
//! (`{connector, line}`, lower-case: the connector was switched off on a line) and
//! `OnImConnectorLineDelete` (the line id: the line itself was deleted). The line is marked
//! disconnected, its client messages stop going to it, and the daemon does not connect it
//! again by itself (`chat2desk-b24 openlines --reconnect <line>` does).

use super::event_data::{int, text};
use super::line_state::mark_disconnected;
use crate::store::{Store, StoreError};
use serde_json::Value;

/// The event of a connector switched off on a line.
pub const STATUS_DELETE: &str = "ONIMCONNECTORSTATUSDELETE";
/// The event of a deleted line.
pub const LINE_DELETE: &str = "ONIMCONNECTORLINEDELETE";

/// Marks the line of a disconnect event `name` with `data` as disconnected, when it concerns
/// `connector` (a status event of another connector does not).
pub async fn note_disconnect(
    store: &Store,
    connector: &str,
    name: &str,
    data: &Value,
) -> Result<(), StoreError> {
    let (line, event) = if name == STATUS_DELETE {
        let theirs = text(&data["connector"])
            .or_else(|| text(&data["CONNECTOR"]))
            .is_some_and(|c| !c.eq_ignore_ascii_case(connector));
        if theirs {
            return Ok(());
        }
        (
            int(&data["line"]).or_else(|| int(&data["LINE"])),
            "OnImConnectorStatusDelete",
        )
    } else {
        // The line id, bare or (form-encoded) in a one-element list or map.
        let line = int(data).or_else(|| super::event_data::elements(data).first().and_then(int));
        (line, "OnImConnectorLineDelete")
    };
    let Some(line) = line else {
        tracing::warn!(event, "A disconnect event names no line; clearing it");
        return Ok(());
    };
    if mark_disconnected(store, line, event).await? {
        tracing::warn!(
            line,
            connector,
            event,
            "The Open Line was disconnected on the portal: its clients' messages no longer go to it, and the daemon does not connect it again; to connect it again run `chat2desk-b24 openlines --reconnect {line}` and reload (systemctl reload chat2desk-b24)"
        );
    }
    Ok(())
}
