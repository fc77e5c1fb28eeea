//! Decoding of the payload shapes quoted in `chat2desk-api.md`.

use super::*;
use chrono_tz::Tz;
use serde_json::{json, Value};

fn inbox_example() -> Value {
    json!({"hook_type":"inbox","message_id":106773169,"type":"from_client","text":"Hi",
     "transport":"telegram","channel_id":17,"client_id":100,"operator_id":null,
     "dialog_id":null,"request_id":8725057,"photo":null,"video":null,"audio":null,
     "pdf":null,"coordinates":null,"attachments":[],"extra_data":{},
     "is_new_request":1,"is_new_client":null,"event_time":"2019-07-28T23:01:40Z",
     "client":{"id":17340089,"phone":"[tg] 807892","client_phone":null,"name":"Peter",
               "assigned_name":null,"external_id":null}})
}

#[test]
fn inbox_webhook_payload_decodes() {
    let ev = WebhookEvent::from_json(&inbox_example(), Tz::UTC).unwrap();
    assert_eq!(ev.hook_type, "inbox");
    assert_eq!(ev.request_id, Some(8725057));
    assert_eq!(ev.client_id, Some(100));
    assert_eq!(
        ev.event_time.unwrap().to_rfc3339(),
        "2019-07-28T23:01:40+00:00"
    );
    let m = ev.message.unwrap();
    assert_eq!(m.id, 106773169);
    assert_eq!(m.kind, MessageKind::FromClient);
    assert_eq!(m.text.as_deref(), Some("Hi"));
    assert_eq!(m.transport.as_deref(), Some("telegram"));
    assert_eq!(m.operator_id, None);
    assert!(m.attachments.is_empty());
    let c = ev.client.unwrap();
    assert_eq!(c.id, 17340089);
    assert_eq!(c.display_name(), Some("Peter"));
    assert_eq!(c.real_phone(), None, "a [tg] id is not a phone");
}

#[test]
fn close_request_guess_decodes() {
    let ev = WebhookEvent::from_json(
        &json!({"hook_type":"close_request","request_id":"55","dialog_id":7,
                "client_id":9,"operator_id":3,"event_time":"2024-01-02T03:04:05Z"}),
        Tz::UTC,
    )
    .unwrap();
    assert_eq!(ev.request_id, Some(55));
    assert_eq!(ev.client_id, Some(9));
    assert!(ev.message.is_none());
    assert!(WebhookEvent::from_json(&json!({"request_id": 1}), Tz::UTC).is_none());
}

#[test]
fn message_object_with_every_media_field() {
    let m = Message::from_json(
        &json!({"id":"106773170","type":"to_client","text":null,"read":"1",
          "created":"2019-07-28T23:01:40 UTC","operator_id":"12",
          "photo":"https://cdn.example/img/cat.jpg?x=1",
          "video":{"link":"https://cdn.example/v/"},
          "audio":{"url":"https://cdn.example/a/voice%20note.ogg"},
          "pdf":"https://cdn.example/doc/offer.pdf",
          "attachments":[{"name":"Price list.xlsx","link":"https://cdn.example/f/1"},
                         {"link":"https://cdn.example/doc/offer.pdf"}, {"name":"x"}, 7],
          "coordinates":{"lat":55.7,"lng":37.6}}),
        Tz::UTC,
    )
    .unwrap();
    assert_eq!(m.id, 106773170);
    assert_eq!(m.kind, MessageKind::ToClient);
    assert_eq!(m.read, Some(true));
    assert_eq!(m.operator_id, Some(12));
    assert_eq!(m.text, None);
    assert_eq!(m.coordinates.as_deref(), Some("55.7,37.6"));
    let got: Vec<(AttachmentKind, &str, &str)> = m
        .attachments
        .iter()
        .map(|a| (a.kind, a.name.as_str(), a.url.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                AttachmentKind::File,
                "Price list.xlsx",
                "https://cdn.example/f/1"
            ),
            (
                AttachmentKind::File,
                "offer.pdf",
                "https://cdn.example/doc/offer.pdf"
            ),
            (
                AttachmentKind::Photo,
                "cat.jpg",
                "https://cdn.example/img/cat.jpg?x=1"
            ),
            (AttachmentKind::Video, "v", "https://cdn.example/v/"),
            (
                AttachmentKind::Audio,
                "voice note.ogg",
                "https://cdn.example/a/voice%20note.ogg"
            ),
        ]
    );
    let bare = Message::from_json(&json!({"id":1,"photo":"https://h"}), Tz::UTC).unwrap();
    assert_eq!(bare.attachments[0].name, "photo");
    assert_eq!(bare.kind, MessageKind::Other(String::new()));
}

#[test]
fn client_names_and_phones() {
    let c = Client::from_json(&json!({"id":5,"name":"Pete","assigned_name":"Peter Ivanov",
        "phone":"[tg] 807892","client_phone":"+7 (905) 000-00-00"}))
    .unwrap();
    assert_eq!(c.display_name(), Some("Peter Ivanov"));
    assert_eq!(c.real_phone().as_deref(), Some("79050000000"));
    let c = Client::from_json(&json!({"id":5,"name":"Pete","assigned_name":" ",
        "phone":"996554644662","client_phone":"[wa] 1"}))
    .unwrap();
    assert_eq!(c.display_name(), Some("Pete"));
    assert_eq!(c.real_phone().as_deref(), Some("996554644662"));
    let c = Client::from_json(&json!({"id":5,"phone":"12345"})).unwrap();
    assert_eq!(c.real_phone(), None);
    assert_eq!(c.display_name(), None);
}

#[test]
fn dialog_request_operator_channel_api_info_webhook() {
    let d = Dialog::from_json(
        &json!({"id":7,"state":"closed","begin":"28.07.2019 23:01:40","end":1564355000,
                "operator_id":3,"messages":4,
                "last_message":{"id":9,"client_id":100,"request_id":8,"type":"from_client"}}),
        Tz::UTC,
    )
    .unwrap();
    assert_eq!(d.state, Some(DialogState::Closed));
    assert_eq!(d.client_id(), Some(100));
    assert_eq!(d.message_count, Some(4));
    assert!(d.begin.is_some() && d.end.is_some());

    let r = RequestInfo::from_json(
        &json!({"request_id":8,"dialog_id":7,"client":{"id":100},
                "start":"2019-07-28 23:01:40","closed_at":"2019-07-28T23:11:40Z","status":"closed"}),
        Tz::UTC,
    )
    .unwrap();
    assert_eq!((r.id, r.dialog_id, r.client_id), (8, Some(7), Some(100)));
    assert!(r.created.unwrap() < r.closed.unwrap());

    let o = Operator::from_json(&json!({"id":3,"first_name":"Anna","last_name":"Li"})).unwrap();
    assert_eq!(o.full_name(), "Anna Li");
    let o = Operator::from_json(&json!({"id":3,"email":"a@b.c"})).unwrap();
    assert_eq!(o.full_name(), "a@b.c");
    assert_eq!(
        Operator::from_json(&json!({"id":3})).unwrap().full_name(),
        "Operator 3"
    );

    let ch =
        Channel::from_json(&json!({"id":"17","name":"Main","transports":["telegram","whatsapp"]}))
            .unwrap();
    assert_eq!(ch.transports, vec!["telegram", "whatsapp"]);

    let info = ApiInfo::from_json(&json!({"mode":"premium","requests_this_month":"15",
        "domain_urls":["https://web.chat2desk.com.mx"],"write_first_option":0}));
    assert_eq!(info.domain_urls, vec!["https://web.chat2desk.com.mx"]);
    assert_eq!(info.requests_this_month, Some(15));
    assert_eq!(info.write_first_option, Some(false));

    let w = Webhook::from_json(&json!({"id":1,"url":"https://x/y","name":"b24",
        "events":["close_request"],"channels":[17],"errors":{}}))
    .unwrap();
    assert_eq!(w.events, vec!["close_request"]);
}

#[test]
fn garbage_never_panics() {
    let samples = [
        json!(null),
        json!([]),
        json!("text"),
        json!(1),
        json!({}),
        json!({"id": null}),
        json!({"id": {"x": 1}, "message_id": [1]}),
        json!({"id": 1, "attachments": "nope", "photo": 5, "coordinates": [1]}),
        json!({"id": 1, "attachments": [null, {"link": ""}], "video": [{"url": 3}]}),
        json!({"id": 1e300, "created": {"a": 1}, "type": 5, "read": "maybe"}),
        json!({"hook_type": 1, "client": "x", "message_id": "x"}),
    ];
    for v in &samples {
        let _ = Message::from_json(v, Tz::UTC);
        let _ = Client::from_json(v);
        let _ = Operator::from_json(v);
        let _ = Channel::from_json(v);
        let _ = Dialog::from_json(v, Tz::UTC);
        let _ = RequestInfo::from_json(v, Tz::UTC);
        let _ = ApiInfo::from_json(v);
        let _ = Webhook::from_json(v);
        let _ = WebhookEvent::from_json(v, Tz::UTC);
    }
    assert!(Message::from_json(&json!({"text": "no id"}), Tz::UTC).is_none());
}
