//! What queuing one offline event's elements came to, for both kinds of line jobs an event
//! makes (`line_out` for replies, `line_close` for finished sessions).

use crate::store::{Bridged, JobKind, JobState, Store, StoreError};

/// How many of `queued` are new, or `None` when none is and the `kind` job of every one is
/// done: the portal handed the event out again (a new reservation, after a clear that
/// failed or came late) that no job will clear, so the reader clears it.
pub(super) async fn new_or_done(
    store: &Store,
    kind: &JobKind,
    queued: &[Bridged],
) -> Result<Option<usize>, StoreError> {
    let new = queued.iter().filter(|b| b.new).count();
    if new > 0 {
        return Ok(Some(new));
    }
    for b in queued {
        let job = store.job(kind.clone(), b.id).await?;
        if !job.is_some_and(|j| j.state == JobState::Done) {
            return Ok(Some(0));
        }
    }
    Ok(None)
}
