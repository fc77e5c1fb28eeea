//! Configuration problems: one per key, each saying what is wrong and what is expected.

use std::fmt;

/// One thing wrong (or worth a warning) in the configuration.
///
/// `message` never contains a secret value: problems with a token or the webhook URL describe
/// the value instead of echoing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Full key path, e.g. `crm.default_responsibles[2]` or `bitrix24.webhook_url`; for problems
    /// outside any key, the file path or the environment variable name.
    pub key: String,
    /// What is wrong and what is expected, or how to fix it.
    pub message: String,
}

impl Problem {
    /// A problem with `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The configuration cannot be used; every problem found is listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems, in the order of the keys in the file where possible.
    pub problems: Vec<Problem>,
    /// Keys not checked because a listed problem causes theirs (a misspelt section, then the
    /// token it lacks): `message` names that problem's key.
    pub skipped: Vec<Problem>,
}

impl ConfigError {
    /// An error made of `problems`, with the keys they leave unchecked.
    pub fn new(problems: Vec<Problem>, skipped: Vec<Problem>) -> Self {
        Self { problems, skipped }
    }

    /// An error made of one problem.
    pub fn single(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(vec![Problem::new(key, message)], Vec::new())
    }

    /// Configuration errors never go away by retrying: the file or the environment must change.
    pub fn is_transient(&self) -> bool {
        false
    }

    /// What the sysadmin should do.
    pub fn hint(&self) -> &'static str {
        "fix the listed keys in the configuration file (or the CHAT2DESK_B24_* environment) and \
         run `chat2desk-b24 check`"
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
