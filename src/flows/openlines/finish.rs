//! `OnImConnectorDialogFinish` (doc §3.1, newer boxes): an operator finished the session of
//! a chat. `data` is `{CONNECTOR, LINE, DATA:[{connector{…}, session{id, closed, …},
//! chat{id}, user{id}}]}`; each element with `session.closed = Y` becomes a `line_close`
//! job, which closes the client's Chat2Desk request so its transcript is written now.

use super::event_data::{elements, int, text};
use super::SessionFinish;
use serde_json::Value;

/// The event a finished session raises (upper-case, as the portal stores names).
pub const DIALOG_FINISH: &str = "ONIMCONNECTORDIALOGFINISH";

/// The finished sessions of one `OnImConnectorDialogFinish` event: one per `DATA` element
/// with a chat id, a session id and `session.closed = Y`. The line is the event's `LINE`,
/// else the element's `connector.line_id`.
pub fn finishes_of(event: &Value, process_id: &str) -> Vec<SessionFinish> {
    let data = &event["EVENT_DATA"];
    let event_message_id = text(&event["MESSAGE_ID"]).unwrap_or_default();
    let raised_at = text(&event["TIMESTAMP_X"]);
    elements(&data["DATA"])
        .iter()
        .filter_map(|d| {
            let line = int(&data["LINE"]).or_else(|| int(&d["connector"]["line_id"]))?;
            let session = &d["session"];
            let closed = text(&session["closed"]).is_some_and(|c| c.eq_ignore_ascii_case("Y"))
                || session["closed"] == Value::Bool(true);
            if !closed {
                return None;
            }
            Some(SessionFinish {
                line,
                chat_id: text(&d["chat"]["id"]).or_else(|| text(&d["connector"]["chat_id"]))?,
                session_id: text(&session["id"])?,
                event_message_id: event_message_id.clone(),
                process_id: process_id.to_string(),
                raised_at: raised_at.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_finish_event_names_the_line_chat_and_session() {
        let event = json!({
            "ID": "7", "TIMESTAMP_X": "2026-11-25T12:00:01+03:00",
            "EVENT_NAME": DIALOG_FINISH, "MESSAGE_ID": "ab12",
            "EVENT_DATA": {"CONNECTOR": "c2d", "LINE": "3", "DATA": [
                {"connector": {"connector_id": "c2d", "line_id": "3", "chat_id": "c2d-5512",
                               "user_id": "c2d-5512"},
                 "session": {"id": "323", "closed": "Y", "parent_id": "0", "close_term": "1440"},
                 "chat": {"id": "c2d-5512"}, "user": {"id": "585"}},
                {"connector": {"line_id": "3"}, "session": {"id": "324", "closed": "N"},
                 "chat": {"id": "c2d-77"}},
            ]},
        });
        let finishes = finishes_of(&event, "p1");
        assert_eq!(
            finishes,
            [SessionFinish {
                line: 3,
                chat_id: "c2d-5512".into(),
                session_id: "323".into(),
                event_message_id: "ab12".into(),
                process_id: "p1".into(),
                raised_at: Some("2026-11-25T12:00:01+03:00".into()),
            }]
        );
    }
}
