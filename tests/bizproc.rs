//! The business-process action over real HTTP: the portal simulator runs a "workflow" that
//! posts to the daemon the way the PHP activity does; the daemon sends through the
//! Chat2Desk simulator and completes the workflow with `bizproc.event.send`.

mod common;

use common::bizproc::*;
use common::Env;
use serde_json::json;
use std::time::Duration;

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
