//! `[[crm.fields]]` and `[[crm.tag_rules]]` against the portal's `crm.<type>.fields`: `check`
//! names the rule whose field is missing or of the wrong type, or whose value fits no item.

mod common;

use chat2desk_b24::config::{FieldRule, Integration, TagRef, TagRule};
use common::{command, output, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_rule_of_a_missing_field_a_wrong_type_and_a_misfit_value() {
    let env = Env::new().await;
    env.portal
        .add_user_field("lead", "UF_CRM_SIZE", "enumeration", &["S", "M"]);
    env.portal
        .add_user_field("lead", "UF_CRM_SCAN", "file", &[]);
    let file = env.write_config(
        "lead",
        r#"
[[crm.fields]]
from = "client.custom_fields.size"
to = "UF_CRM_SIZE"

[[crm.fields]]
from = "client.custom_fields.scan"
to = "UF_CRM_SCAN"

[[crm.fields]]
from = "client.custom_fields.city"
to = "UF_CRM_CITY"

[[crm.tag_rules]]
tag = "VIP"
set = { UF_CRM_SIZE = "xl", OPENED = "Y" }
"#,
    );
    let (out, text) = output(command(&file, &["check"]));
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains(
            "ok   crm.fields[0].to: UF_CRM_SIZE is a field of the lead of type enumeration"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "FAIL crm.fields[1].to: UF_CRM_SCAN of the lead is of type file (crm.lead.fields)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "FAIL crm.fields[2].to: UF_CRM_CITY is not a field of the lead (crm.lead.fields)"
        ),
        "{text}"
    );
    assert!(
        text.contains("FAIL crm.tag_rules[0].set.UF_CRM_SIZE: \"xl\" does not fit UF_CRM_SIZE of the lead: no list item has it (items: S, M)"),
        "{text}"
    );
    assert!(
        text.contains("ok   crm.tag_rules[0].set.OPENED: \"Y\" fits OPENED of the lead"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_value_goes_as_its_item_id_and_a_misfit_is_noted_once_and_the_transcript_written() {
    let env = Env::new().await;
    env.portal
        .add_user_field("lead", "UF_CRM_SIZE", "enumeration", &["S", "M"]);
    env.portal
        .add_user_field("lead", "UF_CRM_SUM", "double", &[]);
    let vip = env.c2d.add_tag("VIP");
    let mut config = env.config(Integration::Lead);
    config.crm.tag_rules = vec![TagRule {
        tag: TagRef::Label("VIP".into()),
        set: [("UF_CRM_SIZE".to_string(), " m ".to_string())].into(),
    }];
    // A name is no number: it does not fit UF_CRM_SUM, on create and on every update.
    config.crm.fields = vec![FieldRule {
        from: "client.name".into(),
        to: "UF_CRM_SUM".into(),
        update: true,
    }];
    let d = env.daemon(config).await;
    let client = env
        .c2d
        .add_client("Анна", Some("79001110201"), "whatsapp", env.s.channel);
    env.c2d.tag_client(client, vip);
    let mut portal_requests = Vec::new();
    let mut requests = Vec::new();
    for text in ["Здравствуйте", "Ещё вопрос"] {
        env.c2d.client_says(client, text);
        requests.push(env.c2d.close_request(client));
        d.poller.poll_once().await.expect("poll");
        let before = env.portal.http_requests();
        d.worker.run_until_idle().await;
        portal_requests.push(env.portal.http_requests() - before);
    }

    let (kind, id) = env.entity_of(requests[0]);
    assert_eq!(kind, "lead");
    assert_eq!(env.entity_of(requests[1]), (kind, id), "the same lead");
    let lead = env.portal.lead(id).unwrap();
    assert_eq!(lead["UF_CRM_SIZE"], "1002", "M's item id: {lead:#}");
    assert!(
        lead.get("UF_CRM_SUM")
            .is_none_or(|v| v.is_null() || v == ""),
        "{lead:#}"
    );
    let notes: Vec<String> = env
        .portal
        .comments()
        .into_iter()
        .filter(|c| c.entity_id == id && c.text.contains("UF_CRM_SUM"))
        .map(|c| c.text)
        .collect();
    assert_eq!(notes.len(), 1, "noted once for two requests: {notes:#?}");
    assert!(notes[0].contains("crm.fields[0]"), "{}", notes[0]);
    assert!(notes[0].contains("«Анна»"), "{}", notes[0]);
    assert!(notes[0].contains("поле типа double"), "{}", notes[0]);
    let reads = env.portal.calls_by_method();
    assert_eq!(
        reads.get("crm.lead.fields"),
        Some(&1),
        "read once: {reads:?}"
    );
    println!("portal HTTP requests per transcript: {portal_requests:?}");
}
