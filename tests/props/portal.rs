//! Portal responses: the real client against a server answering arbitrary bytes.

use crate::decoders::json;
use chat2desk_b24::config::Secret;
use chat2desk_b24::http::Backoff;
use chat2desk_b24::portal::{Bitrix24, Bitrix24Options};
use proptest::prelude::*;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// Serves one connection: reads the request head and body, answers `reply`, closes.
async fn answer_once(listener: tokio::net::TcpListener, reply: Vec<u8>) {
    let Ok((mut sock, _)) = listener.accept().await else {
        return;
    };
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = sock.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        seen.extend_from_slice(&buf[..n]);
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                break;
            }
        }
    }
    let _ = sock.write_all(&reply).await;
    let _ = sock.shutdown().await;
}

/// One portal call answered with `reply`; returns within the client's timeout.
fn portal_call_with(reply: Vec<u8>) {
    runtime().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(answer_once(listener, reply));
        let mut opts = Bitrix24Options::from_config(&Default::default());
        opts.webhook_url = Secret::new(format!("http://{addr}/rest/1/propsecret/"));
        opts.requests_per_second = 0.0;
        opts.timeout = Duration::from_secs(2);
        opts.max_retries = 0;
        opts.backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
        let portal = Bitrix24::new(opts).expect("client");
        let outcome = tokio::time::timeout(Duration::from_secs(5), portal.profile()).await;
        let outcome = outcome.expect("the client gives up within its timeout");
        if let Err(e) = outcome {
            // Every error can be shown to a sysadmin and classified.
            let _ = (
                e.to_string(),
                e.is_transient(),
                e.hint(),
                e.code(),
                e.method(),
            );
            assert!(!e.to_string().contains("propsecret"), "{e}");
        }
        server.abort();
    });
}

/// An HTTP answer with a chosen status and headers around an arbitrary body.
fn http_answer() -> impl Strategy<Value = Vec<u8>> {
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        (json(), json()).prop_map(|(r, t)| {
            serde_json::to_vec(&serde_json::json!({"result": r, "time": t})).unwrap()
        }),
        (json(), any::<String>()).prop_map(|(e, d)| {
            serde_json::to_vec(&serde_json::json!({"error": e, "error_description": d})).unwrap()
        }),
    ];
    let status = prop::sample::select(vec![
        200u16, 201, 204, 301, 302, 400, 401, 403, 404, 429, 500, 502, 503, 504, 999,
    ]);
    let content_type = prop::sample::select(vec![
        "application/json",
        "text/html",
        "application/json; charset=utf-8",
        "",
    ]);
    (status, content_type, body, any::<bool>()).prop_map(|(status, ct, body, honest)| {
        let length = if honest { body.len() } else { body.len() + 17 };
        let mut out = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {length}\r\nRetry-After: 0\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn portal_client_turns_any_answer_into_a_value_or_an_error(reply in http_answer()) {
        portal_call_with(reply);
    }

    #[test]
    fn portal_client_survives_raw_bytes(reply in prop::collection::vec(any::<u8>(), 0..400)) {
        portal_call_with(reply);
    }
}
