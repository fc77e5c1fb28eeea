//! The CRM card tab against both simulators over real HTTP, with the real binary and a real
//! SQLite file: the tabs are bound once per entity of `[card] entities` (and unbound for an
//! entity taken out); the portal's form opens a page with the client's conversation, escaped,
//! newest first, and new messages come through the session's poll; a forged `AUTH_ID`,
//! another portal's `member_id`, a user who may not read the entity, a poll without the CSRF
//! token, a cross-site poll and an expired session are refused with nothing from Chat2Desk.

mod card_rig;
mod common;

use card_rig::{attribute, card, cursor_of, refs, replace, session_of, Card};
use common::wait_for;
use std::time::Duration;

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
    let headers = session_of(page);
    let later = c.env.c2d.client_says(s.client_existing, "А доставка?");
    let (since, seen) = cursor_of(page);
    let (status, new) = c.poll((since, &seen), &refs(&headers)).await;
    assert_eq!(status, 200, "{new}");
    let ids: Vec<i64> = new["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [later], "only the new one: {new}");
    let html = new["messages"][0]["html"].as_str().unwrap();
    assert!(html.contains("А доставка?"), "{html}");
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
    assert_eq!(c.poll((0, ""), &good).await.0, 200);
    let no_csrf = [("x-card-session", session.as_str())];
    assert_eq!(c.poll((0, ""), &no_csrf).await.0, 403);
    let wrong_csrf = [
        ("x-card-session", session.as_str()),
        ("x-card-csrf", session.as_str()),
    ];
    assert_eq!(c.poll((0, ""), &wrong_csrf).await.0, 403);
    let cross = [good[0], good[1], ("sec-fetch-site", "cross-site")];
    assert_eq!(c.poll((0, ""), &cross).await.0, 403);
    let unknown = [
        ("x-card-session", csrf.as_str()),
        ("x-card-csrf", csrf.as_str()),
    ];
    assert_eq!(c.poll((0, ""), &unknown).await.0, 401);
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
        if c.poll((0, ""), headers).await.0 == want {
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
