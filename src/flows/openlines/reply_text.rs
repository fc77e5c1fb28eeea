//! An operator's reply as the client's messenger shows it: Bitrix's BB codes become plain
//! text, and its signature markup (`[b]Name:[/b][br]`, doc §3.2) is kept as `Name: ` or
//! dropped.

/// What to do with the operator's name the portal puts in front of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Signature {
    /// `Ольга Смирнова: Здравствуйте!`
    #[default]
    Keep,
    /// `Здравствуйте!`
    Drop,
}

/// Plain text of a BB-coded reply.
pub fn plain_text(bb: &str, signature: Signature) -> String {
    let (name, body) = split_signature(bb);
    let body = strip_codes(body);
    let body = body.trim();
    match (signature, name) {
        (Signature::Keep, Some(name)) if !body.is_empty() => format!("{name}: {body}"),
        (Signature::Keep, Some(name)) => format!("{name}:"),
        _ => body.to_string(),
    }
}

/// `[b]Name:[/b][br] text` → (`Some("Name")`, `" text"`).
fn split_signature(bb: &str) -> (Option<String>, &str) {
    let Some(rest) = bb.strip_prefix("[b]").or_else(|| bb.strip_prefix("[B]")) else {
        return (None, bb);
    };
    let Some(end) = rest.to_ascii_lowercase().find(":[/b]") else {
        return (None, bb);
    };
    let name = rest[..end].trim().to_string();
    let mut body = &rest[end + ":[/b]".len()..];
    for br in ["[br]", "[BR]", "\n"] {
        if let Some(b) = body.strip_prefix(br) {
            body = b;
            break;
        }
    }
    (Some(name), body)
}

/// Removes BB codes: `[br]` → newline, `[url=X]T[/url]` → `T (X)`, others dropped.
fn strip_codes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut link: Option<String> = None;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let Some(close) = after.find(']') else {
            out.push_str(after);
            rest = "";
            break;
        };
        let tag = &after[1..close];
        let lower = tag.to_ascii_lowercase();
        let name = lower
            .trim_start_matches('/')
            .split(['=', ' '])
            .next()
            .unwrap_or("");
        match name {
            "br" => out.push('\n'),
            "url" if !lower.starts_with('/') => {
                link = tag
                    .split_once('=')
                    .map(|(_, u)| u.trim_matches('"').to_string());
            }
            "url" => {
                if let Some(url) = link.take() {
                    if !out.ends_with(&url) {
                        out.push_str(&format!(" ({url})"));
                    }
                }
            }
            "b" | "i" | "u" | "s" | "quote" | "code" | "color" | "size" | "user" | "chat"
            | "icon" | "send" | "put" | "call" | "img" | "list" | "*" | "left" | "right"
            | "center" | "justify" | "font" | "context" | "pch" | "p" => {}
            _ => out.push_str(&after[..=close]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_kept_or_dropped_and_codes_go() {
        let bb =
            "[b]Ольга Смирнова:[/b][br] Здравствуйте! [i]Цена[/i] — [b]5 000 ₽[/b][br]Ждём вас";
        assert_eq!(
            plain_text(bb, Signature::Keep),
            "Ольга Смирнова: Здравствуйте! Цена — 5 000 ₽\nЖдём вас"
        );
        assert_eq!(
            plain_text(bb, Signature::Drop),
            "Здравствуйте! Цена — 5 000 ₽\nЖдём вас"
        );
    }

    #[test]
    fn links_keep_their_address_and_unknown_brackets_stay() {
        assert_eq!(
            plain_text("См. [url=https://x.ru/a]план[/url] [1]", Signature::Keep),
            "См. план (https://x.ru/a) [1]"
        );
        assert_eq!(
            plain_text("[url]https://x.ru[/url]", Signature::Drop),
            "https://x.ru"
        );
        assert_eq!(plain_text("a [ b", Signature::Drop), "a [ b");
    }
}
