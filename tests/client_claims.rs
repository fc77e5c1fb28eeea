//! Single flight per client at the store level, on both backends (a real SQLite file, a real
//! MariaDB server): a claim is all or nothing, in force only while its job runs with a live
//! lease, random interleavings of two jobs of one person never let both hold the client, and
//! two nodes racing for one client's keys never both get it.

#[path = "common/backend.rs"]
mod backend;

use backend::Fixture;
use chat2desk_b24::store::{ClaimAttempt, ClientKey, ClientRecord, Intake, JobKind, Store};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use proptest::prelude::*;
use std::sync::OnceLock;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(30);

fn at(base: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    base + ChronoDuration::seconds(secs)
}

/// Enqueues and claims `n` jobs at `now`; their row ids in claim order.
async fn running_jobs(store: &Store, n: i64, now: DateTime<Utc>) -> Vec<i64> {
    for key in 0..n {
        store
            .enqueue(JobKind::TRANSCRIPT, 1000 + key, Intake::Poll)
            .await
            .unwrap();
    }
    let jobs = store.claim(now, LEASE, n as usize).await.unwrap();
    jobs.iter().map(|j| j.id).collect()
}

fn person(client: i64) -> Vec<ClientKey> {
    vec![
        ClientKey::phone("+79161234567"),
        ClientKey::chat2desk(client),
    ]
}

async fn a_claim_is_all_or_nothing_and_blocks_only_while_its_job_runs(db: Fixture) {
    let store = db.store.clone();
    let t0 = Utc::now() + ChronoDuration::seconds(1);
    let ids = running_jobs(&store, 3, t0).await;
    let (a, b, c) = (ids[0], ids[1], ids[2]);

    assert_eq!(
        store.try_claim_clients(a, &person(1), t0).await.unwrap(),
        ClaimAttempt::Taken
    );
    // B shares the phone: refused, and its own key (c2d:2) was not taken either.
    assert_eq!(
        store.try_claim_clients(b, &person(2), t0).await.unwrap(),
        ClaimAttempt::HeldBy(a)
    );
    assert_eq!(
        store
            .try_claim_clients(c, &[ClientKey::chat2desk(2)], t0)
            .await
            .unwrap(),
        ClaimAttempt::Taken,
        "a refused claim takes nothing"
    );
    store.release_clients(c).await.unwrap();
    // Taking it again is idempotent for the holder.
    assert_eq!(
        store.try_claim_clients(a, &person(1), t0).await.unwrap(),
        ClaimAttempt::Taken
    );

    // A's lease runs out (its process died): the claim no longer blocks.
    let after_lease = at(t0, 31);
    assert_eq!(
        store
            .try_claim_clients(b, &person(2), after_lease)
            .await
            .unwrap(),
        ClaimAttempt::Taken
    );
    // B finishes: its claim ends with its run even without a release.
    store.complete(b, &serde_json::json!({})).await.unwrap();
    assert_eq!(
        store.try_claim_clients(c, &person(3), t0).await.unwrap(),
        ClaimAttempt::Taken
    );
}

async fn a_restart_hands_back_the_dead_process_claims_at_once(db: Fixture) {
    let store = db.store.clone();
    let t0 = Utc::now() + ChronoDuration::seconds(1);
    let ids = running_jobs(&store, 2, t0).await;
    store
        .try_claim_clients(ids[0], &person(1), t0)
        .await
        .unwrap();
    // The process is killed; the next start recovers its running jobs.
    assert_eq!(store.recover_running().await.unwrap(), 2);
    let again = store.claim(t0, LEASE, 2).await.unwrap();
    let (first, second) = (again[0].id, again[1].id);
    assert_eq!(
        store
            .try_claim_clients(first, &person(9), t0)
            .await
            .unwrap(),
        ClaimAttempt::Taken,
        "no stale claim of the killed process blocks the client"
    );
    assert_eq!(
        store
            .try_claim_clients(second, &person(8), t0)
            .await
            .unwrap(),
        ClaimAttempt::HeldBy(first),
        "the new run's claim is in force"
    );
}

async fn records_are_saved_with_the_checkpoint_and_read_newest_first(db: Fixture) {
    let store = db.store.clone();
    let t0 = Utc::now() + ChronoDuration::seconds(1);
    let ids = running_jobs(&store, 1, t0).await;
    let keys = person(5);
    store
        .remember_clients(
            &keys,
            &[ClientRecord {
                scope: "crm.origin:5",
                id: 5,
            }],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .save_client_records(
            ids[0],
            &serde_json::json!({"entity": 42}),
            at(t0, 60),
            &keys,
            &[ClientRecord {
                scope: "crm.lead",
                id: 42,
            }],
        )
        .await
        .unwrap();
    // Another job of the person knows it only by the phone.
    let seen = store
        .client_records(&[ClientKey::phone("+79161234567")], at(t0, -1))
        .await
        .unwrap();
    let scopes: Vec<(&str, i64)> = seen.iter().map(|r| (r.scope.as_str(), r.id)).collect();
    assert_eq!(scopes, vec![("crm.lead", 42), ("crm.origin:5", 5)]);
    let job = store.job(JobKind::TRANSCRIPT, 1000).await.unwrap().unwrap();
    assert_eq!(job.steps, serde_json::json!({"entity": 42}));
    // Older than the window: not used.
    let none = store.client_records(&keys, at(t0, 3600)).await.unwrap();
    assert!(none.is_empty());
}

/// One step of two jobs of one person (A: phone + c2d:1, B: phone + c2d:2).
#[derive(Debug, Clone)]
enum Step {
    /// The queue hands out a due job.
    ClaimJob,
    /// Job 0 or 1 tries to take its client.
    TakeClient(usize),
    /// It lets go.
    Release(usize),
    /// It fails and goes back to pending.
    Fail(usize),
    /// Time passes (seconds).
    Advance(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::ClaimJob),
        (0..2usize).prop_map(Step::TakeClient),
        (0..2usize).prop_map(Step::Release),
        (0..2usize).prop_map(Step::Fail),
        (1..40i64).prop_map(Step::Advance),
    ]
}

/// What the test expects of one job.
#[derive(Debug, Clone, Copy, Default)]
struct Model {
    running: bool,
    lease_until: i64,
    holds: bool,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

async fn interleave(store: &Store, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let base = Utc::now() + ChronoDuration::seconds(1);
    for key in [1, 2] {
        store
            .enqueue(JobKind::TRANSCRIPT, key, Intake::Poll)
            .await
            .unwrap();
    }
    let ids = [
        store.job(JobKind::TRANSCRIPT, 1).await.unwrap().unwrap().id,
        store.job(JobKind::TRANSCRIPT, 2).await.unwrap().unwrap().id,
    ];
    let mut model = [Model::default(); 2];
    let mut t = 0i64;
    let lease = LEASE.as_secs() as i64;
    for step in steps {
        let now = at(base, t);
        match step {
            Step::ClaimJob => {
                for job in store.claim(now, LEASE, 1).await.unwrap() {
                    let i = ids.iter().position(|id| *id == job.id).unwrap();
                    prop_assert!(
                        !model[i].running || model[i].lease_until < t,
                        "only pending or expired jobs are handed out"
                    );
                    model[i].running = true;
                    model[i].lease_until = t + lease;
                }
            }
            Step::TakeClient(i) => {
                if !model[i].running || model[i].lease_until < t {
                    continue; // only a job that runs takes its client
                }
                let other = 1 - i;
                let blocked =
                    model[other].holds && model[other].running && model[other].lease_until >= t;
                let got = store
                    .try_claim_clients(ids[i], &person(i as i64 + 1), now)
                    .await
                    .unwrap();
                if blocked {
                    prop_assert_eq!(got, ClaimAttempt::HeldBy(ids[other]));
                } else {
                    prop_assert_eq!(got, ClaimAttempt::Taken);
                    model[i].holds = true;
                    // Taking over the shared phone key ends the other's hold on it.
                    model[other].holds = false;
                }
            }
            Step::Release(i) => {
                store.release_clients(ids[i]).await.unwrap();
                model[i].holds = false;
            }
            Step::Fail(i) => {
                if model[i].running {
                    store.fail(ids[i], "test", now).await.unwrap();
                    model[i].running = false;
                }
            }
            Step::Advance(secs) => t += secs,
        }
        // Never two jobs in force on the person at once.
        let in_force = model
            .iter()
            .filter(|m| m.holds && m.running && m.lease_until >= t)
            .count();
        prop_assert!(in_force <= 1);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn two_jobs_of_one_person_never_hold_the_client_together(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        runtime().block_on(async {
            let db = Fixture::sqlite().await;
            interleave(&db.store, steps).await
        })?;
    }
}

/// The same property on each backend, a dozen generated cases (no shrinking), each on a
/// fresh database.
async fn interleavings_of_two_jobs_hold(db: Fixture) {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = proptest::collection::vec(step(), 1..40);
    for _ in 0..12 {
        let steps = strategy.new_tree(&mut runner).unwrap().current();
        let fresh = db.sibling().await;
        if let Err(e) = interleave(&fresh.store, steps.clone()).await {
            panic!("{e} for {steps:?}");
        }
    }
}

/// Two nodes (two pools, two node names) race for the keys of one person many times: each
/// time exactly one of them gets the client.
async fn two_nodes_racing_for_one_client_never_both_get_it(db: Fixture) {
    let a = db.store.clone();
    let b = db.reopen_as("node-b").await;
    for round in 0..20i64 {
        let key_a = 10_000 + 2 * round;
        a.enqueue(JobKind::TRANSCRIPT, key_a, Intake::Poll)
            .await
            .unwrap();
        b.enqueue(JobKind::TRANSCRIPT, key_a + 1, Intake::Poll)
            .await
            .unwrap();
        let t0 = Utc::now() + ChronoDuration::seconds(1);
        let ja = a.claim(t0, LEASE, 1).await.unwrap().remove(0).id;
        let jb = b.claim(t0, LEASE, 1).await.unwrap().remove(0).id;
        // A new phone each round: the first claim on a key that does not exist yet.
        let phone = format!("+7916{round:07}");
        let keys_a = vec![ClientKey::phone(&phone), ClientKey::chat2desk(round)];
        let keys_b = vec![ClientKey::chat2desk(1000 + round), ClientKey::phone(&phone)];
        let (ra, rb) = tokio::join!(
            a.try_claim_clients(ja, &keys_a, t0),
            b.try_claim_clients(jb, &keys_b, t0)
        );
        let outcomes = (ra.unwrap(), rb.unwrap());
        assert!(
            matches!(
                outcomes,
                (ClaimAttempt::Taken, ClaimAttempt::HeldBy(h)) if h == ja
            ) || matches!(
                outcomes,
                (ClaimAttempt::HeldBy(h), ClaimAttempt::Taken) if h == jb
            ),
            "round {round}: exactly one node gets the client: {outcomes:?}"
        );
        a.complete(ja, &serde_json::json!({})).await.unwrap();
        b.complete(jb, &serde_json::json!({})).await.unwrap();
    }
}

async fn jobs_of_one_chain_run_one_at_a_time_in_the_order_queued(db: Fixture) {
    let store = db.store.clone();
    for (key, chain) in [(1, "chat:7"), (2, "chat:7"), (3, "chat:8"), (4, "chat:7")] {
        assert!(store
            .enqueue_in_chain(JobKind::TRANSCRIPT, key, Intake::Webhook, chain)
            .await
            .unwrap());
    }
    store
        .enqueue(JobKind::TRANSCRIPT, 5, Intake::Poll)
        .await
        .unwrap();
    let t = Utc::now() + ChronoDuration::seconds(1);
    let keys = |jobs: Vec<chat2desk_b24::store::Job>| {
        let mut k: Vec<i64> = jobs.iter().map(|j| j.key).collect();
        k.sort_unstable();
        k
    };
    // One head per chain, plus the unchained job; a second node finds nothing more.
    let first = store.claim(t, LEASE, 10).await.unwrap();
    let ids: Vec<i64> = first.iter().map(|j| j.id).collect();
    assert_eq!(keys(first), vec![1, 3, 5]);
    assert!(store.claim(t, LEASE, 10).await.unwrap().is_empty());
    let other = db.reopen_as("node-b").await;
    assert!(other.claim(t, LEASE, 10).await.unwrap().is_empty());
    // The head fails: the chain waits for its retry, it does not skip ahead.
    store.fail(ids[0], "portal down", t).await.unwrap();
    assert_eq!(keys(store.claim(t, LEASE, 10).await.unwrap()), vec![1]);
    let head = store.job(JobKind::TRANSCRIPT, 1).await.unwrap().unwrap();
    store
        .complete(head.id, &serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!(keys(store.claim(t, LEASE, 10).await.unwrap()), vec![2]);
    // A dead head does not block the chain forever.
    let second = store.job(JobKind::TRANSCRIPT, 2).await.unwrap().unwrap();
    store.bury(second.id, "refused").await.unwrap();
    assert_eq!(keys(store.claim(t, LEASE, 10).await.unwrap()), vec![4]);
}

on_both_backends!(client_claims_on_mariadb:
    a_claim_is_all_or_nothing_and_blocks_only_while_its_job_runs,
    a_restart_hands_back_the_dead_process_claims_at_once,
    records_are_saved_with_the_checkpoint_and_read_newest_first,
    two_nodes_racing_for_one_client_never_both_get_it,
    interleavings_of_two_jobs_hold,
    jobs_of_one_chain_run_one_at_a_time_in_the_order_queued,
);
