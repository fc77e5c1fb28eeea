//! Who becomes responsible for a new entity: the portal user mapped to the Chat2Desk operator,
//! else the active portal user with the operator's e-mail, else one of the defaults picked
//! by `[crm] responsible_pick` (see `fair`).

use super::fair::Fair;
use crate::chat2desk::Operator;
use crate::config::{CrmConfig, OperatorRef};
use crate::portal::{Bitrix24, BitrixError};
use crate::store::Store;
use std::collections::HashMap;
use tokio::sync::Mutex;

/// Picks responsibles; remembers e-mail matches so each operator costs one `user.get` at most.
#[derive(Debug)]
pub struct Responsibles {
    by_id: HashMap<i64, i64>,
    by_email: HashMap<String, i64>,
    defaults: Vec<i64>,
    fair: Fair,
    matched: Mutex<HashMap<String, Option<i64>>>,
}

/// How a responsible was chosen (for logs and the `operators` command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// From `[[crm.operators]]`.
    Mapped(i64),
    /// An active portal user with the operator's e-mail.
    Matched(i64),
    /// One of `default_responsibles`, picked by `responsible_pick`.
    Default(i64),
}

impl Choice {
    /// The portal user id.
    pub fn user_id(self) -> i64 {
        match self {
            Choice::Mapped(id) | Choice::Matched(id) | Choice::Default(id) => id,
        }
    }
}

impl Responsibles {
    /// Builds the picker from `[crm]`.
    pub fn new(crm: &CrmConfig) -> Self {
        let mut by_id = HashMap::new();
        let mut by_email = HashMap::new();
        for m in &crm.operators {
            match &m.chat2desk {
                OperatorRef::Id(id) => {
                    by_id.insert(*id, m.bitrix24);
                }
                OperatorRef::Email(email) => {
                    by_email.insert(email.trim().to_lowercase(), m.bitrix24);
                }
            }
        }
        Self {
            by_id,
            by_email,
            defaults: crm.default_responsibles.clone(),
            fair: Fair::new(crm.responsible_pick, crm.integration),
            matched: Mutex::new(HashMap::new()),
        }
    }

    /// The mapped or e-mail-matched portal user of the operator with `id` (and `email`, when
    /// the operator is known to Chat2Desk), if any.
    pub async fn for_operator(
        &self,
        portal: &Bitrix24,
        id: i64,
        email: Option<&str>,
    ) -> Result<Option<Choice>, BitrixError> {
        if let Some(user) = self.by_id.get(&id) {
            return Ok(Some(Choice::Mapped(*user)));
        }
        let Some(email) = email.map(|e| e.trim().to_lowercase()) else {
            return Ok(None);
        };
        if email.is_empty() {
            return Ok(None);
        }
        if let Some(user) = self.by_email.get(&email) {
            return Ok(Some(Choice::Mapped(*user)));
        }
        let mut matched = self.matched.lock().await;
        if let Some(hit) = matched.get(&email) {
            return Ok(hit.map(Choice::Matched));
        }
        let users = portal.users_by_email(&email).await?;
        let hit = users
            .iter()
            .filter(|u| u.active)
            .find(|u| u.email.as_deref().map(|e| e.trim().to_lowercase()) == Some(email.clone()))
            .map(|u| u.id);
        matched.insert(email, hit);
        Ok(hit.map(Choice::Matched))
    }

    /// The responsible for a new entity of a request handled by `operator` (id, and the
    /// operator's record when Chat2Desk still knows it); `None` when nothing is configured.
    pub async fn pick(
        &self,
        portal: &Bitrix24,
        store: &Store,
        operator: Option<(i64, Option<&Operator>)>,
    ) -> Result<Option<Choice>, BitrixError> {
        if let Some((id, op)) = operator {
            let email = op.and_then(|o| o.email.as_deref());
            if let Some(choice) = self.for_operator(portal, id, email).await? {
                return Ok(Some(choice));
            }
        }
        Ok(self
            .fair
            .choose(portal, store, &self.defaults)
            .await
            .map(Choice::Default))
    }

    /// Forgets e-mail matches (after a reload, or when portal users changed).
    pub async fn forget_matches(&self) {
        self.matched.lock().await.clear();
    }
}
