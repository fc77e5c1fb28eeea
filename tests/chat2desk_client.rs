//! The Chat2Desk client against the Chat2Desk simulator over real HTTP on loopback.

#[path = "chat2desk_client/endpoints.rs"]
mod endpoints;
#[path = "chat2desk_client/failures.rs"]
mod failures;
#[path = "chat2desk_client/webhooks.rs"]
mod webhooks;

use chat2desk_b24::chat2desk::{Chat2Desk, Chat2DeskOptions};
use chat2desk_b24::config::Secret;
use chat2desk_b24::http::Backoff;
use chat2desk_b24::sim::chat2desk::Chat2DeskSim;
use chrono_tz::Tz;
use std::time::Duration;

pub(crate) fn options(sim: &Chat2DeskSim) -> Chat2DeskOptions {
    Chat2DeskOptions {
        api_url: sim.url(),
        token: Secret::new(sim.token()),
        requests_per_second: 0.0,
        timeout: Duration::from_secs(2),
        naive_timezone: Tz::UTC,
        max_retries: 5,
        backoff: Backoff::new(Duration::from_millis(1), Duration::from_millis(5)),
    }
}

pub(crate) fn client(sim: &Chat2DeskSim) -> Chat2Desk {
    Chat2Desk::new(options(sim)).unwrap()
}

/// A company with one closed request of a WhatsApp client; returns (client id, operator
/// id, request id).
pub(crate) fn closed_conversation(sim: &Chat2DeskSim) -> (i64, i64, i64) {
    let op = sim.add_operator("Anna", "Li", "anna@example.com");
    let ch = sim.add_channel("Main", "79990000000", &["whatsapp", "telegram"]);
    let cl = sim.add_client("Peter", Some("+7 905 000-00-00"), "whatsapp", ch);
    sim.client_says(cl, "Hello");
    sim.bot_says(cl, "An operator will answer soon");
    sim.operator_says(cl, op, "Hi Peter");
    sim.send_file(
        cl,
        Some(op),
        "pdf",
        "offer.pdf",
        "https://files.example/offer.pdf",
    );
    sim.send_file(
        cl,
        None,
        "attachment",
        "scan.png",
        "https://files.example/f/123",
    );
    sim.system_note(cl, "Dialog transferred");
    let request = sim.close_request(cl);
    (cl, op, request)
}
