//! Transcripts: the client's text can forge neither a tag, a link nor a mention, and split
//! transcripts keep their escapes and markers.

use chat2desk_b24::flows::transcript::text::{
    self as transcript, Author, FileKind, FileLink, Line, TranscriptInput,
};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;

/// Text a hostile or unlucky client might send: BB-code, forged markers and links, mentions,
/// HTML, emoji, line breaks and control characters, mixed with anything.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[b]".to_string()),
        Just("[/b]".to_string()),
        Just("[i]".to_string()),
        Just("[/i]".to_string()),
        Just("[url=https://evil.example/]".to_string()),
        Just("[url]https://evil.example/[/url]".to_string()),
        Just("[/url]".to_string()),
        Just("[user=1]Админ[/user]".to_string()),
        Just("[i]Chat2Desk: обращение 1 · c2d:1:1/1[/i]".to_string()),
        Just("\n[i]Chat2Desk: обращение 9 · c2d:9:1/1[/i]\n".to_string()),
        Just("c2d:9:1/1".to_string()),
        Just("<script>alert(1)</script>".to_string()),
        Just("<a href=\"https://evil.example\">x</a>".to_string()),
        Just("👍🏽🇷🇺 ".to_string()),
        Just("\r\n".to_string()),
        Just("\n".to_string()),
        Just("\u{2028}".to_string()),
        Just("\t\u{0}\u{7}\u{1b}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("\u{200B}".to_string()),
        "[А-Яа-я ]{0,20}".prop_map(|s| s),
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

/// Checks one rendered part: every `[` is either ours (a known tag) or followed by U+200B,
/// our tags are balanced, no link or mention but ours, and the marker on the last line.
fn check_part(part: &str, links: usize) -> Result<(), TestCaseError> {
    const OURS: &[&str] = &["[b]", "[/b]", "[i]", "[/i]", "[url=", "[/url]"];
    let mut count = std::collections::HashMap::new();
    for (at, _) in part.match_indices('[') {
        let rest = &part[at..];
        if rest[1..].starts_with('\u{200B}') {
            continue;
        }
        let tag = OURS.iter().find(|t| rest.starts_with(**t));
        prop_assert!(
            tag.is_some(),
            "a bare `[` that is not our tag: {:?}",
            &rest[..rest.len().min(40)]
        );
        *count.entry(*tag.unwrap()).or_insert(0usize) += 1;
    }
    let n = |t: &str| count.get(t).copied().unwrap_or(0);
    prop_assert_eq!(n("[b]"), n("[/b]"), "bold balanced");
    prop_assert_eq!(n("[i]"), 1, "only the marker is italic");
    prop_assert_eq!(n("[/i]"), 1);
    prop_assert_eq!(n("[url="), links, "only our links");
    prop_assert_eq!(n("[/url]"), links);
    for (at, _) in part.match_indices('<') {
        prop_assert!(part[at + 1..].starts_with('\u{200B}'), "a bare `<`");
    }
    Ok(())
}

/// Renders `lines` and checks every part and the marker sequence.
fn check_transcript(
    lines: &[Line],
    name: &str,
    max_bytes: usize,
    links_per_part: impl Fn(&str) -> usize,
) -> Result<Vec<String>, TestCaseError> {
    let input = TranscriptInput {
        request_id: 4242,
        opened: None,
        chat_url: Some("https://web.chat2desk.com/chat/all?dialogID=7"),
        client_name: Some(name),
        client_phone: Some(name),
        channel: Some(name),
        lines,
        timezone: chrono_tz::Europe::Moscow,
        max_bytes,
    };
    let parts = transcript::render(&input);
    let total = parts.len();
    for (i, part) in parts.iter().enumerate() {
        check_part(part, links_per_part(part))?;
        let marker = transcript::find_marker(part);
        prop_assert_eq!(
            marker,
            Some(transcript::Marker {
                request_id: 4242,
                part: i + 1,
                total
            }),
            "our marker on part {}",
            i + 1
        );
        let ours = transcript::marker(4242, i + 1, total);
        prop_assert_eq!(part.trim_end().lines().last(), Some(ours.as_str()));
        if max_bytes >= chat2desk_b24::config::MIN_MAX_BYTES {
            prop_assert!(
                part.len() <= max_bytes,
                "part {} is {} bytes",
                i + 1,
                part.len()
            );
        }
    }
    Ok(parts)
}

fn line(text: String, author: Author) -> Line {
    Line {
        at: Some(Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).unwrap()),
        author,
        text: Some(text),
        files: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn client_text_cannot_break_markup_or_forge_links(
        texts in prop::collection::vec(hostile_text(), 0..6),
        name in hostile_text(),
    ) {
        let lines: Vec<Line> = texts
            .into_iter()
            .enumerate()
            .map(|(i, t)| line(t, if i % 2 == 0 { Author::Client } else { Author::Operator(Some(name.clone())) }))
            .collect();
        // The chat link is in every part's header; no other link may appear.
        check_transcript(&lines, &name, 10_000, |_| 1)?;
    }
}

proptest! {
    // Large inputs: fewer cases keep the debug-build run short.
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn split_transcripts_keep_escapes_and_markers(
        texts in prop::collection::vec(hostile_text(), 1..40),
        file_name in hostile_text(),
        file_url in prop_oneof![
            Just("https://files.example/a b[c].pdf".to_string()),
            Just("javascript:alert(1)".to_string()),
            Just("https://files.example/x]y[url=https://evil]".to_string()),
            any::<String>(),
        ],
    ) {
        let mut lines: Vec<Line> = texts.into_iter().map(|t| line(t.repeat(8), Author::Client)).collect();
        let linkable = chat2desk_b24::portal::sanitize_url(&file_url).is_some_and(|u| u.len() <= 2_048);
        lines.push(Line {
            at: None,
            author: Author::Bot,
            text: None,
            files: vec![FileLink { kind: FileKind::Document, name: file_name, url: file_url }],
        });
        check_transcript(&lines, "Клиент", chat2desk_b24::config::MIN_MAX_BYTES, |part| {
            // The header's chat link, plus the file link in the part that holds it.
            1 + usize::from(linkable && part.contains("Документ: [url="))
        })?;
    }
}

#[test]
fn huge_and_empty_texts_render_with_markers() {
    let big = "Привет [b]жирный[/b] <b>html</b> 🙂 ".repeat(3_000); // about 100 KB
    assert!(big.len() >= 100_000);
    for (text, max) in [
        (big.clone(), 10_000),
        (big, chat2desk_b24::config::MIN_MAX_BYTES),
        (String::new(), 10_000),
        ("   \n\t ".to_string(), 10_000),
    ] {
        let lines = vec![line(text, Author::Client)];
        let parts = check_transcript(&lines, "", max, |_| 1).expect("valid parts");
        assert!(!parts.is_empty());
    }
}
