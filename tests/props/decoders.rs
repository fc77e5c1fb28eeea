//! The decoders of Chat2Desk JSON and webhook bodies, and the configuration loader, on any
//! JSON, bytes, TOML-ish text or environment.

use chat2desk_b24::chat2desk::{
    ApiInfo, Channel, Client, Dialog, Message, Operator, RequestInfo, Webhook, WebhookEvent,
};
use chat2desk_b24::config::{self};
use proptest::prelude::*;
use serde_json::{Map, Value};

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
pub(crate) fn json() -> impl Strategy<Value = Value> {
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
