//! What the bridge's flows read from `[openlines]` (and `[server] public_url`): which line a
//! channel belongs to, the connector, how replies are printed, where files are re-hosted.

use super::Signature;
use crate::config::{Config, LineConfig, OperatorName};
use crate::engine::Live;
use std::sync::Arc;

/// The bridge's settings, live-reloadable with the other rules.
#[derive(Debug, Clone, Default)]
pub struct LineRules {
    /// The connector ID (also the `auth_connector` of the offline events).
    pub connector: String,
    /// Lines and their channels (empty: the bridge is off).
    pub lines: Vec<LineConfig>,
    /// Whether the operator's name stays in front of a reply.
    pub signature: Signature,
    /// `[server] public_url`: where Chat2Desk fetches re-hosted files.
    pub public_url: Option<String>,
}

impl LineRules {
    /// The rules of `config`.
    pub fn new(config: &Config) -> Self {
        let o = &config.openlines;
        Self {
            connector: o.connector.trim().to_string(),
            lines: o.lines.clone(),
            signature: match o.operator_name {
                OperatorName::Keep => Signature::Keep,
                OperatorName::Drop => Signature::Drop,
            },
            public_url: config
                .server
                .public_url
                .as_deref()
                .map(|u| u.trim().trim_end_matches('/').to_string())
                .filter(|u| !u.is_empty()),
        }
    }

    /// True when at least one line is configured.
    pub fn enabled(&self) -> bool {
        !self.lines.is_empty()
    }

    /// The line a Chat2Desk channel belongs to.
    pub fn line_of(&self, channel: i64) -> Option<i64> {
        crate::config::line_of(&self.lines, channel)
    }
}

/// The bridge's rules as the last reload left them, for the parts that route a channel to a
/// line outside the worker (the webhook server, the poller): a line taken out and SIGHUPed
/// routes nothing from the next message on. Built from the bridge's part of the app's live
/// rules ([`From<Live<LineRules>>`]), the one value every reader borrows.
#[derive(Debug, Clone)]
pub struct LiveLines(Live<LineRules>);

impl LiveLines {
    /// The rules in force now.
    pub fn current(&self) -> Arc<LineRules> {
        self.0.now()
    }

    /// The line a Chat2Desk channel belongs to now.
    pub fn line_of(&self, channel: i64) -> Option<i64> {
        self.0.now().line_of(channel)
    }
}

impl From<Live<LineRules>> for LiveLines {
    /// The bridge's part of the app's live rules.
    fn from(rules: Live<LineRules>) -> Self {
        Self(rules)
    }
}

impl Default for LiveLines {
    /// No lines (the bridge off); nothing can change them.
    fn default() -> Self {
        Self(Live::fixed(LineRules::default()))
    }
}
