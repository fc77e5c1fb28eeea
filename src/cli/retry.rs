//! `retry`: put a request (or every dead one) back in the queue.

use crate::store::{JobKind, Store};

/// Queues `request_id` again, or every dead job with `dead`.
pub async fn retry(store: &Store, request_id: Option<i64>, dead: bool) -> anyhow::Result<()> {
    if dead {
        let n = store.retry_dead().await?;
        println!("Queued {n} dead request(s) again; the running service retries them now.");
        return Ok(());
    }
    let id = request_id.expect("clap requires an id without --dead");
    if store.retry(JobKind::TRANSCRIPT, id).await? {
        println!("Queued request {id} again.");
        Ok(())
    } else {
        anyhow::bail!("request {id} is not in the queue (see `chat2desk-b24 status`); use `backfill` to find closed requests")
    }
}
