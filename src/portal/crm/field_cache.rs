//! The field catalogs of the entity types, read once per process and portal and kept for
//! [`FRESH_FOR`], so the write rounds of transcripts cost no `crm.<type>.fields` request.

use super::fields::FieldCatalog;
use crate::portal::{Bitrix24, BitrixError, EntityType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a read catalog is used before it is read again (a field added on the portal
/// is seen at the latest this much later, or at the daemon's restart).
pub const FRESH_FOR: Duration = Duration::from_secs(10 * 60);

type Catalogs = HashMap<(String, EntityType), (Instant, Arc<FieldCatalog>)>;

fn catalogs() -> &'static Mutex<Catalogs> {
    static CATALOGS: OnceLock<Mutex<Catalogs>> = OnceLock::new();
    CATALOGS.get_or_init(Mutex::default)
}

/// The fields of `kind` on `portal`: the cached catalog while fresh, else `crm.<type>.fields`.
pub async fn catalog(
    portal: &Bitrix24,
    kind: EntityType,
) -> Result<Arc<FieldCatalog>, BitrixError> {
    let key = (portal.portal_url(), kind);
    if let Some((at, catalog)) = catalogs().lock().expect("field catalogs").get(&key) {
        if at.elapsed() < FRESH_FOR {
            return Ok(catalog.clone());
        }
    }
    let catalog = Arc::new(FieldCatalog::read(portal, kind).await?);
    catalogs()
        .lock()
        .expect("field catalogs")
        .insert(key, (Instant::now(), catalog.clone()));
    Ok(catalog)
}

/// Reads the catalogs of `kinds` that are not fresh, at the same time (so they ride in the
/// `batch` of the calls made with them); a failure is left to [`catalog`]'s next caller.
pub async fn prefetch(portal: &Bitrix24, kinds: &[EntityType]) {
    let stale: Vec<EntityType> = {
        let cached = catalogs().lock().expect("field catalogs");
        let url = portal.portal_url();
        kinds
            .iter()
            .copied()
            .filter(|k| {
                let fresh = cached.get(&(url.clone(), *k));
                !fresh.is_some_and(|(at, _)| at.elapsed() < FRESH_FOR)
            })
            .collect()
    };
    let reads = stale.iter().map(|k| catalog(portal, *k));
    let _ = futures_util::future::join_all(reads).await;
}
