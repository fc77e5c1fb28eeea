//! Job rows: what a queued unit of work looks like, and how it is read from either backend.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{ColumnIndex, Database, Decode, Row, Type};

use super::error::Cause;

/// Declares a text-valued enum stored in a column: `as_str`, `parse`, and a lowercase `Display`.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The text stored in the database (and printed).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses the stored text; `None` for unknown text.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// What a job does; with its key it identifies the job. Each flow names its kinds (the text
/// stored in the queue) where its job is; the store knows the two whose rows it writes itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobKind(Cow<'static, str>);

impl JobKind {
    /// Write the transcript of a closed Chat2Desk request; the key is the request id.
    pub const TRANSCRIPT: JobKind = JobKind::new("transcript");
    /// Send a message from a business process; the key is the `sends` row id.
    pub const SEND: JobKind = JobKind::new("send");

    /// The kind stored as `text`.
    pub const fn new(text: &'static str) -> Self {
        Self(Cow::Borrowed(text))
    }

    /// The text stored in the database (and printed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A kind read from the database; `None` for empty text.
    pub fn parse(text: &str) -> Option<Self> {
        (!text.is_empty()).then(|| Self(Cow::Owned(text.to_string())))
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JobKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

text_enum! {
    /// Where a job is in its life.
    JobState {
        /// Waiting for `next_attempt_at`.
        Pending => "pending",
        /// Claimed by a worker until `lease_until`.
        Running => "running",
        /// Finished successfully.
        Done => "done",
        /// Given up; waits for `retry`.
        Dead => "dead",
    }
}

text_enum! {
    /// Who enqueued a job (for status and metrics).
    Intake {
        /// The scheduled Chat2Desk poll.
        Poll => "poll",
        /// A Chat2Desk webhook delivery.
        Webhook => "webhook",
        /// The `backfill` command.
        Backfill => "backfill",
        /// An operator, by hand.
        Manual => "manual",
        /// The portal's business-process action (`POST /bizproc/send`).
        Bizproc => "bizproc",
        /// The portal's offline events (operators' replies in Open Lines).
        Openlines => "openlines",
    }
}

/// One queued unit of work.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// What to do.
    pub kind: JobKind,
    /// Identity within the kind: the Chat2Desk request id for transcripts, the `sends` row
    /// id for sends.
    pub key: i64,
    /// Current state.
    pub state: JobState,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Times claimed, including the current run.
    pub runs: u32,
    /// When a pending job becomes due.
    pub next_attempt_at: DateTime<Utc>,
    /// Until when a running job belongs to its worker.
    pub lease_until: Option<DateTime<Utc>>,
    /// The node whose worker holds a running job (`[node] name`).
    pub node: Option<String>,
    /// The most recent error or burial reason.
    pub last_error: Option<String>,
    /// Opaque progress written by the worker; `{}` initially.
    pub steps: serde_json::Value,
    /// Who enqueued it.
    pub intake: Intake,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When its row last changed.
    pub updated_at: DateTime<Utc>,
}

/// Number of jobs in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Waiting (due or backing off).
    pub pending: u64,
    /// Claimed by a worker.
    pub running: u64,
    /// Finished.
    pub done: u64,
    /// Given up.
    pub dead: u64,
}

/// Milliseconds since the epoch, the unit of every time column.
pub(crate) fn to_millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// A time column read back; out-of-range values clamp instead of failing.
pub(crate) fn from_millis(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or(if millis < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

impl Job {
    /// Reads a full `jobs` row of either backend.
    pub(crate) fn from_row<R>(row: &R) -> Result<Job, Cause>
    where
        R: Row,
        for<'a> &'a str: ColumnIndex<R>,
        for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
        R::Database: Database,
    {
        let id: i64 = row.try_get("id")?;
        let corrupt = |column: &'static str, value: String| Cause::Corrupt { id, column, value };
        let text = |column: &'static str| row.try_get::<String, _>(column);
        let count = |column: &'static str| -> Result<u32, Cause> {
            let n: i64 = row.try_get(column)?;
            u32::try_from(n).map_err(|_| corrupt(column, n.to_string()))
        };
        let kind = text("kind")?;
        let state = text("state")?;
        let intake = text("intake")?;
        let steps = text("steps")?;
        Ok(Job {
            id,
            kind: JobKind::parse(&kind).ok_or_else(|| corrupt("kind", kind.clone()))?,
            key: row.try_get("job_key")?,
            state: JobState::parse(&state).ok_or_else(|| corrupt("state", state.clone()))?,
            attempts: count("attempts")?,
            runs: count("runs")?,
            next_attempt_at: from_millis(row.try_get("next_attempt_at")?),
            lease_until: row
                .try_get::<Option<i64>, _>("lease_until")?
                .map(from_millis),
            node: row.try_get("node")?,
            last_error: row.try_get("last_error")?,
            steps: serde_json::from_str(&steps).map_err(|_| corrupt("steps", steps.clone()))?,
            intake: Intake::parse(&intake).ok_or_else(|| corrupt("intake", intake.clone()))?,
            created_at: from_millis(row.try_get("created_at")?),
            updated_at: from_millis(row.try_get("updated_at")?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_text_round_trips() {
        for state in [
            JobState::Pending,
            JobState::Running,
            JobState::Done,
            JobState::Dead,
        ] {
            assert_eq!(JobState::parse(&state.to_string()), Some(state));
        }
        assert_eq!(JobKind::TRANSCRIPT.to_string(), "transcript");
        assert_eq!(Intake::parse("webhook"), Some(Intake::Webhook));
        assert_eq!(Intake::parse("Webhook"), None);
    }

    #[test]
    fn millis_round_trip_and_clamp() {
        let t = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        assert_eq!(from_millis(to_millis(t)), t);
        assert_eq!(from_millis(i64::MAX), DateTime::<Utc>::MAX_UTC);
    }
}
