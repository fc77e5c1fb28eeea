//! Unix signals: SIGTERM/SIGINT stop gracefully (a second SIGINT exits at once), SIGHUP reloads.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What the signal handler reports.
#[derive(Debug)]
pub struct Signals {
    /// Cancelled on SIGTERM or SIGINT.
    pub shutdown: CancellationToken,
    /// One message per SIGHUP.
    pub reload: mpsc::Receiver<()>,
}

/// Starts listening for signals.
pub fn spawn_signal_handler() -> std::io::Result<Signals> {
    let shutdown = CancellationToken::new();
    let (tx, reload) = mpsc::channel(4);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let token = shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {
                    tracing::info!("Received SIGTERM: shutting down");
                    token.cancel();
                }
                _ = int.recv() => {
                    if token.is_cancelled() {
                        tracing::warn!("Second SIGINT: exiting now");
                        std::process::exit(130);
                    }
                    tracing::info!("Received SIGINT: shutting down (again to exit now)");
                    token.cancel();
                }
                _ = hup.recv() => {
                    let _ = tx.try_send(());
                }
            }
        }
    });
    Ok(Signals { shutdown, reload })
}
