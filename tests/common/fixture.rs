//! The one test fixture of tests/ and benches/: both simulators seeded with the demo company, a
//! scratch directory, ONE builder for the config file the binary reads, and the real binary on
//! free loopback ports. Tests use it through `mod common`, benches through a `#[path]` module.
#![allow(dead_code)]

use chat2desk_b24::app::{build, Daemon};
use chat2desk_b24::config::{Config, Integration};
use chat2desk_b24::sim::bitrix24::PortalSim;
use chat2desk_b24::sim::chat2desk::Chat2DeskSim;
use chat2desk_b24::sim::scenario::{self, Scenario};
use chat2desk_b24::store::{JobKind, JobState, Store};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The webhook secret of [`Env::spawn_daemon`].
pub const WEBHOOK_SECRET: &str = "fixture-secret-0123456789abcdef";

/// Simulators seeded with the demo company, plus a scratch directory.
pub struct Env {
    /// Chat2Desk simulator.
    pub c2d: Chat2DeskSim,
    /// Portal simulator.
    pub portal: PortalSim,
    /// Demo company (operators, users, channel, clients).
    pub s: Scenario,
    /// Scratch directory (database, config, logs).
    pub dir: TempDir,
}

impl Env {
    /// Simulators with their own credentials.
    pub async fn new() -> Self {
        let c2d = Chat2DeskSim::start().await.expect("chat2desk sim");
        let portal = PortalSim::start().await.expect("portal sim");
        Self::seeded(c2d, portal)
    }

    /// Simulators that accept only `token` and the webhook secret `secret`.
    pub async fn with_credentials(token: &str, secret: &str) -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let c2d = Chat2DeskSim::start_with_token(loopback, token)
            .await
            .expect("chat2desk sim");
        let portal = PortalSim::start_with_secret(loopback, secret)
            .await
            .expect("portal sim");
        Self::seeded(c2d, portal)
    }

    fn seeded(c2d: Chat2DeskSim, portal: PortalSim) -> Self {
        let s = scenario::seed(&c2d, &portal);
        Env {
            c2d,
            portal,
            s,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The state database.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    /// The scenario's in-process config with an integration type.
    pub fn config(&self, integration: Integration) -> Config {
        let mut c = scenario::config(&self.c2d, &self.portal, &self.s, &self.db());
        c.crm.integration = integration;
        c
    }

    /// Builds the daemon in-process and runs its first poll (before any conversation, as in
    /// real life).
    pub async fn daemon(&self, config: Config) -> Daemon {
        let d = build(config).await.expect("daemon builds");
        d.poller.poll_once().await.expect("first poll");
        d
    }

    /// The config file of the binary with the fixture's values, to be adjusted and written.
    pub fn config_file(&self) -> ConfigFile {
        ConfigFile::new(self)
    }

    /// Writes the config file: the fixture's values with `integration`, merged with the TOML
    /// in `extra` (its keys win).
    pub fn write_config(&self, integration: &str, extra: &str) -> PathBuf {
        self.config_file()
            .set("crm.integration", integration)
            .merge(extra)
            .write()
    }

    /// Comments on the portal whose text names `request_id` in its marker.
    pub fn comments_for(&self, request_id: i64) -> Vec<String> {
        self.portal
            .comments()
            .into_iter()
            .filter(|c| {
                chat2desk_b24::flows::transcript::text::find_marker(&c.text)
                    .is_some_and(|m| m.request_id == request_id)
            })
            .map(|c| c.text)
            .collect()
    }

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

    /// Waits (up to 60 s) until every one of `requests` is done in the state database; a
    /// dead one fails the test with its reason.
    pub async fn wait_all_done(&self, requests: &[i64]) {
        self.wait_all_done_within(requests, Duration::from_secs(60))
            .await;
    }

    /// [`Env::wait_all_done`] with another limit.
    pub async fn wait_all_done_within(&self, requests: &[i64], timeout: Duration) {
        let store = Store::open(&self.db())
            .await
            .expect("the state database opens");
        let start = Instant::now();
        loop {
            let mut done = 0;
            for r in requests {
                let job = store.job(JobKind::TRANSCRIPT, *r).await.expect("job read");
                if let Some(job) = job {
                    assert_ne!(
                        job.state,
                        JobState::Dead,
                        "request {r}: {:?}",
                        job.last_error
                    );
                    done += usize::from(job.state == JobState::Done);
                }
            }
            if done == requests.len() {
                store.close().await;
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "{done}/{} requests synced",
                requests.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The real binary on free ports with `WEBHOOK_SECRET` and a separate metrics listener,
    /// with `extra` TOML merged into the config; returns once `/healthz` answers.
    pub async fn spawn_daemon(&self, extra: &str) -> Binary {
        self.spawn_daemon_at(free_port(), extra).await
    }

    /// [`Env::spawn_daemon`] with the webhook listener on `listen` (for URLs that must be
    /// known before the daemon starts, such as a local application's handler).
    pub async fn spawn_daemon_at(&self, listen: u16, extra: &str) -> Binary {
        let metrics = free_port();
        let config = self
            .config_file()
            .set("server.listen", format!("127.0.0.1:{listen}"))
            .set("server.metrics_listen", format!("127.0.0.1:{metrics}"))
            .set("server.webhook_secret", WEBHOOK_SECRET)
            .merge(extra)
            .write();
        let log = self.dir.path().join("daemon.log");
        let mut binary = Binary {
            child: None,
            config,
            listen,
            metrics,
            log,
        };
        binary.restart().await;
        binary
    }

    /// A new client's conversation, closed, and its `close_request` webhook posted to
    /// `daemon` (answered 200); the request id.
    pub async fn close_and_deliver(&self, daemon: &Binary) -> i64 {
        static CLIENTS: AtomicU64 = AtomicU64::new(0);
        let n = CLIENTS.fetch_add(1, Ordering::Relaxed);
        let client = self.c2d.add_client(
            &format!("Клиент {n}"),
            Some(&format!("7900{n:07}")),
            "whatsapp",
            self.s.channel,
        );
        self.c2d
            .client_says(client, "Добрый день, вопрос по договору");
        let request = self.c2d.close_request(client);
        let status = daemon
            .post_webhook(serde_json::json!({"hook_type": "close_request", "request_id": request}))
            .await;
        assert_eq!(status, 200, "the close_request webhook is accepted");
        request
    }
}

/// The config file of the binary as a TOML table: the fixture's values (the keys are the
/// contract), adjusted with [`ConfigFile::set`] and [`ConfigFile::merge`].
#[derive(Debug, Clone)]
pub struct ConfigFile {
    table: toml::Table,
    path: PathBuf,
}

impl ConfigFile {
    fn new(env: &Env) -> Self {
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
integration = "lead"
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

[server]
# A free port per test: tests run in parallel.
listen = "127.0.0.1:0"
"#,
            c2d = env.c2d.url(),
            token = env.c2d.token(),
            portal = env.portal.webhook_url(),
            default = env.s.user_default,
            op_maria = env.s.op_maria,
            user_maria = env.s.user_maria,
            db = env.db().display(),
        );
        ConfigFile {
            table: text.parse().expect("the fixture's TOML parses"),
            path: env.dir.path().join("config.toml"),
        }
    }

    /// Sets `section.key` (or a top-level `key`) to `value`.
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        let (section, key) = key
            .split_once('.')
            .map_or((None, key), |(s, k)| (Some(s), k));
        let table = match section {
            None => &mut self.table,
            Some(section) => self
                .table
                .entry(section)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .expect("a section is a table"),
        };
        table.insert(key.to_string(), value.into());
        self
    }

    /// Removes `section.key`.
    pub fn remove(mut self, key: &str) -> Self {
        let (section, key) = key.split_once('.').expect("section.key");
        if let Some(table) = self.table.get_mut(section).and_then(|t| t.as_table_mut()) {
            table.remove(key);
        }
        self
    }

    /// Merges the TOML document `text` in: its keys win, its sections extend ours.
    pub fn merge(mut self, text: &str) -> Self {
        let extra: toml::Table = text.parse().expect("the extra TOML parses");
        for (name, value) in extra {
            match (self.table.get_mut(&name), value) {
                (Some(toml::Value::Table(ours)), toml::Value::Table(theirs)) => ours.extend(theirs),
                (_, value) => {
                    self.table.insert(name, value);
                }
            }
        }
        self
    }

    /// Writes `config.toml` in the scratch directory; its path.
    pub fn write(&self) -> PathBuf {
        std::fs::write(&self.path, self.table.to_string()).expect("write config");
        self.path.clone()
    }

    /// Writes the file `name` next to `config.toml` (one per node); its path.
    pub fn write_as(&self, name: &str) -> PathBuf {
        let path = self.path.with_file_name(name);
        std::fs::write(&path, self.table.to_string()).expect("write config");
        path
    }
}

/// Path of the built binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_chat2desk-b24"))
}

/// `chat2desk-b24 -c config run`, outside systemd, output discarded unless redirected.
pub fn run_command(config: &Path) -> Command {
    command(config, &["run"])
}

/// `chat2desk-b24 -c config <args>`, outside systemd, output discarded unless redirected.
pub fn command(config: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .arg("-c")
        .arg(config)
        .args(args)
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Runs a short command to its end; its output and its stdout and stderr as one text.
pub fn output(mut command: Command) -> (std::process::Output, String) {
    let out = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// The last 40 lines of the file at `path` (a log).
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `path` opened for appending (a log across restarts).
pub fn append(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("log file")
}

/// A free loopback port (the binary binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

/// Polls `done` every 20 ms for up to 30 s.
pub async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Kills the child process when dropped (a failing test leaves no process behind).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The real binary started by [`Env::spawn_daemon`].
pub struct Binary {
    /// The process while it runs (killed on drop).
    pub child: Option<KillOnDrop>,
    /// Its config file.
    pub config: PathBuf,
    /// Port of the webhook listener.
    pub listen: u16,
    /// Port of `/healthz` and `/metrics`.
    pub metrics: u16,
    /// Its stderr.
    pub log: PathBuf,
}

impl Binary {
    /// `http://127.0.0.1:<metrics port><path>`.
    pub fn metrics_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.metrics)
    }

    /// Its webhook URL, secret included.
    pub fn webhook_url(&self) -> String {
        format!("http://127.0.0.1:{}/webhook/{WEBHOOK_SECRET}", self.listen)
    }

    /// SIGKILL: no drain, no cleanup.
    pub fn kill9(&mut self) {
        self.child = None;
    }

    /// Starts it (again) with the same config, RUST_LOG=chat2desk_b24=debug; returns once
    /// `/healthz` answers.
    pub async fn restart(&mut self) {
        self.kill9();
        let child = run_command(&self.config)
            .env("RUST_LOG", "chat2desk_b24=debug")
            .stderr(Stdio::from(append(&self.log)))
            .spawn()
            .expect("binary starts");
        self.child = Some(KillOnDrop(child));
        self.wait_listening().await;
    }

    /// Posts `body` to the webhook URL; the status.
    pub async fn post_webhook(&self, body: serde_json::Value) -> u16 {
        reqwest::Client::new()
            .post(self.webhook_url())
            .json(&body)
            .send()
            .await
            .expect("webhook answers")
            .status()
            .as_u16()
    }

    /// The `/metrics` page.
    pub async fn scrape(&self) -> String {
        reqwest::get(self.metrics_url("/metrics"))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics body")
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    async fn wait_listening(&self) {
        let start = Instant::now();
        while reqwest::get(self.metrics_url("/healthz")).await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the daemon did not start listening; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
