//! Batching: concurrent calls share `batch` requests, a round's calls stay together and may
//! reference each other, and a command's error reaches only its caller.

use chat2desk_b24::portal::{EntityType, ErrorKind, IdOf, Lead, Round};
use serde_json::{json, Value};

use super::portal;

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
