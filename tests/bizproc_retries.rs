//! The business-process action when things go wrong between the daemon and the portal: the
//! same event token twice, `bizproc.event.send` refused or unanswered, the daemon killed
//! between Chat2Desk's send and the portal's completion.

mod common;

use chat2desk_b24::engine::{Outcome, Steps};
use chat2desk_b24::flows::bizproc::SendProgress;
use chat2desk_b24::store::{JobKind, JobState, Store};
use common::bizproc::*;
use common::{binary, field, Env, KillOnDrop};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

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
