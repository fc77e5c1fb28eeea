//! Loading and layering: defaults < the file < the environment, URLs normalised, a missing
//! file, and a dump that reads back the same.

use chat2desk_b24::config::{load, Config, Integration, OperatorRef, Secret};

use super::{err, hook, keys, minimal, ok, TOKEN};

#[test]
fn defaults_fill_every_key_not_in_the_file() {
    let c = ok(&minimal(), &[]).config;
    assert_eq!(c.chat2desk.api_url, "https://api.chat2desk.com");
    assert_eq!(c.chat2desk.web_url, None);
    assert_eq!(c.bitrix24.ca_file, None);
    assert_eq!(c.crm.integration, Integration::Lead);
    assert_eq!(c.crm.deal_category, 0);
    assert_eq!(c.crm.timezone, "Europe/Moscow");
    assert_eq!(c.timezone(), chrono_tz::Europe::Moscow);
    assert_eq!(c.sync.schedule, "0 * * * * *");
    assert_eq!(
        c.database.path,
        std::path::PathBuf::from("/var/lib/chat2desk-b24/state.db")
    );
    let d = Config::default();
    assert_eq!(c.sync, d.sync);
    assert_eq!(c.log, d.log);
    assert_eq!(c.chat2desk.token.expose(), TOKEN);
    assert_eq!(c.bitrix24.webhook_url.expose(), hook());
}

#[test]
fn example_file_passes_once_the_two_secrets_are_set() {
    let example = include_str!("../../config.example.toml");
    let hook = hook();
    let loaded = ok(
        example,
        &[
            ("CHAT2DESK_B24_CHAT2DESK__TOKEN", TOKEN),
            ("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL", &hook),
        ],
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    // Every key the example shows equals the built-in default (except the required ones).
    let mut expected = Config::default();
    expected.chat2desk.token = Secret::new(TOKEN);
    expected.bitrix24.webhook_url = Secret::new(hook);
    expected.crm.default_responsibles = vec![1];
    assert_eq!(loaded.config, expected);
    // Without the secrets, both are named.
    let e = err(example, &[]);
    assert_eq!(keys(&e), ["chat2desk.token", "bitrix24.webhook_url"]);
}

#[test]
fn toml_overrides_defaults() {
    let toml = format!(
        "{}integration = \"contact_deal\"\ndeal_category = 3\ntimezone = \"Asia/Yekaterinburg\"\n\
         source = \"WEB\"\n[sync]\nschedule = \"0 */5 * * * *\"\nworkers = 2\n\
         [[crm.operators]]\nchat2desk = 42\nbitrix24 = 7\n[[crm.operators]]\n\
         chat2desk = \"anna@example.com\"\nbitrix24 = 9\n",
        minimal()
    );
    let c = ok(&toml, &[]).config;
    assert_eq!(c.crm.integration, Integration::ContactDeal);
    assert_eq!(c.crm.deal_category, 3);
    assert_eq!(c.timezone(), chrono_tz::Asia::Yekaterinburg);
    assert_eq!(c.crm.source, "WEB");
    assert_eq!(c.sync.workers, 2);
    assert_eq!(c.crm.operators.len(), 2);
    assert_eq!(c.crm.operators[0].chat2desk, OperatorRef::Id(42));
    assert_eq!(
        c.crm.operators[1].chat2desk,
        OperatorRef::Email("anna@example.com".into())
    );
    assert_eq!(c.crm.operators[1].bitrix24, 9);
    let every_five_minutes = c
        .schedule()
        .upcoming(chrono::Utc)
        .take(2)
        .collect::<Vec<_>>();
    assert_eq!(
        (every_five_minutes[1] - every_five_minutes[0]).num_minutes(),
        5
    );
}

#[test]
fn environment_overrides_toml_with_nested_keys() {
    let c = ok(
        &minimal(),
        &[
            ("CHAT2DESK_B24_CRM__TIMEZONE", "Europe/Kaliningrad"),
            ("CHAT2DESK_B24_BITRIX24__BURST", "7"),
            ("CHAT2DESK_B24_BITRIX24__REQUESTS_PER_SECOND", "0.5"),
            ("CHAT2DESK_B24_CRM__DEFAULT_RESPONSIBLES", "[3, 4]"),
            ("CHAT2DESK_B24_CRM__INTEGRATION", "openlines_lead"),
            ("CHAT2DESK_B24_CRM__NEW_DEAL_WHEN_CLOSED", "false"),
            // Digits-only values of string keys stay strings.
            ("CHAT2DESK_B24_CHAT2DESK__TOKEN", "1234567890"),
            ("CHAT2DESK_B24_CRM__SOURCE", "5"),
            ("CHAT2DESK_B24_SYNC__SCHEDULE", "*/30 * * * * *"),
            ("CHAT2DESK_B24_DATABASE__PATH", "/tmp/state.db"),
            (
                "CHAT2DESK_B24_CHAT2DESK__WEB_URL",
                "https://web.example.com",
            ),
            ("PATH_UNRELATED", "x"),
        ],
    )
    .config;
    assert_eq!(c.crm.timezone, "Europe/Kaliningrad");
    assert_eq!(c.bitrix24.burst, 7);
    assert_eq!(c.bitrix24.requests_per_second, 0.5);
    assert_eq!(c.crm.default_responsibles, [3, 4]);
    assert_eq!(c.crm.integration, Integration::OpenlinesLead);
    assert!(!c.crm.new_deal_when_closed);
    assert_eq!(c.chat2desk.token.expose(), "1234567890");
    assert_eq!(c.crm.source, "5");
    assert_eq!(c.sync.schedule, "*/30 * * * * *");
    assert_eq!(c.database.path, std::path::PathBuf::from("/tmp/state.db"));
    assert_eq!(
        c.chat2desk.web_url.as_deref(),
        Some("https://web.example.com")
    );
}

#[test]
fn operators_can_come_from_the_environment() {
    let c = ok(
        &minimal(),
        &[(
            "CHAT2DESK_B24_CRM__OPERATORS",
            "[{chat2desk = 5, bitrix24 = 6}, {chat2desk = \"op@example.com\", bitrix24 = 8}]",
        )],
    )
    .config;
    assert_eq!(c.crm.operators.len(), 2);
    assert_eq!(c.crm.operators[0].chat2desk, OperatorRef::Id(5));
    assert_eq!(c.crm.operators[1].bitrix24, 8);
}

#[test]
fn urls_are_normalised() {
    let loaded = ok(
        &minimal(),
        &[
            (
                "CHAT2DESK_B24_CHAT2DESK__API_URL",
                "https://api.chat2desk.com/v1/",
            ),
            (
                "CHAT2DESK_B24_BITRIX24__WEBHOOK_URL",
                "https://portal.example/rest/1/abc",
            ),
        ],
    );
    assert_eq!(loaded.config.chat2desk.api_url, "https://api.chat2desk.com");
    assert_eq!(
        loaded.config.bitrix24.webhook_url.expose(),
        "https://portal.example/rest/1/abc/"
    );
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].key, "chat2desk.api_url");

    // Empty optional values mean "not set".
    let c = ok(
        &minimal(),
        &[
            ("CHAT2DESK_B24_CHAT2DESK__WEB_URL", ""),
            ("CHAT2DESK_B24_BITRIX24__CA_FILE", ""),
        ],
    )
    .config;
    assert_eq!(c.chat2desk.web_url, None);
    assert_eq!(c.bitrix24.ca_file, None);
}

#[test]
fn load_needs_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("config.toml");
    let e = load(&missing).unwrap_err();
    assert_eq!(keys(&e), [missing.display().to_string().as_str()]);
    assert!(e.problems[0].message.contains("config.example.toml"), "{e}");

    std::fs::write(&missing, minimal()).unwrap();
    let loaded = load(&missing).unwrap();
    assert!(!loaded.config.chat2desk.token.is_empty());
}

#[test]
fn dump_reads_back_as_the_same_config() {
    let toml = format!(
        "{}[[crm.operators]]\nchat2desk = \"a@example.com\"\nbitrix24 = 2\n",
        minimal().replace(
            "[chat2desk]\n",
            "[chat2desk]\nweb_url = \"https://web.example.com\"\n"
        )
    );
    let original = ok(&toml, &[]).config;
    let dump = original.dump();
    let hook = hook();
    let again = ok(
        &dump,
        &[
            ("CHAT2DESK_B24_CHAT2DESK__TOKEN", TOKEN),
            ("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL", &hook),
        ],
    )
    .config;
    assert_eq!(again, original);
}
