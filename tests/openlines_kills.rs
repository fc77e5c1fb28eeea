//! The Open Lines bridge under random SIGKILLs, with the real binary against both
//! simulators: a two-way exchange of 25 client messages and 25 operator replies (five chats,
//! each five of each, interleaved) while the daemon is killed at random moments and
//! restarted on the same state database, Chat2Desk re-delivering the `inbox` webhooks the
//! dead daemon did not answer. Both services hold every answer a moment after the write
//! took effect, so kills land between a write and the daemon recording it. Every client
//! message reaches the line exactly once and in order, every reply reaches its client
//! exactly once and in order.
//!
//! The moments are drawn from a seed, printed with each round; `OPENLINES_KILLS_SEED=<n>`
//! replays one, `OPENLINES_KILLS_ROUNDS=<n>` runs n rounds (default 2, each with the next
//! seed).

mod common;

use chat2desk_b24::flows::openlines::chat_key;
use common::bridge::{bridge, Bridge, LINE};
use common::replies::{assert_replies_once_in_order, jobs_of};
use common::wait_for;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};

const CONNECTOR: &str = "chat2desk";
const OPERATOR: i64 = 27;
const CHATS: usize = 5;
const EACH: usize = 5;
/// The chance of a kill after each of the 50 steps (the run had 14 kills).
const KILL_CHANCE: f64 = 0.28;
/// How long both services hold an answer after the write took effect.
const ANSWER_HOLD: Duration = Duration::from_millis(60);
const EXTRA: &str = "[sync]\npoll_strategy = \"off\"\n[openlines]\nevents_poll_ms = 100\n";

/// What one round saw, from the daemon's log (appended across restarts).
#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    found_in_chat: usize,
    pushed_after_look: usize,
    resent_blind: usize,
    replies_found: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_sigkills_leave_every_message_once_on_each_side() {
    let rounds: u64 = std::env::var("OPENLINES_KILLS_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    let first: u64 = std::env::var("OPENLINES_KILLS_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen_range(0..1_000_000));
    let mut total = Tally::default();
    for round in 0..rounds {
        let seed = first + round;
        eprintln!("round {round}: OPENLINES_KILLS_SEED={seed}");
        let t = exchange(seed).await;
        eprintln!("round {round} (seed {seed}): {t:?}");
        total.kills += t.kills;
        total.found_in_chat += t.found_in_chat;
        total.pushed_after_look += t.pushed_after_look;
        total.resent_blind += t.resent_blind;
        total.replies_found += t.replies_found;
    }
    eprintln!("{rounds} rounds from seed {first}: {total:?}");
}

/// One exchange under kills drawn from `seed`; asserts exactly once on both sides.
async fn exchange(seed: u64) -> Tally {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut b = bridge(EXTRA).await;
    let (status, page) = b.connect().await;
    assert_eq!(status, 200, "{page}");
    b.webhook_set();
    wait_for("the offline events bound", || {
        !b.env.portal.offline_bindings().is_empty()
    })
    .await;
    // A webhook the dead daemon missed comes again after 0.5 s, then after 15 s.
    b.env.c2d.set_webhook_retry_scale(0.05);
    b.env.portal.faults().set_answer_hold(ANSWER_HOLD);
    b.env.c2d.hold_message_answers(ANSWER_HOLD);

    let clients: Vec<i64> = (0..CHATS)
        .map(|i| {
            b.env.c2d.add_client(
                &format!("Клиент {i}"),
                Some(&format!("7916555010{i}")),
                "whatsapp",
                b.env.s.channel,
            )
        })
        .collect();
    let db = b.env.db();
    let mut written: Vec<Vec<String>> = vec![Vec::new(); CHATS];
    let mut replies: Vec<Vec<i64>> = vec![Vec::new(); CHATS];
    let mut tally = Tally::default();
    for round in 0..EACH {
        for (chat, client) in clients.iter().enumerate() {
            for operator in [false, true] {
                if operator {
                    replies[chat].push(b.env.portal.operator_reply(
                        CONNECTOR,
                        LINE,
                        &chat_key(*client),
                        OPERATOR,
                        &format!("[b]Ольга:[/b][br] ответ {round}"),
                        &[],
                    ));
                } else {
                    let id = b.env.c2d.client_says(*client, &format!("вопрос {round}"));
                    written[chat].push(format!("c2d-msg-{id}"));
                }
                tokio::time::sleep(Duration::from_millis(rng.gen_range(0..250))).await;
                if rng.gen_bool(KILL_CHANCE) {
                    b.daemon.kill9();
                    tally.kills += 1;
                    b.daemon.restart().await;
                    // A message the client writes before Chat2Desk re-delivers the one the
                    // dead daemon missed would overtake it: the clients wait for it (the
                    // kills still land in the middle of the daemon's work).
                    let n: usize = written.iter().map(Vec::len).sum();
                    wait_queued(&db, n, &b, seed).await;
                }
            }
        }
    }
    wait_settled(&b, &db, &written, seed).await;
    assert_once(&b, &clients, &written, &replies, seed);

    let log = std::fs::read_to_string(&b.daemon.log).unwrap_or_default();
    tally.found_in_chat = log
        .matches("Found the client's message an interrupted run had pushed")
        .count();
    tally.pushed_after_look = log
        .matches("An interrupted push did not reach the chat")
        .count();
    tally.resent_blind = log
        .matches("An earlier attempt's fate is unknown and the chat cannot be read")
        .count();
    tally.replies_found = log
        .matches("Found the reply an interrupted run had sent")
        .count();
    tally
}

/// Every client message once in the line, in the order written; every reply once at its
/// client, in the order the operator wrote.
fn assert_once(
    b: &Bridge,
    clients: &[i64],
    written: &[Vec<String>],
    replies: &[Vec<i64>],
    seed: u64,
) {
    let line = b.env.portal.line_messages();
    let posts = b.env.c2d.message_posts();
    for (chat, client) in clients.iter().enumerate() {
        let ids: Vec<&str> = line
            .iter()
            .filter(|m| m.chat_id == chat_key(*client))
            .map(|m| m.message_id.as_str())
            .collect();
        assert_eq!(
            ids, written[chat],
            "seed {seed}, chat {client}: each client message once in the line, in order"
        );
        assert_replies_once_in_order(
            &posts,
            *client,
            &replies[chat],
            EACH,
            &format!("seed {seed}"),
        );
    }
    assert_eq!(posts.len(), CHATS * EACH, "seed {seed}: nothing else sent");
}

/// Waits (up to 90 s) until every line job is done, every event cleared and every client
/// message arrived; no job may die.
async fn wait_settled(b: &Bridge, db: &Path, written: &[Vec<String>], seed: u64) {
    let start = Instant::now();
    loop {
        let jobs = [jobs_of(db, "line_in").await, jobs_of(db, "line_out").await].concat();
        assert!(
            jobs.iter().all(|(s, _)| s != "dead"),
            "seed {seed}: a job died: {jobs:?}"
        );
        let arrived = b
            .env
            .portal
            .line_messages()
            .iter()
            .filter(|m| written.iter().flatten().any(|id| *id == m.message_id))
            .count();
        let done = arrived >= CHATS * EACH
            && b.env.portal.offline_rows().is_empty()
            && jobs.len() == 2 * CHATS * EACH
            && jobs.iter().all(|(s, _)| s == "done");
        if done {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "seed {seed}: {arrived} of {} client messages in the line, {} rows left, jobs \
             {jobs:?}; log:\n{}",
            CHATS * EACH,
            b.env.portal.offline_rows().len(),
            b.daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (up to 30 s) until `n` client messages are queued.
async fn wait_queued(db: &Path, n: usize, b: &Bridge, seed: u64) {
    let start = Instant::now();
    while jobs_of(db, "line_in").await.len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "seed {seed}: {n} client messages not queued; log:\n{}",
            b.daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
