//! Operators' replies' shared setup: the connected local application, the daemon run
//! in-process through the one seam with a reader of offline events each test steps, and
//! the state of the `line_out`/`line_in` jobs.

use super::{free_port, wait_for, Env};
use chat2desk_b24::app::Running;
use chat2desk_b24::config::{AppConfig, Config, Integration, LineConfig, PollStrategy};
use chat2desk_b24::flows::openlines::{ensure_connector, ConnectorSpec, EventsReader, LineSpec};
use chat2desk_b24::portal::{AppClient, OAuthClient};
use chat2desk_b24::store::{Grant, Store};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const LINE: i64 = 3;
pub const CONNECTOR: &str = "chat2desk";
pub const OPERATOR: i64 = 27;

/// The simulators, the connected app and the daemon, run in-process through the one seam.
pub struct Bridge {
    pub env: Env,
    pub config: Config,
    pub daemon: Running,
    /// A reader of offline events like the daemon's, stepped by each test.
    pub reader: EventsReader,
    /// `http://127.0.0.1:<port>` of the webhook listener.
    pub url: String,
}

/// Where the admins' browsers reach the daemon (`[bitrix24.app] daemon_url`).
pub const DAEMON_URL: &str = "https://c2d.corp.lan";

/// Registers the local application on the portal sim, authorises it as the admin's browser
/// does and stores the grant in the state database as `/bitrix24/app` does; the app's
/// config.
pub async fn connected_app(env: &Env) -> AppConfig {
    let app = env
        .portal
        .app_config(DAEMON_URL, &["imopenlines", "imconnector", "im", "crm"]);
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
    /// Connects the app, sets the connector up on line 3 (the scenario's channel) and runs
    /// the daemon; its reader of offline events reads at start only (then once an hour),
    /// so each test steps [`Bridge::reader`] unless it shortens `events_poll_ms`.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Bridge {
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
        config.openlines.events_poll_ms = 3_600_000;
        tweak(&mut config);
        Self::run(env, config).await
    }

    pub async fn run(env: Env, config: Config) -> Bridge {
        let daemon = super::spawn(config.clone()).await;
        let app = daemon.services().app.clone().expect("app client");
        set_up_connector(&app).await;
        let url = format!("http://{}", daemon.webhook_addr().unwrap());
        let reader = EventsReader::new(
            app,
            daemon.services().store.clone(),
            &config.openlines.connector,
            Duration::from_millis(config.openlines.events_poll_ms),
            daemon.daemon().wake.clone(),
        );
        // The daemon's reader has read once (the node leads), so it does not race the test's.
        wait_for("the daemon's first event.offline.get", || {
            env.portal
                .calls_by_method()
                .contains_key("event.offline.get")
        })
        .await;
        Bridge {
            env,
            config,
            daemon,
            reader,
            url,
        }
    }

    pub fn app(&self) -> AppClient {
        self.daemon.services().app.clone().unwrap()
    }

    /// The chat of the scenario's client who wrote on the line's channel.
    pub fn chat(&self) -> String {
        format!("c2d-{}", self.env.s.client_existing)
    }

    pub fn reply(&self, text: &str, files: &[(String, String)]) -> i64 {
        self.env
            .portal
            .operator_reply(CONNECTOR, LINE, &self.chat(), OPERATOR, text, files)
    }

    /// Stops everything as a crash would: no drain, jobs keep their state.
    pub async fn crash(self) -> (Env, Config) {
        self.daemon.abort().await;
        (self.env, self.config)
    }

    pub async fn stop(self) {
        self.daemon.stop().await;
    }
}

pub async fn set_up_connector(app: &AppClient) {
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
pub async fn jobs_of(db: &std::path::Path, kind: &str) -> Vec<(String, Option<String>)> {
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

pub async fn wait_jobs_done(db: &std::path::Path, n: usize) {
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
pub async fn wait_queued(db: &std::path::Path, n: usize, daemon: &super::Binary) {
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

pub fn posts_to(b: &Bridge) -> Vec<Value> {
    b.env
        .c2d
        .message_posts()
        .into_iter()
        .filter(|p| p["client_id"] == json!(b.env.s.client_existing))
        .collect()
}

/// Asserts that Chat2Desk got each of `replies` (their IM ids) exactly once and that `client`
/// got the operator's `each` numbered replies in the order written; `run` names the run in a
/// failure.
pub fn assert_replies_once_in_order(
    posts: &[Value],
    client: i64,
    replies: &[i64],
    each: usize,
    run: &str,
) {
    for im in replies {
        let external = format!("b24-line-{im}");
        let n = posts
            .iter()
            .filter(|p| p["external_id"] == external)
            .count();
        assert_eq!(n, 1, "{run}: reply {im} sent {n} times");
    }
    let texts: Vec<&str> = posts
        .iter()
        .filter(|p| p["client_id"] == json!(client))
        .filter_map(|p| p["text"].as_str())
        .collect();
    let expected: Vec<String> = (0..each).map(|i| format!("Ольга: ответ {i}")).collect();
    assert_eq!(
        texts, expected,
        "{run}, chat {client}: replies in the order the operator wrote"
    );
}
