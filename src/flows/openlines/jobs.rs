//! The bridge's three job kinds, each reading the bridge's live rules at the start of a run:
//! a client's message into its line (`line_in`), an operator's reply to the client
//! (`line_out`), the request of a finished session closed (`line_close`). One generic
//! [`LineJob`] holds the live rules; a [`LineKind`] says what sets each kind apart.

use super::{line_close, line_in, line_out, LineRules};
use crate::engine::{self, JobError, KeyField, Live, Services, Steps};
use crate::store::{Job, JobKind};
use futures_util::future::BoxFuture;
use std::marker::PhantomData;
use std::time::Duration;

/// What sets one of the bridge's job kinds apart: its names and what a run does with the
/// rules read at its start. Every kind is keyed by the line message.
pub trait LineKind: Send + Sync + std::fmt::Debug + 'static {
    /// The kind's checkpoint.
    type Steps: Steps;
    /// The kind's name in the queue.
    const KIND: JobKind;
    /// The kind in `status` listings and log lines.
    const NOUN: &'static str;
    /// The kind in a sentence.
    const WORDS: &'static str;

    /// One run of the job with the rules of this moment.
    fn run(run: LineRun<'_>) -> BoxFuture<'_, Result<Self::Steps, JobError>>;
}

/// What one run of a bridge job works with.
pub struct LineRun<'r> {
    /// The daemon's services.
    pub services: &'r Services,
    /// The bridge's rules, read at the start of the run.
    pub rules: &'r LineRules,
    /// The queued job.
    pub job: &'r Job,
    /// The lease the run holds the job for.
    pub lease: Duration,
}

/// One of the bridge's job kinds, reading the bridge's live rules at the start of each run.
#[derive(Debug)]
pub struct LineJob<K> {
    rules: Live<LineRules>,
    kind: PhantomData<K>,
}

impl<K: LineKind> LineJob<K> {
    /// The job, reading `rules` at the start of each run.
    pub fn new(rules: Live<LineRules>) -> Self {
        Self {
            rules,
            kind: PhantomData,
        }
    }
}

impl<K: LineKind> engine::Job for LineJob<K> {
    type Steps = K::Steps;

    fn kind(&self) -> JobKind {
        K::KIND
    }

    fn noun(&self) -> &'static str {
        K::NOUN
    }

    fn words(&self) -> &'static str {
        K::WORDS
    }

    fn key_field(&self) -> KeyField {
        KeyField::LineMessage
    }

    fn run<'a>(
        &'a self,
        services: &'a Services,
        job: &'a Job,
        lease: Duration,
    ) -> BoxFuture<'a, Result<K::Steps, JobError>> {
        Box::pin(async move {
            let rules = self.rules.now();
            let run = LineRun {
                services,
                rules: &rules,
                job,
                lease,
            };
            K::run(run).await
        })
    }
}

/// `line_in`: a client's message into its line.
#[derive(Debug)]
pub struct LineIn;

impl LineKind for LineIn {
    type Steps = line_in::LineInProgress;
    const KIND: JobKind = line_in::LINE_IN;
    const NOUN: &'static str = "Client message for an Open Line";
    const WORDS: &'static str = "line message (client → line)";

    fn run(r: LineRun<'_>) -> BoxFuture<'_, Result<Self::Steps, JobError>> {
        Box::pin(line_in::deliver_to_line(
            r.services, r.rules, r.job, r.lease,
        ))
    }
}

/// `line_out`: an operator's reply to the client.
#[derive(Debug)]
pub struct LineOut;

impl LineKind for LineOut {
    type Steps = line_out::LineOutProgress;
    const KIND: JobKind = line_out::LINE_OUT;
    const NOUN: &'static str = "Operator reply";
    const WORDS: &'static str = "line message (operator → client)";

    fn run(r: LineRun<'_>) -> BoxFuture<'_, Result<Self::Steps, JobError>> {
        Box::pin(line_out::deliver_to_client(
            r.services, r.rules, r.job, r.lease,
        ))
    }
}

/// `line_close`: the request of a finished session closed.
#[derive(Debug)]
pub struct LineClose;

impl LineKind for LineClose {
    type Steps = line_close::CloseProgress;
    const KIND: JobKind = line_close::LINE_CLOSE;
    const NOUN: &'static str = "Finished Open Lines session";
    const WORDS: &'static str = "finished Open Lines session";

    fn run(r: LineRun<'_>) -> BoxFuture<'_, Result<Self::Steps, JobError>> {
        Box::pin(line_close::close_finished_session(
            r.services, r.rules, r.job, r.lease,
        ))
    }
}

/// The `line_in` job, reading the bridge's live rules.
pub type LineInJob = LineJob<LineIn>;
/// The `line_out` job, reading the bridge's live rules.
pub type LineOutJob = LineJob<LineOut>;
/// The `line_close` job, reading the bridge's live rules.
pub type LineCloseJob = LineJob<LineClose>;
