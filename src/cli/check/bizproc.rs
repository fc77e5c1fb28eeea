//! `[bizproc]`: the secret is set (its length is validated with the config) and the portal
//! can reach the listener the business-process activity posts to.

use super::Line;
use crate::config::Config;

/// The lines of the business-process checks; none when `[bizproc]` is off.
pub(super) fn check(config: &Config) -> Vec<Line> {
    let b = &config.bizproc;
    if b.secret.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![Line::ok(
        "bizproc.secret",
        format!(
            "set ({} characters): POST /bizproc/send is on",
            b.secret.expose().chars().count()
        ),
    )];
    let listen = config.server.listen.trim();
    let Ok(addr) = listen.parse::<std::net::SocketAddr>() else {
        lines.push(Line::fail(
            "server.listen",
            format!("{listen:?} is not an address the portal's activity can post to; set an address such as 0.0.0.0:8089"),
        ));
        return lines;
    };
    let portal_host = url::Url::parse(config.bitrix24.webhook_url.expose())
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let portal_local = matches!(portal_host.as_str(), "localhost" | "::1" | "[::1]")
        || portal_host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if addr.ip().is_loopback() && !portal_local {
        lines.push(Line::warn("server.listen", format!(
            "{addr} is loopback, but the portal ({portal_host}) is another host: its activity cannot reach the daemon; listen on a LAN address (e.g. 0.0.0.0:{}) and set bizproc.daemon_url",
            addr.port()
        )));
    } else {
        lines.push(Line::ok(
            "server.listen",
            format!("{addr} is reachable for the portal's activity"),
        ));
    }
    if addr.ip().is_unspecified() && b.daemon_url.trim().is_empty() {
        lines.push(Line::warn(
            "bizproc.daemon_url",
            "empty while server.listen is a wildcard address: `bizproc install` then needs --url http://<this host>:<port>",
        ));
    }
    lines
}
