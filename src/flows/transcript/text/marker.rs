//! The exactly-once marker: a quiet last line of every comment part naming the request and
//! the part, e.g. `[i]Chat2Desk: обращение 5758450 · c2d:5758450:1/2[/i]`.
//!
//! Before writing a part, the worker lists the entity's comments and skips the part when one
//! of them ends with the same marker. Untrusted text is escaped (every `[` is followed by a
//! zero-width space), so message text can never produce a last line that starts with `[i]`;
//! and [`find_marker`] looks only at the last line, which [`render`](super::render) always
//! fills with our own marker.

/// The key carried by a comment part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Marker {
    /// Chat2Desk request id.
    pub request_id: i64,
    /// Part number, from 1.
    pub part: usize,
    /// Number of parts of this request's transcript.
    pub total: usize,
}

/// Token prefix of the machine-readable part of the marker.
const TOKEN: &str = "c2d:";

/// The marker line for part `part` of `total` of request `request_id`.
pub fn marker(request_id: i64, part: usize, total: usize) -> String {
    format!("[i]Chat2Desk: обращение {request_id} · {TOKEN}{request_id}:{part}/{total}[/i]")
}

/// Reads the marker from the last non-blank line of a stored comment, if it is one of ours.
///
/// Tolerates what a portal may do to stored text: `\r\n` line ends, surrounding whitespace
/// and upper-case tag names. Anything else on that line (a `[` inside the italic text, a
/// malformed token, a part outside `1..=total`) means "no marker".
pub fn find_marker(comment: &str) -> Option<Marker> {
    let last = comment.lines().rev().find(|l| !l.trim().is_empty())?.trim();
    let inner = strip_prefix_ci(last, "[i]")?;
    let inner = strip_suffix_ci(inner, "[/i]")?;
    if inner.contains(['[', ']']) {
        return None;
    }
    let token = inner.split_whitespace().last()?.strip_prefix(TOKEN)?;
    let (id, parts) = token.split_once(':')?;
    let (part, total) = parts.split_once('/')?;
    let marker = Marker {
        request_id: parse_digits(id)?,
        part: parse_digits(part)?,
        total: parse_digits(total)?,
    };
    (marker.part >= 1 && marker.part <= marker.total).then_some(marker)
}

fn parse_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips() {
        let m = marker(5758450, 2, 3);
        assert_eq!(m, "[i]Chat2Desk: обращение 5758450 · c2d:5758450:2/3[/i]");
        let text = format!("[b]header[/b]\nline\n{m}");
        assert_eq!(
            find_marker(&text),
            Some(Marker {
                request_id: 5758450,
                part: 2,
                total: 3
            })
        );
    }

    #[test]
    fn portal_mangling_is_tolerated() {
        let text = format!("a\r\n{}\r\n  \n", marker(7, 1, 1).replace("[i]", "[I]"));
        assert_eq!(
            find_marker(&text),
            Some(Marker {
                request_id: 7,
                part: 1,
                total: 1
            })
        );
    }

    #[test]
    fn only_the_last_line_counts() {
        let text = format!("{}\nКлиент: спасибо", marker(7, 1, 1));
        assert_eq!(find_marker(&text), None);
    }

    #[test]
    fn malformed_markers_are_rejected() {
        for bad in [
            "[i]Chat2Desk: c2d:7:0/1[/i]",
            "[i]Chat2Desk: c2d:7:2/1[/i]",
            "[i]Chat2Desk: c2d:-7:1/1[/i]",
            "[i]Chat2Desk: c2d:7:1/[/i]",
            "[i]Chat2Desk: [b]c2d:7:1/1[/i]",
            "[i]Chat2Desk: c2d:7:1/1",
            "Chat2Desk: c2d:7:1/1[/i]",
            "[\u{200B}i]Chat2Desk: c2d:7:1/1[\u{200B}/i]",
            "",
        ] {
            assert_eq!(find_marker(bad), None, "{bad}");
        }
    }
}
