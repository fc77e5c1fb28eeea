//! Rendering a request's messages as BB-code timeline comments.
//!
//! Layout (dates and times in the configured zone, every line stamped so parts read on their
//! own):
//! ```text
//! [b]Chat2Desk - Диалог №5758450 (14.02.2019)[/b]
//! [url=https://web.chat2desk.com/chat/all?dialogID=777]Открыть чат в Chat2Desk[/url]
//! Клиент: Никита, +79607940401 · Канал: WhatsApp
//!
//! [b]14.02.2019 10:15[/b] Клиент (Никита): Здравствуйте!
//! [b]14.02.2019 10:16[/b] Оператор (Иван Петров): Отправляю планировку
//! Документ: [url=https://files.example/plan.pdf]plan.pdf[/url]
//! [i]Chat2Desk: обращение 5758450 · c2d:5758450:1/1[/i]
//! ```
//! The header keeps the seed application's wording ("Chat2Desk - Диалог №…") that managers
//! know. A message with neither text nor files (a sticker, a location, an unsupported media
//! type) is shown as "(пустое сообщение)" rather than dropped, so the manager sees that the
//! client sent something. New lines inside a message are kept as they are.

use chrono::{DateTime, Utc};

use super::marker;
use super::split::{pack, Block};
use super::{Author, FileLink, Line, TranscriptInput};
use crate::portal::truncate_chars;
use crate::portal::{escape, escape_inline, sanitize_url};

/// Longest client or operator name shown, in characters.
const NAME_CHARS: usize = 80;
/// Longest client phone shown, in characters.
const PHONE_CHARS: usize = 32;
/// Longest channel description shown, in characters.
const CHANNEL_CHARS: usize = 120;
/// Longest file name shown, in characters.
const FILE_NAME_CHARS: usize = 120;
/// Longest chat link kept, in bytes after sanitising.
const CHAT_URL_BYTES: usize = 1_024;
/// Longest file link kept, in bytes after sanitising (signed storage URLs are long).
const FILE_URL_BYTES: usize = 2_048;
/// Room always left for messages in a part, even when `max_bytes` is set too small.
const MIN_BODY_BYTES: usize = 512;

/// Renders the transcript of one request as 1..n comment texts, in order.
///
/// When everything fits in `max_bytes`, one comment is returned. Otherwise messages are
/// split between parts, each with the header (plus " — часть k/n") and its own marker, and
/// each at most `max_bytes` long (when `max_bytes` ≥ [`MIN_MAX_BYTES`](crate::config::MIN_MAX_BYTES)). Every part ends
/// with the marker line read by [`find_marker`](super::find_marker).
pub fn render(input: &TranscriptInput) -> Vec<String> {
    let header = Header::new(input);
    let blocks: Vec<Block> = if input.lines.is_empty() {
        let mut empty = Block::default();
        empty.push_atom("(сообщений нет)");
        vec![empty]
    } else {
        let client = input.client_name.map(clean_name).unwrap_or_default();
        input
            .lines
            .iter()
            .map(|l| line_block(l, &client, input.timezone))
            .collect()
    };
    let id = input.request_id;

    let whole: Vec<&str> = blocks.iter().map(Block::text).collect();
    let single = assemble(&header.text(None), &whole.join("\n"), &marker(id, 1, 1));
    if single.len() <= input.max_bytes {
        return vec![single];
    }

    // The part count changes the length of the header and marker; size them for the widest
    // numbers, and pack again if the count grows by a digit.
    let mut guess = 2;
    loop {
        let overhead = assemble(
            &header.text(Some((guess, guess))),
            "",
            &marker(id, guess, guess),
        );
        let budget = input
            .max_bytes
            .saturating_sub(overhead.len())
            .max(MIN_BODY_BYTES);
        let bodies = pack(&blocks, budget);
        let total = bodies.len();
        if total.to_string().len() <= guess.to_string().len() {
            return bodies
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    let part = Some((i + 1, total));
                    assemble(&header.text(part), body, &marker(id, i + 1, total))
                })
                .collect();
        }
        guess = total;
    }
}

/// Joins the header, the body and the marker line.
fn assemble(header: &str, body: &str, marker: &str) -> String {
    format!("{header}\n\n{body}\n{marker}")
}

/// The header fields, escaped and capped once.
struct Header {
    title: String,
    link: Option<String>,
    about: Option<String>,
}

impl Header {
    fn new(input: &TranscriptInput) -> Self {
        let opened = input
            .opened
            .or_else(|| input.lines.iter().find_map(|l| l.at));
        let date = opened
            .map(|at| {
                format!(
                    " ({})",
                    at.with_timezone(&input.timezone).format("%d.%m.%Y")
                )
            })
            .unwrap_or_default();
        let title = format!("Chat2Desk - Диалог №{}{date}", input.request_id);
        let link = input
            .chat_url
            .and_then(sanitize_url)
            .filter(|u| u.len() <= CHAT_URL_BYTES)
            .map(|u| format!("[url={u}]Открыть чат в Chat2Desk[/url]"));

        let field = |v: Option<&str>, max| {
            v.map(|v| escape_inline(&truncate_chars(v.trim(), max)))
                .filter(|v| !v.is_empty())
        };
        let client: Vec<String> = [
            field(input.client_name, NAME_CHARS),
            field(input.client_phone, PHONE_CHARS),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut about = Vec::new();
        if !client.is_empty() {
            about.push(format!("Клиент: {}", client.join(", ")));
        }
        if let Some(channel) = field(input.channel, CHANNEL_CHARS) {
            about.push(format!("Канал: {channel}"));
        }
        let about = (!about.is_empty()).then(|| about.join(" · "));
        Self { title, link, about }
    }

    /// The header lines; `part` = `(k, n)` adds " — часть k/n" to the title.
    fn text(&self, part: Option<(usize, usize)>) -> String {
        let suffix = part
            .map(|(k, n)| format!(" — часть {k}/{n}"))
            .unwrap_or_default();
        let mut lines = vec![format!("[b]{}{suffix}[/b]", self.title)];
        lines.extend(self.link.iter().cloned());
        lines.extend(self.about.iter().cloned());
        lines.join("\n")
    }
}

/// A name as shown after an author word: one line, escaped, capped.
fn clean_name(name: &str) -> String {
    escape_inline(&truncate_chars(name.trim(), NAME_CHARS))
}

/// The author word, with the name in brackets when known.
fn author_label(author: &Author, client: &str) -> String {
    let (word, name) = match author {
        Author::Client => ("Клиент", Some(client.to_owned())),
        Author::Operator(name) => ("Оператор", name.as_deref().map(clean_name)),
        Author::Bot => ("Бот", None),
        Author::System => ("Система", None),
        Author::InternalNote(name) => ("Заметка", name.as_deref().map(clean_name)),
    };
    match name.filter(|n| !n.is_empty()) {
        Some(name) => format!("{word} ({name})"),
        None => word.to_owned(),
    }
}

/// One message as a block: stamp and author, text, then one line per file.
fn line_block(line: &Line, client: &str, tz: chrono_tz::Tz) -> Block {
    let mut block = Block::default();
    let stamp = line.at.map(|at| stamp(at, tz)).unwrap_or_default();
    block.push_atom(&format!("{stamp}{}: ", author_label(&line.author, client)));

    let text = line.text.as_deref().map(str::trim).unwrap_or_default();
    let mut first = true;
    if !text.is_empty() {
        block.push_text(&escape(text));
        first = false;
    }
    for file in &line.files {
        if !first {
            block.push_text("\n");
        }
        first = false;
        push_file(&mut block, file);
    }
    if first {
        block.push_text("(пустое сообщение)");
    }
    block
}

/// `[b]dd.mm.yyyy HH:MM[/b] ` in the configured zone.
fn stamp(at: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    format!("[b]{}[/b] ", at.with_timezone(&tz).format("%d.%m.%Y %H:%M"))
}

/// `Документ: [url=…]name[/url]`, or the name without a link when the URL is unusable.
fn push_file(block: &mut Block, file: &FileLink) {
    let url = sanitize_url(&file.url);
    let name = match file.name.trim() {
        "" => url
            .as_deref()
            .and_then(|u| u.split(['?', '#']).next())
            .and_then(|u| u.rsplit('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("файл")
            .to_owned(),
        name => name.to_owned(),
    };
    let name = escape_inline(&truncate_chars(&name, FILE_NAME_CHARS));
    let word = file.kind.word();
    match url.filter(|u| u.len() <= FILE_URL_BYTES) {
        Some(url) => block.push_atom(&format!("{word}: [url={url}]{name}[/url]")),
        None => block.push_atom(&format!("{word}: {name} (ссылка недоступна)")),
    }
}
