//! `[escalation] working_hours`: `"Mon-Fri 09:00-18:00"` (days as a range or a comma list,
//! then one span of the day), or `""` for around the clock.

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Checks the shape of a working-hours text; the error says what is wrong.
pub(crate) fn check(text: &str) -> Result<(), String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(());
    }
    let (days, span) = text
        .split_once(char::is_whitespace)
        .ok_or("has no hours after the days")?;
    for part in days.split(',') {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        day(first)?;
        day(last)?;
    }
    let (from, to) = span
        .trim()
        .split_once('-')
        .ok_or("has no span of hours HH:MM-HH:MM")?;
    if minute(from)? >= minute(to)? {
        return Err("ends before it starts".into());
    }
    Ok(())
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
    use super::check;

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
}
