//! Questions, asked on the terminal (dialoguer) or answered from an `--answers` file.

use crate::config::{Integration, OperatorMapping};
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, MultiSelect, Password, Select};
use serde::Deserialize;
use std::io::IsTerminal;
use std::path::Path;

/// The answers of a non-interactive run; every one is optional (then the file's value, or
/// for `operators` the e-mail matches, is kept).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Answers {
    /// `chat2desk.api_url`.
    pub api_url: Option<String>,
    /// `chat2desk.token`.
    pub token: Option<String>,
    /// `bitrix24.webhook_url`.
    pub webhook_url: Option<String>,
    /// `crm.integration`.
    pub integration: Option<Integration>,
    /// `crm.source` (a SOURCE status id the portal has).
    pub source: Option<String>,
    /// `crm.default_responsibles` (active portal user ids).
    pub default_responsibles: Option<Vec<i64>>,
    /// `database.path` (the SQLite state file).
    pub database_path: Option<String>,
    /// `[[crm.operators]]`; unset = each operator's e-mail match.
    pub operators: Option<Vec<OperatorMapping>>,
    /// Write the secrets to `*_file`s (default true).
    pub secrets_in_files: Option<bool>,
}

impl Answers {
    /// Reads an answers file (TOML with the keys above).
    pub(super) fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the answers file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "the answers file {} cannot be used: {}; it takes api_url, token, webhook_url, \
                 database_path, integration, source, default_responsibles, operators, \
                 secrets_in_files",
                path.display(),
                e.message().lines().next().unwrap_or("")
            )
        })
    }
}

/// Where to go after an answer failed its check.
pub(super) enum Next {
    /// Ask the same question again.
    Again,
    /// Go back to the previous answer.
    Back,
}

/// Where answers come from.
pub(super) enum Ui {
    /// A person at a terminal.
    Terminal(Box<ColorfulTheme>),
    /// An answers file.
    Answers(Answers),
}

impl Ui {
    /// The terminal, which must be one.
    pub(super) fn terminal() -> anyhow::Result<Self> {
        anyhow::ensure!(
            std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            "setup asks questions on a terminal; without one, give the answers with --answers FILE"
        );
        Ok(Ui::Terminal(Box::default()))
    }

    /// Prints a line.
    pub(super) fn say(&self, text: &str) {
        match self {
            Ui::Terminal(_) => eprintln!("{text}"),
            Ui::Answers(_) => println!("{text}"),
        }
    }

    /// After an answer failed its check: from a file, stop with `why`; on a terminal, say why
    /// and let the person type it again, go `back` to the previous answer, or quit (nothing
    /// written).
    pub(super) fn after_failure(&self, why: &str, again: &str, back: &str) -> anyhow::Result<Next> {
        match self {
            Ui::Answers(_) => anyhow::bail!("{why}"),
            Ui::Terminal(theme) => {
                eprintln!("{why}");
                let items = [again, back, "Quit setup (the file is left as it was)"];
                match Select::with_theme(theme.as_ref())
                    .with_prompt("What now?")
                    .items(&items)
                    .default(0)
                    .interact()?
                {
                    0 => Ok(Next::Again),
                    1 => Ok(Next::Back),
                    _ => anyhow::bail!("setup stopped; the configuration file was not changed"),
                }
            }
        }
    }

    /// The answer given in the file, if any (always `None` on a terminal).
    pub(super) fn answered<T>(&self, pick: impl Fn(&Answers) -> Option<T>) -> Option<T> {
        match self {
            Ui::Answers(a) => pick(a),
            Ui::Terminal(_) => None,
        }
    }

    /// A line of text, `current` as the default.
    pub(super) fn text(
        &self,
        prompt: &str,
        current: String,
        pick: impl Fn(&Answers) -> Option<String>,
    ) -> anyhow::Result<String> {
        match self {
            Ui::Answers(a) => Ok(pick(a).unwrap_or(current)),
            Ui::Terminal(theme) => Ok(Input::<String>::with_theme(theme.as_ref())
                .with_prompt(prompt)
                .default(current)
                .interact_text()?),
        }
    }

    /// A secret typed without echo; empty keeps `current` (and is empty without one, which
    /// the caller's check refuses).
    pub(super) fn secret(
        &self,
        prompt: &str,
        current: Option<String>,
        pick: impl Fn(&Answers) -> Option<String>,
    ) -> anyhow::Result<String> {
        match self {
            Ui::Answers(a) => pick(a)
                .or(current)
                .ok_or_else(|| anyhow::anyhow!("the answers file needs `{}`", answer_name(prompt))),
            Ui::Terminal(theme) => {
                let keep = if current.is_some() {
                    " [Enter keeps the current one]"
                } else {
                    ""
                };
                let typed = Password::with_theme(theme.as_ref())
                    .with_prompt(format!("{prompt}{keep}"))
                    .allow_empty_password(true)
                    .interact()?;
                Ok(match (typed.trim(), current) {
                    ("", Some(c)) => c,
                    (t, _) => t.to_string(),
                })
            }
        }
    }

    /// One of `items`, `at` pre-selected; returns its index.
    pub(super) fn select<S: ToString>(
        &self,
        prompt: &str,
        items: &[S],
        at: usize,
        pick: impl Fn(&Answers) -> Option<usize>,
    ) -> anyhow::Result<usize> {
        match self {
            Ui::Answers(a) => Ok(pick(a).unwrap_or(at)),
            Ui::Terminal(theme) => Ok(Select::with_theme(theme.as_ref())
                .with_prompt(prompt)
                .items(items)
                .default(at)
                .interact()?),
        }
    }

    /// Any of `items` (at least one), `checked` pre-selected; returns their indexes.
    pub(super) fn multi_select<S: ToString>(
        &self,
        prompt: &str,
        items: &[S],
        checked: &[bool],
        pick: impl Fn(&Answers) -> Option<Vec<usize>>,
    ) -> anyhow::Result<Vec<usize>> {
        let fallback = || -> Vec<usize> {
            let on: Vec<usize> = (0..items.len()).filter(|&i| checked[i]).collect();
            if on.is_empty() {
                vec![0]
            } else {
                on
            }
        };
        match self {
            Ui::Answers(a) => {
                let picked = pick(a).unwrap_or_else(fallback);
                anyhow::ensure!(
                    !picked.is_empty(),
                    "default_responsibles names no active portal user"
                );
                Ok(picked)
            }
            Ui::Terminal(theme) => loop {
                let picked = MultiSelect::with_theme(theme.as_ref())
                    .with_prompt(format!("{prompt}: Space toggles, Enter confirms"))
                    .items(items)
                    .defaults(checked)
                    .interact()?;
                if !picked.is_empty() {
                    return Ok(picked);
                }
                eprintln!("Pick at least one.");
            },
        }
    }

    /// Yes or no.
    pub(super) fn confirm(
        &self,
        prompt: &str,
        default: bool,
        pick: impl Fn(&Answers) -> Option<bool>,
    ) -> anyhow::Result<bool> {
        match self {
            Ui::Answers(a) => Ok(pick(a).unwrap_or(default)),
            Ui::Terminal(theme) => Ok(Confirm::with_theme(theme.as_ref())
                .with_prompt(prompt)
                .default(default)
                .interact()?),
        }
    }
}

fn answer_name(prompt: &str) -> &'static str {
    if prompt.contains("token") {
        "token"
    } else {
        "webhook_url"
    }
}
