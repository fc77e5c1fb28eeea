//! What each key expects, in the sysadmin's words, and how a wrong value is described.
//!
//! Type errors never show serde's or the parser's words (`expected usize`, `invalid type`):
//! they say what the key holds ("a whole number from 1 to 256") and give an example line.

use figment::value::Value;

/// What a key holds and an example value as it is written in the file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect {
    /// The kind of value, e.g. "a whole number from 1 to 256".
    pub words: &'static str,
    /// An example value in TOML syntax, e.g. `8` or `"Europe/Moscow"`.
    pub example: &'static str,
    /// For lists: what one item holds, e.g. "a Bitrix24 user id (a whole number like 7)".
    pub item: Option<&'static str>,
}

const fn e(words: &'static str, example: &'static str) -> Expect {
    Expect {
        words,
        example,
        item: None,
    }
}

const fn list(words: &'static str, example: &'static str, item: &'static str) -> Expect {
    Expect {
        words,
        example,
        item: Some(item),
    }
}

const URL: Expect = e("a URL in quotes", "\"https://api.chat2desk.com\"");
const PATH: Expect = e("a file path in quotes", "\"/etc/chat2desk-b24/secret\"");
const RATE: Expect = e("a number of requests per second (0 = unlimited)", "5");
const TIMEOUT: Expect = e("a whole number of seconds, at least 1", "30");
const ZONE: Expect = e("a time zone name in quotes", "\"Europe/Moscow\"");
const SECONDS: Expect = e("a whole number of seconds", "300");
const TAGS: Expect = list(
    "a list of tag labels or ids like [\"Спам\", 12]",
    "[\"Спам\"]",
    "a tag label in quotes or a tag id",
);
const NETWORKS: Expect = list(
    "a list of IP addresses or networks like [\"127.0.0.1/32\", \"10.0.0.0/8\"]",
    "[\"127.0.0.1/32\"]",
    "an IP address or network in quotes like \"10.0.0.0/8\"",
);

/// Every key with its expectation; keys missing here get one from their default's kind.
const TABLE: &[(&str, Expect)] = &[
    ("chat2desk.api_url", URL),
    ("chat2desk.token", e("the API token in quotes", "\"…\"")),
    ("chat2desk.token_file", PATH),
    ("chat2desk.web_url", e("a URL in quotes", "\"https://web.chat2desk.com\"")),
    ("chat2desk.requests_per_second", RATE),
    ("chat2desk.timeout_secs", TIMEOUT),
    ("chat2desk.naive_timezone", e("a time zone name in quotes", "\"UTC\"")),
    (
        "bitrix24.webhook_url",
        e("the inbound webhook URL in quotes", "\"https://portal/rest/1/…/\""),
    ),
    ("bitrix24.webhook_url_file", PATH),
    ("bitrix24.ca_file", e("a file path in quotes", "\"/etc/ssl/portal-ca.pem\"")),
    ("bitrix24.requests_per_second", e("a number of requests per second (0 = unlimited)", "2")),
    ("bitrix24.burst", e("a whole number, at least 1", "50")),
    ("bitrix24.timeout_secs", e("a whole number of seconds, at least 1", "60")),
    ("bitrix24.app.client_id", e("the local application's client_id in quotes", "\"local.65a1b2c3d4e5f6.12345678\"")),
    ("bitrix24.app.client_secret", e("the local application's client_secret in quotes", "\"…\"")),
    ("bitrix24.app.client_secret_file", PATH),
    ("bitrix24.app.oauth_url", e("a URL in quotes", "\"https://oauth.bitrix.info\"")),
    ("bitrix24.app.daemon_url", e("a URL in quotes", "\"https://c2d.corp.lan\"")),
    (
        "crm.integration",
        e("one of \"lead\", \"contact_deal\", \"openlines_lead\"", "\"lead\""),
    ),
    ("crm.source", e("a SOURCE status id in quotes", "\"OTHER\"")),
    (
        "crm.default_responsibles",
        list(
            "a list of user ids like [1, 7]",
            "[1, 7]",
            "a Bitrix24 user id (a whole number like 7)",
        ),
    ),
    ("crm.deal_category", e("a deal pipeline id (a whole number, 0 = the default pipeline)", "0")),
    ("crm.timezone", ZONE),
    (
        "crm.operators",
        list(
            "a list of [[crm.operators]] tables, each with chat2desk = <operator id or e-mail> and bitrix24 = <user id>",
            "[{ chat2desk = 42, bitrix24 = 7 }]",
            "a table with chat2desk = <operator id or e-mail> and bitrix24 = <user id>",
        ),
    ),
    ("crm.new_deal_when_closed", e("true or false", "true")),
    ("crm.max_comment_bytes", e("a whole number from 6000 to 60000", "10000")),
    (
        "crm.responsible_pick",
        e("one of \"random\", \"round_robin\", \"least_open\"", "\"random\""),
    ),
    (
        "crm.fields",
        list(
            "a list of [[crm.fields]] tables, each with from = <Chat2Desk source>, to = <CRM field> and update = true or false",
            "[{ from = \"client.custom_fields.city\", to = \"UF_CRM_CITY\" }]",
            "a table with from = \"client.custom_fields.city\" and to = \"UF_CRM_CITY\"",
        ),
    ),
    (
        "crm.tag_rules",
        list(
            "a list of [[crm.tag_rules]] tables, each with tag = <label or id> and set = { FIELD = \"value\" }",
            "[{ tag = \"VIP\", set = { OPENED = \"Y\" } }]",
            "a table with tag = \"VIP\" and set = { FIELD = \"value\" } (values in quotes)",
        ),
    ),
    ("crm.filter.channels", list("a list of Chat2Desk channel ids like [17, 18]", "[17, 18]", "a channel id (a whole number like 17)")),
    ("crm.filter.only_tags", TAGS),
    ("crm.filter.skip_tags", TAGS),
    ("escalation.after_minutes", e("a number of minutes above 0, at most 10080", "5")),
    (
        "escalation.notify",
        e("\"responsible\" or a list of portal user ids like [1, 7]", "\"responsible\""),
    ),
    (
        "escalation.working_hours",
        e("days and hours in quotes (\"\" = always)", "\"Mon-Fri 09:00-18:00\""),
    ),
    (
        "sync.schedule",
        e("a cron expression with seconds in quotes", "\"0 * * * * *\""),
    ),
    (
        "sync.poll_strategy",
        e("one of \"messages\", \"dialogs\", \"off\"", "\"messages\""),
    ),
    ("sync.overlap_secs", SECONDS),
    ("sync.workers", e("a whole number from 1 to 256", "8")),
    ("sync.max_attempts", e("a whole number, at least 1", "30")),
    ("sync.backoff_base_secs", e("a whole number of seconds, at least 1", "5")),
    ("sync.backoff_max_secs", e("a whole number of seconds", "900")),
    ("sync.lease_secs", e("a whole number of seconds, at least 30", "30")),
    (
        "sync.webhook_poll_secs",
        e("a whole number of seconds (0 = always poll on schedule)", "900"),
    ),
    ("database.path", e("a file path in quotes", "\"/var/lib/chat2desk-b24/state.db\"")),
    (
        "database.url",
        e(
            "a MySQL/MariaDB URL in quotes",
            "\"mysql://chat2desk:…@db.example.local:3306/chat2desk_b24\"",
        ),
    ),
    ("database.url_file", PATH),
    ("node.name", e("a node name in quotes (letters, digits, . - _)", "\"c2d-node-1\"")),
    ("node.lease_secs", e("a whole number of seconds from 3 to 600", "15")),
    ("log.level", e("a log level in quotes such as \"info\"", "\"info\"")),
    ("server.listen", e("an address ip:port in quotes (\"\" = off)", "\"127.0.0.1:8089\"")),
    ("server.metrics_listen", e("an address ip:port in quotes", "\"127.0.0.1:9089\"")),
    ("server.webhook_secret", e("a secret in quotes", "\"…\"")),
    ("server.webhook_secret_file", PATH),
    ("server.trusted_proxies", NETWORKS),
    ("server.allow_from", NETWORKS),
    ("server.health_max_poll_age_secs", e("a whole number of seconds (0 = automatic)", "0")),
    ("server.public_url", e("a URL in quotes", "\"https://c2d.example.com\"")),
    ("openlines.connector", e("a connector ID in quotes (letters, digits, _)", "\"chat2desk\"")),
    ("openlines.events_poll_ms", e("a whole number of milliseconds from 100 to 60000", "1000")),
    ("openlines.operator_name", e("\"keep\" or \"drop\" in quotes", "\"keep\"")),
    (
        "openlines.lines",
        list(
            "a list of [[openlines.lines]] tables, each with line = <Open Line id> and channels = [<Chat2Desk channel ids>]",
            "[{ line = 3, channels = [17, 18] }]",
            "a table with line = <Open Line id> and channels = [<channel ids>]",
        ),
    ),
    (
        "card.entities",
        list(
            "a list of CRM cards in quotes",
            "[\"lead\", \"deal\", \"contact\", \"company\"]",
            "one of \"lead\", \"deal\", \"contact\", \"company\"",
        ),
    ),
    ("card.title", e("the tab's title in quotes", "\"Chat2Desk\"")),
    ("card.history_days", e("a whole number of days from 1 to 3650", "90")),
    ("bizproc.secret", e("a secret of at least 16 characters in quotes", "\"…\"")),
    ("bizproc.secret_file", PATH),
    ("bizproc.write_first_daily_limit", e("a whole number of new clients a day (0 = no limit)", "20")),
    ("bizproc.files", e("\"attach\" or \"links\" in quotes", "\"attach\"")),
    ("bizproc.daemon_url", e("a URL in quotes (\"\" = from server.listen)", "\"http://10.0.0.5:8089\"")),
    ("bizproc.wait_timeout_secs", e("a whole number of seconds from 10 to 2592000", "3600")),
];

/// The expectation of `section.key`; `default` (the key's default value, when known) gives
/// one in words for keys the table does not list.
pub(crate) fn expect(key: &str, default: Option<&Value>) -> Expect {
    if let Some((_, x)) = TABLE.iter().find(|(k, _)| *k == key) {
        return *x;
    }
    match default {
        Some(Value::Bool(..)) => e("true or false", "true"),
        Some(Value::Num(_, n)) if n.to_u128().is_some() || n.to_i128().is_some() => {
            e("a whole number", "1")
        }
        Some(Value::Num(..)) => e("a number", "1"),
        Some(Value::Array(..)) => list("a list like [1, 2]", "[]", "a value"),
        Some(Value::Dict(..)) => e("a table", "{}"),
        _ => e("text in quotes", "\"…\""),
    }
}

/// Whether the key holds text (so a bare number or `true` there needs quotes).
pub(crate) fn wants_text(x: &Expect) -> bool {
    x.example.starts_with('"')
}

/// A wrong value in words; secrets are described by kind only.
pub(crate) fn describe(value: &Value, secret: bool) -> String {
    match value {
        Value::String(_, s) if secret || s.chars().count() > 60 => "text".to_string(),
        Value::String(_, s) => format!("the text {s:?}"),
        Value::Char(_, c) => format!("the text {:?}", c.to_string()),
        Value::Bool(_, b) => format!("{b}"),
        Value::Num(..) if secret => "a number".to_string(),
        Value::Num(_, n) => format!("the number {}", num(n)),
        Value::Array(_, items) if items.is_empty() => "an empty list".to_string(),
        Value::Array(..) => "a list".to_string(),
        Value::Dict(..) => "a table".to_string(),
        Value::Empty(..) => "nothing".to_string(),
    }
}

fn num(n: &figment::value::Num) -> String {
    if let Some(f) = n
        .to_f64()
        .filter(|_| n.to_i128().is_none() && n.to_u128().is_none())
    {
        return f.to_string();
    }
    n.to_i128()
        .map(|i| i.to_string())
        .or_else(|| n.to_u128().map(|u| u.to_string()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keys::KeyTable;

    #[test]
    fn every_known_key_has_words_and_no_stale_entry_remains() {
        let keys = KeyTable::new().dotted();
        for key in &keys {
            assert!(
                TABLE.iter().any(|(k, _)| k == key),
                "{key} needs an entry in config/expect.rs"
            );
        }
        for (key, _) in TABLE {
            assert!(keys.iter().any(|k| k == key), "{key} is no key any more");
        }
    }
}
