//! `sim client|message|close|timeline|app|browse`: drive the simulators a running
//! `chat2desk-b24 sim` serves, over their `/_sim/` control routes (what happens in a
//! messenger or a portal's admin pages), so a newcomer never writes those calls by hand. A
//! closed request reaches the daemon as in Chat2Desk: the simulator posts the
//! `close_request` webhook to the hook `webhook set` registered, and the poll lists it.

use crate::sim::browser;
use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The scopes `sim app` gives the local application unless told otherwise (README, "Open
/// Lines").
const APP_SCOPES: &str = "imopenlines,imconnector,im,crm,user";

/// `sim` subcommands.
#[derive(Debug, Subcommand)]
pub enum SimAction {
    /// Add a Chat2Desk client (someone about to write in); prints its id.
    Client {
        /// The client's phone, e.g. +79161112233.
        #[arg(long)]
        phone: String,
        /// The client's name.
        #[arg(long, default_value = "")]
        name: String,
        /// Messenger: whatsapp, viber, telegram…
        #[arg(long, default_value = "whatsapp")]
        transport: String,
        /// Chat2Desk channel id (default: the demo company's channel).
        #[arg(long)]
        channel: Option<i64>,
    },
    /// A message in the client's chat, from the client or (with --operator) from that
    /// operator; the first one opens a request. Prints the message id.
    Message {
        /// Client id (`sim client` printed it).
        #[arg(long)]
        client: i64,
        /// Message text.
        #[arg(long)]
        text: String,
        /// Chat2Desk operator id answering (the demo company's are listed when `sim` starts).
        #[arg(long)]
        operator: Option<i64>,
    },
    /// Close the client's open request as an operator does: Chat2Desk posts the
    /// close_request and close_dialog webhooks to the registered hook. Prints the request id.
    Close {
        /// Client id.
        #[arg(long)]
        client: i64,
    },
    /// The portal's timeline comments (the transcripts), oldest first.
    Timeline {
        /// Wait up to this many seconds for the first comment; exit 1 if none arrives.
        #[arg(long, value_name = "SECS", default_value_t = 0)]
        wait: u64,
    },
    /// Register a local application on the portal as its administrator does («uses API
    /// only»); prints the [bitrix24.app] section for the config.
    App {
        /// The handler path (OAuth redirect_uri): <daemon_url>/bitrix24/app.
        #[arg(long)]
        handler: String,
        /// Scopes, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = APP_SCOPES)]
        scopes: Vec<String>,
    },
    /// Open URL as the portal administrator's browser (logged in on the portal; keeps
    /// cookies, follows redirects), e.g. <daemon_url>/bitrix24/connect; prints the final
    /// page as text, exit 1 when it is an error page.
    Browse {
        /// The address to open.
        url: String,
    },
}

/// Runs one `sim` subcommand against the simulators on `chat2desk` and `portal`; false when
/// what it waited for or opened failed (exit 1).
pub async fn sim_action(
    action: SimAction,
    chat2desk: SocketAddr,
    portal: SocketAddr,
) -> anyhow::Result<bool> {
    let c2d = Control {
        addr: chat2desk,
        flag: "--chat2desk",
    };
    let portal = Control {
        addr: portal,
        flag: "--portal",
    };
    match action {
        SimAction::Client {
            phone,
            name,
            transport,
            channel,
        } => {
            let mut body = json!({"name": name, "phone": phone, "transport": transport});
            if let Some(channel) = channel {
                body["channel_id"] = json!(channel);
            }
            println!("{}", c2d.post("/_sim/client", body).await?["id"]);
        }
        SimAction::Message {
            client,
            text,
            operator,
        } => {
            let mut body = json!({"client_id": client, "text": text});
            if let Some(operator) = operator {
                body["operator_id"] = json!(operator);
            }
            println!("{}", c2d.post("/_sim/message", body).await?["id"]);
        }
        SimAction::Close { client } => {
            let answer = c2d
                .post("/_sim/scenario/close", json!({"client_id": client}))
                .await?;
            match answer["request_id"].as_i64() {
                Some(id) if id > 0 => println!("{id}"),
                _ => bail!(
                    "client {client} has no request to close: a request opens with the client's \
                     first message (`chat2desk-b24 sim message --client {client} --text …`)"
                ),
            }
        }
        SimAction::Timeline { wait } => return timeline(&portal, wait).await,
        SimAction::App { handler, scopes } => {
            let app = portal
                .post("/_sim/app", json!({"handler": handler, "scopes": scopes}))
                .await?;
            let daemon_url = handler
                .trim_end_matches('/')
                .trim_end_matches("/bitrix24/app");
            println!(
                "[bitrix24.app]\nclient_id = {}\nclient_secret = {}\noauth_url = {}\n\
                 daemon_url = \"{daemon_url}\"",
                app["client_id"], app["client_secret"], app["oauth_url"]
            );
        }
        SimAction::Browse { url } => {
            let (status, page) = browser::open(&url)
                .await
                .with_context(|| format!("opening {url} (is the daemon listening there?)"))?;
            println!("{status}\n{}", page_text(&page));
            return Ok(status < 400);
        }
    }
    Ok(true)
}

/// Prints the portal's comments, waiting up to `wait` seconds for the first.
async fn timeline(portal: &Control, wait: u64) -> anyhow::Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(wait);
    let comments = loop {
        let state = portal.get("/_sim/state").await?;
        let comments = state["comments"].as_array().cloned().unwrap_or_default();
        if !comments.is_empty() || Instant::now() >= deadline {
            break comments;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if comments.is_empty() {
        println!("No timeline comments on the portal yet.");
        if wait > 0 {
            eprintln!(
                "error: no transcript arrived within {wait} s: is the daemon running, and did \
                 `chat2desk-b24 check` pass? `chat2desk-b24 status` shows its queue"
            );
        }
        return Ok(wait == 0);
    }
    for c in comments {
        let entity = c["entity_type"].as_str().unwrap_or("?");
        println!("{entity} {} · comment {}", c["entity_id"], c["id"]);
        for line in c["text"].as_str().unwrap_or("").lines() {
            println!("  {line}");
        }
    }
    Ok(true)
}

/// One simulator's control routes.
struct Control {
    addr: SocketAddr,
    /// The `sim` option naming its address, for error messages.
    flag: &'static str,
}

impl Control {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let url = format!("http://{}{path}", self.addr);
        self.answer(
            &url,
            reqwest::Client::new().post(&url).json(&body).send().await,
        )
        .await
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("http://{}{path}", self.addr);
        self.answer(&url, reqwest::get(&url).await).await
    }

    async fn answer(
        &self,
        url: &str,
        sent: reqwest::Result<reqwest::Response>,
    ) -> anyhow::Result<Value> {
        let response = sent.with_context(|| {
            format!(
                "{url}: no simulator answers on {}; start `chat2desk-b24 sim` (or give its \
                 address with {})",
                self.addr, self.flag
            )
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{url} answered {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{url} answered no JSON: {text}"))
    }
}

/// The visible text of one of the daemon's small pages: the body, one block per line.
fn page_text(html: &str) -> String {
    let body = html.split_once("<body>").map_or(html, |(_, b)| b);
    let mut text = String::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start + 1..start + end];
        if ["/p", "/h1", "/tr", "br", "/li", "/div"].contains(&tag) {
            text.push('\n');
        } else if ["/td", "/th"].contains(&tag) {
            text.push_str("  ");
        }
        rest = &rest[start + end + 1..];
    }
    text.push_str(rest);
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::page_text;

    #[test]
    fn a_page_reads_as_lines_of_text() {
        let html = "<html><head><title>T</title></head><body><h1>Chat2Desk &amp; B24</h1>\
                    <p class=\"ok\">Подключено</p><table><tr><th>Линия</th><th>Коннектор</th>\
                    </tr><tr><td>3</td><td>подключён</td></tr></table></body></html>";
        assert_eq!(
            page_text(html),
            "Chat2Desk & B24\nПодключено\nЛиния  Коннектор  \n3  подключён"
        );
    }
}
