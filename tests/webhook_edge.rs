//! The webhook intake's edge over real TCP: bad input gets its status and a log line without
//! touching the queue, `allow_from` believes forwarded addresses only from trusted proxies,
//! and health and metrics answer on their own listener.

mod common;

use common::webhook::*;
use common::{wait_for, Env};
use std::time::Duration;

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
