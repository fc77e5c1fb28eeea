//! The whole pipeline in-process over real HTTP and a real SQLite file: poll → queue → worker
//! → portal, for each integration type and each routing rule.

mod common;

use chat2desk_b24::config::Integration;
use chat2desk_b24::store::{JobKind, JobState};
use common::{field, Env};

async fn sync_all(env: &Env, integration: Integration) -> Vec<i64> {
    let d = env.daemon(env.config(integration)).await;
    let closed = chat2desk_b24::sim::scenario::converse(&env.c2d, &env.s);
    let report = d.poller.poll_once().await.expect("poll");
    assert_eq!(
        report.enqueued,
        closed.len() as u64,
        "every closed request is queued"
    );
    d.worker.run_until_idle().await;
    let counts = d.services().store.counts().await.unwrap();
    assert_eq!(
        (counts.done, counts.pending, counts.dead),
        (closed.len() as u64, 0, 0)
    );
    closed
}

#[tokio::test]
async fn leads_existing_found_by_phone_closed_reopened_new_created() {
    let env = Env::new().await;
    let closed = sync_all(&env, Integration::Lead).await;
    let leads = env.portal.leads();
    // Two seeded leads + one per new client (Сергей by phone, Ольга without phone).
    assert_eq!(leads.len(), 4, "no duplicate lead: {leads:#?}");

    // Existing client: the comment lands on the existing lead.
    assert_eq!(
        env.entity_of(closed[0]),
        ("lead".to_string(), env.s.lead_existing)
    );

    // Closed lead: reopened to NEW and its responsible notified with a link to it.
    let reopened = leads
        .iter()
        .find(|l| field(l, "ID") == env.s.lead_closed.to_string())
        .unwrap();
    assert_eq!(field(reopened, "STATUS_ID"), "NEW");
    let notes = env.portal.notifications();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].0, env.s.user_maria);
    assert!(
        notes[0]
            .1
            .contains(&format!("/crm/lead/details/{}/", env.s.lead_closed)),
        "{}",
        notes[0].1
    );
    assert_eq!(env.comments_for(closed[1]).len(), 1);

    // New client with a phone: new lead, configured source, unmatched operator → default.
    let sergey = leads
        .iter()
        .find(|l| field(l, "TITLE").contains("Сергей"))
        .expect("lead for Сергей");
    assert_eq!(field(sergey, "SOURCE_ID"), "OTHER");
    assert_eq!(
        field(sergey, "ASSIGNED_BY_ID"),
        env.s.user_default.to_string()
    );
    assert!(sergey.to_string().contains("79035550011"));

    // Telegram client without a phone: a lead keyed by the Chat2Desk client id; the operator
    // is matched by e-mail to a portal user.
    let olga = leads
        .iter()
        .find(|l| field(l, "TITLE").contains("Ольга"))
        .expect("lead for Ольга");
    assert_eq!(field(olga, "ASSIGNED_BY_ID"), env.s.user_ivan.to_string());
    assert_eq!(field(olga, "ORIGIN_ID"), env.s.client_telegram.to_string());
}

#[tokio::test]
async fn mapped_operator_becomes_responsible_of_a_new_lead() {
    let env = Env::new().await;
    let d = env.daemon(env.config(Integration::Lead)).await;
    let client = env
        .c2d
        .add_client("Тимур", Some("79990001122"), "whatsapp", env.s.channel);
    env.c2d.client_says(client, "Добрый день");
    env.c2d
        .operator_says(client, env.s.op_maria, "Здравствуйте, Тимур!");
    env.c2d.close_request(client);
    d.poller.poll_once().await.unwrap();
    d.worker.run_until_idle().await;
    let lead = env
        .portal
        .leads()
        .into_iter()
        .find(|l| field(l, "TITLE").contains("Тимур"))
        .unwrap();
    assert_eq!(field(&lead, "ASSIGNED_BY_ID"), env.s.user_maria.to_string());
}

#[tokio::test]
async fn transcript_has_link_dialog_files_and_times_in_the_configured_zone() {
    let env = Env::new().await;
    let mut config = env.config(Integration::Lead);
    config.crm.timezone = "Asia/Novosibirsk".into();
    let d = env.daemon(config).await;
    let client = env.s.client_new;
    let t = chrono::DateTime::parse_from_rfc3339("2026-02-14T07:15:00Z")
        .unwrap()
        .to_utc();
    let m1 = env
        .c2d
        .client_says(client, "Здравствуйте, есть ли парковка?");
    env.c2d.set_message_time(m1, t);
    let m2 = env.c2d.send_file(
        client,
        Some(env.s.op_ivan),
        "photo",
        "parking.jpg",
        "https://files.example.com/parking.jpg",
    );
    env.c2d
        .set_message_time(m2, t + chrono::Duration::minutes(1));
    let request = env.c2d.close_request(client);
    d.poller.poll_once().await.unwrap();
    d.worker.run_until_idle().await;
    let comments = env.comments_for(request);
    assert_eq!(comments.len(), 1);
    let text = &comments[0];
    assert!(text.contains(&format!("№{request}")), "{text}");
    assert!(text.contains("/chat/all?dialogID="), "{text}");
    // 07:15 UTC is 14:15 in Novosibirsk (UTC+7).
    assert!(text.contains("14:15"), "{text}");
    assert!(!text.contains("10:15"), "{text}");
    assert!(
        text.contains("[url=https://files.example.com/parking.jpg]parking.jpg[/url]"),
        "{text}"
    );
    assert!(text.contains("Здравствуйте, есть ли парковка?"), "{text}");
    assert!(text.contains("Иван Петров"), "operator named: {text}");
}

#[tokio::test]
async fn long_dialog_is_split_into_ordered_parts() {
    let env = Env::new().await;
    let mut config = env.config(Integration::Lead);
    config.crm.max_comment_bytes = 6000;
    let d = env.daemon(config).await;
    let client = env.s.client_new;
    for i in 0..300 {
        env.c2d.client_says(
            client,
            &format!("Сообщение номер {i}: {}", "текст ".repeat(10)),
        );
    }
    let request = env.c2d.close_request(client);
    d.poller.poll_once().await.unwrap();
    d.worker.run_until_idle().await;
    let comments = env.comments_for(request);
    assert!(comments.len() > 2, "split into parts: {}", comments.len());
    let n = comments.len();
    for (i, c) in comments.iter().enumerate() {
        assert!(c.len() <= 6000, "part {} has {} bytes", i + 1, c.len());
        let m = chat2desk_b24::flows::transcript::text::find_marker(c).unwrap();
        assert_eq!((m.part, m.total), (i + 1, n), "parts written in order");
    }
    let all = comments.join("\n");
    for i in 0..300 {
        assert_eq!(
            all.matches(&format!("Сообщение номер {i}:")).count(),
            1,
            "message {i} once"
        );
    }
}

#[tokio::test]
async fn contact_and_deal_for_new_and_existing_clients() {
    let env = Env::new().await;
    // An existing contact with an open deal, and one whose only deal is closed.
    let ann_contact = env
        .portal
        .add_contact("Анна", Some("+79161234567"), env.s.user_maria);
    let open_deal = env
        .portal
        .add_deal("Ипотека Анна", ann_contact, "EXECUTING", env.s.user_maria);
    let nik_contact = env
        .portal
        .add_contact("Никита", Some("89607940401"), env.s.user_ivan);
    env.portal
        .add_deal("Старая сделка", nik_contact, "WON", env.s.user_ivan);
    let closed = sync_all(&env, Integration::ContactDeal).await;

    assert_eq!(env.entity_of(closed[1]), ("deal".to_string(), open_deal));
    let (kind, nik_deal) = env.entity_of(closed[0]);
    assert_eq!(kind, "deal");
    assert_ne!(nik_deal.to_string(), "");
    let deals = env.portal.deals();
    let new_deal = deals
        .iter()
        .find(|d| field(d, "ID") == nik_deal.to_string())
        .unwrap();
    assert_eq!(
        field(new_deal, "CONTACT_ID"),
        nik_contact.to_string(),
        "new deal for the contact whose deals are closed"
    );
    // Сергей is new: one contact and one deal, with source and default responsible.
    let contacts = env.portal.contacts();
    let sergey: Vec<_> = contacts
        .iter()
        .filter(|c| field(c, "NAME") == "Сергей")
        .collect();
    assert_eq!(sergey.len(), 1);
    assert_eq!(field(sergey[0], "SOURCE_ID"), "OTHER");
    let (kind, deal) = env.entity_of(closed[2]);
    assert_eq!(kind, "deal");
    let deal = deals
        .iter()
        .find(|d| field(d, "ID") == deal.to_string())
        .unwrap();
    assert_eq!(field(deal, "CONTACT_ID"), field(sergey[0], "ID"));
    assert_eq!(
        field(deal, "ASSIGNED_BY_ID"),
        env.s.user_default.to_string()
    );
    // No lead was created in this mode.
    assert_eq!(env.portal.leads().len(), 2);
}

#[tokio::test]
async fn openlines_lead_generation() {
    let env = Env::new().await;
    let ann_contact = env
        .portal
        .add_contact("Анна", Some("+79161234567"), env.s.user_maria);
    let closed = sync_all(&env, Integration::OpenlinesLead).await;
    // A known contact keeps the conversation.
    assert_eq!(
        env.entity_of(closed[1]),
        ("contact".to_string(), ann_contact)
    );
    // A new client gets a lead titled the Open Lines way.
    let (kind, id) = env.entity_of(closed[2]);
    assert_eq!(kind, "lead");
    let lead = env
        .portal
        .leads()
        .into_iter()
        .find(|l| field(l, "ID") == id.to_string())
        .unwrap();
    assert!(field(&lead, "TITLE").contains("Открытая линия"), "{lead}");
}

#[tokio::test]
async fn a_request_synced_twice_still_has_one_comment() {
    let env = Env::new().await;
    let closed = sync_all(&env, Integration::Lead).await;
    let d = env.daemon(env.config(Integration::Lead)).await;
    for r in &closed {
        assert!(d
            .services()
            .store
            .retry(JobKind::TRANSCRIPT, *r)
            .await
            .unwrap());
    }
    d.worker.run_until_idle().await;
    for r in &closed {
        assert_eq!(env.comments_for(*r).len(), 1, "request {r}");
    }
    assert_eq!(env.portal.leads().len(), 4);
    assert_eq!(env.portal.notifications().len(), 1);
}

#[tokio::test]
async fn transient_portal_faults_are_retried_permanent_ones_go_dead_with_a_reason() {
    use chat2desk_b24::sim::faults::FaultKind;
    let env = Env::new().await;
    let d = env.daemon(env.config(Integration::Lead)).await;
    let closed = chat2desk_b24::sim::scenario::converse(&env.c2d, &env.s);
    d.poller.poll_once().await.unwrap();
    env.portal.faults().script([
        FaultKind::ServerError,
        FaultKind::RateLimit,
        FaultKind::Reset,
        FaultKind::BadGateway,
    ]);
    env.c2d
        .faults()
        .script([FaultKind::ServerError, FaultKind::Malformed]);
    // Retries are scheduled a second or two later: keep running until the queue is empty.
    for _ in 0..20 {
        d.worker.run_until_idle().await;
        let c = d.services().store.counts().await.unwrap();
        if c.pending == 0 && c.running == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    for r in &closed {
        assert_eq!(
            env.comments_for(*r).len(),
            1,
            "request {r} synced once despite faults"
        );
    }

    // A revoked scope is permanent: the job goes dead with a reason naming the fix.
    env.portal.set_scopes(&["user", "im"]);
    let client = env
        .c2d
        .add_client("Вера", Some("79001112233"), "whatsapp", env.s.channel);
    env.c2d.client_says(client, "Алло");
    let request = env.c2d.close_request(client);
    d.poller.poll_once().await.unwrap();
    d.worker.run_until_idle().await;
    let job = d
        .services()
        .store
        .job(JobKind::TRANSCRIPT, request)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Dead);
    let reason = job.last_error.unwrap();
    assert!(reason.contains("scope"), "{reason}");
}

#[tokio::test]
async fn requests_endpoints_missing_fall_back_to_the_dialog_messages() {
    let env = Env::new().await;
    let d = env.daemon(env.config(Integration::Lead)).await;
    let closed = chat2desk_b24::sim::scenario::converse(&env.c2d, &env.s);
    d.poller.poll_once().await.unwrap();
    // Without /requests/{id}/messages the dialog's messages are filtered by request id.
    env.c2d.set_request_endpoints(true, false);
    d.worker.run_until_idle().await;
    for r in &closed {
        let text = env.comments_for(*r);
        assert_eq!(text.len(), 1, "request {r}");
    }
    let nikita = &env.comments_for(closed[0])[0];
    assert!(nikita.contains("А ипотека есть?"), "{nikita}");
    assert!(
        !nikita.contains("парковка"),
        "another request's messages: {nikita}"
    );

    // Neither endpoint knows the request: dead with a reason, nothing written.
    env.c2d.set_request_endpoints(false, false);
    let store = &d.services().store;
    store
        .enqueue(
            JobKind::TRANSCRIPT,
            999_999,
            chat2desk_b24::store::Intake::Manual,
        )
        .await
        .unwrap();
    d.worker.run_until_idle().await;
    let job = store
        .job(JobKind::TRANSCRIPT, 999_999)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Dead);
    assert!(job.last_error.unwrap().contains("knows no request 999999"));
}
