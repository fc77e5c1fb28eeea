//! The Chat2Desk client against the Chat2Desk simulator over real HTTP on loopback.

use chat2desk_b24::chat2desk::{
    AttachmentKind, Chat2Desk, Chat2DeskError, Chat2DeskOptions, DialogState, MessageKind,
    MessageQuery, NewWebhook, Order, WebhookEvent,
};
use chat2desk_b24::config::Secret;
use chat2desk_b24::http::Backoff;
use chat2desk_b24::sim::chat2desk::{Chat2DeskSim, TimeFormat};
use chat2desk_b24::sim::faults::FaultKind;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

fn options(sim: &Chat2DeskSim) -> Chat2DeskOptions {
    Chat2DeskOptions {
        api_url: sim.url(),
        token: Secret::new(sim.token()),
        requests_per_second: 0.0,
        timeout: Duration::from_secs(2),
        naive_timezone: Tz::UTC,
        max_retries: 5,
        backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(5)),
    }
}

fn client(sim: &Chat2DeskSim) -> Chat2Desk {
    Chat2Desk::new(options(sim)).unwrap()
}

/// A company with one closed request of a WhatsApp client; returns (client id, operator
/// id, request id).
fn closed_conversation(sim: &Chat2DeskSim) -> (i64, i64, i64) {
    let op = sim.add_operator("Anna", "Li", "anna@example.com");
    let ch = sim.add_channel("Main", "79990000000", &["whatsapp", "telegram"]);
    let cl = sim.add_client("Peter", Some("+7 905 000-00-00"), "whatsapp", ch);
    sim.client_says(cl, "Hello");
    sim.bot_says(cl, "An operator will answer soon");
    sim.operator_says(cl, op, "Hi Peter");
    sim.send_file(
        cl,
        Some(op),
        "pdf",
        "offer.pdf",
        "https://files.example/offer.pdf",
    );
    sim.send_file(
        cl,
        None,
        "attachment",
        "scan.png",
        "https://files.example/f/123",
    );
    sim.system_note(cl, "Dialog transferred");
    let request = sim.close_request(cl);
    (cl, op, request)
}

#[tokio::test]
async fn every_endpoint_decodes() {
    let sim = Chat2DeskSim::start().await.unwrap();
    sim.set_web_domain("https://web.chat2desk.com.mx");
    let (cl, op, request_id) = closed_conversation(&sim);
    let c2d = client(&sim);

    let info = c2d.api_info().await.unwrap();
    assert_eq!(info.domain_urls, vec!["https://web.chat2desk.com.mx"]);

    let request = c2d.request(request_id).await.unwrap();
    assert_eq!(request.client_id, Some(cl));
    assert_eq!(request.operator_id, Some(op));
    assert!(request.created.is_some() && request.closed.is_some());

    let messages = c2d.request_messages(request_id).await.unwrap();
    let kinds: Vec<MessageKind> = messages.iter().map(|m| m.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            MessageKind::FromClient,
            MessageKind::Autoreply,
            MessageKind::ToClient,
            MessageKind::ToClient,
            MessageKind::FromClient,
            MessageKind::System,
        ]
    );
    assert_eq!(messages[0].text.as_deref(), Some("Hello"));
    assert_eq!(messages[3].attachments[0].kind, AttachmentKind::Document);
    assert_eq!(messages[3].attachments[0].name, "offer.pdf");
    assert_eq!(messages[4].attachments[0].kind, AttachmentKind::File);
    assert_eq!(messages[4].attachments[0].name, "scan.png");
    assert!(messages.iter().all(|m| m.request_id == Some(request_id)));

    let client = c2d.client(cl).await.unwrap();
    assert_eq!(client.display_name(), Some("Peter"));
    assert_eq!(client.real_phone().as_deref(), Some("79050000000"));

    let operators = c2d.operators().await.unwrap();
    assert_eq!(operators.len(), 1);
    assert_eq!(operators[0].full_name(), "Anna Li");
    let channels = c2d.channels().await.unwrap();
    assert_eq!(channels[0].transports, vec!["whatsapp", "telegram"]);

    let dialog_id = request.dialog_id.unwrap();
    let dialog = c2d.dialog(dialog_id).await.unwrap();
    assert_eq!(dialog.state, Some(DialogState::Closed));
    assert_eq!(dialog.client_id(), Some(cl));
    assert!(dialog.end.is_some());
    let closed = c2d.dialogs(Some(DialogState::Closed), 0, 20).await.unwrap();
    assert_eq!(closed.total, Some(1));
    assert_eq!(closed.items[0].id, dialog_id);
    let open = c2d.dialogs(Some(DialogState::Open), 0, 20).await.unwrap();
    assert!(open.items.is_empty());

    let page = c2d
        .messages(&MessageQuery {
            dialog_id: Some(dialog_id),
            order: Some(Order::Desc),
            limit: 2,
            ..MessageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, Some(6));
    assert_eq!(page.items.len(), 2);
    assert!(page.items[0].id > page.items[1].id);
    assert!(page.has_more());
    let newer = c2d
        .messages(&MessageQuery {
            start_id: Some(messages[5].id),
            ..MessageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(newer.items.len(), 1);

    assert!(c2d.webhooks().await.unwrap().is_empty());
}

#[tokio::test]
async fn lists_are_paged_beyond_200_items() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let ch = sim.add_channel("Main", "79990000000", &["whatsapp"]);
    let cl = sim.add_client("Bulk", Some("79990000001"), "whatsapp", ch);
    for i in 0..450 {
        sim.client_says(cl, &format!("message {i}"));
    }
    for i in 0..250 {
        sim.add_operator("Op", &i.to_string(), &format!("op{i}@example.com"));
    }
    let request = sim.close_request(cl);
    let c2d = client(&sim);

    let messages = c2d.request_messages(request).await.unwrap();
    assert_eq!(messages.len(), 450);
    assert_eq!(messages[0].text.as_deref(), Some("message 0"));
    assert_eq!(messages[449].text.as_deref(), Some("message 449"));
    assert_eq!(c2d.calls_made(), 3, "200 + 200 + 50");

    assert_eq!(c2d.operators().await.unwrap().len(), 250);
    assert_eq!(c2d.calls_made(), 5);

    let page = c2d
        .messages(&MessageQuery {
            limit: 1000,
            offset: 400,
            ..MessageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (page.items.len(), page.limit, page.total),
        (50, 200, Some(450))
    );
    assert!(!page.has_more());
}

#[tokio::test]
async fn bare_request_messages_array_decodes() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let (_, _, request) = closed_conversation(&sim);
    sim.set_bare_request_messages(true);
    let messages = client(&sim).request_messages(request).await.unwrap();
    assert_eq!(messages.len(), 6);
    assert!(messages.iter().all(|m| m.created.is_some()));
}

#[tokio::test]
async fn every_fault_kind_is_retried_until_success() {
    let sim = Chat2DeskSim::start().await.unwrap();
    sim.faults().set_hang(Duration::from_millis(300));
    sim.faults().set_slow(Duration::from_millis(20));
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        timeout: Duration::from_millis(200),
        ..options(&sim)
    })
    .unwrap();
    for kind in FaultKind::ALL {
        let before = c2d.calls_made();
        // A slow answer is a success: script it once so it does not leak into the next case.
        let times = if kind == FaultKind::Slow { 1 } else { 2 };
        sim.faults().script(std::iter::repeat_n(kind, times));
        let info = c2d.api_info().await;
        assert!(info.is_ok(), "{kind:?}: {info:?}");
        let expected = if kind == FaultKind::Slow { 1 } else { 3 };
        assert_eq!(c2d.calls_made() - before, expected, "{kind:?}");
    }
}

#[tokio::test]
async fn retries_give_up_with_a_transient_error() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        max_retries: 2,
        ..options(&sim)
    })
    .unwrap();
    sim.faults().script([FaultKind::ServerError; 3]);
    let err = c2d.api_info().await.unwrap_err();
    assert!(
        matches!(err, Chat2DeskError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(c2d.calls_made(), 3);
    assert_eq!(err.endpoint(), Some("GET /v1/companies/api_info"));
}

#[tokio::test]
async fn rate_limit_answers_are_retried_in_both_dresses() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let c2d = client(&sim);
    sim.faults().script([FaultKind::RateLimit]);
    c2d.api_info().await.unwrap();
    assert_eq!(c2d.calls_made(), 2);

    sim.set_rate_limit_status(200);
    sim.faults()
        .script([FaultKind::RateLimit, FaultKind::RateLimit]);
    c2d.api_info().await.unwrap();
    assert_eq!(c2d.calls_made(), 5);
}

#[tokio::test]
async fn server_side_request_budget_is_respected_by_backing_off() {
    let sim = Chat2DeskSim::start().await.unwrap();
    sim.set_rate_limit(20.0, 2);
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        max_retries: 10,
        backoff: Backoff::new(Duration::from_millis(30), Duration::from_millis(120)),
        ..options(&sim)
    })
    .unwrap();
    for _ in 0..6 {
        c2d.api_info().await.unwrap();
    }
    assert!(c2d.calls_made() >= 6);
}

#[tokio::test]
async fn bad_token_is_an_auth_error_and_not_retried() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        token: Secret::new("wrong-token-value"),
        ..options(&sim)
    })
    .unwrap();
    let err = c2d.api_info().await.unwrap_err();
    assert!(matches!(err, Chat2DeskError::Auth { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.hint().contains("token"));
    assert_eq!(c2d.calls_made(), 1);
    assert_eq!(sim.api_calls(), 1);

    // The status is undocumented: a 200 with the auth text is the same error.
    sim.set_auth_status(200);
    let err = c2d.request(1).await.unwrap_err();
    assert!(matches!(err, Chat2DeskError::Auth { .. }), "{err:?}");
    assert_eq!(c2d.calls_made(), 2);
}

#[tokio::test]
async fn missing_objects_are_not_found() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let c2d = client(&sim);
    for err in [
        c2d.request(424242).await.unwrap_err(),
        c2d.client(424242).await.unwrap_err(),
        c2d.dialog(424242).await.unwrap_err(),
    ] {
        assert!(matches!(err, Chat2DeskError::NotFound { .. }), "{err:?}");
        assert!(!err.is_transient());
    }
    assert_eq!(c2d.calls_made(), 3);
}

#[tokio::test]
async fn every_time_format_decodes_to_the_same_instant() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let moscow: Tz = "Europe/Moscow".parse().unwrap();
    sim.set_naive_timezone(moscow);
    let ch = sim.add_channel("Main", "79990000000", &["whatsapp"]);
    let cl = sim.add_client("Peter", Some("79990000001"), "whatsapp", ch);
    let message = sim.client_says(cl, "Hello");
    let t: DateTime<Utc> = Utc.with_ymd_and_hms(2024, 3, 5, 21, 30, 15).unwrap();
    sim.set_message_time(message, t);
    let request = sim.open_request_id(cl).unwrap();
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        naive_timezone: moscow,
        ..options(&sim)
    })
    .unwrap();
    for format in [
        None,
        Some(TimeFormat::UtcSuffix),
        Some(TimeFormat::Iso),
        Some(TimeFormat::Dotted),
        Some(TimeFormat::Naive),
        Some(TimeFormat::Unix),
    ] {
        sim.set_time_format(format);
        let messages = c2d.request_messages(request).await.unwrap();
        assert_eq!(messages[0].created, Some(t), "{format:?}");
        let page = c2d.messages(&MessageQuery::default()).await.unwrap();
        assert_eq!(page.items[0].created, Some(t), "{format:?}");
        let dialog = c2d.dialog(messages[0].dialog_id.unwrap()).await.unwrap();
        assert!(dialog.begin.is_some(), "{format:?}");
    }
}

#[tokio::test]
async fn the_token_never_appears_in_errors() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let token = sim.token();
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        max_retries: 0,
        ..options(&sim)
    })
    .unwrap();
    let mut errors = vec![c2d.request(1).await.unwrap_err()];
    for kind in [
        FaultKind::ServerError,
        FaultKind::BadGateway,
        FaultKind::Reset,
        FaultKind::Malformed,
        FaultKind::Truncated,
        FaultKind::RateLimit,
    ] {
        sim.faults().script([kind]);
        errors.push(c2d.api_info().await.unwrap_err());
    }
    let hook = NewWebhook {
        url: "http://127.0.0.1:9/hook".into(),
        name: "b24".into(),
        events: vec!["close_request".into()],
        channels: vec![],
    };
    c2d.create_webhook(&hook).await.unwrap();
    errors.push(c2d.create_webhook(&hook).await.unwrap_err());
    let wrong = Chat2Desk::new(Chat2DeskOptions {
        token: Secret::new(format!("{token}-x")),
        ..options(&sim)
    })
    .unwrap();
    errors.push(wrong.api_info().await.unwrap_err());
    let dead = Chat2Desk::new(Chat2DeskOptions {
        api_url: "http://127.0.0.1:9".into(),
        max_retries: 0,
        ..options(&sim)
    })
    .unwrap();
    errors.push(dead.api_info().await.unwrap_err());
    assert_eq!(errors.len(), 10);
    for e in &errors {
        let shown = format!("{e} {e:?} {}", e.hint());
        assert!(!shown.contains(&token), "{shown}");
    }
    assert!(!format!("{c2d:?}").contains(&token));
    assert!(matches!(errors[9], Chat2DeskError::Transport { .. }));
}

#[tokio::test]
async fn writes_are_retried_only_when_surely_not_processed() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let c2d = client(&sim);
    let hook = NewWebhook {
        url: "http://127.0.0.1:9/a".into(),
        name: "a".into(),
        events: vec!["close_request".into()],
        channels: vec![],
    };
    sim.faults().script([FaultKind::ServerError]);
    let err = c2d.create_webhook(&hook).await.unwrap_err();
    assert!(matches!(err, Chat2DeskError::Server { .. }), "{err:?}");
    assert_eq!(c2d.calls_made(), 1);

    sim.faults().script([FaultKind::RateLimit]);
    let id = c2d.create_webhook(&hook).await.unwrap();
    assert_eq!(c2d.calls_made(), 3);
    assert!(id > 0);

    let err = c2d.create_webhook(&hook).await.unwrap_err();
    match &err {
        Chat2DeskError::Api { message, .. } => assert_eq!(message, "This url is already used"),
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(c2d.calls_made(), 4);
}

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
