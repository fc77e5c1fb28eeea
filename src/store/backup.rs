//! `store backup`: an online, consistent copy of the SQLite state while the daemon runs.

use super::{Cause, Pool, Store, StoreError};
use std::path::Path;

impl Store {
    /// Writes a consistent copy of this SQLite store into the new file `file` with
    /// `VACUUM INTO` (one read transaction, so the daemon keeps working meanwhile; the copy
    /// is a plain SQLite file a daemon starts from). MySQL/MariaDB has no such copy here:
    /// `mariadb-dump --single-transaction` is its online backup.
    pub async fn backup_into(&self, file: &Path) -> Result<(), StoreError> {
        let fail = self.err_of("store backup");
        let Pool::Sqlite(pool) = &self.pool else {
            return Err(fail(Cause::Sql(sqlx::Error::Configuration(
                "a MySQL/MariaDB state is backed up with `mariadb-dump --single-transaction`"
                    .into(),
            ))));
        };
        sqlx::query("VACUUM INTO ?")
            .bind(file.to_string_lossy().into_owned())
            .execute(pool)
            .await
            .map_err(|e| fail(Cause::Sql(e)))?;
        Ok(())
    }
}
