//! The CRM card tab against both simulators over real HTTP, with the real binary and a real
//! SQLite file: the tabs are bound once per entity of `[card] entities` (and unbound for an
//! entity taken out); the portal's form opens a page with the client's conversation, escaped,
//! newest first, and new messages come through the session's poll; a forged `AUTH_ID`,
//! another portal's `member_id`, a user who may not read the entity, a poll without the CSRF
//! token, a cross-site poll and an expired session are refused with nothing from Chat2Desk.

mod common;

use chat2desk_b24::sim::bitrix24::TabForm;
use common::{free_port, wait_for, Binary, Env};
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

struct Card {
    env: Env,
    daemon: Binary,
    daemon_url: String,
    http: reqwest::Client,
}

/// The daemon with `[bitrix24.app]` and `[card]` (`card` is the section's body), connected by
/// the admin's browser; returns once `count` tabs are bound.
async fn card(card: &str, count: usize) -> Card {
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
struct Opened {
    status: u16,
    csp: String,
    page: String,
}

impl Card {
    /// The portal's form for `placement` record `id` in the browser of `user`, with `edit`
    /// applied to its fields, posted to the handler.
    async fn open(
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
    async fn post(&self, form: &TabForm) -> Opened {
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

    /// `GET /bitrix24/card/messages?after=` with `headers`; the status and the JSON.
    async fn poll(&self, after: i64, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let mut request = self.http.get(format!(
            "{}/bitrix24/card/messages?after={after}",
            self.daemon_url
        ));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or_default())
    }
}

/// The value of `name="…"` in the page.
fn attribute(page: &str, name: &str) -> String {
    let start = page.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
    page[start..].split('"').next().unwrap().to_string()
}

fn replace(fields: &mut [(String, String)], name: &str, value: &str) {
    for (k, v) in fields.iter_mut() {
        if k == name {
            *v = value.to_string();
        }
    }
}

#[tokio::test]
async fn tabs_are_bound_once_per_entity_and_follow_the_list() {
    let mut c = card("title = \"Переписка\"", 4).await;
    let handler = format!("{}/bitrix24/card", c.daemon_url);
    let mut bound = c.env.portal.placements();
    bound.sort();
    let expected: Vec<(String, String, String)> = ["COMPANY", "CONTACT", "DEAL", "LEAD"]
        .iter()
        .map(|e| {
            (
                format!("CRM_{e}_DETAIL_TAB"),
                handler.clone(),
                "Переписка".to_string(),
            )
        })
        .collect();
    assert_eq!(bound, expected);
    // Every start binds again: nothing is doubled.
    c.daemon.restart().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(c.env.portal.placements().len(), 4);
    // An entity taken out of the list loses its tab.
    let text = std::fs::read_to_string(&c.daemon.config).unwrap();
    let text = text.replace("[card]", "[card]\nentities = [\"lead\", \"deal\"]");
    std::fs::write(&c.daemon.config, text).unwrap();
    c.daemon.restart().await;
    wait_for("two tabs left", || c.env.portal.placements().len() == 2).await;
    let mut left: Vec<String> = c.env.portal.placements().into_iter().map(|p| p.0).collect();
    left.sort();
    assert_eq!(left, ["CRM_DEAL_DETAIL_TAB", "CRM_LEAD_DETAIL_TAB"]);
}

#[tokio::test]
async fn a_manager_sees_the_clients_conversation_and_new_messages() {
    let c = card("", 4).await;
    let s = &c.env.s;
    let asked = c
        .env
        .c2d
        .client_says(s.client_existing, "Здравствуйте, <b>цена</b>?");
    let answered = c
        .env
        .c2d
        .operator_says(s.client_existing, s.op_ivan, "Добрый день!");
    let opened = c
        .open("CRM_LEAD_DETAIL_TAB", s.lead_existing, s.user_ivan, |_| {})
        .await;
    assert_eq!(opened.status, 200, "{}", opened.page);
    let portal = c.env.portal.base_url();
    assert!(
        opened.csp.contains(&format!("frame-ancestors {portal};")),
        "{}",
        opened.csp
    );
    let page = &opened.page;
    let (a, b) = (
        page.find(&format!("data-message-id=\"{answered}\""))
            .expect("the answer is shown"),
        page.find(&format!("data-message-id=\"{asked}\""))
            .expect("the question is shown"),
    );
    assert!(a < b, "newest first");
    assert!(
        page.contains("Здравствуйте, &lt;b&gt;цена&lt;/b&gt;?"),
        "client text is escaped"
    );
    assert!(!page.contains("<b>цена"));
    assert!(page.contains("Оператор Иван Петров"));
    assert!(page.contains("Иван Петров"), "who opened it");
    // A new message comes through the poll with the session's headers.
    let (session, csrf) = (
        attribute(page, "data-session"),
        attribute(page, "data-csrf"),
    );
    let later = c.env.c2d.client_says(s.client_existing, "А доставка?");
    let headers = [
        ("x-card-session", session.as_str()),
        ("x-card-csrf", csrf.as_str()),
    ];
    let (status, new) = c.poll(answered.max(asked), &headers).await;
    assert_eq!(status, 200, "{new}");
    let html = new["html"].as_str().unwrap();
    assert!(
        html.contains(&format!("data-message-id=\"{later}\"")),
        "{html}"
    );
    assert!(
        !html.contains(&format!("data-message-id=\"{asked}\"")),
        "only new ones: {html}"
    );
    assert_eq!(new["last"], later);
}

#[tokio::test]
async fn refused_tabs_show_nothing_from_chat2desk() {
    let c = card("", 4).await;
    let s = &c.env.s;
    c.env.c2d.client_says(s.client_existing, "Секрет клиента");
    let before = c.env.c2d.api_calls();
    let lead = ("CRM_LEAD_DETAIL_TAB", s.lead_existing);
    let forged = c
        .open(lead.0, lead.1, s.user_ivan, |f| {
            replace(f, "AUTH_ID", "forged0token0forged0token0forged")
        })
        .await;
    let other_portal = c
        .open(lead.0, lead.1, s.user_ivan, |f| {
            replace(f, "member_id", "0123456789abcdef0123456789abcdef")
        })
        .await;
    c.env
        .portal
        .deny_read(s.user_maria, "lead", s.lead_existing);
    let no_access = c.open(lead.0, lead.1, s.user_maria, |_| {}).await;
    for (what, opened) in [
        ("forged AUTH_ID", &forged),
        ("other member_id", &other_portal),
        ("no access", &no_access),
    ] {
        assert_eq!(opened.status, 403, "{what}: {}", opened.page);
        assert!(
            opened.page.contains("role=\"alert\""),
            "{what}: {}",
            opened.page
        );
        assert!(!opened.page.contains("data-message-id"), "{what}");
        assert!(!opened.page.contains("Секрет клиента"), "{what}");
    }
    assert!(no_access.page.contains("нет прав"), "{}", no_access.page);
    assert_eq!(
        c.env.c2d.api_calls(),
        before,
        "nothing was asked of Chat2Desk"
    );
    let log = std::fs::read_to_string(&c.daemon.log).unwrap();
    assert!(
        !log.contains("forged0token0forged"),
        "the token is never logged"
    );
}

#[tokio::test]
async fn the_poll_needs_its_session_csrf_and_the_same_site() {
    let c = card("", 4).await;
    let s = &c.env.s;
    c.env.portal.set_token_ttl(Duration::from_secs(2));
    let opened = c
        .open("CRM_LEAD_DETAIL_TAB", s.lead_existing, s.user_ivan, |_| {})
        .await;
    assert_eq!(opened.status, 200, "{}", opened.page);
    let (session, csrf) = (
        attribute(&opened.page, "data-session"),
        attribute(&opened.page, "data-csrf"),
    );
    let good = [
        ("x-card-session", session.as_str()),
        ("x-card-csrf", csrf.as_str()),
    ];
    assert_eq!(c.poll(0, &good).await.0, 200);
    let no_csrf = [("x-card-session", session.as_str())];
    assert_eq!(c.poll(0, &no_csrf).await.0, 403);
    let wrong_csrf = [
        ("x-card-session", session.as_str()),
        ("x-card-csrf", session.as_str()),
    ];
    assert_eq!(c.poll(0, &wrong_csrf).await.0, 403);
    let cross = [good[0], good[1], ("sec-fetch-site", "cross-site")];
    assert_eq!(c.poll(0, &cross).await.0, 403);
    let unknown = [
        ("x-card-session", csrf.as_str()),
        ("x-card-csrf", csrf.as_str()),
    ];
    assert_eq!(c.poll(0, &unknown).await.0, 401);
    // The session lives no longer than the user's token (AUTH_EXPIRES).
    wait_for_status(&c, &good, 401).await;
    // A form whose user token has expired meanwhile opens nothing.
    let form = c
        .env
        .portal
        .tab_form("CRM_LEAD_DETAIL_TAB", s.lead_existing, s.user_ivan)
        .unwrap();
    c.env.portal.expire_access_tokens();
    let stale = c.post(&form).await;
    assert_eq!(stale.status, 403, "{}", stale.page);
    assert!(stale.page.contains("устарел"), "{}", stale.page);
}

async fn wait_for_status(c: &Card, headers: &[(&str, &str)], want: u16) {
    for _ in 0..100 {
        if c.poll(0, headers).await.0 == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the poll never answered {want}");
}

#[tokio::test]
async fn an_entity_without_phone_or_client_says_so() {
    let c = card("entities = [\"lead\"]", 1).await;
    let s = &c.env.s;
    let no_phone = c
        .env
        .portal
        .add_lead("Без телефона", None, "NEW", s.user_ivan);
    let unknown = c
        .env
        .portal
        .add_lead("Незнакомец", Some("+7 999 000-11-22"), "NEW", s.user_ivan);
    let opened = c
        .open("CRM_LEAD_DETAIL_TAB", no_phone, s.user_ivan, |_| {})
        .await;
    assert_eq!(opened.status, 200, "{}", opened.page);
    assert!(opened.page.contains("нет телефона"), "{}", opened.page);
    let opened = c
        .open("CRM_LEAD_DETAIL_TAB", unknown, s.user_ivan, |_| {})
        .await;
    assert_eq!(opened.status, 200, "{}", opened.page);
    assert!(
        opened.page.contains("в Chat2Desk пока нет"),
        "{}",
        opened.page
    );
    assert!(opened.page.contains("Напишите ему"));
    // A deal's tab is not bound here.
    assert!(c
        .env
        .portal
        .tab_form("CRM_DEAL_DETAIL_TAB", 1, s.user_ivan)
        .is_none());
}

/// Where the closing note's screenshot goes (when the directory exists).
const SCREENSHOT: &str = "/work/prompts/card-tab.png";

#[tokio::test]
async fn in_a_real_browser_the_tab_shows_history_and_new_messages_or_refuses() {
    let Some(browser) = common::webdriver::Browser::start().await else {
        return;
    };
    let c = card("", 4).await;
    let s = &c.env.s;
    let asked = c
        .env
        .c2d
        .client_says(s.client_existing, "Здравствуйте! Сколько стоит квартира?");
    let answered = c
        .env
        .c2d
        .operator_says(s.client_existing, s.op_ivan, "Добрый день, от 12 млн.");
    let portal = &c.env.portal;
    let lead = ("CRM_LEAD_DETAIL_TAB", s.lead_existing);
    browser
        .goto(&portal.tab_page_url(lead.0, lead.1, s.user_ivan))
        .await;
    let frame = browser.wait_for("iframe#tab").await;
    browser.enter_frame(&frame).await;
    browser.wait_for("[data-message-id]").await;
    let mut shown = Vec::new();
    for element in browser.find_all("[data-message-id]").await {
        let id = browser
            .attribute(&element, "data-message-id")
            .await
            .unwrap_or_default();
        shown.push((id, browser.text(&element).await));
    }
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert_eq!(shown[0].0, answered.to_string(), "newest first");
    assert!(shown[0].1.contains("от 12 млн."), "{shown:?}");
    assert_eq!(shown[1].0, asked.to_string());
    // A new message appears without a reload.
    let later = c
        .env
        .c2d
        .client_says(s.client_existing, "А ипотека возможна?");
    let element = browser
        .wait_for(&format!("[data-message-id=\"{later}\"]"))
        .await;
    assert!(browser.text(&element).await.contains("ипотека"));
    browser.leave_frames().await;
    if std::path::Path::new(SCREENSHOT)
        .parent()
        .is_some_and(|d| d.is_dir())
    {
        std::fs::write(SCREENSHOT, browser.screenshot().await).unwrap();
    }
    // A user who may not read the lead, and a forged token: refused, nothing shown.
    portal.deny_read(s.user_maria, "lead", s.lead_existing);
    let forbidden = portal.tab_page_url(lead.0, lead.1, s.user_maria);
    let forged = format!(
        "{}&auth=forged0token0forged0token0forged",
        portal.tab_page_url(lead.0, lead.1, s.user_ivan)
    );
    for (what, url, says) in [
        ("no access", forbidden, "нет прав"),
        ("forged AUTH_ID", forged, "не подтвердил"),
    ] {
        browser.goto(&url).await;
        let frame = browser.wait_for("iframe#tab").await;
        browser.enter_frame(&frame).await;
        let alert = browser.wait_for("[role=alert]").await;
        assert!(browser.text(&alert).await.contains(says), "{what}");
        assert!(
            browser.find_all("[data-message-id]").await.is_empty(),
            "{what}"
        );
        browser.leave_frames().await;
    }
}
