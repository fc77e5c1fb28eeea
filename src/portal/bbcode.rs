//! Neutralising untrusted text and URLs before they are placed into BB-code.
//!
//! The portal renders timeline comments with its BB-code parser (HTML escaped, new lines kept).
//! A tag can only start at `[`, so every `[` of untrusted text is followed by a zero-width space
//! (U+200B): `[​b]`, `[​/url]` or `[​user=1]` no longer match any tag name, yet the text reads
//! and copies exactly as written. A look-alike bracket (`［`) would change what managers see and
//! search for; a backslash or HTML entity would be shown literally because the parser knows no
//! escapes and HTML is off. `<` gets the same treatment: the portal already escapes raw HTML,
//! and with the invisible space `<​script>` is not markup even on a portal that did not.

/// Zero-width space inserted after `[` and `<` of untrusted text.
pub(crate) const ZWSP: char = '\u{200B}';

/// Makes untrusted text inert inside a comment: no character can open, close or forge a
/// BB-code tag (`[b]`, `[/i]`, `[url=…]`, `[user=5]`, …) or an HTML tag.
///
/// Line breaks are normalised to `\n` (kept; the portal turns them into `<br>`), tabs become
/// spaces, and every other control character is dropped. Emoji, Cyrillic and all other
/// printable text pass unchanged.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '[' | '<' => {
                out.push(c);
                out.push(ZWSP);
            }
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\n' | '\u{2028}' | '\u{2029}' => out.push('\n'),
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Escapes text that must stay on one line (names, phones, channels): like [`escape`], with
/// line breaks turned into spaces and surrounding whitespace trimmed.
pub(crate) fn escape_inline(text: &str) -> String {
    escape(text).replace('\n', " ").trim().to_owned()
}

/// Cuts `text` to at most `max_chars` characters, marking a cut with `…`.
pub(crate) fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Makes a URL safe to emit inside our own `[url=…]` tag, or `None` when it must not be linked.
///
/// Only absolute `http://` and `https://` URLs with a host are accepted (no `javascript:`,
/// `data:` or relative links). Every character outside the unreserved and reserved ASCII sets
/// of RFC 3986 (`[`, `]`, whitespace, quotes, `<`, `>`, control and non-ASCII characters, …) is
/// percent-encoded as UTF-8, so the URL can neither close the tag nor start another one.
/// Existing `%` escapes are kept as they are. Bracketed IPv6 hosts therefore do not survive;
/// Chat2Desk file and chat links use host names.
pub fn sanitize_url(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return None;
    };
    let host_ok = rest
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if !host_ok {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_ascii_alphanumeric() || "-._~:/?#@!$&()*+,;=%".contains(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_and_angles_get_an_invisible_break() {
        assert_eq!(escape("[b]x[/b]"), "[\u{200B}b]x[\u{200B}/b]");
        assert_eq!(escape("<a>"), "<\u{200B}a>");
        assert!(!escape("[user=1]Админ[/user]").contains("[user"));
    }

    #[test]
    fn control_characters_are_dropped_but_lines_kept() {
        assert_eq!(escape("a\r\nb\rc\u{7}\td\u{0}"), "a\nb\nc d");
        assert_eq!(escape_inline(" Ни\nкита "), "Ни кита");
    }

    #[test]
    fn emoji_and_cyrillic_pass_unchanged() {
        let s = "Здравствуйте! 👍🏽 ещё";
        assert_eq!(escape(s), s);
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate_chars("абвгд", 3), "абв…");
        assert_eq!(truncate_chars("абв", 3), "абв");
    }

    #[test]
    fn only_http_urls_are_linked() {
        assert_eq!(sanitize_url("javascript:alert(1)"), None);
        assert_eq!(sanitize_url("data:text/html,x"), None);
        assert_eq!(sanitize_url("/files/a.pdf"), None);
        assert_eq!(sanitize_url("https:///x"), None);
        assert_eq!(
            sanitize_url(" HTTPS://files.example/a.pdf ").as_deref(),
            Some("HTTPS://files.example/a.pdf")
        );
    }

    #[test]
    fn urls_cannot_break_out_of_the_tag() {
        let s = sanitize_url("https://x.example/a b]\"'[url=https://evil]<i>план.pdf").unwrap();
        assert_eq!(
            s,
            "https://x.example/a%20b%5D%22%27%5Burl=https://evil%5D%3Ci%3E\
             %D0%BF%D0%BB%D0%B0%D0%BD.pdf"
        );
        assert!(!s.contains(['[', ']', ' ', '"', '\'']));
    }
}
