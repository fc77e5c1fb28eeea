//! The CRM card tab: the time from the portal posting the tab's form (the manager opening
//! the tab) to the page with the history, end to end over loopback with the daemon in
//! process — the form's checks (`member_id`, `user.current` with the user's token, the
//! entity read with it), the client's messages from Chat2Desk, the operators, channels and
//! templates for the send form, the page rendered. `OPENS` opens one after another of a lead
//! whose client has `HISTORY` messages (besides the scenario's own), then the same with
//! `LONG_HISTORY` (three pages of `GET /messages`).
//!
//! Prints p50/p95/p99/max; asserts only that every open showed the history. Run with
//! `cargo bench --bench card`.

#[path = "support/timing.rs"]
mod timing;

use chat2desk_b24::app::{Daemon, SpawnOptions};
use chat2desk_b24::config::{CardConfig, PollStrategy, Secret};
use chat2desk_b24::sim::bitrix24::PortalSim;
use chat2desk_b24::sim::chat2desk::Chat2DeskSim;
use chat2desk_b24::sim::scenario;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Tab opens measured per history size.
const OPENS: usize = 200;
/// Messages of the client in the first round.
const HISTORY: usize = 40;
/// Messages of the client in the second round.
const LONG_HISTORY: usize = 500;

fn main() {
    timing::run(bench());
}

async fn bench() {
    let c2d = Chat2DeskSim::start().await.expect("chat2desk sim");
    let portal = PortalSim::start().await.expect("portal sim");
    let s = scenario::seed(&c2d, &portal);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = scenario::config(&c2d, &portal, &s, &dir.path().join("state.db"));
    let port = timing::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let app = portal.app_config(
        &url,
        &[
            "imopenlines",
            "imconnector",
            "im",
            "crm",
            "user",
            "placement",
        ],
    );
    config.server.listen = format!("127.0.0.1:{port}");
    config.server.webhook_secret = Secret::new("bench-webhook-secret-0123456789");
    config.sync.poll_strategy = PollStrategy::Off;
    config.bitrix24.app = Some(app);
    config.card = Some(CardConfig::default());
    let daemon = Daemon::spawn(config, SpawnOptions::default(), CancellationToken::new())
        .await
        .expect("the daemon starts");
    let (status, _) = chat2desk_b24::sim::browser::open(&format!("{url}/bitrix24/connect"))
        .await
        .expect("connect");
    assert_eq!(status, 200, "the app connects");
    for _ in 0..100 {
        if portal
            .tab_form("CRM_LEAD_DETAIL_TAB", s.lead_existing, s.user_ivan)
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c2d.add_template("Приветствие", "Здравствуйте!");
    let http = reqwest::Client::new();
    let mut written = 0;
    for (label, size) in [
        ("open tab → history (40 messages)", HISTORY),
        ("open tab → history (500 messages)", LONG_HISTORY),
    ] {
        while written < size {
            if written % 2 == 0 {
                c2d.client_says(s.client_existing, &format!("Вопрос {written}"));
            } else {
                c2d.operator_says(s.client_existing, s.op_ivan, &format!("Ответ {written}"));
            }
            written += 1;
        }
        let mut samples = Vec::with_capacity(OPENS);
        for _ in 0..OPENS {
            let form = portal
                .tab_form("CRM_LEAD_DETAIL_TAB", s.lead_existing, s.user_ivan)
                .expect("the lead's tab is bound");
            let body: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.fields.iter())
                .finish();
            let started = Instant::now();
            let answer = http
                .post(&form.url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .expect("the tab answers");
            let status = answer.status().as_u16();
            let page = answer.text().await.expect("the page");
            samples.push(started.elapsed());
            assert_eq!(status, 200, "{page}");
            let shown = page.matches("data-message-id=").count();
            assert!(shown >= size, "the history is shown: {shown} of {size}");
        }
        timing::report(label, &mut samples);
    }
    daemon.stop().await;
}
