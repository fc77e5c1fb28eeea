//! The round-robin turn of `responsible_pick = "round_robin"` on both backends: two nodes
//! drawing at once from one database (a SQLite file, a real MariaDB server) never get the
//! same turn, and the count survives a restart.

#[path = "common/backend.rs"]
mod backend;

use backend::Fixture;
use std::collections::BTreeSet;

/// Two nodes draw 40 turns each at the same time: 80 different numbers, 0..80.
async fn two_nodes_share_the_turns(fixture: Fixture) {
    let a = fixture.reopen_as("node-a").await;
    let b = fixture.reopen_as("node-b").await;
    let draw = |store: chat2desk_b24::store::Store| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..40 {
                got.push(store.next_turn("crm.responsible").await.unwrap());
            }
            got
        })
    };
    let (left, right) = (draw(a), draw(b));
    let mut all: Vec<u64> = left.await.unwrap();
    all.extend(right.await.unwrap());
    let distinct: BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 80, "a turn was given twice: {all:?}");
    assert_eq!(distinct, (0..80).collect());
    // A restarted node goes on where the others stopped.
    let restarted = fixture.reopen().await;
    assert_eq!(restarted.next_turn("crm.responsible").await.unwrap(), 80);
    assert_eq!(restarted.next_turn("another").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_nodes_never_draw_the_same_turn() {
    two_nodes_share_the_turns(Fixture::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_nodes_never_draw_the_same_turn() {
    let Some(server) = backend::mariadb::MariaDb::start() else {
        return;
    };
    two_nodes_share_the_turns(Fixture::mariadb(&server).await).await;
}
