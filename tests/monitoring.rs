//! The shipped Grafana dashboard and Prometheus rules (packaging/monitoring/) against a real
//! Prometheus (Debian's package) scraping the real binary that runs against the simulators:
//! `promtool check rules` passes, Prometheus loads every rule, every dashboard panel's and
//! every rule's expression returns a series, and a dead job fires the dead-jobs alert.
//!
//! Prometheus is required: CI installs it (scripts/install-ci-deps.sh). Where it is missing,
//! each test says so loudly and passes without checking anything.

mod common;

use common::{free_port, Binary, Env, KillOnDrop};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";
/// The scrape job name the rules expect (`up{job="chat2desk-b24"}`).
const JOB: &str = "chat2desk-b24";

fn monitoring(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/monitoring")
        .join(file)
}

fn prometheus_missing() -> bool {
    let missing = !Path::new(PROMETHEUS).exists() || !Path::new(PROMTOOL).exists();
    if missing {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             SKIPPED: {PROMETHEUS} or {PROMTOOL} is not installed, so the shipped dashboard\n\
             and alert rules are NOT tested. Install it: `apt-get install prometheus` (or\n\
             scripts/install-ci-deps.sh, which CI runs).\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
    }
    missing
}

#[test]
fn promtool_accepts_the_shipped_rules() {
    if prometheus_missing() {
        return;
    }
    let out = Command::new(PROMTOOL)
        .arg("check")
        .arg("rules")
        .arg(monitoring("chat2desk-b24.rules.yml"))
        .output()
        .expect("promtool runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool check rules:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

/// Prometheus on a free loopback port with a scratch data directory, scraping `target` every
/// second and evaluating the shipped rules every second.
struct Prometheus {
    _child: KillOnDrop,
    base: String,
    log: PathBuf,
}

impl Prometheus {
    async fn start(dir: &Path, target: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        let rules = monitoring("chat2desk-b24.rules.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {rules}\n\
                 scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target}']\n",
                rules = rules.display()
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(common::append(&log)))
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus {
            _child: KillOnDrop(child),
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        prometheus
            .wait("Prometheus ready", || async {
                let ready = reqwest::get(format!("{}/-/ready", prometheus.base)).await;
                ready.is_ok_and(|r| r.status() == 200).then_some(())
            })
            .await;
        prometheus
    }

    /// `GET /api/v1/<path>` with `query`; the `data` of a successful answer.
    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let answer: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/{path}", self.base))
            .query(query)
            .send()
            .await
            .expect("prometheus answers")
            .json()
            .await
            .expect("JSON");
        assert_eq!(answer["status"], "success", "{path} {query:?}: {answer}");
        answer["data"].clone()
    }

    /// Polls `probe` every 250 ms for up to 60 s.
    async fn wait<T, F: std::future::Future<Output = Option<T>>>(
        &self,
        what: &str,
        mut probe: impl FnMut() -> F,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for {what}; prometheus log:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Instant query; its series.
    async fn query(&self, expr: &str) -> Vec<Value> {
        let data = self.api("query", &[("query", expr)]).await;
        data["result"].as_array().cloned().unwrap_or_default()
    }
}

/// Every target expression of the dashboard, with Grafana's variables as Grafana would fill
/// them for one instance over the last hour.
fn dashboard_expressions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(monitoring("chat2desk-b24-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"]
                .as_str()
                .expect("expr")
                .replace("$__rate_interval", "1m")
                .replace("$__range", "1h")
                .replace("$instance", ".+");
            assert!(!expr.contains('$'), "an unknown variable in {expr}");
            out.push((panel["title"].as_str().unwrap().to_string(), expr));
        }
    }
    out
}

/// The daemon after a synced request and a dead job.
async fn daemon_with_a_dead_job(env: &Env) -> Binary {
    let daemon = env.spawn_daemon("").await;
    let request = env.close_and_deliver(&daemon).await;
    // A request Chat2Desk does not know: the worker gives it up.
    let unknown = serde_json::json!({"hook_type": "close_request", "request_id": 987_654_321});
    assert_eq!(daemon.post_webhook(unknown).await, 200);
    common::wait_for("the transcript", || env.comments_for(request).len() == 1).await;
    daemon
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_daemon_and_every_panel_and_rule_returns_a_series() {
    if prometheus_missing() {
        return;
    }
    let env = Env::new().await;
    let daemon = daemon_with_a_dead_job(&env).await;
    let prometheus =
        Prometheus::start(env.dir.path(), &format!("127.0.0.1:{}", daemon.metrics)).await;

    // The dead-jobs alert fires.
    let alert = prometheus
        .wait("the dead-jobs alert", || async {
            let data = prometheus.api("alerts", &[]).await;
            data["alerts"]
                .as_array()?
                .iter()
                .find(|a| {
                    a["labels"]["alertname"] == "Chat2DeskB24DeadJobs" && a["state"] == "firing"
                })
                .cloned()
        })
        .await;
    assert_eq!(alert["labels"]["job"], JOB, "{alert}");
    assert_eq!(
        alert["value"].as_str().map(|v| v.parse::<f64>().unwrap()),
        Some(1.0),
        "{alert}"
    );

    // Every rule loaded and evaluated without error.
    let groups = prometheus.api("rules", &[]).await;
    let rules: Vec<Value> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect();
    assert_eq!(rules.len(), 11, "every shipped rule is loaded: {groups}");
    for rule in &rules {
        assert_eq!(rule["health"], "ok", "{rule}");
    }

    // Every panel and every rule yields a series: a recording rule's whole expression, an
    // alert's signal (the part before its threshold).
    let mut expressions = dashboard_expressions();
    for rule in &rules {
        let query = rule["query"].as_str().unwrap();
        let signal = match rule["type"].as_str() {
            Some("alerting") => {
                query
                    .rsplit_once(" > ")
                    .or_else(|| query.rsplit_once(" < "))
                    .unwrap_or_else(|| panic!("alert `{query}` is `signal > threshold`"))
                    .0
            }
            _ => query,
        };
        expressions.push((
            rule["name"].as_str().unwrap().to_string(),
            signal.to_string(),
        ));
    }
    for (what, expr) in &expressions {
        let series = prometheus
            .wait(&format!("a series for {what}: {expr}"), || async {
                let series = prometheus.query(expr).await;
                (!series.is_empty()).then_some(series)
            })
            .await;
        assert!(!series.is_empty(), "{what}");
    }
    drop(daemon);
}
