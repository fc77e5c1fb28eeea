//! Open Lines sessions and lines as the seed does them, with the real binary against both
//! simulators: an operator finishing a session closes the client's Chat2Desk request and its
//! transcript is written once (the time from finish to transcript is printed); an older box
//! without `OnImConnectorDialogFinish` is reported; a line taken out of the config is switched
//! off on SIGHUP while the other stays; an admin's disconnect stops the line's routing and is
//! not undone by a restart until `openlines --reconnect`; with `openlines_lead` the
//! transcript goes to the lead the line made, and a client without a phone gets one lead;
//! a client's BB-codes reach the line inert; the poller, like the server, routes by the lines
//! of the last reload.

mod common;

use chat2desk_b24::flows::openlines::chat_key;
use common::bridge::{bridge, Bridge, LINE};
use common::{command, output, wait_for};
use std::time::{Duration, Instant};

const CONNECTOR: &str = "chat2desk";

/// A new client of the line's channel writes; returns the client once the line has it.
async fn client_in_line(b: &Bridge, name: &str, phone: &str) -> i64 {
    let client = b
        .env
        .c2d
        .add_client(name, Some(phone), "whatsapp", b.env.s.channel);
    b.env
        .c2d
        .client_says(client, "Здравствуйте, нужна консультация");
    let chat = chat_key(client);
    wait_for("the client's message in the line", || {
        b.env
            .portal
            .line_messages()
            .iter()
            .any(|m| m.chat_id == chat)
    })
    .await;
    client
}

/// The connected bridge with Chat2Desk's webhook on the daemon.
async fn connected(extra: &str) -> Bridge {
    let b = bridge(extra).await;
    let (status, page) = b.connect().await;
    assert_eq!(status, 200, "{page}");
    b.webhook_set();
    b
}

fn daemon_log(b: &Bridge) -> String {
    std::fs::read_to_string(&b.daemon.log).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_session_closes_the_request_and_its_transcript_is_written_once() {
    let b = connected("").await;
    let bound = b.env.portal.offline_bindings();
    assert!(
        bound
            .iter()
            .any(|(e, c)| e == "ONIMCONNECTORDIALOGFINISH" && c == CONNECTOR),
        "{bound:?}"
    );
    let client = client_in_line(&b, "Ольга Петрова", "79005550101").await;
    let request = b.env.c2d.open_request_id(client).expect("an open request");
    let chat = chat_key(client);
    let finished = Instant::now();
    let session = b.env.portal.finish_session(CONNECTOR, LINE, &chat);
    assert!(session.is_some(), "the chat had a session");
    wait_for("the Chat2Desk request closed", || {
        b.env.c2d.open_request_id(client).is_none()
    })
    .await;
    let closed_after = finished.elapsed();
    wait_for("the transcript", || !b.env.comments_for(request).is_empty()).await;
    let transcript_after = finished.elapsed();
    println!(
        "finish → request closed: {} ms; finish → transcript: {} ms (events_poll_ms = 1000)",
        closed_after.as_millis(),
        transcript_after.as_millis()
    );
    b.env.wait_all_done(&[request]).await;
    // Read again (the sweep re-reads open batches), the event changes nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (kind, id) = b.env.entity_of(request);
    assert_eq!(kind, "lead");
    let lead = b
        .env
        .portal
        .leads()
        .into_iter()
        .find(|l| common::field(l, "ID") == id.to_string())
        .expect("the client's lead");
    assert!(
        common::field(&lead, "PHONE").contains("79005550101"),
        "{lead}"
    );
    let log = daemon_log(&b);
    assert!(
        log.contains("Closed the Chat2Desk request of a finished Open Lines session"),
        "{log}"
    );
    // The portal's event is cleared once the request is closed.
    wait_for("the finish event cleared", || {
        !b.env
            .portal
            .offline_rows()
            .iter()
            .any(|(_, event, _, _)| event == "ONIMCONNECTORDIALOGFINISH")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_box_without_the_finish_event_is_reported_and_the_bridge_works() {
    let b = bridge("").await;
    b.env.portal.set_old_box(true);
    let (status, page) = b.connect().await;
    assert_eq!(status, 200, "{page}");
    b.webhook_set();
    let bound = b.env.portal.offline_bindings();
    assert!(
        bound.iter().any(|(e, _)| e == "ONIMCONNECTORMESSAGEADD"),
        "{bound:?}"
    );
    assert!(daemon_log(&b).contains("This portal has no OnImConnectorDialogFinish"));
    let (_, text) = output(command(&b.daemon.config, &["check"]));
    assert!(
        text.contains("this portal has no OnImConnectorDialogFinish (an older box)"),
        "{text}"
    );
    // Client messages still reach the line.
    client_in_line(&b, "Иван", "79005550102").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_taken_out_of_the_config_is_switched_off_on_reload() {
    let b = connected("").await;
    let lines = b.env.portal.active_lines(CONNECTOR);
    assert!(
        lines.contains_key(&LINE) && lines.contains_key(&5),
        "{lines:?}"
    );
    b.drop_line(5);
    b.reload();
    wait_for("line 5 switched off", || {
        !b.env.portal.active_lines(CONNECTOR).contains_key(&5)
    })
    .await;
    let lines = b.env.portal.active_lines(CONNECTOR);
    assert!(
        lines[&LINE]["NAME"]
            .as_str()
            .is_some_and(|n| n.starts_with("Chat2Desk")),
        "line 3 keeps its DATA: {lines:?}"
    );
    b.wait_listed_switched_off(5).await;
    // Its channel reaches no line: the server routes by the reloaded lines, so the delivery
    // is acknowledged and ignored (not queued for the switched-off line).
    let client = b
        .env
        .c2d
        .add_client("Пётр", Some("79005550103"), "telegram", b.other_channel);
    b.env.c2d.client_says(client, "есть кто?");
    let ignored = "chat2desk_b24_webhook_events_total{type=\"inbox\",outcome=\"ignored\"}";
    let metrics = metrics_until(&b, ignored).await;
    assert!(metrics.contains(ignored), "{metrics}");
    let in_line3 = client_in_line(&b, "Анна", "79005550104").await;
    assert!(
        !reached_a_line(&b, client),
        "the removed line's channel reached a line"
    );
    assert!(in_line3 > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_routes_by_the_lines_of_the_last_reload() {
    // No Chat2Desk webhook: the poller alone brings client messages to their lines.
    let b = bridge("").await;
    let (status, page) = b.connect().await;
    assert_eq!(status, 200, "{page}");
    let before = b
        .env
        .c2d
        .add_client("Пётр", Some("79005550111"), "telegram", b.other_channel);
    b.env.c2d.client_says(before, "до перезагрузки");
    wait_for("line 5's client in its line (polled)", || {
        reached_a_line(&b, before)
    })
    .await;
    b.drop_line(5);
    b.reload();
    wait_for("line 5 switched off", || {
        !b.env.portal.active_lines(CONNECTOR).contains_key(&5)
    })
    .await;
    let after = b
        .env
        .c2d
        .add_client("Павел", Some("79005550112"), "telegram", b.other_channel);
    b.env.c2d.client_says(after, "после перезагрузки");
    // A later message of line 3 arrives by the same polls, so the one before it was read.
    client_in_line(&b, "Анна", "79005550113").await;
    assert!(
        !reached_a_line(&b, after),
        "the poller routed the removed line's channel"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admins_disconnect_stops_the_line_until_reconnect() {
    let mut b = connected("").await;
    b.env.portal.disconnect_line(CONNECTOR, LINE);
    wait_for("the disconnect noticed", || {
        daemon_log(&b).contains("The Open Line was disconnected on the portal")
    })
    .await;
    let client = b
        .env
        .c2d
        .add_client("Мария", Some("79005550105"), "whatsapp", b.env.s.channel);
    b.env.c2d.client_says(client, "после отключения");
    b.assert_shown_disconnected(LINE, "OnImConnectorStatusDelete");
    // A restart does not connect it again behind the admin's back.
    b.daemon.restart().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!b.env.portal.active_lines(CONNECTOR).contains_key(&LINE));
    assert!(
        !reached_a_line(&b, client),
        "a message reached the disconnected line"
    );
    let (out, text) = output(command(
        &b.daemon.config,
        &["openlines", "--reconnect", "3"],
    ));
    assert!(out.status.success(), "{text}");
    b.reload();
    wait_for("line 3 connected again", || {
        b.env.portal.active_lines(CONNECTOR).contains_key(&LINE)
    })
    .await;
    client_in_line(&b, "Мария", "79005550106").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_openlines_lead_the_transcript_goes_to_the_lead_the_line_made() {
    let b = connected("[crm]\nintegration = \"openlines_lead\"\n").await;
    b.env.portal.set_line_creates_leads(LINE);
    // The duplicate search does not show the line's new lead yet.
    b.env.portal.set_search_lag(Duration::from_secs(60));
    let client = client_in_line(&b, "Олег", "79005550107").await;
    let chat = chat_key(client);
    let (_, _, line_lead) = b.env.portal.chat_session(LINE, &chat).expect("a session");
    let line_lead = line_lead.expect("the line made a lead");
    let request = b.env.c2d.open_request_id(client).unwrap();
    b.env.portal.finish_session(CONNECTOR, LINE, &chat);
    b.env.wait_all_done(&[request]).await;
    assert_eq!(b.env.entity_of(request), ("lead".to_string(), line_lead));
    let leads: Vec<_> = b
        .env
        .portal
        .leads()
        .into_iter()
        .filter(|l| common::field(l, "PHONE").contains("79005550107"))
        .collect();
    assert_eq!(leads.len(), 1, "one lead for the client: {leads:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_bb_codes_reach_the_line_inert() {
    let b = connected("").await;
    let client = b
        .env
        .c2d
        .add_client("Ева", Some("79005550108"), "whatsapp", b.env.s.channel);
    let said = "[url=https://evil.example/x]жми[/url] [b]срочно[/b] [user=1]Админ[/user]";
    b.env.c2d.client_says(client, said);
    let chat = chat_key(client);
    wait_for("the client's message in the line", || {
        b.env
            .portal
            .line_messages()
            .iter()
            .any(|m| m.chat_id == chat)
    })
    .await;
    let messages = b.env.portal.line_messages();
    let text = &messages.iter().find(|m| m.chat_id == chat).unwrap().text;
    for tag in ["[url", "[/url]", "[b]", "[user"] {
        assert!(!text.contains(tag), "a live {tag} reached the line: {text}");
    }
    assert_eq!(
        text.replace('\u{200B}', ""),
        said,
        "the text reads as written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_openlines_lead_a_client_without_a_phone_gets_one_lead() {
    let b = connected("[crm]\nintegration = \"openlines_lead\"\n").await;
    b.env.portal.set_line_creates_leads(LINE);
    let before = b.env.portal.leads().len();
    let client = b
        .env
        .c2d
        .add_client("Гость без телефона", None, "whatsapp", b.env.s.channel);
    b.env.c2d.client_says(client, "добрый день");
    let chat = chat_key(client);
    wait_for("the client's message in the line", || {
        b.env
            .portal
            .line_messages()
            .iter()
            .any(|m| m.chat_id == chat)
    })
    .await;
    let request = b.env.c2d.open_request_id(client).unwrap();
    b.env.portal.finish_session(CONNECTOR, LINE, &chat);
    b.env.wait_all_done(&[request]).await;
    let (kind, _) = b.env.entity_of(request);
    assert_eq!(kind, "lead");
    let leads = b.env.portal.leads();
    assert_eq!(
        leads.len(),
        before + 1,
        "one lead for the client: {leads:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_page_is_cached_so_a_flood_costs_the_portal_nothing() {
    let b = connected("").await;
    let url = format!("http://127.0.0.1:{}/bitrix24/connector", b.listen);
    let status_calls = || {
        b.env
            .portal
            .calls_by_method()
            .get("imconnector.status")
            .copied()
            .unwrap_or(0)
    };
    let first = reqwest::get(&url).await.unwrap();
    assert_eq!(first.status(), 200);
    let after_first = status_calls();
    for _ in 0..20 {
        assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    }
    // Uncached, each of the 20 renders asks `imconnector.status` for both lines (40 calls);
    // the connector set-up after connecting may still re-check a line or two meanwhile.
    let more = status_calls() - after_first;
    assert!(
        more < 20,
        "the page was rendered again: {more} status calls"
    );
}

/// The daemon's `/metrics` page once it contains `wanted` (or after about 10 s).
async fn metrics_until(b: &Bridge, wanted: &str) -> String {
    let url = b.daemon.metrics_url("/metrics");
    let mut page = String::new();
    for _ in 0..100 {
        page = reqwest::get(&url).await.unwrap().text().await.unwrap();
        if page.contains(wanted) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    page
}

/// True when a message of the Chat2Desk client `client` reached any Open Line.
fn reached_a_line(b: &Bridge, client: i64) -> bool {
    b.env
        .portal
        .line_messages()
        .iter()
        .any(|m| m.chat_id == chat_key(client))
}
