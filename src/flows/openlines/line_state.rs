//! What the daemon remembers about its lines across restarts (the state database's `meta`):
//! the lines it set the connector up on (so a line taken out of `[[openlines.lines]]` is
//! switched off), the lines it switched off, and the lines a portal administrator disconnected (not set up again until
//! `chat2desk-b24 openlines --reconnect <line>`).

use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// `meta` key: the lines the connector is active on, as the daemon set it up (JSON list).
const SET_UP: &str = "openlines.set_up_lines";
/// `meta` key: the lines the daemon switched off because the config no longer names them.
const SWITCHED_OFF: &str = "openlines.switched_off_lines";
/// `meta` key: the lines disconnected on the portal (JSON map line → [`Disconnect`]).
const DISCONNECTED: &str = "openlines.disconnected_lines";

/// A line an administrator disconnected on the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnect {
    /// When the daemon read the portal's event.
    pub at: DateTime<Utc>,
    /// The event (`OnImConnectorStatusDelete` or `OnImConnectorLineDelete`).
    pub event: String,
}

/// The lines the daemon last set the connector up on.
pub async fn set_up_lines(store: &Store) -> Result<BTreeSet<i64>, StoreError> {
    Ok(read(store, SET_UP).await?.unwrap_or_default())
}

/// Remembers the lines the connector is now set up on.
pub async fn remember_set_up(store: &Store, lines: &BTreeSet<i64>) -> Result<(), StoreError> {
    write(store, SET_UP, lines).await
}

/// The lines the daemon switched off because the config no longer names them.
pub async fn switched_off(store: &Store) -> Result<BTreeSet<i64>, StoreError> {
    Ok(read(store, SWITCHED_OFF).await?.unwrap_or_default())
}

/// Remembers the lines switched off because the config no longer names them.
pub async fn remember_switched_off(store: &Store, lines: &BTreeSet<i64>) -> Result<(), StoreError> {
    write(store, SWITCHED_OFF, lines).await
}

/// The lines disconnected on the portal, with when and how.
pub async fn disconnected(store: &Store) -> Result<BTreeMap<i64, Disconnect>, StoreError> {
    Ok(read(store, DISCONNECTED).await?.unwrap_or_default())
}

/// True when `line` was disconnected on the portal.
pub async fn is_disconnected(store: &Store, line: i64) -> Result<bool, StoreError> {
    Ok(disconnected(store).await?.contains_key(&line))
}

/// Records that `line` was disconnected by `event` (the first record stays); the line is no
/// longer set up. Returns true when it is new.
pub async fn mark_disconnected(store: &Store, line: i64, event: &str) -> Result<bool, StoreError> {
    let mut all = disconnected(store).await?;
    if all.contains_key(&line) {
        return Ok(false);
    }
    all.insert(
        line,
        Disconnect {
            at: Utc::now(),
            event: event.to_string(),
        },
    );
    write(store, DISCONNECTED, &all).await?;
    let mut set_up = set_up_lines(store).await?;
    if set_up.remove(&line) {
        remember_set_up(store, &set_up).await?;
    }
    Ok(true)
}

/// Forgets that `line` was disconnected (the next start or SIGHUP sets it up again).
/// Returns false when it was not marked.
pub async fn reconnect(store: &Store, line: i64) -> Result<bool, StoreError> {
    let mut all = disconnected(store).await?;
    if all.remove(&line).is_none() {
        return Ok(false);
    }
    write(store, DISCONNECTED, &all).await?;
    Ok(true)
}

async fn read<T: serde::de::DeserializeOwned>(
    store: &Store,
    key: &str,
) -> Result<Option<T>, StoreError> {
    // An unreadable value (written by a newer version) counts as absent.
    Ok(store
        .meta(key)
        .await?
        .and_then(|v| serde_json::from_str(&v).ok()))
}

async fn write<T: Serialize>(store: &Store, key: &str, value: &T) -> Result<(), StoreError> {
    let text = serde_json::to_string(value).expect("line state serialises");
    store.set_meta(key, &text).await
}
