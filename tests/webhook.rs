//! The webhook intake over real TCP: Chat2Desk's own deliveries become one comment per
//! request, and a SIGKILLed binary loses no acknowledged delivery.

mod common;

use chat2desk_b24::config::PollStrategy;
use chat2desk_b24::store::{Intake, JobKind, JobState, Store};
use common::webhook::*;
use common::{wait_for, Env};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat2desk_close_events_become_one_comment_each_despite_repeats() {
    let env = Env::new().await;
    let run = Running::start(&env, |_| {}).await;
    // Register through the CLI code path, as a sysadmin would.
    chat2desk_b24::cli::webhook_set(
        run.daemon.config(),
        &run.daemon.services().chat2desk,
        &format!("http://{}", run.addr),
    )
    .await
    .expect("webhook set");
    // Running it again updates the same hook instead of adding one.
    chat2desk_b24::cli::webhook_set(
        run.daemon.config(),
        &run.daemon.services().chat2desk,
        &format!("http://{}/", run.addr),
    )
    .await
    .expect("webhook set again");
    let hooks = run.daemon.services().chat2desk.webhooks().await.unwrap();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(
        hooks[0].events,
        vec!["close_request", "close_dialog", "client_updated"]
    );

    // The simulator delivers close_request and close_dialog for each closing.
    let requests = chat2desk_b24::sim::scenario::converse(&env.c2d, &env.s);
    wait_for("one comment per request", || {
        requests.iter().all(|r| env.comments_for(*r).len() == 1)
    })
    .await;
    // Repeats and out-of-order deliveries of finished requests change nothing.
    let http = reqwest::Client::new();
    for r in requests.iter().rev() {
        for hook_type in ["close_dialog", "close_request", "close_request"] {
            let body = serde_json::json!({"hook_type": hook_type, "request_id": r});
            assert_eq!(post(&http, &run.hook(), body).await, 200);
        }
    }
    // The secret is never taken from the query string (proxies log it).
    let body = serde_json::json!({"hook_type": "close_request", "request_id": requests[0]});
    assert_eq!(
        post(&http, &run.url(&format!("/webhook?secret={SECRET}")), body).await,
        404
    );
    run.daemon.daemon().worker.run_until_idle().await;
    for r in &requests {
        assert_eq!(env.comments_for(*r).len(), 1, "request {r}");
        let job = run
            .store()
            .job(JobKind::TRANSCRIPT, *r)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((job.state, job.intake), (JobState::Done, Intake::Webhook));
    }
    assert!(env
        .c2d
        .webhook_deliveries()
        .iter()
        .all(|(_, status)| *status == 200));
    assert!(
        !log_text().contains(SECRET),
        "the secret never reaches the log"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_and_webhook_together_still_write_one_comment_per_request() {
    let env = Env::new().await;
    let run = Running::start(&env, |c| c.sync.poll_strategy = PollStrategy::Messages).await;
    chat2desk_b24::cli::webhook_set(
        run.daemon.config(),
        &run.daemon.services().chat2desk,
        &format!("http://{}", run.addr),
    )
    .await
    .unwrap();
    let requests = chat2desk_b24::sim::scenario::converse(&env.c2d, &env.s);
    wait_for("one comment per request", || {
        requests.iter().all(|r| env.comments_for(*r).len() == 1)
    })
    .await;
    // Let the poller see the same closings too.
    run.daemon.daemon().poller.poll_once().await.unwrap();
    run.daemon.daemon().worker.run_until_idle().await;
    for r in &requests {
        assert_eq!(env.comments_for(*r).len(), 1, "request {r}");
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_dialog_without_a_request_id_is_resolved_over_the_api() {
    let env = Env::new().await;
    let run = Running::start(&env, |_| {}).await;
    let client = env
        .c2d
        .add_client("Диалог", Some("79001112233"), "whatsapp", env.s.channel);
    env.c2d.client_says(client, "Здравствуйте");
    let request = env.c2d.close_request(client);
    let info = run
        .daemon
        .services()
        .chat2desk
        .request(request)
        .await
        .unwrap();
    let body =
        serde_json::json!({"hook_type": "close_dialog", "dialog_id": info.dialog_id.unwrap()});
    assert_eq!(post(&reqwest::Client::new(), &run.hook(), body).await, 200);
    wait_for("the dialog's request synced", || {
        env.comments_for(request).len() == 1
    })
    .await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_right_after_acknowledging_a_burst_loses_nothing() {
    let env = Env::new().await;
    // 50 closed requests the daemon has not seen (no hook registered in the simulator).
    let mut requests = Vec::new();
    for i in 0..50 {
        let c = env.c2d.add_client(
            &format!("Клиент {i}"),
            Some(&format!("7900{:07}", i)),
            "whatsapp",
            env.s.channel,
        );
        env.c2d.client_says(c, "Добрый день");
        requests.push(env.c2d.close_request(c));
    }
    // A slow portal keeps most jobs unfinished at the kill.
    env.portal.faults().set_latency(Duration::from_millis(30));
    let mut daemon = env.spawn_daemon("[sync]\npoll_strategy = \"off\"").await;
    let http = reqwest::Client::new();
    // 200 deliveries (each request four times), 16 at once.
    let hook = daemon.webhook_url();
    let bodies: Vec<serde_json::Value> = (0..4)
        .flat_map(|round| {
            requests.iter().map(move |r| {
                let kind = if round % 2 == 0 {
                    "close_request"
                } else {
                    "close_dialog"
                };
                serde_json::json!({"hook_type": kind, "request_id": r})
            })
        })
        .collect();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let queue = Arc::new(Mutex::new(bodies));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (http, hook, queue, acked) = (http.clone(), hook.clone(), queue.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let Some(body) = queue.lock().unwrap().pop() else {
                    return;
                };
                let status = http.post(&hook).json(&body).send().await.unwrap().status();
                assert_eq!(status, 200);
                acked
                    .lock()
                    .unwrap()
                    .push(body["request_id"].as_i64().unwrap());
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    daemon.kill9();
    let mut acked = acked.lock().unwrap().clone();
    acked.sort_unstable();
    acked.dedup();
    assert_eq!(acked.len(), requests.len());
    let store = Store::open(&env.db()).await.unwrap();
    for r in &acked {
        let job = store.job(JobKind::TRANSCRIPT, *r).await.unwrap();
        assert!(job.is_some(), "acknowledged request {r} is in the queue");
    }
    store.close().await;

    env.portal.faults().set_latency(Duration::ZERO);
    daemon.restart().await;
    env.wait_all_done(&acked).await;
    daemon.kill9();
    for r in &acked {
        assert_eq!(
            env.comments_for(*r).len(),
            1,
            "request {r} synced exactly once"
        );
    }
}
