//! The Open Lines part of `demo`: a local application on the simulated portal, connected
//! through the browser flow, then a two-way exchange through the real webhook, queue and
//! worker: a client's messages on a Telegram channel arriving in line 1, an operator's
//! answer (with a file) fetched from the portal's offline events and sent to the client
//! through Chat2Desk, the client's answer to that, and the operator finishing the session,
//! which closes the Chat2Desk request and writes its transcript.

use crate::config::{Config, LineConfig, Secret};
use crate::sim::bitrix24::PortalSim;
use crate::sim::chat2desk::Chat2DeskSim;
use std::time::{Duration, Instant};

/// The Open Line of the demo.
const LINE: i64 = 1;
/// The webhook secret of the demo.
const HOOK_SECRET: &str = "demo-webhook-secret-0123456789";
/// How long the demo waits for a message to cross the bridge.
const PATIENCE: Duration = Duration::from_secs(20);

/// What [`prepare`] set up.
pub(super) struct DemoLines {
    /// The channel bridged into [`LINE`].
    channel: i64,
    /// The client writing on it.
    client: i64,
    /// The portal user answering in the line.
    operator: i64,
}

/// Adds a Telegram channel and its client, registers the local application on the portal
/// with its handler on `listen`, and writes `[bitrix24.app]`, `[openlines]` and
/// `[server] public_url` (for the operator's file) into `config`; `operator` answers.
pub(super) fn prepare(
    c2d: &Chat2DeskSim,
    portal: &PortalSim,
    config: &mut Config,
    operator: i64,
) -> anyhow::Result<DemoLines> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let daemon_url = format!("http://127.0.0.1:{port}");
    let app = portal.app_config(
        &daemon_url,
        &[
            "imopenlines",
            "imconnector",
            "im",
            "crm",
            "user",
            "placement",
        ],
    );
    let channel = c2d.add_channel("Telegram-бот агентства", "", &["telegram"]);
    let client = c2d.add_client("Ольга", None, "telegram", channel);
    config.server.listen = format!("127.0.0.1:{port}");
    config.server.webhook_secret = Secret::new(HOOK_SECRET);
    config.server.public_url = Some(format!("{daemon_url}/"));
    config.bitrix24.app = Some(app);
    config.openlines.lines = vec![LineConfig {
        line: LINE,
        channels: vec![channel],
    }];
    Ok(DemoLines {
        channel,
        client,
        operator,
    })
}

/// Connects the application as an administrator's browser does, registers the Chat2Desk
/// webhook, runs the reader of operators' replies (the demo's node leads) and shows a
/// two-way exchange.
pub(super) async fn run(
    daemon: &crate::app::Running,
    c2d: &Chat2DeskSim,
    portal: &PortalSim,
    lines: &DemoLines,
    url: &str,
) -> anyhow::Result<()> {
    println!("\n════ Открытые линии ════");
    connect(daemon, portal, url).await?;
    super::webhook_set(daemon.config(), &daemon.services().chat2desk, url).await?;
    // The daemon's node leads (it is the only one), so its reader of offline events runs.
    println!(
        "Ответы операторов читаются через event.offline.get раз в {} мс\n",
        daemon.config().openlines.events_poll_ms
    );

    println!(
        "──── Разговор: клиент Chat2Desk {} в канале {} ↔ линия {LINE} ────",
        lines.client, lines.channel
    );
    client_writes(portal, 2, || {
        c2d.client_says(
            lines.client,
            "Здравствуйте! Можно посмотреть квартиру в субботу?",
        );
        c2d.client_says(lines.client, "Вот план, который нам прислали");
    })
    .await?;
    client_writes(portal, 1, || {
        c2d.send_file(
            lines.client,
            None,
            "file",
            "plan.pdf",
            "https://files.example.com/c2d/plan.pdf",
        );
    })
    .await?;
    let scheme = portal.attach_file(
        "Схема проезда.pdf",
        "application/pdf",
        b"%PDF-1.4 demo scheme",
    );
    operator_answers(
        c2d,
        portal,
        lines,
        &daemon.config().openlines.connector,
        "[b]Мария Сидорова:[/b][br]Здравствуйте, Ольга! Суббота, 12:00 подойдёт? [i]Схема проезда во вложении.[/i]",
        &[("Схема проезда.pdf".into(), scheme)],
    )
    .await?;
    client_writes(portal, 1, || {
        c2d.client_says(lines.client, "Да, в 12 будем. Спасибо!");
    })
    .await?;
    session_finishes(c2d, portal, lines, &daemon.config().openlines.connector).await?;
    Ok(())
}

/// The operator finishes the line's session: shown as the request closed in Chat2Desk and
/// its transcript on the portal.
async fn session_finishes(
    c2d: &Chat2DeskSim,
    portal: &PortalSim,
    lines: &DemoLines,
    connector: &str,
) -> anyhow::Result<()> {
    let chat = crate::flows::openlines::chat_key(lines.client);
    let request = c2d
        .open_request_id(lines.client)
        .ok_or_else(|| anyhow::anyhow!("the demo's client has no open request"))?;
    let started = Instant::now();
    let session = portal
        .finish_session(connector, LINE, &chat)
        .ok_or_else(|| anyhow::anyhow!("the demo's chat has no session in line {LINE}"))?;
    println!("Оператор завершил сессию {session} в чате {chat}");
    while c2d.open_request_id(lines.client).is_some() {
        if started.elapsed() > PATIENCE {
            anyhow::bail!("request {request} was not closed within 20 s of the session's finish");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "    → обращение {request} закрыто в Chat2Desk через {:.0} мс (OnImConnectorDialogFinish из event.offline.get, PUT /requests/close)",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let comment = loop {
        let found = portal.comments().into_iter().find(|c| {
            crate::flows::transcript::text::find_marker(&c.text)
                .is_some_and(|m| m.request_id == request)
        });
        if let Some(c) = found {
            break c;
        }
        if started.elapsed() > PATIENCE {
            anyhow::bail!("the transcript of request {request} did not come within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    println!(
        "    → стенограмма в таймлайне: {} {} через {:.0} мс после завершения сессии",
        comment.entity_type,
        comment.entity_id,
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

/// The administrator's browser opens `/bitrix24/connect` and follows the redirects; what
/// the page said and what the portal now has.
async fn connect(
    daemon: &crate::app::Running,
    portal: &PortalSim,
    url: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let (code, text) = crate::sim::browser::open(&format!("{url}/bitrix24/connect")).await?;
    let status = reqwest::StatusCode::from_u16(code)?;
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
        .active_lines(&daemon.config().openlines.connector)
        .keys()
        .map(i64::to_string)
        .collect();
    println!("Активен на линиях: {}", active.join(", "));
    Ok(())
}

/// The client writes (`write` adds `n` messages in Chat2Desk); each is shown as the line
/// got it.
async fn client_writes(portal: &PortalSim, n: usize, write: impl FnOnce()) -> anyhow::Result<()> {
    let before = portal.line_messages().len();
    let started = Instant::now();
    write();
    while portal.line_messages().len() < before + n {
        if started.elapsed() > PATIENCE {
            anyhow::bail!("the client's messages did not reach the line within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed().as_secs_f64() * 1000.0;
    for m in &portal.line_messages()[before..] {
        let said = if m.files.is_empty() {
            format!("«{}»", m.text)
        } else {
            format!("файл {}", m.files.join(", "))
        };
        println!("Клиент Ольга (Chat2Desk): {said}");
        println!(
            "    → в линии {} через {took:.0} мс (imconnector.send.messages, чат {}, сообщение {}; из них 400 мс окно порядка)",
            m.line, m.chat_id, m.message_id
        );
    }
    Ok(())
}

/// An operator answers in the line's chat with `files`; shown as the portal raised it, as
/// Chat2Desk got it, and the delivery reported back.
async fn operator_answers(
    c2d: &Chat2DeskSim,
    portal: &PortalSim,
    lines: &DemoLines,
    connector: &str,
    text: &str,
    files: &[(String, String)],
) -> anyhow::Result<()> {
    let posts = c2d.message_posts().len();
    let delivered = portal.delivered().len();
    let started = Instant::now();
    let chat = format!("c2d-{}", lines.client);
    let im = portal.operator_reply(connector, LINE, &chat, lines.operator, text, files);
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    println!(
        "Оператор линии (пользователь портала {}) в чате {chat}: «{text}» + файл {}",
        lines.operator,
        names.join(", ")
    );
    let post = loop {
        if let Some(post) = c2d.message_posts().get(posts) {
            break post.clone();
        }
        if started.elapsed() > PATIENCE {
            anyhow::bail!("the operator's reply {im} did not reach Chat2Desk within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let sent = post["text"].as_str().unwrap_or_default().to_string();
    println!(
        "    → Chat2Desk через {took:.0} мс (OnImConnectorMessageAdd из event.offline.get, POST /messages клиенту {} в канал {}, {}):",
        post["client_id"],
        post["channel_id"],
        post["transport"].as_str().unwrap_or("—")
    );
    for line in sent.lines() {
        println!("      «{line}»");
    }
    while portal.delivered().len() <= delivered || !portal.offline_rows().is_empty() {
        if started.elapsed() > PATIENCE {
            anyhow::bail!("the reply's delivery was not reported within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "    → доставлено: imconnector.send.status.delivery ({}), событие снято event.offline.clear, через {:.0} мс",
        portal.delivered()[delivered],
        started.elapsed().as_secs_f64() * 1000.0
    );
    if let Some(link) = sent.lines().find(|l| l.contains("/files/")) {
        let got = reqwest::get(link).await?;
        let status = got.status();
        let kind = got
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("—")
            .to_string();
        let size = got.bytes().await?.len();
        println!("    → ссылка на файл открывается: HTTP {status}, {kind}, {size} байт");
    }
    Ok(())
}
