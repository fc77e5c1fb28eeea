//! Configuration loading as a sysadmin and the independent test suite use it: layering,
//! `*_file` secrets, errors naming keys, warnings, and secrets never shown.

use chat2desk_b24::config::{
    load, load_from_str, validate, Config, ConfigError, Integration, Loaded, OperatorRef, Secret,
};
use std::io::Write;

const TOKEN: &str = "tok-SECRET-4711";
const HOOK_SECRET: &str = "hooksecret0042xyz";

fn hook() -> String {
    format!("https://portal.example/rest/1/{HOOK_SECRET}/")
}

fn minimal() -> String {
    format!(
        "[chat2desk]\ntoken = \"{TOKEN}\"\n[bitrix24]\nwebhook_url = \"{}\"\n[crm]\n\
         default_responsibles = [1]\n",
        hook()
    )
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ok(toml: &str, vars: &[(&str, &str)]) -> Loaded {
    match load_from_str(toml, &env(vars)) {
        Ok(loaded) => loaded,
        Err(e) => panic!("expected a usable config, got:\n{e}"),
    }
}

fn err(toml: &str, vars: &[(&str, &str)]) -> ConfigError {
    match load_from_str(toml, &env(vars)) {
        Ok(loaded) => panic!("expected an error, got {:?}", loaded.config),
        Err(e) => e,
    }
}

fn keys(e: &ConfigError) -> Vec<&str> {
    e.problems.iter().map(|p| p.key.as_str()).collect()
}

fn secret_file(content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f
}

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
    let example = include_str!("../config.example.toml");
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
fn secrets_can_be_read_from_files() {
    let token = secret_file("  file-token-1\n");
    let hook_file = secret_file(&format!("{}\n", hook()));
    let toml = format!(
        "[chat2desk]\ntoken_file = \"{}\"\n[crm]\ndefault_responsibles = [1]\n",
        token.path().display()
    );
    let hook_path = hook_file.path().display().to_string();
    let c = ok(
        &toml,
        &[("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL_FILE", &hook_path)],
    )
    .config;
    assert_eq!(c.chat2desk.token.expose(), "file-token-1");
    assert_eq!(c.bitrix24.webhook_url.expose(), hook());

    // The environment beats a token_file in the TOML.
    let c = ok(
        &toml,
        &[
            ("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL_FILE", &hook_path),
            ("CHAT2DESK_B24_CHAT2DESK__TOKEN", "env-token"),
        ],
    )
    .config;
    assert_eq!(c.chat2desk.token.expose(), "env-token");

    // An empty placeholder next to token_file is fine (the example file has one).
    let toml = format!(
        "[chat2desk]\ntoken = \"\"\ntoken_file = \"{}\"\n[bitrix24]\nwebhook_url = \"{}\"\n\
         [crm]\ndefault_responsibles = [1]\n",
        token.path().display(),
        hook()
    );
    assert_eq!(
        ok(&toml, &[]).config.chat2desk.token.expose(),
        "file-token-1"
    );
}

#[test]
fn secret_file_problems_name_the_key() {
    let e = err(
        &minimal(),
        &[(
            "CHAT2DESK_B24_BITRIX24__WEBHOOK_URL_FILE",
            "/nonexistent/hook",
        )],
    );
    // Both set in the same layer? No: TOML has webhook_url, env has the file: env wins.
    assert_eq!(keys(&e), ["bitrix24.webhook_url_file"]);
    assert!(e.problems[0].message.contains("/nonexistent/hook"), "{e}");

    let token = secret_file("t");
    let toml = format!(
        "[chat2desk]\ntoken = \"{TOKEN}\"\ntoken_file = \"{}\"\n",
        token.path().display()
    );
    let e = err(&toml, &[]);
    // Every problem at once: the double secret and the two keys the file lacks.
    assert_eq!(
        keys(&e),
        [
            "chat2desk.token_file",
            "bitrix24.webhook_url",
            "crm.default_responsibles"
        ]
    );
    assert!(e.problems[0].message.contains("only one"), "{e}");
    assert!(!e.to_string().contains(TOKEN));
}

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

#[test]
fn secrets_never_show() {
    let loaded = ok(&minimal(), &[]);
    let c = &loaded.config;
    let shown = format!("{c:?} {} {:?}", c.dump(), loaded.warnings);
    assert!(
        !shown.contains(TOKEN) && !shown.contains(HOOK_SECRET),
        "{shown}"
    );
    assert!(c.dump().contains("token = \"***\""));
    assert!(c.dump().contains("webhook_url = \"***\""));
    assert_eq!(format!("{}", c.chat2desk.token), "***");

    // Malformed webhook URLs are described, not echoed.
    for bad in [
        format!("https://portal.example/rest/1/{HOOK_SECRET}/profile"),
        format!("ftp://portal.example/rest/1/{HOOK_SECRET}/"),
        format!("https://portal.example/{HOOK_SECRET}/"),
        format!("portal.example/rest/1/{HOOK_SECRET}"),
        format!("http://portal .example/rest/1/{HOOK_SECRET}/"),
    ] {
        let e = err(&minimal(), &[("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL", &bad)]);
        assert_eq!(keys(&e), ["bitrix24.webhook_url"], "{bad}");
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(HOOK_SECRET), "{shown}");
    }
    let e = err(
        &minimal(),
        &[(
            "CHAT2DESK_B24_BITRIX24__WEBHOOK_URL",
            &format!("[{HOOK_SECRET}]"),
        )],
    );
    assert!(!format!("{e} {e:?}").contains(HOOK_SECRET), "{e}");
}

#[test]
fn plain_http_warns_unless_loopback() {
    let w = ok(
        &minimal(),
        &[
            (
                "CHAT2DESK_B24_BITRIX24__WEBHOOK_URL",
                "http://portal.example/rest/1/abc/",
            ),
            ("CHAT2DESK_B24_CHAT2DESK__API_URL", "http://api.example"),
        ],
    )
    .warnings;
    let keys: Vec<_> = w.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["chat2desk.api_url", "bitrix24.webhook_url"]);
    assert!(!format!("{w:?}").contains("abc"));

    for (api, hook) in [
        ("http://127.0.0.1:8080", "http://127.0.0.1:9090/rest/1/abc/"),
        ("http://localhost:1", "http://[::1]:2/rest/1/abc/"),
    ] {
        let w = ok(
            &minimal(),
            &[
                ("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL", hook),
                ("CHAT2DESK_B24_CHAT2DESK__API_URL", api),
            ],
        )
        .warnings;
        assert!(w.is_empty(), "{w:?}");
    }
}

#[test]
fn a_plain_http_oauth_url_warns_it_carries_the_client_secret() {
    let app = |oauth: &str| {
        format!(
            "{}[server]\nlisten = \"127.0.0.1:8089\"\n[bitrix24.app]\nclient_id = \"local.a.b\"\n\
             client_secret = \"app-secret-0123\"\ndaemon_url = \"https://c2d.corp.lan\"\n\
             oauth_url = \"{oauth}\"\n",
            minimal()
        )
    };
    let w = ok(&app("http://oauth.corp.lan"), &[]).warnings;
    let keys: Vec<_> = w.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["bitrix24.app.oauth_url"], "{w:?}");
    assert!(w[0].message.contains("https://"), "{w:?}");
    assert!(!format!("{w:?}").contains("app-secret-0123"));
    assert!(ok(&app("https://oauth.bitrix.info"), &[])
        .warnings
        .is_empty());
}

#[test]
fn unknown_environment_variables_warn() {
    let loaded = ok(
        &minimal(),
        &[
            ("CHAT2DESK_B24_BITRIX24__WEBHOK_URL", "x"),
            ("CHAT2DESK_B24_CONFIG", "/etc/chat2desk-b24/config.toml"),
            ("CHAT2DESK_B24_LOGLEVEL", "debug"),
        ],
    );
    let keys: Vec<_> = loaded.warnings.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "CHAT2DESK_B24_BITRIX24__WEBHOK_URL",
            "CHAT2DESK_B24_LOGLEVEL"
        ]
    );
    assert!(loaded.warnings[0]
        .message
        .contains("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL"));
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

#[test]
fn misplaced_values_are_not_echoed() {
    let e = err(&format!("chat2desk = \"{TOKEN}\"\n"), &[]);
    assert_eq!(
        keys(&e),
        [
            "chat2desk",
            "bitrix24.webhook_url",
            "crm.default_responsibles"
        ]
    );
    assert!(!e.to_string().contains(TOKEN), "{e}");
}

#[test]
fn bizproc_section_keys_secret_file_and_errors_name_the_key() {
    let file = secret_file("bizproc-secret-from-a-file\n");
    let toml = format!(
        "{}[bizproc]\nsecret_file = \"{}\"\nwrite_first_daily_limit = 0\nfiles = \"links\"\n\
         daemon_url = \"http://10.0.0.5:8089\"\nwait_timeout_secs = 600\n",
        minimal(),
        file.path().display()
    );
    let c = ok(&toml, &[]).config;
    assert_eq!(c.bizproc.secret.expose(), "bizproc-secret-from-a-file");
    assert_eq!(c.bizproc.write_first_daily_limit, 0);
    assert_eq!(c.bizproc.files, chat2desk_b24::config::FileMode::Links);
    assert!(!format!("{:?}", c).contains("bizproc-secret-from-a-file"));
    // From the environment too.
    let c = ok(
        &minimal(),
        &[("CHAT2DESK_B24_BIZPROC__SECRET", "0123456789abcdefXYZ")],
    )
    .config;
    assert_eq!(c.bizproc.secret.expose(), "0123456789abcdefXYZ");
    assert_eq!(
        c.bizproc.write_first_daily_limit, 20,
        "the seed's advice is the default"
    );

    let e = err(
        &format!(
            "{}[bizproc]\nsecret = \"short\"\nwait_timeout_secs = 1\n",
            minimal()
        ),
        &[],
    );
    assert_eq!(keys(&e), ["bizproc.secret", "bizproc.wait_timeout_secs"]);
    assert!(
        !e.to_string().contains("short\""),
        "the secret is not shown: {e}"
    );
    let e = err(
        &format!("{}[bizproc]\nwrite_first_daly_limit = 5\n", minimal()),
        &[],
    );
    assert!(
        e.to_string()
            .contains("did you mean `write_first_daily_limit`"),
        "{e}"
    );
    let e = err(
        &format!(
            "{}[server]\nlisten = \"\"\n[bizproc]\nsecret = \"0123456789abcdef\"\n",
            minimal()
        ),
        &[],
    );
    assert_eq!(keys(&e), ["server.listen"]);
}

const DB_PASSWORD: &str = "db-Pa55-secret";

fn db_url() -> String {
    format!("mysql://chat2desk:{DB_PASSWORD}@db.example.local:3306/chat2desk_b24")
}

#[test]
fn database_url_replaces_path_and_its_password_never_shows() {
    let c = ok(
        &format!("{}[database]\nurl = \"{}\"\n", minimal(), db_url()),
        &[],
    )
    .config;
    assert_eq!(
        c.database.url.as_ref().map(|u| u.expose().to_string()),
        Some(db_url())
    );
    let dump = c.dump();
    assert!(
        dump.contains("url = \"mysql://chat2desk:***@db.example.local:3306/chat2desk_b24\""),
        "{dump}"
    );
    assert!(
        !dump.contains(DB_PASSWORD) && !dump.contains("path ="),
        "{dump}"
    );
    assert!(!format!("{c:?}").contains(DB_PASSWORD));
    assert!(!format!("{:?}", c.database.location()).contains(DB_PASSWORD));
    // From a file, or the environment.
    let file = secret_file(&format!("{}\n", db_url()));
    let c = ok(
        &format!(
            "{}[database]\nurl_file = \"{}\"\n",
            minimal(),
            file.path().display()
        ),
        &[],
    )
    .config;
    assert_eq!(c.database.url.unwrap().expose(), db_url());
    let c = ok(&minimal(), &[("CHAT2DESK_B24_DATABASE__URL", &db_url())]).config;
    assert_eq!(c.database.url.unwrap().expose(), db_url());
}

#[test]
fn database_path_and_url_are_exclusive() {
    let e = err(
        &format!(
            "{}[database]\npath = \"/tmp/state.db\"\nurl = \"{}\"\n",
            minimal(),
            db_url()
        ),
        &[],
    );
    assert_eq!(keys(&e), vec!["database.url"]);
    let text = e.to_string();
    assert!(
        text.contains("database.path") && text.contains("exactly one"),
        "{text}"
    );
    assert!(!text.contains(DB_PASSWORD));
    // Across layers too.
    let e = err(
        &format!("{}[database]\npath = \"/tmp/state.db\"\n", minimal()),
        &[("CHAT2DESK_B24_DATABASE__URL", &db_url())],
    );
    assert_eq!(keys(&e), vec!["database.url"]);
}

#[test]
fn a_database_url_that_is_not_mysql_names_the_key_without_the_password() {
    for bad in [
        format!("postgres://u:{DB_PASSWORD}@h/db"),
        format!("mysql://u:{DB_PASSWORD}@h:3306/"),
        format!("mysql://:{DB_PASSWORD}@h/db"),
        "not a url".to_string(),
    ] {
        let e = err(&format!("{}[database]\nurl = \"{bad}\"\n", minimal()), &[]);
        assert_eq!(keys(&e), vec!["database.url"], "{bad}");
        let text = e.to_string();
        assert!(
            text.contains("mysql://user:password@host:3306/database"),
            "{text}"
        );
        assert!(!text.contains(DB_PASSWORD), "{text}");
    }
}

#[test]
fn node_name_defaults_to_the_host_name_and_is_checked() {
    let c = ok(&minimal(), &[]).config;
    assert_eq!(c.node.name, chat2desk_b24::store::default_node_name());
    assert!(!c.node.name.is_empty());
    assert_eq!((c.node.lease_secs, c.sync.lease_secs), (15, 30));
    let c = ok(
        &format!("{}[node]\nname = \"c2d-node-2\"\n", minimal()),
        &[],
    )
    .config;
    assert_eq!(c.node.name, "c2d-node-2");
    let e = err(
        &format!(
            "{}[node]\nname = \"two words\"\nlease_secs = 1\n",
            minimal()
        ),
        &[],
    );
    assert_eq!(keys(&e), vec!["node.name", "node.lease_secs"]);
    let e = err(&format!("{}[node]\nnames = \"x\"\n", minimal()), &[]);
    assert!(e.to_string().contains("did you mean `name`"), "{e}");
}

const APP: &str =
    "[bitrix24.app]\nclient_id = \"local.abc.123\"\nclient_secret = \"app-SECRET-77\"\n\
     oauth_url = \"https://oauth.bitrix.info\"\ndaemon_url = \"https://c2d.corp.lan\"\n";

#[test]
fn openlines_contract_keys_load() {
    let toml = format!(
        "{}{APP}[openlines]\nconnector = \"c2d_main\"\nevents_poll_ms = 500\n\
         [[openlines.lines]]\nline = 3\nchannels = [17, 18]\n[[openlines.lines]]\nline = 5\n\
         channels = [19]\n[server]\npublic_url = \"https://c2d.example.com\"\n",
        minimal()
    );
    let c = ok(&toml, &[]).config;
    let app = c.bitrix24.app.as_ref().expect("[bitrix24.app] read");
    assert_eq!(app.client_id, "local.abc.123");
    assert_eq!(app.client_secret.expose(), "app-SECRET-77");
    assert_eq!(app.daemon_url, "https://c2d.corp.lan");
    assert_eq!(c.openlines.connector, "c2d_main");
    assert_eq!(c.openlines.events_poll_ms, 500);
    assert_eq!(c.openlines.line_of(18), Some(3));
    assert_eq!(c.openlines.line_of(19), Some(5));
    assert_eq!(c.openlines.line_of(20), None);
    assert_eq!(
        c.server.public_url.as_deref(),
        Some("https://c2d.example.com")
    );
    assert!(
        !c.dump().contains("app-SECRET-77"),
        "the dump hides the secret"
    );
}

#[test]
fn app_secret_from_a_file_or_the_environment() {
    let file = secret_file("from-file-secret\n");
    let toml = format!(
        "{}[bitrix24.app]\nclient_id = \"local.x\"\nclient_secret_file = \"{}\"\ndaemon_url = \"https://c2d.lan\"\n",
        minimal(),
        file.path().display()
    );
    let c = ok(&toml, &[]).config;
    assert_eq!(
        c.bitrix24.app.unwrap().client_secret.expose(),
        "from-file-secret"
    );
    let toml = format!(
        "{}[bitrix24.app]\nclient_id = \"local.x\"\ndaemon_url = \"https://c2d.lan\"\n",
        minimal()
    );
    let c = ok(
        &toml,
        &[("CHAT2DESK_B24_BITRIX24__APP__CLIENT_SECRET", "env-secret")],
    )
    .config;
    assert_eq!(c.bitrix24.app.unwrap().client_secret.expose(), "env-secret");
}

#[test]
fn openlines_mistakes_name_the_key() {
    let two_lines = format!(
        "{}{APP}[[openlines.lines]]\nline = 3\nchannels = [17, 18]\n[[openlines.lines]]\nline = 4\nchannels = [18]\n",
        minimal()
    );
    let e = err(&two_lines, &[]);
    assert_eq!(keys(&e), ["openlines.lines[1].channels"], "{e}");
    assert!(
        e.to_string().contains("channel 18 is already in line 3"),
        "{e}"
    );

    let line_twice = format!(
        "{}{APP}[[openlines.lines]]\nline = 3\nchannels = [17]\n[[openlines.lines]]\nline = 3\nchannels = [18]\n",
        minimal()
    );
    let e = err(&line_twice, &[]);
    assert_eq!(keys(&e), ["openlines.lines[1].line"], "{e}");

    let no_app = format!(
        "{}[[openlines.lines]]\nline = 3\nchannels = [17]\n",
        minimal()
    );
    let e = err(&no_app, &[]);
    assert_eq!(keys(&e), ["bitrix24.app"], "{e}");

    let bad = format!(
        "{}[bitrix24.app]\nclient_id = \"local.x\"\nclient_secret = \"s\"\nclient_sekret = 1\n\
         [openlines]\nconnector = \"chat.2desk\"\n",
        minimal()
    );
    let e = err(&bad, &[]);
    let found = keys(&e);
    assert!(found.contains(&"bitrix24.app.client_sekret"), "{e}");
    assert!(found.contains(&"bitrix24.app.daemon_url"), "{e}");
    assert!(found.contains(&"openlines.connector"), "{e}");

    let wrong_type = format!(
        "{}{APP}[[openlines.lines]]\nline = \"three\"\nchannels = [17]\n",
        minimal()
    );
    let e = err(&wrong_type, &[]);
    assert_eq!(keys(&e), ["openlines.lines[0].line"], "{e}");
}
