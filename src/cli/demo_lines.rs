//! The Open Lines part of `demo`: a local application on the simulated portal, connected
//! through the browser flow, and a client's messages on a Telegram channel arriving in
//! line 1 through the real webhook, queue and worker.

use crate::config::{AppConfig, Config, LineConfig, Secret};
use crate::sim::bitrix24::PortalSim;
use crate::sim::chat2desk::Chat2DeskSim;
use std::time::{Duration, Instant};

/// The Open Line of the demo.
const LINE: i64 = 1;
/// The webhook secret of the demo.
const HOOK_SECRET: &str = "demo-webhook-secret-0123456789";

/// What [`prepare`] set up.
pub(super) struct DemoLines {
    /// The channel bridged into [`LINE`].
    channel: i64,
    /// The client writing on it.
    client: i64,
}

/// Adds a Telegram channel and its client, registers the local application on the portal
/// with its handler on `listen`, and writes `[bitrix24.app]` and `[openlines]` into `config`.
pub(super) fn prepare(
    c2d: &Chat2DeskSim,
    portal: &PortalSim,
    config: &mut Config,
) -> anyhow::Result<DemoLines> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let daemon_url = format!("http://127.0.0.1:{port}");
    let (client_id, secret) = portal.register_app(
        &format!("{daemon_url}/bitrix24/app"),
        &["imopenlines", "imconnector", "im", "crm", "user"],
    );
    let channel = c2d.add_channel("Telegram-бот агентства", "", &["telegram"]);
    let client = c2d.add_client("Ольга", None, "telegram", channel);
    config.server.listen = format!("127.0.0.1:{port}");
    config.server.webhook_secret = Secret::new(HOOK_SECRET);
    config.bitrix24.app = Some(AppConfig {
        client_id,
        client_secret: Secret::new(secret),
        oauth_url: portal.oauth_url(),
        daemon_url,
    });
    config.openlines.lines = vec![LineConfig {
        line: LINE,
        channels: vec![channel],
    }];
    Ok(DemoLines { channel, client })
}

/// Connects the application as an administrator's browser does, registers the Chat2Desk
/// webhook, and shows the client's messages arriving in the line.
pub(super) async fn run(
    daemon: &crate::service::Daemon,
    c2d: &Chat2DeskSim,
    portal: &PortalSim,
    lines: &DemoLines,
    url: &str,
) -> anyhow::Result<()> {
    println!("\n════ Открытые линии ════");
    let started = Instant::now();
    let page = reqwest::get(format!("{url}/bitrix24/connect")).await?;
    let status = page.status();
    let text = page.text().await?;
    let said = text
        .split("<p class=\"ok\">")
        .nth(1)
        .and_then(|t| t.split("</p>").next())
        .unwrap_or("(нет ответа)");
    println!(
        "GET /bitrix24/connect → портал → /bitrix24/app: HTTP {status}, «{said}» за {:.0} мс",
        started.elapsed().as_secs_f64() * 1000.0
    );
    for (id, connector) in portal.connectors() {
        println!(
            "Коннектор «{id}» зарегистрирован, страница настроек {}",
            connector["PLACEMENT_HANDLER"]
        );
    }
    let active: Vec<String> = portal
        .active_lines(&daemon.config.openlines.connector)
        .keys()
        .map(i64::to_string)
        .collect();
    println!("Активен на линиях: {}", active.join(", "));
    super::webhook_set(&daemon.config, &daemon.services().chat2desk, url).await?;
    let before = portal.line_messages().len();
    let started = Instant::now();
    c2d.client_says(
        lines.client,
        "Здравствуйте! Можно посмотреть квартиру в субботу?",
    );
    c2d.client_says(lines.client, "Вот план, который нам прислали");
    c2d.send_file(
        lines.client,
        None,
        "file",
        "plan.pdf",
        "https://files.example.com/c2d/plan.pdf",
    );
    while portal.line_messages().len() < before + 3 {
        if started.elapsed() > Duration::from_secs(20) {
            anyhow::bail!("the client's messages did not reach the line within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "Клиент Chat2Desk {} написал в канал {} — в линии {LINE} через {:.0} мс (из них 400 мс окно порядка):",
        lines.client,
        lines.channel,
        started.elapsed().as_secs_f64() * 1000.0
    );
    for m in &portal.line_messages()[before..] {
        let files = if m.files.is_empty() {
            String::new()
        } else {
            format!(" файлы: {}", m.files.join(", "))
        };
        println!(
            "  imconnector.send.messages линия {} чат {} сообщение {}: «{}»{files}",
            m.line, m.chat_id, m.message_id, m.text
        );
    }
    Ok(())
}
