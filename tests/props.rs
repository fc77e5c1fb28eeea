//! Hostile input: whatever bytes, JSON or TOML arrive, the decoders return a value or an
//! error and never panic; whatever a client writes, a transcript comment keeps our markup
//! and our marker, and the client's text can forge neither a tag, a link nor a mention.

use chat2desk_b24::chat2desk::{
    ApiInfo, Channel, Client, Dialog, Message, Operator, RequestInfo, Webhook, WebhookEvent,
};
use chat2desk_b24::config::{self, Secret};
use chat2desk_b24::flows::transcript::text::{
    self as transcript, Author, FileKind, FileLink, Line, TranscriptInput,
};
use chat2desk_b24::http::Backoff;
use chat2desk_b24::portal::query::{self, Limits, QueryError};
use chat2desk_b24::portal::{Bitrix24, Bitrix24Options};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Field names the decoders look at, so generated objects reach the interesting branches.
const KEYS: &[&str] = &[
    "id",
    "message_id",
    "hook_type",
    "event",
    "type_hook",
    "type",
    "text",
    "created",
    "event_time",
    "client_id",
    "client",
    "dialog_id",
    "request_id",
    "operator_id",
    "channel_id",
    "transport",
    "read",
    "photo",
    "video",
    "audio",
    "pdf",
    "attachments",
    "coordinates",
    "location",
    "name",
    "nickname",
    "assigned_name",
    "phone",
    "client_phone",
    "email",
    "first_name",
    "last_name",
    "state",
    "begin",
    "end",
    "closed",
    "messages",
    "last_message",
    "status",
    "domain_urls",
    "url",
    "events",
    "link",
    "result",
    "error",
    "error_description",
    "total",
    "next",
    "data",
];

/// Scalars that stress lenient parsing: numbers as strings, huge and negative numbers, times
/// in many shapes, empty and odd strings.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<String>().prop_map(Value::String),
        "[0-9]{0,25}".prop_map(Value::String),
        "-?[0-9]{1,20}(\\.[0-9]{0,5})?".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|[+-][0-9]{2}:?[0-9]{2})?"
            .prop_map(Value::String),
        "[0-9]{2}\\.[0-9]{2}\\.[0-9]{4} [0-9]{2}:[0-9]{2}".prop_map(Value::String),
        prop::sample::select(KEYS).prop_map(|k| Value::String(k.to_string())),
    ]
}

/// Arbitrary JSON whose object keys are mostly the decoders' field names.
fn json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        4 => prop::sample::select(KEYS).prop_map(str::to_string),
                        1 => any::<String>(),
                    ],
                    inner
                ),
                0..10
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Runs every Chat2Desk decoder over one value.
fn decode_all(v: &Value) {
    let tz = chrono_tz::Europe::Moscow;
    let _ = WebhookEvent::from_json(v, tz);
    let _ = Message::from_json(v, tz);
    let _ = Client::from_json(v);
    let _ = Operator::from_json(v);
    let _ = Channel::from_json(v);
    let _ = Dialog::from_json(v, tz);
    let _ = RequestInfo::from_json(v, tz);
    let _ = ApiInfo::from_json(v);
    let _ = Webhook::from_json(v);
    let _ = chat2desk_b24::chat2desk::parse_time(v, tz);
    if let Some(event) = WebhookEvent::from_json(v, tz) {
        // What a handler does next with a decoded event must not panic either.
        let _ = event
            .client
            .as_ref()
            .map(|c| (c.display_name(), c.real_phone()));
    }
    if let Some(client) = Client::from_json(v) {
        let _ = (client.display_name(), client.real_phone());
    }
    if let Some(op) = Operator::from_json(v) {
        let _ = op.full_name();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn chat2desk_decoders_survive_any_json(v in json()) {
        decode_all(&v);
        // Webhook bodies usually arrive wrapped in `data` or as arrays of events.
        decode_all(&Value::Array(vec![v.clone()]));
        let mut wrapped = Map::new();
        wrapped.insert("hook_type".into(), Value::String("inbox".into()));
        wrapped.insert("message_id".into(), Value::from(1));
        if let Value::Object(fields) = v {
            wrapped.extend(fields);
        }
        decode_all(&Value::Object(wrapped));
    }

    #[test]
    fn webhook_bodies_of_any_bytes_are_rejected_or_decoded(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            decode_all(&v);
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                decode_all(&v);
            }
        }
    }

    #[test]
    fn config_loader_returns_problems_for_any_text(text in any::<String>()) {
        let _ = config::load_from_str(&text, &[]);
    }

    #[test]
    fn config_loader_survives_toml_ish_input(
        lines in prop::collection::vec(toml_line(), 0..24),
        env in prop::collection::vec((env_key(), any::<String>()), 0..4),
    ) {
        let text = lines.join("\n");
        match config::load_from_str(&text, &env) {
            Ok(loaded) => {
                // A loaded config can be validated and dumped without panicking.
                let _ = config::validate(&loaded.config);
                let _ = loaded.config.dump();
            }
            Err(e) => prop_assert!(!e.problems.is_empty(), "an error names at least one problem"),
        }
    }
}

/// One line of TOML-ish text over the real sections and keys.
fn toml_line() -> impl Strategy<Value = String> {
    let section = prop::sample::select(vec![
        "[chat2desk]",
        "[bitrix24]",
        "[crm]",
        "[sync]",
        "[database]",
        "[log]",
        "[[crm.operators]]",
        "[nope]",
        "[crm",
    ])
    .prop_map(str::to_string);
    let key = prop::sample::select(vec![
        "api_url",
        "token",
        "token_file",
        "web_url",
        "requests_per_second",
        "timeout_secs",
        "naive_timezone",
        "webhook_url",
        "webhook_url_file",
        "ca_file",
        "burst",
        "integration",
        "source",
        "default_responsibles",
        "deal_category",
        "timezone",
        "chat2desk",
        "bitrix24",
        "new_deal_when_closed",
        "max_comment_bytes",
        "schedule",
        "poll_strategy",
        "overlap_secs",
        "workers",
        "max_attempts",
        "backoff_base_secs",
        "backoff_max_secs",
        "lease_secs",
        "path",
        "level",
        "tokn",
    ]);
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<String>().prop_map(|s| format!("{s:?}")),
        "[a-z:/.0-9 *-]{0,30}".prop_map(|s| format!("\"{s}\"")),
        Just("\"https://portal.example/rest/1/abc/\"".to_string()),
        Just("\"/nonexistent/secret\"".to_string()),
        Just("[1, 2, \"x\"]".to_string()),
        Just("{ a = 1 }".to_string()),
        Just(String::new()),
    ];
    prop_oneof![
        1 => section,
        4 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => any::<String>(),
    ]
}

/// An environment variable name that the loader reads (or nearly).
fn env_key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "CHAT2DESK_B24_CHAT2DESK__TOKEN",
        "CHAT2DESK_B24_SYNC__WORKERS",
        "CHAT2DESK_B24_BITRIX24__BURST",
        "CHAT2DESK_B24_CRM__INTEGRATION",
        "CHAT2DESK_B24_NOPE__X",
        "CHAT2DESK_B24_",
    ])
    .prop_map(str::to_string)
}

// ----- portal responses: the real client against a server answering arbitrary bytes -----

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

// ----- transcripts -----

/// Text a hostile or unlucky client might send: BB-code, forged markers and links, mentions,
/// HTML, emoji, line breaks and control characters, mixed with anything.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[b]".to_string()),
        Just("[/b]".to_string()),
        Just("[i]".to_string()),
        Just("[/i]".to_string()),
        Just("[url=https://evil.example/]".to_string()),
        Just("[url]https://evil.example/[/url]".to_string()),
        Just("[/url]".to_string()),
        Just("[user=1]Админ[/user]".to_string()),
        Just("[i]Chat2Desk: обращение 1 · c2d:1:1/1[/i]".to_string()),
        Just("\n[i]Chat2Desk: обращение 9 · c2d:9:1/1[/i]\n".to_string()),
        Just("c2d:9:1/1".to_string()),
        Just("<script>alert(1)</script>".to_string()),
        Just("<a href=\"https://evil.example\">x</a>".to_string()),
        Just("👍🏽🇷🇺 ".to_string()),
        Just("\r\n".to_string()),
        Just("\n".to_string()),
        Just("\u{2028}".to_string()),
        Just("\t\u{0}\u{7}\u{1b}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("\u{200B}".to_string()),
        "[А-Яа-я ]{0,20}".prop_map(|s| s),
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

/// Checks one rendered part: every `[` is either ours (a known tag) or followed by U+200B,
/// our tags are balanced, no link or mention but ours, and the marker on the last line.
fn check_part(part: &str, links: usize) -> Result<(), TestCaseError> {
    const OURS: &[&str] = &["[b]", "[/b]", "[i]", "[/i]", "[url=", "[/url]"];
    let mut count = std::collections::HashMap::new();
    for (at, _) in part.match_indices('[') {
        let rest = &part[at..];
        if rest[1..].starts_with('\u{200B}') {
            continue;
        }
        let tag = OURS.iter().find(|t| rest.starts_with(**t));
        prop_assert!(
            tag.is_some(),
            "a bare `[` that is not our tag: {:?}",
            &rest[..rest.len().min(40)]
        );
        *count.entry(*tag.unwrap()).or_insert(0usize) += 1;
    }
    let n = |t: &str| count.get(t).copied().unwrap_or(0);
    prop_assert_eq!(n("[b]"), n("[/b]"), "bold balanced");
    prop_assert_eq!(n("[i]"), 1, "only the marker is italic");
    prop_assert_eq!(n("[/i]"), 1);
    prop_assert_eq!(n("[url="), links, "only our links");
    prop_assert_eq!(n("[/url]"), links);
    for (at, _) in part.match_indices('<') {
        prop_assert!(part[at + 1..].starts_with('\u{200B}'), "a bare `<`");
    }
    Ok(())
}

/// Renders `lines` and checks every part and the marker sequence.
fn check_transcript(
    lines: &[Line],
    name: &str,
    max_bytes: usize,
    links_per_part: impl Fn(&str) -> usize,
) -> Result<Vec<String>, TestCaseError> {
    let input = TranscriptInput {
        request_id: 4242,
        opened: None,
        chat_url: Some("https://web.chat2desk.com/chat/all?dialogID=7"),
        client_name: Some(name),
        client_phone: Some(name),
        channel: Some(name),
        lines,
        timezone: chrono_tz::Europe::Moscow,
        max_bytes,
    };
    let parts = transcript::render(&input);
    let total = parts.len();
    for (i, part) in parts.iter().enumerate() {
        check_part(part, links_per_part(part))?;
        let marker = transcript::find_marker(part);
        prop_assert_eq!(
            marker,
            Some(transcript::Marker {
                request_id: 4242,
                part: i + 1,
                total
            }),
            "our marker on part {}",
            i + 1
        );
        let ours = transcript::marker(4242, i + 1, total);
        prop_assert_eq!(part.trim_end().lines().last(), Some(ours.as_str()));
        if max_bytes >= chat2desk_b24::config::MIN_MAX_BYTES {
            prop_assert!(
                part.len() <= max_bytes,
                "part {} is {} bytes",
                i + 1,
                part.len()
            );
        }
    }
    Ok(parts)
}

fn line(text: String, author: Author) -> Line {
    Line {
        at: Some(Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap()),
        author,
        text: Some(text),
        files: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn client_text_cannot_break_markup_or_forge_links(
        texts in prop::collection::vec(hostile_text(), 0..6),
        name in hostile_text(),
    ) {
        let lines: Vec<Line> = texts
            .into_iter()
            .enumerate()
            .map(|(i, t)| line(t, if i % 2 == 0 { Author::Client } else { Author::Operator(Some(name.clone())) }))
            .collect();
        // The chat link is in every part's header; no other link may appear.
        check_transcript(&lines, &name, 10_000, |_| 1)?;
    }
}

proptest! {
    // Large inputs: fewer cases keep the debug-build run short.
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn split_transcripts_keep_escapes_and_markers(
        texts in prop::collection::vec(hostile_text(), 1..40),
        file_name in hostile_text(),
        file_url in prop_oneof![
            Just("https://files.example/a b[c].pdf".to_string()),
            Just("javascript:alert(1)".to_string()),
            Just("https://files.example/x]y[url=https://evil]".to_string()),
            any::<String>(),
        ],
    ) {
        let mut lines: Vec<Line> = texts.into_iter().map(|t| line(t.repeat(8), Author::Client)).collect();
        let linkable = chat2desk_b24::portal::sanitize_url(&file_url).is_some_and(|u| u.len() <= 2_048);
        lines.push(Line {
            at: None,
            author: Author::Bot,
            text: None,
            files: vec![FileLink { kind: FileKind::Document, name: file_name, url: file_url }],
        });
        check_transcript(&lines, "Клиент", chat2desk_b24::config::MIN_MAX_BYTES, |part| {
            // The header's chat link, plus the file link in the part that holds it.
            1 + usize::from(linkable && part.contains("Документ: [url="))
        })?;
    }
}

#[test]
fn huge_and_empty_texts_render_with_markers() {
    let big = "Привет [b]жирный[/b] <b>html</b> 🙂 ".repeat(3_000); // about 100 KB
    assert!(big.len() >= 100_000);
    for (text, max) in [
        (big.clone(), 10_000),
        (big, chat2desk_b24::config::MIN_MAX_BYTES),
        (String::new(), 10_000),
        ("   \n\t ".to_string(), 10_000),
    ] {
        let lines = vec![line(text, Author::Client)];
        let parts = check_transcript(&lines, "", max, |_| 1).expect("valid parts");
        assert!(!parts.is_empty());
    }
}

/// Found by `config_loader_survives_toml_ish_input`: figment's value parser panicked on a
/// backslash after a non-ASCII character in a non-text environment variable.
#[test]
fn env_value_with_a_backslash_after_non_ascii_is_a_problem_not_a_panic() {
    let env = vec![(
        "CHAT2DESK_B24_SYNC__WORKERS".to_string(),
        "ᦾㄲ\\.p".to_string(),
    )];
    let err = config::load_from_str("", &env).expect_err("not a number");
    assert!(
        err.problems.iter().any(|p| p.key.contains("workers")),
        "{err}"
    );
}

// ----- the routes' bracket decoder (`/bizproc/*`, `/bitrix24/app` forms and queries) -----

/// A PHP-style form biased towards brackets, separators, escapes and the routes' keys.
fn bracket_form() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[".to_string()),
        Just("]".to_string()),
        Just("[]".to_string()),
        Just("[0]".to_string()),
        Just("&".to_string()),
        Just("=".to_string()),
        Just("%5B%5D".to_string()),
        Just("%ZZ".to_string()),
        Just("+".to_string()),
        Just("auth[application_token]=".to_string()),
        Just("properties[phone]=".to_string()),
        "[a-z_]{1,6}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|p| p.concat())
}

/// Bracket levels of a decoded value (a string leaf is 0).
fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_routes_decoder_keeps_its_caps_on_any_form(form in bracket_form()) {
        let lenient = query::decode(&form);
        prop_assert!(depth(&lenient) <= Limits::PHP.max_depth + 1);
        match query::decode_strict(&form, Limits::ROUTE) {
            // The top-level map plus at most five bracket levels.
            Ok(v) => prop_assert!(depth(&v) <= Limits::ROUTE.max_depth + 1, "{form:?} → {v}"),
            Err(QueryError::TooDeep { max, .. }) => prop_assert_eq!(max, Limits::ROUTE.max_depth),
            Err(QueryError::TooManyFields { .. }) => prop_assert!(false, "{form:?} has < 1000 pairs"),
        }
        let _ = query::find(&form, "auth[application_token]");
    }
}

#[test]
fn a_bracket_bomb_and_a_field_flood_are_refused_in_one_pass() {
    let bomb = format!("a{}=1", "[]".repeat(20_000));
    assert!(matches!(
        query::decode_strict(&bomb, Limits::ROUTE),
        Err(QueryError::TooDeep { .. })
    ));
    assert!(depth(&query::decode(&bomb)) <= Limits::PHP.max_depth + 1);
    let flood = vec!["a[]=1"; 40_000].join("&");
    assert!(matches!(
        query::decode_strict(&flood, Limits::ROUTE),
        Err(QueryError::TooManyFields { max: 1000 })
    ));
    let kept = query::decode(&flood);
    assert_eq!(
        kept["a"].as_array().map(Vec::len),
        Some(Limits::PHP.max_fields)
    );
}
