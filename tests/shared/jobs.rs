//! The jobs a daemon's SQLite state holds, read straight from the file, for tests that watch
//! a running daemon's queue (`#[path = "shared/jobs.rs"] mod jobs;`).

use std::path::Path;

/// `(state, last_error)` of every job of `kind` in the SQLite state at `db`, in id order.
pub async fn jobs_of(db: &Path, kind: &str) -> Vec<(String, Option<String>)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT state, last_error FROM jobs WHERE kind = ? ORDER BY id")
            .bind(kind)
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows
}
