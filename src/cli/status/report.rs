//! What `status` reports, read once from the state database for both outputs (text and
//! `--json`), and the health verdict behind its exit code. The JSON shape is versioned
//! ([`FORMAT_VERSION`]) and documented in docs/status-json.md.

use crate::config::Config;
use crate::engine::poll_max_age;
use crate::metrics::MonthUsage;
use crate::store::{Job, QueueCounts, Store, StoreError};
use crate::store::{LAST_POLL_ERROR_KEY, LAST_POLL_KEY};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The version of the JSON shape: it changes only when a field is removed or changes meaning
/// (new fields may appear in any release).
pub const FORMAT_VERSION: u32 = 1;

/// How many of the most recent errors the report lists.
const RECENT_ERRORS: usize = 10;
/// How many dead jobs the report lists (`queue.dead` counts them all).
const DEAD_JOBS: usize = 100;
/// How many requests skipped by a `[crm.filter]` rule the report lists.
const SKIPPED: usize = 10;

/// Everything `status` shows.
#[derive(Debug, Serialize)]
pub struct Report {
    /// [`FORMAT_VERSION`].
    pub version: u32,
    /// `"healthy"` or `"degraded"` (exit code 0 or 1).
    pub health: &'static str,
    /// Why it is degraded, one sentence each; empty when healthy.
    pub problems: Vec<String>,
    /// The database: its path, or its URL without the password.
    pub database: String,
    /// Jobs per state and the oldest pending one.
    pub queue: Queue,
    /// Dead jobs, most recently buried first, with the reason each was given up.
    pub dead_jobs: Vec<JobLine>,
    /// Unfinished jobs that have an error, most recent first.
    pub recent_errors: Vec<JobLine>,
    /// Requests a `[crm.filter]` rule kept out of the CRM, most recent first (at most 10).
    pub skipped: Vec<Skipped>,
    /// The last successful Chat2Desk poll.
    pub last_poll: LastPoll,
    /// The node holding the leader lease (it runs the poller), if any.
    pub leader: Option<String>,
    /// The nodes that started on this database.
    pub nodes: Vec<Node>,
    /// The local application's grant (Open Lines); `null` when never connected.
    pub app: Option<App>,
    /// This month's Chat2Desk API calls (they count against the monthly quota).
    pub quota: Quota,
    /// Open Lines an administrator disconnected on the portal (their routing is stopped).
    pub disconnected_lines: std::collections::BTreeMap<i64, crate::flows::openlines::Disconnect>,
}

/// Queue counts and age.
#[derive(Debug, Serialize)]
pub struct Queue {
    /// Jobs per state.
    #[serde(flatten)]
    pub counts: QueueCounts,
    /// Since when the oldest pending job waits.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// One job with its error.
#[derive(Debug, Serialize)]
pub struct JobLine {
    /// `transcript`, `send`, `line_in`, `line_out` or `line_close`.
    pub kind: String,
    /// The Chat2Desk request id (transcripts) or the row id of the message.
    pub key: i64,
    /// `pending`, `running` or `dead`.
    pub state: &'static str,
    /// Failed attempts.
    pub attempts: u32,
    /// When the job last changed.
    pub updated_at: DateTime<Utc>,
    /// The last error, or why the job was given up.
    pub reason: String,
}

/// A request a rule kept out.
#[derive(Debug, Serialize)]
pub struct Skipped {
    /// The Chat2Desk request id.
    pub request_id: i64,
    /// When it was decided.
    pub at: DateTime<Utc>,
    /// The rule and why, e.g. `crm.filter.skip_tags: the client carries tag "Спам"`.
    pub rule: String,
}

/// The poller's progress.
#[derive(Debug, Serialize)]
pub struct LastPoll {
    /// When the last poll succeeded; `null` when none has.
    pub at: Option<DateTime<Utc>>,
    /// Seconds since then.
    pub age_secs: Option<i64>,
    /// The age beyond which the poll counts as stale; `null` when polling is off.
    pub max_age_secs: Option<u64>,
    /// True when the poll is stale (a problem).
    pub stale: bool,
    /// The error of the last failed poll, when the last poll failed.
    pub error: Option<String>,
}

/// A node on this database.
#[derive(Debug, Serialize)]
pub struct Node {
    /// `[node] name`.
    pub name: String,
    /// Until when it holds the leader lease; `null` for a follower.
    pub leads_until: Option<DateTime<Utc>>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// When it last started.
    pub started_at: DateTime<Utc>,
    /// The chat2desk-b24 version it runs.
    pub version: String,
}

/// The local application's grant, without its tokens.
#[derive(Debug, Serialize)]
pub struct App {
    /// `"connected"` or `"revoked"`.
    pub state: &'static str,
    /// The portal administrator who authorised it.
    pub user_id: i64,
    /// Their name.
    pub user_name: String,
    /// When they did.
    pub authorized_at: DateTime<Utc>,
    /// When the access token ends (it is refreshed on demand).
    pub expires_at: DateTime<Utc>,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// When the OAuth server refused the refresh token.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Its words.
    pub revoked_reason: Option<String>,
}

/// This month's Chat2Desk API calls.
#[derive(Debug, Serialize)]
pub struct Quota {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// Calls chat2desk-b24 made (all nodes).
    pub calls: u64,
    /// Chat2Desk's own count (`companies/api_info`), when read this month.
    pub reported_calls: Option<u64>,
    /// When that count was read.
    pub reported_at: Option<DateTime<Utc>>,
    /// The month's total at the pace so far.
    pub projected_calls: u64,
}

impl Report {
    /// Reads the report from `store`; `config` gives the poll's age limit.
    pub async fn read(store: &Store, config: &Config) -> Result<Self, StoreError> {
        let now = Utc::now();
        let counts = store.counts().await?;
        let queue = Queue {
            counts,
            oldest_pending: store.oldest_pending().await?,
        };
        let dead_jobs = store.dead(DEAD_JOBS).await?.into_iter().map(line).collect();
        let recent_errors = store
            .recent_errors(RECENT_ERRORS)
            .await?
            .into_iter()
            .map(line)
            .collect();
        let skipped = store
            .skipped(SKIPPED)
            .await?
            .into_iter()
            .map(|job| Skipped {
                request_id: job.key,
                at: job.updated_at,
                rule: job.steps["skipped"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
            .collect();
        let nodes: Vec<Node> = store
            .nodes()
            .await?
            .into_iter()
            .map(|n| Node {
                name: n.name,
                leads_until: n.leads_until,
                heartbeat_at: n.heartbeat_at,
                started_at: n.started_at,
                version: n.version,
            })
            .collect();
        let leader = nodes
            .iter()
            .find(|n| n.leads_until.is_some())
            .map(|n| n.name.clone());
        let last_poll = last_poll(store, config, &nodes, now).await?;
        let app = store.grant().await?.map(|g| App {
            state: if g.revoked.is_some() {
                "revoked"
            } else {
                "connected"
            },
            user_id: g.user_id,
            user_name: g.user_name,
            authorized_at: g.authorized_at,
            expires_at: g.expires_at,
            scopes: g.scopes,
            revoked_at: g.revoked.as_ref().map(|(at, _)| *at),
            revoked_reason: g.revoked.map(|(_, why)| why),
        });
        let usage = MonthUsage::read(store, now).await?;
        let quota = Quota {
            month: usage.month,
            calls: usage.ours,
            reported_calls: usage.reported.map(|(n, _)| n),
            reported_at: usage.reported.map(|(_, at)| at),
            projected_calls: usage.projection,
        };
        let mut report = Report {
            version: FORMAT_VERSION,
            health: "healthy",
            problems: Vec::new(),
            database: store.name().to_string(),
            queue,
            dead_jobs,
            recent_errors,
            skipped,
            last_poll,
            leader,
            nodes,
            app,
            quota,
            disconnected_lines: crate::flows::openlines::disconnected(store).await?,
        };
        report.problems = report.find_problems(now);
        if !report.problems.is_empty() {
            report.health = "degraded";
        }
        Ok(report)
    }

    /// Dead jobs and a stale poll, one sentence each.
    fn find_problems(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut problems = Vec::new();
        if self.queue.counts.dead > 0 {
            problems.push(format!(
                "{} dead job(s): fix the cause, then `chat2desk-b24 retry --dead`",
                self.queue.counts.dead
            ));
        }
        if self.last_poll.stale {
            let limit = self.last_poll.max_age_secs.unwrap_or_default();
            let error = self
                .last_poll
                .error
                .as_deref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default();
            problems.push(match self.last_poll.age_secs {
                Some(age) => format!(
                    "no successful Chat2Desk poll for {age} s (limit {limit} s){error}"
                ),
                None => {
                    let up = self.nodes.iter().map(|n| n.started_at).min().unwrap_or(now);
                    format!(
                        "no successful Chat2Desk poll since the daemon started {} s ago (limit {limit} s){error}",
                        (now - up).num_seconds()
                    )
                }
            });
        }
        problems
    }
}

/// The last poll, and whether it is stale: older than the limit, or missing while a node
/// has run longer than the limit (a database no daemon has started on is not judged).
async fn last_poll(
    store: &Store,
    config: &Config,
    nodes: &[Node],
    now: DateTime<Utc>,
) -> Result<LastPoll, StoreError> {
    let at = store.meta(LAST_POLL_KEY).await?.as_deref().and_then(parse);
    let error = store
        .meta(LAST_POLL_ERROR_KEY)
        .await?
        .filter(|e| !e.is_empty());
    let max_age = poll_max_age(config);
    let age_secs = at.map(|t| (now - t).num_seconds().max(0));
    let stale = match (max_age, age_secs) {
        (None, _) => false,
        (Some(max), Some(age)) => age as u64 > max.as_secs(),
        (Some(max), None) => nodes
            .iter()
            .map(|n| n.started_at)
            .min()
            .is_some_and(|up| (now - up).num_seconds().max(0) as u64 > max.as_secs()),
    };
    Ok(LastPoll {
        at,
        age_secs,
        max_age_secs: max_age.map(|m| m.as_secs()),
        stale,
        error,
    })
}

fn line(job: Job) -> JobLine {
    JobLine {
        kind: job.kind.to_string(),
        key: job.key,
        state: job.state.as_str(),
        attempts: job.attempts,
        updated_at: job.updated_at,
        reason: job.last_error.unwrap_or_default(),
    }
}

/// Reads an RFC 3339 time as stored in the meta table.
fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
