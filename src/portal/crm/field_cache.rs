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

/// The cached catalog of `kind` on `portal`, while fresh.
fn fresh(portal: &Bitrix24, kind: EntityType) -> Option<Arc<FieldCatalog>> {
    let cached = catalogs().lock().expect("field catalogs");
    let (at, catalog) = cached.get(&(portal.portal_url(), kind))?;
    (at.elapsed() < FRESH_FOR).then(|| catalog.clone())
}

/// The fields of `kind` on `portal`: the cached catalog while fresh, else `crm.<type>.fields`.
pub async fn catalog(
    portal: &Bitrix24,
    kind: EntityType,
) -> Result<Arc<FieldCatalog>, BitrixError> {
    if let Some(catalog) = fresh(portal, kind) {
        return Ok(catalog);
    }
    let key = (portal.portal_url(), kind);
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
    let stale: Vec<EntityType> = kinds
        .iter()
        .copied()
        .filter(|k| fresh(portal, *k).is_none())
        .collect();
    let reads = stale.iter().map(|k| catalog(portal, *k));
    let _ = futures_util::future::join_all(reads).await;
}
