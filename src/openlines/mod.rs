//! The Open Lines bridge (`bitrix24-apps.md` §2–§3): Chat2Desk channels in Bitrix24 Open
//! Lines through a custom connector of the local application. Client messages go to a line
//! with `imconnector.send.messages`; operators' replies come back as offline events.
//!
//! This part holds what the flows share: the connector's setup on the portal, the reader of
//! the portal's offline events (operators' replies, finished sessions, disconnects), what the
//! daemon remembers about its lines, the payload of a client message, the operator's text as
//! a messenger shows it, and the bridge's rules.

mod connector;
mod disconnect;
mod event_data;
mod events;
mod finish;
mod line_state;
mod payload;
mod reply_text;
mod rules;
mod setup;

pub use connector::{
    ensure_connector, event_names, ConnectorSpec, LineSetup, LineSpec, SetupError, SESSION_FINISH,
};
pub use event_data::replies_of;
pub use events::{EventsReader, ReadError, ReadReport, BATCH_LIMIT, SWEEP_EVERY};
pub use finish::finishes_of;
pub use line_state::{disconnected, is_disconnected, reconnect, switched_off, Disconnect};
pub use payload::{chat_key, client_message, ClientSide};
pub use reply_text::{plain_text, Signature};
pub use rules::{LineRules, LiveLines};
pub use setup::{line_status, reconcile_lines, set_up_at_start, set_up_lines, NO_ANSWER};
