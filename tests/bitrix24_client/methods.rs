//! The typed methods decode the portal's answers.

use chat2desk_b24::portal::EntityType;
use serde_json::json;

use super::portal;

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
