//! `demo`: the real pipeline against both simulators, then what the portal holds.

use crate::app::{build, Daemon, SpawnOptions};
use crate::config::Secret;
use crate::sim::bitrix24::PortalSim;
use crate::sim::chat2desk::Chat2DeskSim;
use crate::sim::scenario;
use serde_json::Value;

/// Seeds the simulators, polls, syncs, and prints the portal's entities and comments.
pub async fn demo() -> anyhow::Result<()> {
    let c2d = Chat2DeskSim::start().await?;
    let portal = PortalSim::start().await?;
    let dir = tempfile_dir()?;
    let s = scenario::seed(&c2d, &portal);
    let mut config = scenario::config(&c2d, &portal, &s, &dir.join("state.db"));
    config.bizproc.secret = Secret::new(DEMO_SECRET);
    let lines = super::demo_lines::prepare(&c2d, &portal, &mut config, s.user_maria)?;
    super::demo_card::prepare(&mut config);
    let rules = super::demo_rules::prepare(&c2d, &mut config, s.channel);
    println!(
        "Chat2Desk simulator: {}   portal simulator: {}",
        c2d.url(),
        portal.base_url()
    );
    println!("State database: {:?}\n", config.database.location());

    // The pipeline stepped by hand first, so each step's numbers can be printed.
    let daemon = build(config.clone()).await?;
    // The daemon is running before the conversations happen, as in real life.
    daemon.poller.poll_once().await?;
    let closed = scenario::converse(&c2d, &s);
    println!("Closed requests in Chat2Desk: {closed:?}");
    let report = daemon.poller.poll_once().await?;
    println!(
        "Poll: {} messages read, {} requests queued, {} Chat2Desk API calls",
        report.scanned, report.enqueued, report.api_calls
    );
    daemon.worker.run_until_idle().await;
    let counts = daemon.services().store.counts().await?;
    println!(
        "Queue: {} done, {} pending, {} dead; portal HTTP requests: {}\n",
        counts.done,
        counts.pending,
        counts.dead,
        portal.http_requests()
    );
    print_portal(&portal);
    drop(daemon);
    // Then the daemon as `run` starts it: its server, worker, poller and reader of replies.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = Daemon::spawn(config, SpawnOptions::default(), shutdown).await?;
    let addr = running.webhook_addr();
    let url = format!(
        "http://{}",
        addr.ok_or_else(|| anyhow::anyhow!("the demo's listener is off"))?
    );
    bizproc(&url, &c2d, &portal, &s).await?;
    super::demo_lines::run(&running, &c2d, &portal, &lines, &url).await?;
    super::demo_card::show(&portal, &s).await?;
    let store = &running.services().store;
    super::demo_rules::run(&rules, &c2d, &portal, &running.daemon().poller, store).await?;
    running.stop().await;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// The `[bizproc] secret` of the demo.
const DEMO_SECRET: &str = "demo-bizproc-secret-0123";

/// The business-process action: a send to a known client, then a refused "write first"
/// with its comment and notification, with the timings of each.
async fn bizproc(
    url: &str,
    c2d: &Chat2DeskSim,
    portal: &PortalSim,
    s: &scenario::Scenario,
) -> anyhow::Result<()> {
    println!("\n════ Бизнес-процесс «Написать сообщение на номер» ════");
    let lead = format!("LEAD_{}", s.lead_existing);
    let doc = ["crm", "CCrmDocumentLead", lead.as_str()];
    let channel = s.channel.to_string();
    let text = "Никита, добрый день! Высылаем планировку, ждём вас на просмотр.";
    let files = ["https://files.example.com/c2d/planirovka-1k.jpg"];
    let (returned, timings) = workflow(
        portal,
        c2d,
        url,
        &doc,
        &channel,
        "+7 (960) 794-04-01",
        text,
        &files,
    )
    .await?;
    println!(
        "POST /bizproc/send лида #{} на +79607940401, канал {channel}",
        s.lead_existing
    );
    if let Some(post) = c2d.message_posts().last() {
        println!("Chat2Desk POST /messages: {post}");
    }
    println!("bizproc.event.send RETURN_VALUES: {returned}");
    println!("{timings}");

    c2d.set_write_first(false);
    let comments = portal.comments().len();
    let notes = portal.notifications().len();
    let (returned, timings) = workflow(
        portal,
        c2d,
        url,
        &doc,
        &channel,
        "+7 999 555-12-34",
        "Здравствуйте! Вы оставляли заявку на сайте.",
        &[],
    )
    .await?;
    println!("\nPOST /bizproc/send на +79995551234 (клиент не писал, «Писать первым» выключено)");
    println!("bizproc.event.send RETURN_VALUES: {returned}");
    println!("{timings}");
    for c in &portal.comments()[comments..] {
        println!(
            "\n──── Комментарий #{} в таймлайне {} #{} ────\n{}",
            c.id, c.entity_type, c.entity_id, c.text
        );
    }
    for (user, message) in &portal.notifications()[notes..] {
        println!("\n──── Уведомление пользователю {user} ────\n{message}");
    }
    Ok(())
}

/// Runs one workflow through the daemon; its RETURN_VALUES and the timings.
#[allow(clippy::too_many_arguments)]
async fn workflow(
    portal: &PortalSim,
    c2d: &Chat2DeskSim,
    url: &str,
    doc: &[&str],
    channel: &str,
    phone: &str,
    text: &str,
    files: &[&str],
) -> anyhow::Result<(Value, String)> {
    let posts = c2d.message_posts().len();
    let started = std::time::Instant::now();
    let (wf, status, body) = portal
        .run_workflow(
            url,
            DEMO_SECRET,
            doc,
            &[("channel_id", channel), ("phone", phone), ("text", text)],
            files,
        )
        .await;
    let accepted = started.elapsed();
    if status != 202 {
        anyhow::bail!("the daemon answered {status}: {body}");
    }
    let mut message = None;
    loop {
        if message.is_none() && c2d.message_posts().len() > posts {
            message = Some(started.elapsed());
        }
        let done = portal
            .workflows()
            .into_iter()
            .find(|w| w.event_token == wf.event_token)
            .and_then(|w| w.completed);
        if let Some(done) = done {
            let ms = |d: std::time::Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
            let timings = format!(
                "Время: 202 через {}, POST /messages через {}, bizproc.event.send через {}",
                ms(accepted),
                message.map_or("—".into(), ms),
                ms(started.elapsed())
            );
            return Ok((done["RETURN_VALUES"].clone(), timings));
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            anyhow::bail!("the workflow was not completed within 30 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

fn print_portal(portal: &PortalSim) {
    println!("════ The portal now holds ════");
    for (kind, rows) in [
        ("Лид", portal.leads()),
        ("Контакт", portal.contacts()),
        ("Сделка", portal.deals()),
    ] {
        for row in rows {
            println!(
                "{kind} #{}: «{}» статус {} ответственный {} телефон {}",
                field(&row, "ID"),
                field(&row, "TITLE").replace('—', "-"),
                field(
                    &row,
                    if kind == "Сделка" {
                        "STAGE_ID"
                    } else {
                        "STATUS_ID"
                    }
                ),
                field(&row, "ASSIGNED_BY_ID"),
                phone(&row)
            );
        }
    }
    for c in portal.comments() {
        println!(
            "\n──── Комментарий #{} в таймлайне {} #{} ────",
            c.id, c.entity_type, c.entity_id
        );
        println!("{}", c.text);
    }
    for (user, message) in portal.notifications() {
        println!("\n──── Уведомление пользователю {user} ────\n{message}");
    }
}

fn field(row: &Value, name: &str) -> String {
    match row.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "—".into(),
        Some(v) => v.to_string(),
    }
}

fn phone(row: &Value) -> String {
    row.get("PHONE")
        .and_then(Value::as_array)
        .map(|phones| {
            phones
                .iter()
                .filter_map(|p| p.get("VALUE").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "—".into())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("chat2desk-b24-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
