//! The dispatcher: gathers concurrent calls (and whole rounds) into groups of at most
//! [`MAX_BATCH`], lingering longer while the portal is busy, and hands each group to its own task.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{execute, Pending, Shared, Unit, BUSY_CALLERS, BUSY_GAP, BUSY_LINGER, MAX_BATCH};
/// The dispatcher: gathers calls for up to `linger` ([`BUSY_LINGER`] while busy) after the
/// first one (and while a rate token or a free connection is awaited), at most
/// [`MAX_BATCH`], then hands the group to its own task. A round's
/// calls are never split: one that does not fit starts the next group.
pub(crate) async fn dispatch(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Unit>) {
    let mut carry: Option<Unit> = None;
    loop {
        let first = match carry.take() {
            Some(unit) => unit,
            None => match rx.recv().await {
                Some(unit) => unit,
                None => return,
            },
        };
        let mut gathering = Gathering {
            group: first,
            carry: None,
            closed: false,
        };
        let busy = shared.last_callers.load(Ordering::Relaxed) >= BUSY_CALLERS;
        let start = Instant::now();
        let until = start
            + if busy {
                shared.linger.max(BUSY_LINGER)
            } else {
                shared.linger
            };
        let mut last_arrival = start;
        while !gathering.full() {
            // While busy, a pause in the arrivals means every caller that was coming is in.
            let deadline = if busy {
                until.min(last_arrival + BUSY_GAP.max(shared.linger))
            } else {
                until
            };
            tokio::select! {
                biased;
                item = rx.recv() => {
                    gathering.accept(item);
                    last_arrival = Instant::now();
                }
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        {
            let acquire = shared.limiter.acquire();
            tokio::pin!(acquire);
            loop {
                if gathering.full() {
                    acquire.await;
                    break;
                }
                tokio::select! {
                    biased;
                    _ = &mut acquire => break,
                    item = rx.recv() => gathering.accept(item),
                }
            }
        }
        let permit = {
            let acquire = shared.in_flight.clone().acquire_owned();
            tokio::pin!(acquire);
            loop {
                if gathering.full() {
                    break acquire.await;
                }
                tokio::select! {
                    biased;
                    permit = &mut acquire => break permit,
                    item = rx.recv() => gathering.accept(item),
                }
            }
        }
        .expect("the in-flight semaphore is never closed");
        let Gathering {
            group,
            carry: next,
            closed,
        } = gathering;
        carry = next;
        shared
            .last_callers
            .store(callers(&group), Ordering::Relaxed);
        let shared = shared.clone();
        tokio::spawn(async move {
            execute(shared, group).await;
            drop(permit);
        });
        if closed && carry.is_none() {
            return;
        }
    }
}

/// The callers (single calls and rounds) of a group.
fn callers(group: &[Pending]) -> usize {
    let mut units: Vec<u64> = group.iter().map(|p| p.unit).collect();
    units.dedup();
    units.len()
}

/// The group being gathered by the dispatcher.
struct Gathering {
    group: Vec<Pending>,
    /// A round that did not fit: the first of the next group.
    carry: Option<Unit>,
    /// The channel closed (the client is gone).
    closed: bool,
}

impl Gathering {
    /// No more calls go into this group.
    fn full(&self) -> bool {
        self.group.len() >= MAX_BATCH || self.carry.is_some() || self.closed
    }

    fn accept(&mut self, item: Option<Unit>) {
        match item {
            Some(unit) if self.group.len() + unit.len() > MAX_BATCH => self.carry = Some(unit),
            Some(unit) => self.group.extend(unit),
            None => self.closed = true,
        }
    }
}
