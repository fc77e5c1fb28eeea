//! The Open Lines bridge (`bitrix24-apps.md` §2–§3): Chat2Desk channels in Bitrix24 Open
//! Lines through a custom connector of the local application. Client messages go to a line
//! with `imconnector.send.messages`; operators' replies come back as offline events.
//!
//! Here: the connector's setup on the portal and the local application's connect pages
//! (`/bitrix24/*`); the inbox of client messages and the `line_in` job; the reader of the
//! portal's offline events (operators' replies, finished sessions, disconnects) and the
//! `line_out` and `line_close` jobs; operators' files re-hosted at `/files/`; what the daemon
//! remembers about its lines; the bridge's rules.

mod connect;
mod connector;
mod disconnect;
mod event_data;
mod events;
mod files;
mod finish;
mod inbox;
mod jobs;
mod line_close;
mod line_files;
mod line_in;
mod line_job;
mod line_look;
mod line_notice;
mod line_out;
mod line_state;
pub mod page;
mod pages;
mod payload;
mod queued;
mod reply_text;
mod rules;
mod setup;

pub use connect::{
    authorize_url, finish_code, finish_form, random_token, ConnectCtx, Connected, Refusal,
    MAX_STATES, STATE_COOKIE,
};
pub use connector::{
    ensure_connector, event_names, ConnectorSpec, LineSetup, LineSpec, SetupError, SESSION_FINISH,
};
pub use event_data::replies_of;
pub use events::{EventsReader, ReadError, ReadReport, BATCH_LIMIT, SWEEP_EVERY};
pub use files::FileHost;
pub use finish::finishes_of;
pub use inbox::LineInbox;
pub use jobs::{LineCloseJob, LineInJob, LineOutJob};
pub use line_close::{enqueue_session_finish, SessionFinish, LINE_CLOSE};
pub use line_files::HOSTED_FILE_TTL;
pub use line_in::{enqueue_client_message, line_chain, ClientLineMessage, LINE_IN};
pub use line_out::{enqueue_operator_replies, OperatorReply, PortalFile, LINE_OUT};
pub use line_state::{disconnected, is_disconnected, reconnect, switched_off, Disconnect};
pub use pages::AppPages;
pub use payload::{chat_key, client_message, ClientSide};
pub use reply_text::{plain_text, Signature};
pub use rules::{LineRules, LiveLines};
pub use setup::{line_status, reconcile_lines, set_up_at_start, set_up_lines, NO_ANSWER};
