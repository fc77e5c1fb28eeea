//! The tab's HTML (Russian): the client's messages newest first, each an element with
//! `data-message-id` holding its text, request boundaries, files as links, the chat link;
//! refusals in `role="alert"`. Every value from Chat2Desk or the portal is escaped; links are
//! `http(s)` only. The send form is a `<form>` with `<select name="channel">`, `<textarea
//! name="text">` and `<button type="submit">`. A small script asks `/bitrix24/card/messages`
//! for new messages every few seconds and posts the form to `/bitrix24/card/send`, both with
//! the session's headers.

use super::cursor::Cursor;
use super::history::{History, HistoryMessage};
use super::tab::{TabEntity, TabUser};
use super::writer::Writer;
use crate::chat2desk::Template;
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

/// What the send form offers.
pub struct SendForm<'a> {
    /// As whom, to whom, on which channels.
    pub writer: &'a Writer,
    /// Templates to start from.
    pub templates: &'a [Template],
    /// The form's one-time send key.
    pub key: &'a str,
}

/// The whole tab: who, the form, the messages, and the script that polls from `cursor`.
pub fn tab(
    parts: &PageParts<'_>,
    history: &History,
    cursor: &Cursor,
    form: &SendForm<'_>,
) -> String {
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
                 первым: сообщение ниже создаст клиента, если компании можно писать первой.</p>",
            );
        } else if history.messages.is_empty() {
            body.push_str("<p class=\"empty\">За выбранный период сообщений нет.</p>");
        }
    }
    body.push_str("<div role=\"alert\" id=\"alert\" hidden></div>");
    if !e.phones.is_empty() {
        body.push_str(&send_form(form));
    }
    body.push_str(&format!(
        "<ol id=\"messages\">{}</ol>",
        messages(parts, &history.messages)
    ));
    let script = format!(
        "<script nonce=\"{}\">(function(){{var SINCE={},SEEN='{}',POLL={POLL_MS};{SCRIPT}}})()</script>",
        escape(parts.nonce),
        cursor.since_ms,
        cursor.seen_text()
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

/// One message as a list item (`data-message-id`, `data-created` in unix ms).
pub fn message(parts: &PageParts<'_>, m: &HistoryMessage) -> String {
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
        "<li class=\"msg {}\" data-message-id=\"{}\" data-created=\"{}\"><div class=\"meta\">{} · {}{}{}</div>\
         <div class=\"text\">{}</div>{files}</li>",
        escape(&m.author),
        m.id,
        m.created.map_or(i64::MAX, |t| t.timestamp_millis()),
        escape(&when),
        escape(&who),
        escape(&channel),
        chat,
        escape(&m.text)
    )
}

/// The send form: as whom the message goes, the channel (the client's first), a template to
/// start from, the text, file links.
fn send_form(form: &SendForm<'_>) -> String {
    let as_whom = match &form.writer.operator {
        Some(o) => format!("Вы пишете как оператор Chat2Desk «{}».", escape(&o.name)),
        None => "Ваш пользователь портала не сопоставлен с оператором Chat2Desk \
                 ([[crm.operators]]): сообщение уйдёт от имени компании."
            .to_string(),
    };
    let channels: String = form
        .writer
        .channels
        .iter()
        .map(|(id, label)| format!("<option value=\"{id}\">{}</option>", escape(label)))
        .collect();
    let templates = if form.templates.is_empty() {
        String::new()
    } else {
        let options: String = form
            .templates
            .iter()
            .map(|t| {
                format!(
                    "<option value=\"{}\" data-text=\"{}\">{}</option>",
                    t.id,
                    escape(&t.text),
                    escape(&t.name)
                )
            })
            .collect();
        format!(
            "<label>Шаблон <select id=\"template\"><option value=\"\">— без шаблона —</option>\
             {options}</select></label>"
        )
    };
    format!(
        "<form id=\"send\" method=\"post\" action=\"/bitrix24/card/send\">\
         <input type=\"hidden\" name=\"key\" value=\"{}\"><p class=\"as\">{as_whom}</p>\
         <label>Канал <select name=\"channel\">{channels}</select></label>{templates}\
         <textarea name=\"text\" rows=\"3\" placeholder=\"Сообщение клиенту\"></textarea>\
         <label>Ссылки на файлы <input type=\"text\" name=\"files\" placeholder=\"https://…\"></label>\
         <button type=\"submit\">Отправить</button><p id=\"status\" role=\"status\"></p></form>",
        escape(form.key)
    )
}

/// The page's script (after `SINCE`, `SEEN` and `POLL` are set): the poll, which puts each
/// message not on the page yet in its place by time, and the form's send.
const SCRIPT: &str = "var b=document.body,cur={since:SINCE,seen:SEEN},timer,\
list=document.getElementById('messages'),alert=document.getElementById('alert'),\
status=document.getElementById('status'),form=document.getElementById('send'),\
tpl=document.getElementById('template');\
function h(){return {'X-Card-Session':b.dataset.session,'X-Card-Csrf':b.dataset.csrf}}\
function say(t){alert.textContent=t||'';alert.hidden=!t}\
function put(m){if(list.querySelector('[data-message-id=\"'+m.id+'\"]'))return;\
var t=document.createElement('template');t.innerHTML=m.html;var node=t.content.firstElementChild,\
at=m.created===null?Infinity:m.created,items=list.querySelectorAll('li.msg'),before=null;\
for(var i=0;i<items.length;i++){if(Number(items[i].dataset.created)<=at){before=items[i];break}}\
list.insertBefore(node,before)}\
function later(){clearTimeout(timer);timer=setTimeout(poll,POLL)}\
function poll(){fetch('/bitrix24/card/messages?since='+cur.since+'&seen='+cur.seen,\
{headers:h(),credentials:'omit'}).then(function(r){if(!r.ok){\
say('Сессия вкладки истекла: обновите страницу карточки.');return null}return r.json()})\
.then(function(j){if(!j)return;j.messages.forEach(put);cur.since=j.since;cur.seen=j.seen;later()})\
.catch(later)}\
if(tpl){tpl.onchange=function(){var o=tpl.options[tpl.selectedIndex];\
if(o.value){form.elements.text.value=o.dataset.text}}}\
if(form){form.addEventListener('submit',function(e){e.preventDefault();\
var btn=form.querySelector('button[type=submit]');if(btn.disabled)return;btn.disabled=true;say('');\
status.textContent='Отправляем…';\
fetch(form.action,{method:'POST',credentials:'omit',body:new URLSearchParams(new FormData(form)).toString(),\
headers:Object.assign({'Content-Type':'application/x-www-form-urlencoded'},h())})\
.then(function(r){return r.json()}).then(function(j){if(j.key){form.elements.key.value=j.key}\
if(j.status==='sent'||j.status==='queued'){form.elements.text.value='';form.elements.files.value='';\
status.textContent=j.message||'Отправлено.';poll()}else{status.textContent='';\
say(j.message||'Сообщение не отправлено.')}})\
.catch(function(){status.textContent='';say('Нет связи с сервером: сообщение не отправлено, попробуйте ещё раз.')})\
.then(function(){btn.disabled=false})})}\
later();";

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
.text{white-space:pre-wrap}form{margin:1em 0;display:grid;gap:.4em;max-width:40em}\
textarea{width:100%}.as{color:#555;font-size:.9em;margin:0}</style>";
