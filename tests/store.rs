//! The durable queue on both backends (a real SQLite file, a real MariaDB server):
//! idempotent intake, leases, transitions, poll bookkeeping, atomicity, what survives a
//! crash, and two nodes sharing one database (jobs held by node, the leader lease,
//! `store migrate`).

#[path = "common/backend.rs"]
mod backend;
#[path = "store/nodes.rs"]
mod nodes;
#[path = "store/open.rs"]
mod open;
#[path = "store/queue.rs"]
mod queue;
#[path = "store/scan.rs"]
mod scan;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub(crate) const LEASE: Duration = Duration::from_secs(30);

/// The current time at the store's precision (milliseconds), so it compares equal after a
/// round trip.
pub(crate) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap()
}

pub(crate) fn later(secs: i64) -> DateTime<Utc> {
    now() + chrono::Duration::seconds(secs)
}

// The cases of the files above, for `on_both_backends!`.
use nodes::*;
use queue::*;
use scan::*;

on_both_backends!(store_suite_on_mariadb:
    enqueue_is_idempotent_and_leaves_existing_jobs_alone,
    enqueue_many_counts_new_rows_and_is_all_or_nothing,
    claim_waits_for_next_attempt_and_takes_over_expired_leases,
    claim_takes_earliest_due_first_up_to_the_limit,
    concurrent_claimers_never_share_a_job,
    finishing_burying_and_retrying,
    recover_running_hands_jobs_of_a_dead_process_back_keeping_their_runs,
    save_steps_extends_the_lease_and_persists_across_reopen,
    committed_work_survives_a_crash,
    status_queries_report_lag_and_next_work,
    meta_stores_and_replaces_values,
    scan_then_promote_moves_candidates_to_jobs_with_the_cursor,
    scan_and_promote_are_all_or_nothing,
    a_restarted_node_takes_back_only_its_own_jobs,
    a_node_cannot_write_to_a_job_another_node_holds,
    the_leader_lease_has_one_holder_and_passes_on_when_it_ends,
    heartbeats_and_restarts_show_in_the_node_list,
    the_app_grant_rotates_once_when_two_nodes_refresh_at_once,
    sends_are_queued_once_and_the_write_first_budget_holds_across_nodes,
);
