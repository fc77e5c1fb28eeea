//! The bridge's three job kinds, each reading the bridge's live rules at the start of a run:
//! a client's message into its line (`line_in`), an operator's reply to the client
//! (`line_out`), the request of a finished session closed (`line_close`).

use super::{line_close, line_in, line_out, LineRules};
use crate::engine::{self, JobError, KeyField, Live, Services};
use crate::store::{Job, JobKind};
use futures_util::future::BoxFuture;
use std::time::Duration;

/// The `line_in` job, reading the bridge's live rules.
#[derive(Debug)]
pub struct LineInJob {
    rules: Live<LineRules>,
}

impl LineInJob {
    /// The job, reading `rules` at the start of each run.
    pub fn new(rules: Live<LineRules>) -> Self {
        Self { rules }
    }
}

impl engine::Job for LineInJob {
    type Steps = line_in::LineInProgress;

    fn kind(&self) -> JobKind {
        line_in::LINE_IN
    }

    fn noun(&self) -> &'static str {
        "Client message for an Open Line"
    }

    fn words(&self) -> &'static str {
        "line message (client → line)"
    }

    fn key_field(&self) -> KeyField {
        KeyField::LineMessage
    }

    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a Job,
        lease: Duration,
    ) -> BoxFuture<'a, Result<line_in::LineInProgress, JobError>> {
        Box::pin(async move {
            let rules = self.rules.now();
            line_in::deliver_to_line(services, &rules, job, lease).await
        })
    }
}

/// The `line_out` job, reading the bridge's live rules.
#[derive(Debug)]
pub struct LineOutJob {
    rules: Live<LineRules>,
}

impl LineOutJob {
    /// The job, reading `rules` at the start of each run.
    pub fn new(rules: Live<LineRules>) -> Self {
        Self { rules }
    }
}

impl engine::Job for LineOutJob {
    type Steps = line_out::LineOutProgress;

    fn kind(&self) -> JobKind {
        line_out::LINE_OUT
    }

    fn noun(&self) -> &'static str {
        "Operator reply"
    }

    fn words(&self) -> &'static str {
        "line message (operator → client)"
    }

    fn key_field(&self) -> KeyField {
        KeyField::LineMessage
    }

    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a Job,
        lease: Duration,
    ) -> BoxFuture<'a, Result<line_out::LineOutProgress, JobError>> {
        Box::pin(async move {
            let rules = self.rules.now();
            line_out::deliver_to_client(services, &rules, job, lease).await
        })
    }
}

/// The `line_close` job, reading the bridge's live rules.
#[derive(Debug)]
pub struct LineCloseJob {
    rules: Live<LineRules>,
}

impl LineCloseJob {
    /// The job, reading `rules` at the start of each run.
    pub fn new(rules: Live<LineRules>) -> Self {
        Self { rules }
    }
}

impl engine::Job for LineCloseJob {
    type Steps = line_close::CloseProgress;

    fn kind(&self) -> JobKind {
        line_close::LINE_CLOSE
    }

    fn noun(&self) -> &'static str {
        "Finished Open Lines session"
    }

    fn words(&self) -> &'static str {
        "finished Open Lines session"
    }

    fn key_field(&self) -> KeyField {
        KeyField::LineMessage
    }

    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a Job,
        lease: Duration,
    ) -> BoxFuture<'a, Result<line_close::CloseProgress, JobError>> {
        Box::pin(async move {
            let rules = self.rules.now();
            line_close::close_finished_session(services, &rules, job, lease).await
        })
    }
}
