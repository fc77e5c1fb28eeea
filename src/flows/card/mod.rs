//! The Chat2Desk tab in CRM cards (`bitrix24-apps.md` §9): the local application binds a
//! `CRM_<ENTITY>_DETAIL_TAB` placement per entity of `[card] entities` whose handler is
//! `<daemon_url>/bitrix24/card`; the portal opens it in the manager's browser with the
//! current user's token, and the tab shows the client's Chat2Desk conversations.
//!
//! Here: binding the tabs (at start and after each connection, idempotent); the handler (the portal's form checked, the
//! user's token verified and used to read the entity, so the portal's own CRM permissions
//! decide); the short-lived session the page's later requests carry (bound to the user and
//! the entity, with a CSRF token); the history from Chat2Desk and the poll's cursor; the
//! page with its send form; the send (a `card_send` job of the shared queue, attributed to
//! the user's Chat2Desk operator).

mod bind;
mod cursor;
mod history;
mod page;
mod route;
mod send;
mod send_job;
mod session;
mod tab;
mod writer;

pub use bind::{bind_hint, bind_tabs, handler_url, keep_bound, BindReport};
pub use cursor::{Cursor, OVERLAP};
pub use history::{History, HistoryMessage};
pub use route::{CardRoute, CardTab};
pub use send_job::{CardSend, CardSendJob, CardSendSteps, CARD_SEND};
pub use session::{SessionRefusal, Sessions, TabSession};
pub use tab::{open_tab, TabEntity, TabRefusal, TabUser};
pub use writer::{writer, AsOperator, Writer};
