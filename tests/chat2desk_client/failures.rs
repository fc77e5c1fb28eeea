//! Failures: faults and rate limits retried, the request budget respected, auth errors and
//! missing objects typed, the token never shown, writes retried only when surely not processed.

use chat2desk_b24::chat2desk::{Chat2Desk, Chat2DeskError, Chat2DeskOptions, NewWebhook};
use chat2desk_b24::config::Secret;
use chat2desk_b24::http::Backoff;
use chat2desk_b24::sim::chat2desk::Chat2DeskSim;
use chat2desk_b24::sim::faults::FaultKind;
use std::time::Duration;

use super::{client, options};

#[tokio::test]
async fn every_fault_kind_is_retried_until_success() {
    let sim = Chat2DeskSim::start().await.unwrap();
    sim.faults().set_hang(Duration::from_millis(300));
    sim.faults().set_slow(Duration::from_millis(20));
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        timeout: Duration::from_millis(200),
        ..options(&sim)
    })
    .unwrap();
    for kind in FaultKind::ALL {
        let before = c2d.calls_made();
        // A slow answer is a success: script it once so it does not leak into the next case.
        let times = if kind == FaultKind::Slow { 1 } else { 2 };
        sim.faults().script(std::iter::repeat_n(kind, times));
        let info = c2d.api_info().await;
        assert!(info.is_ok(), "{kind:?}: {info:?}");
        let expected = if kind == FaultKind::Slow { 1 } else { 3 };
        assert_eq!(c2d.calls_made() - before, expected, "{kind:?}");
    }
}

#[tokio::test]
async fn retries_give_up_with_a_transient_error() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        max_retries: 2,
        ..options(&sim)
    })
    .unwrap();
    sim.faults().script([FaultKind::ServerError; 3]);
    let err = c2d.api_info().await.unwrap_err();
    assert!(
        matches!(err, Chat2DeskError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(c2d.calls_made(), 3);
    assert_eq!(err.endpoint(), Some("GET /v1/companies/api_info"));
}

#[tokio::test]
async fn rate_limit_answers_are_retried_in_both_dresses() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let c2d = client(&sim);
    sim.faults().script([FaultKind::RateLimit]);
    c2d.api_info().await.unwrap();
    assert_eq!(c2d.calls_made(), 2);

    sim.set_rate_limit_status(200);
    sim.faults()
        .script([FaultKind::RateLimit, FaultKind::RateLimit]);
    c2d.api_info().await.unwrap();
    assert_eq!(c2d.calls_made(), 5);
}

#[tokio::test]
async fn server_side_request_budget_is_respected_by_backing_off() {
    let sim = Chat2DeskSim::start().await.unwrap();
    sim.set_rate_limit(20.0, 2);
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        max_retries: 10,
        backoff: Backoff::new(Duration::from_millis(30), Duration::from_millis(120)),
        ..options(&sim)
    })
    .unwrap();
    for _ in 0..6 {
        c2d.api_info().await.unwrap();
    }
    assert!(c2d.calls_made() >= 6);
}

#[tokio::test]
async fn bad_token_is_an_auth_error_and_not_retried() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        token: Secret::new("wrong-token-value"),
        ..options(&sim)
    })
    .unwrap();
    let err = c2d.api_info().await.unwrap_err();
    assert!(matches!(err, Chat2DeskError::Auth { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(err.hint().contains("token"));
    assert_eq!(c2d.calls_made(), 1);
    assert_eq!(sim.api_calls(), 1);

    // The status is undocumented: a 200 with the auth text is the same error.
    sim.set_auth_status(200);
    let err = c2d.request(1).await.unwrap_err();
    assert!(matches!(err, Chat2DeskError::Auth { .. }), "{err:?}");
    assert_eq!(c2d.calls_made(), 2);
}

#[tokio::test]
async fn missing_objects_are_not_found() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let c2d = client(&sim);
    for err in [
        c2d.request(424242).await.unwrap_err(),
        c2d.client(424242).await.unwrap_err(),
        c2d.dialog(424242).await.unwrap_err(),
    ] {
        assert!(matches!(err, Chat2DeskError::NotFound { .. }), "{err:?}");
        assert!(!err.is_transient());
    }
    assert_eq!(c2d.calls_made(), 3);
}

#[tokio::test]
async fn the_token_never_appears_in_errors() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let token = sim.token();
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        max_retries: 0,
        ..options(&sim)
    })
    .unwrap();
    let mut errors = vec![c2d.request(1).await.unwrap_err()];
    for kind in [
        FaultKind::ServerError,
        FaultKind::BadGateway,
        FaultKind::Reset,
        FaultKind::Malformed,
        FaultKind::Truncated,
        FaultKind::RateLimit,
    ] {
        sim.faults().script([kind]);
        errors.push(c2d.api_info().await.unwrap_err());
    }
    let hook = NewWebhook {
        url: "http://127.0.0.1:9/hook".into(),
        name: "b24".into(),
        events: vec!["close_request".into()],
        channels: vec![],
    };
    c2d.create_webhook(&hook).await.unwrap();
    errors.push(c2d.create_webhook(&hook).await.unwrap_err());
    let wrong = Chat2Desk::new(Chat2DeskOptions {
        token: Secret::new(format!("{token}-x")),
        ..options(&sim)
    })
    .unwrap();
    errors.push(wrong.api_info().await.unwrap_err());
    let dead = Chat2Desk::new(Chat2DeskOptions {
        api_url: "http://127.0.0.1:9".into(),
        max_retries: 0,
        ..options(&sim)
    })
    .unwrap();
    errors.push(dead.api_info().await.unwrap_err());
    assert_eq!(errors.len(), 10);
    for e in &errors {
        let shown = format!("{e} {e:?} {}", e.hint());
        assert!(!shown.contains(&token), "{shown}");
    }
    assert!(!format!("{c2d:?}").contains(&token));
    assert!(matches!(errors[9], Chat2DeskError::Transport { .. }));
}

#[tokio::test]
async fn writes_are_retried_only_when_surely_not_processed() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let c2d = client(&sim);
    let hook = NewWebhook {
        url: "http://127.0.0.1:9/a".into(),
        name: "a".into(),
        events: vec!["close_request".into()],
        channels: vec![],
    };
    sim.faults().script([FaultKind::ServerError]);
    let err = c2d.create_webhook(&hook).await.unwrap_err();
    assert!(matches!(err, Chat2DeskError::Server { .. }), "{err:?}");
    assert_eq!(c2d.calls_made(), 1);

    sim.faults().script([FaultKind::RateLimit]);
    let id = c2d.create_webhook(&hook).await.unwrap();
    assert_eq!(c2d.calls_made(), 3);
    assert!(id > 0);

    let err = c2d.create_webhook(&hook).await.unwrap_err();
    match &err {
        Chat2DeskError::Api { message, .. } => assert_eq!(message, "This url is already used"),
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(c2d.calls_made(), 4);
}
