//! The bridge's connector setup from the configuration: what [`super::ensure_connector`]
//! registers (the settings page at `<daemon_url>/bitrix24/connector`) and what each line
//! shows about its Chat2Desk channels. Run at start and after the app is connected.

use super::connector::deactivate;
use super::line_state::{remember_set_up, remember_switched_off, set_up_lines as lines_set_up};
use super::{disconnected, switched_off};
use super::{ensure_connector, ConnectorSpec, LineRules, LineSetup, LineSpec, SetupError};
use crate::chat2desk::Chat2Desk;
use crate::portal::AppClient;
use crate::store::Store;
use std::collections::BTreeSet;
use std::time::Duration;

/// Sets the connector up on every line of `rules`; `daemon_url` is `[bitrix24.app]
/// daemon_url`, `web_url` the Chat2Desk web app. Channel names come from `GET /channels`
/// when it answers (the ids alone otherwise).
pub async fn set_up_lines(
    app: &AppClient,
    chat2desk: &Chat2Desk,
    rules: &LineRules,
    daemon_url: &str,
    web_url: &str,
) -> Result<Vec<LineSetup>, SetupError> {
    let channels = chat2desk.channels().await.unwrap_or_default();
    let spec = spec_of(rules, daemon_url);
    let lines: Vec<LineSpec> = rules
        .lines
        .iter()
        .map(|l| {
            let names: Vec<String> = l
                .channels
                .iter()
                .map(|id| {
                    channels
                        .iter()
                        .find(|c| c.id == *id)
                        .and_then(|c| c.name.clone().or(c.phone.clone()))
                        .map(|n| format!("{n} ({id})"))
                        .unwrap_or_else(|| format!("канал {id}"))
                })
                .collect();
            LineSpec {
                line: l.line,
                name: format!("Chat2Desk: {}", names.join(", ")),
                url: web_url.to_string(),
            }
        })
        .collect();
    let report = ensure_connector(app, &spec, &lines).await?;
    for line in &report {
        if line.configured {
            tracing::info!(line = line.line, connector = %spec.id, "Open Line connector active");
        } else {
            tracing::error!(line = line.line, connector = %spec.id, portal_method = "imconnector.status", "The Open Line is not configured for the connector: open Contact Center → the line → Chat2Desk and check it is connected, then run `chat2desk-b24 check`");
        }
    }
    Ok(report)
}

fn spec_of(rules: &LineRules, daemon_url: &str) -> ConnectorSpec {
    ConnectorSpec {
        id: rules.connector.clone(),
        placement_handler: format!("{}/bitrix24/connector", daemon_url.trim_end_matches('/')),
        status_checks: 5,
        status_pause: Duration::from_millis(400),
    }
}

/// At start, on SIGHUP and when the app is connected: switches the connector off on the
/// lines it was set up on that the config no longer names, then sets it up on the configured
/// lines an administrator has not disconnected on the portal (those stay off: not undone
/// behind the admin's back), and remembers which lines it is on. What the setup found.
pub async fn reconcile_lines(
    app: &AppClient,
    store: &Store,
    chat2desk: &Chat2Desk,
    rules: &LineRules,
    daemon_url: &str,
    web_url: &str,
) -> Result<Vec<LineSetup>, SetupError> {
    let store_failed = |e: crate::store::StoreError| SetupError {
        method: "state database",
        line: None,
        detail: e.to_string(),
        fix: "check [database] and that the state database is reachable",
        transient: true,
    };
    let configured: BTreeSet<i64> = rules.lines.iter().map(|l| l.line).collect();
    let off = disconnected(store).await.map_err(store_failed)?;
    let mut on = lines_set_up(store).await.map_err(store_failed)?;
    let mut off_now = switched_off(store).await.map_err(store_failed)?;
    let spec = spec_of(rules, daemon_url);
    for line in on.clone().difference(&configured) {
        let was_on = deactivate(app, &spec, *line).await?;
        tracing::info!(line, connector = %spec.id, portal_method = "imconnector.activate", was_on, "Switched the connector off on a line no longer in [[openlines.lines]]");
        on.remove(line);
        off_now.insert(*line);
        remember_switched_off(store, &off_now)
            .await
            .map_err(store_failed)?;
        remember_set_up(store, &on).await.map_err(store_failed)?;
    }
    let mut wanted = rules.clone();
    wanted.lines.retain(|l| !off.contains_key(&l.line));
    for line in configured.iter().filter(|l| off.contains_key(l)) {
        tracing::warn!(line, connector = %spec.id, "Not connecting a line an administrator disconnected on the portal; run `chat2desk-b24 openlines --reconnect {line}` and reload to connect it again");
    }
    let mut report = Vec::new();
    if !wanted.lines.is_empty() {
        report = set_up_lines(app, chat2desk, &wanted, daemon_url, web_url).await?;
    }
    let now_on: BTreeSet<i64> = wanted.lines.iter().map(|l| l.line).collect();
    remember_set_up(store, &now_on)
        .await
        .map_err(store_failed)?;
    if off_now.iter().any(|l| now_on.contains(l)) {
        off_now.retain(|l| !now_on.contains(l));
        remember_switched_off(store, &off_now)
            .await
            .map_err(store_failed)?;
    }
    Ok(report)
}

/// How [`line_status`] words a line whose `imconnector.status` call failed.
pub const NO_ANSWER: &str = "нет ответа портала";

/// Each line's connector status in words (`imconnector.status`), for the settings page and
/// `chat2desk-b24 openlines`.
pub async fn line_status(app: Option<&AppClient>, rules: &LineRules) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for l in &rules.lines {
        let words = match app {
            None => "приложение не настроено ([bitrix24.app])".to_string(),
            Some(app) => match app
                .call(
                    "imconnector.status",
                    serde_json::json!({"CONNECTOR": rules.connector, "LINE": l.line}),
                )
                .await
            {
                Ok(v) if v.get("STATUS") == Some(&serde_json::json!(true)) => "активна".into(),
                Ok(v) if v.get("CONFIGURED") == Some(&serde_json::json!(true)) => {
                    "настроена, но с ошибкой".into()
                }
                Ok(_) => "коннектор не подключён к линии".into(),
                Err(e) => format!("{NO_ANSWER}: {e}"),
            },
        };
        out.push((l.line, words));
    }
    out
}

/// At start and on SIGHUP: switches the connector off on lines taken out of the config and
/// sets it up on the others once the app is connected, trying again every minute while the
/// portal does not answer, until `shutdown`. Does nothing without a grant (the connection
/// page sets it up).
pub async fn set_up_at_start(
    services: std::sync::Arc<crate::engine::Services>,
    rules: LineRules,
    daemon_url: String,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let Some(app) = services.app.clone() else {
        return;
    };
    let was_on = lines_set_up(&services.store).await.unwrap_or_default();
    if !rules.enabled() && was_on.is_empty() {
        return;
    }
    loop {
        match services.store.grant().await {
            Ok(Some(g)) if g.revoked.is_none() => {}
            Ok(_) => {
                tracing::warn!("Open Lines are configured but the local application is not connected: a portal administrator must open <daemon_url>/bitrix24/connect");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "Cannot read the app grant; trying again"),
        }
        let web_url = services.directory.web_url().to_string();
        let store = &services.store;
        match reconcile_lines(
            &app,
            store,
            &services.chat2desk,
            &rules,
            &daemon_url,
            &web_url,
        )
        .await
        {
            Ok(_) => return,
            Err(e) if e.transient => {
                tracing::warn!(portal_method = e.method, line = e.line, error = %e, "Connector setup failed; trying again in a minute");
            }
            Err(e) => {
                tracing::error!(portal_method = e.method, line = e.line, error = %e, "Connector setup failed");
                return;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}
