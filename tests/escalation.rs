//! `[escalation]` with the real binary against the simulators: a client's message nobody
//! answers gets the responsible one `im.notify.system.add` after `after_minutes` (here a
//! fraction of a minute, which the key allows), none when an operator answers, one across a
//! SIGKILL and restart and across two nodes on one state file, and none while the working
//! hours keep the clock stopped.

mod common;

use chat2desk_b24::flows::escalation::ESCALATION;
use chat2desk_b24::store::{JobState, Store};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use common::{free_port, Binary, Env, WEBHOOK_SECRET};
use std::time::{Duration, Instant};

/// 6 seconds of waiting.
const AFTER_MINUTES: f64 = 0.1;

/// The `[escalation]` section with `working_hours`.
fn section(working_hours: &str) -> String {
    format!(
        "[escalation]\nafter_minutes = {AFTER_MINUTES}\nnotify = \"responsible\"\n\
         working_hours = \"{working_hours}\"\n"
    )
}

/// Escalation notices the portal holds for `user`.
fn notices(env: &Env, user: i64) -> Vec<String> {
    env.portal
        .notifications()
        .into_iter()
        .filter(|(to, text)| *to == user && text.contains("ждёт ответа"))
        .map(|(_, text)| text)
        .collect()
}

/// A new client on the scenario's channel; its id.
fn new_client(env: &Env, name: &str, phone: &str) -> i64 {
    env.c2d
        .add_client(name, Some(phone), "whatsapp", env.s.channel)
}

/// Waits until `daemon`'s first poll is done: the messages poll starts at the newest message,
/// so what a client writes before it is history, not a wait.
async fn first_poll(daemon: &Binary) {
    let start = Instant::now();
    while !daemon
        .scrape()
        .await
        .contains("chat2desk_b24_last_poll_success_timestamp_seconds")
    {
        assert!(start.elapsed() < Duration::from_secs(60), "no first poll");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to 60 s) for the first stretch's job to reach `state`; the job's due time.
async fn wait_job(env: &Env, state: JobState) -> DateTime<Utc> {
    let store = Store::open(&env.db())
        .await
        .expect("the state database opens");
    let start = Instant::now();
    loop {
        if let Some(job) = store.job(ESCALATION, 1).await.expect("job read") {
            assert_ne!(job.state, JobState::Dead, "{:?}", job.last_error);
            if job.state == state {
                store.close().await;
                return job.next_attempt_at;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the escalation job did not become {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_client_gets_the_responsible_one_notice_in_time() {
    let env = Env::new().await;
    let daemon = env.spawn_daemon(&section("")).await;
    first_poll(&daemon).await;
    let client = new_client(&env, "Анна Ждущая", "79001112233");
    let written = Instant::now();
    env.c2d.client_says(client, "Здравствуйте, есть кто?");

    // Well before the wait runs out (and the poll has seen the message): no notice yet.
    let due = wait_job(&env, JobState::Pending).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let user = env.s.user_default;
    assert!(
        notices(&env, user).is_empty() || Utc::now() >= due,
        "no notice before after_minutes"
    );
    wait_job(&env, JobState::Done).await;
    let elapsed = written.elapsed();
    let got = notices(&env, user);
    assert_eq!(got.len(), 1, "one notice: {got:?}\n{}", daemon.log_tail());
    assert!(
        got[0].contains("Анна Ждущая"),
        "the client's name: {}",
        got[0]
    );
    assert!(
        got[0].contains(&format!("канал {}", env.s.channel)),
        "the channel: {}",
        got[0]
    );
    assert!(
        got[0].contains("dialogID="),
        "a link to the chat: {}",
        got[0]
    );
    println!(
        "notice after {:.1} s (after_minutes = {AFTER_MINUTES} = {:.0} s, poll every 1 s)",
        elapsed.as_secs_f64(),
        AFTER_MINUTES * 60.0
    );

    // The client writes more in the same stretch: still one notice.
    env.c2d.client_says(client, "Алло?");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(notices(&env, user).len(), 1, "one notice per stretch");
    let page = daemon.scrape().await;
    assert!(page.contains("chat2desk_b24_escalations_today 1"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_answer_ends_the_wait_without_a_notice() {
    let env = Env::new().await;
    let daemon = env.spawn_daemon(&section("")).await;
    first_poll(&daemon).await;
    let client = new_client(&env, "Борис Отвеченный", "79001112244");
    env.c2d.client_says(client, "Подскажите цену");
    wait_job(&env, JobState::Pending).await;
    env.c2d
        .operator_says(client, env.s.op_maria, "Добрый день! Сейчас подскажу.");
    wait_job(&env, JobState::Done).await;
    assert!(
        notices(&env, env.s.user_default).is_empty(),
        "no notice after an answer\n{}",
        daemon.log_tail()
    );
    let store = Store::open(&env.db()).await.unwrap();
    let job = store.job(ESCALATION, 1).await.unwrap().unwrap();
    assert_eq!(job.steps["skipped"], "answered", "{:?}", job.steps);
    let wait = store.wait(1).await.unwrap().expect("the stretch");
    assert!(wait.answered_at.is_some() && wait.notified_at.is_none());
    assert!(daemon
        .scrape()
        .await
        .contains("chat2desk_b24_clients_waiting 0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_survives_sigkill_and_restart_with_one_notice() {
    let env = Env::new().await;
    let mut daemon = env.spawn_daemon(&section("")).await;
    first_poll(&daemon).await;
    let client = new_client(&env, "Вера Перезапуск", "79001112255");
    env.c2d.client_says(client, "Жду ответа");
    wait_job(&env, JobState::Pending).await;
    daemon.kill9();
    daemon.restart().await;
    wait_job(&env, JobState::Done).await;
    assert_eq!(
        notices(&env, env.s.user_default).len(),
        1,
        "{}",
        daemon.log_tail()
    );

    // Killed and started again after the notice: nothing is sent twice.
    daemon.kill9();
    daemon.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(notices(&env, env.s.user_default).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_state_file_send_one_notice() {
    let env = Env::new().await;
    let extra = format!("{}\n[node]\nname = \"node-a\"\n", section(""));
    let a = env.spawn_daemon(&extra).await;
    let (listen, metrics) = (free_port(), free_port());
    let config = env
        .config_file()
        .set("server.listen", format!("127.0.0.1:{listen}"))
        .set("server.metrics_listen", format!("127.0.0.1:{metrics}"))
        .set("server.webhook_secret", WEBHOOK_SECRET)
        .merge(&extra)
        .set("node.name", "node-b")
        .write_as("node-b.toml");
    let mut b = Binary {
        child: None,
        config,
        listen,
        metrics,
        log: env.dir.path().join("node-b.log"),
    };
    b.restart().await;
    first_poll(&a).await;

    let client = new_client(&env, "Глеб Два Узла", "79001112266");
    let message = env.c2d.client_says(client, "Есть вопрос");
    // Both nodes get the message's webhook at once (and the leader's poll reads it too).
    let body = serde_json::json!({
        "hook_type": "inbox", "message_id": message, "type": "from_client",
        "text": "Есть вопрос", "client_id": client, "channel_id": env.s.channel,
        "client": {"id": client, "name": "Глеб Два Узла"},
    });
    let (sa, sb) = tokio::join!(a.post_webhook(body.clone()), b.post_webhook(body));
    assert_eq!((sa, sb), (200, 200));
    wait_job(&env, JobState::Done).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = notices(&env, env.s.user_default);
    assert_eq!(got.len(), 1, "one notice over two nodes: {got:?}");
    let store = Store::open(&env.db()).await.unwrap();
    assert!(
        store.wait(2).await.unwrap().is_none(),
        "one stretch, not two"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_working_hours_the_clock_stops() {
    let env = Env::new().await;
    // Working hours on the day after tomorrow only (Moscow, the fixture's [crm] timezone).
    let moscow: chrono_tz::Tz = "Europe/Moscow".parse().unwrap();
    let day = Utc::now().with_timezone(&moscow).date_naive() + chrono::Days::new(2);
    let name = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        [day.weekday().num_days_from_monday() as usize];
    let daemon = env
        .spawn_daemon(&section(&format!("{name} 09:00-18:00")))
        .await;
    first_poll(&daemon).await;
    let client = new_client(&env, "Дарья Ночная", "79001112277");
    env.c2d.client_says(client, "Вы работаете?");
    let due = wait_job(&env, JobState::Pending).await;
    let opens = moscow
        .from_local_datetime(&day.and_hms_opt(9, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let expected = opens + chrono::Duration::milliseconds((AFTER_MINUTES * 60_000.0) as i64);
    assert_eq!(
        due, expected,
        "due after_minutes into the next working span"
    );
    // The wait has run out on the wall clock, not on the working one: no notice.
    tokio::time::sleep(Duration::from_secs_f64(AFTER_MINUTES * 60.0 + 2.0)).await;
    assert!(
        notices(&env, env.s.user_default).is_empty(),
        "{}",
        daemon.log_tail()
    );
    assert!(daemon
        .scrape()
        .await
        .contains("chat2desk_b24_clients_waiting 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notice_goes_to_the_responsible_of_the_clients_lead_with_its_card() {
    let env = Env::new().await;
    let daemon = env.spawn_daemon(&section("")).await;
    first_poll(&daemon).await;
    // The client's first request becomes a lead (its stretch ends with the close)…
    let client = new_client(&env, "Ефим Повторный", "79001112288");
    env.c2d
        .client_says(client, "Добрый день, вопрос по договору");
    // (found by the poll: a close_request webhook would make the poll back off, and the
    // messages come by the poll here, not by the inbox webhook)
    let request = env.c2d.close_request(client);
    env.wait_all_done(&[request]).await;
    let (kind, lead) = env.entity_of(request);
    assert_eq!(kind, "lead");
    let responsible: i64 = env
        .portal
        .leads()
        .into_iter()
        .find(|l| common::field(l, "ID") == lead.to_string())
        .map(|l| common::field(&l, "ASSIGNED_BY_ID").parse().unwrap())
        .expect("the lead");

    // …then it writes again and nobody answers.
    env.c2d.client_says(client, "Я снова с вопросом");
    let start = Instant::now();
    let notice = loop {
        if let Some(n) = notices(&env, responsible).pop() {
            break n;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let store = Store::open(&env.db()).await.unwrap();
            let waits = [
                store.wait(1).await,
                store.wait(2).await,
                store.wait(3).await,
            ];
            panic!(
                "no notice to {responsible}: {:?}\n{waits:?}",
                env.portal.notifications()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let card = format!("/crm/lead/details/{lead}/");
    assert!(
        notice.contains(&card),
        "a link to the lead's card: {notice}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_webhook_answer_ends_the_wait() {
    let env = Env::new().await;
    // Webhooks only: no poll reads the messages.
    let extra = format!("{}\n[sync]\npoll_strategy = \"off\"\n", section(""));
    let daemon = env.spawn_daemon(&extra).await;
    let client = new_client(&env, "Жанна Вебхук", "79001112299");
    let asked = env.c2d.client_says(client, "Вопрос");
    let inbox = serde_json::json!({
        "hook_type": "inbox", "message_id": asked, "type": "from_client", "text": "Вопрос",
        "client_id": client, "channel_id": env.s.channel,
    });
    assert_eq!(daemon.post_webhook(inbox).await, 200);
    wait_job(&env, JobState::Pending).await;
    let answered = env.c2d.operator_says(client, env.s.op_maria, "Отвечаю");
    let outbox = serde_json::json!({
        "hook_type": "outbox", "message_id": answered, "type": "to_client", "text": "Отвечаю",
        "client_id": client, "channel_id": env.s.channel, "operator_id": env.s.op_maria,
    });
    assert_eq!(daemon.post_webhook(outbox).await, 200);
    wait_job(&env, JobState::Done).await;
    assert!(
        notices(&env, env.s.user_default).is_empty(),
        "{}",
        daemon.log_tail()
    );
    let store = Store::open(&env.db()).await.unwrap();
    let job = store.job(ESCALATION, 1).await.unwrap().unwrap();
    assert_eq!(job.steps["skipped"], "answered");
}
