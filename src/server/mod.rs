//! The one HTTP server behind the customer's reverse proxy: the listeners (`[server] listen`,
//! and `metrics_listen` for `/healthz` and `/metrics` when set), connection and body limits,
//! the client's address behind trusted proxies, the plain answers, and the [`Router`] on which
//! each flow mounts its routes (the Chat2Desk webhook, the business-process action, the local
//! application's pages, the re-hosted files); [`Observability`] adds `/healthz` and `/metrics`.
//! Nothing here logs a request path or query: they may carry a secret.
//!
//! May import config, store, metrics and engine; never a flow or the app.

mod answer;
mod error;
mod listen;
mod observe;
mod router;
mod settings;

pub use answer::{
    client_ip, escape_html, form_pairs, not_allowed, not_found, ok, read_body, text, Answer, Reply,
    FORM_LIMIT,
};
pub use error::ServerError;
pub use listen::{WebhookServer, MAX_CONNECTIONS};
pub use observe::Observability;
pub use router::{Caller, Listener, Path, Route, Router};
pub use settings::ServerSettings;
