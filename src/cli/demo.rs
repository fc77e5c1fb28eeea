//! `demo`: the real pipeline against both simulators, then what the portal holds.

use crate::service::build;
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
    let config = scenario::config(&c2d, &portal, &s, &dir.join("state.db"));
    println!(
        "Chat2Desk simulator: {}   portal simulator: {}",
        c2d.url(),
        portal.base_url()
    );
    println!("State database: {:?}\n", config.database.location());

    let daemon = build(config).await?;
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
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
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
