//! chat2desk-b24: closed Chat2Desk requests become timeline transcripts in an on-premise
//! Bitrix24 portal, exactly once; business processes send messages through Chat2Desk; Chat2Desk
//! channels are bridged into Open Lines.
//!
//! # The map
//! Each folder is a floor; a folder imports only the floors below it (`tests/architecture.rs`
//! checks it and prints the graph). From the bottom up, the way data flows:
//!
//! - [`config`]: the typed, validated configuration; imports nothing of ours.
//! - [`http`]: retry delays and the request budget both clients use.
//! - [`store`]: the durable queue and state (SQLite or MySQL); the only place that writes SQL.
//! - [`metrics`]: the process-wide counters and the `/metrics` page, from plain handles.
//! - [`chat2desk`]: the Chat2Desk API client, its directory cache and call budget.
//! - [`portal`]: the Bitrix24 clients (inbound webhook, local application, OAuth), batching,
//!   BB-code escaping, and the CRM lookups every flow shares.
//! - [`engine`]: the worker (claims, leases, retries, dead jobs), single flight, the
//!   exactly-once Chat2Desk send, the leader loop, the health probe, the intake seams.
//! - [`server`]: the one HTTP server (listeners, limits, client addresses, answers) and the
//!   router on which each flow mounts its routes.
//! - [`flows`]: the flows, each a folder with its intake, its jobs and its routes; none
//!   imports another:
//!   [`flows::transcript`] (poll and webhook → transcript on the CRM timeline),
//!   [`flows::bizproc`] (the business-process action → a Chat2Desk message),
//!   [`flows::openlines`] (Chat2Desk channels ↔ Open Lines),
//!   [`flows::card`] (the Chat2Desk tab in CRM cards: history and sending),
//!   [`flows::escalation`] (a client left waiting → a notice to the responsible).
//! - [`app`]: the daemon: wiring, `Daemon::spawn` (the one way it starts), the live rules
//!   every reader borrows (SIGHUP swaps them), the job kinds, systemd notify and watchdog,
//!   logging, signals.
//! - [`cli`]: the command line, one thin function per subcommand.
//!
//! [`sim`] holds the loopback simulators of both remote services (tests, benches, `demo`);
//! the floors do not apply to it.
//!
//! A closed request travels: Chat2Desk → `flows::transcript` intake (poll, or the webhook route
//! on [`server`]) → [`store`] queue → [`engine`] worker → `flows::transcript` job → [`portal`].

pub mod app;
pub mod chat2desk;
pub mod cli;
pub mod config;
pub mod engine;
pub mod flows;
pub mod http;
pub mod metrics;
pub mod portal;
pub mod server;
pub mod sim;
pub mod store;
