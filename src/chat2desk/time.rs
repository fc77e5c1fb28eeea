//! One lenient parser for every timestamp shape the Chat2Desk API is known to emit.
//!
//! `chat2desk-api.md` §5: webhook `event_time` is ISO-8601 with `Z`; message `created` has
//! been seen as `"YYYY-MM-DDTHH:MM:SS UTC"` and as `"DD.MM.YYYY HH:MM:SS"`; request messages
//! carry unix seconds. Zone-less shapes are read in a configurable zone because the docs are
//! unsure whether they are UTC or the account's UI zone.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// Zone-less date-time layouts, tried in order.
const NAIVE_LAYOUTS: [&str; 8] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%d.%m.%Y %H:%M:%S%.f",
    "%d.%m.%Y %H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
];

/// Date-only layouts (midnight in the naive zone).
const DATE_LAYOUTS: [&str; 3] = ["%Y-%m-%d", "%d.%m.%Y", "%d-%m-%Y"];

/// Layouts carrying a numeric offset that RFC 3339 parsing rejects (e.g. `+0300`).
const OFFSET_LAYOUTS: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f %z"];

/// Unix times above this are taken as milliseconds (year 5138 in seconds).
const MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// Parses a timestamp from a JSON value: ISO-8601 with `Z` or an offset,
/// `"YYYY-MM-DDTHH:MM:SS UTC"`, `"DD.MM.YYYY HH:MM:SS"` and `"YYYY-MM-DD HH:MM:SS"` (zone-less:
/// read in `naive`), unix seconds as a number or a numeric string (milliseconds tolerated).
/// Anything else, `null` and empty strings give `None`; it never panics.
pub fn parse_time(v: &Value, naive: Tz) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                from_unix(i)
            } else {
                n.as_f64().and_then(|f| {
                    if f.is_finite() && f.abs() < 1e15 {
                        from_unix(f.trunc() as i64)
                    } else {
                        None
                    }
                })
            }
        }
        Value::String(s) => parse_str(s, naive),
        _ => None,
    }
}

/// [`parse_time`] for text.
pub fn parse_str(s: &str, naive: Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) || (s.starts_with('-') && s.len() > 1) {
        return s.parse::<i64>().ok().and_then(from_unix);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for layout in OFFSET_LAYOUTS {
        if let Ok(t) = DateTime::parse_from_str(s, layout) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for suffix in [" UTC", "UTC", " GMT", "Z"] {
        if let Some(rest) = s.strip_suffix(suffix) {
            return parse_naive(rest.trim_end()).map(|t| Utc.from_utc_datetime(&t));
        }
    }
    parse_naive(s).and_then(|t| in_zone(t, naive))
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    for layout in NAIVE_LAYOUTS {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, layout) {
            return Some(t);
        }
    }
    DATE_LAYOUTS.iter().find_map(|layout| {
        NaiveDate::parse_from_str(s, layout)
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
}

/// A wall-clock time in `zone`: the earlier instant when ambiguous, an hour later when it
/// falls into a DST gap.
fn in_zone(t: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&t) {
        LocalResult::Single(z) => Some(z.with_timezone(&Utc)),
        LocalResult::Ambiguous(early, _) => Some(early.with_timezone(&Utc)),
        LocalResult::None => {
            let later = t.checked_add_signed(chrono::Duration::hours(1))?;
            zone.from_local_datetime(&later)
                .earliest()
                .map(|z| z.with_timezone(&Utc))
        }
    }
}

fn from_unix(i: i64) -> Option<DateTime<Utc>> {
    if i.unsigned_abs() >= MILLIS_THRESHOLD.unsigned_abs() {
        DateTime::from_timestamp_millis(i)
    } else {
        DateTime::from_timestamp(i, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn every_documented_shape_parses() {
        let t = utc("2019-07-28T23:01:40Z");
        let z = Tz::UTC;
        assert_eq!(parse_time(&json!("2019-07-28T23:01:40Z"), z), Some(t));
        assert_eq!(parse_time(&json!("2019-07-29T02:01:40+03:00"), z), Some(t));
        assert_eq!(parse_time(&json!("2019-07-29T02:01:40+0300"), z), Some(t));
        assert_eq!(parse_time(&json!("2019-07-28T23:01:40 UTC"), z), Some(t));
        assert_eq!(parse_time(&json!("2019-07-28 23:01:40 UTC"), z), Some(t));
        assert_eq!(parse_time(&json!("28.07.2019 23:01:40"), z), Some(t));
        assert_eq!(parse_time(&json!("2019-07-28 23:01:40"), z), Some(t));
        assert_eq!(parse_time(&json!(t.timestamp()), z), Some(t));
        assert_eq!(parse_time(&json!(t.timestamp().to_string()), z), Some(t));
        assert_eq!(parse_time(&json!(t.timestamp_millis()), z), Some(t));
        assert_eq!(parse_time(&json!(t.timestamp() as f64 + 0.25), z), Some(t));
    }

    #[test]
    fn zone_less_times_use_the_configured_zone() {
        let moscow: Tz = "Europe/Moscow".parse().unwrap();
        let t = utc("2019-07-28T20:01:40Z");
        assert_eq!(parse_time(&json!("28.07.2019 23:01:40"), moscow), Some(t));
        assert_eq!(parse_time(&json!("2019-07-28 23:01:40"), moscow), Some(t));
        // Explicit zones win over the configured one.
        assert_eq!(
            parse_time(&json!("2019-07-28T20:01:40 UTC"), moscow),
            Some(t)
        );
        assert_eq!(parse_time(&json!(t.timestamp()), moscow), Some(t));
    }

    #[test]
    fn dst_edges_resolve() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 02:30 does not exist on 2024-03-31 in Berlin; 02:30 happens twice on 2024-10-27.
        assert_eq!(
            parse_str("2024-03-31 02:30:00", berlin),
            Some(utc("2024-03-31T01:30:00Z"))
        );
        assert_eq!(
            parse_str("2024-10-27 02:30:00", berlin),
            Some(utc("2024-10-27T00:30:00Z"))
        );
    }

    #[test]
    fn garbage_is_none_and_never_panics() {
        for v in [
            json!(null),
            json!(""),
            json!("   "),
            json!("yesterday"),
            json!("99.99.2019 25:61:61"),
            json!("2019-02-30 10:00:00"),
            json!(true),
            json!([1, 2]),
            json!({"a": 1}),
            json!(f64::MAX),
            json!(i64::MAX),
            json!(i64::MIN),
            json!("-"),
            json!("9999999999999999999999"),
            json!("2019-07-28T23:01:40+99:99"),
            json!("ÿÿÿ UTC"),
        ] {
            let _ = parse_time(&v, Tz::UTC);
        }
        assert_eq!(parse_time(&json!("yesterday"), Tz::UTC), None);
        assert_eq!(parse_time(&json!(null), Tz::UTC), None);
        assert_eq!(parse_time(&json!(""), Tz::UTC), None);
    }
}
