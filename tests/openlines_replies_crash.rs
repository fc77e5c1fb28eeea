//! Operators' replies across crashes: an in-process crash in the middle of a `line_out` job
//! sends nothing twice, and the real binary SIGKILLed during a two-way exchange loses
//! nothing and sends no reply twice.

mod common;

use common::replies::*;
use common::{command, free_port, output, wait_for, Env};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_job_sends_nothing_twice() {
    let b = Bridge::start(|_| {}).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    // The message lands in Chat2Desk; its answer is held past the crash.
    b.env.c2d.hold_message_answers(Duration::from_secs(5));
    b.reply("Только один раз", &[]);
    b.reader.read_new().await.unwrap();
    wait_for("POST /messages", || b.env.c2d.message_posts().len() == 1).await;
    let (env, mut config) = b.crash().await;
    // The aborted listener's socket may linger: the new process binds another port.
    config.server.listen = format!("127.0.0.1:{}", free_port());
    env.c2d.hold_message_answers(Duration::ZERO);
    // The restarted daemon: its job runs again and finds the message.
    let b = Bridge::run(env, config).await;
    wait_jobs_done(&b.config.database.path, 1).await;
    assert_eq!(b.env.c2d.message_posts().len(), 1, "not sent again");
    assert_eq!(b.env.portal.delivered().len(), 1);
    assert!(b.env.portal.offline_rows().is_empty());
    b.stop().await;
}

/// The real binary, SIGKILLed at random moments during a two-way exchange of 50 messages
/// (five chats, each with five client messages interleaved with five operator replies) and
/// restarted on the same state database: every reply reaches its client exactly once and
/// in order, every event is cleared, every client message reaches the line in order. A
/// client message whose `imconnector.send.messages` a kill left unanswered is looked for in
/// the chat and sent again only when it cannot be (a rare duplicate beats a lost message),
/// so duplicates towards the line are allowed, but never more than the resends counted
/// (tests/openlines_kills.rs asserts none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_two_way_exchange_loses_nothing_and_sends_no_reply_twice() {
    use rand::Rng;
    const CHATS: usize = 5;
    const EACH: usize = 5;
    const KILLS: usize = 6;
    let env = Env::new().await;
    let app = connected_app(&env).await;
    let extra = format!(
        r#"
[sync]
poll_strategy = "off"
[bitrix24.app]
client_id = "{client_id}"
client_secret = "{secret}"
oauth_url = "{oauth}"
daemon_url = "{DAEMON_URL}"
[openlines]
connector = "{CONNECTOR}"
events_poll_ms = 100
[[openlines.lines]]
line = {LINE}
channels = [{channel}]
"#,
        client_id = app.client_id,
        secret = app.client_secret.expose(),
        oauth = app.oauth_url,
        channel = env.s.channel,
    );
    // A webhook the dead daemon missed comes again after 0.5 s, then after 15 s.
    env.c2d.set_webhook_retry_scale(0.05);
    // Answers come late, so kills land between Chat2Desk taking a reply and the daemon
    // storing that it did.
    env.c2d.hold_message_answers(Duration::from_millis(150));
    let mut daemon = env.spawn_daemon(&extra).await;
    let public = format!("http://127.0.0.1:{}", daemon.listen);
    let (out, text) = output(command(&daemon.config, &["webhook", "set", &public]));
    assert!(out.status.success(), "webhook set: {text}");
    wait_for("the offline events bound at start", || {
        !env.portal.offline_bindings().is_empty()
    })
    .await;

    let clients: Vec<i64> = (0..CHATS)
        .map(|i| {
            env.c2d.add_client(
                &format!("Клиент {i}"),
                Some(&format!("7916555000{i}")),
                "whatsapp",
                env.s.channel,
            )
        })
        .collect();
    let mut rng = rand::thread_rng();
    let kills = rand::seq::index::sample(&mut rng, 2 * CHATS * EACH, KILLS).into_vec();
    // Per chat: the client's message ids and the replies' IM ids, in the order written.
    let mut written: Vec<Vec<String>> = vec![Vec::new(); CHATS];
    let mut replies: Vec<Vec<i64>> = vec![Vec::new(); CHATS];
    let db = env.db();
    let mut step = 0;
    // Where the last run's lines begin in the log.
    let mut last_run_from = 0;
    for round in 0..EACH {
        for (chat, client) in clients.iter().enumerate() {
            for operator in [false, true] {
                if operator {
                    replies[chat].push(env.portal.operator_reply(
                        CONNECTOR,
                        LINE,
                        &format!("c2d-{client}"),
                        OPERATOR,
                        &format!("[b]Ольга:[/b][br] ответ {round}"),
                        &[],
                    ));
                } else {
                    let id = env.c2d.client_says(*client, &format!("вопрос {round}"));
                    written[chat].push(format!("c2d-msg-{id}"));
                }
                tokio::time::sleep(Duration::from_millis(rng.gen_range(0..250))).await;
                if kills.contains(&step) {
                    daemon.kill9();
                    last_run_from = std::fs::metadata(&daemon.log).map_or(0, |m| m.len());
                    daemon.restart().await;
                    // A webhook that came while the daemon was down is redelivered by
                    // Chat2Desk's retry (0.5 s here, ~10 s for real): a message the client
                    // writes before that would overtake it, and nothing can put them back in
                    // order. The clients here wait for the redelivery (the kills still land
                    // in the middle of the daemon's work).
                    let written: usize = written.iter().map(Vec::len).sum();
                    wait_queued(&db, written, &daemon).await;
                }
                step += 1;
            }
        }
    }

    let in_line = |m: &chat2desk_b24::sim::bitrix24::LineMessage| {
        written.iter().flatten().any(|id| *id == m.message_id)
    };
    let start = Instant::now();
    loop {
        let arrived: std::collections::BTreeSet<String> = env
            .portal
            .line_messages()
            .into_iter()
            .filter(in_line)
            .map(|m| m.message_id)
            .collect();
        let jobs = [
            jobs_of(&db, "line_in").await,
            jobs_of(&db, "line_out").await,
        ]
        .concat();
        assert!(
            jobs.iter().all(|(s, _)| s != "dead"),
            "a job died: {jobs:?}"
        );
        let done = arrived.len() == CHATS * EACH
            && env.c2d.message_posts().len() >= CHATS * EACH
            && env.portal.offline_rows().is_empty()
            && jobs.len() == 2 * CHATS * EACH
            && jobs.iter().all(|(s, _)| s == "done");
        if done {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{} of {} client messages in the line, {} posts, {} rows left, jobs {jobs:?}; log:\n{}",
            arrived.len(),
            CHATS * EACH,
            env.c2d.message_posts().len(),
            env.portal.offline_rows().len(),
            daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Line → client: each reply exactly once, to its client, in the order written.
    let posts = env.c2d.message_posts();
    assert_eq!(
        posts.len(),
        CHATS * EACH,
        "nothing else was sent: {posts:#?}"
    );
    for (chat, client) in clients.iter().enumerate() {
        assert_replies_once_in_order(&posts, *client, &replies[chat], EACH, "in-process crash");
    }

    // Client → line: every message, in order per chat; a resend follows its own first send
    // (the chat's chain runs one job at a time), so collapsing repeats gives the order.
    let line = env.portal.line_messages();
    let mut duplicates = 0;
    for (chat, client) in clients.iter().enumerate() {
        let ids: Vec<&str> = line
            .iter()
            .filter(|m| m.chat_id == format!("c2d-{client}"))
            .map(|m| m.message_id.as_str())
            .collect();
        let mut collapsed = ids.clone();
        collapsed.dedup();
        assert_eq!(
            collapsed, written[chat],
            "chat {client}: in the order written"
        );
        assert!(
            line.iter()
                .filter(|m| m.chat_id == format!("c2d-{client}"))
                .all(|m| m.line == LINE),
            "chat {client}: all in line {LINE}"
        );
        duplicates += ids.len() - collapsed.len();
    }
    // `openlines_resent_total` lives in the process and starts at zero on every start, so
    // the final run's /metrics misses what the killed runs resent. What survives the kills
    // is the log (appended across restarts): each resend's warning is written before its
    // call, so every resend that reached the portal has its line there; the final run's
    // counter must match its own part of the log.
    let log = std::fs::read_to_string(&daemon.log).unwrap_or_default();
    let resends = |log: &str| {
        log.matches("An earlier attempt's fate is unknown and the chat cannot be read")
            .count()
    };
    let resent = resends(&log);
    assert!(
        duplicates <= resent,
        "{duplicates} duplicates in the line, {resent} resends counted"
    );
    let page = daemon.scrape().await;
    let counted = page
        .lines()
        .find_map(|l| l.strip_prefix("chat2desk_b24_openlines_resent_total "))
        .map(|v| v.trim().parse::<f64>().expect("a counter's value"))
        .unwrap_or_else(|| panic!("no openlines_resent_total on /metrics:\n{page}"));
    assert_eq!(
        counted,
        resends(&log[last_run_from as usize..]) as f64,
        "the last run's openlines_resent_total counts its resends"
    );
    eprintln!(
        "kills: {KILLS}, client messages resent: {resent} ({duplicates} duplicates in the line), \
         replies found after a kill: {}, reservations taken over: {}",
        log.matches("Found the reply an interrupted run had sent")
            .count(),
        log.matches("Taking over offline events").count()
    );
}
