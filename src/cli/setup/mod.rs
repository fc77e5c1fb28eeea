//! `setup`: the seed app's settings screen in a shell. It asks for the token first and checks
//! it at once, then the inbound webhook URL and its scopes, then the state database path; an
//! answer that fails its check can be typed again, or the previous answer changed (the API
//! URL for the token), or setup quit with the file untouched. Then it offers choices read live
//! from both services (integration type, the SOURCE directory, active portal users as default
//! responsibles, each Chat2Desk operator's portal user with the e-mail match pre-selected),
//! edits the config file in place (comments kept), and runs `check` (which, as root on a
//! machine without the package's user, creates no root-owned state database).
//!
//! `--answers FILE` gives the same answers non-interactively (automation); every answer left
//! out keeps the file's value (or, for operators, the e-mail matches).

mod ask;
mod document;

use crate::chat2desk::{Chat2Desk, Chat2DeskOptions, Operator};
use crate::config::{
    Bitrix24Config, Chat2DeskConfig, Integration, OperatorMapping, OperatorRef, Secret,
};
use crate::portal::{Bitrix24, Bitrix24Options, User};
use ask::{Answers, Next, Ui};
use document::Document;
use std::path::Path;
use std::time::Duration;

/// The default `database.path`: the unit's `StateDirectory=`, which systemd creates.
const DEFAULT_DB: &str = "/var/lib/chat2desk-b24/state.db";

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

    let answers = ask_services(&ui, &doc).await?;
    let (api_url, token, chat2desk) = (answers.api_url, answers.token, answers.chat2desk);
    let (webhook, portal, db_path) = (answers.webhook, answers.portal, answers.db_path);

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
    doc.set("database", "path", db_path.as_str());
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
    Ok(super::check::check_after_setup(path).await)
}

/// The answers checked where they are asked: the token (against Chat2Desk), the webhook
/// (against the portal), the state database path.
struct Checked {
    api_url: String,
    token: String,
    chat2desk: Chat2Desk,
    webhook: String,
    portal: Bitrix24,
    db_path: String,
}

/// The questions that can fail, in order: token, webhook URL, database path. A failed one is
/// typed again, or goes back to the previous answer (the token's "previous" is the API URL),
/// or quits; from an answers file a failure stops.
async fn ask_services(ui: &Ui, doc: &Document) -> anyhow::Result<Checked> {
    let mut api_url = ui
        .answered(|a| a.api_url.clone())
        .or_else(|| doc.get_str("chat2desk", "api_url"))
        .unwrap_or_else(|| "https://api.chat2desk.com".into());
    let mut token = current_secret(doc, "chat2desk", "token");
    let mut webhook = current_secret(doc, "bitrix24", "webhook_url");
    let mut db_path = doc
        .get_str("database", "path")
        .unwrap_or_else(|| DEFAULT_DB.into());
    let (mut chat2desk, mut portal) = (None, None);
    let mut hinted = false;
    let mut step = 0;
    loop {
        match step {
            0 => {
                let typed = ui.secret(
                    "Chat2Desk API token (Chat2Desk → Settings → API → Show)",
                    token.clone(),
                    |a| a.token.clone(),
                )?;
                token = Some(typed.clone()).filter(|t| !t.trim().is_empty());
                match chat2desk_client(&api_url, &typed).await {
                    Ok((client, company)) => {
                        ui.say(&format!(
                            "ok   chat2desk.token: token works with {api_url} (company {company:?})"
                        ));
                        chat2desk = Some(client);
                        step = 1;
                    }
                    Err(why) => {
                        let why = format!("FAIL chat2desk.token: {why}");
                        let back = format!("Change the Chat2Desk API URL (now {api_url})");
                        if let Next::Back = ui.after_failure(&why, "Type the token again", &back)? {
                            api_url = ui.text("Chat2Desk API URL", api_url, |_| None)?;
                        }
                    }
                }
            }
            1 => {
                if !hinted {
                    ui.say("The inbound webhook: Bitrix24 → Developer resources → Other → Inbound webhook.");
                    hinted = true;
                }
                let typed = ui.secret(
                    "Bitrix24 inbound webhook URL (scopes crm, user, im)",
                    webhook.clone(),
                    |a| a.webhook_url.clone(),
                )?;
                webhook = Some(typed.clone()).filter(|t| !t.trim().is_empty());
                match portal_client(doc, &typed).await {
                    Ok(client) => {
                        ui.say(
                            "ok   bitrix24.webhook_url: the webhook works; scopes crm, user, im granted",
                        );
                        portal = Some(client);
                        step = 2;
                    }
                    Err(why) => {
                        let why = format!("FAIL bitrix24.webhook_url: {why}");
                        let back = "Back to the Chat2Desk token";
                        if let Next::Back =
                            ui.after_failure(&why, "Type the webhook URL again", back)?
                        {
                            step = 0;
                        }
                    }
                }
            }
            _ => {
                db_path = ui.text("State database (database.path)", db_path, |a| {
                    a.database_path.clone()
                })?;
                match db_path_problem(&db_path) {
                    None => {
                        ui.say(&format!("ok   database.path: {}", db_path.trim()));
                        return Ok(Checked {
                            api_url: api_url.trim().to_string(),
                            token: token.unwrap_or_default(),
                            chat2desk: chat2desk.expect("the token step came first"),
                            webhook: webhook.unwrap_or_default(),
                            portal: portal.expect("the webhook step came first"),
                            db_path: db_path.trim().to_string(),
                        });
                    }
                    Some(why) => {
                        let why = format!("FAIL database.path: {why}");
                        let back = "Back to the Bitrix24 webhook URL";
                        if let Next::Back = ui.after_failure(&why, "Type the path again", back)? {
                            step = 1;
                        }
                    }
                }
            }
        }
    }
}

/// Why `path` cannot be the state database, if it cannot: it must be an absolute file path
/// whose directory exists (or is the unit's state directory, which systemd creates).
fn db_path_problem(path: &str) -> Option<String> {
    let path = Path::new(path.trim());
    if !path.is_absolute() || path.file_name().is_none() {
        return Some(format!(
            "`{}` is not an absolute file path; expected e.g. {DEFAULT_DB}",
            path.display()
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    if dir == Path::new(DEFAULT_DB).parent().expect("has a directory") || dir.is_dir() {
        return None;
    }
    Some(format!(
        "the directory {} does not exist; create it (install -d -o chat2desk-b24 -m 0750 {}) or \
         give a path in an existing directory, e.g. {DEFAULT_DB}",
        dir.display(),
        dir.display()
    ))
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
    if token.trim().is_empty() {
        return Err("empty; paste the token shown in Chat2Desk → Settings → API".into());
    }
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
    if hook.trim().is_empty() {
        return Err(
            "empty; paste the URL Bitrix24 shows for the inbound webhook (https://<portal>/rest/<user id>/<secret>/)"
                .into(),
        );
    }
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
