//! Exactly once without the state database, with the real binary: transcripts written, then
//! the state lost (deleted), restored from a copy `store backup` took halfway, or a second
//! daemon with its own SQLite file against the same portal. The daemon's first poll re-queues
//! the recent requests and `backfill --since` the rest; the markers on the timelines keep
//! every request at one comment.

mod common;

use chat2desk_b24::store::{JobKind, JobState, Store};
use common::{command, free_port, output, Binary, Env, WEBHOOK_SECRET};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Yesterday (UTC), for `backfill --since`.
fn yesterday() -> String {
    chrono::Utc::now()
        .date_naive()
        .pred_opt()
        .expect("a day before")
        .to_string()
}

/// Runs `chat2desk-b24 -c config <args>` to its end; asserts it succeeded; its output.
async fn run_ok(config: &Path, args: &[&str]) -> String {
    let config = config.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (out, text) = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        output(command(&config, &args))
    })
    .await
    .expect("command task");
    assert!(out.status.success(), "{text}");
    text
}

/// Waits (up to 60 s) until every one of `requests` is done in the SQLite file `db` of
/// `daemon`.
async fn wait_done(db: &Path, daemon: &Binary, requests: &[i64]) {
    let start = Instant::now();
    loop {
        let store = Store::open(db).await.expect("the state database opens");
        let mut done = 0;
        for r in requests {
            let job = store.job(JobKind::TRANSCRIPT, *r).await.expect("job read");
            if let Some(job) = job {
                assert_ne!(job.state, JobState::Dead, "{r}: {:?}", job.last_error);
                done += usize::from(job.state == JobState::Done);
            }
        }
        store.close().await;
        if done == requests.len() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{done}/{} requests synced; log:\n{}",
            requests.len(),
            daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Exactly one comment per request on the portal.
fn assert_once(env: &Env, requests: &[i64]) {
    for r in requests {
        assert_eq!(env.comments_for(*r).len(), 1, "request {r}");
    }
}

/// Removes the SQLite file `db` with its WAL and shared-memory files.
fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}

/// Closes `n` new clients' conversations (webhooks to `daemon`) plus the demo's own
/// (existing clients, an open and a closed lead; queued by a backfill, as their close times
/// may predate the first poll's watermark); the request ids.
async fn write_transcripts(env: &Env, daemon: &Binary, n: usize) -> Vec<i64> {
    let mut requests = chat2desk_b24::sim::scenario::converse(&env.c2d, &env.s);
    run_ok(&daemon.config, &["backfill", "--since", &yesterday()]).await;
    for _ in 0..n {
        requests.push(env.close_and_deliver(daemon).await);
    }
    wait_done(&env.db(), daemon, &requests).await;
    assert_once(env, &requests);
    requests
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_state_database_writes_no_transcript_twice() {
    let env = Env::new().await;
    let mut daemon = env.spawn_daemon("").await;
    let requests = write_transcripts(&env, &daemon, 4).await;
    let comments = env.portal.comments().len();

    daemon.kill9();
    remove_db(&env.db());
    daemon.restart().await;
    let out = run_ok(&daemon.config, &["backfill", "--since", &yesterday()]).await;
    assert!(out.contains("queued"), "{out}");
    wait_done(&env.db(), &daemon, &requests).await;

    assert_once(&env, &requests);
    assert_eq!(env.portal.comments().len(), comments, "no comment added");
    assert!(
        daemon
            .log_tail()
            .contains("Found parts of the transcript on the timeline already"),
        "{}",
        daemon.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_restored_from_a_backup_taken_halfway_writes_each_transcript_once() {
    let env = Env::new().await;
    let mut daemon = env.spawn_daemon("").await;
    let mut requests = write_transcripts(&env, &daemon, 3).await;
    // A backup while the daemon runs.
    let copy = env.dir.path().join("backup.db");
    let out = run_ok(&daemon.config, &["store", "backup", copy.to_str().unwrap()]).await;
    assert!(out.contains("backup.db"), "{out}");
    let again = output(command(
        &daemon.config,
        &["store", "backup", copy.to_str().unwrap()],
    ));
    assert!(
        !again.0.status.success(),
        "an existing file is never overwritten"
    );
    for _ in 0..3 {
        requests.push(env.close_and_deliver(&daemon).await);
    }
    wait_done(&env.db(), &daemon, &requests).await;
    // One more closed while the daemon is down: found by the poll after the restore.
    daemon.kill9();
    let client = env.c2d.add_client(
        "Клиент после копии",
        Some("79009998877"),
        "whatsapp",
        env.s.channel,
    );
    env.c2d
        .client_says(client, "Здравствуйте, я снова с вопросом");
    requests.push(env.c2d.close_request(client));

    remove_db(&env.db());
    std::fs::copy(&copy, env.db()).expect("restore the copy");
    daemon.restart().await;
    run_ok(&daemon.config, &["backfill", "--since", &yesterday()]).await;
    wait_done(&env.db(), &daemon, &requests).await;
    assert_once(&env, &requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_with_its_own_state_writes_nothing_twice() {
    let env = Env::new().await;
    let first = env.spawn_daemon("").await;
    let mut requests = write_transcripts(&env, &first, 3).await;

    // The second daemon, by mistake, on the same portal with its own SQLite file.
    let db = env.dir.path().join("second.db");
    let (listen, metrics) = (free_port(), free_port());
    let config = env
        .config_file()
        .set("server.listen", format!("127.0.0.1:{listen}"))
        .set("server.metrics_listen", format!("127.0.0.1:{metrics}"))
        .set("server.webhook_secret", WEBHOOK_SECRET)
        .set("database.path", db.display().to_string())
        .write_as("second.toml");
    let mut second = Binary {
        child: None,
        config,
        listen,
        metrics,
        log: env.dir.path().join("second.log"),
    };
    second.restart().await;
    run_ok(&second.config, &["backfill", "--since", &yesterday()]).await;
    wait_done(&db, &second, &requests).await;
    assert_once(&env, &requests);

    // New closes while the second is down (two daemons on one request at the same moment
    // can both write: nothing shares a lock between two state files); its restart's poll
    // and a backfill see them after the first wrote them.
    second.kill9();
    for _ in 0..3 {
        requests.push(env.close_and_deliver(&first).await);
    }
    wait_done(&env.db(), &first, &requests).await;
    second.restart().await;
    run_ok(&second.config, &["backfill", "--since", &yesterday()]).await;
    wait_done(&db, &second, &requests).await;
    assert_once(&env, &requests);
}

/// The business-process activity's secret in these tests.
const BIZPROC_SECRET: &str = "bizproc-secret-0123456789";

/// Posts a business-process call for the workflow whose token is `token` the way the PHP
/// activity does (to the lead `lead`, sending `text` to the scenario's known client).
async fn post_send_call(env: &Env, daemon: &Binary, token: &str, lead: i64, text: &str) {
    let encode = chat2desk_b24::portal::query::percent_encode;
    let form = format!(
        "workflow_id=wf1&code=chat2desk_send&document_id[0]=crm&document_id[1]=CCrmDocumentLead\
         &document_id[2]=LEAD_{lead}&document_type[0]=crm&document_type[1]=CCrmDocumentLead\
         &document_type[2]=LEAD&event_token={}&properties[channel_id]={}\
         &properties[phone]=79607940401&properties[text]={}&use_subscription=Y\
         &timeout_duration=3600&ts={}&auth[application_token]={BIZPROC_SECRET}",
        encode(token),
        env.s.channel,
        encode(text),
        chrono::Utc::now().timestamp(),
    );
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/bizproc/send", daemon.listen))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("the daemon answers");
    assert_eq!(answer.status(), 202, "the call is queued");
}

/// Waits (up to 30 s) until the portal saw `n` `bizproc.event.send` calls for `token`;
/// their `RETURN_VALUES`.
async fn event_sends(env: &Env, daemon: &Binary, token: &str, n: usize) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let sends: Vec<serde_json::Value> = env
            .portal
            .event_sends()
            .into_iter()
            .filter(|e| e.params["EVENT_TOKEN"] == token)
            .map(|e| e.params["RETURN_VALUES"].clone())
            .collect();
        if sends.len() >= n {
            return sends;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{} of {n} bizproc.event.send; log:\n{}",
            sends.len(),
            daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_process_call_delivered_again_after_the_state_was_lost_is_not_sent_again() {
    let env = Env::new().await;
    env.c2d.client_says(env.s.client_existing, "Здравствуйте");
    let extra =
        format!("[bizproc]\nsecret = \"{BIZPROC_SECRET}\"\n[sync]\npoll_strategy = \"off\"\n");
    let mut daemon = env.spawn_daemon(&extra).await;
    let lead = env.s.lead_existing;
    let document = format!("LEAD_{lead}");
    let wf = env
        .portal
        .issue_workflow(&["crm", "CCrmDocumentLead", &document]);
    env.portal.save_workflow(&wf.event_token);
    post_send_call(&env, &daemon, &wf.event_token, lead, "Ваш заказ готов").await;
    let first = event_sends(&env, &daemon, &wf.event_token, 1).await;
    assert_eq!(first[0]["sent"], "Y", "{first:?}");
    assert_eq!(env.c2d.message_posts().len(), 1);

    // The state is lost; the same call (the same event_token) is delivered again.
    daemon.kill9();
    remove_db(&env.db());
    daemon.restart().await;
    post_send_call(&env, &daemon, &wf.event_token, lead, "Ваш заказ готов").await;
    let both = event_sends(&env, &daemon, &wf.event_token, 2).await;
    let posts = env.c2d.message_posts();
    assert_eq!(posts.len(), 1, "the message is not sent again: {posts:#?}");
    assert_eq!(
        both[1]["message_id"], both[0]["message_id"],
        "the second run reports the message it found"
    );
    // A different call with the same text is a message of its own.
    let other = env
        .portal
        .issue_workflow(&["crm", "CCrmDocumentLead", &document]);
    env.portal.save_workflow(&other.event_token);
    post_send_call(&env, &daemon, &other.event_token, lead, "Ваш заказ готов").await;
    event_sends(&env, &daemon, &other.event_token, 1).await;
    assert_eq!(
        env.c2d.message_posts().len(),
        2,
        "another call sends its message"
    );
}
