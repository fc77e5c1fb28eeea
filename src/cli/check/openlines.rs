//! `[bitrix24.app]` and `[openlines]`: the application's grant is there and valid, its user
//! an administrator with the scopes the bridge needs, finished sessions reaching the daemon,
//! the connector active on each line (a line disconnected on the portal is a warning), and
//! each channel known to Chat2Desk.

use super::Line;
use crate::chat2desk::{Chat2Desk, Chat2DeskOptions};
use crate::config::Config;
use crate::portal::{Bitrix24, Bitrix24Options};
use serde_json::json;
use std::time::Duration;

/// Scopes the bridge calls need (`imconnector.*` and the offline events live in these).
const NEEDED_SCOPES: [&str; 3] = ["imconnector", "imopenlines", "im"];

/// The lines of the app and Open Lines checks; none without `[bitrix24.app]`.
pub(super) async fn check(config: &Config) -> Vec<Line> {
    let Some(app) = &config.bitrix24.app else {
        return Vec::new();
    };
    let connect = format!(
        "a portal administrator must open {}/bitrix24/connect",
        app.daemon_url.trim_end_matches('/')
    );
    let store = match crate::app::open_store(config).await {
        Ok(store) => store,
        Err(_) => {
            return vec![Line::skip(
                "bitrix24.app",
                "the state database cannot be opened",
            )]
        }
    };
    let grant = match store.grant().await {
        Ok(Some(g)) => g,
        Ok(None) => {
            return vec![Line::fail(
                "bitrix24.app",
                format!("the local application is not connected: {connect}"),
            )]
        }
        Err(e) => return vec![Line::fail("bitrix24.app", format!("state database: {e}"))],
    };
    if let Some((at, why)) = &grant.revoked {
        return vec![Line::fail(
            "bitrix24.app",
            format!(
                "the grant was revoked ({why}, noticed {}): {connect} again",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
        )];
    }
    let (portal, chat2desk) = match (
        Bitrix24::new(Bitrix24Options::from_config(&config.bitrix24)),
        Chat2Desk::new(Chat2DeskOptions::from_config(&config.chat2desk)),
    ) {
        (Ok(p), Ok(c)) => (p, c),
        _ => return vec![Line::skip("bitrix24.app", "the clients cannot be built")],
    };
    let client = match crate::portal::local_app::app_client(
        app,
        &store,
        &portal,
        Duration::from_secs(config.bitrix24.timeout_secs),
    ) {
        Ok(c) => c,
        Err(e) => return vec![Line::fail("bitrix24.app", e.to_string())],
    };
    let mut lines = Vec::new();
    match client.call("profile", json!({})).await {
        Ok(p) if p.get("ADMIN") == Some(&json!(true)) => lines.push(Line::ok(
            "bitrix24.app",
            format!(
                "connected by {} (user {}), access token valid",
                grant.user_name, grant.user_id
            ),
        )),
        Ok(_) => lines.push(Line::fail(
            "bitrix24.app",
            format!(
                "{} (user {}) is not an administrator any more; offline events need one: {connect}",
                grant.user_name, grant.user_id
            ),
        )),
        Err(e) => {
            lines.push(Line::fail(
                "bitrix24.app",
                format!("the portal refused the application's token ({e}): {connect} again"),
            ));
            return lines;
        }
    }
    let missing: Vec<&str> = NEEDED_SCOPES
        .iter()
        .copied()
        .filter(|s| !grant.scopes.is_empty() && !grant.scopes.iter().any(|g| g == s))
        .collect();
    if missing.is_empty() {
        lines.push(Line::ok(
            "bitrix24.app",
            format!("scopes {}", grant.scopes.join(", ")),
        ));
    } else {
        lines.push(Line::fail(
            "bitrix24.app",
            format!(
                "the application lacks the scopes {}: tick them in the local application's form, save, and {connect} again",
                missing.join(", ")
            ),
        ));
    }
    lines.extend(super::card::check(config, &client, &grant.scopes, &connect).await);
    let o = &config.openlines;
    let channels = chat2desk.channels().await.ok();
    let off = crate::flows::openlines::disconnected(&store)
        .await
        .unwrap_or_default();
    if !o.lines.is_empty() {
        lines.push(super::openlines_state::session_finish(&client, config).await);
    }
    for (i, l) in o.lines.iter().enumerate() {
        let key = format!("openlines.lines[{i}]");
        if let Some(warning) =
            super::openlines_state::disconnected(&format!("{key}.line"), l.line, &off)
        {
            lines.push(warning);
        } else {
            match client
            .call("imconnector.status", json!({"CONNECTOR": o.connector, "LINE": l.line}))
            .await
        {
            Ok(s) if s.get("STATUS") == Some(&json!(true)) => lines.push(Line::ok(
                format!("{key}.line"),
                format!("line {} is active with connector {}", l.line, o.connector),
            )),
            Ok(_) => lines.push(Line::fail(
                format!("{key}.line"),
                format!(
                    "connector {} is not active on line {}: start the daemon (it sets the connector up) or {connect}; check the line exists in Contact Center",
                    o.connector, l.line
                ),
            )),
            Err(e) => lines.push(Line::fail(
                format!("{key}.line"),
                format!("imconnector.status of line {} failed: {e}", l.line),
            )),
        }
        }
        if let Some(known) = &channels {
            for c in &l.channels {
                if !known.iter().any(|k| k.id == *c) {
                    lines.push(Line::fail(
                        format!("{key}.channels"),
                        format!("Chat2Desk has no channel {c} (GET /v1/channels); use an id from Settings → Channels"),
                    ));
                }
            }
        }
    }
    lines
}
