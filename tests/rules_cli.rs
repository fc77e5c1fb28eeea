//! The rules in the commands: `status` lists the requests a `[crm.filter]` rule kept out,
//! with the rule; `webhook set` subscribes the tag events when a rule names tags, and
//! `inbox`/`outbox` with `[escalation]`.

mod common;

use chat2desk_b24::config::Integration;
use common::{command, output, Env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_a_skipped_request_with_its_rule() {
    let env = Env::new().await;
    let other_channel = env.s.channel + 1000;
    let mut config = env.config(Integration::Lead);
    config.crm.filter.channels = vec![other_channel];
    let d = env.daemon(config).await;
    let client = env
        .c2d
        .add_client("Анна", Some("79001110101"), "whatsapp", env.s.channel);
    env.c2d.client_says(client, "Здравствуйте");
    let request = env.c2d.close_request(client);
    d.poller.poll_once().await.expect("poll");
    d.worker.run_until_idle().await;

    let file = env.write_config(
        "lead",
        &format!("[crm.filter]\nchannels = [{other_channel}]\n"),
    );
    let (out, text) = output(command(&file, &["status", "--json"]));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
    let skipped = report["skipped"].as_array().expect("skipped[]");
    assert_eq!(skipped.len(), 1, "{report:#}");
    assert_eq!(skipped[0]["request_id"], request);
    let rule = skipped[0]["rule"].as_str().unwrap();
    assert!(rule.starts_with("crm.filter.channels"), "{rule}");

    let (_, text) = output(command(&file, &["status"]));
    assert!(text.contains("Skipped by [crm.filter]"), "{text}");
    assert!(text.contains(&format!("request {request} (")), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_set_subscribes_what_the_rules_need() {
    let env = Env::new().await;
    let events = |extra: &str| {
        let file = env.write_config("lead", extra);
        let set = output(command(
            &file,
            &["webhook", "set", "https://c2d.example.ru"],
        ));
        assert!(set.0.status.success(), "webhook set: {}", set.1);
        let (out, text) = output(command(&file, &["webhook", "show", "--json"]));
        let hooks: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {text}"));
        let events: Vec<String> = hooks[0]["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect();
        events
    };
    let secret = "[server]\nwebhook_secret = \"rules-cli-secret-0123456789\"\n";
    let plain = events(secret);
    assert!(
        !plain.iter().any(|e| e.contains("tag") || e == "outbox"),
        "{plain:?}"
    );

    let ruled = events(&format!(
        "{secret}[crm.filter]\nskip_tags = [\"Спам\"]\n[escalation]\nafter_minutes = 5\n"
    ));
    for wanted in [
        "close_request",
        "inbox",
        "outbox",
        "add_tag_to_request",
        "delete_tag_from_request",
        "add_tag_to_client",
        "delete_tag_from_client",
    ] {
        assert!(ruled.iter().any(|e| e == wanted), "{wanted} in {ruled:?}");
    }
}

#[test]
fn demo_shows_a_skipped_request_a_field_from_a_tag_and_an_escalation() {
    let mut demo = std::process::Command::new(common::binary());
    demo.arg("demo");
    let (out, all) = output(demo);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{all}");
    assert!(
        text.contains(
            "skipped, nothing written (crm.filter.skip_tags: the client carries tag \"Спам\")"
        ),
        "{text}"
    );
    assert!(
        text.contains("with SOURCE_ID PARTNER (from [[crm.tag_rules]])"),
        "{text}"
    );
    assert!(
        text.contains("клиент Ждущий клиент") && text.contains("ждёт ответа оператора"),
        "{text}"
    );
}
