//! `status`: what the queue holds, how the last poll went, and the nodes on the database, as
//! text or as JSON (`--json`), with an exit code for monitoring: 0 healthy, 1 degraded (dead
//! jobs or a stale poll), 2 the state cannot be read. It opens the database read-only and
//! never creates it.

mod report;

use crate::app::rules;
use crate::config::Config;
use crate::engine::{Live, Registry};
use chrono::{DateTime, Utc};
use report::{Report, FORMAT_VERSION};

/// Exit code: healthy.
pub const STATUS_HEALTHY: u8 = 0;
/// Exit code: dead jobs or a stale poll.
pub const STATUS_DEGRADED: u8 = 1;
/// Exit code: the configuration or the state database cannot be read.
pub const STATUS_UNREADABLE: u8 = 2;

/// Prints the status of the state database of `config` (text, or JSON with `json`) and
/// returns the exit code.
pub async fn status(config: &Config, json: bool) -> u8 {
    let read = async {
        let store = crate::app::open_existing_store(config)
            .await
            .map_err(|e| with_user_note(e, config))?;
        let report = Report::read(&store, config).await;
        store.close().await;
        anyhow::Ok(report?)
    };
    let report = match read.await {
        Ok(report) => report,
        Err(e) => return status_unreadable(&e, json),
    };
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => return status_unreadable(&e.into(), json),
        }
    } else {
        print_text(&report, &crate::app::registry(&Live::fixed(rules(config))));
    }
    if report.problems.is_empty() {
        STATUS_HEALTHY
    } else {
        STATUS_DEGRADED
    }
}

/// Reports that the state cannot be read (`error` says why and names the key) and returns
/// [`STATUS_UNREADABLE`]; with `json` a `{"version", "health": "unreadable", "error"}` object
/// goes to stdout as well, so that a script always has JSON to parse.
pub fn status_unreadable(error: &anyhow::Error, json: bool) -> u8 {
    let text = format!("cannot read the state: {error:#}");
    eprintln!("error: {text}");
    if json {
        let object = serde_json::json!({
            "version": FORMAT_VERSION,
            "health": "unreadable",
            "error": text,
        });
        println!("{object:#}");
    }
    STATUS_UNREADABLE
}

/// A SQLite file that exists but cannot be opened is most often one this user may not read.
fn with_user_note(e: anyhow::Error, config: &Config) -> anyhow::Error {
    if config.database.url.is_some() || !config.database.path.exists() {
        return e;
    }
    anyhow::anyhow!(
        "{e:#}; read-only commands need read access to it: run them as root or as the service \
         user (sudo -u chat2desk-b24 chat2desk-b24 status)"
    )
}

fn print_text(r: &Report, kinds: &Registry) {
    println!("Database: {}", r.database);
    let c = &r.queue.counts;
    println!(
        "Queue: {} pending, {} running, {} done, {} dead",
        c.pending, c.running, c.done, c.dead
    );
    match r.last_poll.at {
        Some(t) => println!("Last poll: {} ({})", when(t), ago(t)),
        None => println!("Last poll: never"),
    }
    if let Some(err) = &r.last_poll.error {
        println!("Last poll error: {err}");
    }
    let q = &r.quota;
    let reported = match (q.reported_calls, q.reported_at) {
        (Some(calls), Some(at)) => format!(
            "{calls} by Chat2Desk's count (companies/api_info, read {}), ",
            ago(at)
        ),
        _ => String::new(),
    };
    println!(
        "Chat2Desk calls this month ({}): {reported}{} made by chat2desk-b24; projected for the month: {}",
        q.month, q.calls, q.projected_calls
    );
    match r.queue.oldest_pending {
        Some(t) => println!("Oldest pending: since {} ({})", when(t), ago(t)),
        None => println!("Oldest pending: none"),
    }
    if !r.recent_errors.is_empty() {
        println!("Last errors:");
        for job in &r.recent_errors {
            println!(
                "  {} {} ({}, {} failed attempt(s), {}): {}",
                kinds.words(&job.kind).unwrap_or("request"),
                job.key,
                job.state,
                job.attempts,
                when(job.updated_at),
                job.reason
            );
        }
        if c.dead > 0 {
            println!("Fix the cause, then `chat2desk-b24 retry --dead`.");
        }
    }
    if !r.skipped.is_empty() {
        println!("Skipped by [crm.filter] (most recent first):");
        for s in &r.skipped {
            println!("  request {} ({}): {}", s.request_id, when(s.at), s.rule);
        }
    }
    print_app(r);
    print_lines_off(r);
    print_nodes(r);
    match r.problems.as_slice() {
        [] => println!("Health: healthy"),
        problems => println!("Health: degraded ({})", problems.join("; ")),
    }
}

/// Open Lines disconnected by a portal administrator (their routing is stopped).
fn print_lines_off(r: &Report) {
    for (line, d) in &r.disconnected_lines {
        println!(
            "Open Line {line}: disconnected on the portal {} ({}); its clients' messages stay in Chat2Desk: `chat2desk-b24 openlines --reconnect {line}`, then reload",
            d.at.format("%Y-%m-%d %H:%M:%S UTC"),
            d.event
        );
    }
}

/// The local application's grant (Open Lines), when there is one.
fn print_app(r: &Report) {
    let Some(g) = &r.app else {
        return;
    };
    match (g.revoked_at, &g.revoked_reason) {
        (Some(at), why) => println!(
            "Local application: REVOKED {} ({}): a portal administrator must open <daemon_url>/bitrix24/connect again",
            when(at),
            why.as_deref().unwrap_or_default()
        ),
        _ => println!(
            "Local application: connected by {} (user {}), access token until {}",
            g.user_name,
            g.user_id,
            when(g.expires_at)
        ),
    }
}

/// One line per node: name, leader or not, last heartbeat, start, version.
fn print_nodes(r: &Report) {
    if r.nodes.is_empty() {
        println!("Nodes: none has started on this database yet");
        return;
    }
    match &r.leader {
        Some(name) => println!("Leader: {name} (runs the poller)"),
        None => println!("Leader: none (no node holds the leader lease)"),
    }
    println!("Nodes:");
    for n in &r.nodes {
        let role = match n.leads_until {
            Some(until) => format!("leader until {}", until.format("%H:%M:%S UTC")),
            None => "follower".to_string(),
        };
        println!(
            "  {:<20} {role:<24} last heartbeat {} ({}), started {}, version {}",
            n.name,
            when(n.heartbeat_at),
            ago(n.heartbeat_at),
            when(n.started_at),
            n.version
        );
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn ago(t: DateTime<Utc>) -> String {
    let secs = (Utc::now() - t).num_seconds().max(0);
    match secs {
        0..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}
