//! On a terminal, a spinner per service showing the step it is at; elsewhere nothing.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// The spinners of one `check` run (hidden when stderr is not a terminal).
pub(super) struct Progress {
    multi: MultiProgress,
}

/// One service's spinner; dropping it clears it.
pub(super) struct Step {
    bar: ProgressBar,
}

impl Progress {
    /// Spinners on stderr when it is a terminal.
    pub(super) fn new() -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            multi: MultiProgress::with_draw_target(target),
        }
    }

    /// A spinner named `service`.
    pub(super) fn step_bar(&self, service: &str) -> Step {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(service.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Step { bar }
    }

    /// Runs `f` (which prints) with the spinners out of the way.
    pub(super) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }
}

impl Step {
    /// Shows what runs now, e.g. `chat2desk.token: GET /v1/companies/api_info`.
    pub(super) fn show(&self, what: impl Into<String>) {
        self.bar.set_message(what.into());
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
