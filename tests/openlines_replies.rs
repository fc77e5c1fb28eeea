//! Operators' replies from an Open Line to the client, over real HTTP against both
//! simulators with a real SQLite file: the portal queues an `OnImConnectorMessageAdd`
//! offline event, the daemon's reader reserves and stores it, the `line_out` job sends one
//! `POST /messages` to the chat's client on the line's channel, reports the delivery and
//! clears the event. Refusals are shown in the line and marked with `event.offline.error`;
//! reservations a crash left unknown are taken over; operators' files are re-hosted under
//! expiring links; a crash in the middle of a job sends nothing twice.

mod common;

use chat2desk_b24::bitrix24::{AppClient, OAuthClient};
use chat2desk_b24::config::{AppConfig, Config, Integration, LineConfig, PollStrategy, Secret};
use chat2desk_b24::openlines::{ensure_connector, ConnectorSpec, EventsReader, LineSpec};
use chat2desk_b24::service::{build, Daemon};
use chat2desk_b24::sim::faults::FaultKind;
use chat2desk_b24::store::{Grant, Store};
use common::Env;
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

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The admin's browser authorises the app; the grant is stored as `/bitrix24/app` does.
async fn connect(env: &Env, app: &AppConfig, store: &Store) {
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
}

impl Bridge {
    /// Connects the app, sets the connector up on line 3 (the scenario's channel), builds
    /// the daemon and runs its listener and worker (the reader is driven by each test).
    async fn start(tweak: impl FnOnce(&mut Config)) -> Bridge {
        let env = Env::new().await;
        let (client_id, secret) = env.portal.register_app(
            "https://c2d.corp.lan/bitrix24/app",
            &["imopenlines", "imconnector", "im", "crm"],
        );
        let port = free_port();
        let mut config = env.config(Integration::Lead);
        config.sync.poll_strategy = PollStrategy::Off;
        config.chat2desk.timeout_secs = 2;
        config.server.listen = format!("127.0.0.1:{port}");
        config.bitrix24.app = Some(AppConfig {
            client_id,
            client_secret: Secret::new(secret),
            oauth_url: env.portal.oauth_url(),
            daemon_url: "https://c2d.corp.lan".into(),
        });
        config.openlines.lines = vec![LineConfig {
            line: LINE,
            channels: vec![env.s.channel],
        }];
        config.openlines.events_poll_ms = 100;
        tweak(&mut config);
        let store = Store::open(&config.database.path).await.unwrap();
        connect(&env, config.bitrix24.app.as_ref().unwrap(), &store).await;
        store.close().await;
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
        placement_handler: "https://c2d.corp.lan/bitrix24/connector".into(),
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

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `(state, last_error)` of every `line_out` job.
async fn line_out_jobs(db: &std::path::Path) -> Vec<(String, Option<String>)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT state, last_error FROM jobs WHERE kind = 'line_out' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows
}

async fn wait_jobs_done(db: &std::path::Path, n: usize) {
    let start = Instant::now();
    loop {
        let jobs = line_out_jobs(db).await;
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
    wait_until("the delivery status", || {
        !b.env.portal.delivered().is_empty()
    })
    .await;
    wait_until("the event cleared", || {
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
    wait_until("POST /messages", || b.env.c2d.message_posts().len() == 1).await;
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

/// The real binary, SIGKILLed at random moments while operators answer: every reply reaches
/// the client exactly once and every event is cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_the_real_binary_at_random_moments_sends_every_reply_once() {
    use rand::Rng;
    const REPLIES: usize = 20;
    let env = Env::new().await;
    let (client_id, secret) = env.portal.register_app(
        "https://c2d.corp.lan/bitrix24/app",
        &["imopenlines", "imconnector", "im", "crm"],
    );
    let app = AppConfig {
        client_id: client_id.clone(),
        client_secret: Secret::new(secret.clone()),
        oauth_url: env.portal.oauth_url(),
        daemon_url: "https://c2d.corp.lan".into(),
    };
    let store = Store::open(&env.db()).await.unwrap();
    connect(&env, &app, &store).await;
    store.close().await;
    env.c2d.client_says(env.s.client_existing, "Добрый день");
    let extra = format!(
        r#"
[sync]
poll_strategy = "off"
[bitrix24.app]
client_id = "{client_id}"
client_secret = "{secret}"
oauth_url = "{oauth}"
daemon_url = "https://c2d.corp.lan"
[openlines]
connector = "{CONNECTOR}"
events_poll_ms = 100
[[openlines.lines]]
line = {LINE}
channels = [{channel}]
"#,
        oauth = env.portal.oauth_url(),
        channel = env.s.channel,
    );
    // Answers come late, so kills land between Chat2Desk taking a reply and the daemon
    // storing that it did.
    env.c2d.hold_message_answers(Duration::from_millis(150));
    let mut daemon = env.spawn_daemon(&extra).await;
    wait_until("the offline events bound at start", || {
        !env.portal.offline_bindings().is_empty()
    })
    .await;
    let chat = format!("c2d-{}", env.s.client_existing);
    let mut ims = Vec::new();
    for i in 0..REPLIES {
        ims.push(env.portal.operator_reply(
            CONNECTOR,
            LINE,
            &chat,
            OPERATOR,
            &format!("Ответ {i}"),
            &[],
        ));
        let pause = rand::thread_rng().gen_range(0..300);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if i % 4 == 3 {
            daemon.kill9();
            daemon.restart().await;
        }
    }
    let start = Instant::now();
    loop {
        let posts = env.c2d.message_posts();
        let rows = env.portal.offline_rows();
        if rows.is_empty() && posts.len() >= REPLIES {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} posts, {} rows left; log:\n{}",
            posts.len(),
            rows.len(),
            daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let posts = env.c2d.message_posts();
    for im in &ims {
        let external = format!("b24-line-{im}");
        let n = posts
            .iter()
            .filter(|p| p["external_id"] == external)
            .count();
        assert_eq!(n, 1, "reply {im} sent {n} times");
    }
    assert_eq!(posts.len(), REPLIES, "nothing else was sent");
    let texts: Vec<&str> = posts.iter().filter_map(|p| p["text"].as_str()).collect();
    let expected: Vec<String> = (0..REPLIES).map(|i| format!("Ответ {i}")).collect();
    assert_eq!(texts, expected, "in the order the operator wrote them");
    let log = std::fs::read_to_string(&daemon.log).unwrap_or_default();
    eprintln!(
        "kills: {}, replies found after a kill: {}, reservations taken over: {}",
        REPLIES / 4,
        log.matches("Found the reply an interrupted run had sent")
            .count(),
        log.matches("Taking over offline events").count()
    );
}
