//! Operators' replies from an Open Line to the client, over real HTTP against both
//! simulators with a real SQLite file: the portal queues an `OnImConnectorMessageAdd`
//! offline event, the daemon's reader reserves and stores it, the `line_out` job sends one
//! `POST /messages` to the chat's client on the line's channel, reports the delivery and
//! clears the event. Refusals are shown in the line and marked with `event.offline.error`;
//! reservations a crash left unknown are taken over; operators' files are re-hosted under
//! expiring links; a crash in the middle of a job sends nothing twice.

mod common;

use chat2desk_b24::app::{build, Daemon};
use chat2desk_b24::config::{AppConfig, Config, Integration, LineConfig, PollStrategy, Secret};
use chat2desk_b24::flows::openlines::{ensure_connector, ConnectorSpec, EventsReader, LineSpec};
use chat2desk_b24::portal::{AppClient, OAuthClient};
use chat2desk_b24::sim::faults::FaultKind;
use chat2desk_b24::store::{Grant, Store};
use common::{command, free_port, output, wait_for, Env};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const LINE: i64 = 3;
const CONNECTOR: &str = "chat2desk";
const OPERATOR: i64 = 27;

/// The simulators, the connected app and the daemon's parts, run in-process.
struct Bridge {
    env: Env,
    config: Config,
    daemon: Daemon,
    reader: EventsReader,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// `http://127.0.0.1:<port>` of the webhook listener.
    url: String,
}

/// Where the admins' browsers reach the daemon (`[bitrix24.app] daemon_url`).
const DAEMON_URL: &str = "https://c2d.corp.lan";

/// Registers the local application on the portal sim, authorises it as the admin's browser
/// does and stores the grant in the state database as `/bitrix24/app` does; the app's
/// config.
async fn connected_app(env: &Env) -> AppConfig {
    let (client_id, secret) = env.portal.register_app(
        &format!("{DAEMON_URL}/bitrix24/app"),
        &["imopenlines", "imconnector", "im", "crm"],
    );
    let app = AppConfig {
        client_id,
        client_secret: Secret::new(secret),
        oauth_url: env.portal.oauth_url(),
        daemon_url: DAEMON_URL.into(),
    };
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser
        .get(format!("{}/oauth/authorize/", env.portal.base_url()))
        .query(&[("client_id", app.client_id.as_str()), ("state", "s")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let oauth = OAuthClient::new(
        &app.oauth_url,
        &app.client_id,
        &app.client_secret,
        Duration::from_secs(4),
    )
    .unwrap();
    let tokens = oauth.exchange_code(&code).await.unwrap();
    let store = Store::open(&env.db()).await.unwrap();
    store
        .save_grant(&Grant {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_at: tokens.expires_at,
            member_id: tokens.member_id.unwrap_or_default(),
            user_id: tokens.user_id.unwrap_or_default(),
            user_name: "Admin".into(),
            scopes: tokens.scopes,
            authorized_at: chrono::Utc::now(),
            refreshed_at: None,
            revoked: None,
        })
        .await
        .unwrap();
    store.close().await;
    app
}

impl Bridge {
    /// Connects the app, sets the connector up on line 3 (the scenario's channel), builds
    /// the daemon and runs its listener and worker (the reader is driven by each test).
    async fn start(tweak: impl FnOnce(&mut Config)) -> Bridge {
        let env = Env::new().await;
        let mut config = env.config(Integration::Lead);
        config.sync.poll_strategy = PollStrategy::Off;
        config.chat2desk.timeout_secs = 2;
        config.server.listen = format!("127.0.0.1:{}", free_port());
        config.bitrix24.app = Some(connected_app(&env).await);
        config.openlines.lines = vec![LineConfig {
            line: LINE,
            channels: vec![env.s.channel],
        }];
        config.openlines.events_poll_ms = 100;
        tweak(&mut config);
        Self::run(env, config).await
    }

    async fn run(env: Env, config: Config) -> Bridge {
        let daemon = build(config.clone()).await.expect("daemon builds");
        let app = daemon.services().app.clone().expect("app client");
        set_up_connector(&app).await;
        let server = daemon.bind_server().await.unwrap().expect("listener");
        let url = format!("http://{}", server.webhook_addr().unwrap());
        let reader = daemon
            .events_reader()
            .expect("the reader runs with lines and an app");
        let shutdown = CancellationToken::new();
        let tasks = vec![
            tokio::spawn(server.run(shutdown.clone())),
            tokio::spawn(daemon.worker.clone().run(shutdown.clone())),
        ];
        Bridge {
            env,
            config,
            daemon,
            reader,
            shutdown,
            tasks,
            url,
        }
    }

    fn app(&self) -> AppClient {
        self.daemon.services().app.clone().unwrap()
    }

    /// Runs the reader's loop as the daemon does (this node leads).
    fn run_reader(&mut self) {
        let (tx, rx) = watch::channel(true);
        let reader = self.reader.clone();
        let shutdown = self.shutdown.clone();
        self.tasks.push(tokio::spawn(async move {
            let _leader = tx;
            reader.run(rx, shutdown).await;
        }));
    }

    /// The chat of the scenario's client who wrote on the line's channel.
    fn chat(&self) -> String {
        format!("c2d-{}", self.env.s.client_existing)
    }

    fn reply(&self, text: &str, files: &[(String, String)]) -> i64 {
        self.env
            .portal
            .operator_reply(CONNECTOR, LINE, &self.chat(), OPERATOR, text, files)
    }

    /// Stops everything as a crash would: no drain, jobs keep their state.
    async fn crash(self) -> (Env, Config) {
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
        (self.env, self.config)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn set_up_connector(app: &AppClient) {
    let spec = ConnectorSpec {
        id: CONNECTOR.into(),
        placement_handler: format!("{DAEMON_URL}/bitrix24/connector"),
        status_checks: 20,
        status_pause: Duration::from_millis(50),
    };
    let line = LineSpec {
        line: LINE,
        name: "Chat2Desk: WhatsApp".into(),
        url: "https://web.chat2desk.com".into(),
    };
    let setup = ensure_connector(app, &spec, &[line]).await.unwrap();
    assert!(setup.iter().all(|l| l.configured), "{setup:?}");
}

/// `(state, last_error)` of every job of `kind`.
async fn jobs_of(db: &std::path::Path, kind: &str) -> Vec<(String, Option<String>)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT state, last_error FROM jobs WHERE kind = ? ORDER BY id")
            .bind(kind)
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows
}

async fn wait_jobs_done(db: &std::path::Path, n: usize) {
    let start = Instant::now();
    loop {
        let jobs = jobs_of(db, "line_out").await;
        assert!(
            jobs.iter().all(|(s, _)| s != "dead"),
            "a line_out job died: {jobs:?}"
        );
        if jobs.len() == n && jobs.iter().all(|(s, _)| s == "done") {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "line_out jobs not done: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `n` client messages are queued for the line (their webhooks taken).
async fn wait_queued(db: &std::path::Path, n: usize, daemon: &common::Binary) {
    let start = Instant::now();
    while jobs_of(db, "line_in").await.len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{n} client messages not queued; log:\n{}",
            daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn posts_to(b: &Bridge) -> Vec<Value> {
    b.env
        .c2d
        .message_posts()
        .into_iter()
        .filter(|p| p["client_id"] == json!(b.env.s.client_existing))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_reply_reaches_the_client_once_with_delivery_and_clear() {
    let mut b = Bridge::start(|_| {}).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    b.run_reader();
    let im = b.reply(
        "[b]Ольга Смирнова:[/b][br] Здравствуйте! [i]Чем помочь?[/i]",
        &[],
    );
    wait_for("the delivery status", || {
        !b.env.portal.delivered().is_empty()
    })
    .await;
    wait_for("the event cleared", || {
        b.env.portal.offline_rows().is_empty()
    })
    .await;
    let posts = posts_to(&b);
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let p = &posts[0];
    assert_eq!(p["channel_id"], json!(b.env.s.channel));
    assert_eq!(p["transport"], "whatsapp");
    assert_eq!(p["type"], "to_client");
    assert_eq!(p["text"], "Ольга Смирнова: Здравствуйте! Чем помочь?");
    assert_eq!(p["external_id"], format!("b24-line-{im}"));
    let delivered = b.env.portal.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(delivered[0].starts_with("c2d-msg-"), "{delivered:?}");
    wait_jobs_done(&b.config.database.path, 1).await;

    // Read again (as after a restart): nothing new, the batch closes, nothing sent again.
    let swept = b.reader.sweep().await.unwrap();
    assert_eq!(swept.closed, 1, "{swept:?}");
    let store = Store::open(&b.config.database.path).await.unwrap();
    assert!(store.open_offline_batches().await.unwrap().is_empty());
    assert_eq!(posts_to(&b).len(), 1);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signature_is_dropped_when_configured_and_other_events_are_cleared() {
    let b = Bridge::start(|c| {
        c.openlines.operator_name = chat2desk_b24::config::OperatorName::Drop;
    })
    .await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    b.reply("[b]Ольга:[/b][br]Готово", &[]);
    // A line deleted on the portal is not a reply: logged and cleared, no job.
    b.env
        .portal
        .raise_offline_event("ONIMCONNECTORLINEDELETE", json!(LINE.to_string()), OPERATOR);
    let report = b.reader.read_new().await.unwrap();
    assert_eq!(
        (report.events, report.queued, report.cleared),
        (2, 1, 1),
        "{report:?}"
    );
    wait_jobs_done(&b.config.database.path, 1).await;
    assert_eq!(posts_to(&b)[0]["text"], "Готово");
    assert!(b.env.portal.offline_rows().is_empty());
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_send_is_shown_in_the_line_and_marked_as_an_error_not_retried() {
    let mut b = Bridge::start(|_| {}).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    b.env.c2d.refuse_messages(&["Client is blocked"]);
    b.run_reader();
    b.reply("[b]Ольга:[/b][br] Ответ", &[]);
    wait_jobs_done(&b.config.database.path, 1).await;
    let notes: Vec<_> = b
        .env
        .portal
        .line_messages()
        .into_iter()
        .filter(|m| m.chat_id == b.chat())
        .collect();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(notes[0].line, LINE);
    assert!(
        notes[0].text.contains("Сообщение не доставлено клиенту")
            && notes[0].text.contains("Client is blocked"),
        "{}",
        notes[0].text
    );
    let rows = b.env.portal.offline_rows();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].3, "marked with event.offline.error: {rows:?}");
    assert!(b.env.portal.delivered().is_empty());
    // Not retried: one attempt, and the worker stays idle.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(posts_to(&b).len(), 1);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_retried_and_sent_once() {
    let b = Bridge::start(|c| c.sync.backoff_base_secs = 1).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    // The channel lookup passes, `POST /messages` answers 500 once.
    let faults = b.env.c2d.faults();
    faults.set_slow(Duration::ZERO);
    faults.script([FaultKind::Slow, FaultKind::ServerError]);
    b.reply("Повтор", &[]);
    b.reader.read_new().await.unwrap();
    wait_jobs_done(&b.config.database.path, 1).await;
    assert_eq!(
        posts_to(&b).len(),
        1,
        "the 500 was not taken, the retry was"
    );
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", b.config.database.path.display()))
        .await
        .unwrap();
    let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM jobs WHERE kind = 'line_out'")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(attempts, 1, "one failed attempt before the one that sent");
    let delivered = b.env.portal.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(b.env.portal.offline_rows().is_empty());
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_reserved_by_a_crashed_reader_are_taken_over() {
    let b = Bridge::start(|_| {}).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    b.reply("Первый", &[]);
    b.reply("Второй", &[]);
    // The crashed daemon's get: the portal reserved the rows, the answer never got stored.
    let lost = b
        .app()
        .call(
            "event.offline.get",
            json!({"clear": 0, "limit": 50, "auth_connector": CONNECTOR}),
        )
        .await
        .unwrap();
    assert_eq!(lost["events"].as_array().unwrap().len(), 2);
    let plain = b.reader.read_new().await.unwrap();
    assert_eq!(plain.events, 0, "reserved rows are hidden from a plain get");
    let swept = b.reader.sweep().await.unwrap();
    assert_eq!((swept.taken_over, swept.queued), (1, 2), "{swept:?}");
    wait_jobs_done(&b.config.database.path, 2).await;
    let texts: Vec<Value> = posts_to(&b).iter().map(|p| p["text"].clone()).collect();
    assert_eq!(texts, [json!("Первый"), json!("Второй")], "in order");
    assert!(b.env.portal.offline_rows().is_empty());
    assert_eq!(b.reader.sweep().await.unwrap().closed, 1);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_is_rehosted_at_the_public_url_and_expires() {
    let port = free_port();
    let b = Bridge::start(|c| {
        c.server.listen = format!("127.0.0.1:{port}");
        c.server.public_url = Some(format!("http://127.0.0.1:{port}/"));
    })
    .await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Пришлите договор");
    let pdf = b"%PDF-1.4 offer".to_vec();
    let link = b
        .env
        .portal
        .attach_file("Договор №5.pdf", "application/pdf", &pdf);
    b.reply(
        "[b]Ольга:[/b][br] Договор во вложении",
        &[("Договор №5.pdf".into(), link.clone())],
    );
    b.reader.read_new().await.unwrap();
    wait_jobs_done(&b.config.database.path, 1).await;
    let text = posts_to(&b)[0]["text"].as_str().unwrap().to_string();
    let (words, hosted) = text.split_once('\n').expect("the link follows the text");
    assert_eq!(words, "Ольга: Договор во вложении");
    let prefix = format!("{}/files/", b.url);
    assert!(hosted.starts_with(&prefix), "{hosted}");
    assert!(!text.contains(&link), "the portal link is not given out");
    let token = hosted[prefix.len()..]
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert!(token.len() >= 64, "{token}");

    let http = reqwest::Client::new();
    let got = http.get(hosted).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "application/pdf");
    let disposition = got.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.contains("filename*=UTF-8''%D0%94%D0%BE%D0%B3%D0%BE%D0%B2%D0%BE%D1%80"),
        "{disposition}"
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), pdf.as_slice());

    let guessed = format!("{}/files/{}/x.pdf", b.url, "0".repeat(64));
    assert_eq!(http.get(guessed).send().await.unwrap().status(), 404);
    // A week later: the token is gone.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", b.config.database.path.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE hosted_files SET expires_at = 0")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(http.get(hosted).send().await.unwrap().status(), 404);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_public_url_files_go_as_portal_links_and_the_line_is_told_once() {
    let b = Bridge::start(|_| {}).await;
    b.env
        .c2d
        .client_says(b.env.s.client_existing, "Добрый день");
    let link = b.env.portal.attach_file("plan.jpg", "image/jpeg", b"jpg");
    b.reply("Первый файл", &[("plan.jpg".into(), link.clone())]);
    b.reader.read_new().await.unwrap();
    wait_jobs_done(&b.config.database.path, 1).await;
    b.reply("Второй файл", &[("plan.jpg".into(), link.clone())]);
    b.reader.read_new().await.unwrap();
    wait_jobs_done(&b.config.database.path, 2).await;
    let posts = posts_to(&b);
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0]["text"], format!("Первый файл\n{link}"));
    let notes: Vec<_> = b
        .env
        .portal
        .line_messages()
        .into_iter()
        .filter(|m| m.chat_id == b.chat())
        .collect();
    assert_eq!(notes.len(), 1, "told once: {notes:#?}");
    assert!(notes[0].text.contains("public_url"), "{}", notes[0].text);
    b.stop().await;
}

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
        for im in &replies[chat] {
            let external = format!("b24-line-{im}");
            let n = posts
                .iter()
                .filter(|p| p["external_id"] == external)
                .count();
            assert_eq!(n, 1, "reply {im} sent {n} times");
        }
        let texts: Vec<&str> = posts
            .iter()
            .filter(|p| p["client_id"] == json!(client))
            .filter_map(|p| p["text"].as_str())
            .collect();
        let expected: Vec<String> = (0..EACH).map(|i| format!("Ольга: ответ {i}")).collect();
        assert_eq!(
            texts, expected,
            "chat {client}: in the order the operator wrote"
        );
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
