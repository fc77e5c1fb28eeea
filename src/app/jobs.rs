//! The job kinds the worker runs, each a flow's job, and the rules they read: one live value,
//! swapped whole on SIGHUP, of which each job reads its part at the start of a run.

use crate::config::Config;
use crate::engine::{Live, Registry, Watch};
use crate::flows::bizproc::{SendJob, SendRules};
use crate::flows::card::CardSendJob;
use crate::flows::escalation::{EscalationJob, EscalationRules, EscalationWatch};
use crate::flows::openlines::{LineCloseJob, LineInJob, LineOutJob, LineRules};
use crate::flows::transcript::{TranscriptJob, TranscriptRules};
use crate::portal::crm::Router;
use crate::store::Store;
use std::sync::Arc;

/// What can change on reload: routing rules, how transcripts are printed, how sends go.
#[derive(Debug)]
pub struct Rules {
    /// Transcripts: CRM routing and how they are printed.
    pub transcript: Arc<TranscriptRules>,
    /// Business-process sends.
    pub send: Arc<SendRules>,
    /// The Open Lines bridge.
    pub lines: Arc<LineRules>,
    /// `[escalation]`.
    pub escalation: Arc<EscalationRules>,
}

/// Routing rules from a config.
pub fn rules(config: &Config) -> Rules {
    Rules {
        transcript: Arc::new(TranscriptRules {
            router: Router::new(&config.crm)
                .with_bridge(config.openlines.enabled() && config.bitrix24.app.is_some()),
            timezone: config.timezone(),
            max_comment_bytes: config.crm.max_comment_bytes,
            filter: config.crm.filter.clone(),
            fields: config.crm.fields.clone(),
            tag_rules: config.crm.tag_rules.clone(),
        }),
        send: Arc::new(SendRules {
            write_first_daily_limit: config.bizproc.write_first_daily_limit,
            files: config.bizproc.files,
            timezone: config.timezone(),
        }),
        lines: Arc::new(LineRules::new(config)),
        escalation: Arc::new(EscalationRules::new(config)),
    }
}

/// Every job kind of this version, each reading its part of the live `rules`. A new kind is
/// its job's file in its flow and one line here.
pub fn registry(rules: &Live<Rules>) -> Registry {
    Registry::new()
        .register(TranscriptJob::new(part(rules, |r| &r.transcript)))
        .register(SendJob::new(part(rules, |r| &r.send)))
        .register(LineInJob::new(part(rules, |r| &r.lines)))
        .register(LineOutJob::new(part(rules, |r| &r.lines)))
        .register(LineCloseJob::new(part(rules, |r| &r.lines)))
        .register(CardSendJob::new(part(rules, |r| &r.send)))
        .register(EscalationJob::new(part(rules, |r| &r.escalation)))
}

/// What the poller and the webhook hand every message to (escalation), under the live
/// `rules`.
pub fn watch(store: Store, rules: &Live<Rules>) -> Arc<dyn Watch> {
    Arc::new(EscalationWatch::new(store, part(rules, |r| &r.escalation)))
}

/// The part `pick` of the live `rules`.
pub(super) fn part<T: Send + Sync + 'static>(
    rules: &Live<Rules>,
    pick: fn(&Rules) -> &Arc<T>,
) -> Live<T> {
    let rules = rules.clone();
    Live::new(move || pick(&rules.now()).clone())
}
