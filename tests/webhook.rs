//! The webhook intake over real TCP: Chat2Desk's own deliveries become one comment per
//! request, bad input gets its status and a log line without touching the queue, health and
//! metrics answer, and a SIGKILLed binary loses no acknowledged delivery.

mod common;

use chat2desk_b24::app::{build, Daemon};
use chat2desk_b24::config::{Config, Integration, PollStrategy, Secret};
use chat2desk_b24::server::ServerSettings;
use chat2desk_b24::store::{Intake, JobKind, JobState, Store};
use common::{wait_for, Env};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "test-secret-0123456789abcdef";

/// Every log line of this test binary (one global subscriber; tests search for their own).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("chat2desk_b24=debug")
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buffer
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

/// The daemon in-process: worker (and poller when configured) plus the server.
struct Running {
    daemon: Daemon,
    addr: SocketAddr,
    metrics: SocketAddr,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// This test's node leads (the poller runs) while the sender lives.
    _leader: tokio::sync::watch::Sender<bool>,
}

impl Running {
    async fn start(env: &Env, tweak: impl FnOnce(&mut Config)) -> Running {
        logs();
        let mut config = env.config(Integration::Lead);
        config.server.listen = "127.0.0.1:0".into();
        config.server.webhook_secret = Secret::new(SECRET);
        config.sync.poll_strategy = PollStrategy::Off;
        config.sync.schedule = "* * * * * *".into();
        tweak(&mut config);
        let daemon = build(config).await.expect("daemon builds");
        let mut settings = ServerSettings::from_config(&daemon.config.server).unwrap();
        settings.header_timeout = Duration::from_millis(300);
        settings.body_timeout = Duration::from_millis(300);
        let server = daemon
            .bind_server_with(settings)
            .await
            .expect("server binds");
        let addr = server.webhook_addr().unwrap();
        let metrics = server.metrics_addr().unwrap();
        let shutdown = CancellationToken::new();
        // The only node: it leads.
        let (leader_tx, leader) = tokio::sync::watch::channel(true);
        let mut tasks = vec![
            tokio::spawn(server.run(shutdown.clone())),
            tokio::spawn(daemon.worker.clone().run(shutdown.clone())),
        ];
        if daemon.config.sync.poll_strategy != PollStrategy::Off {
            daemon.poller.poll_once().await.expect("first poll");
            tasks.push(tokio::spawn(daemon.poller.clone().run(
                daemon.schedule.subscribe(),
                leader,
                shutdown.clone(),
            )));
        }
        Running {
            daemon,
            addr,
            metrics,
            shutdown,
            tasks,
            _leader: leader_tx,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hook(&self) -> String {
        self.url(&format!("/webhook/{SECRET}"))
    }

    fn store(&self) -> &Store {
        &self.daemon.services().store
    }

    async fn stop(self) {
        self.shutdown.cancel();
        for t in self.tasks {
            t.await.unwrap();
        }
    }
}

async fn post(client: &reqwest::Client, url: &str, body: serde_json::Value) -> u16 {
    client
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat2desk_close_events_become_one_comment_each_despite_repeats() {
    let env = Env::new().await;
    let run = Running::start(&env, |_| {}).await;
    // Register through the CLI code path, as a sysadmin would.
    chat2desk_b24::cli::webhook_set(
        &run.daemon.config,
        &run.daemon.services().chat2desk,
        &format!("http://{}", run.addr),
    )
    .await
    .expect("webhook set");
    // Running it again updates the same hook instead of adding one.
    chat2desk_b24::cli::webhook_set(
        &run.daemon.config,
        &run.daemon.services().chat2desk,
        &format!("http://{}/", run.addr),
    )
    .await
    .expect("webhook set again");
    let hooks = run.daemon.services().chat2desk.webhooks().await.unwrap();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(
        hooks[0].events,
        vec!["close_request", "close_dialog", "client_updated"]
    );

    // The simulator delivers close_request and close_dialog for each closing.
    let requests = chat2desk_b24::sim::scenario::converse(&env.c2d, &env.s);
    wait_for("one comment per request", || {
        requests.iter().all(|r| env.comments_for(*r).len() == 1)
    })
    .await;
    // Repeats and out-of-order deliveries of finished requests change nothing.
    let http = reqwest::Client::new();
    for r in requests.iter().rev() {
        for hook_type in ["close_dialog", "close_request", "close_request"] {
            let body = serde_json::json!({"hook_type": hook_type, "request_id": r});
            assert_eq!(post(&http, &run.hook(), body).await, 200);
        }
    }
    // The secret is never taken from the query string (proxies log it).
    let body = serde_json::json!({"hook_type": "close_request", "request_id": requests[0]});
    assert_eq!(
        post(&http, &run.url(&format!("/webhook?secret={SECRET}")), body).await,
        404
    );
    run.daemon.worker.run_until_idle().await;
    for r in &requests {
        assert_eq!(env.comments_for(*r).len(), 1, "request {r}");
        let job = run
            .store()
            .job(JobKind::TRANSCRIPT, *r)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((job.state, job.intake), (JobState::Done, Intake::Webhook));
    }
    assert!(env
        .c2d
        .webhook_deliveries()
        .iter()
        .all(|(_, status)| *status == 200));
    assert!(
        !log_text().contains(SECRET),
        "the secret never reaches the log"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_and_webhook_together_still_write_one_comment_per_request() {
    let env = Env::new().await;
    let run = Running::start(&env, |c| c.sync.poll_strategy = PollStrategy::Messages).await;
    chat2desk_b24::cli::webhook_set(
        &run.daemon.config,
        &run.daemon.services().chat2desk,
        &format!("http://{}", run.addr),
    )
    .await
    .unwrap();
    let requests = chat2desk_b24::sim::scenario::converse(&env.c2d, &env.s);
    wait_for("one comment per request", || {
        requests.iter().all(|r| env.comments_for(*r).len() == 1)
    })
    .await;
    // Let the poller see the same closings too.
    run.daemon.poller.poll_once().await.unwrap();
    run.daemon.worker.run_until_idle().await;
    for r in &requests {
        assert_eq!(env.comments_for(*r).len(), 1, "request {r}");
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_dialog_without_a_request_id_is_resolved_over_the_api() {
    let env = Env::new().await;
    let run = Running::start(&env, |_| {}).await;
    let client = env
        .c2d
        .add_client("Диалог", Some("79001112233"), "whatsapp", env.s.channel);
    env.c2d.client_says(client, "Здравствуйте");
    let request = env.c2d.close_request(client);
    let info = run
        .daemon
        .services()
        .chat2desk
        .request(request)
        .await
        .unwrap();
    let body =
        serde_json::json!({"hook_type": "close_dialog", "dialog_id": info.dialog_id.unwrap()});
    assert_eq!(post(&reqwest::Client::new(), &run.hook(), body).await, 200);
    wait_for("the dialog's request synced", || {
        env.comments_for(request).len() == 1
    })
    .await;
    run.stop().await;
}

/// Sends raw bytes and returns what the server answered before closing (or timing out).
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server must not wait for a slow client forever"
    );
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_status_and_a_log_line_and_leaves_the_queue_alone() {
    let env = Env::new().await;
    let run = Running::start(&env, |_| {}).await;
    let http = reqwest::Client::new();
    let close = serde_json::json!({"hook_type": "close_request", "request_id": 4242});
    let wrong = run.url("/webhook/not-the-secret-0123456789");
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        ("GET with the right secret", http.get(run.hook()), 405),
        ("wrong secret", http.post(&wrong).json(&close), 404),
        (
            "wrong secret in the query",
            http.post(run.url("/webhook?secret=nope")).json(&close),
            404,
        ),
        (
            "no secret",
            http.post(run.url("/webhook/")).json(&close),
            404,
        ),
        (
            "unknown path",
            http.post(run.url("/hooks")).json(&close),
            404,
        ),
        (
            "over 1 MiB",
            http.post(run.hook()).body(vec![b' '; (1 << 20) + 1]),
            413,
        ),
        (
            "not JSON",
            http.post(run.hook()).body("hook_type=close_request"),
            400,
        ),
        ("JSON array", http.post(run.hook()).body("[1]"), 400),
        (
            "no hook_type",
            http.post(run.hook()).body(r#"{"request_id": 4242}"#),
            400,
        ),
        (
            "close without ids",
            http.post(run.hook())
                .body(r#"{"hook_type":"close_request"}"#),
            400,
        ),
    ];
    // A client address of its own (through the trusted loopback proxy) marks this test's lines.
    let mine = || {
        log_text()
            .lines()
            .filter(|l| l.contains("client=192.0.2.77"))
            .count()
    };
    for (what, request, status) in cases {
        let before = mine();
        let answer = request
            .header("X-Forwarded-For", "192.0.2.77")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), status, "{what}");
        if status == 404 {
            // Wrong secret and unknown path look the same.
            assert_eq!(answer.text().await.unwrap(), "Not Found\n", "{what}");
        }
        if what != "unknown path" {
            // The line may be written a moment after the answer is sent.
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while mine() <= before && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(mine(), before + 1, "{what}: one log line");
        }
    }
    // A body that stops arriving: 408 after the body timeout.
    let head = format!(
        "POST /webhook/{SECRET} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"hook"
    );
    let answer = raw(run.addr, head.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // Headers that never finish: the connection is closed after the header timeout.
    raw(run.addr, b"POST /webhook/").await;
    wait_for("the slow-connection log line", || {
        log_text().contains("Closed a slow connection")
    })
    .await;

    let text = log_text();
    for reason in [
        "method is not POST",
        "wrong or missing webhook secret",
        "body over the size limit",
        "body is not JSON",
        "body is not a JSON object with a hook_type",
        "close_request event names neither request_id nor dialog_id",
        "body not received in time",
    ] {
        assert!(text.contains(reason), "log names the reason `{reason}`");
    }
    assert!(
        text.contains("Refused a webhook request client=192.0.2.77"),
        "log names the client address"
    );
    assert!(
        !text.contains(SECRET) && !text.contains("not-the-secret"),
        "no secret or path logged"
    );
    let counts = run.store().counts().await.unwrap();
    assert_eq!(
        counts.pending + counts.running + counts.done + counts.dead,
        0,
        "queue untouched"
    );
    // Still serving.
    assert_eq!(
        post(
            &http,
            &run.hook(),
            serde_json::json!({"hook_type": "inbox"})
        )
        .await,
        200
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_from_uses_forwarded_addresses_only_from_trusted_proxies() {
    let env = Env::new().await;
    let http = reqwest::Client::new();
    let close = serde_json::json!({"hook_type": "inbox", "message_id": 1});
    let run = Running::start(&env, |c| {
        c.server.allow_from = vec!["203.0.113.0/24".into()]
    })
    .await;
    let send = |xff: Option<&'static str>| {
        let mut r = http.post(run.hook()).json(&close);
        if let Some(xff) = xff {
            r = r.header("X-Forwarded-For", xff);
        }
        r.send()
    };
    assert_eq!(send(None).await.unwrap().status(), 403);
    assert_eq!(send(Some("203.0.113.9")).await.unwrap().status(), 200);
    assert_eq!(
        send(Some("203.0.113.9, 127.0.0.1")).await.unwrap().status(),
        200
    );
    assert_eq!(send(Some("198.51.100.1")).await.unwrap().status(), 403);
    assert!(
        log_text().contains("client=198.51.100.1"),
        "the real client is logged"
    );
    run.stop().await;

    let run = Running::start(&env, |c| {
        c.server.allow_from = vec!["203.0.113.0/24".into()];
        c.server.trusted_proxies = Vec::new();
    })
    .await;
    let answer = http
        .post(run.hook())
        .header("X-Forwarded-For", "203.0.113.9")
        .json(&close)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        403,
        "X-Forwarded-For from an untrusted peer is ignored"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_answer_on_their_own_listener() {
    let env = Env::new().await;
    let run = Running::start(&env, |c| {
        c.server.metrics_listen = Some("127.0.0.1:0".into())
    })
    .await;
    let http = reqwest::Client::new();
    let metrics_url = |path: &str| format!("http://{}{path}", run.metrics);
    assert_ne!(run.metrics, run.addr);
    wait_for("the worker loop", || {
        run.daemon.services().stats.since_tick_ms().is_some()
    })
    .await;
    let health = http.get(metrics_url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Not exposed on the webhook listener (what the proxy forwards to).
    assert_eq!(
        http.get(run.url("/metrics")).send().await.unwrap().status(),
        404
    );
    assert_eq!(
        http.get(run.url("/healthz")).send().await.unwrap().status(),
        404
    );
    // Webhooks are not served on the metrics listener.
    let hook = format!("http://{}/webhook/{SECRET}", run.metrics);
    assert_eq!(
        post(&http, &hook, serde_json::json!({"hook_type": "inbox"})).await,
        404
    );

    let c = env
        .c2d
        .add_client("Метрика", Some("79005556677"), "whatsapp", env.s.channel);
    env.c2d.client_says(c, "Вопрос");
    let request = env.c2d.close_request(c);
    let close = serde_json::json!({"hook_type": "close_request", "request_id": request});
    assert_eq!(post(&http, &run.hook(), close).await, 200);
    assert_eq!(
        post(
            &http,
            &run.hook(),
            serde_json::json!({"hook_type": "new_client"})
        )
        .await,
        200
    );
    wait_for("synced", || env.comments_for(request).len() == 1).await;
    let page = http.get(metrics_url("/metrics")).send().await.unwrap();
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    let page = page.text().await.unwrap();
    for line in [
        "chat2desk_b24_healthy 1",
        "chat2desk_b24_queue_jobs{state=\"pending\"}",
        "chat2desk_b24_queue_jobs{state=\"done\"}",
        "chat2desk_b24_requests_synced_total",
        "chat2desk_b24_requests_failed_total",
        "chat2desk_b24_webhook_events_total{type=\"close_request\",outcome=\"enqueued\"}",
        "chat2desk_b24_webhook_events_total{type=\"new_client\",outcome=\"ignored\"}",
        "chat2desk_b24_remote_calls_total{service=\"chat2desk\",method=\"GET /v1/requests/{id}/messages\",outcome=\"ok\"}",
        "chat2desk_b24_remote_calls_total{service=\"bitrix24\"",
        "chat2desk_b24_remote_call_duration_seconds_bucket{le=\"+Inf\",service=\"bitrix24\"",
        "chat2desk_b24_webhook_ack_duration_seconds_count",
    ] {
        assert!(page.contains(line), "metrics page has `{line}`:\n{page}");
    }
    assert!(!page.contains(SECRET));

    // A database that does not answer makes /healthz fail with the reason.
    run.store().close().await;
    let health = http.get(metrics_url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    assert!(health.text().await.unwrap().contains("state database"));
    // And a webhook is then answered 503 so Chat2Desk retries.
    let close = serde_json::json!({"hook_type": "close_request", "request_id": 99});
    assert_eq!(post(&http, &run.hook(), close).await, 503);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_right_after_acknowledging_a_burst_loses_nothing() {
    let env = Env::new().await;
    // 50 closed requests the daemon has not seen (no hook registered in the simulator).
    let mut requests = Vec::new();
    for i in 0..50 {
        let c = env.c2d.add_client(
            &format!("Клиент {i}"),
            Some(&format!("7900{:07}", i)),
            "whatsapp",
            env.s.channel,
        );
        env.c2d.client_says(c, "Добрый день");
        requests.push(env.c2d.close_request(c));
    }
    // A slow portal keeps most jobs unfinished at the kill.
    env.portal.faults().set_latency(Duration::from_millis(30));
    let mut daemon = env.spawn_daemon("[sync]\npoll_strategy = \"off\"").await;
    let http = reqwest::Client::new();
    // 200 deliveries (each request four times), 16 at once.
    let hook = daemon.webhook_url();
    let bodies: Vec<serde_json::Value> = (0..4)
        .flat_map(|round| {
            requests.iter().map(move |r| {
                let kind = if round % 2 == 0 {
                    "close_request"
                } else {
                    "close_dialog"
                };
                serde_json::json!({"hook_type": kind, "request_id": r})
            })
        })
        .collect();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let queue = Arc::new(Mutex::new(bodies));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (http, hook, queue, acked) = (http.clone(), hook.clone(), queue.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let Some(body) = queue.lock().unwrap().pop() else {
                    return;
                };
                let status = http.post(&hook).json(&body).send().await.unwrap().status();
                assert_eq!(status, 200);
                acked
                    .lock()
                    .unwrap()
                    .push(body["request_id"].as_i64().unwrap());
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    daemon.kill9();
    let mut acked = acked.lock().unwrap().clone();
    acked.sort_unstable();
    acked.dedup();
    assert_eq!(acked.len(), requests.len());
    let store = Store::open(&env.db()).await.unwrap();
    for r in &acked {
        let job = store.job(JobKind::TRANSCRIPT, *r).await.unwrap();
        assert!(job.is_some(), "acknowledged request {r} is in the queue");
    }
    store.close().await;

    env.portal.faults().set_latency(Duration::ZERO);
    daemon.restart().await;
    env.wait_all_done(&acked).await;
    daemon.kill9();
    for r in &acked {
        assert_eq!(
            env.comments_for(*r).len(),
            1,
            "request {r} synced exactly once"
        );
    }
}
