//! `[openlines]`: Chat2Desk channels bridged into Bitrix24 Open Lines (the checks are in
//! [`super::openlines`]).

use serde::{Deserialize, Serialize};

/// Whether an operator's name (Bitrix's signature `[b]Name:[/b]`) is kept in the text the
/// client gets.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OperatorName {
    /// `Name: text`.
    #[default]
    Keep,
    /// The text alone.
    Drop,
}

/// `[openlines]`: the Open Lines bridge; off while `lines` is empty.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OpenlinesConfig {
    /// The `imconnector` ID (letters, digits and `_` only).
    pub connector: String,
    /// How often operators' replies are fetched (`event.offline.get`), in milliseconds.
    pub events_poll_ms: u64,
    /// The operator's name in the text the client gets.
    pub operator_name: OperatorName,
    /// `[[openlines.lines]]`: which Chat2Desk channels go to which line.
    pub lines: Vec<LineConfig>,
}

impl Default for OpenlinesConfig {
    fn default() -> Self {
        Self {
            connector: "chat2desk".into(),
            events_poll_ms: 1000,
            operator_name: OperatorName::Keep,
            lines: Vec::new(),
        }
    }
}

impl OpenlinesConfig {
    /// True when at least one line is configured.
    pub fn enabled(&self) -> bool {
        !self.lines.is_empty()
    }

    /// The line a Chat2Desk channel belongs to.
    pub fn line_of(&self, channel: i64) -> Option<i64> {
        line_of(&self.lines, channel)
    }
}

/// The line of `lines` a Chat2Desk channel belongs to.
pub fn line_of(lines: &[LineConfig], channel: i64) -> Option<i64> {
    lines
        .iter()
        .find(|l| l.channels.contains(&channel))
        .map(|l| l.line)
}

/// One `[[openlines.lines]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// The Open Line id (Contact Center).
    pub line: i64,
    /// Chat2Desk channel ids; a channel belongs to one line at most.
    pub channels: Vec<i64>,
}
