//! `sync.schedule`: a cron expression with seconds, each mistake explained on one line naming
//! the field and its range (the cron crate's own errors span lines and misstate ranges).

use std::str::FromStr;

/// One cron field: its name, its range and the names it accepts.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [Field; 7] = [
    Field {
        name: "seconds",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hours",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
    },
    Field {
        name: "day of week",
        min: 1,
        max: 7,
        names: DAYS,
    },
    Field {
        name: "year",
        min: 1970,
        max: 2099,
        names: &[],
    },
];

const SHAPE: &str = "sec min hour day month weekday, e.g. \"0 */5 * * * *\" for every five minutes";

/// Parses a cron expression with seconds, or says in one line what is wrong and where.
pub(crate) fn parse_schedule(expr: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    match fields.len() {
        0 => return Err(format!("empty; expected 6 fields: {SHAPE}")),
        5 => {
            return Err(format!(
                "\"{expr}\" has 5 fields; add a seconds field in front, e.g. \"0 {expr}\" ({SHAPE})"
            ))
        }
        6 | 7 => {}
        n => return Err(format!("\"{expr}\" has {n} fields; expected 6 ({SHAPE})")),
    }
    for (text, field) in fields.iter().zip(FIELDS.iter()) {
        check_field(text, field).map_err(|why| {
            format!(
                "field {} (\"{text}\") {why}; {} takes {}–{}{}, `*`, lists `a,b`, ranges `a-b` \
                 and steps `*/n`",
                field.name,
                field.name,
                field.min,
                field.max,
                if field.names.is_empty() {
                    String::new()
                } else {
                    format!(
                        " or {}–{}",
                        field.names[0],
                        field.names[field.names.len() - 1]
                    )
                }
            )
        })?;
    }
    cron::Schedule::from_str(&fields.join(" ")).map_err(|e| {
        let why = e.to_string();
        let why = why.lines().last().unwrap_or("").trim();
        format!("\"{expr}\" is not a cron expression ({why}); expected {SHAPE}")
    })
}

/// Checks one field: `*`, `?`, and comma lists of values, ranges and steps.
fn check_field(text: &str, f: &Field) -> Result<(), String> {
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(0) => return Err("has a step of 0".into()),
                Ok(_) => {}
                Err(_) => return Err(format!("has the step `{step}`, not a whole number")),
            }
        }
        if range == "*" || range == "?" {
            continue;
        }
        let (a, b) = match range.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (range, None),
        };
        let a = value(a, f)?;
        if let Some(b) = b {
            let b = value(b, f)?;
            if a > b {
                return Err(format!("has the range `{range}` running backwards"));
            }
        }
    }
    Ok(())
}

fn value(text: &str, f: &Field) -> Result<u32, String> {
    if let Some(i) = f.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(f.min + i as u32);
    }
    match text.parse::<u32>() {
        Ok(n) if (f.min..=f.max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("has {n}, out of range")),
        Err(_) => Err(format!("has `{text}`, not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field_and_its_range_on_one_line() {
        let e = parse_schedule("0 61 * * * *").unwrap_err();
        assert_eq!(
            e,
            "field minutes (\"61\") has 61, out of range; minutes takes 0–59, `*`, lists `a,b`, \
             ranges `a-b` and steps `*/n`"
        );
        assert!(parse_schedule("0 0 0 * * FOO")
            .unwrap_err()
            .contains("day of week"));
        assert!(parse_schedule("0 */0 * * * *")
            .unwrap_err()
            .contains("step of 0"));
        assert!(parse_schedule("*/5 * * * *")
            .unwrap_err()
            .contains("\"0 */5 * * * *\""));
        for good in [
            "0 * * * * *",
            "*/30 * * * * *",
            "0 0 9-18 * * MON-FRI",
            "0 0 0 1 JAN * 2030",
        ] {
            assert!(parse_schedule(good).is_ok(), "{good}");
        }
        for e in [
            "61 * * * * *",
            "0 0 25 * * *",
            "0 0 0 32 * *",
            "0 5-1 * * * *",
        ] {
            let why = parse_schedule(e).unwrap_err();
            assert_eq!(why.lines().count(), 1, "{why}");
            assert!(why.contains("field "), "{why}");
        }
    }
}
