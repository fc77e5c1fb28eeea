//! The local application's grant against the simulated portal and OAuth server over real
//! HTTP, with a real SQLite file: the authorisation code becomes stored tokens; an expired
//! access token is refreshed once (also when two processes hit the expiry together) and the
//! call goes through; a revoked grant is recorded with the fix; a webhook may not make
//! app-context calls.

use chat2desk_b24::config::{Bitrix24Config, Secret};
use chat2desk_b24::flows::openlines::{ensure_connector, ConnectorSpec, LineSetup, LineSpec};
use chat2desk_b24::portal::StoredGrant;
use chat2desk_b24::portal::{AppClient, Bitrix24, Bitrix24Options, OAuthClient};
use chat2desk_b24::sim::bitrix24::PortalSim;
use chat2desk_b24::store::{Grant, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const SCOPES: [&str; 4] = ["imopenlines", "imconnector", "im", "crm"];

struct Portal {
    sim: PortalSim,
    client_id: String,
    oauth: OAuthClient,
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
}

async fn portal() -> Portal {
    let sim = PortalSim::start().await.unwrap();
    let (client_id, secret) = sim.register_app("https://c2d.corp.lan/bitrix24/app", &SCOPES);
    let oauth = OAuthClient::new(
        &sim.oauth_url(),
        &client_id,
        &Secret::new(secret),
        Duration::from_secs(4),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    Portal {
        sim,
        client_id,
        oauth,
        _dir: dir,
        db,
    }
}

/// The admin's browser: `/oauth/authorize/` answers a redirect to the app's handler with a
/// code; the code is exchanged and the grant stored.
async fn connect(p: &Portal, store: &Store) -> Grant {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser
        .get(format!("{}/oauth/authorize/", p.sim.base_url()))
        .query(&[("client_id", p.client_id.as_str()), ("state", "st4te")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/bitrix24/app");
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st4te");
    assert_eq!(q["member_id"], p.sim.member_id());
    let tokens = p.oauth.exchange_code(&q["code"]).await.unwrap();
    let grant = Grant {
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
        expires_at: tokens.expires_at,
        member_id: tokens.member_id.unwrap_or_default(),
        user_id: tokens.user_id.unwrap_or_default(),
        user_name: "Admin Adminov".into(),
        scopes: tokens.scopes,
        authorized_at: chrono::Utc::now(),
        refreshed_at: None,
        revoked: None,
    };
    store.save_grant(&grant).await.unwrap();
    // A used code is gone.
    let again = p.oauth.exchange_code(&q["code"]).await.unwrap_err();
    assert!(again.is_revoked(), "{again}");
    grant
}

impl Portal {
    fn app(&self, store: &Store) -> AppClient {
        let keeper = Arc::new(StoredGrant::new(store.clone(), self.oauth.clone()));
        AppClient::new(
            reqwest::Client::new(),
            &self.sim.base_url(),
            Duration::from_secs(10),
            keeper,
        )
        .unwrap()
    }
}

#[tokio::test]
async fn the_code_becomes_a_stored_grant_for_app_context_calls() {
    let p = portal().await;
    let store = Store::open(&p.db).await.unwrap();
    let grant = connect(&p, &store).await;
    assert_eq!(grant.user_id, 1);
    assert_eq!(grant.scopes, SCOPES);
    let stored = store.grant().await.unwrap().unwrap();
    assert_eq!(
        (
            &stored.access_token,
            &stored.refresh_token,
            &stored.member_id,
            stored.user_id
        ),
        (
            &grant.access_token,
            &grant.refresh_token,
            &grant.member_id,
            grant.user_id
        )
    );
    assert_eq!(stored.expires_at.timestamp(), grant.expires_at.timestamp());
    // Secrets never print.
    assert!(!format!("{stored:?}").contains(grant.access_token.expose()));

    let app = p.app(&store);
    let profile = app.call("profile", json!({})).await.unwrap();
    assert_eq!(profile["ADMIN"], json!(true));
    let registered = app
        .call(
            "imconnector.register",
            json!({"ID": "chat2desk", "NAME": "Chat2Desk",
                   "ICON": {"DATA_IMAGE": "data:image/svg+xml,%3Csvg%2F%3E"},
                   "PLACEMENT_HANDLER": "https://c2d.corp.lan/bitrix24/connector"}),
        )
        .await
        .unwrap();
    assert_eq!(registered, json!({"result": true}));
    assert!(p.sim.connectors().contains_key("chat2desk"));
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_even_by_two_processes_at_once() {
    let p = portal().await;
    let store_a = Store::open(&p.db).await.unwrap();
    let store_b = Store::open(&p.db).await.unwrap();
    let old = connect(&p, &store_a).await;
    p.sim.expire_access_tokens();
    let (a, b) = (p.app(&store_a), p.app(&store_b));
    let (ra, rb) = tokio::join!(a.call("profile", json!({})), b.call("profile", json!({})));
    assert_eq!(ra.unwrap()["ID"], json!("1"));
    assert_eq!(rb.unwrap()["ID"], json!("1"));
    assert_eq!(
        p.sim.token_grants().get("refresh_token").copied(),
        Some(1),
        "one refresh for both processes"
    );
    let new = store_a.grant().await.unwrap().unwrap();
    assert_ne!(new.access_token, old.access_token);
    assert_ne!(new.refresh_token, old.refresh_token, "the pair rotated");
    assert!(new.refreshed_at.is_some());
    // A restart goes on with the stored tokens.
    drop((a, b));
    let store_c = Store::open(&p.db).await.unwrap();
    assert!(p.app(&store_c).call("profile", json!({})).await.is_ok());
}

#[tokio::test]
async fn a_revoked_grant_is_recorded_and_says_how_to_fix_it() {
    let p = portal().await;
    let store = Store::open(&p.db).await.unwrap();
    connect(&p, &store).await;
    p.sim.revoke_grants();
    let err = p
        .app(&store)
        .call("profile", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("/bitrix24/connect"), "{err}");
    let grant = store.grant().await.unwrap().unwrap();
    let (_, why) = grant.revoked.expect("marked revoked");
    assert!(why.contains("invalid_grant"), "{why}");
    // Later calls do not hammer the OAuth server.
    let before = p.sim.token_grants().get("refresh_token").copied();
    assert!(p.app(&store).call("profile", json!({})).await.is_err());
    assert_eq!(p.sim.token_grants().get("refresh_token").copied(), before);
}

#[tokio::test]
async fn a_webhook_may_not_call_app_only_methods_and_an_unconnected_app_says_so() {
    let p = portal().await;
    let webhook = Bitrix24::new(Bitrix24Options::from_config(&Bitrix24Config {
        webhook_url: Secret::new(p.sim.webhook_url()),
        requests_per_second: 0.0,
        ..Bitrix24Config::default()
    }))
    .unwrap();
    let err = webhook
        .call::<serde_json::Value>("event.offline.get", json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("WRONG_AUTH_TYPE"));
    let store = Store::open(&p.db).await.unwrap();
    let err = p
        .app(&store)
        .call("event.get", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not connected"), "{err}");
}

fn spec() -> ConnectorSpec {
    ConnectorSpec {
        id: "chat2desk".into(),
        placement_handler: "https://c2d.corp.lan/bitrix24/connector".into(),
        status_checks: 10,
        status_pause: Duration::from_millis(100),
    }
}

fn lines() -> Vec<LineSpec> {
    [3, 5]
        .into_iter()
        .map(|line| LineSpec {
            line,
            name: format!("Chat2Desk: линия {line}"),
            url: "https://web.chat2desk.com".into(),
        })
        .collect()
}

#[tokio::test]
async fn the_connector_is_registered_active_on_each_line_and_bound_idempotently() {
    let p = portal().await;
    // The portal saves a line's status a moment after `activate` answers.
    p.sim.set_status_delay(Duration::from_millis(250));
    let store = Store::open(&p.db).await.unwrap();
    connect(&p, &store).await;
    let app = p.app(&store);
    for round in 0..2 {
        let report = ensure_connector(&app, &spec(), &lines())
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(
            report,
            vec![
                LineSetup {
                    line: 3,
                    configured: true
                },
                LineSetup {
                    line: 5,
                    configured: true
                }
            ]
        );
    }
    assert!(p.sim.connectors().contains_key("chat2desk"));
    let active = p.sim.active_lines("chat2desk");
    assert_eq!(active.keys().copied().collect::<Vec<_>>(), vec![3, 5]);
    assert_eq!(active[&3]["NAME"], "Chat2Desk: линия 3");
    let bound = p.sim.offline_bindings();
    assert!(bound.contains(&("ONIMCONNECTORMESSAGEADD".into(), "chat2desk".into())));
    assert!(bound.contains(&("ONIMCONNECTORDIALOGFINISH".into(), "chat2desk".into())));
    assert_eq!(
        bound.len(),
        6,
        "every connector event the portal has: {bound:?}"
    );
}

#[tokio::test]
async fn a_non_admin_grant_cannot_bind_offline_events_and_is_told_why() {
    let p = portal().await;
    let manager = p.sim.add_user("Мария", "Менеджер", "m@example.ru", true);
    p.sim.set_browser_user(manager);
    let store = Store::open(&p.db).await.unwrap();
    connect(&p, &store).await;
    let err = ensure_connector(&p.app(&store), &spec(), &lines())
        .await
        .unwrap_err();
    assert_eq!(err.method, "event.bind");
    assert!(err.to_string().contains("administrator"), "{err}");
}
