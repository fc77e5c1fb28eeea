//! The rules of `[crm]` against the simulators, in-process over real HTTP and a real SQLite
//! file: `[crm.filter]` keeps requests out (done, nothing written, the rule in the job),
//! `responsible_pick = "round_robin"` shares new entities in turn, and the config keys
//! parse with problems naming their keys.

mod common;

use chat2desk_b24::config::{load_from_str, Integration, ResponsiblePick, TagRef};
use chat2desk_b24::engine::Steps;
use chat2desk_b24::flows::transcript::Progress;
use chat2desk_b24::store::{JobKind, JobState, Store};
use common::{field, Env};
use std::collections::BTreeMap;

/// A new client on the scenario's channel who writes once; the request is closed.
fn new_request(env: &Env, name: &str, phone: &str) -> (i64, i64) {
    let client = env
        .c2d
        .add_client(name, Some(phone), "whatsapp", env.s.channel);
    env.c2d.client_says(client, "Здравствуйте");
    (client, env.c2d.close_request(client))
}

/// The job's saved progress after the worker ran.
async fn progress(store: &Store, request: i64) -> Progress {
    let job = store
        .job(JobKind::TRANSCRIPT, request)
        .await
        .unwrap()
        .expect("the request was queued");
    assert_eq!(job.state, JobState::Done, "{:?}", job.last_error);
    <Progress as Steps>::of(&job)
}

#[tokio::test]
async fn the_filter_skips_by_tag_and_channel_and_records_the_rule() {
    let env = Env::new().await;
    let spam = env.c2d.add_tag("Спам");
    let sales = env.c2d.add_tag("Продажи");
    let mut config = env.config(Integration::Lead);
    config.crm.filter.skip_tags = vec![TagRef::Label("спам".into())];
    config.crm.filter.only_tags = vec![TagRef::Id(sales)];
    let d = env.daemon(config).await;

    // A client tagged spam, a client tagged sales, a request tagged sales, and one untagged.
    let (spammer, spam_request) = new_request(&env, "Бот", "79001110001");
    env.c2d.tag_client(spammer, spam);
    env.c2d.tag_client(spammer, sales);
    let (buyer, buyer_request) = new_request(&env, "Покупатель", "79001110002");
    env.c2d.tag_client(buyer, sales);
    let (_, tagged_request) = new_request(&env, "Гость", "79001110003");
    env.c2d.tag_request(tagged_request, sales);
    let (_, plain_request) = new_request(&env, "Прохожий", "79001110004");
    d.poller.poll_once().await.expect("poll");
    d.worker.run_until_idle().await;

    let store = &d.services().store;
    let spam_job = progress(store, spam_request).await;
    let why = spam_job.skipped.expect("spam is skipped");
    assert!(why.starts_with("crm.filter.skip_tags"), "{why}");
    assert_eq!((spam_job.entity, spam_job.parts_written.len()), (None, 0));
    assert!(env.comments_for(spam_request).is_empty());

    let plain = progress(store, plain_request).await.skipped;
    assert!(plain.is_some_and(|w| w.starts_with("crm.filter.only_tags")));
    assert!(env.comments_for(plain_request).is_empty());

    for synced in [buyer_request, tagged_request] {
        assert_eq!(progress(store, synced).await.skipped, None);
        assert_eq!(env.comments_for(synced).len(), 1, "request {synced}");
    }
}

#[tokio::test]
async fn a_channel_not_listed_is_skipped_and_the_rest_written() {
    let env = Env::new().await;
    let mut config = env.config(Integration::Lead);
    config.crm.filter.channels = vec![env.s.channel + 1000];
    let d = env.daemon(config).await;
    let (_, request) = new_request(&env, "Анна", "79001110005");
    d.poller.poll_once().await.expect("poll");
    d.worker.run_until_idle().await;
    let why = progress(&d.services().store, request).await.skipped;
    let why = why.expect("the channel is not listed");
    assert_eq!(
        why,
        format!(
            "crm.filter.channels: channel {} is not listed",
            env.s.channel
        )
    );
    assert!(env.comments_for(request).is_empty());
}

#[tokio::test]
async fn round_robin_gives_each_default_responsible_its_turn() {
    let env = Env::new().await;
    let mut config = env.config(Integration::Lead);
    let users = [env.s.user_default, env.s.user_maria];
    config.crm.default_responsibles = users.to_vec();
    config.crm.responsible_pick = ResponsiblePick::RoundRobin;
    let d = env.daemon(config).await;
    let requests: Vec<i64> = (0..4)
        .map(|i| new_request(&env, &format!("Клиент {i}"), &format!("7900222000{i}")).1)
        .collect();
    d.poller.poll_once().await.expect("poll");
    d.worker.run_until_idle().await;

    let mut per_user: BTreeMap<String, usize> = BTreeMap::new();
    for request in &requests {
        let (kind, id) = env.entity_of(*request);
        assert_eq!(kind, "lead");
        let lead = env.portal.lead(id).expect("the lead exists");
        *per_user.entry(field(&lead, "ASSIGNED_BY_ID")).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = users.iter().map(|u| (u.to_string(), 2)).collect();
    assert_eq!(per_user, expected);
}

#[tokio::test]
async fn round_robin_skips_a_deactivated_user() {
    let env = Env::new().await;
    let gone = env
        .portal
        .add_user("Уволен", "Давно", "gone@example.ru", false);
    let mut config = env.config(Integration::Lead);
    config.crm.default_responsibles = vec![gone, env.s.user_default];
    config.crm.responsible_pick = ResponsiblePick::RoundRobin;
    let d = env.daemon(config).await;
    let requests: Vec<i64> = (0..2)
        .map(|i| new_request(&env, &format!("Гость {i}"), &format!("7900333000{i}")).1)
        .collect();
    d.poller.poll_once().await.expect("poll");
    d.worker.run_until_idle().await;
    for request in requests {
        let (_, id) = env.entity_of(request);
        let lead = env.portal.lead(id).unwrap();
        assert_eq!(
            field(&lead, "ASSIGNED_BY_ID"),
            env.s.user_default.to_string()
        );
    }
}

#[tokio::test]
async fn the_rule_keys_parse_and_wrong_values_name_their_key() {
    let base = "[chat2desk]\ntoken = \"t\"\n[bitrix24]\nwebhook_url = \"https://b24.example.ru/rest/1/abc/\"\n";
    let good = format!(
        "{base}[crm]\ndefault_responsibles = [1, 7]\nresponsible_pick = \"least_open\"\n\
         [crm.filter]\nchannels = [17, 18]\nonly_tags = [\"Продажи\"]\nskip_tags = [\"Спам\", 12]\n\
         [[crm.fields]]\nfrom = \"client.custom_fields.city\"\nto = \"UF_CRM_CITY\"\n\
         [[crm.tag_rules]]\ntag = \"VIP\"\nset = {{ SOURCE_ID = \"PARTNER\", OPENED = \"Y\" }}\n\
         [escalation]\nafter_minutes = 5\nnotify = [1, 7]\nworking_hours = \"Mon-Fri 09:00-18:00\"\n"
    );
    let loaded = load_from_str(&good, &[]).expect("the documented example loads");
    let crm = &loaded.config.crm;
    assert_eq!(crm.responsible_pick, ResponsiblePick::LeastOpen);
    assert_eq!(crm.filter.channels, [17, 18]);
    assert_eq!(crm.filter.skip_tags[1], TagRef::Id(12));
    assert_eq!(crm.fields[0].to, "UF_CRM_CITY");
    assert!(!crm.fields[0].update);
    assert_eq!(crm.tag_rules[0].set["OPENED"], "Y");
    assert_eq!(
        loaded.config.escalation.unwrap().after_minutes,
        5.0,
        "a whole number loads"
    );

    let bad = format!(
        "{base}[crm]\ndefault_responsibles = [1]\nresponsible_pick = \"fair\"\n\
         [crm.filter]\nonly_tags = [\"VIP\"]\nskip_tags = [\"VIP\"]\n\
         [[crm.fields]]\nfrom = \"client.shoe_size\"\nto = \"uf city\"\n\
         [escalation]\nnotify = \"boss\"\nworking_hours = \"Mon-Fri 18:00-09:00\"\n"
    );
    let e = load_from_str(&bad, &[]).expect_err("wrong values are refused");
    let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "crm.responsible_pick",
        "crm.filter.skip_tags[0]",
        "crm.fields[0].from",
        "crm.fields[0].to",
        "escalation.notify",
        "escalation.working_hours",
    ] {
        assert!(keys.contains(&key), "{key} not in {keys:?}");
    }
}

#[tokio::test]
async fn a_tag_rule_and_a_field_rule_fill_the_new_lead_in_its_own_add() {
    let env = Env::new().await;
    let vip = env.c2d.add_tag("VIP");
    let mut config = env.config(Integration::Lead);
    config.crm.tag_rules = vec![chat2desk_b24::config::TagRule {
        tag: TagRef::Label("VIP".into()),
        set: [("SOURCE_ID".to_string(), "PARTNER".to_string())].into(),
    }];
    config.crm.fields = vec![chat2desk_b24::config::FieldRule {
        from: "request.tags".into(),
        to: "COMMENTS".into(),
        update: false,
    }];
    let d = env.daemon(config).await;
    // The portal requests of one new lead, first without a rule that applies, then with.
    let mut portal_requests = Vec::new();
    let mut last = 0;
    for (name, phone, tagged) in [
        ("Обычный", "79001110008", false),
        ("Важный", "79001110009", true),
    ] {
        let (client, request) = new_request(&env, name, phone);
        if tagged {
            env.c2d.tag_client(client, vip);
        }
        d.poller.poll_once().await.expect("poll");
        let before = env.portal.http_requests();
        d.worker.run_until_idle().await;
        portal_requests.push(env.portal.http_requests() - before);
        last = request;
    }
    let request = last;

    let (_, id) = env.entity_of(request);
    let lead = env.portal.lead(id).unwrap();
    assert_eq!(field(&lead, "SOURCE_ID"), "PARTNER");
    assert_eq!(field(&lead, "COMMENTS"), "VIP");
    assert_eq!(
        portal_requests[0], portal_requests[1],
        "the rules add no portal request"
    );
}
