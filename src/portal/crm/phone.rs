//! Phone normalisation to E.164 (`+79161234567`) for `crm.duplicate.findbycomm` and the
//! `PHONE` multifield, following Russian writing conventions.
//!
//! The portal normalises phones itself before matching (`8 (916) …` and `+7 916 …` both become
//! `79161234567`, see bitrix24-rest.md §2.2), but newer boxes may differ, so we always send
//! and store one canonical form. Chat2Desk hands out digits without `+`, and for non-phone
//! transports a synthetic id such as `[tg] 807892`, which must never become a phone.

/// Fewest digits of an accepted number (country code included).
const MIN_DIGITS: usize = 10;
/// Most digits E.164 allows.
const MAX_DIGITS: usize = 15;

/// Normalises a phone as written by a person or returned by Chat2Desk to `+` and 10–15
/// digits, or `None` when it is not a usable phone.
///
/// - Separators (spaces, `-`, `.`, `/`, brackets) are dropped; an extension after `доб`,
///   `ext`, `#`, `,` or `;` is cut off, as the portal does.
/// - Any other character (letters, `[tg] 807892`-style ids, e-mail addresses) rejects it.
/// - Without a leading `+`: international prefixes `00` and `810` are removed; 11 digits
///   starting with `8` become `7…`; 10 digits starting with `9` (a Russian mobile without
///   the trunk prefix) get `7` in front.
/// - With a leading `+`, `+89…` with 11 digits (a common misspelling of `+79…`; no country
///   code 89 exists) becomes `+79…`; other numbers are kept as written.
/// - Fewer than 10 or more than 15 digits, or a leading `0` after this, rejects it.
pub fn normalize_phone(raw: &str) -> Option<String> {
    let main = cut_extension(raw.trim());
    let plus = main.starts_with('+');
    let body = if plus { &main[1..] } else { main };
    let mut digits = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '\u{A0}' | '-' | '.' | '/' | '(' | ')' | '\u{2010}'..='\u{2015}' => {}
            _ => return None,
        }
    }
    let digits = if plus {
        match digits.strip_prefix("89") {
            Some(rest) if digits.len() == 11 => format!("79{rest}"),
            _ => digits,
        }
    } else {
        let digits = match (digits.strip_prefix("00"), digits.strip_prefix("810")) {
            (Some(rest), _) => rest.to_owned(),
            (None, Some(rest)) if digits.len() > 11 => rest.to_owned(),
            _ => digits,
        };
        match (digits.len(), digits.as_bytes().first()) {
            (11, Some(b'8')) => format!("7{}", &digits[1..]),
            (10, Some(b'9')) => format!("7{digits}"),
            _ => digits,
        }
    };
    let ok = (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

/// The part of a phone before an extension marker (`доб`, `ext`, `#`, `,`, `;`, any case).
fn cut_extension(raw: &str) -> &str {
    let starts_with_ci =
        |s: &str, m: &str| s.chars().take(3).flat_map(char::to_lowercase).eq(m.chars());
    raw.char_indices()
        .find(|&(i, c)| {
            matches!(c, '#' | ',' | ';')
                || starts_with_ci(&raw[i..], "ext")
                || starts_with_ci(&raw[i..], "доб")
        })
        .map_or(raw, |(i, _)| raw[..i].trim_end())
}

#[cfg(test)]
mod tests {
    use super::normalize_phone;

    fn n(raw: &str) -> Option<String> {
        normalize_phone(raw)
    }

    #[test]
    fn russian_forms_become_one_number() {
        for raw in [
            "8 (916) 123-45-67",
            "+7 916 123 45 67",
            "79161234567",
            "9161234567",
            "+7(916)123-45-67",
            "8-916-123-45-67 доб. 12",
            "+8 916 123 45 67",
            "007 916 123 45 67",
            "8\u{A0}916\u{A0}123\u{A0}45\u{A0}67",
        ] {
            assert_eq!(n(raw).as_deref(), Some("+79161234567"), "{raw}");
        }
    }

    #[test]
    fn chat2desk_international_digits_are_kept() {
        assert_eq!(n("996554644662").as_deref(), Some("+996554644662"));
        assert_eq!(n("77073200049").as_deref(), Some("+77073200049"));
        assert_eq!(n("+44 20 7946 0958").as_deref(), Some("+442079460958"));
        assert_eq!(n("810 49 30 1234567").as_deref(), Some("+49301234567"));
    }

    #[test]
    fn synthetic_ids_and_junk_are_rejected() {
        for raw in [
            "[tg] 807892",
            "[tg] 89161234567",
            "tg:89161234567",
            "user@example.com",
            "id12345678901",
            "",
            "+",
            "123456789",
            "1234567890123456",
            "0123456789",
            "++79161234567",
            "7916+1234567",
        ] {
            assert_eq!(n(raw), None, "{raw}");
        }
    }

    #[test]
    fn extensions_are_cut() {
        assert_eq!(n("+7 495 123-45-67 ext 5").as_deref(), Some("+74951234567"));
        assert_eq!(n("84951234567#5").as_deref(), Some("+74951234567"));
        assert_eq!(
            n("84951234567, 84951234568").as_deref(),
            Some("+74951234567")
        );
    }
}
