//! The routes' bracket decoder (`/bizproc/*`, `/bitrix24/app` forms and queries) keeps its caps.

use chat2desk_b24::portal::query::{self, Limits, QueryError};
use proptest::prelude::*;
use serde_json::Value;

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
