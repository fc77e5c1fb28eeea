//! `send --via-daemon`: the portal's business-process activity (`chat2desksend.php`) played
//! by the CLI. The call goes to the running daemon's listener exactly as the activity sends it
//! (`POST <daemon_url>/bizproc/send`, the same form fields as its `http_build_query`, the
//! `[bizproc] secret` in `auth[application_token]`, no proxy, no redirects, the activity's
//! timeouts), so one command tests the address, the secret and the whole send path; then the
//! job the daemon queued is followed in the state database until it is finished.
//!
//! The activity's `event_token` is signed by the portal; this one is made up, so the daemon's
//! closing `bizproc.event.send` is refused by the portal (403, no workflow waits for it) and
//! the daemon finishes the job all the same. No `document_id` is sent: there is no CRM
//! document, so a refusal is not written to any timeline.

use super::send::{settled, something_to_send, SendArgs};
use crate::config::Config;
use crate::flows::bizproc::CODE;
use std::time::{Duration, Instant};

/// The activity's `socketTimeout` (connecting).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The activity's `streamTimeout` (the whole answer).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// How `send --via-daemon` ended; its exit code is the discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViaDaemon {
    /// The daemon took the call and Chat2Desk accepted the message (exit 0).
    Sent = 0,
    /// The daemon took the call, but the message was not sent (exit 1).
    NotSent = 1,
    /// The daemon's listener did not take the call; nothing was queued (exit 2).
    NotTaken = 2,
}

/// Posts the activity's call for `args` to the running daemon and follows the job it queued;
/// prints each step.
pub async fn send_via_daemon(config: &Config, args: &SendArgs) -> anyhow::Result<ViaDaemon> {
    something_to_send(args)?;
    if config.bizproc.secret.is_empty() {
        println!(
            "Not taken: bizproc.secret is empty, so the daemon's POST /bizproc/send is off; set [bizproc] secret (at least 16 characters), reload the daemon (systemctl reload chat2desk-b24) and run `chat2desk-b24 bizproc install`"
        );
        return Ok(ViaDaemon::NotTaken);
    }
    let (key, base) = match daemon_base(config) {
        Ok(found) => found,
        Err(problem) => {
            println!("Not taken: {problem}");
            return Ok(ViaDaemon::NotTaken);
        }
    };
    let url = format!("{base}/bizproc/send");
    let started = Instant::now();
    let send_id = match post(config, args, key, &url).await {
        Ok(send_id) => send_id,
        Err(problem) => {
            println!("Not taken: {problem}");
            return Ok(ViaDaemon::NotTaken);
        }
    };
    println!(
        "Taken: POST {url} answered 202 as the portal's activity expects; the daemon queued send {send_id} (channel {}, phone {})",
        args.channel, args.phone
    );
    let store = crate::app::open_existing_store(config)
        .await
        .map_err(|e| e.context(format!("the daemon queued send {send_id}, but its result cannot be followed here (`chat2desk-b24 status` on the daemon's host shows it)")))?;
    let mut shown_error = None;
    loop {
        if let Some(sent) = settled(&store, send_id, started, &mut shown_error).await? {
            return Ok(if sent {
                ViaDaemon::Sent
            } else {
                ViaDaemon::NotSent
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where the activity posts, as `bizproc install` tells it: `[bizproc] daemon_url`, else
/// `http://[server] listen` (a wildcard address as loopback), with the key it comes from.
fn daemon_base(config: &Config) -> Result<(&'static str, String), String> {
    let daemon_url = config.bizproc.daemon_url.trim().trim_end_matches('/');
    if !daemon_url.is_empty() {
        return Ok(("bizproc.daemon_url", daemon_url.to_string()));
    }
    let listen = config.server.listen.trim();
    let mut addr: std::net::SocketAddr = listen.parse().map_err(|_| {
        format!("server.listen = {listen:?} is not an address to post to; set bizproc.daemon_url to the URL the portal's activity uses")
    })?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    Ok(("server.listen", format!("http://{addr}")))
}

/// The activity's body (`http_build_query` of it): a made-up workflow and event token, the
/// call's properties, the secret.
fn activity_form(config: &Config, args: &SendArgs) -> String {
    let tag = format!("{:032x}", rand::random::<u128>());
    let workflow_id = format!("chat2desk-b24-send-{}", &tag[..16]);
    let event_token = format!("{workflow_id}|chat2desk-b24-send|{tag}");
    let timeout = config.bizproc.wait_timeout_secs.to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    let channel = args.channel.to_string();
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs([
        ("workflow_id", workflow_id.as_str()),
        ("code", CODE),
        ("event_token", event_token.as_str()),
        ("properties[channel_id]", channel.as_str()),
        ("properties[phone]", args.phone.as_str()),
        ("properties[text]", args.text.as_str()),
    ]);
    for (i, file) in args.files.iter().enumerate() {
        form.append_pair(&format!("properties[files][{i}]"), file);
    }
    form.extend_pairs([
        (
            "properties[transport]",
            args.transport.as_deref().unwrap_or(""),
        ),
        ("use_subscription", "Y"),
        ("timeout_duration", timeout.as_str()),
        ("ts", ts.as_str()),
        ("auth[application_token]", config.bizproc.secret.expose()),
    ]);
    form.finish()
}

/// Posts the call; the queued send's id, or what stopped it and what to do (`key` names
/// where the address comes from).
async fn post(config: &Config, args: &SendArgs, key: &str, url: &str) -> Result<i64, String> {
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(ANSWER_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let answer = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(activity_form(config, args))
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() {
                format!("nothing answers at {url} (connection refused or no route): start the daemon (systemctl start chat2desk-b24) or fix {key}")
            } else {
                format!(
                    "POST {url} failed ({}); the portal's activity fails the same way: check {key}, the firewall and any TLS front",
                    e.without_url()
                )
            }
        })?;
    let status = answer.status().as_u16();
    let body = answer.text().await.unwrap_or_default();
    let json = serde_json::from_str::<serde_json::Value>(&body).ok();
    let said = |name: &str| {
        json.as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    match status {
        202 => json
            .as_ref()
            .and_then(|v| v.get("job"))
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| format!("POST {url} answered 202 without the queued job's id: {key} does not lead to the chat2desk-b24 listener")),
        401 => Err(format!(
            "the daemon at {url} refuses bizproc.secret (401): it runs with another [bizproc] secret; after changing it, reload the daemon (systemctl reload chat2desk-b24) and run `chat2desk-b24 bizproc install` again so the activity has it too"
        )),
        404 => Err(format!(
            "{url} answers 404: the daemon there has [bizproc] secret empty (reload it: systemctl reload chat2desk-b24), or {key} names a front without a location for /bizproc/"
        )),
        400 | 413 => Err(format!(
            "the daemon refused the call (HTTP {status}): {}",
            said("error")
        )),
        _ => Err(format!(
            "POST {url} answered HTTP {status} ({}): {key} does not lead to the chat2desk-b24 listener; point it at the daemon (or its TLS front) and check the front's /bizproc/ location",
            body.chars().take(300).collect::<String>().trim()
        )),
    }
}
