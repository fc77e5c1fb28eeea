//! One client, one entity: a person who wrote on two channels (two Chat2Desk clients, two
//! dialogs, two requests) and whose two chats were closed at the same moment gets one lead
//! (or one contact and one open deal), however the jobs interleave, on a portal whose
//! duplicate search lags behind, and with the real binary SIGKILLed at random moments.

mod common;

use chat2desk_b24::config::Integration;
use common::{binary, field, Env, KillOnDrop};
use rand::Rng;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Clients with two dialogs each.
const PEOPLE: usize = 8;

/// A person on WhatsApp (their phone) and on Telegram (a messenger id, with the same real
/// number shared as `client_phone`), each with a conversation; both chats closed together.
/// Returns the people's phones (digits) and the closed request ids.
fn two_dialog_people(env: &Env) -> (Vec<String>, Vec<i64>) {
    let telegram = env
        .c2d
        .add_channel("Telegram бот", "79680000001", &["telegram"]);
    let mut phones = Vec::new();
    let mut pairs = Vec::new();
    for i in 0..PEOPLE {
        let phone = format!("7926{:07}", 1_000_000 + i);
        let name = format!("Клиент{i}");
        let wa = env
            .c2d
            .add_client(&name, Some(&phone), "whatsapp", env.s.channel);
        let tg = env.c2d.add_client(&name, None, "telegram", telegram);
        env.c2d.set_client_phone(tg, &phone);
        env.c2d.client_says(wa, "Здравствуйте, пишу в WhatsApp");
        env.c2d.client_says(tg, "И ещё в Telegram");
        env.c2d.operator_says(wa, env.s.op_ivan, "Ответ в WhatsApp");
        env.c2d
            .operator_says(tg, env.s.op_maria, "Ответ в Telegram");
        phones.push(phone);
        pairs.push((wa, tg));
    }
    // Closed "at the same moment": both requests of every person in one poll.
    let mut requests = Vec::new();
    for (wa, tg) in pairs {
        requests.push(env.c2d.close_request(wa));
        requests.push(env.c2d.close_request(tg));
    }
    (phones, requests)
}

/// Records of `rows` whose phone field holds `phone`.
fn with_phone<'a>(rows: &'a [serde_json::Value], phone: &str) -> Vec<&'a serde_json::Value> {
    rows.iter()
        .filter(|r| {
            r.get("PHONE")
                .map(|p| {
                    p.to_string()
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect::<String>()
                })
                .is_some_and(|digits| digits.contains(phone))
        })
        .collect()
}

/// One entity per person for `integration`, and one comment per request on it.
fn assert_one_entity_per_person(
    env: &Env,
    integration: Integration,
    phones: &[String],
    requests: &[i64],
) {
    for r in requests {
        assert_eq!(env.comments_for(*r).len(), 1, "request {r}: one comment");
    }
    match integration {
        Integration::ContactDeal => {
            let contacts = env.portal.contacts();
            let deals = env.portal.deals();
            for phone in phones {
                let mine = with_phone(&contacts, phone);
                assert_eq!(mine.len(), 1, "one contact for {phone}: {mine:#?}");
                let contact = field(mine[0], "ID");
                let open: Vec<_> = deals
                    .iter()
                    .filter(|d| field(d, "CONTACT_ID") == contact && field(d, "CLOSED") != "Y")
                    .collect();
                assert_eq!(open.len(), 1, "one open deal for {phone}: {open:#?}");
            }
        }
        _ => {
            let leads = env.portal.leads();
            for phone in phones {
                let mine = with_phone(&leads, phone);
                assert_eq!(mine.len(), 1, "one lead for {phone}: {mine:#?}");
            }
        }
    }
}

async fn in_process(integration: Integration, search_lag: Duration) {
    let env = Env::new().await;
    env.portal.set_search_lag(search_lag);
    // Every job of every person in flight at once.
    let mut config = env.config(integration);
    config.sync.workers = 2 * PEOPLE;
    let d = env.daemon(config).await;
    let (phones, requests) = two_dialog_people(&env);
    let report = d.poller.poll_once().await.expect("poll");
    assert_eq!(report.enqueued, requests.len() as u64);
    d.worker.run_until_idle().await;
    let counts = d.services().store.counts().await.unwrap();
    assert_eq!(
        (counts.done, counts.pending, counts.dead),
        (requests.len() as u64, 0, 0)
    );
    assert_one_entity_per_person(&env, integration, &phones, &requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_two_dialogs_closed_together_make_one_lead() {
    in_process(Integration::Lead, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_deal_two_dialogs_closed_together_make_one_contact_and_deal() {
    in_process(Integration::ContactDeal, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_duplicate_search_still_gives_one_lead() {
    // The portal's search does not see a new lead for a minute: the second job must use the
    // lead the first one created, remembered in the state database.
    in_process(Integration::Lead, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_duplicate_search_still_gives_one_contact() {
    in_process(Integration::ContactDeal, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openlines_two_dialogs_closed_together_make_one_lead() {
    in_process(Integration::OpenlinesLead, Duration::from_secs(60)).await;
}

async fn sigkilled_binary(integration: &str, expect: Integration) {
    let env = Env::new().await;
    // Slow answers and a lagging search: kills land between the calls of the two jobs.
    env.portal.faults().set_latency(Duration::from_millis(40));
    env.portal.set_search_lag(Duration::from_secs(120));
    let config = env.write_config(integration, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("workers = 4", &format!("workers = {}", 2 * PEOPLE));
    std::fs::write(&config, text).unwrap();
    let (phones, requests) = two_dialog_people(&env);
    let start = || {
        KillOnDrop(
            Command::new(binary())
                .args(["-c", config.to_str().unwrap(), "run"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("binary starts"),
        )
    };
    let mut rng = rand::thread_rng();
    let mut kills = 0;
    for _ in 0..4 {
        let child = start();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(150..900))).await;
        drop(child); // SIGKILL
        kills += 1;
    }
    let _child = start();
    env.wait_all_done_within(&requests, Duration::from_secs(90))
        .await;
    assert_eq!(kills, 4);
    assert_one_entity_per_person(&env, expect, &phones, &requests);
    let adds: BTreeMap<String, u64> = env
        .portal
        .calls_by_method()
        .into_iter()
        .filter(|(m, _)| m.ends_with(".add") && m.starts_with("crm.") && !m.contains("comment"))
        .collect();
    eprintln!("entity creations: {adds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_at_random_moments_leave_one_lead_per_person() {
    sigkilled_binary("lead", Integration::Lead).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_at_random_moments_leave_one_contact_per_person() {
    sigkilled_binary("contact_deal", Integration::ContactDeal).await;
}
