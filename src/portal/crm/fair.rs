//! `[crm] responsible_pick`: which of `default_responsibles` gets a new entity of an
//! unmapped operator — a random one (the seed's way), each in turn (the turn drawn from the
//! state database, so nodes never give the same turn twice), or the one with the fewest open
//! leads/deals. Users the portal lists as inactive (or not at all) are skipped with a log
//! line. A pick never fails a transcript: when the portal or the database cannot answer, a
//! random default is taken and the reason logged.

use crate::config::{Integration, ResponsiblePick};
use crate::portal::{Bitrix24, BitrixError};
use crate::store::Store;
use futures_util::future::join_all;
use rand::seq::SliceRandom;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long the active users and the open counts are used before they are read again.
const CACHE_FOR: Duration = Duration::from_secs(60);
/// The store counter of the round robin.
const TURN: &str = "crm.responsible";

/// A value read from the portal, and when.
type Cached<T> = Mutex<Option<(Instant, T)>>;

/// The picker of `[crm] responsible_pick`.
#[derive(Debug)]
pub struct Fair {
    pick: ResponsiblePick,
    integration: Integration,
    active: Cached<HashSet<i64>>,
    open: Cached<HashMap<i64, u64>>,
}

impl Fair {
    /// A picker of `pick` for entities of `integration`.
    pub fn new(pick: ResponsiblePick, integration: Integration) -> Self {
        Self {
            pick,
            integration,
            active: Mutex::new(None),
            open: Mutex::new(None),
        }
    }

    /// One of `defaults`, `None` when it is empty.
    pub async fn choose(&self, portal: &Bitrix24, store: &Store, defaults: &[i64]) -> Option<i64> {
        let random = || defaults.choose(&mut rand::thread_rng()).copied();
        if self.pick == ResponsiblePick::Random || defaults.len() < 2 {
            return random();
        }
        let candidates = match self.active_among(portal, defaults).await {
            Ok(active) if !active.is_empty() => active,
            Ok(_) => {
                tracing::warn!(responsibles = ?defaults, "No user of crm.default_responsibles is active on the portal; a random one is taken (fix the list)");
                return random();
            }
            Err(e) => {
                tracing::warn!(portal_method = "user.get", error = %e, "Could not read the portal's active users for crm.responsible_pick; a random default responsible is taken");
                return random();
            }
        };
        match self.pick {
            ResponsiblePick::RoundRobin => match store.next_turn(TURN).await {
                Ok(turn) => Some(candidates[(turn % candidates.len() as u64) as usize]),
                Err(e) => {
                    tracing::warn!(error = %e, hint = e.hint(), "Could not draw the round-robin turn from the state database; a random default responsible is taken");
                    random()
                }
            },
            ResponsiblePick::LeastOpen => match self.open_counts(portal, &candidates).await {
                Ok(open) => candidates
                    .iter()
                    .min_by_key(|id| open.get(id).copied().unwrap_or(0))
                    .copied(),
                Err(e) => {
                    tracing::warn!(portal_method = self.list_method(), error = %e, "Could not count open entities for crm.responsible_pick = \"least_open\"; a random default responsible is taken");
                    random()
                }
            },
            ResponsiblePick::Random => random(),
        }
    }

    /// `defaults` in order without the users the portal does not list as active.
    async fn active_among(
        &self,
        portal: &Bitrix24,
        defaults: &[i64],
    ) -> Result<Vec<i64>, BitrixError> {
        let mut cached = self.active.lock().await;
        let fresh = cached.as_ref().filter(|(at, _)| at.elapsed() < CACHE_FOR);
        let active = match fresh {
            Some((_, active)) => active.clone(),
            None => {
                let users = portal.active_users().await?;
                let active: HashSet<i64> =
                    users.iter().filter(|u| u.active).map(|u| u.id).collect();
                for id in defaults.iter().filter(|id| !active.contains(id)) {
                    tracing::warn!(user_id = id, portal_method = "user.get", "A user of crm.default_responsibles is absent or deactivated on the portal: skipped for new entities");
                }
                *cached = Some((Instant::now(), active.clone()));
                active
            }
        };
        Ok(defaults
            .iter()
            .copied()
            .filter(|id| active.contains(id))
            .collect())
    }

    fn list_method(&self) -> &'static str {
        match self.integration {
            Integration::ContactDeal => "crm.deal.list",
            Integration::Lead | Integration::OpenlinesLead => "crm.lead.list",
        }
    }

    /// Open leads (or deals, for contact + deal) of each user, read at most once a minute;
    /// the counts go in one `batch` (the client joins concurrent calls).
    async fn open_counts(
        &self,
        portal: &Bitrix24,
        users: &[i64],
    ) -> Result<HashMap<i64, u64>, BitrixError> {
        let mut cached = self.open.lock().await;
        if let Some((at, open)) = cached.as_ref() {
            if at.elapsed() < CACHE_FOR && users.iter().all(|u| open.contains_key(u)) {
                return Ok(open.clone());
            }
        }
        let method = self.list_method();
        let calls = users.iter().map(|&user| {
            let filter = match self.integration {
                Integration::ContactDeal => json!({"ASSIGNED_BY_ID": user, "CLOSED": "N"}),
                _ => json!({"ASSIGNED_BY_ID": user, "STATUS_SEMANTIC_ID": "P"}),
            };
            let params = json!({"filter": filter, "select": ["ID"], "start": 0});
            async move {
                let page = portal.call_list(method, params).await?;
                let total = page.total.unwrap_or(page.items.len() as u64);
                Ok::<_, BitrixError>((user, total))
            }
        });
        let open: HashMap<i64, u64> = join_all(calls)
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        *cached = Some((Instant::now(), open.clone()));
        Ok(open)
    }
}
