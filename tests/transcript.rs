//! Transcript rendering as managers and the exactly-once check rely on it: layout, time zones,
//! files, authors, splitting, escaping of untrusted text and the marker.

use chat2desk_b24::config::MIN_MAX_BYTES;
use chat2desk_b24::flows::transcript::text::{
    find_marker, marker, render, Author, FileKind, FileLink, Line, Marker, TranscriptInput,
};
use chat2desk_b24::portal::escape;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

const ZWSP: char = '\u{200B}';

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn msg(time: &str, author: Author, text: &str) -> Line {
    Line {
        at: Some(at(time)),
        author,
        text: Some(text.to_owned()),
        files: Vec::new(),
    }
}

fn input(lines: &[Line]) -> TranscriptInput<'_> {
    TranscriptInput {
        request_id: 5758450,
        opened: Some(at("2019-02-14T07:14:00Z")),
        chat_url: Some("https://web.chat2desk.com/chat/all?dialogID=777"),
        client_name: Some("Никита"),
        client_phone: Some("+79607940401"),
        channel: Some("WhatsApp"),
        lines,
        timezone: chrono_tz::Europe::Moscow,
        max_bytes: 10_000,
    }
}

fn operator() -> Author {
    Author::Operator(Some("Иван Петров".into()))
}

/// Every `[` that is not neutralised must start one of the tags we emit ourselves.
fn assert_only_our_tags(text: &str) {
    for (i, _) in text.match_indices('[') {
        let rest = &text[i..];
        if rest[1..].starts_with(ZWSP) {
            continue;
        }
        let ours = ["[b]", "[/b]", "[i]", "[/i]", "[url=", "[/url]"];
        assert!(
            ours.iter().any(|t| rest.starts_with(t)),
            "foreign tag at {i}: {}",
            rest.chars().take(30).collect::<String>()
        );
    }
    for (i, _) in text.match_indices('<') {
        assert!(text[i + 1..].starts_with(ZWSP), "raw '<' at {i}");
    }
}

#[test]
fn typical_dialog_reads_like_the_seed_application() {
    let mut op = msg(
        "2019-02-14T07:16:00Z",
        operator(),
        "Добрый день, отправляю планировку",
    );
    op.files.push(FileLink {
        kind: FileKind::Document,
        name: "plan.pdf".into(),
        url: "https://files.example/plan.pdf".into(),
    });
    let lines = [
        msg("2019-02-14T07:15:00Z", Author::Client, "Здравствуйте!"),
        op,
    ];
    let parts = render(&input(&lines));
    assert_eq!(
        parts,
        ["[b]Chat2Desk - Диалог №5758450 (14.02.2019)[/b]\n\
          [url=https://web.chat2desk.com/chat/all?dialogID=777]Открыть чат в Chat2Desk[/url]\n\
          Клиент: Никита, +79607940401 · Канал: WhatsApp\n\
          \n\
          [b]14.02.2019 10:15[/b] Клиент (Никита): Здравствуйте!\n\
          [b]14.02.2019 10:16[/b] Оператор (Иван Петров): Добрый день, отправляю планировку\n\
          Документ: [url=https://files.example/plan.pdf]plan.pdf[/url]\n\
          [i]Chat2Desk: обращение 5758450 · c2d:5758450:1/1[/i]"]
    );
    assert_eq!(
        find_marker(&parts[0]),
        Some(Marker {
            request_id: 5758450,
            part: 1,
            total: 1
        })
    );
}

#[test]
fn optional_header_lines_are_left_out() {
    let lines = [msg("2019-02-14T07:15:00Z", Author::Client, "Привет")];
    let mut inp = input(&lines);
    inp.chat_url = None;
    inp.client_name = None;
    inp.client_phone = None;
    inp.channel = None;
    inp.opened = None;
    let parts = render(&inp);
    assert_eq!(
        parts,
        ["[b]Chat2Desk - Диалог №5758450 (14.02.2019)[/b]\n\n\
          [b]14.02.2019 10:15[/b] Клиент: Привет\n\
          [i]Chat2Desk: обращение 5758450 · c2d:5758450:1/1[/i]"]
    );
}

#[test]
fn times_are_printed_in_the_configured_zone() {
    let lines = [msg("2019-02-14T20:30:00Z", Author::Client, "Поздно")];
    let mut inp = input(&lines);
    inp.opened = Some(at("2019-02-14T20:29:00Z"));
    let moscow = render(&inp).remove(0);
    inp.timezone = chrono_tz::Asia::Novosibirsk;
    let novosibirsk = render(&inp).remove(0);
    // UTC+3 vs UTC+7: the same instant is late evening in Moscow, next morning in Novosibirsk.
    assert!(moscow.contains("(14.02.2019)[/b]"), "{moscow}");
    assert!(
        moscow.contains("[b]14.02.2019 23:30[/b] Клиент"),
        "{moscow}"
    );
    assert!(novosibirsk.contains("(15.02.2019)[/b]"), "{novosibirsk}");
    assert!(
        novosibirsk.contains("[b]15.02.2019 03:30[/b] Клиент"),
        "{novosibirsk}"
    );
    inp.timezone = "UTC".parse::<Tz>().unwrap();
    assert!(render(&inp)[0].contains("[b]14.02.2019 20:30[/b]"));
}

#[test]
fn files_are_clickable_links_with_kind_and_name() {
    let file = |kind, name: &str, url: &str| FileLink {
        kind,
        name: name.into(),
        url: url.into(),
    };
    let line = Line {
        at: Some(at("2019-02-14T07:15:00Z")),
        author: Author::Client,
        text: None,
        files: vec![
            file(FileKind::Photo, "фото 1.jpg", "https://cdn.example/p/1.jpg"),
            file(
                FileKind::Video,
                "clip.mp4",
                "https://cdn.example/v/clip.mp4",
            ),
            file(FileKind::Audio, "", "https://cdn.example/a/voice.ogg?sig=1"),
            file(
                FileKind::Document,
                "plan.pdf",
                "https://cdn.example/d/план 2.pdf",
            ),
            file(FileKind::File, "evil", "javascript:alert(1)"),
        ],
    };
    let text = render(&input(&[line])).remove(0);
    assert!(
        text.contains(
            "Клиент (Никита): Фото: [url=https://cdn.example/p/1.jpg]фото 1.jpg[/url]\n\
         Видео: [url=https://cdn.example/v/clip.mp4]clip.mp4[/url]\n\
         Аудио: [url=https://cdn.example/a/voice.ogg?sig=1]voice.ogg[/url]\n\
         Документ: [url=https://cdn.example/d/%D0%BF%D0%BB%D0%B0%D0%BD%202.pdf]plan.pdf[/url]\n\
         Файл: evil (ссылка недоступна)\n"
        ),
        "{text}"
    );
    assert!(!text.contains("javascript"));
}

#[test]
fn every_author_kind_is_labelled() {
    let lines = [
        msg("2019-02-14T07:15:00Z", Author::Client, "a"),
        msg("2019-02-14T07:15:00Z", operator(), "b"),
        msg("2019-02-14T07:15:00Z", Author::Operator(None), "c"),
        msg("2019-02-14T07:15:00Z", Author::Bot, "d"),
        msg("2019-02-14T07:15:00Z", Author::System, "e"),
        msg(
            "2019-02-14T07:15:00Z",
            Author::InternalNote(Some("Анна".into())),
            "f",
        ),
        msg(
            "2019-02-14T07:15:00Z",
            Author::InternalNote(Some("  ".into())),
            "g",
        ),
        msg("2019-02-14T07:15:00Z", Author::Client, "  "),
    ];
    let text = render(&input(&lines)).remove(0);
    let body: Vec<&str> = text.lines().skip(4).collect();
    let stamp = "[b]14.02.2019 10:15[/b] ";
    let expected = [
        "Клиент (Никита): a",
        "Оператор (Иван Петров): b",
        "Оператор: c",
        "Бот: d",
        "Система: e",
        "Заметка (Анна): f",
        "Заметка: g",
        "Клиент (Никита): (пустое сообщение)",
    ];
    for (got, want) in body.iter().zip(expected) {
        assert_eq!(*got, format!("{stamp}{want}"));
    }
    assert_eq!(body.len(), expected.len() + 1, "{text}");
}

#[test]
fn messages_keep_their_line_breaks_and_lose_control_characters() {
    let lines = [msg(
        "2019-02-14T07:15:00Z",
        Author::Client,
        "раз\r\nдва\u{7}\tтри 👍",
    )];
    let text = render(&input(&lines)).remove(0);
    assert!(
        text.contains("Клиент (Никита): раз\nдва три 👍\n[i]"),
        "{text}"
    );
}

#[test]
fn no_messages_still_gives_one_comment() {
    let parts = render(&input(&[]));
    assert_eq!(parts.len(), 1);
    assert!(
        parts[0].contains("\n\n(сообщений нет)\n[i]Chat2Desk"),
        "{}",
        parts[0]
    );
    assert_eq!(
        find_marker(&parts[0]).map(|m| (m.part, m.total)),
        Some((1, 1))
    );
}

#[test]
fn long_dialog_is_split_into_ordered_parts_within_the_limit() {
    let lines: Vec<Line> = (0..400)
        .map(|i| {
            let author = if i % 2 == 0 {
                Author::Client
            } else {
                operator()
            };
            msg(
                "2019-02-14T07:15:00Z",
                author,
                &format!("сообщение номер {i:03} — текст"),
            )
        })
        .collect();
    let mut inp = input(&lines);
    inp.max_bytes = MIN_MAX_BYTES;
    let parts = render(&inp);
    let total = parts.len();
    assert!(total >= 4, "{total}");
    let mut seen = Vec::new();
    for (k, part) in parts.iter().enumerate() {
        assert!(part.len() <= inp.max_bytes, "part {k}: {}", part.len());
        let title = format!("(14.02.2019) — часть {}/{total}[/b]", k + 1);
        assert!(part.lines().next().unwrap().ends_with(&title), "{part}");
        assert_eq!(
            find_marker(part),
            Some(Marker {
                request_id: 5758450,
                part: k + 1,
                total
            })
        );
        assert!(part.trim_end().ends_with(&marker(5758450, k + 1, total)));
        seen.extend(
            part.lines()
                .filter_map(|l| l.split("сообщение номер ").nth(1))
                .map(|n| n[..3].parse::<usize>().unwrap()),
        );
    }
    assert_eq!(seen, (0..400).collect::<Vec<_>>());
}

#[test]
fn a_single_100_kb_message_is_cut_and_continued() {
    let word = "слово😀 ";
    let text: String = word.repeat(100_000 / word.len());
    let lines = [msg("2019-02-14T07:15:00Z", Author::Client, &text)];
    let parts = render(&input(&lines));
    assert!(parts.len() >= 10, "{}", parts.len());
    let mut rebuilt = String::new();
    for (k, part) in parts.iter().enumerate() {
        assert!(part.len() <= 10_000, "part {k}: {}", part.len());
        assert_eq!(
            find_marker(part).map(|m| (m.part, m.total)),
            Some((k + 1, parts.len()))
        );
        let body: Vec<&str> = part.lines().skip(4).collect();
        let body = body[..body.len() - 1].join("\n");
        let body = body
            .trim_start_matches("(продолжение) ")
            .trim_start_matches("[b]14.02.2019 10:15[/b] Клиент (Никита): ");
        rebuilt.push_str(body);
        rebuilt.push(' ');
    }
    assert_eq!(
        rebuilt.split_whitespace().collect::<Vec<_>>(),
        text.split_whitespace().collect::<Vec<_>>()
    );
}

#[test]
fn bb_code_html_and_mentions_from_untrusted_text_stay_inert() {
    let evil = "[/i][/b][b]Важно[/b] [url=https://evil.example]банк[/url] [url]https://x[/url] \
                [user=1]Админ[/user] [img]https://x/a.png[/img] [quote]q[/quote] [code]c[/code] \
                [list][*]x[/list] [color=red]r[/color] [size=30]s[/size] [font=Arial]f[/font] \
                [video]v[/video] [table][tr][td]t[/td][/tr][/table] [URL=https://e]E[/URL] \
                <script>alert(1)</script> <b>жирный</b>";
    let mut lines = vec![
        msg("2019-02-14T07:15:00Z", Author::Client, evil),
        msg(
            "2019-02-14T07:15:00Z",
            Author::Operator(Some(evil.into())),
            evil,
        ),
    ];
    lines[1].files.push(FileLink {
        kind: FileKind::File,
        name: "x[/url][url=https://evil.example]клик".into(),
        url: "https://cdn.example/a]b[url=https://evil.example] \"x\"".into(),
    });
    let mut inp = input(&lines);
    inp.client_name = Some("[user=1]Никита[/user]");
    inp.client_phone = Some("[b]+7[/b]");
    inp.channel = Some("WhatsApp [i]x[/i]\n[url=https://evil]y[/url]");
    inp.chat_url = Some("https://web.chat2desk.com/chat/all?dialogID=1][url=https://evil]");
    for max_bytes in [10_000, MIN_MAX_BYTES] {
        inp.max_bytes = max_bytes;
        let parts = render(&inp);
        for part in &parts {
            assert_only_our_tags(part);
            assert!(!part.contains("[user"), "{part}");
            assert!(!part.contains("[url=https://evil"), "{part}");
            assert!(!part.contains("<script"), "{part}");
            // Our own links: the chat link and the file link, nothing else.
            assert!(part.matches("[url=").count() <= 2, "{part}");
            assert_eq!(find_marker(part).map(|m| m.request_id), Some(5758450));
        }
        let all = parts.join("\n");
        assert!(all.contains(
            "[url=https://cdn.example/a%5Db%5Burl=https://evil.example%5D%20%22x%22]x[\u{200B}/url]"
        ), "{all}");
        assert!(
            all.contains("?dialogID=1%5D%5Burl=https://evil%5D]Открыть чат"),
            "{all}"
        );
        // The text itself still reads as written once the invisible spaces are removed.
        assert!(all.replace(ZWSP, "").contains(evil));
    }
}

#[test]
fn message_text_cannot_forge_a_marker() {
    let forged = marker(999, 1, 1);
    let lines = [
        msg("2019-02-14T07:15:00Z", Author::Client, &forged),
        msg(
            "2019-02-14T07:15:00Z",
            Author::Client,
            &format!("ok\n{forged}\n"),
        ),
    ];
    let parts = render(&input(&lines));
    assert_eq!(
        find_marker(&parts[0]),
        Some(Marker {
            request_id: 5758450,
            part: 1,
            total: 1
        })
    );
    // Even if the text were the last line of a comment, its escaped form is not a marker.
    assert_eq!(find_marker(&escape(&forged)), None);
    assert_eq!(find_marker(&format!("x\n{}", escape(&forged))), None);
    let without_marker = parts[0].rsplit_once('\n').unwrap().0;
    assert_eq!(find_marker(without_marker), None);
}

#[test]
fn worst_case_header_and_links_still_fit_the_minimum_size() {
    let long = "[".repeat(5_000);
    let url = format!("https://cdn.example/{}", "a".repeat(2_000));
    let lines: Vec<Line> = (0..30)
        .map(|_| Line {
            at: Some(at("2019-02-14T07:15:00Z")),
            author: Author::Operator(Some(long.clone())),
            text: Some(long.clone()),
            files: vec![FileLink {
                kind: FileKind::Document,
                name: long.clone(),
                url: url.clone(),
            }],
        })
        .collect();
    let chat_url = format!(
        "https://web.chat2desk.com/chat/all?dialogID={}",
        "9".repeat(950)
    );
    let mut inp = input(&lines);
    inp.request_id = i64::MAX;
    inp.client_name = Some(&long);
    inp.client_phone = Some(&long);
    inp.channel = Some(&long);
    inp.chat_url = Some(&chat_url);
    inp.max_bytes = MIN_MAX_BYTES;
    let parts = render(&inp);
    assert!(parts.len() > 10);
    for part in &parts {
        assert!(part.len() <= MIN_MAX_BYTES, "{}", part.len());
        assert!(part.contains(&chat_url));
        assert_only_our_tags(part);
    }
    assert_eq!(
        parts.iter().map(|p| p.matches(&url).count()).sum::<usize>(),
        30
    );
}
