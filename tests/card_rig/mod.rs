//! The CRM card tab's test rig: the daemon with `[bitrix24.app]` and `[card]`, connected, its
//! tabs bound; the portal's form posted to the handler; the page's poll and send with the
//! session's headers.

// Each test file uses a part of the rig.
#![allow(dead_code)]

use super::common::{self, free_port, Binary, Env};
use chat2desk_b24::sim::bitrix24::TabForm;
use serde_json::Value;
use std::time::Duration;

/// The local application's scopes: the card needs `placement` and `crm`, `user` for
/// `user.current`.
const SCOPES: [&str; 6] = [
    "imopenlines",
    "imconnector",
    "im",
    "crm",
    "user",
    "placement",
];

pub struct Card {
    pub env: Env,
    pub daemon: Binary,
    pub daemon_url: String,
    pub http: reqwest::Client,
}

/// The daemon with `[bitrix24.app]` and `[card]` (`card` is the section's body), connected by
/// the admin's browser; returns once `count` tabs are bound.
pub async fn card(card: &str, count: usize) -> Card {
    let env = Env::new().await;
    let listen = free_port();
    let daemon_url = format!("http://127.0.0.1:{listen}");
    let (client_id, secret) = env
        .portal
        .register_app(&format!("{daemon_url}/bitrix24/app"), &SCOPES);
    let config = format!(
        "[bitrix24.app]\nclient_id = \"{client_id}\"\nclient_secret = \"{secret}\"\n\
         oauth_url = \"{}\"\ndaemon_url = \"{daemon_url}\"\n[card]\n{card}\n",
        env.portal.oauth_url(),
    );
    let daemon = env.spawn_daemon_at(listen, &config).await;
    let (status, page) =
        chat2desk_b24::sim::browser::open(&format!("{daemon_url}/bitrix24/connect"))
            .await
            .unwrap();
    assert_eq!(status, 200, "{page}");
    for _ in 0..100 {
        if env.portal.placements().len() == count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bound = env.portal.placements().len();
    assert_eq!(
        bound,
        count,
        "tabs bound; the log:\n{}",
        common::tail(&daemon.log)
    );
    Card {
        env,
        daemon,
        daemon_url,
        http: reqwest::Client::new(),
    }
}

/// What a tab answered.
pub struct Opened {
    pub status: u16,
    pub csp: String,
    pub page: String,
}

impl Card {
    /// The portal's form for `placement` record `id` in the browser of `user`, with `edit`
    /// applied to its fields, posted to the handler.
    pub async fn open(
        &self,
        placement: &str,
        id: i64,
        user: i64,
        edit: impl Fn(&mut Vec<(String, String)>),
    ) -> Opened {
        let mut form = self
            .env
            .portal
            .tab_form(placement, id, user)
            .expect("the tab is bound");
        edit(&mut form.fields);
        self.post(&form).await
    }

    /// Posts the portal's `form` to the handler.
    pub async fn post(&self, form: &TabForm) -> Opened {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.fields.iter())
            .finish();
        let answer = self
            .http
            .post(&form.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let csp = answer
            .headers()
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        Opened {
            status,
            csp,
            page: answer.text().await.unwrap(),
        }
    }

    /// `GET /bitrix24/card/messages?since=&seen=` (the poll's cursor) with `headers`; the
    /// status and the JSON.
    pub async fn poll(&self, cursor: (i64, &str), headers: &[(&str, &str)]) -> (u16, Value) {
        let (since, seen) = cursor;
        let mut request = self.http.get(format!(
            "{}/bitrix24/card/messages?since={since}&seen={seen}",
            self.daemon_url
        ));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or_default())
    }

    /// `POST /bitrix24/card/send` with `headers` and the form `fields`; the status and the
    /// JSON.
    pub async fn send(&self, headers: &[(&str, &str)], fields: &[(&str, &str)]) -> (u16, Value) {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter())
            .finish();
        let mut request = self
            .http
            .post(format!("{}/bitrix24/card/send", self.daemon_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or_default())
    }
}

/// The session's headers of an opened `page`.
pub fn session_of(page: &str) -> [(&'static str, String); 2] {
    [
        ("x-card-session", attribute(page, "data-session")),
        ("x-card-csrf", attribute(page, "data-csrf")),
    ]
}

/// `headers` as the helpers take them.
pub fn refs<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The poll's first cursor in an opened `page` (`SINCE`, `SEEN` of its script).
pub fn cursor_of(page: &str) -> (i64, String) {
    let start = page.find("var SINCE=").expect("the page's cursor") + "var SINCE=".len();
    let rest = &page[start..];
    let since = rest.split(',').next().unwrap().parse().unwrap();
    let seen = rest
        .split("SEEN='")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    (since, seen.to_string())
}

/// The value of `name="…"` in the page.
pub fn attribute(page: &str, name: &str) -> String {
    let start = page.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
    page[start..].split('"').next().unwrap().to_string()
}

pub fn replace(fields: &mut [(String, String)], name: &str, value: &str) {
    for (k, v) in fields.iter_mut() {
        if k == name {
            *v = value.to_string();
        }
    }
}
