//! chat2desk-b24: closed Chat2Desk requests become timeline transcripts in an on-premise
//! Bitrix24 portal, exactly once.
//!
//! The data path: intake (poll, webhook) → durable queue ([`store`]) → worker ([`sync`]) →
//! CRM routing ([`crm`]) → transcript ([`transcript`]) → portal ([`bitrix24`]).

pub mod bitrix24;
pub mod bizproc;
pub mod chat2desk;
pub mod cli;
pub mod config;
pub mod crm;
pub mod http;
pub mod intake;
pub mod localapp;
pub mod metrics;
pub mod openlines;
pub mod service;
pub mod sim;
pub mod store;
pub mod sync;
pub mod transcript;
