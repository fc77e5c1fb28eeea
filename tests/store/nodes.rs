//! Two nodes sharing one database: jobs held by node, the leader lease, the node list, the
//! app grant's rotation and the send budget across nodes.

use std::time::Duration;

use super::backend::Fixture;
use chat2desk_b24::store::{Cause, Intake, JobKind, JobState, LEADER};
use chrono::Utc;
use serde_json::json;

use super::{later, now, LEASE};

pub(crate) async fn a_restarted_node_takes_back_only_its_own_jobs(db: Fixture) {
    let a = db.store.clone();
    let b = db.reopen_as("node-b").await;
    a.enqueue_many(JobKind::TRANSCRIPT, &[1, 2], Intake::Poll)
        .await
        .unwrap();
    let mine = a.claim(Utc::now(), LEASE, 1).await.unwrap().remove(0);
    let theirs = b.claim(Utc::now(), LEASE, 1).await.unwrap().remove(0);
    assert_eq!(mine.node.as_deref(), Some(a.node()));
    assert_eq!(theirs.node.as_deref(), Some("node-b"));

    // Node a is killed and starts again under its name: its job comes back at once, node
    // b's job stays with b.
    let a = db.reopen().await;
    assert_eq!(a.recover_running().await.unwrap(), 1);
    let job = a.job(JobKind::TRANSCRIPT, mine.key).await.unwrap().unwrap();
    assert_eq!((job.state, job.runs), (JobState::Pending, 1));
    let job = a
        .job(JobKind::TRANSCRIPT, theirs.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.node.as_deref(), Some("node-b"));
}

pub(crate) async fn a_node_cannot_write_to_a_job_another_node_holds(db: Fixture) {
    let a = db.store.clone();
    let b = db.reopen_as("node-b").await;
    a.enqueue(JobKind::TRANSCRIPT, 9, Intake::Webhook)
        .await
        .unwrap();
    let t0 = now();
    let job = a.claim(t0, LEASE, 1).await.unwrap().remove(0);
    let wrong = |e: chat2desk_b24::store::StoreError| matches!(e.cause(), Cause::WrongState { .. });
    assert!(wrong(b.complete(job.id, &json!({})).await.unwrap_err()));
    assert!(wrong(
        b.save_steps(job.id, &json!({"x": 1}), later(30))
            .await
            .unwrap_err()
    ));
    assert!(wrong(b.fail(job.id, "e", later(1)).await.unwrap_err()));
    assert!(!b.extend_lease(job.id, later(60)).await.unwrap());
    assert!(a
        .extend_lease(job.id, t0 + chrono::Duration::seconds(30))
        .await
        .unwrap());

    // Node a dies; when its lease ends, b takes the job over from a's checkpoint.
    a.save_steps(
        job.id,
        &json!({"entity": ["lead", 5]}),
        t0 + chrono::Duration::seconds(30),
    )
    .await
    .unwrap();
    assert!(b
        .claim(t0 + chrono::Duration::seconds(29), LEASE, 1)
        .await
        .unwrap()
        .is_empty());
    let taken = b
        .claim(t0 + chrono::Duration::seconds(31), LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(taken.id, job.id);
    assert_eq!(taken.runs, 2);
    assert_eq!(taken.node.as_deref(), Some("node-b"));
    assert_eq!(taken.steps, json!({"entity": ["lead", 5]}));
    // The old holder, back from a stall, can no longer touch it.
    assert!(!a.extend_lease(job.id, later(60)).await.unwrap());
    assert!(wrong(a.complete(job.id, &json!({})).await.unwrap_err()));
    b.complete(job.id, &json!({"done": true})).await.unwrap();
}

pub(crate) async fn the_leader_lease_has_one_holder_and_passes_on_when_it_ends(db: Fixture) {
    let a = db.store.clone();
    let b = db.reopen_as("node-b").await;
    a.register_node("1.0").await.unwrap();
    b.register_node("1.0").await.unwrap();
    let lease = Duration::from_secs(15);
    let t0 = now();
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    assert!(a.try_lease(LEADER, t0, lease).await.unwrap());
    assert!(!b.try_lease(LEADER, at(1), lease).await.unwrap());
    // Renewing keeps `since` and moves the end.
    assert!(a.try_lease(LEADER, at(5), lease).await.unwrap());
    assert_eq!(
        a.lease_holder(LEADER, t0).await.unwrap(),
        Some((a.node().to_string(), t0, at(20)))
    );
    let nodes = b.nodes().await.unwrap();
    assert_eq!(nodes.len(), 2);
    let leading: Vec<&str> = nodes
        .iter()
        .filter(|n| n.leads_until.is_some())
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(leading, vec![a.node()]);
    assert!(nodes.iter().all(|n| n.version == "1.0"));

    // a stops renewing: b takes over only once the lease has ended.
    assert!(!b.try_lease(LEADER, at(20), lease).await.unwrap());
    assert!(b.try_lease(LEADER, at(21), lease).await.unwrap());
    assert_eq!(
        b.lease_holder(LEADER, at(21)).await.unwrap(),
        Some(("node-b".to_string(), at(21), at(36)))
    );
    assert!(!a.try_lease(LEADER, at(22), lease).await.unwrap());
    // A clean stop gives it up: a takes it at once.
    b.release_lease(LEADER).await.unwrap();
    assert!(a.try_lease(LEADER, at(23), lease).await.unwrap());
    // Releasing a lease one does not hold changes nothing.
    b.release_lease(LEADER).await.unwrap();
    assert!(!b.try_lease(LEADER, at(24), lease).await.unwrap());
}

pub(crate) async fn heartbeats_and_restarts_show_in_the_node_list(db: Fixture) {
    let a = db.store.clone();
    a.register_node("0.9").await.unwrap();
    let first = a.nodes().await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.heartbeat().await.unwrap();
    let beat = a.nodes().await.unwrap().remove(0);
    assert_eq!(beat.started_at, first.started_at);
    assert!(beat.heartbeat_at > first.heartbeat_at);
    // Restarted with a new version: started again.
    tokio::time::sleep(Duration::from_millis(20)).await;
    a.register_node("1.0").await.unwrap();
    let again = a.nodes().await.unwrap().remove(0);
    assert!(again.started_at > first.started_at);
    assert_eq!(
        (again.name.as_str(), again.version.as_str()),
        (a.node(), "1.0")
    );
    assert_eq!(again.leads_until, None);
}

pub(crate) async fn the_app_grant_rotates_once_when_two_nodes_refresh_at_once(db: Fixture) {
    use chat2desk_b24::config::Secret;
    use chat2desk_b24::store::{Grant, RefreshFailure, Rotated, Rotation};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let a = db.store.clone();
    let b = db.reopen_as("node-b").await;
    let grant = Grant {
        access_token: Secret::new("access-1"),
        refresh_token: Secret::new("refresh-1"),
        expires_at: now(),
        member_id: "m1".into(),
        user_id: 1,
        user_name: "Админ".into(),
        scopes: vec!["imconnector".into(), "imopenlines".into()],
        authorized_at: now(),
        refreshed_at: None,
        revoked: None,
    };
    a.save_grant(&grant).await.unwrap();
    assert_eq!(b.grant().await.unwrap(), Some(grant.clone()));
    let refreshes = AtomicUsize::new(0);
    let refresh = |old: Secret| {
        let refreshes = &refreshes;
        async move {
            assert_eq!(old.expose(), "refresh-1");
            refreshes.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, RefreshFailure<()>>(Rotated {
                access_token: Secret::new("access-2"),
                refresh_token: Secret::new("refresh-2"),
                expires_at: later(3600),
            })
        }
    };
    let failed = Secret::new("access-1");
    let (ra, rb) = tokio::join!(
        a.rotate_grant(&failed, refresh),
        b.rotate_grant(&failed, refresh)
    );
    let outcomes = [ra.unwrap().unwrap().unwrap(), rb.unwrap().unwrap().unwrap()];
    assert_eq!(
        refreshes.load(Ordering::SeqCst),
        1,
        "one refresh for both nodes"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Rotation::AlreadyRotated(_)))
            .count(),
        1
    );
    let stored = a.grant().await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.expose(), "refresh-2");
    assert!(stored.refreshed_at.is_some());
    // One-use authorisation states, at most `cap` unused ones, expired ones purged.
    assert!(a.add_oauth_state("st-1", later(-60), 2).await.unwrap());
    assert!(a.add_oauth_state("st-2", later(-60), 2).await.unwrap());
    assert!(!b.add_oauth_state("st-3", later(-60), 2).await.unwrap());
    assert!(b.take_oauth_state("st-1", later(-60)).await.unwrap());
    assert!(!a.take_oauth_state("st-1", later(-60)).await.unwrap());
    assert!(!a.take_oauth_state("st-3", later(-60)).await.unwrap());
    assert!(b.add_oauth_state("st-3", later(-60), 2).await.unwrap());
    // Once every stored state is older than `since`, they are dropped and room is made.
    assert!(a.add_oauth_state("st-4", later(60), 1).await.unwrap());
    assert!(!a.take_oauth_state("st-2", later(-60)).await.unwrap());
}

pub(crate) async fn sends_are_queued_once_and_the_write_first_budget_holds_across_nodes(
    db: Fixture,
) {
    let a = db.store.clone();
    let b = db.reopen_as("node-b").await;
    let payload = json!({"channel": 1, "text": "Здравствуйте"});
    let first = a
        .enqueue_send("tok-1", &payload, Intake::Bizproc)
        .await
        .unwrap();
    let again = b
        .enqueue_send("tok-1", &payload, Intake::Bizproc)
        .await
        .unwrap();
    assert!(first.new && !again.new);
    assert_eq!(first.send_id, again.send_id);
    assert_eq!(b.send_payload(first.send_id).await.unwrap(), Some(payload));
    let job = b
        .claim_one(JobKind::SEND, first.send_id, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.node.as_deref(), Some("node-b"));
    assert!(a
        .claim_one(JobKind::SEND, first.send_id, LEASE)
        .await
        .unwrap()
        .is_none());
    // Two places a day; four sends on two nodes race for them.
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            a.enqueue_send(&format!("race-{i}"), &json!({}), Intake::Bizproc)
                .await
                .unwrap()
                .send_id,
        );
    }
    let (r0, r1, r2, r3) = tokio::join!(
        a.take_write_first(ids[0], "2026-12-01", 2),
        b.take_write_first(ids[1], "2026-12-01", 2),
        a.take_write_first(ids[2], "2026-12-01", 2),
        b.take_write_first(ids[3], "2026-12-01", 2)
    );
    let taken = [r0, r1, r2, r3]
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(taken, 2, "never more than the day's budget");
    // A send that holds a place keeps it.
    let holder = ids[0];
    let held = a.take_write_first(holder, "2026-12-01", 2).await.unwrap();
    assert_eq!(
        held,
        b.take_write_first(holder, "2026-12-01", 2).await.unwrap()
    );
}
