//! Hostile input on the form routes, against the real binary as an attacker on the LAN
//! sends it: bracket bombs with and without the secret, field floods, oversized bodies,
//! secrets in query strings, forged local-application posts with absurd numbers, forged
//! `X-Forwarded-For` hops and a connection flood. Each is refused with a 4xx; meanwhile
//! `/healthz` keeps its p99 within 100 ms, RSS stays under 100 MiB, and afterwards nothing
//! was sent, written to the portal or queued. A fuzzer then throws random requests at every
//! route.

mod common;

use common::hostile::{target, Watch, BIZPROC_SECRET};
use common::WEBHOOK_SECRET;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: String,
) -> (u16, String) {
    let answer = match http
        .request(method, url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
    {
        Ok(answer) => answer,
        // A body over the limit is refused (413) as soon as its length is known; the daemon
        // then closes, and a client still writing may see the close before the answer.
        Err(e) if closed_while_writing(&e) => return (CLOSED, e.to_string()),
        Err(e) => panic!("the daemon answers: {e:?}"),
    };
    (
        answer.status().as_u16(),
        answer.text().await.unwrap_or_default(),
    )
}

/// What [`send`] reports when the daemon closed the connection before the body was sent.
const CLOSED: u16 = 0;

/// True when `e` is the connection closed under a request still being written.
fn closed_while_writing(e: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            );
        }
        source = err.source();
    }
    false
}

/// Writes `head` (no body) on a new connection; what the daemon answered before closing.
async fn raw(addr: &str, head: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tcp.read(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_routes_refuse_bombs_floods_and_forgeries_without_a_crash_or_a_stall() {
    let mut t = target("[server]\nallow_from = [\"127.0.0.0/8\"]\n").await;
    let watch = Watch::start(&t);
    let http = reqwest::Client::new();
    let (post, get) = (reqwest::Method::POST, reqwest::Method::GET);
    let send_url = format!("{}/bizproc/send", t.base);
    let secret = format!("auth[application_token]={BIZPROC_SECRET}");
    let bomb = format!("a{}=1", "[]".repeat(5_000));

    // A 10 KB bracket bomb: without the secret nothing is decoded; with it, refused by depth.
    let (status, _) = send(&http, post.clone(), send_url.clone(), bomb.clone()).await;
    assert_eq!(status, 401);
    let (status, body) = send(
        &http,
        post.clone(),
        send_url.clone(),
        format!("{secret}&{bomb}"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("nests more than 5"), "{body}");
    let channels = format!("{}/bizproc/channels?{bomb}&{secret}", t.base);
    let (status, _) = send(&http, get.clone(), channels, String::new()).await;
    assert_eq!(status, 401, "the secret is never taken from the query");
    let (status, _) = send(
        &http,
        post.clone(),
        format!("{send_url}?{secret}"),
        "event_token=t&properties[text]=hi".into(),
    )
    .await;
    assert_eq!(status, 401, "nor from the query of a POST");

    // 40,000 pairs are over the 64 KiB form limit; 1,001 within it are over the field cap.
    let flood = "a[]=1&".repeat(40_000);
    let (status, _) = send(
        &http,
        post.clone(),
        send_url.clone(),
        format!("{secret}&{flood}"),
    )
    .await;
    assert!(
        matches!(status, 413 | CLOSED),
        "refused, not read: {status}"
    );
    let many = "a[]=1&".repeat(1_001);
    let (a, b) = tokio::join!(
        send(
            &http,
            post.clone(),
            send_url.clone(),
            format!("{secret}&{many}")
        ),
        send(
            &http,
            post.clone(),
            send_url.clone(),
            format!("{secret}&{many}")
        ),
    );
    assert_eq!((a.0, b.0), (400, 400), "{a:?}");
    assert!(a.1.contains("more than 1000 form fields"), "{a:?}");

    // 1 MiB bodies: the local app's form is capped like /bizproc/*; a webhook with a wrong
    // secret is refused before its body is read.
    let mib = "x".repeat(1 << 20);
    let app = format!("{}/bitrix24/app", t.base);
    let (status, _) = send(&http, post.clone(), app.clone(), format!("AUTH_ID={mib}")).await;
    assert!(
        matches!(status, 413 | CLOSED),
        "refused, not read: {status}"
    );
    let addr = t.base.trim_start_matches("http://").to_string();
    let head = format!(
        "POST /webhook/not-{WEBHOOK_SECRET} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        mib.len()
    );
    assert!(raw(&addr, &head).await.starts_with("HTTP/1.1 404"));
    let query_form = format!("{}/webhook?secret={WEBHOOK_SECRET}", t.base);
    let (status, _) = send(&http, post.clone(), query_form, "{}".into()).await;
    assert_eq!(
        status, 404,
        "the webhook secret is never taken from the query"
    );

    // Forged local-application posts: no state of ours, absurd lifetimes.
    let forged = "AUTH_ID=a&REFRESH_ID=r&AUTH_EXPIRES=9223372036854775807&member_id=m";
    let (status, page) = send(&http, post.clone(), app.clone(), forged.into()).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("/bitrix24/connect"), "{page}");
    let code = format!("{app}?code=c&state=forged&expires_in=99999999999999999999");
    assert_eq!(send(&http, get.clone(), code, String::new()).await.0, 400);

    // A state is good only with the cookie of the browser it was issued to, and a flood of
    // the connect page stores at most MAX_STATES of them.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let connect = format!("{}/bitrix24/connect", t.base);
    let mut statuses = Vec::new();
    let mut issued = None;
    for _ in 0..=chat2desk_b24::flows::openlines::MAX_STATES {
        let answer = no_redirects.get(&connect).send().await.unwrap();
        statuses.push(answer.status().as_u16());
        let location = answer
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        issued = issued.or(location);
    }
    let last = statuses.pop();
    assert!(statuses.iter().all(|s| *s == 302), "{statuses:?}");
    assert_eq!(last, Some(429), "the states are capped");
    let issued = url::Url::parse(&issued.unwrap()).unwrap();
    let (_, state) = issued.query_pairs().find(|(k, _)| k == "state").unwrap();
    let stolen = format!("{app}?code=c&state={state}");
    let (status, page) = send(&http, get.clone(), stolen, String::new()).await;
    assert_eq!(status, 400, "a state without its browser's cookie: {page}");

    // A forwarded hop that is not an address fails closed: outside allow_from.
    let hook = format!("{}/webhook/{WEBHOOK_SECRET}", t.base);
    for hop in ["not-an-ip", "10.0.0.1, garbage", "10.9.9.9"] {
        let answer = http
            .post(&hook)
            .header("X-Forwarded-For", hop)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "{hop}");
    }
    let inside = http
        .post(&hook)
        .header("X-Forwarded-For", "127.0.0.9")
        .body("not json");
    assert_eq!(
        inside.send().await.unwrap().status(),
        400,
        "a LAN hop is let through"
    );

    // 600 idle connections: the listener serves 512 and the rest wait; health still answers.
    let mut idle = Vec::new();
    for _ in 0..600 {
        if let Ok(c) = tokio::net::TcpStream::connect(&addr).await {
            idle.push(c);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(idle);

    watch.finish().await.assert_healthy("form routes");
    t.assert_untouched().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http10_post_declaring_more_than_the_form_limit_is_refused_before_its_body() {
    let mut t = target("").await;
    let watch = Watch::start(&t);
    let addr = t.base.trim_start_matches("http://").to_string();
    let head =
        format!("POST /bizproc/send HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 70000\r\n\r\nauth");
    let answer = raw(&addr, &head).await;
    assert!(answer.contains(" 413 "), "{answer}");
    watch.finish().await.assert_healthy("declared length");
    t.assert_untouched().await;
}

// ----- the fuzzer: random requests at every route of the real binary -----

/// Bytes a PHP-style form or a query is made of, biased towards brackets and separators.
fn form_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[".to_string()),
        Just("]".to_string()),
        Just("[]".to_string()),
        Just("&".to_string()),
        Just("=".to_string()),
        Just("%5B".to_string()),
        Just("%ZZ".to_string()),
        Just("+".to_string()),
        Just("auth[application_token]=".to_string()),
        Just(BIZPROC_SECRET.to_string()),
        Just("properties[phone]=7960".to_string()),
        Just("AUTH_EXPIRES=-9223372036854775808".to_string()),
        Just("state=".to_string()),
        "[a-zA-Z0-9_]{0,8}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

fn route() -> impl Strategy<Value = (&'static str, &'static str)> {
    prop::sample::select(vec![
        ("POST", "/bizproc/send"),
        ("GET", "/bizproc/channels"),
        ("POST", "/bitrix24/app"),
        ("GET", "/bitrix24/app"),
        ("GET", "/bitrix24/connector"),
        ("POST", "/webhook/"),
        ("GET", "/files/"),
        ("HEAD", "/files/"),
        ("PUT", "/bizproc/send"),
    ])
}

/// One random request; its status (0 when reqwest refused to build it: nothing was sent).
async fn random_request(base: &str, (method, path, tail, query, body): Case) -> (String, u16) {
    let url = format!("{base}{path}{tail}?{}", query.replace(['#', ' '], "+"));
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return (url, 0);
    };
    // The query's text doubles as a forwarded-for hop and a cookie (headers are input too).
    let status = match reqwest::Client::new()
        .request(method, &url)
        .header("X-Forwarded-For", visible(&query))
        .header(
            "Cookie",
            format!("{}={tail}", chat2desk_b24::flows::openlines::STATE_COOKIE),
        )
        .body(body)
        .send()
        .await
    {
        Ok(answer) => answer.status().as_u16(),
        Err(e) if e.is_builder() => 0,
        Err(e) => panic!("{url}: {e}"),
    };
    (url, status)
}

/// The printable ASCII of `text` (what a header value may hold).
fn visible(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect()
}

type Case = (&'static str, &'static str, String, String, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_at_every_route_are_answered_below_500_and_leave_the_daemon_healthy() {
    let mut t = target("").await;
    let watch = Watch::start(&t);
    let strategy = (route(), "[a-zA-Z0-9%._~-]{0,80}", form_text(), form_text())
        .prop_map(|((m, p), tail, q, b)| (m, p, tail, q, b));
    // Seeded: the same 128 cases on every CI run.
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(
        ProptestConfig {
            cases: 128,
            ..ProptestConfig::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    for _ in 0..128 {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let (url, status) = random_request(&t.base, case).await;
        assert!(
            status < 500 || status == 502 || status == 503,
            "{url}: {status}"
        );
    }
    watch.finish().await.assert_healthy("fuzzer");
    t.assert_untouched().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_database_is_created_0600_outside_systemd() {
    use std::os::unix::fs::PermissionsExt;
    // No systemd `UMask=`: the binary inherits this process's umask (022 by default).
    let env = common::Env::new().await;
    assert!(!env.db().exists(), "a fresh path");
    let _daemon = env.spawn_daemon("").await;
    let mode = std::fs::metadata(env.db()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "state.db is created {mode:o}");
}

#[test]
fn the_shipped_nginx_and_systemd_files_keep_secrets_out_of_logs_and_match_the_connection_cap() {
    let nginx = std::fs::read_to_string("packaging/nginx/chat2desk-b24.conf").unwrap();
    let directive = |name: &str| -> Vec<String> {
        nginx
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(name))
            .map(str::to_string)
            .collect()
    };
    // An upstream error at `warn`/`error` writes the request line (`/webhook/<secret>`).
    let errors = directive("error_log");
    assert!(
        !errors.is_empty() && errors.iter().all(|l| l.contains(" crit;")),
        "{errors:?}"
    );
    let access = directive("access_log");
    assert!(access.iter().all(|l| l.contains("nosecret")), "{access:?}");
    let unit = std::fs::read_to_string("systemd/chat2desk-b24.service").unwrap();
    let limit: usize = unit
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .and_then(|v| v.trim().parse().ok())
        .expect("the unit sets LimitNOFILE");
    // Two listeners (webhook and metrics) at their cap fit.
    let cap = chat2desk_b24::server::MAX_CONNECTIONS;
    assert!(limit >= 2 * cap, "LimitNOFILE={limit} < 2 × {cap}");
}
