//! Rendering a closed request's messages as Bitrix24 timeline comment text (BB-code), pure.
//!
//! [`render`] turns a [`TranscriptInput`] into one or more comment texts, each ending with an
//! exactly-once [`marker`] that [`find_marker`] reads back. Untrusted text goes through
//! [`escape`] and URLs through [`sanitize_url`], so nothing a client or operator writes can
//! produce markup, a link or a mention of its own.

mod escape;
mod marker;
mod model;
mod render;
mod split;

pub(crate) use escape::escape_inline;
pub use escape::{escape, sanitize_url};
pub use marker::{find_marker, marker, Marker};
pub use model::{Author, FileKind, FileLink, Line, TranscriptInput};
pub use render::{render, MIN_MAX_BYTES};
