//! SIGHUP after editing `[openlines]`, with the real binary against both simulators: the
//! scenario's channel moves from line 3 to line 5, and its next client message goes to
//! line 5 and not to line 3 — through the server (Chat2Desk's webhook, polling off) and
//! through the poller (no webhook), each routing by the lines of the last reload.
//! (openlines_sessions.rs covers a line taken out: its channel then reaches no line.)

mod common;

use chat2desk_b24::flows::openlines::chat_key;
use common::bridge::{bridge, Bridge, LINE};
use common::wait_for;

const CONNECTOR: &str = "chat2desk";
/// The second line of the bridge, where the channel moves.
const NEW_LINE: i64 = 5;

/// The Open Lines a message of the Chat2Desk client `client` reached.
fn lines_of(b: &Bridge, client: i64) -> Vec<i64> {
    let chat = chat_key(client);
    let messages = b.env.portal.line_messages();
    messages
        .iter()
        .filter(|m| m.chat_id == chat)
        .map(|m| m.line)
        .collect()
}

/// A new client of the scenario's channel writes; the lines its message reached, once it
/// reached one.
async fn client_writes(b: &Bridge, name: &str, phone: &str) -> Vec<i64> {
    let client = b
        .env
        .c2d
        .add_client(name, Some(phone), "whatsapp", b.env.s.channel);
    b.env.c2d.client_says(client, "Здравствуйте, есть вопрос");
    wait_for("the client's message in a line", || {
        !lines_of(b, client).is_empty()
    })
    .await;
    lines_of(b, client)
}

/// The bridge connected; the scenario's channel routed to line 3.
async fn connected(extra: &str) -> Bridge {
    let b = bridge(extra).await;
    let (status, page) = b.connect().await;
    assert_eq!(status, 200, "{page}");
    b
}

/// Moves the scenario's channel from line 3 to line 5 (line 5's own channel stays) and
/// reloads; waits until line 3 is switched off on the portal.
async fn move_channel_and_reload(b: &Bridge) {
    b.set_lines(&[(NEW_LINE, &[b.other_channel, b.env.s.channel])]);
    b.reload();
    wait_for("line 3 switched off", || {
        !b.env.portal.active_lines(CONNECTOR).contains_key(&LINE)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sighup_the_server_routes_a_moved_channel_to_its_new_line() {
    let b = connected("[sync]\npoll_strategy = \"off\"\n").await;
    b.webhook_set();
    assert_eq!(client_writes(&b, "Ольга", "79005550201").await, [LINE]);
    move_channel_and_reload(&b).await;
    assert_eq!(
        client_writes(&b, "Пётр", "79005550202").await,
        [NEW_LINE],
        "the webhook's message went by the old lines"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sighup_the_poller_routes_a_moved_channel_to_its_new_line() {
    // No Chat2Desk webhook: the poller alone brings client messages to their lines.
    let b = connected("").await;
    assert_eq!(client_writes(&b, "Анна", "79005550203").await, [LINE]);
    move_channel_and_reload(&b).await;
    assert_eq!(
        client_writes(&b, "Павел", "79005550204").await,
        [NEW_LINE],
        "the poller routed by the old lines"
    );
}
