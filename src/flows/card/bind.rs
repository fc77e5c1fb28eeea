//! Binding the card tabs (`placement.get`, `placement.unbind`, `placement.bind`, §9.1):
//! one binding per entity of `[card] entities` with our handler, none left on a removed
//! entity, nothing touched that another handler bound.

use crate::config::CardConfig;
use crate::engine::Services;
use crate::portal::{AppClient, BitrixError};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The tab's handler: `<daemon_url>/bitrix24/card`.
pub fn handler_url(daemon_url: &str) -> String {
    format!("{}/bitrix24/card", daemon_url.trim().trim_end_matches('/'))
}

/// What a binding round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindReport {
    /// Placements bound by this round.
    pub bound: Vec<String>,
    /// Placements that were bound already.
    pub kept: Vec<String>,
    /// Placements unbound (their entity left `[card] entities`).
    pub unbound: Vec<String>,
}

/// Makes the portal's bindings of our handler exactly `card`'s placements.
pub async fn bind_tabs(
    app: &AppClient,
    card: &CardConfig,
    daemon_url: &str,
) -> Result<BindReport, BitrixError> {
    let handler = handler_url(daemon_url);
    let existing = app.call("placement.get", json!({})).await?;
    let ours: Vec<String> = match &existing {
        Value::Array(rows) => rows
            .iter()
            .filter(|r| r.get("handler").and_then(Value::as_str) == Some(handler.as_str()))
            .filter_map(|r| r.get("placement").and_then(Value::as_str))
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let wanted = card.placements();
    let mut report = BindReport::default();
    for placement in ours.iter().filter(|p| !wanted.contains(p)) {
        let params = json!({"PLACEMENT": placement, "HANDLER": handler});
        app.call("placement.unbind", params).await?;
        report.unbound.push(placement.clone());
    }
    for placement in wanted {
        if ours.contains(&placement) {
            report.kept.push(placement);
            continue;
        }
        let params =
            json!({"PLACEMENT": placement, "HANDLER": handler, "TITLE": card.title.trim()});
        match app.call("placement.bind", params).await {
            Ok(_) => report.bound.push(placement),
            // The same app, placement and handler twice (a lost answer): already done.
            Err(e) if e.code() == Some("ERROR_CORE") => report.kept.push(placement),
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// How often the grant is looked at for a new connection.
const GRANT_CHECK: Duration = Duration::from_secs(5);
/// The pause after a portal that did not answer.
const RETRY: Duration = Duration::from_secs(60);

/// Keeps the tabs bound until `shutdown`: at start and after every new connection of the
/// local application (a new grant), trying again every minute while the portal does not
/// answer. Waits while the app is not connected.
pub async fn keep_bound(
    services: Arc<Services>,
    card: CardConfig,
    daemon_url: String,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let Some(app) = services.app.clone() else {
        return;
    };
    let mut done_for = None;
    loop {
        let mut pause = GRANT_CHECK;
        match services.store.grant().await {
            Ok(Some(g)) if g.revoked.is_none() && done_for != Some(g.authorized_at) => {
                match bind_tabs(&app, &card, &daemon_url).await {
                    Ok(report) => {
                        tracing::info!(bound = ?report.bound, kept = ?report.kept, unbound = ?report.unbound, "CRM card tabs bound");
                        done_for = Some(g.authorized_at);
                    }
                    Err(e) if e.is_transient() => {
                        tracing::warn!(portal_method = e.method(), error = %e, "Binding the CRM card tabs failed; trying again in a minute");
                        pause = RETRY;
                    }
                    Err(e) => {
                        tracing::error!(portal_method = e.method(), error = %e, hint = bind_hint(&e), "Binding the CRM card tabs failed");
                        done_for = Some(g.authorized_at);
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Cannot read the app grant; trying again"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// What the administrator does about a refused binding.
pub fn bind_hint(e: &BitrixError) -> &'static str {
    match e.code() {
        Some("insufficient_scope") | Some("ERROR_PLACEMENT_NOT_FOUND") => {
            "add the `placement` and `crm` scopes in the local application's form on the portal, then open <daemon_url>/bitrix24/connect again"
        }
        Some("ACCESS_DENIED") => {
            "the application was connected by a user who is not a portal administrator: connect it again as an administrator"
        }
        Some("ERROR_WRONG_HANDLER_URL") => {
            "the portal needs a host name with a dot in [bitrix24.app] daemon_url (not localhost)"
        }
        _ => e.hint(),
    }
}
