//! Transcripts: a closed Chat2Desk request becomes a comment on the right CRM entity's
//! timeline, exactly once.
//!
//! - [`intake`]: the poller and the `/webhook/<secret>` route turn "request N closed" into one
//!   `enqueue(N)`;
//! - `filter`: `[crm.filter]`, whether a closed request is synced at all;
//! - `fields`: `[[crm.fields]]` and `[[crm.tag_rules]]`, the fields a new entity gets;
//! - `request`, `fetch`, `writes`, `progress`: the job (read the request's messages, route to
//!   the CRM entity, write the parts, each step saved);
//! - [`text`]: rendering the messages as BB-code, with the exactly-once marker.

mod fetch;
mod fields;
mod filter;
mod fitting;
pub mod intake;
mod progress;
mod request;
pub mod text;
mod writes;

pub use progress::Progress;
pub use request::{TranscriptJob, TranscriptRules};
