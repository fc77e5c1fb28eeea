//! The portal: reachable, the webhook works and has its scopes, the CRM source and pipeline
//! exist, every configured user exists and is active.

use super::progress::Step;
use super::reach::{after_connect, host_port, probe, proxy_var};
use super::{Line, ANSWER_TIMEOUT};
use crate::config::{Config, Integration, Notify};
use crate::portal::{Bitrix24, Bitrix24Options, BitrixError, ErrorKind};
use std::collections::BTreeSet;
use url::Url;

/// Scopes the inbound webhook needs: CRM entities and comments, users, notifications.
const REQUIRED_SCOPES: [&str; 3] = ["crm", "user", "im"];
const KEY: &str = "bitrix24.webhook_url";

/// The portal lines, in order.
pub(super) async fn check(config: &Config, step: &Step) -> Vec<Line> {
    let mut lines = Vec::new();
    // Validated at load; the path is the secret, so only host:port is ever shown.
    let Ok(url) = Url::parse(config.bitrix24.webhook_url.expose().trim()) else {
        lines.push(Line::fail(
            KEY,
            "not a URL; paste the inbound webhook URL again",
        ));
        return skip_rest(config, lines, "bitrix24.webhook_url is not a URL");
    };
    let at = host_port(&url);
    let via = match proxy_var(&url) {
        Some(var) => format!(" through the proxy in {var}"),
        None => {
            step.show(format!("{KEY}: connecting to {at}"));
            if let Err(why) = probe(KEY, &url).await {
                lines.push(Line::fail(KEY, why));
                return skip_rest(config, lines, "the portal cannot be reached");
            }
            String::new()
        }
    };
    let mut opts = Bitrix24Options::from_config(&config.bitrix24);
    opts.max_retries = 0;
    opts.timeout = opts.timeout.min(ANSWER_TIMEOUT);
    let portal = match Bitrix24::new(opts) {
        Ok(p) => p,
        Err(e) => {
            lines.push(Line::fail(KEY, format!("{e}; {}", e.hint())));
            return skip_rest(config, lines, "no client");
        }
    };
    step.show(format!("{KEY}: profile"));
    match portal.profile().await {
        Ok(p) => lines.push(Line::ok(
            KEY,
            format!(
                "{at} answers{via}; the webhook works (profile: user {})",
                p.id
            ),
        )),
        Err(BitrixError::Transport { detail, .. }) => {
            let fix = "set bitrix24.ca_file to the portal's CA certificate (PEM), or fix the \
                       certificate's host name";
            lines.push(Line::fail(KEY, after_connect(KEY, &url, &detail, fix)));
            return skip_rest(config, lines, "the portal cannot be reached");
        }
        Err(e) => {
            lines.push(Line::fail(
                KEY,
                format!("profile failed: {e}; {}", hint(&e)),
            ));
            return skip_rest(config, lines, "the webhook does not work");
        }
    }
    step.show(format!("{KEY}: scope"));
    let granted = match portal.scopes().await {
        Ok(scopes) => scopes.into_iter().collect::<BTreeSet<String>>(),
        Err(e) => {
            lines.push(Line::fail(KEY, format!("scope failed: {e}; {}", hint(&e))));
            return skip_rest(config, lines, "the webhook's scopes are unknown");
        }
    };
    let has = |s: &str| granted.contains(s) || (s == "user" && granted.contains("user_basic"));
    let mut required = REQUIRED_SCOPES.to_vec();
    if !config.bizproc.secret.is_empty() {
        // bizproc.event.send completes the business-process action.
        required.push("bizproc");
    }
    let missing: Vec<&str> = required.iter().copied().filter(|s| !has(s)).collect();
    if missing.is_empty() {
        lines.push(Line::ok(
            KEY,
            format!("scopes {} granted (scope)", required.join(", ")),
        ));
    } else {
        lines.push(Line::fail(
            KEY,
            format!(
                "the inbound webhook lacks the scope(s) {} (scope); edit it in Bitrix24 \
                 (Developer resources → Inbound webhook) and tick them",
                missing.join(", ")
            ),
        ));
    }
    if has("crm") {
        step.show("crm.source: crm.status.list");
        lines.push(source(config, &portal).await);
        if config.crm.integration == Integration::ContactDeal {
            lines.push(category(config, &portal).await);
        }
        super::fields::check(config, &portal, step, &mut lines).await;
    } else {
        lines.push(Line::skip("crm.source", "the webhook lacks the crm scope"));
    }
    if has("user") {
        step.show("crm users: user.get");
        users(config, &portal, &mut lines).await;
    } else {
        for key in user_keys(config).map(|(k, _)| k) {
            lines.push(Line::skip(key, "the webhook lacks the user scope"));
        }
    }
    lines
}

async fn source(config: &Config, portal: &Bitrix24) -> Line {
    let wanted = &config.crm.source;
    match portal.statuses("SOURCE").await {
        Ok(sources) if sources.iter().any(|s| &s.status_id == wanted) => Line::ok(
            "crm.source",
            format!("{wanted:?} exists (crm.status.list SOURCE)"),
        ),
        Ok(sources) => {
            let known: Vec<&str> = sources.iter().map(|s| s.status_id.as_str()).collect();
            Line::fail(
                "crm.source",
                format!(
                    "{wanted:?} is not a SOURCE status on the portal (crm.status.list); use one \
                     of: {}, or add it in CRM → Settings → Directories",
                    known.join(", ")
                ),
            )
        }
        Err(e) => Line::fail(
            "crm.source",
            format!("crm.status.list failed: {e}; {}", hint(&e)),
        ),
    }
}

async fn category(config: &Config, portal: &Bitrix24) -> Line {
    let category = config.crm.deal_category;
    let entity = if category == 0 {
        "DEAL_STAGE".to_string()
    } else {
        format!("DEAL_STAGE_{category}")
    };
    match portal.statuses(&entity).await {
        Ok(stages) if !stages.is_empty() => Line::ok(
            "crm.deal_category",
            format!("pipeline {category} has {} stages", stages.len()),
        ),
        Ok(_) => Line::fail(
            "crm.deal_category",
            format!(
                "pipeline {category} has no stages ({entity}); use an existing deal pipeline id \
                 (0 = the default one)"
            ),
        ),
        Err(e) => Line::fail(
            "crm.deal_category",
            format!("crm.status.list failed: {e}; {}", hint(&e)),
        ),
    }
}

/// Every configured portal user id with its key.
fn user_keys(config: &Config) -> impl Iterator<Item = (String, i64)> + '_ {
    let defaults = config
        .crm
        .default_responsibles
        .iter()
        .enumerate()
        .map(|(i, id)| (format!("crm.default_responsibles[{i}]"), *id));
    let mapped = config
        .crm
        .operators
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("crm.operators[{i}].bitrix24"), m.bitrix24));
    let notified = match config.escalation.as_ref().map(|e| &e.notify) {
        Some(Notify::Users(ids)) => ids.clone(),
        _ => Vec::new(),
    };
    let notified = notified
        .into_iter()
        .enumerate()
        .map(|(i, id)| (format!("escalation.notify[{i}]"), id));
    defaults.chain(mapped).chain(notified)
}

async fn users(config: &Config, portal: &Bitrix24, lines: &mut Vec<Line>) {
    for (key, id) in user_keys(config) {
        let line = match portal.user(id).await {
            Ok(Some(user)) if user.active => {
                Line::ok(&key, format!("user {id} exists and is active (user.get)"))
            }
            Ok(Some(_)) => Line::fail(
                &key,
                format!("user {id} is deactivated in Bitrix24 (user.get); use an active user id"),
            ),
            Ok(None) => Line::fail(
                &key,
                format!("user {id} not found in Bitrix24 (user.get); use an active user id"),
            ),
            Err(e) => Line::fail(&key, format!("user.get failed: {e}; {}", hint(&e))),
        };
        lines.push(line);
    }
}

/// The checks that need a working webhook, marked not checked.
fn skip_rest(config: &Config, mut lines: Vec<Line>, why: &str) -> Vec<Line> {
    lines.push(Line::skip("crm.source", why));
    if config.crm.integration == Integration::ContactDeal {
        lines.push(Line::skip("crm.deal_category", why));
    }
    for (key, _) in user_keys(config) {
        lines.push(Line::skip(key, why));
    }
    lines
}

/// What to do, in `check`'s terms: it retries nothing.
fn hint(e: &BitrixError) -> &'static str {
    match e.kind() {
        ErrorKind::Transient => "the portal or the network failed right now; run check again",
        ErrorKind::RateLimited => {
            "the portal is throttling; run check again in a minute, or lower \
             bitrix24.requests_per_second"
        }
        ErrorKind::NotFound => "the portal says it does not exist; check the configured id",
        _ => e.hint(),
    }
}
