//! Test fixture: both simulators, the demo company, a temp directory and config builders.
#![allow(dead_code)]

use chat2desk_b24::config::{Config, Integration};
use chat2desk_b24::service::{build, Daemon};
use chat2desk_b24::sim::bitrix24::PortalSim;
use chat2desk_b24::sim::chat2desk::Chat2DeskSim;
use chat2desk_b24::sim::scenario::{self, Scenario};
use std::path::PathBuf;
use tempfile::TempDir;

/// Simulators seeded with the demo company, plus a scratch directory.
pub struct Env {
    pub c2d: Chat2DeskSim,
    pub portal: PortalSim,
    pub s: Scenario,
    pub dir: TempDir,
}

impl Env {
    pub async fn new() -> Self {
        let c2d = Chat2DeskSim::start().await.expect("chat2desk sim");
        let portal = PortalSim::start().await.expect("portal sim");
        let s = scenario::seed(&c2d, &portal);
        Env {
            c2d,
            portal,
            s,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    /// The scenario's config with an integration type.
    pub fn config(&self, integration: Integration) -> Config {
        let mut c = scenario::config(&self.c2d, &self.portal, &self.s, &self.db());
        c.crm.integration = integration;
        c
    }

    /// Builds the daemon and runs its first poll (before any conversation, as in real life).
    pub async fn daemon(&self, config: Config) -> Daemon {
        let d = build(config).await.expect("daemon builds");
        d.poller.poll_once().await.expect("first poll");
        d
    }

    /// The config file the binary reads, written as TOML by hand (the keys are the contract).
    pub fn write_config(&self, integration: &str, extra: &str) -> PathBuf {
        let text = format!(
            r#"
[chat2desk]
api_url = "{c2d}"
token = "{token}"
requests_per_second = 0

[bitrix24]
webhook_url = "{portal}"
requests_per_second = 0

[crm]
integration = "{integration}"
source = "OTHER"
default_responsibles = [{default}]
timezone = "Europe/Moscow"

[[crm.operators]]
chat2desk = {op_maria}
bitrix24 = {user_maria}

[sync]
schedule = "*/1 * * * * *"
workers = 4
max_attempts = 20
backoff_base_secs = 1
backoff_max_secs = 2
lease_secs = 30

[database]
path = "{db}"
{extra}
{server}
"#,
            server = if extra.contains("[server]") {
                ""
            } else {
                // A free port per test: tests run in parallel.
                "[server]\nlisten = \"127.0.0.1:0\""
            },
            c2d = self.c2d.url(),
            token = self.c2d.token(),
            portal = self.portal.webhook_url(),
            default = self.s.user_default,
            op_maria = self.s.op_maria,
            user_maria = self.s.user_maria,
            db = self.db().display(),
        );
        let path = self.dir.path().join("config.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Comments on the portal whose text names `request_id` in its marker.
    pub fn comments_for(&self, request_id: i64) -> Vec<String> {
        self.portal
            .comments()
            .into_iter()
            .filter(|c| {
                chat2desk_b24::transcript::find_marker(&c.text)
                    .is_some_and(|m| m.request_id == request_id)
            })
            .map(|c| c.text)
            .collect()
    }
}

impl Env {
    /// The entity (type, id) holding the one comment of `request_id`.
    pub fn entity_of(&self, request_id: i64) -> (String, i64) {
        let texts = self.comments_for(request_id);
        assert_eq!(texts.len(), 1, "one comment for request {request_id}");
        let c = self
            .portal
            .comments()
            .into_iter()
            .find(|c| c.text == texts[0])
            .expect("the comment is on the portal");
        (c.entity_type, c.entity_id)
    }
}

/// A string field of a portal record.
pub fn field(row: &serde_json::Value, name: &str) -> String {
    match row.get(name) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) if !v.is_null() => v.to_string(),
        _ => String::new(),
    }
}

/// Kills the child process when dropped (a failing test leaves no daemon behind).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Path of the built binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chat2desk-b24"))
}
