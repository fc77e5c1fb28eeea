//! Group commit: deliveries arriving within a few milliseconds share one SQLite transaction
//! (one fsync), and each waits for that commit before it is answered.

use crate::store::{Intake, JobKind, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};

/// Deliveries waiting for the committer at most; more wait for channel space.
const QUEUE: usize = 4096;

/// The enqueue did not commit (the delivery must be answered 503).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// The transaction failed.
    #[error("the state database did not commit: {0}")]
    Store(Arc<StoreError>),
    /// The committer is gone (the daemon is shutting down).
    #[error("the intake is shutting down")]
    Closed,
}

impl CommitError {
    /// True when a retry of the delivery may succeed without anyone acting (a busy database,
    /// a restart). Either way the delivery is answered 503 so Chat2Desk sends it again.
    pub fn is_transient(&self) -> bool {
        match self {
            CommitError::Store(e) => e.is_transient(),
            CommitError::Closed => true,
        }
    }

    /// What the sysadmin should do.
    pub fn hint(&self) -> &'static str {
        match self {
            CommitError::Store(e) => e.hint(),
            CommitError::Closed => "none: Chat2Desk retries the delivery after the restart",
        }
    }
}

struct Pending {
    request_id: i64,
    done: oneshot::Sender<Result<(), CommitError>>,
}

/// Handle on the committer task. Cheap to clone; the task ends when every clone is dropped.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    tx: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl GroupCommit {
    /// Starts the committer: after the first delivery of a batch it waits up to `window` for
    /// more (at most `max`), commits them with one `enqueue_many`, pokes `wake`, then answers
    /// every waiter.
    pub fn spawn(store: Store, wake: Arc<Notify>, window: Duration, max: usize) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, wake, rx, window, max.max(1)));
        Self { tx }
    }

    /// Enqueues `request_id` (as a webhook intake) and returns once it is durable.
    pub async fn enqueue(&self, request_id: i64) -> Result<(), CommitError> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send(Pending { request_id, done })
            .await
            .map_err(|_| CommitError::Closed)?;
        answer.await.unwrap_or(Err(CommitError::Closed))
    }
}

async fn run(
    store: Store,
    wake: Arc<Notify>,
    mut rx: mpsc::Receiver<Pending>,
    window: Duration,
    max: usize,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(max);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < max {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(p)) => batch.push(p),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        let ids: Vec<i64> = batch.iter().map(|p| p.request_id).collect();
        let result = store
            .enqueue_many(JobKind::TRANSCRIPT, &ids, Intake::Webhook)
            .await;
        let answer = match result {
            Ok(inserted) => {
                tracing::debug!(
                    deliveries = ids.len(),
                    inserted,
                    "Committed webhook deliveries"
                );
                if inserted > 0 {
                    wake.notify_one();
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(deliveries = ids.len(), error = %e, hint = e.hint(), "Cannot queue webhook deliveries; answering 503 so Chat2Desk retries");
                Err(CommitError::Store(Arc::new(e)))
            }
        };
        for p in batch.drain(..) {
            let _ = p.done.send(answer.clone());
        }
    }
}
