//! The tab's HTML (Russian): the client's messages newest first, each an element with
//! `data-message-id` holding its text, request boundaries, files as links, the chat link;
//! refusals in `role="alert"`. Every value from Chat2Desk or the portal is escaped; links are
//! `http(s)` only. A small script asks `/bitrix24/card/messages` for new messages every few
//! seconds with the session's headers.

use super::history::{History, HistoryMessage};
use super::tab::{TabEntity, TabUser};
use crate::portal::sanitize_url;
use crate::server::escape_html as escape;

/// How often the page asks for new messages, in milliseconds.
pub const POLL_MS: u64 = 3000;

/// What one render needs besides the history.
pub struct PageParts<'a> {
    /// `[card] title`.
    pub title: &'a str,
    /// Who opened the tab.
    pub user: &'a TabUser,
    /// The entity shown.
    pub entity: &'a TabEntity,
    /// The session id and its CSRF token, for the page's later requests.
    pub session: (&'a str, &'a str),
    /// The script's nonce (the page's CSP allows only it).
    pub nonce: &'a str,
    /// The portal's time zone.
    pub timezone: chrono_tz::Tz,
    /// Builds a link to a dialog in the Chat2Desk web app.
    pub chat_url: &'a dyn Fn(i64) -> String,
}

/// The whole tab.
pub fn tab(parts: &PageParts<'_>, history: &History) -> String {
    let e = parts.entity;
    let mut body = format!(
        "<header><p class=\"who\">{} · {}</p></header>",
        escape(&e.title),
        escape(&parts.user.name)
    );
    if e.phones.is_empty() {
        body.push_str(
            "<p class=\"empty\">В карточке нет телефона, поэтому переписки в Chat2Desk не найти. \
             Добавьте телефон клиента в карточку, чтобы написать ему первым.</p>",
        );
    } else {
        body.push_str(&format!(
            "<p class=\"phones\">Телефоны: {}</p>",
            escape(&e.phones.join(", "))
        ));
        if history.clients.is_empty() {
            body.push_str(
                "<p class=\"empty\">Клиента с этим телефоном в Chat2Desk пока нет. Напишите ему \
                 первым действием бизнес-процесса «Написать сообщение на номер».</p>",
            );
        } else if history.messages.is_empty() {
            body.push_str("<p class=\"empty\">За выбранный период сообщений нет.</p>");
        }
    }
    body.push_str("<div role=\"alert\" id=\"alert\" hidden></div>");
    body.push_str(&format!(
        "<ol id=\"messages\">{}</ol>",
        messages(parts, &history.messages)
    ));
    let last = history.messages.iter().map(|m| m.id).max().unwrap_or(0);
    let script = format!(
        "<script nonce=\"{}\">(function(){{var b=document.body,last={last},list=document.getElementById('messages'),\
         alert=document.getElementById('alert');function poll(){{fetch('/bitrix24/card/messages?after='+last,\
         {{headers:{{'X-Card-Session':b.dataset.session,'X-Card-Csrf':b.dataset.csrf}},credentials:'omit'}})\
         .then(function(r){{if(!r.ok){{alert.textContent='Сессия вкладки истекла: обновите страницу карточки.';\
         alert.hidden=false;return null}}return r.json()}}).then(function(j){{if(!j)return;\
         if(j.html){{list.insertAdjacentHTML('afterbegin',j.html)}}if(j.last>last){{last=j.last}}\
         setTimeout(poll,{POLL_MS})}}).catch(function(){{setTimeout(poll,{POLL_MS})}})}}\
         setTimeout(poll,{POLL_MS})}})()</script>",
        escape(parts.nonce)
    );
    format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>{}</title>{STYLE}</head>\
         <body data-session=\"{}\" data-csrf=\"{}\">{body}{script}</body></html>",
        escape(parts.title),
        escape(parts.session.0),
        escape(parts.session.1)
    )
}

/// The messages as list items, with a boundary line where the request changes.
pub fn messages(parts: &PageParts<'_>, list: &[HistoryMessage]) -> String {
    let mut out = String::new();
    let mut request = None;
    for m in list {
        if m.request_id.is_some() && m.request_id != request {
            request = m.request_id;
            out.push_str(&format!(
                "<li class=\"boundary\">Обращение {}</li>",
                m.request_id.unwrap_or_default()
            ));
        }
        out.push_str(&message(parts, m));
    }
    out
}

fn message(parts: &PageParts<'_>, m: &HistoryMessage) -> String {
    let who = match (m.author.as_str(), &m.operator) {
        ("client", _) => "Клиент".to_string(),
        ("operator", Some(name)) => format!("Оператор {name}"),
        ("operator", None) => "Оператор".to_string(),
        ("bot", _) => "Бот".to_string(),
        ("system", _) => "Система".to_string(),
        ("comment", _) => "Заметка оператора".to_string(),
        _ => "Сообщение".to_string(),
    };
    let when = m
        .created
        .map(|t| {
            t.with_timezone(&parts.timezone)
                .format("%d.%m.%Y %H:%M")
                .to_string()
        })
        .unwrap_or_default();
    let channel = m
        .channel
        .as_ref()
        .map(|(id, transport)| format!(" · канал {id} {transport}"))
        .unwrap_or_default();
    let chat = m
        .dialog_id
        .and_then(|d| sanitize_url(&(parts.chat_url)(d)))
        .map(|url| {
            format!(
                " · <a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">чат в Chat2Desk</a>",
                escape(&url)
            )
        })
        .unwrap_or_default();
    let files: String = m
        .files
        .iter()
        .filter_map(|f| sanitize_url(&f.url).map(|url| (url, &f.name)))
        .map(|(url, name)| {
            format!(
                "<li><a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">{}</a></li>",
                escape(&url),
                escape(name)
            )
        })
        .collect();
    let files = if files.is_empty() {
        String::new()
    } else {
        format!("<ul class=\"files\">{files}</ul>")
    };
    format!(
        "<li class=\"msg {}\" data-message-id=\"{}\"><div class=\"meta\">{} · {}{}{}</div>\
         <div class=\"text\">{}</div>{files}</li>",
        escape(&m.author),
        m.id,
        escape(&when),
        escape(&who),
        escape(&channel),
        chat,
        escape(&m.text)
    )
}

/// A tab that is not shown: the reason in `role="alert"`.
pub fn refused(title: &str, message: &str) -> String {
    format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>{}</title>{STYLE}</head>\
         <body><div role=\"alert\" class=\"refused\">{}</div></body></html>",
        escape(title),
        escape(message)
    )
}

const STYLE: &str = "<style>body{font-family:sans-serif;margin:1em;line-height:1.4}\
ol{list-style:none;padding:0}li.msg{margin:.6em 0;padding:.4em .6em;border-radius:6px;background:#f3f5f7}\
li.msg.client{background:#e8f4ff}.meta{color:#555;font-size:.85em}.boundary{color:#888;\
text-align:center;font-size:.85em;margin:1em 0}[role=alert]{color:#b00020;font-weight:bold}\
.text{white-space:pre-wrap}</style>";
