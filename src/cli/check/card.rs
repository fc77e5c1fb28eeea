//! `[card]`: the grant has the `placement` and `crm` scopes, and each entity's card tab is
//! bound to this daemon's handler (`placement.get`).

use super::Line;
use crate::config::{CardConfig, Config};
use crate::portal::AppClient;
use serde_json::{json, Value};

/// The lines of the card check; none without `[card]`. `connect` says how to connect again.
pub(super) async fn check(
    config: &Config,
    client: &AppClient,
    scopes: &[String],
    connect: &str,
) -> Vec<Line> {
    let (Some(card), Some(app)) = (&config.card, &config.bitrix24.app) else {
        return Vec::new();
    };
    let missing: Vec<&str> = ["placement", "crm"]
        .into_iter()
        .filter(|s| !scopes.iter().any(|g| g == s))
        .collect();
    if !missing.is_empty() {
        return vec![Line::fail(
            "card",
            format!(
                "the application lacks the scopes {}: add them in the local application's form on the portal, save, and {connect} again",
                missing.join(", ")
            ),
        )];
    }
    let handler = crate::flows::card::handler_url(&app.daemon_url);
    let bound: Vec<String> = match client.call("placement.get", json!({})).await {
        Ok(Value::Array(rows)) => rows
            .iter()
            .filter(|r| r.get("handler").and_then(Value::as_str) == Some(handler.as_str()))
            .filter_map(|r| {
                r.get("placement")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect(),
        Ok(_) => Vec::new(),
        Err(e) => {
            let hint = crate::flows::card::bind_hint(&e);
            return vec![Line::fail(
                "card",
                format!("placement.get failed ({e}): {hint}"),
            )];
        }
    };
    card.entities
        .iter()
        .enumerate()
        .map(|(i, entity)| {
            let placement = CardConfig::placement_of(entity);
            let key = format!("card.entities[{i}]");
            if bound.contains(&placement) {
                Line::ok(key, format!("{placement} is bound to {handler}"))
            } else {
                Line::fail(
                    key,
                    format!("{placement} is not bound: start the daemon (it binds the tabs once connected) or {connect} again"),
                )
            }
        })
        .collect()
}
