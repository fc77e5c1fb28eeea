//! The small HTML pages an administrator sees while connecting the application and in the
//! connector's settings frame. Every value is escaped.

use super::LineRules;
use super::{Connected, Refusal};

pub use crate::server::escape_html as escape;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"ru\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:44em;margin:2em auto;line-height:1.5}}\
         .ok{{color:#0a7d28}}.err{{color:#b00020}}td,th{{padding:.2em .8em;text-align:left}}</style>\
         </head><body><h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    )
}

/// The page after a successful connection: as whom, the scopes, each line's setup.
pub fn connected(c: &Connected) -> String {
    let mut body = format!(
        "<p class=\"ok\">Приложение подключено от имени {} (пользователь {}).</p>\
         <p>Права: {}</p>",
        escape(&c.user_name),
        c.user_id,
        escape(&c.scopes.join(", "))
    );
    match &c.lines {
        Ok(lines) if lines.is_empty() => {
            body.push_str("<p>Открытые линии в [openlines] не настроены.</p>");
        }
        Ok(lines) => {
            body.push_str("<table><tr><th>Линия</th><th>Коннектор</th></tr>");
            for l in lines {
                let status = if l.configured {
                    "<span class=\"ok\">подключён</span>"
                } else {
                    "<span class=\"err\">не настроен: проверьте линию в Контакт-центре</span>"
                };
                body.push_str(&format!("<tr><td>{}</td><td>{status}</td></tr>", l.line));
            }
            body.push_str("</table>");
        }
        Err(e) => body.push_str(&format!(
            "<p class=\"err\">Токены сохранены, но коннектор не настроен: {}. Демон повторит \
             настройку при запуске; подробности: <code>chat2desk-b24 check</code>.</p>",
            escape(e)
        )),
    }
    page("Chat2Desk ↔ Битрикс24", &body)
}

/// The page of a refused connection.
pub fn refused(r: &Refusal) -> String {
    page(
        "Chat2Desk ↔ Битрикс24: приложение не подключено",
        &format!("<p class=\"err\">{}</p>", escape(&r.message)),
    )
}

/// The connector's settings frame: each line, its channels and its status.
pub fn connector(rules: &LineRules, status: &[(i64, String)]) -> String {
    let mut body = String::from(
        "<p>Сообщения клиентов из каналов Chat2Desk приходят в эти открытые линии, ответы \
         операторов уходят клиентам через Chat2Desk. Линии и каналы задаются в \
         /etc/chat2desk-b24/config.toml ([[openlines.lines]]).</p>\
         <table><tr><th>Линия</th><th>Каналы Chat2Desk</th><th>Состояние</th></tr>",
    );
    for l in &rules.lines {
        let channels: Vec<String> = l.channels.iter().map(i64::to_string).collect();
        let state = status
            .iter()
            .find(|(line, _)| *line == l.line)
            .map(|(_, s)| s.as_str())
            .unwrap_or("неизвестно");
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            l.line,
            escape(&channels.join(", ")),
            escape(state)
        ));
    }
    body.push_str("</table>");
    page("Коннектор Chat2Desk", &body)
}
