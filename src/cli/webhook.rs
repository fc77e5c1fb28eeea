//! `webhook set <public url>` / `webhook show` / `webhook delete`: the Chat2Desk webhook that
//! points at this daemon (through the reverse proxy).

use crate::chat2desk::{Chat2Desk, Chat2DeskError, NewWebhook, Webhook};
use crate::config::Config;
use anyhow::{bail, Context};

/// Name of the webhook this tool registers (how `set` finds it again).
pub const WEBHOOK_NAME: &str = "chat2desk-b24";
/// Events the daemon acts on: closes queue transcripts, `client_updated` drops the cached
/// client.
pub const WEBHOOK_EVENTS: [&str; 3] = ["close_request", "close_dialog", "client_updated"];

/// The tag events (`chat2desk-api.md` §3): a `[crm.filter]` rule looks again at a request
/// whose tags changed, a client's change drops the cached client.
const TAG_EVENTS: [&str; 4] = [
    "add_tag_to_request",
    "delete_tag_from_request",
    "add_tag_to_client",
    "delete_tag_from_client",
];

/// The events to subscribe: [`WEBHOOK_EVENTS`], plus `inbox` (clients' messages) when the
/// Open Lines bridge has lines or `[escalation]` is set, `outbox` (operators' answers) with
/// `[escalation]`, and the tag events when a rule names tags.
pub fn webhook_events(config: &Config) -> Vec<String> {
    let mut events: Vec<String> = WEBHOOK_EVENTS.iter().map(|e| e.to_string()).collect();
    let escalation = config.escalation.is_some();
    if config.openlines.enabled() || escalation {
        events.push("inbox".into());
    }
    if escalation {
        events.push("outbox".into());
    }
    let crm = &config.crm;
    let tags = !crm.filter.only_tags.is_empty()
        || !crm.filter.skip_tags.is_empty()
        || !crm.tag_rules.is_empty()
        || crm.fields.iter().any(|f| f.from.trim() == "request.tags");
    if tags {
        events.extend(TAG_EVENTS.iter().map(|e| e.to_string()));
    }
    events
}

/// Registers (or updates) `<public_url>/webhook/<secret>` for every event of
/// [`webhook_events`]; prints what was done, the secret masked.
pub async fn webhook_set(
    config: &Config,
    chat2desk: &Chat2Desk,
    public_url: &str,
) -> anyhow::Result<()> {
    let secret = config.server.webhook_secret.expose();
    if secret.is_empty() {
        bail!(
            "[server] webhook_secret is empty; set it first (e.g. `openssl rand -hex 24`), restart \
             the daemon, then run this again"
        );
    }
    let base = public_base(public_url)?;
    if base.starts_with("http://") {
        eprintln!("warning: {base} is plain http: the secret in the URL travels unencrypted; use https through nginx");
    }
    let hook = NewWebhook {
        url: format!("{base}/webhook/{secret}"),
        name: WEBHOOK_NAME.into(),
        events: webhook_events(config),
        channels: Vec::new(),
    };
    let existing = chat2desk
        .webhooks()
        .await
        .context("listing webhooks (GET /v1/webhooks)")?;
    if let Some(id) = ours(&existing, &hook.url) {
        chat2desk
            .update_webhook(id, &hook)
            .await
            .context("updating the webhook (PUT /v1/webhooks/{id})")?;
        println!("Updated webhook {id}: {}", mask(&hook.url, secret));
        return Ok(());
    }
    match chat2desk.create_webhook(&hook).await {
        Ok(id) => println!("Registered webhook {id}: {}", mask(&hook.url, secret)),
        Err(e) if already_used(&e) => {
            // The first listing may predate a concurrent registration: look again.
            let again = chat2desk
                .webhooks()
                .await
                .context("listing webhooks (GET /v1/webhooks)")?;
            let Some(id) = ours(&again, &hook.url) else {
                return Err(e).context("Chat2Desk says the URL is in use but does not list it");
            };
            chat2desk
                .update_webhook(id, &hook)
                .await
                .context("updating the webhook (PUT /v1/webhooks/{id})")?;
            println!("Updated webhook {id}: {}", mask(&hook.url, secret));
        }
        Err(e) => {
            let hint = e.hint();
            return Err(e).context(format!(
                "registering the webhook (POST /v1/webhooks): {hint}"
            ));
        }
    }
    println!("Events: {}", hook.events.join(", "));
    Ok(())
}

/// Prints every webhook of the company (secrets in URLs masked) under a header, or as one
/// JSON array with `json`, marking ours and the events the configuration needs that ours
/// lacks.
pub async fn webhook_show(
    config: &Config,
    chat2desk: &Chat2Desk,
    json: bool,
) -> anyhow::Result<()> {
    let secret = config.server.webhook_secret.expose();
    let hooks = chat2desk
        .webhooks()
        .await
        .context("listing webhooks (GET /v1/webhooks)")?;
    if json {
        let rows: Vec<serde_json::Value> = hooks
            .iter()
            .map(|h| {
                serde_json::json!({
                    "id": h.id,
                    "name": h.name,
                    "url": mask(&h.url, secret),
                    "events": h.events,
                    "ours": is_ours(h, secret),
                    "missing": missing_events(config, h, secret),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    if hooks.is_empty() {
        println!("No webhooks registered; run `chat2desk-b24 webhook set https://<public host>`");
        return Ok(());
    }
    println!("ID\tNAME\tURL\tEVENTS\tNOTE");
    for h in &hooks {
        let missing = missing_events(config, h, secret);
        let note = match (is_ours(h, secret), missing.is_empty()) {
            (false, _) => "-".to_string(),
            (true, true) => "this daemon".to_string(),
            (true, false) => format!(
                "this daemon; missing {}: run `webhook set` again",
                missing.join(",")
            ),
        };
        println!(
            "{id}\t{name}\t{url}\t{events}\t{note}",
            id = h.id,
            name = h.name.as_deref().unwrap_or("-"),
            url = mask(&h.url, secret),
            events = h.events.join(",")
        );
    }
    Ok(())
}

/// Removes this daemon's webhook (by its URL's secret or our name), the uninstall path.
pub async fn webhook_delete(config: &Config, chat2desk: &Chat2Desk) -> anyhow::Result<()> {
    let secret = config.server.webhook_secret.expose();
    let hooks = chat2desk
        .webhooks()
        .await
        .context("listing webhooks (GET /v1/webhooks)")?;
    let ours: Vec<&Webhook> = hooks.iter().filter(|h| is_ours(h, secret)).collect();
    if ours.is_empty() {
        println!("No webhook of this daemon is registered; nothing to delete");
        return Ok(());
    }
    for h in ours {
        chat2desk
            .delete_webhook(h.id)
            .await
            .with_context(|| format!("deleting webhook {} (DELETE /v1/webhooks/{})", h.id, h.id))?;
        println!("Deleted webhook {}: {}", h.id, mask(&h.url, secret));
    }
    Ok(())
}

/// The events the configuration needs that `hook`, when it is ours, does not subscribe
/// (empty for another application's hook).
pub fn missing_events(config: &Config, hook: &Webhook, secret: &str) -> Vec<String> {
    if !is_ours(hook, secret) {
        return Vec::new();
    }
    webhook_events(config)
        .into_iter()
        .filter(|e| !hook.events.contains(e))
        .collect()
}

/// The public base URL without a trailing `/` or `/webhook`.
fn public_base(text: &str) -> anyhow::Result<String> {
    let trimmed = text.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/webhook").unwrap_or(trimmed);
    let url = url::Url::parse(trimmed).with_context(|| format!("`{trimmed}` is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || url.query().is_some() {
        bail!("`{trimmed}` is not an http(s) base URL; expected e.g. https://c2d.example.com");
    }
    Ok(trimmed.to_string())
}

/// The id of the hook this daemon registered: same URL, or our name.
fn ours(hooks: &[Webhook], url: &str) -> Option<i64> {
    hooks
        .iter()
        .find(|h| h.url == url)
        .or_else(|| {
            hooks
                .iter()
                .find(|h| h.name.as_deref() == Some(WEBHOOK_NAME))
        })
        .map(|h| h.id)
}

/// True for the hook this daemon registered: our name, or our secret in its URL.
pub fn is_ours(h: &Webhook, secret: &str) -> bool {
    h.name.as_deref() == Some(WEBHOOK_NAME) || (!secret.is_empty() && h.url.contains(secret))
}

fn already_used(e: &Chat2DeskError) -> bool {
    e.to_string().contains("This url is already used")
}

/// The URL with our secret, and anything after `/webhook/`, replaced by `***`.
pub fn mask(url: &str, secret: &str) -> String {
    let url = if secret.is_empty() {
        url.to_string()
    } else {
        url.replace(secret, "***")
    };
    match url.find("/webhook/") {
        Some(i) => format!("{}/webhook/***", &url[..i]),
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_and_normalises_the_base() {
        assert_eq!(
            mask("https://h/webhook/abc123", "abc123"),
            "https://h/webhook/***"
        );
        assert_eq!(
            mask("https://h/x?token=s3cr3t", "s3cr3t"),
            "https://h/x?token=***"
        );
        assert_eq!(
            mask("https://h/webhook/other", "abc"),
            "https://h/webhook/***"
        );
        assert_eq!(
            public_base("https://h.example/webhook/").unwrap(),
            "https://h.example"
        );
        assert!(public_base("ftp://h").is_err());
    }
}
