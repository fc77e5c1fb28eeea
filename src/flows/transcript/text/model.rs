//! Plain input types of the transcript renderer, independent of the Chat2Desk client models.

use chrono::{DateTime, Utc};

/// Everything needed to render one closed request (обращение) as timeline comment text.
#[derive(Debug, Clone)]
pub struct TranscriptInput<'a> {
    /// Chat2Desk request id; goes into the header and the exactly-once marker.
    pub request_id: i64,
    /// When the request was opened; the header date. `None` falls back to the first message
    /// that has a time, and the date is left out when no message has one.
    pub opened: Option<DateTime<Utc>>,
    /// Link to the chat in the Chat2Desk web app; the link line is left out when `None` or
    /// when the URL is not a usable http(s) link.
    pub chat_url: Option<&'a str>,
    /// Client display name (untrusted).
    pub client_name: Option<&'a str>,
    /// Client phone as it should be shown (untrusted).
    pub client_phone: Option<&'a str>,
    /// Channel description, e.g. `WhatsApp · [1GT] 79682212816` (untrusted).
    pub channel: Option<&'a str>,
    /// The request's messages, oldest first.
    pub lines: &'a [Line],
    /// Zone in which every date and time is printed.
    pub timezone: chrono_tz::Tz,
    /// Largest size of ONE comment in UTF-8 bytes; longer transcripts are split into parts.
    /// Guaranteed only when at least [`MIN_MAX_BYTES`](crate::config::MIN_MAX_BYTES).
    pub max_bytes: usize,
}

/// One message of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When the message was created; `None` prints the line without a time stamp.
    pub at: Option<DateTime<Utc>>,
    /// Who wrote it.
    pub author: Author,
    /// Message text (untrusted); `None` or blank when the message only carries files.
    pub text: Option<String>,
    /// Attached files, each printed as a link.
    pub files: Vec<FileLink>,
}

/// Author of a message, mapped from the Chat2Desk message `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    /// `from_client`.
    Client,
    /// `to_client`, with the operator's name when known.
    Operator(Option<String>),
    /// `autoreply` (bots and auto-replies).
    Bot,
    /// `system` (not delivered to the client).
    System,
    /// `comment`: an internal note, with the operator's name when known.
    InternalNote(Option<String>),
}

/// What kind of file an attachment is; decides the word printed before its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An image (`photo`).
    Photo,
    /// A video (`video`).
    Video,
    /// A voice message or audio file (`audio`).
    Audio,
    /// A document (`pdf`).
    Document,
    /// Any other attachment (`attachments[]`).
    File,
}

impl FileKind {
    /// The Russian word managers see before the link.
    pub fn word(self) -> &'static str {
        match self {
            FileKind::Photo => "Фото",
            FileKind::Video => "Видео",
            FileKind::Audio => "Аудио",
            FileKind::Document => "Документ",
            FileKind::File => "Файл",
        }
    }
}

/// An attached file: a name to show and the URL the link opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLink {
    /// Kind of file.
    pub kind: FileKind,
    /// File name to show (untrusted); the URL's last path segment is used when blank.
    pub name: String,
    /// Where the file is; only http(s) URLs become links.
    pub url: String,
}
