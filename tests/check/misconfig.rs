//! The tables of misconfigurations: each gives one line naming the key and the fix; a key under
//! another name points at ours; every problem of a file comes in one run.

use super::cases;
use super::{assert_case, base, fill, run, Cascade, Case};

#[test]
fn each_misconfiguration_gives_one_line_naming_the_key_and_the_fix() {
    let cases: &[Case] = &[
        ("workers as text", &[("sync", "workers = \"8\"")], &[],
         "FAIL sync.workers: the text \"8\" is not a whole number from 1 to 256; write it (without quotes) like workers = 8"),
        ("workers zero", &[("sync", "workers = 0")], &[],
         "FAIL sync.workers: 0 is out of range; set a whole number from 1 to 256 (default 8)"),
        ("workers too many", &[("sync", "workers = 257")], &[],
         "FAIL sync.workers: 257 is out of range; set a whole number from 1 to 256 (default 8)"),
        ("workers from env, wrong type", &[], &[("CHAT2DESK_B24_SYNC__WORKERS", "lots")],
         "FAIL sync.workers: CHAT2DESK_B24_SYNC__WORKERS is the text \"lots\", not a whole number from 1 to 256; set it like CHAT2DESK_B24_SYNC__WORKERS=8"),
        ("workers from env, out of range", &[("sync", "workers = 4")], &[("CHAT2DESK_B24_SYNC__WORKERS", "0")],
         "FAIL sync.workers: 0 is out of range; set a whole number from 1 to 256 (default 8) [the value comes from the environment variable CHAT2DESK_B24_SYNC__WORKERS]"),
        ("integration choice", &[("crm", "integration = \"deal\"")], &[],
         "FAIL crm.integration: \"deal\" is not a choice; use one of \"lead\", \"contact_deal\", \"openlines_lead\", e.g. integration = \"lead\""),
        ("integration from env", &[], &[("CHAT2DESK_B24_CRM__INTEGRATION", "leads")],
         "FAIL crm.integration: CHAT2DESK_B24_CRM__INTEGRATION is \"leads\", which is not a choice (did you mean \"lead\"?); set it to one of lead, contact_deal, openlines_lead"),
        ("poll strategy choice", &[("sync", "poll_strategy = \"sometimes\"")], &[],
         "FAIL sync.poll_strategy: \"sometimes\" is not a choice; use one of \"messages\", \"dialogs\", \"off\", e.g. poll_strategy = \"messages\""),
        ("bool as text", &[("crm", "new_deal_when_closed = \"yes\"")], &[],
         "FAIL crm.new_deal_when_closed: the text \"yes\" is not true or false; write it (without quotes) like new_deal_when_closed = true"),
        ("bool from env", &[], &[("CHAT2DESK_B24_CRM__NEW_DEAL_WHEN_CLOSED", "nope")],
         "FAIL crm.new_deal_when_closed: CHAT2DESK_B24_CRM__NEW_DEAL_WHEN_CLOSED is the text \"nope\", not true or false; set it like CHAT2DESK_B24_CRM__NEW_DEAL_WHEN_CLOSED=true"),
        ("responsibles not a list", &[], &[("CHAT2DESK_B24_CRM__DEFAULT_RESPONSIBLES", "5")],
         "FAIL crm.default_responsibles: CHAT2DESK_B24_CRM__DEFAULT_RESPONSIBLES is the number 5, not a list of user ids like [1, 7]; set it like CHAT2DESK_B24_CRM__DEFAULT_RESPONSIBLES=[1, 7]"),
        ("responsible item as text", &[], &[("CHAT2DESK_B24_CRM__DEFAULT_RESPONSIBLES", "[1, \"x\"]")],
         "FAIL crm.default_responsibles[1]: CHAT2DESK_B24_CRM__DEFAULT_RESPONSIBLES is the text \"x\", not a Bitrix24 user id (a whole number like 7); set it like CHAT2DESK_B24_CRM__DEFAULT_RESPONSIBLES=[1, 7]"),
        ("responsibles empty", &[], &[("CHAT2DESK_B24_CRM__DEFAULT_RESPONSIBLES", "[]")],
         "FAIL crm.default_responsibles: empty; expected at least one Bitrix24 user id, e.g. [1]: new entities of unmapped operators get a random one of them [the value comes from the environment variable CHAT2DESK_B24_CRM__DEFAULT_RESPONSIBLES]"),
        ("deal category as text", &[("crm", "deal_category = \"main\"")], &[],
         "FAIL crm.deal_category: the text \"main\" is not a deal pipeline id (a whole number, 0 = the default pipeline); write it (without quotes) like deal_category = 0"),
        ("deal category negative", &[("crm", "deal_category = -1")], &[],
         "FAIL crm.deal_category: -1 is negative; expected a deal pipeline id (0 = the default pipeline)"),
        ("timezone unknown", &[("crm", "timezone = \"Nowhere\"")], &[],
         "FAIL crm.timezone: `Nowhere` is not an IANA time zone; expected a name such as Europe/Moscow or UTC"),
        ("timezone a number", &[("crm", "timezone = 3")], &[],
         "FAIL crm.timezone: the number 3 is not a time zone name in quotes; write it (in quotes) like timezone = \"Europe/Moscow\""),
        ("comment size", &[("crm", "max_comment_bytes = 100")], &[],
         "FAIL crm.max_comment_bytes: 100 is out of range; set a whole number from 6000 to 60000 (default 10000; the portal stores at most 64 KiB)"),
        ("source a number", &[("crm", "source = 5")], &[],
         "FAIL crm.source: the number 5 is not a SOURCE status id in quotes; write it (in quotes) like source = \"OTHER\""),
        ("operator without user", &[("database", "[[crm.operators]]\nchat2desk = 1")], &[],
         "FAIL crm.operators[0].bitrix24: missing; add bitrix24 = … to this table (a table with chat2desk = <operator id or e-mail> and bitrix24 = <user id>)"),
        ("operator user as text", &[("database", "[[crm.operators]]\nchat2desk = 1\nbitrix24 = \"seven\"")], &[],
         "FAIL crm.operators[0].bitrix24: the text \"seven\" is not a Bitrix24 user id (a whole number); write it without quotes like bitrix24 = 7"),
        ("operator misspelt key", &[("database", "[[crm.operators]]\nchat2desk = 1\nbitrix = 2")], &[],
         "FAIL crm.operators[0].bitrix: unknown key; did you mean `bitrix24`?; this table takes chat2desk and bitrix24"),
        ("token file from env unreadable", &[], &[("CHAT2DESK_B24_CHAT2DESK__TOKEN_FILE", "/nonexistent/token")],
         "FAIL chat2desk.token_file: cannot read `/nonexistent/token` (set by the environment variable CHAT2DESK_B24_CHAT2DESK__TOKEN_FILE) (no such file); expected a file holding chat2desk.token, readable by the service user"),
        ("timeout as text", &[("chat2desk", "timeout_secs = \"30\"")], &[],
         "FAIL chat2desk.timeout_secs: the text \"30\" is not a whole number of seconds, at least 1; write it (without quotes) like timeout_secs = 30"),
        ("timeout zero", &[("chat2desk", "timeout_secs = 0")], &[],
         "FAIL chat2desk.timeout_secs: is 0; set a timeout of at least 1 second"),
        ("rate negative", &[("chat2desk", "requests_per_second = -1")], &[],
         "FAIL chat2desk.requests_per_second: -1 is not a rate; expected a number >= 0 (requests per second, 0 = unlimited)"),
        ("naive zone", &[("chat2desk", "naive_timezone = \"Mars/Base\"")], &[],
         "FAIL chat2desk.naive_timezone: `Mars/Base` is not an IANA time zone; expected a name such as Europe/Moscow or UTC"),
        ("api url without scheme", &[("chat2desk", "api_url = \"api.chat2desk.com\"")], &[],
         "FAIL chat2desk.api_url: value `api.chat2desk.com` is not a valid URL (relative URL without a base); expected an absolute https:// URL"),
        ("burst negative", &[("bitrix24", "burst = -5")], &[],
         "FAIL bitrix24.burst: the number -5 is not a whole number, at least 1; write it like burst = 50"),
        ("burst zero", &[("bitrix24", "burst = 0")], &[],
         "FAIL bitrix24.burst: is 0; set a whole number, at least 1 (default 50)"),
        ("ca file missing", &[("bitrix24", "ca_file = \"/nonexistent/ca.pem\"")], &[],
         "FAIL bitrix24.ca_file: cannot read `/nonexistent/ca.pem` (No such file or directory (os error 2)); expected a PEM file with the portal's CA certificate, readable by the service user (or remove the key)"),
        ("webhook shape from env", &[], &[("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL", "https://portal.example/1/hooksecret0042/")],
         "FAIL bitrix24.webhook_url: URL path has no `/rest/` part; expected the inbound webhook URL https://<portal>/rest/<user id>/<secret>/ as shown in Bitrix24 → Developer resources → Other → Inbound webhook [the value comes from the environment variable CHAT2DESK_B24_BITRIX24__WEBHOOK_URL]"),
        ("cron field out of range", &[("sync", "schedule = \"0 61 * * * *\"")], &[],
         "FAIL sync.schedule: field minutes (\"61\") has 61, out of range; minutes takes 0–59, `*`, lists `a,b`, ranges `a-b` and steps `*/n`"),
        ("cron five fields", &[("sync", "schedule = \"*/5 * * * *\"")], &[],
         "FAIL sync.schedule: \"*/5 * * * *\" has 5 fields; add a seconds field in front, e.g. \"0 */5 * * * *\" (sec min hour day month weekday, e.g. \"0 */5 * * * *\" for every five minutes)"),
        ("cron weekday name", &[("sync", "schedule = \"0 0 9 * * FUN\"")], &[],
         "FAIL sync.schedule: field day of week (\"FUN\") has `FUN`, not a number; day of week takes 1–7 or SUN–SAT, `*`, lists `a,b`, ranges `a-b` and steps `*/n`"),
        ("lease too short", &[("sync", "lease_secs = 10")], &[],
         "FAIL sync.lease_secs: 10 is too short; set at least 30 seconds (default 30)"),
        ("attempts negative", &[("sync", "max_attempts = -1")], &[],
         "FAIL sync.max_attempts: the number -1 is not a whole number, at least 1; write it like max_attempts = 30"),
        ("database path empty from env", &[("database", "")], &[("CHAT2DESK_B24_DATABASE__PATH", "")],
         "FAIL database.path: empty; expected the SQLite file path, e.g. /var/lib/chat2desk-b24/state.db [the value comes from the environment variable CHAT2DESK_B24_DATABASE__PATH]"),
        ("log level a list", &[("log", "level = [\"info\"]")], &[],
         "FAIL log.level: a list is not a log level in quotes such as \"info\"; write it (in quotes) like level = \"info\""),
        ("listen a number", &[("server", "metrics_listen = 9089")], &[],
         "FAIL server.metrics_listen: the number 9089 is not an address ip:port in quotes; write it (in quotes) like metrics_listen = \"127.0.0.1:9089\""),
        ("listen a name", &[("server", "metrics_listen = \"localhost\"")], &[],
         "FAIL server.metrics_listen: `localhost` is not an address; expected a loopback ip:port such as 127.0.0.1:9089 (or remove the key to serve /metrics on server.listen)"),
        ("proxies not a list", &[("server", "trusted_proxies = \"127.0.0.1\"")], &[],
         "FAIL server.trusted_proxies: the text \"127.0.0.1\" is not a list of IP addresses or networks like [\"127.0.0.1/32\", \"10.0.0.0/8\"]; write it (without quotes) like trusted_proxies = [\"127.0.0.1/32\"]"),
        ("webhook secret weak", &[("server", "webhook_secret = \"short\"")], &[],
         "FAIL server.webhook_secret: too weak or not URL-safe; expected at least 16 characters of A-Z, a-z, 0-9, `-` and `_` (e.g. the output of `openssl rand -hex 24`)"),
        ("misspelt key", &[("crm", "defualt_responsibles = [2]")], &[],
         "FAIL crm.defualt_responsibles: unknown key; did you mean `default_responsibles`?; [crm] takes deal_category, default_responsibles, fields, integration, max_comment_bytes, new_deal_when_closed, operators, responsible_pick, source, tag_rules, timezone"),
        ("key in the wrong section", &[("crm", "workers = 2")], &[],
         "FAIL crm.workers: unknown key; it belongs in [sync]: move it there; [crm] takes deal_category, default_responsibles, fields, integration, max_comment_bytes, new_deal_when_closed, operators, responsible_pick, source, tag_rules, timezone"),
        ("key above every section", &[("top", "workers = 2")], &[],
         "FAIL workers: unknown key here: keys go under their section header; move it below [sync]"),
        ("misspelt section", &[("database", "[crmm]\nsource = \"WEB\"")], &[],
         "FAIL crmm: unknown section; did you mean [crm] (`crm`)?; the sections are bitrix24, bitrix24.app, bizproc, card, chat2desk, crm, crm.filter, database, escalation, log, node, openlines, server, sync"),
        ("missing closing quote", &[("chat2desk", "web_url = \"https://web.example")], &[],
         "FAIL chat2desk.web_url: line 4 is not valid TOML: the text value has no closing quote; end it with the quote it starts with: web_url = \"…\""),
        ("header without bracket", &[("server", "[[crm.operators]\nchat2desk = 1\nbitrix24 = 2")], &[],
         "FAIL crm.operators: line 20 is not valid TOML: the section header has no closing bracket `]`; write it as [[crm.operators]]"),
        ("list without bracket", &[("server", "allow_from = [\"10.0.0.0/8\"")], &[],
         "FAIL server.allow_from: line 20 is not valid TOML: the list has no closing `]` (or a comma is missing); close it on the same line, e.g. allow_from = [1, 7]"),
        ("text without quotes", &[("crm", "timezone = Europe/Moscow")], &[],
         "FAIL crm.timezone: line 10 is not valid TOML: the value is neither a number, true/false nor text in quotes; put text in quotes: timezone = \"…\""),
        ("key set twice", &[("sync", "workers = 2\nworkers = 3")], &[],
         "FAIL sync.workers: line 13 is not valid TOML: the key is set a second time in this section; keep one of the two lines"),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let dir = tempfile::tempdir().unwrap();
    let template = base(&dir.path().join("state.db"));
    let path = dir.path().join("config.toml");
    std::fs::write(&path, fill(&template, &[])).unwrap();
    let (code, out) = run(&path, &[], &["check", "--offline"]);
    assert_eq!(code, 0, "the base config passes:\n{out}");
    for (name, adds, env, expected) in cases.iter().chain(cases::CASES) {
        std::fs::write(&path, fill(&template, adds)).unwrap();
        let (code, out) = run(&path, env, &["check", "--offline"]);
        assert_case(name, code, &out, expected, 1);
    }
}

#[test]
fn a_key_under_another_name_points_at_ours_and_what_it_leaves_unset_is_a_skip() {
    let cases: &[Cascade] = &[
        ("api_token", "token = ", "api_token = ",
         "FAIL chat2desk.api_token: unknown key; did you mean `token`?; [chat2desk] takes api_url, naive_timezone, requests_per_second, timeout_secs, token, web_url, token_file",
         &["chat2desk.token"]),
        ("api_key", "token = ", "api_key = ",
         "FAIL chat2desk.api_key: unknown key; did you mean `token`?; [chat2desk] takes api_url, naive_timezone, requests_per_second, timeout_secs, token, web_url, token_file",
         &["chat2desk.token"]),
        ("listen_addr", "listen = ", "listen_addr = ",
         "FAIL server.listen_addr: unknown key; did you mean `listen`?; [server] takes allow_from, health_max_poll_age_secs, listen, metrics_listen, public_url, trusted_proxies, webhook_secret, webhook_secret_file",
         &[]),
        ("bind", "listen = ", "bind = ",
         "FAIL server.bind: unknown key; did you mean `listen`?; [server] takes allow_from, health_max_poll_age_secs, listen, metrics_listen, public_url, trusted_proxies, webhook_secret, webhook_secret_file",
         &[]),
        ("database file", "path = ", "file = ",
         "FAIL database.file: unknown key; did you mean `path`?; [database] takes path, url, url_file",
         &[]),
        ("webhook", "webhook_url = ", "webhook = ",
         "FAIL bitrix24.webhook: unknown key; did you mean `webhook_url`?; [bitrix24] takes burst, ca_file, requests_per_second, timeout_secs, webhook_url, webhook_url_file",
         &["bitrix24.webhook_url"]),
        ("misspelt section, then its token", "[chat2desk]", "[chat2dsk]",
         "FAIL chat2dsk: unknown section; did you mean [chat2desk] (`chat2desk`)?; the sections are bitrix24, bitrix24.app, bizproc, card, chat2desk, crm, crm.filter, database, escalation, log, node, openlines, server, sync",
         &["chat2desk.token"]),
        ("misspelt section, then its webhook", "[bitrix24]", "[bitrix]",
         "FAIL bitrix: unknown section; did you mean [bitrix24] (`bitrix24`)?; the sections are bitrix24, bitrix24.app, bizproc, card, chat2desk, crm, crm.filter, database, escalation, log, node, openlines, server, sync",
         &["bitrix24.webhook_url"]),
        ("missing token file", "token = \"tok-SECRET-4711\"", "token_file = \"/nonexistent/token\"",
         "FAIL chat2desk.token_file: cannot read `/nonexistent/token` (no such file); expected a file holding chat2desk.token, readable by the service user",
         &["chat2desk.token"]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let text = fill(&base(&dir.path().join("state.db")), &[]);
    let path = dir.path().join("config.toml");
    for (name, from, to, expected, skipped) in cases.iter().chain(cases::CASCADES) {
        assert!(text.contains(from), "{name}: the base has {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let (code, out) = run(&path, &[], &["check", "--offline"]);
        assert_case(name, code, &out, expected, 1);
        let cause = expected[5..].split_once(": ").unwrap().0;
        let skips: Vec<&str> = out.lines().filter(|l| l.starts_with("skip")).collect();
        let want: Vec<String> = skipped
            .iter()
            .map(|k| format!("skip {k}: not checked (follows from {cause} above)"))
            .collect();
        assert_eq!(skips, want, "{name}: what the mistake leaves unset:\n{out}");
    }
}

#[test]
fn every_problem_of_a_file_comes_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let template = base(&dir.path().join("state.db"));
    let path = dir.path().join("config.toml");
    let adds: &[(&str, &str)] = &[
        ("chat2desk", "timeout_secs = \"30\""),
        (
            "crm",
            "integration = \"deal\"\ntimezone = \"Nowhere\"\ndefualt = 1",
        ),
        (
            "sync",
            "workers = \"8\"\nschedule = \"0 61 * * * *\"\nlease_secs = 10",
        ),
        ("server", "allow_from = [\"10.0.0.0/8\", 5]"),
    ];
    std::fs::write(&path, fill(&template, adds)).unwrap();
    let (code, out) = run(
        &path,
        &[("CHAT2DESK_B24_BITRIX24__BURST", "many")],
        &["check"],
    );
    assert_eq!(code, 1);
    let keys: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("FAIL "))
        .filter_map(|l| l[5..].split_once(": ").map(|(k, _)| k))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "bitrix24.burst",
            "chat2desk.timeout_secs",
            "crm.defualt",
            "crm.integration",
            "crm.timezone",
            "server.allow_from[1]",
            "sync.lease_secs",
            "sync.schedule",
            "sync.workers",
        ],
        "{out}"
    );
    assert!(out.contains("9 problem(s) in the configuration"), "{out}");
}
