//! Chat2Desk: reachable, the token works, every mapped operator exists, our webhook has
//! every event the configuration needs.

use super::progress::Step;
use super::reach::{after_connect, host_port, probe, proxy_var};
use super::{Line, ANSWER_TIMEOUT};
use crate::chat2desk::{Chat2Desk, Chat2DeskError, Chat2DeskOptions};
use crate::cli::webhook::{is_ours, missing_events};
use crate::config::{Config, OperatorRef};
use url::Url;

const URL_KEY: &str = "chat2desk.api_url";
const TOKEN_KEY: &str = "chat2desk.token";
/// The key that finds our webhook (its secret is in the hook's URL).
const WEBHOOK_KEY: &str = "server.webhook_secret";

/// The Chat2Desk lines, in order.
pub(super) async fn check(config: &Config, step: &Step) -> Vec<Line> {
    let mut lines = Vec::new();
    let Ok(url) = Url::parse(&config.chat2desk.api_url) else {
        lines.push(Line::fail(
            URL_KEY,
            "not a URL; write it like https://api.chat2desk.com",
        ));
        return skipped(config, lines, "chat2desk.api_url is not a URL");
    };
    let at = host_port(&url);
    let via = match proxy_var(&url) {
        Some(var) => format!(" through the proxy in {var}"),
        None => {
            step.show(format!("{URL_KEY}: connecting to {at}"));
            if let Err(why) = probe(URL_KEY, &url).await {
                lines.push(Line::fail(URL_KEY, why));
                return skipped(config, lines, "chat2desk.api_url cannot be reached");
            }
            String::new()
        }
    };
    let mut opts = Chat2DeskOptions::from_config(&config.chat2desk);
    opts.max_retries = 0;
    opts.timeout = opts.timeout.min(ANSWER_TIMEOUT);
    let client = match Chat2Desk::new(opts) {
        Ok(c) => c,
        Err(e) => {
            lines.push(Line::fail(URL_KEY, format!("{e}; {}", e.hint())));
            return skipped(config, lines, "no client");
        }
    };
    step.show(format!("{TOKEN_KEY}: GET /v1/companies/api_info"));
    match client.api_info().await {
        Ok(info) => {
            lines.push(Line::ok(URL_KEY, format!("{at} answers{via}")));
            let company = info.company_name.unwrap_or_default();
            let used = info
                .requests_this_month
                .map(|n| format!(", {n} API requests this month"))
                .unwrap_or_default();
            lines.push(Line::ok(
                TOKEN_KEY,
                format!("token works (GET /v1/companies/api_info: company {company:?}{used})"),
            ));
        }
        Err(Chat2DeskError::Transport { detail, .. }) => {
            let fix =
                "check the system's CA certificates (ca-certificates) or a TLS-inspecting proxy";
            lines.push(Line::fail(
                URL_KEY,
                after_connect(URL_KEY, &url, &detail, fix),
            ));
            return skipped(config, lines, "chat2desk.api_url cannot be reached");
        }
        Err(Chat2DeskError::NotFound { .. }) => {
            lines.push(Line::fail(
                URL_KEY,
                format!(
                    "{at} answers, but not as the Chat2Desk API (GET /v1/companies/api_info: not \
                     found); write the API's base URL without /v1, e.g. https://api.chat2desk.com"
                ),
            ));
            return skipped(config, lines, "chat2desk.api_url is not the Chat2Desk API");
        }
        Err(e @ Chat2DeskError::Auth { .. }) => {
            lines.push(Line::ok(URL_KEY, format!("{at} answers{via}")));
            lines.push(Line::fail(
                TOKEN_KEY,
                format!(
                    "the token was refused ({e}); copy it again from Chat2Desk → Settings → API \
                     (the bare token, no `Bearer`)"
                ),
            ));
            return skipped(config, lines, "the token does not work");
        }
        Err(e) => {
            lines.push(Line::ok(URL_KEY, format!("{at} answers{via}")));
            lines.push(Line::fail(TOKEN_KEY, format!("{e}; {}", hint(&e))));
            return skipped(config, lines, "the token could not be checked");
        }
    }
    operators(config, &client, step, &mut lines).await;
    super::tags::check(config, &client, step, &mut lines).await;
    webhook(config, &client, step, &mut lines).await;
    lines
}

/// This daemon's webhook, when one is registered, subscribes every event the configuration
/// needs (a warning otherwise: the poll still picks closes up, later).
async fn webhook(config: &Config, client: &Chat2Desk, step: &Step, lines: &mut Vec<Line>) {
    step.show(format!("{WEBHOOK_KEY}: GET /v1/webhooks"));
    let secret = config.server.webhook_secret.expose();
    let hooks = match client.webhooks().await {
        Ok(hooks) => hooks,
        Err(e) => {
            let why = format!("GET /v1/webhooks failed: {e}; {}", hint(&e));
            lines.push(Line::warn(WEBHOOK_KEY, why));
            return;
        }
    };
    for hook in hooks.iter().filter(|h| is_ours(h, secret)) {
        let missing = missing_events(config, hook, secret);
        if missing.is_empty() {
            let text = format!(
                "webhook {} subscribes {} (GET /v1/webhooks)",
                hook.id,
                hook.events.join(",")
            );
            lines.push(Line::ok(WEBHOOK_KEY, text));
        } else {
            let text = format!(
                "webhook {} lacks the event(s) {} the configuration needs (GET /v1/webhooks); run \
                 `chat2desk-b24 webhook set https://<public host>` again",
                hook.id,
                missing.join(",")
            );
            lines.push(Line::warn(WEBHOOK_KEY, text));
        }
    }
}

/// Every `[[crm.operators]] chat2desk` names an operator Chat2Desk has.
async fn operators(config: &Config, client: &Chat2Desk, step: &Step, lines: &mut Vec<Line>) {
    if config.crm.operators.is_empty() {
        return;
    }
    step.show("crm.operators: GET /v1/operators");
    let known = match client.operators().await {
        Ok(ops) => ops,
        Err(e) => {
            for i in 0..config.crm.operators.len() {
                lines.push(Line::fail(
                    format!("crm.operators[{i}].chat2desk"),
                    format!("GET /v1/operators failed: {e}; {}", hint(&e)),
                ));
            }
            return;
        }
    };
    for (i, mapping) in config.crm.operators.iter().enumerate() {
        let key = format!("crm.operators[{i}].chat2desk");
        let found = known.iter().find(|op| match &mapping.chat2desk {
            OperatorRef::Id(id) => op.id == *id,
            OperatorRef::Email(email) => op
                .email
                .as_deref()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case(email.trim())),
        });
        let named = match &mapping.chat2desk {
            OperatorRef::Id(id) => format!("operator {id}"),
            OperatorRef::Email(email) => format!("operator {email}"),
        };
        match found {
            Some(op) => lines.push(Line::ok(
                key,
                format!("{named} exists ({}, GET /v1/operators)", op.full_name()),
            )),
            None => lines.push(Line::fail(
                key,
                format!(
                    "{named} not found in Chat2Desk (GET /v1/operators lists {} operator(s)); use \
                     an id or e-mail that `chat2desk-b24 operators` shows",
                    known.len()
                ),
            )),
        }
    }
}

/// The lines of the checks that need a working Chat2Desk connection, marked not checked.
fn skipped(config: &Config, mut lines: Vec<Line>, why: &str) -> Vec<Line> {
    if !lines.iter().any(|l| l.key == TOKEN_KEY) {
        lines.push(Line::skip(TOKEN_KEY, why));
    }
    for i in 0..config.crm.operators.len() {
        lines.push(Line::skip(format!("crm.operators[{i}].chat2desk"), why));
    }
    lines
}

/// What to do, in `check`'s terms: it retries nothing, so a passing failure means "again".
fn hint(e: &Chat2DeskError) -> &'static str {
    match e {
        Chat2DeskError::RateLimited { .. } => {
            "Chat2Desk is rate-limiting this token right now; run check again in a minute"
        }
        Chat2DeskError::Server { .. } | Chat2DeskError::Decode { .. } => {
            "Chat2Desk is failing right now; run check again later"
        }
        other => other.hint(),
    }
}
