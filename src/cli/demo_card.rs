//! The CRM card tab in `demo`: the lead of the demo's first client opened as the portal opens
//! the tab (the placement's form posted to the daemon with the manager's token), and the
//! page printed as text: who and what, as whom the manager writes, the messages newest first.

use crate::config::{CardConfig, Config};
use crate::sim::bitrix24::PortalSim;
use crate::sim::scenario::Scenario;
use std::time::Duration;

/// Turns the tab on for leads (the local application needs the `placement` scope too).
pub(super) fn prepare(config: &mut Config) {
    config.card = Some(CardConfig {
        entities: vec!["lead".into()],
        ..CardConfig::default()
    });
}

/// Opens the existing lead's tab as Maria and prints it.
pub(super) async fn show(portal: &PortalSim, s: &Scenario) -> anyhow::Result<()> {
    println!(
        "\n════ Вкладка «Chat2Desk» в карточке лида {} ════",
        s.lead_existing
    );
    let mut form = None;
    for _ in 0..100 {
        form = portal.tab_form("CRM_LEAD_DETAIL_TAB", s.lead_existing, s.user_maria);
        if form.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let form = form.ok_or_else(|| anyhow::anyhow!("the card tab was never bound"))?;
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.fields.iter())
        .finish();
    let answer = reqwest::Client::new()
        .post(&form.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    let status = answer.status();
    let page = answer.text().await?;
    println!(
        "POST /bitrix24/card (форма портала, пользователь {}): HTTP {status}",
        s.user_maria
    );
    for line in tab_text(&page) {
        println!("{line}");
    }
    Ok(())
}

/// The page's text, one line per block (header, note, message line), the form's controls
/// left out.
fn tab_text(page: &str) -> Vec<String> {
    let body = page
        .split_once("<body")
        .and_then(|(_, b)| b.split_once('>'))
        .map_or(page, |(_, b)| b);
    let mut rest = body.split("<script").next().unwrap_or(body);
    let (mut out, mut current) = (Vec::new(), String::new());
    let mut flush = |current: &mut String| {
        let line = unescape(
            current
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .as_str(),
        );
        if !line.is_empty() {
            out.push(line);
        }
        current.clear();
    };
    while let Some(start) = rest.find('<') {
        current.push(' ');
        current.push_str(&rest[..start]);
        let end = rest[start..]
            .find('>')
            .map_or(rest.len(), |e| start + e + 1);
        let tag = &rest[start..end];
        rest = &rest[end..];
        if let Some(control) = ["select", "textarea", "button"]
            .iter()
            .find(|c| tag.starts_with(&format!("<{c}")))
        {
            let close = format!("</{control}>");
            rest = rest.find(&close).map_or("", |at| &rest[at + close.len()..]);
        }
        let block = ["li", "p", "div", "label", "header", "form"]
            .iter()
            .any(|b| tag.starts_with(&format!("<{b}")) || tag.starts_with(&format!("</{b}")));
        if block {
            flush(&mut current);
        }
    }
    flush(&mut current);
    out
}

/// The page's HTML escapes, undone.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tab_reads_as_lines_without_the_forms_controls() {
        let page = "<body data-x=\"1\"><header><p class=\"who\">Лид · Мария</p></header>\
                    <form><label>Канал <select name=\"channel\"><option>1</option></select></label>\
                    <textarea name=\"text\"></textarea></form><ol><li class=\"msg\"><div>12:00 · Клиент</div>\
                    <div class=\"text\">&lt;b&gt; цена?</div></li></ol><script>var a=1</script></body>";
        assert_eq!(
            super::tab_text(page),
            ["Лид · Мария", "Канал", "12:00 · Клиент", "<b> цена?"]
        );
    }
}
