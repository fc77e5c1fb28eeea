//! This node among the others on one database: its heartbeat, and the leader lease that
//! decides which node runs the singleton duties (the poller now; the Open Lines
//! offline-events reader and the token refresh as they land).
//!
//! Every third of `[node] lease_secs` the node beats its heart and takes or renews the
//! leader lease. It counts itself the leader only until the end of the lease it last
//! renewed (measured from before the renewal was sent), so when the database stops
//! answering it stops leading before any other node can take over. On a clean stop it
//! gives the lease up, and another node takes over at its next try.

use crate::store::{Store, LEADER};
use chrono::Utc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Runs the heartbeat and leader loop of one node.
#[derive(Debug, Clone)]
pub struct Leadership {
    store: Store,
    lease: Duration,
}

impl Leadership {
    /// The loop for the node of `store`, holding the leader lease for `lease` at a time.
    pub fn new(store: Store, lease: Duration) -> Self {
        Self { store, lease }
    }

    /// Runs until `shutdown`, publishing on `leader` whether this node leads now; gives the
    /// lease up on the way out.
    pub async fn run(self, leader: watch::Sender<bool>, shutdown: CancellationToken) {
        let every = self.lease / 3;
        let mut leads_until: Option<Instant> = None;
        loop {
            let asked = Instant::now();
            if let Err(e) = self.store.heartbeat().await {
                tracing::warn!(error = %e, "Cannot record this node's heartbeat");
            }
            match self.store.try_lease(LEADER, Utc::now(), self.lease).await {
                Ok(true) => {
                    if leads_until.is_none() {
                        tracing::info!(
                            lease_secs = self.lease.as_secs(),
                            "This node is the leader now: it runs the poller"
                        );
                    }
                    leads_until = Some(asked + self.lease);
                }
                Ok(false) => {
                    if leads_until.take().is_some() {
                        tracing::warn!("Another node took the leader lease: polling stops here");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, hint = e.hint(), "Cannot renew the leader lease");
                }
            }
            if leads_until.is_some_and(|until| Instant::now() >= until) {
                leads_until = None;
                tracing::warn!("The leader lease ran out without renewal: polling stops here");
            }
            leader.send_if_modified(|now| {
                let leads = leads_until.is_some();
                let changed = *now != leads;
                *now = leads;
                changed
            });
            // Wake up early enough to drop the lead before the lease ends.
            let mut wait = every;
            if let Some(until) = leads_until {
                wait = wait.min(until.saturating_duration_since(Instant::now()));
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if leads_until.is_some() {
            leader.send_replace(false);
            match self.store.release_lease(LEADER).await {
                Ok(()) => tracing::info!("Gave the leader lease up"),
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot give the leader lease up; it ends by itself")
                }
            }
        }
    }
}
