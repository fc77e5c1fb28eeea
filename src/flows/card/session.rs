//! The tab's sessions: after the handler has checked the portal's form, the page's later
//! requests carry a session id and a CSRF token (both random, in headers a cross-site form
//! cannot set), bound to the user and the entity, valid no longer than the user's token
//! (`AUTH_EXPIRES`, at most [`MAX_TTL`]). Held in memory only: no token of the user is kept.

use super::tab::{TabEntity, TabUser};
use super::writer::Writer;
use crate::config::{constant_time_eq, random_token};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest a session lives (the portal's user tokens live an hour).
pub const MAX_TTL: Duration = Duration::from_secs(3600);
/// Most sessions held at once; the oldest goes first beyond it.
pub const MAX_SESSIONS: usize = 10_000;

/// One open tab.
#[derive(Debug, Clone)]
pub struct TabSession {
    /// Who opened it.
    pub user: TabUser,
    /// What it shows.
    pub entity: TabEntity,
    /// What its user may send.
    pub writer: Writer,
    /// The CSRF token the page sends back.
    pub csrf: String,
    expires: Instant,
}

/// Why a later request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefusal {
    /// No such session, or it expired: the tab must be opened again.
    Expired,
    /// The CSRF token is missing or wrong.
    Forged,
}

/// The open tabs.
#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, TabSession>>,
}

impl Sessions {
    /// Opens a session for `user` on `entity`, sending as `writer`, for `ttl` (capped at
    /// [`MAX_TTL`]); its id and CSRF token.
    pub fn open(&self, tab: (TabUser, TabEntity, Writer), ttl: Duration) -> (String, String) {
        let (user, entity, writer) = tab;
        let id = random_token();
        let csrf = random_token();
        let now = Instant::now();
        let session = TabSession {
            user,
            entity,
            writer,
            csrf: csrf.clone(),
            expires: now + ttl.min(MAX_TTL),
        };
        let mut open = self.open.lock().expect("sessions");
        open.retain(|_, s| s.expires > now);
        if open.len() >= MAX_SESSIONS {
            if let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            {
                open.remove(&oldest);
            }
        }
        open.insert(id.clone(), session);
        (id, csrf)
    }

    /// The session `id` when it is alive and `csrf` is its token.
    pub fn check(&self, id: &str, csrf: &str) -> Result<TabSession, SessionRefusal> {
        let open = self.open.lock().expect("sessions");
        let session = open
            .get(id)
            .filter(|s| s.expires > Instant::now())
            .ok_or(SessionRefusal::Expired)?;
        if csrf.is_empty() || !constant_time_eq(csrf.as_bytes(), session.csrf.as_bytes()) {
            return Err(SessionRefusal::Forged);
        }
        Ok(session.clone())
    }
}
