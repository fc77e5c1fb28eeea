//! Failures: rate limits retried, auth and scope errors fatal without the secret, a write never
//! repeated after an uncertain failure, reads retried, a moved portal followed.

use chat2desk_b24::portal::{Bitrix24, BitrixError, EntityType, ErrorKind};
use chat2desk_b24::sim::bitrix24::PortalSim;
use chat2desk_b24::sim::faults::{FaultKind, Faults};
use chat2desk_b24::sim::http::{SimRequest, SimResponse, SimServer, SimService};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

use super::{assert_no_secret, options, portal, secret_of};

#[tokio::test]
async fn rate_limit_answers_are_retried() {
    let (sim, client) = portal().await;
    sim.set_rate_limit(10.0, 1);
    for _ in 0..6 {
        client.profile().await.unwrap();
    }
    assert!(sim.rate_limit_rejections() > 0);
    assert_eq!(sim.calls_by_method()["profile"], 6);
    sim.faults()
        .script([FaultKind::RateLimit, FaultKind::RateLimit]);
    sim.set_rate_limit(0.0, 0);
    let lead = client
        .lead_add(json!({"TITLE": "after 503"}))
        .await
        .unwrap();
    assert!(lead > 0);
    assert_eq!(sim.leads().len(), 1);
}

#[tokio::test]
async fn auth_errors_are_fatal_and_never_show_the_secret() {
    let sim = PortalSim::start().await.unwrap();
    let secret = secret_of(&sim);
    let wrong = sim.webhook_url().replace(&secret, "0000wrongsecret0");
    let client = Bitrix24::new(options(&wrong)).unwrap();
    for status in [401, 403] {
        sim.set_auth_error_status(status);
        let before = sim.http_requests();
        let err = client.profile().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Auth);
        assert!(!err.is_transient());
        assert!(err.hint().contains("webhook_url"));
        assert!(matches!(err, BitrixError::Api { http_status, .. } if http_status == status));
        assert_eq!(
            sim.http_requests(),
            before + 1,
            "auth errors are not retried"
        );
        assert_no_secret(&err, "0000wrongsecret0");
    }
    let unknown = client
        .call::<Value>("crm.nothing.here", json!({}))
        .await
        .unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::MethodNotFound);

    let good = Bitrix24::new(options(&sim.webhook_url())).unwrap();
    assert_eq!(good.portal_url(), sim.base_url());
    assert!(!format!("{good:?}").contains(&secret));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/rest/1/{secret}/", closed.local_addr().unwrap());
    drop(closed);
    let mut opts = options(&dead_url);
    opts.max_retries = 1;
    let err = Bitrix24::new(opts).unwrap().profile().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_no_secret(&err, &secret);
}

#[tokio::test]
async fn missing_scope_is_reported_as_scope() {
    let (sim, client) = portal().await;
    sim.set_scopes(&["crm"]);
    let err = client.user(1).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Scope);
    assert!(err.hint().contains("scopes"));
    assert_eq!(sim.http_requests(), 1);
    assert_eq!(client.scopes().await.unwrap(), vec!["crm".to_string()]);
}

#[tokio::test]
async fn a_write_is_not_repeated_after_an_uncertain_failure() {
    let (sim, client) = portal().await;
    let lead = sim.add_lead("Chat", None, "NEW", 1);
    let secret = secret_of(&sim);

    // Timeout on a batch holding a comment and a read: the read is retried alone, the
    // comment's caller gets a transient error and nothing is sent twice.
    sim.faults().set_hang(Duration::from_millis(700));
    sim.faults().script([FaultKind::Timeout]);
    let (comment, leads) = tokio::join!(
        client.comment_add(EntityType::Lead, lead, "transcript"),
        client.leads(json!({"ID": lead})),
    );
    let err = comment.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(err.method(), "crm.timeline.comment.add");
    assert_no_secret(&err, &secret);
    assert_eq!(leads.unwrap().len(), 1);
    assert_eq!(sim.http_requests(), 2);
    assert!(sim.comments().is_empty());

    // The answer is cut after the portal stored the comment: exactly one comment remains.
    sim.faults().script([FaultKind::Truncated]);
    let err = client
        .comment_add(EntityType::Lead, lead, "transcript")
        .await
        .unwrap_err();
    assert!(err.is_transient());
    assert_eq!(sim.comments().len(), 1);
    assert_eq!(sim.http_requests(), 3);

    // A 500 on a write is not repeated either.
    sim.faults().script([FaultKind::ServerError]);
    assert!(client
        .lead_add(json!({"TITLE": "x"}))
        .await
        .unwrap_err()
        .is_transient());
    assert_eq!(sim.http_requests(), 4);
}

#[tokio::test]
async fn reads_are_retried_after_timeouts_and_garbage() {
    let (sim, client) = portal().await;
    sim.faults().set_hang(Duration::from_millis(700));
    sim.faults().script([FaultKind::Timeout]);
    assert_eq!(client.profile().await.unwrap().id, 1);
    assert_eq!(sim.http_requests(), 2);
    sim.faults().script([
        FaultKind::Malformed,
        FaultKind::BadGateway,
        FaultKind::Reset,
        FaultKind::Truncated,
    ]);
    assert_eq!(client.statuses("DEAL_STAGE").await.unwrap().len(), 8);
    assert_eq!(sim.http_requests(), 7);
}

/// An old portal address that answers every request with a 302 to the new one.
struct Moved(String);

impl SimService for Moved {
    fn handle(&self, req: SimRequest) -> SimResponse {
        let method = req.path.rsplit('/').next().unwrap_or("").to_string();
        let mut answer = SimResponse::text(302, "text/html", "moved");
        answer
            .headers
            .push(("location", format!("{}{method}", self.0)));
        answer
    }
    fn rate_limited(&self) -> SimResponse {
        SimResponse::text(429, "text/plain", "slow down")
    }
    fn server_error(&self) -> SimResponse {
        SimResponse::text(500, "text/plain", "error")
    }
}

#[tokio::test]
async fn a_moved_portal_is_followed_with_the_body_kept() {
    let sim = PortalSim::start().await.unwrap();
    let old = SimServer::start(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(Moved(sim.webhook_url())),
        Arc::new(Faults::default()),
    )
    .await
    .unwrap();
    let secret = secret_of(&sim);
    let client = Bitrix24::new(options(&format!("{}/rest/1/{secret}/", old.base_url()))).unwrap();
    let id = client.lead_add(json!({"TITLE": "Moved"})).await.unwrap();
    assert_eq!(sim.leads()[0]["ID"], id.to_string());
    assert_eq!(sim.leads()[0]["TITLE"], "Moved");
    assert_eq!(client.http_calls(), 1);
}
