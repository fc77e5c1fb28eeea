//! `store migrate`: from one node on SQLite to several on MySQL/MariaDB; `store backup`: an
//! online copy of the SQLite state.

use crate::config::{database_url_problems, Config, Secret};
use crate::store::{Location, Store, LEADER};
use chrono::Utc;
use std::path::Path;

/// Copies the SQLite state of `config` into the empty MySQL/MariaDB database at `to`, then
/// says what to change on the nodes. Refuses while the daemon still beats on the file.
pub async fn store_migrate(config: &Config, to: &str) -> anyhow::Result<()> {
    if config.database.url.is_some() {
        anyhow::bail!(
            "[database] url is set: this node already keeps its state in MySQL/MariaDB; \
             `store migrate` copies the SQLite file of [database] path (remove url to name it)"
        );
    }
    if let Some(problem) = database_url_problems(to).into_iter().next() {
        anyhow::bail!("--to: {}", problem.message);
    }
    let node = &config.node.name;
    let source = Store::connect(&Location::Sqlite(config.database.path.clone()), node)
        .await
        .map_err(|e| anyhow::anyhow!("[database] path: {e} ({})", e.hint()))?;
    // A running daemon holds (and renews) the leader lease; a stopped one gave it up.
    if let Some((holder, _, until)) = source.lease_holder(LEADER, Utc::now()).await? {
        anyhow::bail!(
            "node {holder} is running on {} (its leader lease lasts until {}): stop the daemon \
             first (systemctl stop chat2desk-b24), then copy",
            source.name(),
            until.format("%H:%M:%S UTC")
        );
    }
    let target = Store::connect(&Location::MySql(Secret::new(to)), node)
        .await
        .map_err(|e| anyhow::anyhow!("--to: {e} ({})", e.hint()))?;
    println!("Copying {} into {} …", source.name(), target.name());
    let report = source
        .copy_into(&target)
        .await
        .map_err(|e| anyhow::anyhow!("{e} ({})", e.hint()))?;
    for (table, rows) in &report.tables {
        println!("  {table:<16} {rows} row(s)");
    }
    println!(
        "Done. On every node: set [database] url = \"{}\" (with the password, or url_file) \
         instead of path, give each node its own [node] name, and start them.",
        target.name()
    );
    source.close().await;
    target.close().await;
    Ok(())
}

/// Copies the SQLite state of `config` into the new file `file` while the daemon runs
/// (consistent: one read transaction); a daemon whose [database] path names the copy starts
/// from it. For MySQL/MariaDB it says to use `mariadb-dump --single-transaction`.
pub async fn store_backup(config: &Config, file: &Path) -> anyhow::Result<()> {
    if config.database.url.is_some() {
        anyhow::bail!(
            "[database] url is set: back the MySQL/MariaDB state up with \
             `mariadb-dump --single-transaction <database> > FILE` (online and consistent)"
        );
    }
    if file.exists() {
        anyhow::bail!(
            "{}: the file exists; name a new file (the backup never overwrites one)",
            file.display()
        );
    }
    let source = Store::connect(
        &Location::Sqlite(config.database.path.clone()),
        &config.node.name,
    )
    .await
    .map_err(|e| anyhow::anyhow!("[database] path: {e} ({})", e.hint()))?;
    let copied = source.backup_into(file).await;
    source.close().await;
    copied.map_err(|e| anyhow::anyhow!("{e} ({})", e.hint()))?;
    println!(
        "Copied {} into {} (to restore: stop the daemon, put the copy at [database] path, start it)",
        source.name(),
        file.display()
    );
    Ok(())
}
