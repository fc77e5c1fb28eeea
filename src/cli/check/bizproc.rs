//! `[bizproc]`: the secret is set (its length is validated with the config), the listener's
//! address suits a portal on another host, and (not `--offline`) the running daemon takes the
//! activity's call: a `POST /bizproc/send` built as the PHP activity builds it, with the
//! secret in `auth[application_token]` but an empty `event_token`, which the daemon refuses
//! with 400 after the secret was accepted and before anything is queued.

use super::{Line, ANSWER_TIMEOUT};
use crate::config::Config;
use crate::flows::bizproc::CODE;
use std::time::Duration;

/// Longest wait for the TCP connection of the probe.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The lines of the business-process checks; none when `[bizproc]` is off.
pub(super) async fn check(config: &Config, offline: bool) -> Vec<Line> {
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
    }
    let daemon_url = b.daemon_url.trim().trim_end_matches('/');
    if addr.ip().is_unspecified() && daemon_url.is_empty() {
        lines.push(Line::warn(
            "bizproc.daemon_url",
            "empty while server.listen is a wildcard address: `bizproc install` then needs --url http://<this host>:<port>",
        ));
    }
    if offline {
        return lines;
    }
    let (key, base) = if daemon_url.is_empty() {
        let host = if addr.ip().is_unspecified() {
            std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        ("server.listen", format!("http://{host}"))
    } else {
        ("bizproc.daemon_url", daemon_url.to_string())
    };
    lines.push(probe(config, key, &base).await);
    lines
}

/// The activity's form (`http_build_query` of its body) with an empty `event_token`.
fn probe_form(config: &Config) -> String {
    let timeout = config.bizproc.wait_timeout_secs.to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("workflow_id", "chat2desk-b24-check"),
            ("code", CODE),
            ("document_id[0]", "crm"),
            ("document_id[1]", "CCrmDocumentLead"),
            ("document_id[2]", "LEAD_0"),
            ("document_type[0]", "crm"),
            ("document_type[1]", "CCrmDocumentLead"),
            ("document_type[2]", "LEAD"),
            ("event_token", ""),
            ("properties[channel_id]", "1"),
            ("properties[phone]", "+70000000000"),
            ("properties[text]", "chat2desk-b24 check"),
            ("properties[transport]", ""),
            ("use_subscription", "Y"),
            ("timeout_duration", timeout.as_str()),
            ("ts", ts.as_str()),
            ("auth[application_token]", config.bizproc.secret.expose()),
        ])
        .finish()
}

/// Posts the probe to `<base>/bizproc/send` and words the answer against `key`.
async fn probe(config: &Config, key: &str, base: &str) -> Line {
    let url = format!("{base}/bizproc/send");
    let client = match reqwest::Client::builder()
        .timeout(ANSWER_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
    {
        Ok(client) => client,
        Err(e) => return Line::fail(key, format!("cannot make an HTTP client: {e}")),
    };
    let sent = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(probe_form(config))
        .send()
        .await;
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) if e.is_connect() => {
            return Line::warn(
                key,
                format!(
                    "nothing answers at {url} (connection refused or no route): the daemon is not running there, so the activity's path was not tested; start it (systemctl start chat2desk-b24) and run check again, or fix {key}"
                ),
            )
        }
        Err(e) => {
            return Line::fail(
                key,
                format!(
                    "POST {url} failed ({}); the portal's activity would fail the same way; check {key}, the firewall and any TLS front",
                    e.without_url()
                ),
            )
        }
    };
    let status = answer.status().as_u16();
    let body = answer.text().await.unwrap_or_default();
    let field = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("field").and_then(|f| f.as_str()).map(str::to_string));
    match (status, field.as_deref()) {
        (400, Some("event_token")) => Line::ok(
            key,
            format!(
                "POST {url} takes the secret as the portal's activity sends it (a probe without event_token, refused 400 before anything is queued)"
            ),
        ),
        (401, _) => Line::fail(
            "bizproc.secret",
            format!(
                "the daemon at {url} refuses this secret (401): it runs with another [bizproc] secret; after changing it, reload the daemon (systemctl reload chat2desk-b24) and run `chat2desk-b24 bizproc install` again so the activity has it too"
            ),
        ),
        (404, _) => Line::fail(
            key,
            format!(
                "{url} answers 404: the daemon there has [bizproc] secret empty (reload it: systemctl reload chat2desk-b24), or {key} names a front without a location for /bizproc/"
            ),
        ),
        _ => Line::fail(
            key,
            format!(
                "POST {url} answered HTTP {status} where the daemon answers 400 to this probe: {key} does not lead to the chat2desk-b24 listener; point it at the daemon (or its TLS front) and check the front's /bizproc/ location"
            ),
        ),
    }
}
