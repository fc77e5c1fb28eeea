//! The Chat2Desk token and the portal's webhook secret never reach any output of the real
//! binary: not from `run` at trace level (with every kind of fault), not from `check`,
//! `status` or `config`, and not when the portal or Chat2Desk refuses the credentials.

mod common;

use chat2desk_b24::sim::faults::FaultKind;
use chat2desk_b24::sim::scenario;
use common::Env;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "tok-SECRET-1f2e3d";
const WEBHOOK_SECRET: &str = "whsec-SECRET-9a8b7c";
/// Tails of both secrets: a secret cut short in a message still leaks.
const FRAGMENTS: [&str; 4] = [TOKEN, WEBHOOK_SECRET, "1f2e3d", "9a8b7c"];

/// A config holding the distinctive token and secret, whatever the simulators accept.
fn write_config(env: &Env) -> PathBuf {
    env.config_file()
        .set("chat2desk.token", TOKEN)
        .set("chat2desk.timeout_secs", 2)
        .set(
            "bitrix24.webhook_url",
            format!("{}/rest/1/{WEBHOOK_SECRET}/", env.portal.base_url()),
        )
        .set("bitrix24.timeout_secs", 2)
        .set("sync.poll_strategy", "dialogs")
        .set("sync.max_attempts", 50)
        .set("sync.backoff_max_secs", 1)
        .write()
}

/// Runs a short command of the binary at trace level; its stdout and stderr together.
fn run_cmd(config: &Path, args: &[&str]) -> (Output, String) {
    let mut command = common::command(config, args);
    command.env("RUST_LOG", "trace");
    common::output(command)
}

/// Runs the daemon at trace level until `done` (or `limit`), stops it with SIGTERM and
/// returns everything it printed.
async fn run_daemon(
    config: &Path,
    dir: &Path,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> String {
    let out_path = dir.join("run.out");
    let err_path = dir.join("run.err");
    let mut child = common::run_command(config)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .expect("binary starts");
    let start = Instant::now();
    while !done() && start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    // The drain may wait for a call that is backing off; this test is about output only.
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    format!(
        "{}{}",
        std::fs::read_to_string(&out_path).unwrap(),
        std::fs::read_to_string(&err_path).unwrap()
    )
}

fn assert_no_secret(what: &str, text: &str) {
    for s in FRAGMENTS {
        if let Some(at) = text.find(s) {
            let from = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let to = text[at..].find('\n').map_or(text.len(), |i| at + i);
            panic!("{what}: `{s}` leaked in: {}", &text[from..to]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_output_of_run_check_status_and_config() {
    let env = Env::with_credentials(TOKEN, WEBHOOK_SECRET).await;
    let (c2d, portal, s, dir) = (&env.c2d, &env.portal, &env.s, &env.dir);
    let config = write_config(&env);

    let (out, text) = run_cmd(&config, &["check"]);
    assert!(
        out.status.success(),
        "check passes with the right secrets:\n{text}"
    );
    assert_no_secret("check", &text);

    let (out, text) = run_cmd(&config, &["config"]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("***"), "secrets are masked:\n{text}");
    assert_no_secret("config", &text);

    // Every kind of fault on both sides, so error and retry paths log too.
    for faults in [c2d.faults(), portal.faults()] {
        faults.set_hang(Duration::from_millis(2_500));
        faults.set_slow(Duration::from_millis(50));
        faults.set_random(0.2, &FaultKind::ALL);
    }
    let requests = scenario::converse(c2d, s);
    let text = run_daemon(&config, dir.path(), Duration::from_secs(40), || {
        requests.iter().all(|r| {
            portal.comments().iter().any(|c| {
                chat2desk_b24::flows::transcript::text::find_marker(&c.text)
                    .is_some_and(|m| m.request_id == *r)
            })
        })
    })
    .await;
    assert!(text.lines().count() > 50, "trace logging is on:\n{text}");
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "trace lines present"
    );
    assert_no_secret("run", &text);
    for r in &requests {
        assert!(
            portal
                .comments()
                .iter()
                .any(
                    |c| chat2desk_b24::flows::transcript::text::find_marker(&c.text)
                        .is_some_and(|m| m.request_id == *r)
                ),
            "request {r} synced while faults were on"
        );
    }

    let (out, text) = run_cmd(&config, &["status"]);
    assert!(out.status.success(), "{text}");
    assert_no_secret("status", &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_and_server_errors_do_not_leak_secrets() {
    // Both services expect other credentials than the config holds.
    let env = Env::with_credentials("tok-other-000000", "whsec-other-000000").await;
    let (c2d, s, dir) = (&env.c2d, &env.s, &env.dir);
    let config = write_config(&env);

    let (out, text) = run_cmd(&config, &["check"]);
    assert!(
        !out.status.success(),
        "check fails on refused credentials:\n{text}"
    );
    assert!(text.contains("FAIL"), "{text}");
    assert_no_secret("check (wrong credentials)", &text);

    for cmd in [&["operators"][..], &["channels"][..]] {
        let (out, text) = run_cmd(&config, cmd);
        assert!(!out.status.success(), "{cmd:?}:\n{text}");
        assert_no_secret(&format!("{cmd:?} (wrong credentials)"), &text);
    }

    // The daemon keeps running and keeps logging its auth errors.
    scenario::converse(c2d, s);
    let text = run_daemon(&config, dir.path(), Duration::from_secs(3), || false).await;
    assert!(text.lines().count() > 5, "{text}");
    assert_no_secret("run (wrong credentials)", &text);

    // Right credentials, but the portal answers 500 and HTML 502 for a while.
    let env = Env::with_credentials(TOKEN, WEBHOOK_SECRET).await;
    let (c2d, portal, s, dir) = (&env.c2d, &env.portal, &env.s, &env.dir);
    let config = write_config(&env);
    portal.faults().script([
        FaultKind::ServerError,
        FaultKind::BadGateway,
        FaultKind::ServerError,
    ]);
    let (_, text) = run_cmd(&config, &["check"]);
    assert_no_secret("check (server errors)", &text);
    portal
        .faults()
        .set_random(1.0, &[FaultKind::ServerError, FaultKind::BadGateway]);
    scenario::converse(c2d, s);
    let text = run_daemon(&config, dir.path(), Duration::from_secs(4), || false).await;
    assert!(text.lines().count() > 5, "{text}");
    assert_no_secret("run (server errors)", &text);
}
