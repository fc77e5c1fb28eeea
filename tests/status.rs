//! `status` as a monitoring check and a script use it, with the real binary on a real SQLite
//! file: exit 0 healthy, 1 degraded (dead jobs, a stale poll), 2 the state cannot be read;
//! `--json` parses in every case and carries the documented fields (docs/status-json.md);
//! and the command never creates the database.

mod common;

use chat2desk_b24::store::{Intake, JobKind, Location, Store};
use chat2desk_b24::store::{LAST_POLL_ERROR_KEY, LAST_POLL_KEY};
use chrono::Utc;
use common::{command, output};
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Setup {
    _dir: tempfile::TempDir,
    db: PathBuf,
    config: PathBuf,
}

/// A config whose database is `state.db` in a fresh directory (not created), polls judged
/// stale after 600 s.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state").join("state.db");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[chat2desk]\ntoken = \"t\"\n[bitrix24]\nwebhook_url = \"http://127.0.0.1:9/rest/1/abcdef/\"\n\
             [crm]\ndefault_responsibles = [1]\n[server]\nhealth_max_poll_age_secs = 600\n\
             [node]\nname = \"node-one\"\n[database]\npath = \"{}\"\n\
             [bitrix24.app]\nclient_id = \"local.1\"\nclient_secret = \"s\"\n\
             daemon_url = \"http://127.0.0.1:9\"\n[[openlines.lines]]\nline = 1\nchannels = [1]\n",
            db.display()
        ),
    )
    .unwrap();
    Setup {
        _dir: dir,
        db,
        config,
    }
}

/// Runs `status --json`: the exit code and the parsed object.
fn status_json(config: &Path) -> (i32, serde_json::Value, String) {
    let (out, text) = output(command(config, &["status", "--json"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("status --json printed no JSON ({e}):\n{text}"));
    (out.status.code().expect("exited"), value, text)
}

async fn store(s: &Setup) -> Store {
    Store::connect(&Location::Sqlite(s.db.clone()), "node-one")
        .await
        .unwrap()
}

#[test]
fn a_missing_database_is_exit_2_and_is_not_created() {
    let s = setup();
    let (out, text) = output(command(&s.config, &["status"]));
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("[database] path"), "names the key: {text}");
    assert!(text.contains("first start"), "says what to do: {text}");
    let (code, json, text) = status_json(&s.config);
    assert_eq!(code, 2, "{text}");
    assert_eq!(json["version"], 1);
    assert_eq!(json["health"], "unreadable");
    assert!(json["error"].as_str().unwrap().contains("[database] path"));
    assert!(!s.db.exists(), "status created the database");
    assert!(
        !s.db.parent().unwrap().exists(),
        "status created its directory"
    );
    // `openlines` and `app status` only look too.
    for args in [&["openlines"][..], &["app", "status"]] {
        let (out, text) = output(command(&s.config, args));
        assert!(!out.status.success(), "{text}");
        assert!(text.contains("[database] path"), "{args:?}: {text}");
        assert!(!s.db.exists(), "{args:?} created the database");
    }
}

#[test]
fn a_broken_config_is_exit_2_with_json() {
    let s = setup();
    std::fs::write(&s.config, "[chat2desk\n").unwrap();
    let (code, json, text) = status_json(&s.config);
    assert_eq!(code, 2, "{text}");
    assert_eq!(json["health"], "unreadable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_then_degraded_by_a_dead_job_then_healthy_after_retry() {
    let s = setup();
    let db = store(&s).await;
    db.register_node("9.9.9").await.unwrap();
    db.set_meta(LAST_POLL_KEY, &Utc::now().to_rfc3339())
        .await
        .unwrap();
    db.enqueue_many(JobKind::TRANSCRIPT, &[101, 102], Intake::Poll)
        .await
        .unwrap();

    let (code, json, text) = status_json(&s.config);
    assert_eq!(code, 0, "{text}");
    assert_eq!(json["version"], 1);
    assert_eq!(json["health"], "healthy");
    assert_eq!(json["problems"], serde_json::json!([]));
    assert_eq!(json["queue"]["pending"], 2);
    assert_eq!(json["queue"]["dead"], 0);
    assert!(json["queue"]["oldest_pending"].is_string(), "{json}");
    assert_eq!(json["last_poll"]["stale"], false);
    assert_eq!(json["last_poll"]["max_age_secs"], 600);
    assert_eq!(json["nodes"][0]["name"], "node-one");
    assert_eq!(json["nodes"][0]["version"], "9.9.9");
    assert!(json["app"].is_null());
    assert!(json["quota"]["month"].is_string());
    assert!(json["quota"]["calls"].is_u64());

    let job = db
        .claim(Utc::now(), Duration::from_secs(30), 1)
        .await
        .unwrap()
        .remove(0);
    db.bury(job.id, "portal refused crm.lead.add: ACCESS_DENIED")
        .await
        .unwrap();
    let (code, json, text) = status_json(&s.config);
    assert_eq!(code, 1, "{text}");
    assert_eq!(json["health"], "degraded");
    assert_eq!(json["queue"]["dead"], 1);
    let dead = &json["dead_jobs"][0];
    assert_eq!(dead["kind"], "transcript");
    assert_eq!(dead["key"], job.key);
    assert_eq!(dead["reason"], "portal refused crm.lead.add: ACCESS_DENIED");
    assert!(json["problems"][0]
        .as_str()
        .unwrap()
        .contains("retry --dead"));
    let (out, text) = output(command(&s.config, &["status"]));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Health: degraded (1 dead job(s)"), "{text}");

    db.retry_dead().await.unwrap();
    let (code, json, text) = status_json(&s.config);
    assert_eq!(code, 0, "{text}");
    assert_eq!(json["dead_jobs"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_poll_is_degraded_with_its_last_error() {
    let s = setup();
    let db = store(&s).await;
    db.register_node("9.9.9").await.unwrap();
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    db.set_meta(LAST_POLL_KEY, &hour_ago.to_rfc3339())
        .await
        .unwrap();
    db.set_meta(
        LAST_POLL_ERROR_KEY,
        "Chat2Desk GET /v1/requests: 401 Unauthorized",
    )
    .await
    .unwrap();
    let (code, json, text) = status_json(&s.config);
    assert_eq!(code, 1, "{text}");
    assert_eq!(json["last_poll"]["stale"], true);
    assert!(json["last_poll"]["age_secs"].as_i64().unwrap() >= 3600);
    assert_eq!(
        json["last_poll"]["error"],
        "Chat2Desk GET /v1/requests: 401 Unauthorized"
    );
    let problem = json["problems"][0].as_str().unwrap();
    assert!(
        problem.contains("limit 600 s") && problem.contains("401"),
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_no_daemon_started_on_is_not_judged_by_its_poll() {
    // `backfill` before the first start: jobs waiting, no poll yet, no node.
    let s = setup();
    let db = store(&s).await;
    db.enqueue_many(JobKind::TRANSCRIPT, &[7], Intake::Backfill)
        .await
        .unwrap();
    let (out, text) = output(command(&s.config, &["status"]));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Last poll: never"), "{text}");
    assert!(text.contains("Health: healthy"), "{text}");
}
