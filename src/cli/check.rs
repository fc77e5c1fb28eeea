//! `check`: the config, then every remote fact the daemon relies on, one line each.

use crate::bitrix24::{Bitrix24, Bitrix24Options};
use crate::chat2desk::{Chat2Desk, Chat2DeskOptions};
use crate::config::{Config, Integration};
use crate::store::Store;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// Scopes the inbound webhook needs: CRM entities and comments, users, notifications.
const REQUIRED_SCOPES: [&str; 3] = ["crm", "user", "im"];
/// `check` answers quickly: one retry, short timeouts.
const CHECK_RETRIES: u32 = 1;
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Prints one line per check and counts the failures.
#[derive(Debug, Default)]
struct Report {
    problems: usize,
}

impl Report {
    fn pass(&mut self, key: &str, msg: impl Into<String>) {
        println!("ok    {key}: {}", msg.into());
    }

    fn fail(&mut self, key: &str, msg: impl Into<String>) {
        println!("FAIL  {key}: {}", msg.into());
        self.problems += 1;
    }
}

/// Loads and checks `path`; with `offline`, only the config and the database. Returns false
/// when any check failed (the caller exits 1).
pub async fn check(path: &Path, offline: bool) -> bool {
    let config = match crate::config::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("warn  {}: {}", w.key, w.message);
            }
            println!("ok    config: {} is valid", path.display());
            loaded.config
        }
        Err(e) => {
            for p in &e.problems {
                println!("FAIL  {}: {}", p.key, p.message);
            }
            return false;
        }
    };
    let mut report = Report::default();
    check_database(&config, &mut report).await;
    if !offline {
        check_chat2desk(&config, &mut report).await;
        check_portal(&config, &mut report).await;
    }
    if report.problems == 0 {
        println!("All checks passed.");
        true
    } else {
        println!("{} problem(s).", report.problems);
        false
    }
}

async fn check_database(config: &Config, report: &mut Report) {
    let location = config.database.location();
    let mysql = config.database.url.is_some();
    let key = if mysql {
        "database.url"
    } else {
        "database.path"
    };
    let result = async {
        let store = Store::connect(&location, &config.node.name).await?;
        store.ping().await?;
        store
            .set_meta("check.last_run_at", &chrono::Utc::now().to_rfc3339())
            .await
    }
    .await;
    match result {
        Ok(()) => report.pass(key, format!("{} is writable", location.display())),
        Err(e) if mysql => report.fail(key, format!("{e} — {}", e.hint())),
        Err(e) => report.fail(
            key,
            format!("{e} — the service user needs write access to the file and its directory"),
        ),
    }
}

async fn check_chat2desk(config: &Config, report: &mut Report) {
    let mut opts = Chat2DeskOptions::from_config(&config.chat2desk);
    opts.max_retries = CHECK_RETRIES;
    opts.timeout = opts.timeout.min(CHECK_TIMEOUT);
    let client = match Chat2Desk::new(opts) {
        Ok(c) => c,
        Err(e) => return report.fail("chat2desk.api_url", format!("{e} ({})", e.hint())),
    };
    match client.api_info().await {
        Ok(info) => {
            let company = info.company_name.unwrap_or_default();
            let used = info
                .requests_this_month
                .map(|n| format!(", {n} API requests this month"))
                .unwrap_or_default();
            report.pass(
                "chat2desk.token",
                format!("token works (GET /v1/companies/api_info: company {company:?}{used})"),
            );
        }
        Err(e) => report.fail("chat2desk.token", format!("{e} ({})", e.hint())),
    }
}

async fn check_portal(config: &Config, report: &mut Report) {
    let mut opts = Bitrix24Options::from_config(&config.bitrix24);
    opts.max_retries = CHECK_RETRIES;
    opts.timeout = opts.timeout.min(CHECK_TIMEOUT);
    let portal = match Bitrix24::new(opts) {
        Ok(p) => p,
        Err(e) => return report.fail("bitrix24.webhook_url", format!("{e} ({})", e.hint())),
    };
    match portal.profile().await {
        Ok(p) => report.pass(
            "bitrix24.webhook_url",
            format!("webhook works (profile: user {})", p.id),
        ),
        Err(e) => {
            return report.fail(
                "bitrix24.webhook_url",
                format!("profile failed: {e} ({})", e.hint()),
            );
        }
    }
    match portal.scopes().await {
        Ok(scopes) => {
            let granted: BTreeSet<&str> = scopes.iter().map(String::as_str).collect();
            let user_ok = granted.contains("user") || granted.contains("user_basic");
            let missing: Vec<&str> = REQUIRED_SCOPES
                .iter()
                .copied()
                .filter(|s| !(granted.contains(s) || (*s == "user" && user_ok)))
                .collect();
            if missing.is_empty() {
                report.pass(
                    "bitrix24.webhook_url",
                    "scopes crm, user, im granted (scope)",
                );
            } else {
                report.fail("bitrix24.webhook_url", format!(
                    "the inbound webhook lacks the scope(s) {} (scope) — edit it in Bitrix24 (Developer resources → Inbound webhook) and tick them",
                    missing.join(", ")
                ));
            }
        }
        Err(e) => report.fail(
            "bitrix24.webhook_url",
            format!("scope failed: {e} ({})", e.hint()),
        ),
    }
    check_source(config, &portal, report).await;
    if config.crm.integration == Integration::ContactDeal {
        check_category(config, &portal, report).await;
    }
    check_users(config, &portal, report).await;
}

async fn check_source(config: &Config, portal: &Bitrix24, report: &mut Report) {
    match portal.statuses("SOURCE").await {
        Ok(sources) => {
            if sources.iter().any(|s| s.status_id == config.crm.source) {
                report.pass(
                    "crm.source",
                    format!("{:?} exists (crm.status.list SOURCE)", config.crm.source),
                );
            } else {
                let known: Vec<&str> = sources.iter().map(|s| s.status_id.as_str()).collect();
                report.fail("crm.source", format!(
                    "{:?} is not a SOURCE status on the portal (crm.status.list) — use one of: {}, or add it in CRM → Settings → Directories",
                    config.crm.source,
                    known.join(", ")
                ));
            }
        }
        Err(e) => report.fail(
            "crm.source",
            format!("crm.status.list failed: {e} ({})", e.hint()),
        ),
    }
}

async fn check_category(config: &Config, portal: &Bitrix24, report: &mut Report) {
    let category = config.crm.deal_category;
    let entity = if category == 0 {
        "DEAL_STAGE".to_string()
    } else {
        format!("DEAL_STAGE_{category}")
    };
    match portal.statuses(&entity).await {
        Ok(stages) if !stages.is_empty() => report.pass("crm.deal_category", format!("pipeline {category} has {} stages", stages.len())),
        Ok(_) => report.fail("crm.deal_category", format!("pipeline {category} has no stages ({entity}) — use an existing deal pipeline id (0 = the default one)")),
        Err(e) => report.fail("crm.deal_category", format!("crm.status.list failed: {e} ({})", e.hint())),
    }
}

async fn check_users(config: &Config, portal: &Bitrix24, report: &mut Report) {
    let keyed = config
        .crm
        .default_responsibles
        .iter()
        .enumerate()
        .map(|(i, id)| (format!("crm.default_responsibles[{i}]"), *id))
        .chain(
            config
                .crm
                .operators
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("crm.operators[{i}].bitrix24"), m.bitrix24)),
        );
    for (key, id) in keyed {
        match portal.user(id).await {
            Ok(Some(user)) if user.active => {
                report.pass(&key, format!("user {id} exists and is active (user.get)"))
            }
            Ok(Some(_)) => report.fail(
                &key,
                format!("user {id} is deactivated in Bitrix24 (user.get) — use an active user id"),
            ),
            Ok(None) => report.fail(
                &key,
                format!("user {id} not found in Bitrix24 (user.get) — use an active user id"),
            ),
            Err(e) => report.fail(&key, format!("user.get failed: {e} ({})", e.hint())),
        }
    }
}
