//! `setup`: the seed app's settings screen in a shell. It asks for the token and checks it at
//! once, then the inbound webhook URL and its scopes, then offers choices read live from both
//! services (integration type, the SOURCE directory, active portal users as default
//! responsibles, each Chat2Desk operator's portal user with the e-mail match pre-selected),
//! edits the config file in place (comments kept), and runs `check`.
//!
//! `--answers FILE` gives the same answers non-interactively (automation); every answer left
//! out keeps the file's value (or, for operators, the e-mail matches).

mod ask;
mod document;

use crate::bitrix24::{Bitrix24, Bitrix24Options, User};
use crate::chat2desk::{Chat2Desk, Chat2DeskOptions, Operator};
use crate::config::{
    Bitrix24Config, Chat2DeskConfig, Integration, OperatorMapping, OperatorRef, Secret,
};
use ask::{Answers, Ui};
use document::Document;
use std::path::Path;
use std::time::Duration;

/// How long setup waits for one answer of a service.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the guided setup of `path`; returns whether the final `check` passed.
pub async fn setup(path: &Path, answers: Option<&Path>) -> anyhow::Result<bool> {
    let ui = match answers {
        Some(file) => Ui::Answers(Answers::read(file)?),
        None => Ui::terminal()?,
    };
    let mut doc = Document::open(path)?;
    ui.say(&format!(
        "Setting up {} (comments and other keys are kept).",
        path.display()
    ));

    let api_url = ui.text(
        "Chat2Desk API URL",
        doc.get_str("chat2desk", "api_url")
            .unwrap_or_else(|| "https://api.chat2desk.com".into()),
        |a| a.api_url.clone(),
    )?;
    let (token, chat2desk) = loop {
        let current = current_secret(&doc, "chat2desk", "token");
        let token = ui.secret(
            "Chat2Desk API token (Chat2Desk → Settings → API → Show)",
            current,
            |a| a.token.clone(),
        )?;
        match chat2desk_client(&api_url, &token).await {
            Ok((client, company)) => {
                ui.say(&format!(
                    "ok   chat2desk.token: token works (company {company:?})"
                ));
                break (token, client);
            }
            Err(why) => ui.retry(&format!("FAIL chat2desk.token: {why}"))?,
        }
    };
    ui.say("The inbound webhook: Bitrix24 → Developer resources → Other → Inbound webhook.");
    let (webhook, portal) = loop {
        let current = current_secret(&doc, "bitrix24", "webhook_url");
        let hook = ui.secret(
            "Bitrix24 inbound webhook URL (scopes crm, user, im)",
            current,
            |a| a.webhook_url.clone(),
        )?;
        match portal_client(&doc, &hook).await {
            Ok(portal) => {
                ui.say(
                    "ok   bitrix24.webhook_url: the webhook works; scopes crm, user, im granted",
                );
                break (hook, portal);
            }
            Err(why) => ui.retry(&format!("FAIL bitrix24.webhook_url: {why}"))?,
        }
    };

    let integrations = [
        (Integration::Lead, "lead — Лиды: a new client gets a lead"),
        (
            Integration::ContactDeal,
            "contact_deal — Контакт + Сделка: a new client gets a contact and a deal",
        ),
        (
            Integration::OpenlinesLead,
            "openlines_lead — Лидогенерация Открытых Линий: as Open Lines do",
        ),
    ];
    let current = doc
        .get_str("crm", "integration")
        .unwrap_or_else(|| "lead".into());
    let labels: Vec<&str> = integrations.iter().map(|(_, l)| *l).collect();
    let at = integrations
        .iter()
        .position(|(i, _)| name_of(*i) == current)
        .unwrap_or(0);
    let picked = ui.select(
        "Integration type (Тип интеграции)",
        &labels,
        at,
        |a| {
            a.integration
                .and_then(|want| integrations.iter().position(|(i, _)| *i == want))
        },
    )?;
    let integration = integrations[picked].0;

    let sources = portal
        .statuses("SOURCE")
        .await
        .map_err(|e| anyhow::anyhow!("crm.status.list SOURCE failed: {e}"))?;
    anyhow::ensure!(
        !sources.is_empty(),
        "the portal's SOURCE directory is empty: add a source in CRM → Settings → Directories"
    );
    let labels: Vec<String> = sources
        .iter()
        .map(|s| format!("{} ({})", s.name, s.status_id))
        .collect();
    let current = doc
        .get_str("crm", "source")
        .unwrap_or_else(|| "OTHER".into());
    let at = sources
        .iter()
        .position(|s| s.status_id == current)
        .unwrap_or(0);
    let picked = ui.select(
        "Source of new entities (Источник)",
        &labels,
        at,
        |a| {
            a.source
                .as_ref()
                .and_then(|want| sources.iter().position(|s| &s.status_id == want))
        },
    )?;
    let source = sources[picked].status_id.clone();

    let users = portal
        .active_users()
        .await
        .map_err(|e| anyhow::anyhow!("user.get failed: {e}"))?;
    anyhow::ensure!(!users.is_empty(), "the portal has no active users");
    let current = current_ids(&doc);
    let labels: Vec<String> = users.iter().map(user_label).collect();
    let checked: Vec<bool> = users.iter().map(|u| current.contains(&u.id)).collect();
    ui.say("New clients of operators without a portal user go to a random default responsible.");
    let picked = ui.multi_select(
        "Default responsibles (Ответственные по умолчанию)",
        &labels,
        &checked,
        |a| {
            a.default_responsibles.as_ref().map(|ids| {
                users
                    .iter()
                    .enumerate()
                    .filter(|(_, u)| ids.contains(&u.id))
                    .map(|(i, _)| i)
                    .collect()
            })
        },
    )?;
    let defaults: Vec<i64> = picked.iter().map(|&i| users[i].id).collect();

    let operators = chat2desk
        .operators()
        .await
        .map_err(|e| anyhow::anyhow!("GET /v1/operators failed: {e}"))?;
    let mapping = map_operators(&ui, &operators, &users, &doc)?;

    let in_files = ui.confirm(
        "Keep the token and the webhook URL in separate files (mode 0640) instead of the config?",
        true,
        |a| a.secrets_in_files,
    )?;
    doc.set("chat2desk", "api_url", api_url.as_str());
    if in_files {
        doc.secret_to_file("chat2desk", "token", "chat2desk-token", &token)?;
        doc.secret_to_file("bitrix24", "webhook_url", "bitrix24-webhook", &webhook)?;
    } else {
        doc.secret_inline("chat2desk", "token", &token);
        doc.secret_inline("bitrix24", "webhook_url", &webhook);
    }
    doc.set("crm", "integration", name_of(integration));
    doc.set("crm", "source", source.as_str());
    doc.set(
        "crm",
        "default_responsibles",
        defaults.iter().copied().collect::<toml_edit::Array>(),
    );
    doc.set_operators(&mapping);
    doc.save()?;
    ui.say(&format!("Wrote {}. Running check:", path.display()));
    Ok(super::check(path, false).await)
}

/// One choice per Chat2Desk operator: a portal user (the e-mail match pre-selected) or none.
fn map_operators(
    ui: &Ui,
    operators: &[Operator],
    users: &[User],
    doc: &Document,
) -> anyhow::Result<Vec<OperatorMapping>> {
    let existing = doc.operators();
    if let Some(given) = ui.answered(|a| a.operators.clone()) {
        return Ok(given);
    }
    let mut labels = vec!["— none: a default responsible".to_string()];
    labels.extend(users.iter().map(user_label));
    let mut out = Vec::new();
    for op in operators {
        let mapped = existing.iter().find(|m| match &m.chat2desk {
            OperatorRef::Id(id) => *id == op.id,
            OperatorRef::Email(e) => op
                .email
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case(e)),
        });
        let same_email = users.iter().position(|u| {
            u.email
                .as_deref()
                .zip(op.email.as_deref())
                .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
        });
        let at = mapped
            .and_then(|m| users.iter().position(|u| u.id == m.bitrix24))
            .or(same_email)
            .map_or(0, |i| i + 1);
        let prompt = format!(
            "Portal user for operator {} <{}> (Соответствие)",
            op.full_name(),
            op.email.as_deref().unwrap_or("no e-mail")
        );
        let picked = ui.select(&prompt, &labels, at, |_| Some(at))?;
        if picked > 0 {
            out.push(OperatorMapping {
                chat2desk: OperatorRef::Id(op.id),
                bitrix24: users[picked - 1].id,
            });
        }
    }
    Ok(out)
}

async fn chat2desk_client(api_url: &str, token: &str) -> Result<(Chat2Desk, String), String> {
    let config = Chat2DeskConfig {
        api_url: api_url.trim().to_string(),
        token: Secret::new(token.trim()),
        ..Chat2DeskConfig::default()
    };
    let mut opts = Chat2DeskOptions::from_config(&config);
    opts.timeout = TIMEOUT;
    opts.max_retries = 0;
    let client = Chat2Desk::new(opts).map_err(|e| format!("{e}; {}", e.hint()))?;
    let info = client
        .api_info()
        .await
        .map_err(|e| format!("{e}; {}", e.hint()))?;
    Ok((client, info.company_name.unwrap_or_default()))
}

async fn portal_client(doc: &Document, hook: &str) -> Result<Bitrix24, String> {
    let config = Bitrix24Config {
        webhook_url: Secret::new(hook.trim()),
        ca_file: doc.get_str("bitrix24", "ca_file").map(Into::into),
        ..Bitrix24Config::default()
    };
    let mut opts = Bitrix24Options::from_config(&config);
    opts.timeout = TIMEOUT;
    opts.max_retries = 0;
    let portal = Bitrix24::new(opts).map_err(|e| format!("{e}; {}", e.hint()))?;
    portal
        .profile()
        .await
        .map_err(|e| format!("profile failed: {e}; {}", e.hint()))?;
    let scopes = portal
        .scopes()
        .await
        .map_err(|e| format!("scope failed: {e}; {}", e.hint()))?;
    let has = |s: &str| {
        scopes
            .iter()
            .any(|g| g == s || (s == "user" && g == "user_basic"))
    };
    let missing: Vec<&str> = ["crm", "user", "im"]
        .into_iter()
        .filter(|s| !has(s))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the webhook lacks the scope(s) {}; edit it in Bitrix24 (Developer resources → \
             Inbound webhook), tick them and paste the URL again",
            missing.join(", ")
        ));
    }
    Ok(portal)
}

/// The secret in the file (inline, or from its `*_file`), to keep on an empty answer.
fn current_secret(doc: &Document, section: &str, key: &str) -> Option<String> {
    doc.get_str(section, key).or_else(|| {
        let file = doc.get_str(section, &format!("{key}_file"))?;
        std::fs::read_to_string(file)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    })
}

fn current_ids(doc: &Document) -> Vec<i64> {
    doc.int_list("crm", "default_responsibles")
}

fn user_label(u: &User) -> String {
    let name = [u.name.as_deref(), u.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    match u.email.as_deref() {
        Some(e) => format!("{name} <{e}> (id {})", u.id),
        None => format!("{name} (id {})", u.id),
    }
}

fn name_of(i: Integration) -> &'static str {
    match i {
        Integration::Lead => "lead",
        Integration::ContactDeal => "contact_deal",
        Integration::OpenlinesLead => "openlines_lead",
    }
}
