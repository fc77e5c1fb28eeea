//! Opening a database: a failure names the path and the fix, processes opening a fresh file at
//! once, and (MariaDB only) nodes starting at once and `store migrate`.

use super::backend::Fixture;
use chat2desk_b24::store::{Backend, Cause, Intake, JobKind, Location, Store};
use chrono::Utc;
use serde_json::json;

use super::backend;
use super::{later, LEASE};

#[tokio::test]
async fn open_failure_names_the_path_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let path = file.join("state.db");
    let err = Store::open(&path).await.unwrap_err();
    assert_eq!(err.operation(), "open");
    assert_eq!(err.database(), path.display().to_string());
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(err.hint().contains("[database] path"));
    assert!(!err.is_transient());

    // A file that is not a database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let err = Store::open(&junk).await.unwrap_err();
    assert!(!err.is_transient(), "{err}");
}

#[test]
fn processes_opening_a_fresh_database_at_once_all_succeed() {
    // The daemon's first start racing `chat2desk-b24 retry --dead` (a command that writes, so
    // it creates the file; `status` only reads): several processes run the first migration
    // on one new file at the same moment; every one must open it.
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let db = dir.path().join(format!("fresh-{round}.db"));
        let config = dir.path().join(format!("config-{round}.toml"));
        std::fs::write(
            &config,
            format!(
                "[chat2desk]\ntoken = \"t\"\n[bitrix24]\nwebhook_url = \"http://127.0.0.1:9/rest/1/abcdef/\"\n\
                 [crm]\ndefault_responsibles = [1]\n[database]\npath = \"{}\"\n",
                db.display()
            ),
        )
        .unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_chat2desk-b24"))
                    .arg("-c")
                    .arg(&config)
                    .args(["retry", "--dead"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in handles {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "a concurrent first open failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// MariaDB only: several nodes starting on one fresh database at once all migrate it, and
/// `store migrate` copies a SQLite state over, refusing a database that already has data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_nodes_start_at_once_and_store_migrate_copies_sqlite_state() {
    let Some(server) = backend::mariadb::MariaDb::start() else {
        return;
    };
    // Six nodes open a fresh database at the same moment.
    let url = chat2desk_b24::config::Secret::new(server.create_database());
    let location = Location::MySql(url.clone());
    let opens: Vec<_> = (0..6)
        .map(|i| {
            let location = location.clone();
            tokio::spawn(async move { Store::connect(&location, &format!("node-{i}")).await })
        })
        .collect();
    for open in opens {
        let store = open
            .await
            .unwrap()
            .expect("a concurrent first start migrates");
        assert_eq!(store.backend(), Backend::MySql);
        store.ping().await.unwrap();
    }
    // The password never shows in the database's name.
    let shown = Store::connect(&location, "n")
        .await
        .unwrap()
        .name()
        .to_string();
    assert!(
        shown.contains("***") && !shown.contains("c2d-test-pw"),
        "{shown}"
    );

    // A SQLite state with something in every table.
    let sqlite = Fixture::sqlite().await;
    let source = sqlite.store.clone();
    source
        .enqueue_many(JobKind::TRANSCRIPT, &[11, 12, 13, 14], Intake::Poll)
        .await
        .unwrap();
    let jobs = source.claim(Utc::now(), LEASE, 3).await.unwrap();
    source
        .complete(jobs[0].id, &json!({"comment_ids": [7]}))
        .await
        .unwrap();
    source.bury(jobs[1].id, "request not found").await.unwrap();
    let running = &jobs[2];
    source
        .save_steps(running.id, &json!({"entity": ["lead", 3]}), later(30))
        .await
        .unwrap();
    let keys = [chat2desk_b24::store::ClientKey::phone("+79160000001")];
    source
        .try_claim_clients(running.id, &keys, Utc::now())
        .await
        .unwrap();
    source
        .remember_clients(
            &keys,
            &[chat2desk_b24::store::ClientRecord {
                scope: "crm.lead",
                id: 3,
            }],
        )
        .await
        .unwrap();
    source
        .record_scan(
            &[(500, 50), (501, 51)],
            &[("poll.messages.cursor", "9000".into())],
        )
        .await
        .unwrap();
    source
        .set_meta("poll.last_success_at", "2026-01-01T00:00:00Z")
        .await
        .unwrap();

    let target_url = server.create_database();
    let target = Store::connect(
        &Location::MySql(chat2desk_b24::config::Secret::new(target_url.clone())),
        source.node(),
    )
    .await
    .unwrap();
    let report = source.copy_into(&target).await.unwrap();
    assert_eq!(report.tables.get("jobs"), Some(&4));
    assert_eq!(report.tables.get("meta"), Some(&2));
    assert_eq!(report.tables.get("candidates"), Some(&2));
    assert_eq!(report.tables.get("client_claims"), Some(&1));
    assert_eq!(report.tables.get("client_records"), Some(&1));
    assert!(!report.tables.contains_key("nodes"));

    for key in [11, 12, 13, 14] {
        assert_eq!(
            target.job(JobKind::TRANSCRIPT, key).await.unwrap(),
            source.job(JobKind::TRANSCRIPT, key).await.unwrap(),
            "job {key} copied field for field"
        );
    }
    assert_eq!(
        target.counts().await.unwrap(),
        source.counts().await.unwrap()
    );
    assert_eq!(
        target.candidates().await.unwrap(),
        vec![(500, 50), (501, 51)]
    );
    assert_eq!(
        target
            .meta("poll.messages.cursor")
            .await
            .unwrap()
            .as_deref(),
        Some("9000")
    );
    let records = target
        .client_records(&keys, Utc::now() - chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!((records[0].scope.as_str(), records[0].id), ("crm.lead", 3));
    // The running job's claim came along: another job of that client waits for it.
    target
        .enqueue(JobKind::TRANSCRIPT, 15, Intake::Poll)
        .await
        .unwrap();
    let other = target.claim(Utc::now(), LEASE, 5).await.unwrap();
    let fifteen = other.iter().find(|j| j.key == 15).unwrap();
    assert!(
        fifteen.id > running.id,
        "new ids continue after the copied ones"
    );
    assert_eq!(
        target
            .try_claim_clients(fifteen.id, &keys, Utc::now())
            .await
            .unwrap(),
        chat2desk_b24::store::ClaimAttempt::HeldBy(running.id)
    );

    // Copying again: refused, nothing written.
    let err = source.copy_into(&target).await.unwrap_err();
    assert!(matches!(err.cause(), Cause::NotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("already holds data"), "{err}");
    assert!(err.hint().contains("empty database"), "{}", err.hint());
    assert_eq!(
        target.counts().await.unwrap().pending + target.counts().await.unwrap().running,
        3
    );

    // The command: a fresh SQLite file through `store migrate --to`, then `status` on the
    // shared database.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let seeded = Store::open(&db).await.unwrap();
    seeded
        .enqueue_many(JobKind::TRANSCRIPT, &[1, 2, 3], Intake::Backfill)
        .await
        .unwrap();
    seeded.close().await;
    let config = dir.path().join("config.toml");
    let common = "[chat2desk]\ntoken = \"t\"\n[bitrix24]\nwebhook_url = \"http://127.0.0.1:9/rest/1/abcdef/\"\n\
                  [crm]\ndefault_responsibles = [1]\n[node]\nname = \"node-one\"\n";
    std::fs::write(
        &config,
        format!("{common}[database]\npath = \"{}\"\n", db.display()),
    )
    .unwrap();
    let run = |config: &std::path::Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_chat2desk-b24"))
            .arg("-c")
            .arg(config)
            .args(args)
            .output()
            .unwrap()
    };
    let fresh = server.create_database();
    let out = run(&config, &["store", "migrate", "--to", &fresh]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("jobs") && stdout.contains("3 row(s)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("c2d-test-pw"),
        "the password is not printed: {stdout}"
    );
    let out = run(&config, &["store", "migrate", "--to", &fresh]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("already holds data"), "{stderr}");
    assert!(!stderr.contains("c2d-test-pw"), "{stderr}");

    let shared = dir.path().join("shared.toml");
    std::fs::write(&shared, format!("{common}[database]\nurl = \"{fresh}\"\n")).unwrap();
    let out = run(&shared, &["status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Queue: 3 pending"), "{stdout}");
    assert!(
        stdout.contains("Leader: none") || stdout.contains("Nodes: none"),
        "{stdout}"
    );
    let out = run(&shared, &["config"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("url = \"mysql://c2d_test:***@127.0.0.1"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("c2d-test-pw") && !stdout.contains("path ="),
        "{stdout}"
    );
}
