//! `store migrate`: copies a SQLite state (queue, watermarks, candidates, client claims and
//! records, and whatever tables later migrations add) into an empty MySQL/MariaDB database,
//! in one transaction.
//!
//! The copy is generic over tables and columns: every table of the SQLite file except
//! SQLite's own, the migration ledger and the liveness tables (`nodes`, `leases`) is copied
//! row by row, column by column, into the table of the same name that the target's own
//! migrations made. So a table added by a later migration is copied without a change here,
//! as long as both backends got it.

use std::collections::BTreeMap;

use sqlx::sqlite::SqliteRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::{bind_args, Arg, Cause, Pool, Store, StoreError};

/// Tables that are not state: each node registers itself again where it runs.
const NOT_COPIED: &[&str] = &["_sqlx_migrations", "nodes", "leases"];
/// Rows read and inserted at once.
const PAGE: i64 = 500;

/// What `store migrate` copied: rows per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Table name → rows copied.
    pub tables: BTreeMap<String, u64>,
}

impl Store {
    /// Copies every state table of this SQLite store into `target`, a MySQL/MariaDB store
    /// whose tables are all empty (else [`Cause::NotEmpty`], and nothing is written). All or
    /// nothing: one transaction on the target.
    pub async fn copy_into(&self, target: &Store) -> Result<CopyReport, StoreError> {
        let fail = self.err_of("store migrate");
        let target_fail = target.err_of("store migrate");
        let (Pool::Sqlite(source), Pool::MySql(dest)) = (&self.pool, &target.pool) else {
            return Err(StoreError::new(
                "store migrate",
                target.backend(),
                target.name(),
                Cause::NoTwin {
                    table: format!(
                        "(copies go from SQLite to MySQL; got {} to {})",
                        self.backend().as_str(),
                        target.backend().as_str()
                    ),
                },
            ));
        };
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .fetch_all(source)
        .await
        .map_err(&fail)?;
        let tables: Vec<String> = tables
            .into_iter()
            .filter(|t| !NOT_COPIED.contains(&t.as_str()))
            .collect();

        // Every table must exist in the target and be empty before anything is written.
        for table in &tables {
            let exists: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?",
            )
            .bind(table)
            .fetch_one(dest)
            .await
            .map_err(&target_fail)?;
            if exists == 0 {
                return Err(target.err_of("store migrate")(Cause::NoTwin {
                    table: table.clone(),
                }));
            }
            let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM `{table}`"))
                .fetch_one(dest)
                .await
                .map_err(&target_fail)?;
            if rows > 0 {
                return Err(target.err_of("store migrate")(Cause::NotEmpty {
                    table: table.clone(),
                }));
            }
        }

        let mut report = CopyReport::default();
        let mut tx = dest.begin().await.map_err(&target_fail)?;
        for table in &tables {
            let mut after = i64::MIN;
            let mut copied = 0u64;
            loop {
                let rows: Vec<SqliteRow> = sqlx::query(&format!(
                    "SELECT rowid AS _copy_rowid, * FROM \"{table}\" \
                     WHERE rowid > ? ORDER BY rowid LIMIT ?"
                ))
                .bind(after)
                .bind(PAGE)
                .fetch_all(source)
                .await
                .map_err(&fail)?;
                let Some(last) = rows.last() else { break };
                after = last.try_get("_copy_rowid").map_err(&fail)?;
                let columns: Vec<String> = last
                    .columns()
                    .iter()
                    .skip(1)
                    .map(|c| c.name().to_string())
                    .collect();
                let mut args = Vec::with_capacity(rows.len() * columns.len());
                for row in &rows {
                    for i in 1..=columns.len() {
                        args.push(value(row, i).map_err(&fail)?);
                    }
                }
                let one = format!("({})", vec!["?"; columns.len()].join(", "));
                let sql = format!(
                    "INSERT INTO `{table}` ({}) VALUES {}",
                    columns
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    vec![one; rows.len()].join(", ")
                );
                bind_args!(sqlx::query(&sql), args)
                    .execute(&mut *tx)
                    .await
                    .map_err(&target_fail)?;
                copied += rows.len() as u64;
            }
            report.tables.insert(table.clone(), copied);
        }
        tx.commit().await.map_err(&target_fail)?;
        Ok(report)
    }
}

/// Column `i` of a SQLite row as a bind value, by the stored value's own type.
fn value(row: &SqliteRow, i: usize) -> Result<Arg, sqlx::Error> {
    let raw = row.try_get_raw(i)?;
    if raw.is_null() {
        return Ok(Arg::NullInt);
    }
    let kind = raw.type_info().name().to_string();
    match kind.as_str() {
        "INTEGER" | "BOOLEAN" => Ok(Arg::Int(row.try_get(i)?)),
        "TEXT" => Ok(Arg::Text(row.try_get(i)?)),
        other => Err(sqlx::Error::Decode(
            format!(
                "column {} holds a {other} value, which the copy does not handle",
                row.column(i).name()
            )
            .into(),
        )),
    }
}
