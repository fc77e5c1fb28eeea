//! The Bitrix24 client against the simulated portal over real HTTP on loopback.

use chat2desk_b24::config::Secret;
use chat2desk_b24::http::Backoff;
use chat2desk_b24::portal::{
    Bitrix24, Bitrix24Options, BitrixError, EntityType, ErrorKind, IdOf, Lead, Round,
};
use chat2desk_b24::sim::bitrix24::PortalSim;
use chat2desk_b24::sim::faults::{FaultKind, Faults};
use chat2desk_b24::sim::http::{SimRequest, SimResponse, SimServer, SimService};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn options(webhook_url: &str) -> Bitrix24Options {
    Bitrix24Options {
        webhook_url: Secret::new(webhook_url),
        ca_file: None,
        requests_per_second: 0.0,
        burst: 50,
        timeout: Duration::from_millis(400),
        batch_linger: Duration::from_millis(40),
        max_retries: 4,
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(40)),
    }
}

async fn portal() -> (PortalSim, Bitrix24) {
    let sim = PortalSim::start().await.unwrap();
    let client = Bitrix24::new(options(&sim.webhook_url())).unwrap();
    (sim, client)
}

fn secret_of(sim: &PortalSim) -> String {
    sim.webhook_url()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

fn assert_no_secret(err: &BitrixError, secret: &str) {
    let shown = format!("{err} | {err:?} | {}", err.hint());
    assert!(!shown.contains(secret), "secret leaked: {shown}");
}

#[tokio::test]
async fn typed_methods_decode_the_portal_answers() {
    let (sim, client) = portal().await;
    let manager = sim.add_user("Ivan", "Petrov", "Ivan@Example.com", true);
    sim.add_user("Old", "Gone", "ivan@example.com", false);
    let lead = sim.add_lead("Chat", Some("+7 916 123-45-67"), "NEW", manager);
    let contact = sim.add_contact("Anna", Some("8 (903) 000-00-01"), manager);
    let deal = sim.add_deal("Order", contact, "WON", manager);

    let profile = client.profile().await.unwrap();
    assert_eq!(profile.id, 1);
    assert!(profile.admin);
    let scopes = client.scopes().await.unwrap();
    assert!(["crm", "user", "im"]
        .iter()
        .all(|s| scopes.iter().any(|g| g == s)));
    let statuses = client.statuses("STATUS").await.unwrap();
    let junk = statuses.iter().find(|s| s.status_id == "JUNK").unwrap();
    assert_eq!(junk.semantics.as_deref(), Some("F"));
    assert!(client
        .statuses("SOURCE")
        .await
        .unwrap()
        .iter()
        .any(|s| s.status_id == "OTHER"));

    assert_eq!(
        client
            .find_by_phone("8 (916) 123-45-67", EntityType::Lead)
            .await
            .unwrap(),
        vec![lead]
    );
    assert_eq!(
        client
            .find_by_phone("+79030000001", EntityType::Contact)
            .await
            .unwrap(),
        vec![contact]
    );
    assert!(client
        .find_by_phone("+79990000000", EntityType::Lead)
        .await
        .unwrap()
        .is_empty());

    let leads = client.leads(json!({"=STATUS_ID": "NEW"})).await.unwrap();
    assert_eq!(leads.len(), 1);
    assert_eq!(
        (leads[0].id, leads[0].assigned_by_id),
        (lead, Some(manager))
    );
    assert!(!leads[0].is_closed());
    client
        .lead_update(lead, json!({"STATUS_ID": "CONVERTED"}))
        .await
        .unwrap();
    let leads = client.leads(json!({"ID": lead})).await.unwrap();
    assert!(leads[0].is_closed());
    let new_lead = client
        .lead_add(
            json!({"TITLE": "New", "PHONE": [{"VALUE": "+79161112233", "VALUE_TYPE": "WORK"}]}),
        )
        .await
        .unwrap();
    assert_eq!(client.leads(json!({})).await.unwrap()[0].id, new_lead);

    let contacts = client.contacts(json!({"ID": contact})).await.unwrap();
    assert_eq!(contacts[0].name.as_deref(), Some("Anna"));
    let new_contact = client.contact_add(json!({"NAME": "Boris"})).await.unwrap();
    let deals = client.deals(json!({"CONTACT_ID": contact})).await.unwrap();
    assert_eq!(deals.len(), 1);
    assert_eq!(deals[0].id, deal);
    assert!(deals[0].closed);
    assert_eq!(deals[0].category_id, Some(0));
    let open = client
        .deal_add(json!({"TITLE": "Again", "CONTACT_ID": new_contact, "STAGE_ID": "NEW"}))
        .await
        .unwrap();
    let deals = client
        .deals(json!({"CONTACT_ID": new_contact}))
        .await
        .unwrap();
    assert_eq!((deals[0].id, deals[0].closed), (open, false));

    let first = client
        .comment_add(EntityType::Lead, lead, "  Transcript [c2d:1]  ")
        .await
        .unwrap();
    let second = client
        .comment_add(EntityType::Lead, lead, "Second")
        .await
        .unwrap();
    let page = client.comments(EntityType::Lead, lead, 0).await.unwrap();
    assert_eq!(page.total, Some(2));
    assert_eq!(page.next, None);
    assert_eq!(page.items[0].id, second);
    assert_eq!(page.items[1].id, first);
    assert_eq!(page.items[1].comment, "Transcript [c2d:1]");
    assert_eq!(page.items[1].entity_type, "lead");
    assert!(page.items[1]
        .created
        .as_deref()
        .unwrap()
        .ends_with("+03:00"));

    client.notify(manager, "Lead reopened").await.unwrap();
    assert_eq!(
        sim.notifications(),
        vec![(manager, "Lead reopened".to_string())]
    );
    assert_eq!(
        client.user(manager).await.unwrap().unwrap().name.as_deref(),
        Some("Ivan")
    );
    assert!(client.user(999).await.unwrap().is_none());
    let by_email = client.users_by_email("ivan@example.com").await.unwrap();
    assert_eq!(by_email.len(), 1);
    assert!(by_email[0].active && by_email[0].id == manager);

    for i in 0..60 {
        sim.add_lead(&format!("Bulk {i}"), None, "NEW", 1);
    }
    let page = client
        .call_list("crm.lead.list", json!({"start": 0}))
        .await
        .unwrap();
    assert_eq!(
        (page.items.len(), page.total, page.next),
        (50, Some(62), Some(50))
    );
}

#[tokio::test]
async fn sixty_concurrent_calls_go_out_as_two_batches() {
    let (sim, client) = portal().await;
    let lead = sim.add_lead("Chat", Some("+79161234567"), "NEW", 1);
    let calls = (0..60).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.find_by_phone("89161234567", EntityType::Lead).await })
    });
    for call in futures_util::future::join_all(calls).await {
        assert_eq!(call.unwrap().unwrap(), vec![lead]);
    }
    assert_eq!(sim.http_requests(), 2);
    assert_eq!(client.http_calls(), 2);
    assert_eq!(sim.calls_by_method()["crm.duplicate.findbycomm"], 60);
}

#[tokio::test]
async fn a_round_creates_a_contact_its_deal_and_a_comment_in_one_request() {
    let (sim, client) = portal().await;
    let mut round = Round::new();
    round.add(
        "contact",
        EntityType::Contact,
        json!({"NAME": "Анна", "PHONE": [{"VALUE": "+79161234567", "VALUE_TYPE": "MOBILE"}]}),
        None,
    );
    round.add(
        "deal",
        EntityType::Deal,
        json!({"TITLE": "Chat2Desk: Анна"}),
        Some(("CONTACT_ID", "contact")),
    );
    // A client who types a batch reference must not get another call's answer pasted in.
    let text = "Клиент: мой id $result[q00], итого $total[q01]";
    round.comment_add("comment", EntityType::Deal, IdOf::Call("deal"), text);
    let mut answers = client.round(round).await;
    let contact = answers.new_id("contact").unwrap();
    let deal = answers.new_id("deal").unwrap();
    let comment = answers.new_id("comment").unwrap();
    assert_eq!(sim.http_requests(), 1);
    let deals = sim.deals();
    let row = deals
        .iter()
        .find(|d| d["ID"] == json!(deal.to_string()))
        .unwrap();
    assert_eq!(row["CONTACT_ID"], json!(contact.to_string()));
    let stored = sim.comments();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, comment);
    assert_eq!(
        (stored[0].entity_type.as_str(), stored[0].entity_id),
        ("deal", deal)
    );
    assert_eq!(stored[0].text.replace('\u{200B}', ""), text);
}

#[tokio::test]
async fn a_linked_list_reads_the_rows_an_earlier_call_found() {
    let (sim, client) = portal().await;
    let old = sim.add_lead("Old", Some("+79161234567"), "NEW", 1);
    let new = sim.add_lead("New", Some("+7 916 123-45-67"), "JUNK", 1);
    sim.add_lead("Other", Some("+79990000000"), "NEW", 1);
    let mut round = Round::new();
    round.find_by_phone("found", "+79161234567", Some(EntityType::Lead));
    round.list_linked(
        "rows",
        EntityType::Lead,
        json!({}),
        "@ID",
        "found",
        "[LEAD]",
    );
    let mut answers = client.round(round).await;
    let mut ids = answers.found_ids("found", EntityType::Lead).unwrap();
    ids.sort_unstable();
    assert_eq!(ids, vec![old, new]);
    let rows: Vec<Lead> = answers.rows("rows").unwrap();
    let mut row_ids: Vec<i64> = rows.iter().map(|l| l.id).collect();
    row_ids.sort_unstable();
    assert_eq!(row_ids, vec![old, new]);
    assert!(rows.iter().find(|l| l.id == new).unwrap().is_closed());
    assert_eq!(sim.http_requests(), 1);
}

#[tokio::test]
async fn rounds_of_many_callers_share_batches_and_are_never_split() {
    let (sim, client) = portal().await;
    let lead = sim.add_lead("Chat", Some("+79161234567"), "NEW", 1);
    // 12 rounds of 7 calls: 84 calls, at most 7 rounds (49 calls) per batch.
    let rounds = (0..12).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut round = Round::new();
            for i in 0..7 {
                round.find_by_phone(&format!("f{i}"), "89161234567", Some(EntityType::Lead));
            }
            let mut answers = client.round(round).await;
            (0..7)
                .map(|i| {
                    answers
                        .found_ids(&format!("f{i}"), EntityType::Lead)
                        .unwrap()
                })
                .collect::<Vec<_>>()
        })
    });
    for answers in futures_util::future::join_all(rounds).await {
        assert_eq!(answers.unwrap(), vec![vec![lead]; 7]);
    }
    assert_eq!(sim.http_requests(), 2);
    assert_eq!(sim.calls_by_method()["crm.duplicate.findbycomm"], 84);
}

#[tokio::test]
async fn per_command_errors_reach_only_their_caller() {
    let (sim, client) = portal().await;
    let lead = sim.add_lead("Chat", None, "NEW", 1);
    let (added, orphan, empty, missing, profile) = tokio::join!(
        client.comment_add(EntityType::Lead, lead, "hello"),
        client.comment_add(EntityType::Deal, 4242, "nobody"),
        client.comment_add(EntityType::Lead, lead, "   "),
        client.call::<Value>("crm.lead.get", json!({"id": 999})),
        client.profile(),
    );
    assert!(added.unwrap() > 0);
    let orphan = orphan.unwrap_err();
    assert_eq!(orphan.kind(), ErrorKind::NotFound);
    assert_eq!(orphan.code(), Some("OWNER_NOT_FOUND"));
    assert_eq!(orphan.method(), "crm.timeline.comment.add");
    let empty = empty.unwrap_err();
    assert_eq!(empty.code(), Some("INVALID_ARG_VALUE"));
    assert_eq!(empty.kind(), ErrorKind::Business);
    assert!(!empty.is_transient());
    assert_eq!(missing.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(profile.unwrap().id, 1);
    assert_eq!(sim.http_requests(), 1);
    assert_eq!(sim.comments().len(), 1);
}

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

#[tokio::test]
async fn the_simulator_reads_form_and_query_parameters() {
    let sim = PortalSim::start().await.unwrap();
    let hook = sim.webhook_url();
    let http = reqwest::Client::new();
    sim.add_lead("First", None, "NEW", 1);
    sim.add_lead("Second", None, "JUNK", 1);

    let page: Value = http
        .get(format!("{hook}crm.lead.list.json?filter[%3EID]=1&select[]=ID&select[]=TITLE&select[]=STATUS_SEMANTIC_ID"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["result"][0]["TITLE"], "Second");
    assert_eq!(page["result"][0]["STATUS_SEMANTIC_ID"], "F");
    assert!(page["time"]["duration"].is_number());

    let added: Value = http
        .post(format!("{hook}crm.lead.add/"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("fields[TITLE]=Form%20lead&fields[PHONE][0][VALUE]=%2B79161234567&fields[PHONE][0][VALUE_TYPE]=WORK")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = added["result"].as_i64().unwrap();
    let got: Value = http
        .get(format!("{hook}crm.lead.get?id={id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["result"]["ID"], id.to_string());
    assert_eq!(got["result"]["PHONE"][0]["VALUE"], "+79161234567");
    assert_eq!(got["result"]["HAS_PHONE"], "Y");

    // Invalid JSON silently means "no parameters".
    let response = http
        .post(format!("{hook}crm.lead.add"))
        .header("Content-Type", "application/json; charset=utf-8")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // An unknown method is reported before the credentials are checked.
    let response = http
        .get(format!("{}/rest/1/wrong/crm.nope.list", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "ERROR_METHOD_NOT_FOUND");
}

#[tokio::test]
async fn the_simulator_batch_resolves_references_and_limits() {
    let sim = PortalSim::start().await.unwrap();
    let hook = sim.webhook_url();
    let http = reqwest::Client::new();
    let body = json!({"halt": 0, "cmd": {
        "a": "crm.lead.add?fields[TITLE]=Ref%20lead",
        "b": "crm.lead.get?id=$result[a]",
        "c": "crm.lead.get?id=999999",
        "d": "batch?cmd[x]=profile",
        "e": "crm.timeline.comment.add?fields[ENTITY_TYPE]=lead&fields[ENTITY_ID]=$result[a]&fields[COMMENT]=Lead%20$result[b][TITLE]",
    }});
    let answer: Value = http
        .post(format!("{hook}batch"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let result = &answer["result"];
    assert_eq!(result["result"]["b"]["TITLE"], "Ref lead");
    assert_eq!(result["result_error"]["c"]["error"], "");
    assert_eq!(
        result["result_error"]["c"]["error_description"],
        "Not found"
    );
    assert_eq!(
        result["result_error"]["d"]["error"],
        "ERROR_BATCH_METHOD_NOT_ALLOWED"
    );
    assert_eq!(result["result_next"], json!([]));
    assert_eq!(sim.comments()[0].text, "Lead Ref lead");

    // Written by hand: the portal runs sub-calls in the order of the request.
    let cmd: Vec<String> = (0..51).map(|i| format!("\"q{i}\":\"scope\"")).collect();
    let answer: Value = http
        .post(format!("{hook}batch"))
        .header("Content-Type", "application/json")
        .body(format!("{{\"cmd\":{{{}}}}}", cmd.join(",")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["result"]["result"].as_object().unwrap().len(), 50);
    assert_eq!(
        answer["result"]["result_error"]["q50"]["error"],
        "ERROR_BATCH_LENGTH_EXCEEDED"
    );
    assert_eq!(
        answer["result"]["result_error"].as_object().unwrap().len(),
        1
    );

    let halted: Value = http
        .post(format!("{hook}batch"))
        .json(&json!({"halt": 1, "cmd": {"a": "crm.deal.get?id=77", "b": "profile"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(halted["result"]["result"], json!([]));
    assert!(halted["result"]["result_error"]["a"].is_object());
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
