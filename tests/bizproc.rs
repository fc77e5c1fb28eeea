//! The business-process action over real HTTP: the portal simulator runs a "workflow" that
//! posts to the daemon the way the PHP activity does; the daemon sends through the
//! Chat2Desk simulator and completes the workflow with `bizproc.event.send`.

mod common;

use chat2desk_b24::app::build;
use chat2desk_b24::config::{Config, Integration, PollStrategy, Secret};
use chat2desk_b24::engine::{Outcome, Steps};
use chat2desk_b24::flows::bizproc::SendProgress;
use chat2desk_b24::sim::bitrix24::SimWorkflow;
use chat2desk_b24::store::{JobKind, JobState, Store};
use common::{binary, field, Env, KillOnDrop};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "bizproc-secret-0123456789";

/// The daemon in-process: server and worker.
struct Running {
    url: String,
    db: std::path::PathBuf,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    async fn start(env: &Env, tweak: impl FnOnce(&mut Config)) -> Running {
        let mut config = env.config(Integration::Lead);
        config.server.listen = "127.0.0.1:0".into();
        config.bizproc.secret = Secret::new(SECRET);
        config.sync.poll_strategy = PollStrategy::Off;
        config.chat2desk.timeout_secs = 2;
        tweak(&mut config);
        let db = config.database.path.clone();
        let daemon = build(config).await.expect("daemon builds");
        let server = daemon.bind_server().await.unwrap().expect("listener");
        let url = format!("http://{}", server.webhook_addr().unwrap());
        let shutdown = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(server.run(shutdown.clone())),
            tokio::spawn(daemon.worker.clone().run(shutdown.clone())),
        ];
        Running {
            url,
            db,
            shutdown,
            tasks,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn lead_doc(lead: i64) -> Vec<String> {
    vec![
        "crm".into(),
        "CCrmDocumentLead".into(),
        format!("LEAD_{lead}"),
    ]
}

async fn run(
    env: &Env,
    url: &str,
    doc: &[String],
    phone: &str,
    text: &str,
    files: &[&str],
) -> SimWorkflow {
    let doc: Vec<&str> = doc.iter().map(String::as_str).collect();
    let channel = env.s.channel.to_string();
    let (workflow, status, body) = env
        .portal
        .run_workflow(
            url,
            SECRET,
            &doc,
            &[("channel_id", &channel), ("phone", phone), ("text", text)],
            files,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["accepted"], true);
    assert!(answer["job"].as_i64().is_some_and(|j| j > 0), "{body}");
    workflow
}

/// Waits until the portal saw the workflow completed; its RETURN_VALUES.
async fn completed(env: &Env, token: &str) -> Value {
    let start = Instant::now();
    loop {
        let done = env
            .portal
            .workflows()
            .into_iter()
            .find(|w| w.event_token == token)
            .and_then(|w| w.completed);
        if let Some(done) = done {
            return done["RETURN_VALUES"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "workflow not completed; event sends: {:?}",
            env.portal.event_sends()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn completions(env: &Env, token: &str) -> usize {
    env.portal
        .event_sends()
        .iter()
        .filter(|e| e.params["EVENT_TOKEN"] == token && e.answer == "completed")
        .count()
}

fn event_sends_for(env: &Env, token: &str) -> Vec<String> {
    env.portal
        .event_sends()
        .into_iter()
        .filter(|e| e.params["EVENT_TOKEN"] == token)
        .map(|e| e.answer)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_client_gets_one_message_with_channel_text_and_files() {
    let env = Env::new().await;
    env.c2d.client_says(env.s.client_existing, "Здравствуйте");
    let run_ = Running::start(&env, |_| {}).await;
    let files = [
        "https://files.example.com/plan.jpg",
        "https://files.example.com/offer.pdf",
        "https://files.example.com/price.xlsx",
    ];
    let wf = run(
        &env,
        &run_.url,
        &lead_doc(env.s.lead_existing),
        "+7 (960) 794-04-01",
        "Никита, добрый день! Планировка и предложение во вложении.",
        &files,
    )
    .await;
    let values = completed(&env, &wf.event_token).await;
    let posts = env.c2d.message_posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let p = &posts[0];
    assert_eq!(p["client_id"], json!(env.s.client_existing));
    assert_eq!(p["channel_id"], json!(env.s.channel));
    assert_eq!(p["transport"], "whatsapp");
    assert_eq!(p["attachment"], files[0]);
    assert_eq!(p["pdf"], files[1]);
    let text = p["text"].as_str().unwrap();
    assert!(text.starts_with("Никита, добрый день!"), "{text}");
    assert!(
        text.ends_with(files[2]),
        "the file Chat2Desk cannot attach goes as a link: {text}"
    );
    assert_eq!(values["sent"], "Y");
    assert_eq!(values["error"], "");
    let message_id: i64 = values["message_id"].as_str().unwrap().parse().unwrap();
    assert!(message_id > 0);
    assert_eq!(event_sends_for(&env, &wf.event_token), ["completed"]);
    assert!(env.portal.comments().is_empty(), "no comment when sent");
    assert!(
        env.c2d.client_posts().is_empty(),
        "a known client is not created"
    );
    run_.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_phone_without_write_first_comments_notifies_and_answers_n() {
    let env = Env::new().await;
    env.c2d.set_write_first(false);
    let run_ = Running::start(&env, |_| {}).await;
    let wf = run(
        &env,
        &run_.url,
        &lead_doc(env.s.lead_existing),
        "8 (999) 123-45-67",
        "Добрый день!",
        &[],
    )
    .await;
    let values = completed(&env, &wf.event_token).await;
    assert_eq!(values["sent"], "N");
    let error = values["error"].as_str().unwrap();
    assert!(error.contains("Писать первым"), "{error}");
    assert!(env.c2d.message_posts().is_empty(), "no message");
    assert!(env.c2d.client_posts().is_empty(), "no client created");
    let comments = env.portal.comments();
    assert_eq!(comments.len(), 1, "{comments:#?}");
    let c = &comments[0];
    assert_eq!(
        (c.entity_type.as_str(), c.entity_id),
        ("lead", env.s.lead_existing)
    );
    assert!(c.text.contains("+79991234567"), "{}", c.text);
    assert!(c.text.contains("Писать первым"), "{}", c.text);
    let notes = env.portal.notifications();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(notes[0].0, env.s.user_ivan, "the lead's responsible");
    assert!(notes[0].1.contains("+79991234567"));
    assert_eq!(completions(&env, &wf.event_token), 1);
    run_.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_first_creates_the_client_and_sends() {
    let env = Env::new().await;
    let run_ = Running::start(&env, |_| {}).await;
    let wf = run(
        &env,
        &run_.url,
        &lead_doc(env.s.lead_existing),
        "+7 999 765-43-21",
        "Здравствуйте! Вы оставляли заявку.",
        &[],
    )
    .await;
    let values = completed(&env, &wf.event_token).await;
    assert_eq!(values["sent"], "Y", "{values}");
    let created = env.c2d.client_posts();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["phone"], "79997654321");
    let client = env
        .c2d
        .client_by_phone("79997654321")
        .expect("client created");
    let posts = env.c2d.message_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["client_id"], json!(client));
    run_.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_first_daily_limit_refuses_the_next_new_client() {
    let env = Env::new().await;
    let run_ = Running::start(&env, |c| c.bizproc.write_first_daily_limit = 1).await;
    let first = run(
        &env,
        &run_.url,
        &lead_doc(env.s.lead_existing),
        "+79990000001",
        "Первый",
        &[],
    )
    .await;
    assert_eq!(completed(&env, &first.event_token).await["sent"], "Y");
    let second = run(
        &env,
        &run_.url,
        &lead_doc(env.s.lead_existing),
        "+79990000002",
        "Второй",
        &[],
    )
    .await;
    let values = completed(&env, &second.event_token).await;
    assert_eq!(values["sent"], "N");
    assert!(values["error"]
        .as_str()
        .unwrap()
        .contains("write_first_daily_limit"));
    assert_eq!(env.c2d.client_posts().len(), 1);
    run_.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_phone_unknown_channel_and_chat2desk_refusal_take_the_error_path() {
    let env = Env::new().await;
    env.c2d.client_says(env.s.client_existing, "Здравствуйте");
    let run_ = Running::start(&env, |_| {}).await;
    let doc = lead_doc(env.s.lead_existing);
    let bad = run(&env, &run_.url, &doc, "не знаю", "Текст", &[]).await;
    let values = completed(&env, &bad.event_token).await;
    assert_eq!(values["sent"], "N");
    assert!(values["error"]
        .as_str()
        .unwrap()
        .contains("не похож на телефон"));

    let (unknown, status, _) = env
        .portal
        .run_workflow(
            &run_.url,
            SECRET,
            &[
                "crm",
                "CCrmDocumentLead",
                &format!("LEAD_{}", env.s.lead_existing),
            ],
            &[
                ("channel_id", "999999"),
                ("phone", "+79607940401"),
                ("text", "x"),
            ],
            &[],
        )
        .await;
    assert_eq!(status, 202);
    let values = completed(&env, &unknown.event_token).await;
    assert!(
        values["error"].as_str().unwrap().contains("999999"),
        "{values}"
    );

    env.c2d.refuse_messages(&["Client is blocked"]);
    let refused = run(&env, &run_.url, &doc, "+79607940401", "Текст", &[]).await;
    let values = completed(&env, &refused.event_token).await;
    assert_eq!(values["sent"], "N");
    assert!(
        values["error"]
            .as_str()
            .unwrap()
            .contains("Client is blocked"),
        "{values}"
    );
    assert_eq!(env.portal.comments().len(), 3, "one comment per refusal");
    assert_eq!(env.portal.notifications().len(), 3);
    run_.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_event_token_twice_is_one_job_one_message_one_event_send() {
    let env = Env::new().await;
    env.c2d.client_says(env.s.client_existing, "Здравствуйте");
    let run_ = Running::start(&env, |_| {}).await;
    let wf = env
        .portal
        .issue_workflow(&["crm", "CCrmDocumentLead", "LEAD_1"]);
    let form = format!(
        "workflow_id={}&code=chat2desk_send&document_id[0]=crm&document_id[1]=CCrmDocumentLead&document_id[2]=LEAD_1\
         &document_type[0]=crm&document_type[1]=CCrmDocumentLead&document_type[2]=LEAD\
         &event_token={}&properties[channel_id]={}&properties[phone]=79607940401&properties[text]=hi\
         &use_subscription=Y&timeout_duration=3600&ts=1773265993&auth[application_token]={SECRET}",
        wf.workflow_id,
        chat2desk_b24::portal::query::percent_encode(&wf.event_token),
        env.s.channel
    );
    let http = reqwest::Client::new();
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let r = http
            .post(format!("{}/bizproc/send", run_.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        jobs.push(r.json::<Value>().await.unwrap()["job"].clone());
    }
    assert_eq!(jobs[0], jobs[1], "the same job");
    env.portal.save_workflow(&wf.event_token);
    completed(&env, &wf.event_token).await;
    // A third post after the job is done changes nothing either.
    let r = http
        .post(format!("{}/bizproc/send", run_.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.c2d.message_posts().len(), 1);
    assert_eq!(completions(&env, &wf.event_token), 1);
    assert_eq!(
        event_sends_for(&env, &wf.event_token).last().unwrap(),
        "completed"
    );
    run_.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_send_retries_not_saved_and_locked_workflows_and_ends_on_access_denied() {
    let env = Env::new().await;
    env.c2d.client_says(env.s.client_existing, "Здравствуйте");
    let run_ = Running::start(&env, |_| {}).await;
    env.portal.fail_event_sends(&["404", "423", "ERROR_CORE"]);
    let wf = run(
        &env,
        &run_.url,
        &lead_doc(env.s.lead_existing),
        "+79607940401",
        "Привет",
        &[],
    )
    .await;
    assert_eq!(completed(&env, &wf.event_token).await["sent"], "Y");
    let answers = event_sends_for(&env, &wf.event_token);
    assert_eq!(
        answers,
        ["failed 404", "failed 423", "failed ERROR_CORE", "completed"]
    );

    // A token the portal does not know (the workflow is gone): logged, the job ends.
    let form = format!(
        "event_token=gone-token&properties[channel_id]={}&properties[phone]=79607940401&properties[text]=hi&auth[application_token]={SECRET}",
        env.s.channel
    );
    let r = reqwest::Client::new()
        .post(format!("{}/bizproc/send", run_.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    let job = r.json::<Value>().await.unwrap()["job"].as_i64().unwrap();
    let store = Store::open(&run_.db).await.unwrap();
    let start = Instant::now();
    let done = loop {
        let j = store.job(JobKind::SEND, job).await.unwrap().unwrap();
        if j.state == JobState::Done {
            break j;
        }
        assert_ne!(j.state, JobState::Dead, "{:?}", j.last_error);
        assert!(start.elapsed() < Duration::from_secs(20));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let progress = SendProgress::of(&done);
    assert!(matches!(progress.outcome, Some(Outcome::Sent { .. })));
    assert!(progress.report_error.unwrap().contains("ACCESS_DENIED"));
    assert_eq!(event_sends_for(&env, "gone-token"), ["denied"]);
    run_.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_send_is_found_not_repeated() {
    let env = Env::new().await;
    env.c2d.client_says(env.s.client_existing, "Здравствуйте");
    // The message lands but its answer comes after the client's 2 s timeout.
    env.c2d.hold_message_answers(Duration::from_secs(3));
    let run_ = Running::start(&env, |_| {}).await;
    let wf = run(
        &env,
        &run_.url,
        &lead_doc(env.s.lead_existing),
        "+79607940401",
        "Один раз",
        &[],
    )
    .await;
    let values = completed(&env, &wf.event_token).await;
    assert_eq!(values["sent"], "Y");
    assert_eq!(
        env.c2d.message_posts().len(),
        1,
        "looked up, not sent again"
    );
    run_.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_401_missing_phone_400_large_body_413_http10_and_channels() {
    let env = Env::new().await;
    let run_ = Running::start(&env, |_| {}).await;
    let http = reqwest::Client::new();
    let post = |body: String| {
        let http = http.clone();
        let url = format!("{}/bizproc/send", run_.url);
        async move {
            let r = http
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let good = format!(
        "event_token=t1&properties[channel_id]={}&properties[phone]=79607940401&properties[text]=hi&auth[application_token]={SECRET}",
        env.s.channel
    );
    let (status, body) = post(good.replace(SECRET, "bizproc-secret-0123456788")).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = post(good.replace(&format!("&auth[application_token]={SECRET}"), "")).await;
    assert_eq!(status, 401);
    let (status, body) = post(good.replace("&properties[phone]=79607940401", "")).await;
    assert_eq!(status, 400);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["field"], "properties[phone]");
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("properties[phone]"));
    let (status, _) = post(format!("{good}&properties[pad]={}", "x".repeat(1 << 20))).await;
    assert_eq!(status, 413);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = Store::open(&run_.db).await.unwrap();
    assert_eq!(
        store.counts().await.unwrap().pending + store.counts().await.unwrap().done,
        0,
        "nothing queued"
    );
    assert!(env.c2d.message_posts().is_empty(), "nothing sent");

    // HTTP/1.0 with Content-Length, as the portal's 2021 HttpClient speaks.
    let addr = run_.url.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /bizproc/send HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{good}",
        good.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 202") || answer.starts_with("HTTP/1.1 202"),
        "{answer}"
    );
    assert!(answer.contains("\"accepted\":true"), "{answer}");

    let channels = http
        .get(format!("{}/bizproc/channels", run_.url))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(channels.status(), 200);
    let list: Value = channels.json().await.unwrap();
    assert_eq!(list["channels"][0]["id"], json!(env.s.channel));
    let denied = http
        .get(format!("{}/bizproc/channels", run_.url))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    run_.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bizproc_routes_are_off_without_a_secret() {
    let env = Env::new().await;
    let run_ = Running::start(&env, |c| c.bizproc.secret = Secret::default()).await;
    let r = reqwest::Client::new()
        .post(format!("{}/bizproc/send", run_.url))
        .body("auth[application_token]=")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    run_.stop().await;
}

fn start_binary(config: &Path) -> KillOnDrop {
    KillOnDrop(
        std::process::Command::new(binary())
            .args(["-c", config.to_str().unwrap(), "run"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("binary starts"),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_listening(url: &str) {
    let http = reqwest::Client::new();
    wait_until_async(|| {
        let http = http.clone();
        let url = format!("{url}/healthz");
        async move { http.get(url).send().await.is_ok() }
    })
    .await;
}

async fn wait_until_async<F: std::future::Future<Output = bool>>(mut probe: impl FnMut() -> F) {
    let start = Instant::now();
    while !probe().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "daemon did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_the_send_and_event_send_gives_one_message_and_one_event_send() {
    let env = Env::new().await;
    env.c2d.client_says(env.s.client_existing, "Здравствуйте");
    let port = free_port();
    let config = env.write_config(
        "lead",
        &format!("\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n[bizproc]\nsecret = \"{SECRET}\"\n"),
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[sync]", "[sync]\npoll_strategy = \"off\"");
    std::fs::write(&config, text).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let doc = lead_doc(env.s.lead_existing);

    // Kill 1: the message exists in Chat2Desk, its answer has not reached the daemon.
    env.c2d.hold_message_answers(Duration::from_secs(5));
    let mut daemon = start_binary(&config);
    wait_listening(&url).await;
    let first = run(&env, &url, &doc, "+79607940401", "Первое", &[]).await;
    wait_until("POST /messages", || env.c2d.message_posts().len() == 1).await;
    daemon.0.kill().unwrap();
    daemon.0.wait().unwrap();
    env.c2d.hold_message_answers(Duration::ZERO);

    // Kill 2: the result is known, the portal keeps answering "locked".
    env.portal.fail_event_sends(&["423"; 200]);
    let mut daemon = start_binary(&config);
    wait_listening(&url).await;
    let second = run(&env, &url, &doc, "+79607940401", "Второе", &[]).await;
    wait_until("the second message and a locked event.send", || {
        env.c2d.message_posts().len() == 2
            && env
                .portal
                .event_sends()
                .iter()
                .filter(|e| e.params["EVENT_TOKEN"] == second.event_token.as_str())
                .count()
                >= 2
    })
    .await;
    daemon.0.kill().unwrap();
    daemon.0.wait().unwrap();

    env.portal.clear_event_send_failures();
    let _daemon = start_binary(&config);
    let v1 = completed(&env, &first.event_token).await;
    let v2 = completed(&env, &second.event_token).await;
    assert_eq!(
        (v1["sent"].as_str(), v2["sent"].as_str()),
        (Some("Y"), Some("Y"))
    );
    let posts = env.c2d.message_posts();
    assert_eq!(posts.len(), 2, "one message per workflow: {posts:#?}");
    assert_eq!(completions(&env, &first.event_token), 1);
    assert_eq!(completions(&env, &second.event_token), 1);
    for token in [&first.event_token, &second.event_token] {
        // Scripted "locked" answers may hit either; the activity is completed once.
        let answers = event_sends_for(&env, token);
        assert!(!answers.iter().any(|a| a == "repeated"), "{answers:?}");
        assert_eq!(answers.last().map(String::as_str), Some("completed"));
    }
    let leads = env.portal.leads();
    assert_eq!(field(&leads[0], "ID"), env.s.lead_existing.to_string());
}

#[test]
fn install_then_uninstall_leaves_the_docroot_as_it_was() {
    for with_local in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("bitrix/modules")).unwrap();
        std::fs::write(root.join("index.php"), "<?php // portal").unwrap();
        if with_local {
            std::fs::create_dir_all(root.join("local/php_interface")).unwrap();
            std::fs::write(root.join("local/php_interface/init.php"), "<?php").unwrap();
        }
        let before = tree(root);
        let etc = tempfile::tempdir().unwrap();
        let config = etc.path().join("config.toml");
        std::fs::write(
            &config,
            format!("[chat2desk]\ntoken = \"t\"\n[bitrix24]\nwebhook_url = \"https://portal.example/rest/1/abc/\"\n[crm]\ndefault_responsibles = [1]\n[server]\nlisten = \"10.0.0.5:8089\"\n[bizproc]\nsecret = \"{SECRET}\"\n"),
        )
        .unwrap();
        let install = || {
            std::process::Command::new(binary())
                .args([
                    "-c",
                    config.to_str().unwrap(),
                    "bizproc",
                    "install",
                    "--docroot",
                    root.to_str().unwrap(),
                ])
                .output()
                .unwrap()
        };
        let out = install();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            printed.contains("To undo: chat2desk-b24 bizproc uninstall"),
            "{printed}"
        );
        assert!(!printed.contains(SECRET), "the secret is never printed");
        let activity = root.join("local/activities/custom/chat2desksend");
        for f in chat2desk_b24::flows::bizproc::FILES {
            assert_eq!(
                std::fs::read_to_string(activity.join(f.path)).unwrap(),
                f.contents
            );
        }
        let settings = activity.join(".settings.php");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&settings).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let php = std::fs::read_to_string(&settings).unwrap();
        assert!(php.contains("'url' => 'http://10.0.0.5:8089'") && php.contains(SECRET));
        // Again: an upgrade in place.
        assert!(install().status.success());
        let out = std::process::Command::new(binary())
            .args(["bizproc", "uninstall", "--docroot", root.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(tree(root), before, "with_local = {with_local}");
    }
}

/// Every path under `root` with its kind and contents.
fn tree(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                out.push((rel, "dir".into()));
                stack.push(path);
            } else {
                out.push((rel, std::fs::read_to_string(&path).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sends_to_one_new_phone_at_once_create_one_client_and_use_one_write_first_place() {
    let env = Env::new().await;
    // Slow answers keep both jobs inside find-or-create at the same time without the claim.
    env.c2d.faults().set_latency(Duration::from_millis(40));
    let run_ = Running::start(&env, |c| c.bizproc.write_first_daily_limit = 1).await;
    let doc = lead_doc(env.s.lead_existing);
    let (a, b) = tokio::join!(
        run(&env, &run_.url, &doc, "+7 999 111-22-33", "Первое", &[]),
        run(&env, &run_.url, &doc, "8 999 111 22 33", "Второе", &[]),
    );
    let (va, vb) = (
        completed(&env, &a.event_token).await,
        completed(&env, &b.event_token).await,
    );
    assert_eq!(
        (va["sent"].as_str(), vb["sent"].as_str()),
        (Some("Y"), Some("Y")),
        "{va} {vb}"
    );
    assert_eq!(env.c2d.client_posts().len(), 1, "one client for one phone");
    assert_eq!(env.c2d.message_posts().len(), 2);
    run_.stop().await;
}
