//! `webhook show` and `webhook delete` with the real binary against the Chat2Desk
//! simulator: the table's header and notes, `--json`, the events the configuration needs
//! that an older registration lacks, and the uninstall path that removes ours only.

mod common;

use common::{command, output, Env, WEBHOOK_SECRET};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A config with the webhook secret (no daemon needs to run for these commands).
fn config(env: &Env) -> PathBuf {
    env.config_file()
        .set("server.webhook_secret", WEBHOOK_SECRET)
        .write()
}

/// Runs `chat2desk-b24 -c config <args>`; asserts it succeeded; its output.
fn run_ok(config: &Path, args: &[&str]) -> String {
    let (out, text) = output(command(config, args));
    assert!(out.status.success(), "{args:?}: {text}");
    text
}

/// Registers a webhook straight on the simulator (another application's, or one an older
/// version of this tool registered).
async fn register(env: &Env, name: &str, url: &str, events: &[&str]) {
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/webhooks", env.c2d.url()))
        .header("Authorization", env.c2d.token())
        .json(&json!({ "url": url, "name": name, "events": events }))
        .send()
        .await
        .expect("the simulator answers");
    assert!(answer.status().is_success(), "{answer:?}");
}

/// `webhook show --json`, parsed.
fn show_json(config: &Path) -> Vec<Value> {
    let text = run_ok(config, &["webhook", "show", "--json"]);
    let line = text
        .lines()
        .find(|l| l.starts_with('['))
        .unwrap_or_else(|| panic!("a JSON array in: {text}"));
    serde_json::from_str::<Value>(line)
        .expect("show --json prints JSON")
        .as_array()
        .cloned()
        .expect("an array")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_marks_ours_and_its_missing_events_and_delete_removes_only_ours() {
    let env = Env::new().await;
    let config = config(&env);
    let empty = run_ok(&config, &["webhook", "show"]);
    assert!(empty.contains("No webhooks registered"), "{empty}");

    // Another application's hook, and ours as an older version registered it.
    register(
        &env,
        "crm-other",
        "https://other.example.com/hook",
        &["inbox"],
    )
    .await;
    let ours = format!("https://c2d.example.com/webhook/{WEBHOOK_SECRET}");
    register(
        &env,
        "chat2desk-b24",
        &ours,
        &["close_request", "close_dialog"],
    )
    .await;

    let table = run_ok(&config, &["webhook", "show"]);
    assert!(table.contains("ID\tNAME\tURL\tEVENTS\tNOTE"), "{table}");
    assert!(
        !table.contains(WEBHOOK_SECRET),
        "the secret is masked: {table}"
    );
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} listed: {table}"))
            .to_string()
    };
    assert!(
        row("chat2desk-b24").contains("missing client_updated: run `webhook set` again"),
        "{table}"
    );
    assert!(row("crm-other").ends_with("\t-"), "{table}");

    let rows = show_json(&config);
    let by_name = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {rows:?}"))
    };
    let mine = by_name("chat2desk-b24");
    assert_eq!(mine["ours"], true);
    assert_eq!(mine["missing"], json!(["client_updated"]));
    assert_eq!(mine["url"], "https://c2d.example.com/webhook/***");
    let other = by_name("crm-other");
    assert_eq!(
        (other["ours"].clone(), other["missing"].clone()),
        (json!(false), json!([]))
    );

    // `set` brings ours up to date: nothing missing any more.
    run_ok(&config, &["webhook", "set", "https://c2d.example.com"]);
    let mine = show_json(&config)
        .into_iter()
        .find(|r| r["ours"] == true)
        .expect("ours still listed");
    assert_eq!(mine["missing"], json!([]));
    assert_eq!(
        mine["events"],
        json!(["close_request", "close_dialog", "client_updated"])
    );

    let deleted = run_ok(&config, &["webhook", "delete"]);
    assert!(deleted.contains("Deleted webhook"), "{deleted}");
    assert!(!deleted.contains(WEBHOOK_SECRET), "{deleted}");
    let left = show_json(&config);
    let names: Vec<&str> = left.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["crm-other"], "another application's hook stays");
    let again = run_ok(&config, &["webhook", "delete"]);
    assert!(again.contains("nothing to delete"), "{again}");
}
