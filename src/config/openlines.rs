//! Offline checks of `[bitrix24.app]`, `[openlines]` and `[server] public_url` (the Open
//! Lines bridge).

use super::urls::http_url;
use super::{Config, Problem};
use std::collections::BTreeMap;

/// Every problem of the bridge's keys.
pub(crate) fn validate(c: &Config, out: &mut Vec<Problem>) {
    app(c, out);
    lines(c, out);
    let o = &c.openlines;
    let connector = o.connector.trim();
    if connector.is_empty()
        || !connector
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
    {
        out.push(Problem::new(
            "openlines.connector",
            format!(
                "\"{connector}\" is not a connector ID; use letters, digits and _ only (no dots), \
                 e.g. connector = \"chat2desk\""
            ),
        ));
    }
    if !(100..=60_000).contains(&o.events_poll_ms) {
        out.push(Problem::new(
            "openlines.events_poll_ms",
            format!(
                "{} is out of range; expected 100..=60000 milliseconds (default 1000)",
                o.events_poll_ms
            ),
        ));
    }
    if let Some(url) = &c.server.public_url {
        if !url.trim().is_empty() {
            http_url("server.public_url", url.trim(), false, out);
        }
    }
}

fn app(c: &Config, out: &mut Vec<Problem>) {
    let Some(app) = &c.bitrix24.app else {
        return;
    };
    if app.client_id.trim().is_empty() {
        out.push(Problem::new(
            "bitrix24.app.client_id",
            "missing: create a local application on the portal (Applications → Developer \
             resources → Other → Local application, «uses API only») and copy its client_id \
             (local.…)",
        ));
    }
    if app.client_secret.is_empty() {
        out.push(Problem::new(
            "bitrix24.app.client_secret",
            "missing: copy client_secret from the local application's form, or set \
             bitrix24.app.client_secret_file / CHAT2DESK_B24_BITRIX24__APP__CLIENT_SECRET",
        ));
    }
    http_url("bitrix24.app.oauth_url", app.oauth_url.trim(), false, out);
    if app.daemon_url.trim().is_empty() {
        out.push(Problem::new(
            "bitrix24.app.daemon_url",
            "missing: the address administrators' browsers use to reach this daemon, e.g. \
             https://c2d.corp.lan; the local application's handler URL is \
             <daemon_url>/bitrix24/app",
        ));
    } else {
        http_url("bitrix24.app.daemon_url", app.daemon_url.trim(), false, out);
    }
    if c.server.listen.trim().is_empty() {
        out.push(Problem::new(
            "server.listen",
            "empty while [bitrix24.app] is set; the portal sends the administrator's browser \
             to <daemon_url>/bitrix24/app on this listener, so set an address, e.g. \
             0.0.0.0:8089",
        ));
    }
}

fn lines(c: &Config, out: &mut Vec<Problem>) {
    let o = &c.openlines;
    if o.enabled() && c.bitrix24.app.is_none() {
        out.push(Problem::new(
            "bitrix24.app",
            "missing while [[openlines.lines]] are set; Open Lines need the portal's local \
             application: add [bitrix24.app] with client_id, client_secret and daemon_url",
        ));
    }
    let mut owner: BTreeMap<i64, i64> = BTreeMap::new();
    let mut seen_lines = Vec::new();
    for (i, l) in o.lines.iter().enumerate() {
        let key = format!("openlines.lines[{i}]");
        if l.line <= 0 {
            out.push(Problem::new(
                format!("{key}.line"),
                format!(
                    "{} is not an Open Line id; expected the id from Contact Center, e.g. line = 3",
                    l.line
                ),
            ));
        }
        if seen_lines.contains(&l.line) {
            out.push(Problem::new(
                format!("{key}.line"),
                format!(
                    "line {} is listed twice; keep one [[openlines.lines]] table per line and \
                     put all its channels there",
                    l.line
                ),
            ));
        }
        seen_lines.push(l.line);
        if l.channels.is_empty() {
            out.push(Problem::new(
                format!("{key}.channels"),
                "empty; list the Chat2Desk channel ids of this line, e.g. channels = [17, 18]",
            ));
        }
        for &channel in &l.channels {
            match owner.get(&channel) {
                Some(&first) if first != l.line => out.push(Problem::new(
                    format!("{key}.channels"),
                    format!(
                        "channel {channel} is already in line {first}; a channel belongs to one \
                         line at most: remove it from one of them"
                    ),
                )),
                Some(_) => out.push(Problem::new(
                    format!("{key}.channels"),
                    format!("channel {channel} is listed twice; list it once"),
                )),
                None => {
                    owner.insert(channel, l.line);
                }
            }
        }
    }
}
