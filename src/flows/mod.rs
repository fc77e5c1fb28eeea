//! The flows, each a folder with its intake, its jobs and its routes. A flow imports the
//! floors below (config, http, store, metrics, chat2desk, portal, engine, server), never another
//! flow: what two flows share lives in [`crate::engine`] or [`crate::portal`].

pub mod bizproc;
pub mod card;
pub mod escalation;
pub mod openlines;
pub mod transcript;
