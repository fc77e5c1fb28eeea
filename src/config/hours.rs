//! `[escalation] working_hours`: `"Mon-Fri 09:00-18:00"` (days as a range or a comma list,
//! then one span of the day), or `""` for around the clock; and the clock that runs only
//! inside them ([`WorkingHours::due`]).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Checks the shape of a working-hours text; the error says what is wrong.
pub(crate) fn check(text: &str) -> Result<(), String> {
    WorkingHours::parse(text).map(drop)
}

/// When the clock runs: on the days marked, from `from` to `to` (minutes of the local day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingHours {
    /// Monday first.
    days: [bool; 7],
    from: u32,
    to: u32,
}

/// The longest a search for the next working span looks ahead (a week has one at least).
const WEEK_DAYS: usize = 8;

impl WorkingHours {
    /// Around the clock.
    pub const ALWAYS: WorkingHours = WorkingHours {
        days: [true; 7],
        from: 0,
        to: 24 * 60,
    };

    /// Parses `"Mon-Fri 09:00-18:00"` (`""`: around the clock); the error says what is
    /// wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::ALWAYS);
        }
        let (names, span) = text
            .split_once(char::is_whitespace)
            .ok_or("has no hours after the days")?;
        let mut days = [false; 7];
        for part in names.split(',') {
            let (first, last) = part.split_once('-').unwrap_or((part, part));
            let (first, last) = (day(first)?, day(last)?);
            // A range may wrap the week ("Sat-Mon").
            let mut d = first;
            loop {
                days[d] = true;
                if d == last {
                    break;
                }
                d = (d + 1) % 7;
            }
        }
        let (from, to) = span
            .trim()
            .split_once('-')
            .ok_or("has no span of hours HH:MM-HH:MM")?;
        let (from, to) = (minute(from)?, minute(to)?);
        if from >= to {
            return Err("ends before it starts".into());
        }
        Ok(Self { days, from, to })
    }

    /// The moment `wait` of working time has passed since `start`, the clock running only
    /// inside the hours in `tz` (a start outside them waits for the next span).
    pub fn due(&self, start: DateTime<Utc>, wait: Duration, tz: Tz) -> DateTime<Utc> {
        let mut now = start;
        let mut left = wait;
        loop {
            let Some((open, close)) = self.span_at_or_after(now, tz) else {
                return now + left;
            };
            let begin = now.max(open);
            if begin + left <= close {
                return begin + left;
            }
            left -= close - begin;
            now = close;
        }
    }

    /// The first working span that ends after `at`: (its start, its end), in UTC.
    fn span_at_or_after(
        &self,
        at: DateTime<Utc>,
        tz: Tz,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let first = at.with_timezone(&tz).date_naive();
        (0..WEEK_DAYS)
            .filter_map(|n| first.checked_add_days(chrono::Days::new(n as u64)))
            .filter(|date| self.days[date.weekday().num_days_from_monday() as usize])
            .map(|date| (local(date, self.from, tz), local(date, self.to, tz)))
            .find(|(_, close)| *close > at)
    }
}

/// `minute` minutes after midnight of `date` in `tz`, in UTC (a time a DST change skips
/// counts as the hour after it).
fn local(date: NaiveDate, minute: u32, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    let naive = midnight + Duration::minutes(i64::from(minute));
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

fn day(name: &str) -> Result<usize, String> {
    let lower = name.trim().to_ascii_lowercase();
    DAYS.iter()
        .position(|d| *d == lower)
        .ok_or_else(|| format!("names no day \"{}\" (Mon..Sun)", name.trim()))
}

fn minute(time: &str) -> Result<u32, String> {
    let bad = || format!("has no time \"{}\" (HH:MM)", time.trim());
    let (h, m) = time.trim().split_once(':').ok_or_else(bad)?;
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_days_and_one_span() {
        assert!(check("").is_ok());
        assert!(check("Mon-Fri 09:00-18:00").is_ok());
        assert!(check("Mon,Wed,Sat-Sun 10:00-24:00").is_ok());
        assert!(check("Mon-Fri").is_err());
        assert!(check("Mon-Fry 09:00-18:00").is_err());
        assert!(check("Mon-Fri 18:00-09:00").is_err());
        assert!(check("Mon-Fri 9-18").is_err());
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_clock_stops_outside_the_hours() {
        let hours = WorkingHours::parse("Mon-Fri 09:00-18:00").unwrap();
        let moscow: Tz = "Europe/Moscow".parse().unwrap();
        let five = Duration::minutes(5);
        // Monday 10:00 Moscow (07:00 UTC): inside, five minutes later.
        let monday = utc("2026-12-07T07:00:00Z");
        assert_eq!(hours.due(monday, five, moscow), utc("2026-12-07T07:05:00Z"));
        // Friday 17:58 Moscow: two minutes on Friday, three on Monday from 09:00.
        let friday = utc("2026-12-11T14:58:00Z");
        assert_eq!(hours.due(friday, five, moscow), utc("2026-12-14T06:03:00Z"));
        // Saturday: waits for Monday 09:00.
        let saturday = utc("2026-12-12T09:00:00Z");
        assert_eq!(
            hours.due(saturday, five, moscow),
            utc("2026-12-14T06:05:00Z")
        );
        // Around the clock: plain addition.
        assert_eq!(
            WorkingHours::ALWAYS.due(saturday, five, moscow),
            utc("2026-12-12T09:05:00Z")
        );
    }

    #[test]
    fn day_ranges_may_wrap_the_week() {
        let hours = WorkingHours::parse("Sat-Mon 10:00-24:00").unwrap();
        assert_eq!(hours.days, [true, false, false, false, false, true, true]);
    }
}
