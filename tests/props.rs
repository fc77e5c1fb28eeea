//! Hostile input: whatever bytes, JSON or TOML arrive, the decoders return a value or an
//! error and never panic; whatever a client writes, a transcript comment keeps our markup
//! and our marker, and the client's text can forge neither a tag, a link nor a mention.

#[path = "props/decoders.rs"]
mod decoders;
#[path = "props/portal.rs"]
mod portal;
#[path = "props/routes.rs"]
mod routes;
#[path = "props/transcript.rs"]
mod transcript;
