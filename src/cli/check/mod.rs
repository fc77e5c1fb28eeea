//! `check`: the config, the database, then both services at once; one line per fact, grep- and
//! journald-friendly: `ok   key: …`, `FAIL key: what is wrong; what to do`, `skip key: not
//! checked (why)`, `warn key: …`. `check` retries nothing: a passing failure says to run it
//! again.

mod bizproc;
mod card;
mod chat2desk;
mod database;
mod fields;
mod openlines;
mod openlines_state;
mod portal;
mod progress;
mod reach;
mod tags;

use crate::config::Config;
use progress::Progress;
use std::path::Path;
use std::time::Duration;

/// Longest wait for one answer of a service during `check` (connect and DNS have their own,
/// shorter limits in [`reach`]).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What one line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Fail,
    Skip,
    Warn,
}

/// One line of the report.
#[derive(Debug, Clone)]
struct Line {
    status: Status,
    key: String,
    text: String,
}

impl Line {
    fn ok(key: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(Status::Ok, key, text)
    }

    fn fail(key: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(Status::Fail, key, text)
    }

    fn skip(key: impl Into<String>, why: &str) -> Self {
        Self::new(Status::Skip, key, format!("not checked ({why})"))
    }

    fn warn(key: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(Status::Warn, key, text)
    }

    fn new(status: Status, key: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            status,
            key: key.into(),
            text: text.into(),
        }
    }
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = match self.status {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
            Status::Warn => "warn",
        };
        write!(f, "{label:<4} {}: {}", self.key, self.text)
    }
}

/// Loads and checks `path`; with `offline`, only the config and the database. Returns false
/// when any check failed (the caller exits 1).
pub async fn check(path: &Path, offline: bool) -> bool {
    run(path, offline, true).await
}

/// `check` at the end of `setup`: the same, except that as root on a machine without the
/// package's user it creates no state database (it would belong to root) and says so.
pub(super) async fn check_after_setup(path: &Path) -> bool {
    run(path, false, !database::root_without_service_user()).await
}

/// The checks; `may_create_db` as in [`database::check`].
async fn run(path: &Path, offline: bool, may_create_db: bool) -> bool {
    let config = match crate::config::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("{}", Line::warn(&w.key, &w.message));
            }
            println!(
                "{}",
                Line::ok("config", format!("{} is valid", path.display()))
            );
            loaded.config
        }
        Err(e) => {
            for p in &e.problems {
                println!("{}", Line::fail(&p.key, &p.message));
            }
            for s in &e.skipped {
                println!("{}", Line::skip(&s.key, &s.message));
            }
            println!(
                "{} problem(s) in the configuration; the services were not checked.",
                e.problems.len()
            );
            return false;
        }
    };
    let mut failures = print(&database::check(&config, may_create_db).await);
    failures += print(&bizproc::check(&config, offline).await);
    if !offline {
        failures += services(&config).await;
        failures += print(&openlines::check(&config).await);
    }
    if failures == 0 {
        println!("All checks passed.");
        true
    } else {
        println!("{failures} problem(s).");
        false
    }
}

/// Both services at the same time; Chat2Desk's lines print as soon as they are known.
async fn services(config: &Config) -> usize {
    let progress = Progress::new();
    let c2d = async {
        let lines = chat2desk::check(config, &progress.step_bar("Chat2Desk")).await;
        progress.suspend(|| print(&lines))
    };
    let portal = async { portal::check(config, &progress.step_bar("Bitrix24")).await };
    let (failures, lines) = tokio::join!(c2d, portal);
    failures + progress.suspend(|| print(&lines))
}

/// Prints the lines; returns how many failed.
fn print(lines: &[Line]) -> usize {
    for line in lines {
        println!("{line}");
    }
    lines.iter().filter(|l| l.status == Status::Fail).count()
}
