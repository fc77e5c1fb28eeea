//! Errors a sysadmin meets: unknown keys, wrong types, syntax errors, and every semantic check
//! naming its key, all at once.

use chat2desk_b24::config::{validate, Config, OperatorRef, Secret};

use super::{err, keys, minimal, ok, TOKEN};

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let toml = minimal().replace("default_responsibles", "default_responsible");
    let e = err(&toml, &[]);
    assert_eq!(keys(&e), ["crm.default_responsible"]);
    assert!(
        e.problems[0]
            .message
            .contains("did you mean `default_responsibles`"),
        "{e}"
    );

    let e = err(&format!("{}[crmm]\nsource = \"WEB\"\n", minimal()), &[]);
    assert_eq!(keys(&e), ["crmm"]);
    assert!(e.problems[0].message.contains("`crm`"), "{e}");

    let e = err(
        &format!(
            "{}[[crm.operators]]\nchat2desk = 1\nbitrix = 2\n",
            minimal()
        ),
        &[],
    );
    assert_eq!(keys(&e), ["crm.operators[0].bitrix"]);
}

#[test]
fn wrong_types_name_the_key_and_the_expected_type() {
    let e = err(
        &minimal().replace("[bitrix24]\n", "[bitrix24]\nburst = \"many\"\n"),
        &[],
    );
    assert_eq!(keys(&e), ["bitrix24.burst"]);
    assert_eq!(
        e.problems[0].message,
        "the text \"many\" is not a whole number, at least 1; write it (without quotes) like \
         burst = 50"
    );

    let e = err(&minimal(), &[("CHAT2DESK_B24_SYNC__WORKERS", "lots")]);
    assert_eq!(keys(&e), ["sync.workers"]);

    let e = err(
        &minimal().replace("integration", "x"),
        &[("CHAT2DESK_B24_CRM__INTEGRATION", "deal")],
    );
    assert_eq!(keys(&e), ["crm.integration"]);
    assert!(e.problems[0].message.contains("contact_deal"), "{e}");

    let e = err(
        &format!("{}[[crm.operators]]\nchat2desk = 1\n", minimal()),
        &[],
    );
    assert_eq!(keys(&e), ["crm.operators[0].bitrix24"]);

    let e = err(&minimal().replace(&format!("\"{TOKEN}\""), "4711"), &[]);
    assert_eq!(keys(&e), ["chat2desk.token"]);
    assert!(!e.to_string().contains("4711"), "{e}");
}

#[test]
fn syntax_errors_give_the_line_without_echoing_it() {
    let toml = minimal().replace(&format!("\"{TOKEN}\""), &format!("\"{TOKEN}"));
    let e = err(&toml, &[]);
    assert_eq!(e.problems.len(), 1);
    assert!(e.problems[0].message.contains("line 2"), "{e}");
    assert!(!format!("{e} {e:?}").contains(TOKEN), "{e}");
}

/// One case per semantic check: a change to a valid config and the key it must name.
#[test]
fn every_semantic_check_names_its_key() {
    type Case = (&'static str, fn(&mut Config));
    let cases: Vec<Case> = vec![
        ("chat2desk.api_url", |c| {
            c.chat2desk.api_url = "api.chat2desk.com".into()
        }),
        ("chat2desk.web_url", |c| {
            c.chat2desk.web_url = Some("ftp://web.example".into())
        }),
        ("chat2desk.token", |c| c.chat2desk.token = Secret::new("")),
        ("chat2desk.requests_per_second", |c| {
            c.chat2desk.requests_per_second = -1.0
        }),
        ("chat2desk.timeout_secs", |c| c.chat2desk.timeout_secs = 0),
        ("chat2desk.naive_timezone", |c| {
            c.chat2desk.naive_timezone = "Mars/Base".into()
        }),
        ("bitrix24.webhook_url", |c| {
            c.bitrix24.webhook_url = Secret::new("")
        }),
        ("bitrix24.webhook_url", |c| {
            c.bitrix24.webhook_url = Secret::new("https://portal.example/rest/1/abc123/profile")
        }),
        ("bitrix24.webhook_url", |c| {
            c.bitrix24.webhook_url = Secret::new("https://portal.example/rest/1/")
        }),
        ("bitrix24.webhook_url", |c| {
            c.bitrix24.webhook_url = Secret::new("https://portal.example/1/abc123/")
        }),
        ("bitrix24.webhook_url", |c| {
            c.bitrix24.webhook_url = Secret::new("portal/rest/1/x/")
        }),
        ("bitrix24.ca_file", |c| {
            c.bitrix24.ca_file = Some("/nonexistent/ca.pem".into())
        }),
        ("bitrix24.requests_per_second", |c| {
            c.bitrix24.requests_per_second = f64::NAN
        }),
        ("bitrix24.burst", |c| c.bitrix24.burst = 0),
        ("bitrix24.timeout_secs", |c| c.bitrix24.timeout_secs = 0),
        ("crm.source", |c| c.crm.source = String::new()),
        ("crm.source", |c| c.crm.source = "other source".into()),
        ("crm.default_responsibles", |c| {
            c.crm.default_responsibles.clear()
        }),
        ("crm.default_responsibles[2]", |c| {
            c.crm.default_responsibles = vec![1, 2, -3]
        }),
        ("crm.deal_category", |c| c.crm.deal_category = -1),
        ("crm.timezone", |c| c.crm.timezone = "Moscow".into()),
        ("crm.max_comment_bytes", |c| c.crm.max_comment_bytes = 100),
        ("crm.max_comment_bytes", |c| {
            c.crm.max_comment_bytes = 60_001
        }),
        ("crm.operators[0].bitrix24", |c| {
            c.crm.operators[0].bitrix24 = 0
        }),
        ("crm.operators[0].chat2desk", |c| {
            c.crm.operators[0].chat2desk = OperatorRef::Id(0)
        }),
        ("crm.operators[1].chat2desk", |c| {
            c.crm.operators[1].chat2desk = OperatorRef::Email("not-an-email".into())
        }),
        ("crm.operators[1].chat2desk", |c| {
            c.crm.operators[1].chat2desk = c.crm.operators[0].chat2desk.clone()
        }),
        ("sync.schedule", |c| c.sync.schedule = "*/5 * * * *".into()),
        ("sync.schedule", |c| c.sync.schedule = "every minute".into()),
        ("sync.workers", |c| c.sync.workers = 0),
        ("sync.workers", |c| c.sync.workers = 257),
        ("sync.max_attempts", |c| c.sync.max_attempts = 0),
        ("sync.lease_secs", |c| c.sync.lease_secs = 29),
        ("sync.backoff_base_secs", |c| c.sync.backoff_base_secs = 0),
        ("sync.backoff_max_secs", |c| {
            c.sync.backoff_base_secs = 60;
            c.sync.backoff_max_secs = 30
        }),
        ("database.path", |c| c.database.path = "".into()),
        ("log.level", |c| c.log.level = "info,=[".into()),
        ("log.level", |c| c.log.level = String::new()),
    ];
    let mut base = ok(
        &format!(
            "{}[[crm.operators]]\nchat2desk = 1\nbitrix24 = 2\n[[crm.operators]]\n\
             chat2desk = \"b@example.com\"\nbitrix24 = 3\n",
            minimal()
        ),
        &[],
    )
    .config;
    assert!(validate(&base).is_empty());
    for (key, change) in cases {
        let mut c = base.clone();
        change(&mut c);
        let problems = validate(&c);
        assert_eq!(problems.len(), 1, "{key}: {problems:?}");
        assert_eq!(problems[0].key, key, "{problems:?}");
        assert!(!problems[0].message.is_empty());
    }
    // The 5-field hint says how to fix it.
    base.sync.schedule = "*/5 * * * *".into();
    assert!(validate(&base)[0].message.contains("0 */5 * * * *"));
}

#[test]
fn all_semantic_problems_are_reported_at_once() {
    let toml = format!(
        "{}timezone = \"Nowhere\"\n[sync]\nworkers = 0\nschedule = \"* * * * *\"\n",
        minimal()
    );
    let e = err(&toml, &[("CHAT2DESK_B24_CHAT2DESK__TOKEN", "")]);
    assert_eq!(
        keys(&e),
        [
            "chat2desk.token",
            "crm.timezone",
            "sync.schedule",
            "sync.workers"
        ]
    );
    assert_eq!(e.to_string().lines().count(), 4);
    assert!(e.to_string().lines().all(|l| l.contains(": ")));
}
