//! The last points of Open Lines as the seed does them, with the real binary against both
//! simulators: a finish event read again closes nothing twice (the client's new request
//! stays open); an older box is said once in the log however often the setup runs again,
//! and the bridge keeps working; a line taken out of the config while the daemon was
//! stopped is switched off at the next start, the other line untouched; with
//! `openlines_lead` and the bridge a client keeps one lead, the line's, over two sessions
//! (with or without a phone), and a line without lead generation gets the daemon's lead
//! made the Open Lines way.

mod common;

use chat2desk_b24::flows::openlines::chat_key;
use common::bridge::{bridge, Bridge, LINE};
use common::{command, field, output, wait_for};
use serde_json::json;
use std::time::Duration;

const CONNECTOR: &str = "chat2desk";
const OPENLINES_LEAD: &str = "[crm]\nintegration = \"openlines_lead\"\n";

/// The bridge, connected by the admin's browser, with Chat2Desk's webhook on the daemon.
async fn connected_bridge(extra: &str) -> Bridge {
    let b = bridge(extra).await;
    let (status, page) = b.connect().await;
    assert_eq!(status, 200, "{page}");
    b.webhook_set();
    b
}

/// The client writes `text`; returns once the line has as many of the client's messages
/// as it had plus one.
async fn writes_to_line(b: &Bridge, client: i64, text: &str) {
    let chat = chat_key(client);
    let in_line = || {
        b.env
            .portal
            .line_messages()
            .iter()
            .filter(|m| m.chat_id == chat)
            .count()
    };
    let before = in_line();
    b.env.c2d.client_says(client, text);
    wait_for("the client's message in the line", || in_line() > before).await;
}

/// The operator finishes the chat's session; returns the request the finish closed once
/// its transcript is written.
async fn session_finished(b: &Bridge, client: i64) -> i64 {
    let request = b.env.c2d.open_request_id(client).expect("an open request");
    let session = b
        .env
        .portal
        .finish_session(CONNECTOR, LINE, &chat_key(client));
    assert!(session.is_some(), "the chat had an open session");
    b.env.wait_all_done(&[request]).await;
    request
}

/// How often the daemon's log says `words`.
fn said(b: &Bridge, words: &str) -> usize {
    std::fs::read_to_string(&b.daemon.log)
        .unwrap()
        .matches(words)
        .count()
}

/// Leads on the portal whose phone contains `phone`.
fn leads_with_phone(b: &Bridge, phone: &str) -> Vec<serde_json::Value> {
    b.env
        .portal
        .leads()
        .into_iter()
        .filter(|l| field(l, "PHONE").contains(phone))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finish_event_read_again_does_not_close_the_clients_new_request() {
    let b = connected_bridge("").await;
    let client = b
        .env
        .c2d
        .add_client("Ольга", Some("79005550201"), "whatsapp", b.env.s.channel);
    writes_to_line(&b, client, "Здравствуйте").await;
    let chat = chat_key(client);
    let (session, _, _) = b.env.portal.chat_session(LINE, &chat).expect("a session");
    let first = session_finished(&b, client).await;
    wait_for("the finish event cleared", || {
        b.env.portal.offline_rows().is_empty()
    })
    .await;
    // The client writes again: a new request in Chat2Desk, a new session in the line.
    writes_to_line(&b, client, "И ещё вопрос").await;
    let second = b.env.c2d.open_request_id(client).expect("a new request");
    assert_ne!(first, second);
    // The portal hands the first session's finish out once more (as a redelivery does).
    let again = json!({
        "CONNECTOR": CONNECTOR, "LINE": LINE.to_string(),
        "DATA": [{
            "connector": {"connector_id": CONNECTOR, "line_id": LINE.to_string(),
                          "chat_id": chat, "user_id": chat},
            "session": {"id": session.to_string(), "closed": "Y", "parent_id": "0",
                        "close_term": "1440"},
            "chat": {"id": chat}, "user": {"id": chat},
        }],
    });
    b.env
        .portal
        .raise_offline_event("OnImConnectorDialogFinish", again, 1);
    wait_for("the repeated finish event cleared", || {
        b.env.portal.offline_rows().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        b.env.c2d.open_request_id(client),
        Some(second),
        "the client's new request was closed by an old finish"
    );
    assert_eq!(b.env.comments_for(first).len(), 1, "one transcript");
    assert!(b.env.comments_for(second).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_box_is_said_once_however_often_the_setup_runs_and_the_bridge_works() {
    const SAID: &str = "This portal has no OnImConnectorDialogFinish";
    let b = bridge("").await;
    b.env.portal.set_old_box(true);
    let (status, page) = b.connect().await;
    assert_eq!(status, 200, "{page}");
    b.webhook_set();
    wait_for("the older box noticed", || said(&b, SAID) == 1).await;
    // Every SIGHUP sets the connector up again.
    let activations = || b.env.portal.calls_by_method()["imconnector.activate"];
    for _ in 0..2 {
        let before = activations();
        b.reload();
        wait_for("the setup run again", || activations() > before).await;
    }
    let bound = || b.env.portal.calls_by_method()["event.get"];
    wait_for("the events looked at after the reloads", || bound() >= 3).await;
    let (_, check) = output(command(&b.daemon.config, &["check"]));
    assert!(
        check.contains("this portal has no OnImConnectorDialogFinish (an older box)")
            && check.contains("set the auto-close timer there"),
        "{check}"
    );
    // Client messages still reach the line, and a request Chat2Desk closes still becomes
    // the transcript.
    let client = b
        .env
        .c2d
        .add_client("Иван", Some("79005550202"), "whatsapp", b.env.s.channel);
    writes_to_line(&b, client, "Добрый день").await;
    let request = b.env.c2d.close_request(client);
    b.env.wait_all_done(&[request]).await;
    assert_eq!(b.env.comments_for(request).len(), 1);
    assert_eq!(said(&b, SAID), 1, "the older box is said once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_taken_out_while_the_daemon_was_stopped_is_switched_off_at_start() {
    let mut b = connected_bridge("").await;
    let before = b.env.portal.active_lines(CONNECTOR);
    assert!(before.contains_key(&5), "{before:?}");
    b.drop_line(5);
    b.daemon.restart().await;
    wait_for("line 5 switched off", || {
        !b.env.portal.active_lines(CONNECTOR).contains_key(&5)
    })
    .await;
    let after = b.env.portal.active_lines(CONNECTOR);
    assert_eq!(after.get(&LINE), before.get(&LINE), "line 3 untouched");
    b.wait_listed_switched_off(5).await;
    // Its channel reaches no line; line 3's still does, by the same webhook and polls.
    let away = b
        .env
        .c2d
        .add_client("Пётр", Some("79005550203"), "telegram", b.other_channel);
    b.env.c2d.client_says(away, "есть кто?");
    let stays = b
        .env
        .c2d
        .add_client("Анна", Some("79005550204"), "whatsapp", b.env.s.channel);
    writes_to_line(&b, stays, "здравствуйте").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reached: Vec<_> = b
        .env
        .portal
        .line_messages()
        .into_iter()
        .filter(|m| m.chat_id == chat_key(away))
        .collect();
    assert!(
        reached.is_empty(),
        "the removed line's channel: {reached:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_openlines_lead_a_returning_client_keeps_the_lines_lead() {
    let b = connected_bridge(OPENLINES_LEAD).await;
    b.env.portal.set_line_creates_leads(LINE);
    let client = b
        .env
        .c2d
        .add_client("Олег", Some("79005550205"), "whatsapp", b.env.s.channel);
    writes_to_line(&b, client, "Хочу записаться").await;
    let (_, _, made) = b
        .env
        .portal
        .chat_session(LINE, &chat_key(client))
        .expect("a session");
    let line_lead = made.expect("the line made a lead");
    let first = session_finished(&b, client).await;
    writes_to_line(&b, client, "А можно перенести?").await;
    let second = session_finished(&b, client).await;
    assert_ne!(first, second);
    for request in [first, second] {
        assert_eq!(b.env.entity_of(request), ("lead".to_string(), line_lead));
    }
    let leads = leads_with_phone(&b, "79005550205");
    assert_eq!(leads.len(), 1, "one lead for the client: {leads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_openlines_lead_a_returning_client_without_a_phone_keeps_one_lead() {
    let b = connected_bridge(OPENLINES_LEAD).await;
    b.env.portal.set_line_creates_leads(LINE);
    let before = b.env.portal.leads().len();
    let client = b
        .env
        .c2d
        .add_client("Гость", None, "whatsapp", b.env.s.channel);
    writes_to_line(&b, client, "добрый день").await;
    let first = session_finished(&b, client).await;
    writes_to_line(&b, client, "это снова я").await;
    let second = session_finished(&b, client).await;
    let (kind, lead) = b.env.entity_of(first);
    assert_eq!(kind, "lead");
    assert_eq!(b.env.entity_of(second), ("lead".to_string(), lead));
    let leads = b.env.portal.leads();
    assert_eq!(
        leads.len(),
        before + 1,
        "one lead for the client: {leads:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_openlines_lead_on_a_line_without_lead_generation_the_daemon_makes_the_lead() {
    let b = connected_bridge(OPENLINES_LEAD).await;
    let client = b
        .env
        .c2d
        .add_client("Вера", Some("79005550206"), "whatsapp", b.env.s.channel);
    writes_to_line(&b, client, "Есть свободные даты?").await;
    let (_, _, made) = b
        .env
        .portal
        .chat_session(LINE, &chat_key(client))
        .expect("a session");
    assert_eq!(made, None, "this line makes no leads");
    let request = session_finished(&b, client).await;
    let (kind, id) = b.env.entity_of(request);
    assert_eq!(kind, "lead");
    let leads = leads_with_phone(&b, "79005550206");
    assert_eq!(leads.len(), 1, "{leads:?}");
    assert_eq!(field(&leads[0], "ID"), id.to_string());
    assert!(
        field(&leads[0], "TITLE").contains("Открытая линия"),
        "{}",
        leads[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_deleted_on_the_portal_stops_its_routing_and_is_shown() {
    let b = connected_bridge("").await;
    // `OnImConnectorLineDelete` carries the line id alone (doc §3.1).
    b.env
        .portal
        .raise_offline_event("OnImConnectorLineDelete", json!(LINE.to_string()), 1);
    wait_for("the deletion noticed", || {
        said(&b, "The Open Line was disconnected on the portal") == 1
    })
    .await;
    b.assert_shown_disconnected(LINE, "OnImConnectorLineDelete");
    // Line 3's channel reaches no line now; line 5's still does.
    let gone = b
        .env
        .c2d
        .add_client("Мария", Some("79005550207"), "whatsapp", b.env.s.channel);
    b.env.c2d.client_says(gone, "алло");
    let other = b
        .env
        .c2d
        .add_client("Пётр", Some("79005550208"), "telegram", b.other_channel);
    writes_to_line(&b, other, "здравствуйте").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !b.env
            .portal
            .line_messages()
            .iter()
            .any(|m| m.chat_id == chat_key(gone)),
        "a message reached the deleted line"
    );
}
