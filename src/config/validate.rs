//! Offline semantic checks of a loaded [`Config`]: every problem at once, each naming its key.

use super::schedule::parse_schedule;
use super::urls::{database_url, http_url, plain_http_warning, webhook_shape};
use super::{Config, OperatorRef, Problem};

/// Smallest `max_bytes` for which every part is guaranteed to fit: header fields, names, file
/// names and URLs are capped so that the header, the marker and the largest piece of our
/// markup (a file link) always leave room. Smaller settings still render, but a part may
/// exceed them; this check rejects them.
pub const MIN_MAX_BYTES: usize = 6_000;

/// Checks everything that can be checked without the network and returns ALL problems found
/// (empty when the configuration is usable).
pub fn validate(c: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    chat2desk(c, &mut out);
    bitrix24(c, &mut out);
    crm(c, &mut out);
    sync(c, &mut out);
    server(c, &mut out);
    bizproc(c, &mut out);
    database(c, &mut out);
    node(c, &mut out);
    super::openlines::validate(c, &mut out);
    super::card::validate(c, &mut out);
    super::rules::validate(c, &mut out);
    let level = c.log.level.trim();
    if level.is_empty() {
        out.push(Problem::new(
            "log.level",
            "empty; expected a level such as `info`",
        ));
    } else if is_bare_word(level) && !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
        // EnvFilter takes a bare word as a target name that enables every level: never what
        // a sysadmin writing `verbose` or `warning` means.
        out.push(Problem::new(
            "log.level",
            format!(
                "`{level}` is not a log level; use one of error, warn, info, debug, trace (e.g. level = \"info\"), or directives such as `info,chat2desk_b24=debug`"
            ),
        ));
    } else if let Err(e) = tracing_subscriber::EnvFilter::try_new(level) {
        out.push(Problem::new(
            "log.level",
            format!(
                "`{level}` is not a log filter ({e}); expected a level (error, warn, info, debug, \
                 trace) or directives such as `info,chat2desk_b24=debug`"
            ),
        ));
    }
    out
}

/// The level names `log.level` takes alone.
const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// True for a filter that is one word, without `=`, `,` or `::` (a level or a target name).
fn is_bare_word(filter: &str) -> bool {
    !filter.contains(['=', ',', ':', '['])
}

/// Warnings that do not stop the daemon: plain http:// to a non-loopback host, rules not
/// acted on yet.
pub fn warnings(c: &Config) -> Vec<Problem> {
    let mut ignored = Vec::new();
    let mut urls = vec![("chat2desk.api_url", c.chat2desk.api_url.as_str())];
    if let Some(web) = &c.chat2desk.web_url {
        urls.push(("chat2desk.web_url", web.as_str()));
    }
    urls.push(("bitrix24.webhook_url", c.bitrix24.webhook_url.expose()));
    if let Some(app) = &c.bitrix24.app {
        // The token requests carry client_secret and the refresh token.
        urls.push(("bitrix24.app.oauth_url", app.oauth_url.as_str()));
    }
    urls.into_iter()
        .filter_map(|(key, value)| {
            let url = http_url(key, value, true, &mut ignored)?;
            plain_http_warning(key, &url)
        })
        .chain(super::card::warnings(c))
        .chain(super::rules::warnings(c))
        .collect()
}

fn chat2desk(c: &Config, out: &mut Vec<Problem>) {
    let s = &c.chat2desk;
    http_url("chat2desk.api_url", &s.api_url, false, out);
    if let Some(web) = &s.web_url {
        if web.trim().is_empty() {
            out.push(Problem::new(
                "chat2desk.web_url",
                "empty; remove the key to take the web app address from companies/api_info, or \
                 set it, e.g. https://web.chat2desk.com",
            ));
        } else {
            http_url("chat2desk.web_url", web, false, out);
        }
    }
    if s.token.is_empty() {
        out.push(Problem::new(
            "chat2desk.token",
            "missing: copy the API token from the Chat2Desk admin UI (Settings → API), or set \
             chat2desk.token_file / CHAT2DESK_B24_CHAT2DESK__TOKEN",
        ));
    } else if s.token.expose().trim().contains(char::is_whitespace) {
        out.push(Problem::new(
            "chat2desk.token",
            "contains whitespace; expected the bare token exactly as shown in Settings → API \
             (no `Bearer` prefix)",
        ));
    }
    rate("chat2desk.requests_per_second", s.requests_per_second, out);
    timeout("chat2desk.timeout_secs", s.timeout_secs, out);
    zone("chat2desk.naive_timezone", &s.naive_timezone, out);
}

fn bitrix24(c: &Config, out: &mut Vec<Problem>) {
    let s = &c.bitrix24;
    let key = "bitrix24.webhook_url";
    if s.webhook_url.is_empty() {
        out.push(Problem::new(
            key,
            "missing: create an inbound webhook in Bitrix24 (Developer resources → Other → \
             Inbound webhook, scopes crm, user, im) and copy its URL, or set \
             bitrix24.webhook_url_file / CHAT2DESK_B24_BITRIX24__WEBHOOK_URL",
        ));
    } else if let Some(url) = http_url(key, s.webhook_url.expose(), true, out) {
        webhook_shape(key, &url, out);
    }
    if let Some(path) = &s.ca_file {
        let wrong = match std::fs::read(path) {
            Err(e) => Some(format!("cannot read `{}` ({e})", path.display())),
            Ok(pem) if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") => {
                Some(format!(
                    "`{}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                ))
            }
            Ok(_) => None,
        };
        if let Some(wrong) = wrong {
            out.push(Problem::new(
                "bitrix24.ca_file",
                format!(
                    "{wrong}; expected a PEM file with the portal's CA certificate, readable by \
                     the service user (or remove the key)"
                ),
            ));
        }
    }
    rate("bitrix24.requests_per_second", s.requests_per_second, out);
    if s.burst < 1 {
        out.push(Problem::new(
            "bitrix24.burst",
            "is 0; set a whole number, at least 1 (default 50)",
        ));
    }
    timeout("bitrix24.timeout_secs", s.timeout_secs, out);
}

fn crm(c: &Config, out: &mut Vec<Problem>) {
    let s = &c.crm;
    let source = s.source.trim();
    if source.is_empty() {
        out.push(Problem::new(
            "crm.source",
            "empty; expected a SOURCE status id such as OTHER, CALL or WEB (crm.status.list with \
             ENTITY_ID=SOURCE lists them)",
        ));
    } else if !source
        .chars()
        .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_' || ch == '-')
    {
        out.push(Problem::new(
            "crm.source",
            format!(
                "`{}` does not look like a SOURCE status id; expected upper-case letters, digits \
                 and `_`, such as OTHER, WEB or UC_A1B2C3",
                s.source
            ),
        ));
    }
    if s.default_responsibles.is_empty() {
        out.push(Problem::new(
            "crm.default_responsibles",
            "empty; expected at least one Bitrix24 user id, e.g. [1]: new entities of unmapped \
             operators get a random one of them",
        ));
    }
    for (i, id) in s.default_responsibles.iter().enumerate() {
        if *id <= 0 {
            out.push(Problem::new(
                format!("crm.default_responsibles[{i}]"),
                format!("{id} is not a user id; expected a positive Bitrix24 user id"),
            ));
        }
    }
    if s.deal_category < 0 {
        out.push(Problem::new(
            "crm.deal_category",
            format!(
                "{} is negative; expected a deal pipeline id (0 = the default pipeline)",
                s.deal_category
            ),
        ));
    }
    zone("crm.timezone", &s.timezone, out);
    operators(c, out);
    let min = MIN_MAX_BYTES;
    if !(min..=60_000).contains(&s.max_comment_bytes) {
        out.push(Problem::new(
            "crm.max_comment_bytes",
            format!(
                "{} is out of range; set a whole number from {min} to 60000 (default 10000; the portal stores at most 64 KiB)",
                s.max_comment_bytes
            ),
        ));
    }
}

fn operators(c: &Config, out: &mut Vec<Problem>) {
    for (i, op) in c.crm.operators.iter().enumerate() {
        let key = format!("crm.operators[{i}]");
        match &op.chat2desk {
            OperatorRef::Id(id) if *id <= 0 => out.push(Problem::new(
                format!("{key}.chat2desk"),
                format!("{id} is not an operator id; expected a positive Chat2Desk operator id or an e-mail"),
            )),
            OperatorRef::Email(e) if !e.trim().contains('@') => out.push(Problem::new(
                format!("{key}.chat2desk"),
                format!("`{e}` is not an e-mail; expected a Chat2Desk operator e-mail or a numeric operator id"),
            )),
            _ => {}
        }
        if op.bitrix24 <= 0 {
            out.push(Problem::new(
                format!("{key}.bitrix24"),
                format!(
                    "{} is not a user id; expected a positive Bitrix24 user id",
                    op.bitrix24
                ),
            ));
        }
        let earlier = c.crm.operators[..i]
            .iter()
            .position(|o| same_operator(&o.chat2desk, &op.chat2desk));
        if let Some(j) = earlier {
            out.push(Problem::new(
                format!("{key}.chat2desk"),
                format!(
                    "operator already mapped in crm.operators[{j}]; keep one mapping per operator"
                ),
            ));
        }
    }
}

fn same_operator(a: &OperatorRef, b: &OperatorRef) -> bool {
    match (a, b) {
        (OperatorRef::Id(x), OperatorRef::Id(y)) => x == y,
        (OperatorRef::Email(x), OperatorRef::Email(y)) => x.trim().eq_ignore_ascii_case(y.trim()),
        _ => false,
    }
}

fn sync(c: &Config, out: &mut Vec<Problem>) {
    let s = &c.sync;
    if let Err(message) = parse_schedule(&s.schedule) {
        out.push(Problem::new("sync.schedule", message));
    }
    if !(1..=256).contains(&s.workers) {
        out.push(Problem::new(
            "sync.workers",
            format!(
                "{} is out of range; set a whole number from 1 to 256 (default 8)",
                s.workers
            ),
        ));
    }
    if s.max_attempts < 1 {
        out.push(Problem::new(
            "sync.max_attempts",
            "is 0; set a whole number, at least 1 (default 30)",
        ));
    }
    if s.lease_secs < 30 {
        out.push(Problem::new(
            "sync.lease_secs",
            format!(
                "{} is too short; set at least 30 seconds (default 30)",
                s.lease_secs
            ),
        ));
    }
    if s.backoff_base_secs < 1 {
        out.push(Problem::new(
            "sync.backoff_base_secs",
            "is 0; set at least 1 second (default 5)",
        ));
    }
    if s.backoff_base_secs > s.backoff_max_secs {
        out.push(Problem::new(
            "sync.backoff_max_secs",
            format!(
                "{} is below sync.backoff_base_secs ({}); set backoff_max_secs to at least backoff_base_secs",
                s.backoff_max_secs, s.backoff_base_secs
            ),
        ));
    }
}

fn server(c: &Config, out: &mut Vec<Problem>) {
    let s = &c.server;
    let listen = s.listen.trim();
    if !listen.is_empty() && listen.parse::<std::net::SocketAddr>().is_err() {
        out.push(Problem::new(
            "server.listen",
            format!(
                "`{listen}` is not an address; expected ip:port such as 127.0.0.1:8089, or \"\" to \
                 turn the webhook server off"
            ),
        ));
    }
    if let Some(metrics) = s.metrics_listen.as_deref().map(str::trim) {
        if !metrics.is_empty() && metrics.parse::<std::net::SocketAddr>().is_err() {
            out.push(Problem::new(
                "server.metrics_listen",
                format!(
                    "`{metrics}` is not an address; expected a loopback ip:port such as \
                     127.0.0.1:9089 (or remove the key to serve /metrics on server.listen)"
                ),
            ));
        }
    }
    let secret = s.webhook_secret.expose();
    if !secret.is_empty()
        && (secret.len() < 16
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        out.push(Problem::new(
            "server.webhook_secret",
            "too weak or not URL-safe; expected at least 16 characters of A-Z, a-z, 0-9, `-` \
             and `_` (e.g. the output of `openssl rand -hex 24`)",
        ));
    }
    for (key, list) in [
        ("server.trusted_proxies", &s.trusted_proxies),
        ("server.allow_from", &s.allow_from),
    ] {
        for (i, text) in list.iter().enumerate() {
            if let Err(e) = text.parse::<super::Cidr>() {
                out.push(Problem::new(
                    format!("{key}[{i}]"),
                    format!("{e}; expected an IP address or network such as 10.0.0.0/8"),
                ));
            }
        }
    }
}

fn database(c: &Config, out: &mut Vec<Problem>) {
    match &c.database.url {
        Some(url) if url.is_empty() => out.push(Problem::new(
            "database.url",
            "empty; expected mysql://user:password@host:3306/database, or remove the key to \
             keep the state in the SQLite file of database.path",
        )),
        Some(url) => database_url("database.url", url.expose(), out),
        None if c.database.path.as_os_str().is_empty() => out.push(Problem::new(
            "database.path",
            "empty; expected the SQLite file path, e.g. /var/lib/chat2desk-b24/state.db",
        )),
        None => {}
    }
}

fn node(c: &Config, out: &mut Vec<Problem>) {
    let name = &c.node.name;
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        out.push(Problem::new(
            "node.name",
            format!(
                "`{name}` is not a node name; expected 1 to 64 characters of A-Z, a-z, 0-9, `.`, \
                 `-` and `_`, different on every node (default: the host name)"
            ),
        ));
    }
    if !(3..=600).contains(&c.node.lease_secs) {
        out.push(Problem::new(
            "node.lease_secs",
            format!(
                "{} is out of range; expected 3..=600 seconds (default 15): how long the leader \
                 may be silent before another node takes the poller over",
                c.node.lease_secs
            ),
        ));
    }
}

fn bizproc(c: &Config, out: &mut Vec<Problem>) {
    let s = &c.bizproc;
    let secret = s.secret.expose();
    if !secret.is_empty() && (secret.chars().count() < 16 || secret.trim() != secret) {
        out.push(Problem::new(
            "bizproc.secret",
            "too short; expected at least 16 characters without surrounding spaces (e.g. the \
             output of `openssl rand -hex 24`), the same value `bizproc install` writes into \
             the portal's activity settings",
        ));
    }
    let url = s.daemon_url.trim();
    if !url.is_empty() {
        http_url("bizproc.daemon_url", url, false, out);
    }
    if !(10..=86_400 * 30).contains(&s.wait_timeout_secs) {
        out.push(Problem::new(
            "bizproc.wait_timeout_secs",
            format!(
                "{} is out of range; expected 10..=2592000 seconds (default 3600)",
                s.wait_timeout_secs
            ),
        ));
    }
    if !secret.is_empty() && c.server.listen.trim().is_empty() {
        out.push(Problem::new(
            "server.listen",
            "empty while bizproc.secret is set; the portal's activity posts to this listener, \
             so set an address the portal's web server reaches, e.g. 0.0.0.0:8089",
        ));
    }
}

fn rate(key: &str, value: f64, out: &mut Vec<Problem>) {
    if !value.is_finite() || value < 0.0 {
        out.push(Problem::new(
            key,
            format!("{value} is not a rate; expected a number >= 0 (requests per second, 0 = unlimited)"),
        ));
    }
}

fn timeout(key: &str, value: u64, out: &mut Vec<Problem>) {
    if value < 1 {
        out.push(Problem::new(
            key,
            "is 0; set a timeout of at least 1 second",
        ));
    }
}

fn zone(key: &str, value: &str, out: &mut Vec<Problem>) {
    if value.trim().parse::<chrono_tz::Tz>().is_err() {
        out.push(Problem::new(
            key,
            format!(
                "`{value}` is not an IANA time zone; expected a name such as Europe/Moscow or UTC"
            ),
        ));
    }
}
