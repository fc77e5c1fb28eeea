//! Webhooks the simulator delivers: registration, retried deliveries, the documented `inbox`
//! shape, and the control surface of a separate-process simulator.

use chat2desk_b24::chat2desk::{MessageKind, NewWebhook, WebhookEvent};
use chat2desk_b24::sim::chat2desk::Chat2DeskSim;
use chrono_tz::Tz;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

use super::{client, closed_conversation};

/// A tiny webhook receiver: answers the scripted statuses (then 200) and forwards bodies.
async fn receiver(statuses: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Value>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/c2d/secret-path", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    let served = Arc::new(AtomicUsize::new(0));
    let statuses = Arc::new(statuses);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (tx, served, statuses) = (tx.clone(), served.clone(), statuses.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let (tx, served, statuses) = (tx.clone(), served.clone(), statuses.clone());
                    async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        let n = served.fetch_add(1, Ordering::SeqCst);
                        let status = statuses.get(n).copied().unwrap_or(200);
                        if status == 200 {
                            let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
                        }
                        let mut response =
                            hyper::Response::new(Full::new(bytes::Bytes::from_static(b"ok")));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, hyper::Error>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, rx)
}

/// The simulator's delivery log once it has `n` entries (it records after the answer).
async fn deliveries(sim: &Chat2DeskSim, n: usize) -> Vec<(String, u16)> {
    for _ in 0..200 {
        let log = sim.webhook_deliveries();
        if log.len() >= n {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sim.webhook_deliveries()
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Value>) -> WebhookEvent {
    let body = tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .expect("a webhook delivery within 2 s")
        .unwrap();
    WebhookEvent::from_json(&body, Tz::UTC).unwrap()
}

#[tokio::test]
async fn registered_webhooks_receive_close_request() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let (url, mut rx) = receiver(Vec::new()).await;
    let c2d = client(&sim);
    let mut hook = NewWebhook {
        url: url.clone(),
        name: "bitrix24".into(),
        events: vec!["close_request".into()],
        channels: vec![],
    };
    let id = c2d.create_webhook(&hook).await.unwrap();
    hook.events.push("close_dialog".into());
    c2d.update_webhook(id, &hook).await.unwrap();
    let hooks = c2d.webhooks().await.unwrap();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].url, url);
    assert_eq!(hooks[0].events, vec!["close_request", "close_dialog"]);

    let (cl, op, request) = closed_conversation(&sim);
    let first = next_event(&mut rx).await;
    let second = next_event(&mut rx).await;
    let mut types = vec![first.hook_type.clone(), second.hook_type.clone()];
    types.sort();
    assert_eq!(types, vec!["close_dialog", "close_request"]);
    for ev in [first, second] {
        assert_eq!(ev.request_id, Some(request));
        assert_eq!(ev.client_id, Some(cl));
        assert_eq!(ev.operator_id, Some(op));
        assert!(ev.event_time.is_some());
    }
    assert_eq!(
        deliveries(&sim, 2).await,
        vec![(url.clone(), 200), (url, 200)]
    );
}

#[tokio::test]
async fn failed_webhook_deliveries_are_retried_and_inbox_is_documented_shape() {
    let sim = Chat2DeskSim::start().await.unwrap();
    sim.set_webhook_retry_scale(0.001);
    let (url, mut rx) = receiver(vec![500]).await;
    let c2d = client(&sim);
    c2d.create_webhook(&NewWebhook {
        url: url.clone(),
        name: "inbox".into(),
        events: vec!["inbox".into()],
        channels: vec![],
    })
    .await
    .unwrap();
    let ch = sim.add_channel("Main", "79990000000", &["telegram"]);
    let cl = sim.add_client("Olga", None, "telegram", ch);
    let message = sim.client_says(cl, "Hi");
    let ev = next_event(&mut rx).await;
    assert_eq!(ev.hook_type, "inbox");
    let m = ev.message.unwrap();
    assert_eq!(
        (m.id, m.kind, m.text.as_deref()),
        (message, MessageKind::FromClient, Some("Hi"))
    );
    let client = ev.client.unwrap();
    assert!(client.phone.unwrap().starts_with('['));
    assert_eq!(
        deliveries(&sim, 2).await,
        vec![(url.clone(), 500), (url, 200)]
    );
}

#[tokio::test]
async fn control_surface_drives_a_separate_process_simulator() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = http.post(format!("{}{path}", sim.url())).json(&body);
        async move {
            let v: Value = request.send().await.unwrap().json().await.unwrap();
            v
        }
    };
    let id = post(
        "/_sim/client",
        serde_json::json!({"name": "Ivan", "phone": "79001112233", "transport": "whatsapp"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    post(
        "/_sim/message",
        serde_json::json!({"client_id": id, "text": "Hello"}),
    )
    .await;
    let closed = post("/_sim/scenario/close", serde_json::json!({"client_id": id})).await;
    let request = closed["request_id"].as_i64().unwrap();
    let state: Value = http
        .get(format!("{}/_sim/state", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["requests_closed"], 1);
    assert_eq!(state["closed_request_ids"][0], request);
    let messages = client(&sim).request_messages(request).await.unwrap();
    assert_eq!(messages[0].text.as_deref(), Some("Hello"));
}
