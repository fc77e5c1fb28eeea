//! Rendering a closed request's messages as Bitrix24 timeline comment text (BB-code), pure.
//!
//! [`render`] turns a [`TranscriptInput`] into one or more comment texts, each ending with an
//! exactly-once [`marker`] that [`find_marker`] reads back. Untrusted text goes through
//! [`crate::portal::escape`] and URLs through [`crate::portal::sanitize_url`], so nothing a
//! client or operator writes can produce markup, a link or a mention of its own.

mod marker;
mod model;
mod render;
mod split;

pub use marker::{find_marker, marker, Marker};
pub use model::{Author, FileKind, FileLink, Line, TranscriptInput};
pub use render::render;
