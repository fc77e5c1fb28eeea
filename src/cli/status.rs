//! `status`: what the queue holds, how the last poll went, and the nodes on the database.

use crate::intake::{LAST_POLL_ERROR_KEY, LAST_POLL_KEY};
use crate::metrics::MonthUsage;
use crate::store::Store;
use chrono::{DateTime, Utc};

/// Prints queue counts, last poll, oldest pending job, the last errors and the nodes.
pub async fn status(store: &Store) -> anyhow::Result<()> {
    println!("Database: {}", store.name());
    let c = store.counts().await?;
    println!(
        "Queue: {} pending, {} running, {} done, {} dead",
        c.pending, c.running, c.done, c.dead
    );
    let last_poll = store.meta(LAST_POLL_KEY).await?;
    match last_poll.as_deref().and_then(parse) {
        Some(t) => println!(
            "Last poll: {} ({})",
            t.format("%Y-%m-%d %H:%M:%S UTC"),
            ago(t)
        ),
        None => println!("Last poll: never"),
    }
    if let Some(err) = store
        .meta(LAST_POLL_ERROR_KEY)
        .await?
        .filter(|e| !e.is_empty())
    {
        println!("Last poll error: {err}");
    }
    chat2desk_usage(store).await?;
    match store.oldest_pending().await? {
        Some(t) => println!(
            "Oldest pending: since {} ({})",
            t.format("%Y-%m-%d %H:%M:%S UTC"),
            ago(t)
        ),
        None => println!("Oldest pending: none"),
    }
    let errors = store.recent_errors(10).await?;
    if !errors.is_empty() {
        println!("Last errors:");
        for job in errors {
            let what = match job.kind {
                crate::store::JobKind::Transcript => "request",
                crate::store::JobKind::Send => "send",
                crate::store::JobKind::LineIn => "line message (client → line)",
                crate::store::JobKind::LineOut => "line message (operator → client)",
                crate::store::JobKind::LineClose => "finished Open Lines session",
            };
            println!(
                "  {what} {} ({}, {} failed attempt(s), {}): {}",
                job.key,
                job.state,
                job.attempts,
                job.updated_at.format("%Y-%m-%d %H:%M:%S UTC"),
                job.last_error.unwrap_or_default()
            );
        }
        if c.dead > 0 {
            println!("Fix the cause, then `chat2desk-b24 retry --dead`.");
        }
    }
    app(store).await?;
    lines_off(store).await?;
    nodes(store).await
}

/// Open Lines disconnected by a portal administrator (their routing is stopped).
async fn lines_off(store: &Store) -> anyhow::Result<()> {
    for (line, d) in crate::openlines::disconnected(store).await? {
        println!(
            "Open Line {line}: disconnected on the portal {} ({}); its clients' messages stay in Chat2Desk: `chat2desk-b24 openlines --reconnect {line}`, then reload",
            d.at.format("%Y-%m-%d %H:%M:%S UTC"),
            d.event
        );
    }
    Ok(())
}

/// The local application's grant (Open Lines), when there is one.
async fn app(store: &Store) -> anyhow::Result<()> {
    let Some(g) = store.grant().await? else {
        return Ok(());
    };
    match g.revoked {
        Some((at, why)) => println!(
            "Local application: REVOKED {} ({why}): a portal administrator must open <daemon_url>/bitrix24/connect again",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => println!(
            "Local application: connected by {} (user {}), access token until {}",
            g.user_name,
            g.user_id,
            g.expires_at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
    }
    Ok(())
}

/// This month's Chat2Desk API calls (they are billed) and the month's projection.
async fn chat2desk_usage(store: &Store) -> anyhow::Result<()> {
    let usage = MonthUsage::read(store, Utc::now()).await?;
    let reported = match usage.reported {
        Some((calls, at)) => format!(
            "{calls} by Chat2Desk's count (companies/api_info, read {}), ",
            ago(at)
        ),
        None => String::new(),
    };
    println!(
        "Chat2Desk calls this month ({}): {reported}{} made by chat2desk-b24; projected for the month: {}",
        usage.month, usage.ours, usage.projection
    );
    Ok(())
}

/// One line per node: name, leader or not, last heartbeat, start, version.
async fn nodes(store: &Store) -> anyhow::Result<()> {
    let nodes = store.nodes().await?;
    if nodes.is_empty() {
        println!("Nodes: none has started on this database yet");
        return Ok(());
    }
    let leader = nodes.iter().find(|n| n.leads_until.is_some());
    match leader {
        Some(n) => println!("Leader: {} (runs the poller)", n.name),
        None => println!("Leader: none (no node holds the leader lease)"),
    }
    println!("Nodes:");
    for n in &nodes {
        let role = match n.leads_until {
            Some(until) => format!("leader until {}", until.format("%H:%M:%S UTC")),
            None => "follower".to_string(),
        };
        println!(
            "  {:<20} {role:<24} last heartbeat {} ({}), started {}, version {}",
            n.name,
            n.heartbeat_at.format("%Y-%m-%d %H:%M:%S UTC"),
            ago(n.heartbeat_at),
            n.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            n.version
        );
    }
    Ok(())
}

fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn ago(t: DateTime<Utc>) -> String {
    let secs = (Utc::now() - t).num_seconds().max(0);
    match secs {
        0..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}
