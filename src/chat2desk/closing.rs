//! Closing a client's request from our side (an Open Lines session finished on the portal):
//! `PUT /v1/requests/close {client_id}` (`chat2desk-api.md` §2 "Requests", one source: VX).
//!
//! The dialog's `PUT /dialogs/{id} {state: closed}` is the other documented way (four
//! sources), but it needs the dialog id and closes the whole conversation; the request close
//! names the client, which is what a line's chat id gives, and closes exactly the episode
//! whose transcript is due. Its answer body is undocumented: only success is read.

use super::client::Chat2Desk;
use super::error::Chat2DeskError;
use reqwest::Method;

impl Chat2Desk {
    /// `PUT /v1/requests/close {client_id}`: closes the client's current request. A write:
    /// not repeated when its fate is unknown (the caller looks at the request instead).
    pub async fn close_request(&self, client_id: i64) -> Result<(), Chat2DeskError> {
        let body = serde_json::json!({ "client_id": client_id });
        self.call(Method::PUT, "/requests/close", &[], Some(&body))
            .await?;
        Ok(())
    }
}
