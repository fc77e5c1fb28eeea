//! Every endpoint decodes, lists are paged beyond 200 items, and every time format gives the
//! same instant.

use chat2desk_b24::chat2desk::{
    AttachmentKind, Chat2Desk, Chat2DeskOptions, DialogState, MessageKind, MessageQuery, Order,
};
use chat2desk_b24::sim::chat2desk::{Chat2DeskSim, TimeFormat};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{client, closed_conversation, options};

#[tokio::test]
async fn every_endpoint_decodes() {
    let sim = Chat2DeskSim::start().await.unwrap();
    sim.set_web_domain("https://web.chat2desk.com.mx");
    let (cl, op, request_id) = closed_conversation(&sim);
    let c2d = client(&sim);

    let info = c2d.api_info().await.unwrap();
    assert_eq!(info.domain_urls, vec!["https://web.chat2desk.com.mx"]);

    let request = c2d.request(request_id).await.unwrap();
    assert_eq!(request.client_id, Some(cl));
    assert_eq!(request.operator_id, Some(op));
    assert!(request.created.is_some() && request.closed.is_some());

    let messages = c2d.request_messages(request_id).await.unwrap();
    let kinds: Vec<MessageKind> = messages.iter().map(|m| m.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            MessageKind::FromClient,
            MessageKind::Autoreply,
            MessageKind::ToClient,
            MessageKind::ToClient,
            MessageKind::FromClient,
            MessageKind::System,
        ]
    );
    assert_eq!(messages[0].text.as_deref(), Some("Hello"));
    assert_eq!(messages[3].attachments[0].kind, AttachmentKind::Document);
    assert_eq!(messages[3].attachments[0].name, "offer.pdf");
    assert_eq!(messages[4].attachments[0].kind, AttachmentKind::File);
    assert_eq!(messages[4].attachments[0].name, "scan.png");
    assert!(messages.iter().all(|m| m.request_id == Some(request_id)));

    let client = c2d.client(cl).await.unwrap();
    assert_eq!(client.display_name(), Some("Peter"));
    assert_eq!(client.real_phone().as_deref(), Some("79050000000"));

    let operators = c2d.operators().await.unwrap();
    assert_eq!(operators.len(), 1);
    assert_eq!(operators[0].full_name(), "Anna Li");
    let channels = c2d.channels().await.unwrap();
    assert_eq!(channels[0].transports, vec!["whatsapp", "telegram"]);

    let dialog_id = request.dialog_id.unwrap();
    let dialog = c2d.dialog(dialog_id).await.unwrap();
    assert_eq!(dialog.state, Some(DialogState::Closed));
    assert_eq!(dialog.client_id(), Some(cl));
    assert!(dialog.end.is_some());
    let closed = c2d.dialogs(Some(DialogState::Closed), 0, 20).await.unwrap();
    assert_eq!(closed.total, Some(1));
    assert_eq!(closed.items[0].id, dialog_id);
    let open = c2d.dialogs(Some(DialogState::Open), 0, 20).await.unwrap();
    assert!(open.items.is_empty());

    let page = c2d
        .messages(&MessageQuery {
            dialog_id: Some(dialog_id),
            order: Some(Order::Desc),
            limit: 2,
            ..MessageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, Some(6));
    assert_eq!(page.items.len(), 2);
    assert!(page.items[0].id > page.items[1].id);
    assert!(page.has_more());
    let newer = c2d
        .messages(&MessageQuery {
            start_id: Some(messages[5].id),
            ..MessageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(newer.items.len(), 1);

    assert!(c2d.webhooks().await.unwrap().is_empty());
}

#[tokio::test]
async fn lists_are_paged_beyond_200_items() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let ch = sim.add_channel("Main", "79990000000", &["whatsapp"]);
    let cl = sim.add_client("Bulk", Some("79990000001"), "whatsapp", ch);
    for i in 0..450 {
        sim.client_says(cl, &format!("message {i}"));
    }
    for i in 0..250 {
        sim.add_operator("Op", &i.to_string(), &format!("op{i}@example.com"));
    }
    let request = sim.close_request(cl);
    let c2d = client(&sim);

    let messages = c2d.request_messages(request).await.unwrap();
    assert_eq!(messages.len(), 450);
    assert_eq!(messages[0].text.as_deref(), Some("message 0"));
    assert_eq!(messages[449].text.as_deref(), Some("message 449"));
    assert_eq!(c2d.calls_made(), 3, "200 + 200 + 50");

    assert_eq!(c2d.operators().await.unwrap().len(), 250);
    assert_eq!(c2d.calls_made(), 5);

    let page = c2d
        .messages(&MessageQuery {
            limit: 1000,
            offset: 400,
            ..MessageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (page.items.len(), page.limit, page.total),
        (50, 200, Some(450))
    );
    assert!(!page.has_more());
}

#[tokio::test]
async fn bare_request_messages_array_decodes() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let (_, _, request) = closed_conversation(&sim);
    sim.set_bare_request_messages(true);
    let messages = client(&sim).request_messages(request).await.unwrap();
    assert_eq!(messages.len(), 6);
    assert!(messages.iter().all(|m| m.created.is_some()));
}

#[tokio::test]
async fn every_time_format_decodes_to_the_same_instant() {
    let sim = Chat2DeskSim::start().await.unwrap();
    let moscow: Tz = "Europe/Moscow".parse().unwrap();
    sim.set_naive_timezone(moscow);
    let ch = sim.add_channel("Main", "79990000000", &["whatsapp"]);
    let cl = sim.add_client("Peter", Some("79990000001"), "whatsapp", ch);
    let message = sim.client_says(cl, "Hello");
    let t: DateTime<Utc> = Utc.with_ymd_and_hms(2024, 3, 5, 21, 30, 15).unwrap();
    sim.set_message_time(message, t);
    let request = sim.open_request_id(cl).unwrap();
    let c2d = Chat2Desk::new(Chat2DeskOptions {
        naive_timezone: moscow,
        ..options(&sim)
    })
    .unwrap();
    for format in [
        None,
        Some(TimeFormat::UtcSuffix),
        Some(TimeFormat::Iso),
        Some(TimeFormat::Dotted),
        Some(TimeFormat::Naive),
        Some(TimeFormat::Unix),
    ] {
        sim.set_time_format(format);
        let messages = c2d.request_messages(request).await.unwrap();
        assert_eq!(messages[0].created, Some(t), "{format:?}");
        let page = c2d.messages(&MessageQuery::default()).await.unwrap();
        assert_eq!(page.items[0].created, Some(t), "{format:?}");
        let dialog = c2d.dialog(messages[0].dialog_id.unwrap()).await.unwrap();
        assert!(dialog.begin.is_some(), "{format:?}");
    }
}
