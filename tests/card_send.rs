//! Writing from the CRM card tab, over real HTTP with the real binary and both simulators:
//! the form offers the client's channel and the company's templates; a message goes once
//! (the same send key again, at once or later, sends nothing more), attributed to the
//! operator mapped to the portal user or else to the company, and shows up in the tab's
//! poll; the write-first rules refuse in the tab with nothing sent; a cross-site, forged or
//! expired send is refused. The poll's cursor neither repeats nor loses a message on the
//! boundary of two polls.

mod card_rig;
mod common;

use card_rig::{card, cursor_of, refs, session_of, Card};
use serde_json::Value;

/// A fresh send key (the page's form holds one; any 16+ characters).
fn key(n: u32) -> String {
    format!("test-send-key-{n:08}")
}

/// Opens the existing lead's tab as `user`: the page and its session's headers.
async fn tab_of(c: &Card, lead: i64, user: i64) -> (String, [(&'static str, String); 2]) {
    let opened = c.open("CRM_LEAD_DETAIL_TAB", lead, user, |_| {}).await;
    assert_eq!(opened.status, 200, "{}", opened.page);
    let headers = session_of(&opened.page);
    (opened.page, headers)
}

fn ids(poll: &Value) -> Vec<i64> {
    poll["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_manager_writes_once_as_their_operator_and_sees_the_message() {
    let c = card("entities = [\"lead\"]", 1).await;
    let s = &c.env.s;
    c.env
        .c2d
        .add_template("Приветствие", "Здравствуйте, <имя>!");
    c.env.c2d.client_says(s.client_existing, "Есть двушки?");
    // Maria is mapped to her Chat2Desk operator in [[crm.operators]].
    let (page, headers) = tab_of(&c, s.lead_existing, s.user_maria).await;
    for part in [
        "<form",
        "<select name=\"channel\"",
        "<textarea name=\"text\"",
        "<button type=\"submit\"",
        "Вы пишете как оператор Chat2Desk",
        "data-text=\"Здравствуйте, &lt;имя&gt;!\"",
    ] {
        assert!(page.contains(part), "{part}: {page}");
    }
    let first_option = page.split("<select name=\"channel\">").nth(1).unwrap();
    assert!(
        first_option.starts_with(&format!("<option value=\"{}\"", s.channel)),
        "the client's channel first: {first_option}"
    );
    let channel = s.channel.to_string();
    let k = key(1);
    let fields = [
        ("key", k.as_str()),
        ("channel", channel.as_str()),
        ("text", "Да, есть: 54 м²"),
        ("files", "https://files.example/plan.pdf"),
    ];
    let h = refs(&headers);
    // A double click: the same key twice at once.
    let (a, b) = tokio::join!(c.send(&h, &fields), c.send(&h, &fields));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let sent = if a.0 == 200 { &a.1 } else { &b.1 };
    assert_eq!(sent["status"], "sent", "{sent}");
    let message_id = sent["message_id"].as_i64().unwrap();
    // A retry later: refused, nothing sent.
    let (status, again) = c.send(&h, &fields).await;
    assert_eq!(status, 409, "{again}");
    assert!(again["message"]
        .as_str()
        .unwrap()
        .contains("уже отправлено"));
    let posts = c.env.c2d.message_posts();
    assert_eq!(posts.len(), 1, "one message reached Chat2Desk: {posts:?}");
    let post = &posts[0];
    assert_eq!(post["client_id"], s.client_existing, "{post}");
    assert_eq!(post["operator_id"], s.op_maria, "{post}");
    assert_eq!(post["channel_id"], s.channel, "{post}");
    assert_eq!(
        post["text"], "Да, есть: 54 м²\n\nhttps://files.example/plan.pdf",
        "{post}"
    );
    // It shows in the tab's poll.
    let (since, seen) = cursor_of(&page);
    let (status, polled) = c.poll((since, &seen), &h).await;
    assert_eq!(status, 200, "{polled}");
    assert_eq!(ids(&polled), [message_id], "{polled}");
    // Ivan has no mapping: his message goes as the company, and the tab says so.
    let (page, headers) = tab_of(&c, s.lead_existing, s.user_ivan).await;
    assert!(page.contains("от имени компании"), "{page}");
    let k = key(2);
    let fields = [
        ("key", k.as_str()),
        ("channel", channel.as_str()),
        ("text", "Добавлю: есть и трёшки"),
    ];
    let (status, sent) = c.send(&refs(&headers), &fields).await;
    assert_eq!(status, 200, "{sent}");
    let posts = c.env.c2d.message_posts();
    assert_eq!(posts.len(), 2);
    assert!(posts[1].get("operator_id").is_none(), "{}", posts[1]);
}

#[tokio::test]
async fn refused_sends_say_why_in_the_tab_and_send_nothing() {
    let c = card("entities = [\"lead\"]", 1).await;
    let s = &c.env.s;
    let (_, headers) = tab_of(&c, s.lead_existing, s.user_ivan).await;
    let h = refs(&headers);
    let channel = s.channel.to_string();
    let k = key(3);
    let good = [
        ("key", k.as_str()),
        ("channel", channel.as_str()),
        ("text", "Привет"),
    ];
    let evil = [h[0], h[1], ("origin", "http://evil.example")];
    let cross = [h[0], h[1], ("sec-fetch-site", "cross-site")];
    let no_csrf = [h[0]];
    let unknown = [("x-card-session", "nope"), ("x-card-csrf", "nope")];
    for (what, headers, want) in [
        ("another origin", &evil[..], 403),
        ("cross-site", &cross[..], 403),
        ("no CSRF token", &no_csrf[..], 403),
        ("no such session", &unknown[..], 401),
    ] {
        assert_eq!(c.send(headers, &good).await.0, want, "{what}");
    }
    let other_channel = [("key", k.as_str()), ("channel", "999999"), ("text", "x")];
    let (status, answer) = c.send(&h, &other_channel).await;
    assert_eq!(status, 400, "a channel the tab did not offer: {answer}");
    let script = [
        ("key", k.as_str()),
        ("channel", channel.as_str()),
        ("text", "x"),
        ("files", "javascript:alert(1)"),
    ];
    assert_eq!(c.send(&h, &script).await.0, 400, "not a link");
    assert!(c.env.c2d.message_posts().is_empty(), "nothing sent");
    // A phone with no Chat2Desk client while the company may not write first.
    c.env.c2d.set_write_first(false);
    let stranger =
        c.env
            .portal
            .add_lead("Незнакомец", Some("+7 999 000-11-22"), "NEW", s.user_ivan);
    let (page, headers) = tab_of(&c, stranger, s.user_ivan).await;
    assert!(page.contains("Напишите ему"), "{page}");
    let k = key(4);
    let fields = [
        ("key", k.as_str()),
        ("channel", channel.as_str()),
        ("text", "Здравствуйте"),
    ];
    let (status, refused) = c.send(&refs(&headers), &fields).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("«Писать первым»"),
        "{refused}"
    );
    assert!(c.env.c2d.message_posts().is_empty(), "nothing sent");
    assert!(c.env.c2d.client_posts().is_empty(), "no client created");
}

#[tokio::test]
async fn the_daily_write_first_limit_holds_for_the_tab_too() {
    let c = card(
        "entities = [\"lead\"]\n[bizproc]\nwrite_first_daily_limit = 1",
        1,
    )
    .await;
    let s = &c.env.s;
    let channel = s.channel.to_string();
    let mut answers = Vec::new();
    for (n, phone) in [(5, "+7 999 000-11-23"), (6, "+7 999 000-11-24")] {
        let lead = c
            .env
            .portal
            .add_lead("Новый", Some(phone), "NEW", s.user_ivan);
        let (_, headers) = tab_of(&c, lead, s.user_ivan).await;
        let k = key(n);
        let fields = [
            ("key", k.as_str()),
            ("channel", channel.as_str()),
            ("text", "Здравствуйте, вы оставляли заявку"),
        ];
        answers.push(c.send(&refs(&headers), &fields).await);
    }
    assert_eq!(answers[0].0, 200, "{:?}", answers[0]);
    assert_eq!(answers[1].0, 422, "{:?}", answers[1]);
    let message = answers[1].1["message"].as_str().unwrap();
    assert!(message.contains("write_first_daily_limit"), "{message}");
    assert_eq!(c.env.c2d.client_posts().len(), 1, "one client created");
    assert_eq!(c.env.c2d.message_posts().len(), 1, "one message sent");
}

#[tokio::test]
async fn the_poll_neither_repeats_nor_loses_a_message_on_the_boundary() {
    let c = card("entities = [\"lead\"]", 1).await;
    let s = &c.env.s;
    let c2d = &c.env.c2d;
    let shown = c2d.client_says(s.client_existing, "Первое");
    let (page, headers) = tab_of(&c, s.lead_existing, s.user_ivan).await;
    let h = refs(&headers);
    let mut cursor = cursor_of(&page);
    assert!(cursor.1.contains(&shown.to_string()), "{cursor:?}");
    let poll = |cursor: (i64, String)| {
        let c = &c;
        let h = h.clone();
        async move {
            let (status, answer) = c.poll((cursor.0, &cursor.1), &h).await;
            assert_eq!(status, 200, "{answer}");
            let next = (
                answer["since"].as_i64().unwrap(),
                answer["seen"].as_str().unwrap().to_string(),
            );
            (ids(&answer), next)
        }
    };
    // Nothing new: nothing repeated.
    let (new, next) = poll(cursor.clone()).await;
    assert!(new.is_empty(), "{new:?}");
    cursor = next;
    // A message in the same second as the last one shown, written after the poll.
    let same_second = c2d.client_says(s.client_existing, "Второе");
    let shown_at = chrono::Utc::now();
    c2d.set_message_time(shown, shown_at);
    c2d.set_message_time(same_second, shown_at);
    let (new, next) = poll(cursor.clone()).await;
    assert_eq!(new, [same_second], "the message on the boundary, once");
    cursor = next;
    // A message listed after a later one (a second client's, or written late).
    let later = c2d.client_says(s.client_existing, "Четвёртое");
    let (new, next) = poll(cursor.clone()).await;
    assert_eq!(new, [later]);
    cursor = next;
    let late = c2d.client_says(s.client_existing, "Третье");
    c2d.set_message_time(late, shown_at + chrono::Duration::seconds(1));
    let (new, next) = poll(cursor.clone()).await;
    assert_eq!(new, [late], "a message listed late, with an earlier time");
    let (new, _) = poll(next).await;
    assert!(new.is_empty(), "and not again: {new:?}");
}

/// Where the closing note's screenshot goes (when the directory exists).
const SCREENSHOT: &str = "/work/prompts/card-tab.png";

/// Waits up to 10 s for the text of the first `selector` to contain `part`.
async fn wait_for_text(browser: &common::webdriver::Browser, selector: &str, part: &str) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        if let Some(element) = browser.find_all(selector).await.into_iter().next() {
            text = browser.text(&element).await;
            if text.contains(part) {
                return text;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{selector} never said «{part}»: «{text}»");
}

#[tokio::test]
async fn in_a_real_browser_a_manager_writes_from_the_tab_or_is_refused() {
    let Some(browser) = common::webdriver::Browser::start().await else {
        return;
    };
    let c = card("entities = [\"lead\"]", 1).await;
    let s = &c.env.s;
    c.env
        .c2d
        .add_template("Приветствие", "Здравствуйте! Чем помочь?");
    c.env
        .c2d
        .client_says(s.client_existing, "Здравствуйте! Сколько стоит квартира?");
    c.env
        .c2d
        .operator_says(s.client_existing, s.op_maria, "Добрый день, от 12 млн.");
    let portal = &c.env.portal;
    let lead = ("CRM_LEAD_DETAIL_TAB", s.lead_existing);
    browser
        .goto(&portal.tab_page_url(lead.0, lead.1, s.user_maria))
        .await;
    let frame = browser.wait_for("iframe#tab").await;
    browser.enter_frame(&frame).await;
    let text = browser.wait_for("form textarea[name=text]").await;
    let channel = format!("select[name=channel] option[value=\"{}\"]", s.channel);
    browser.click(&browser.wait_for(&channel).await).await;
    browser
        .type_text(&text, "Могу показать квартиру завтра в 11:00")
        .await;
    browser
        .click(&browser.wait_for("form button[type=submit]").await)
        .await;
    let shown = wait_for_text(&browser, "#messages li.msg", "завтра в 11:00").await;
    assert!(
        shown.contains("Мария"),
        "attributed to Maria's operator: {shown}"
    );
    let posts = c.env.c2d.message_posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["operator_id"], s.op_maria);
    assert_eq!(browser.find_all("[data-message-id]").await.len(), 3);
    browser.leave_frames().await;
    if std::path::Path::new(SCREENSHOT)
        .parent()
        .is_some_and(|d| d.is_dir())
    {
        std::fs::write(SCREENSHOT, browser.screenshot().await).unwrap();
    }
    // A refusal (no Chat2Desk client, the company may not write first): in role="alert",
    // nothing sent.
    c.env.c2d.set_write_first(false);
    let stranger = portal.add_lead("Незнакомец", Some("+7 999 000-11-25"), "NEW", s.user_maria);
    browser
        .goto(&portal.tab_page_url(lead.0, stranger, s.user_maria))
        .await;
    let frame = browser.wait_for("iframe#tab").await;
    browser.enter_frame(&frame).await;
    let text = browser.wait_for("form textarea[name=text]").await;
    browser.type_text(&text, "Здравствуйте!").await;
    browser
        .click(&browser.wait_for("form button[type=submit]").await)
        .await;
    wait_for_text(&browser, "[role=alert]", "«Писать первым»").await;
    assert_eq!(c.env.c2d.message_posts().len(), 1, "nothing more sent");
    browser.leave_frames().await;
}

#[tokio::test]
async fn a_company_card_shows_its_phones_conversation_and_writes_to_it() {
    let c = card("entities = [\"company\"]", 1).await;
    let s = &c.env.s;
    let client = c
        .env
        .c2d
        .add_client("ООО Ромашка", Some("79161112233"), "whatsapp", s.channel);
    let asked = c.env.c2d.client_says(client, "Нужен офис на 200 м²");
    let company = c
        .env
        .portal
        .add_company("ООО Ромашка", Some("+7 916 111-22-33"), s.user_maria);
    let opened = c
        .open("CRM_COMPANY_DETAIL_TAB", company, s.user_maria, |_| {})
        .await;
    assert_eq!(opened.status, 200, "{}", opened.page);
    assert!(opened
        .page
        .contains(&format!("data-message-id=\"{asked}\"")));
    let headers = session_of(&opened.page);
    let (k, channel) = (key(7), s.channel.to_string());
    let fields = [
        ("key", k.as_str()),
        ("channel", channel.as_str()),
        ("text", "Подберём варианты"),
    ];
    let (status, sent) = c.send(&refs(&headers), &fields).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(c.env.c2d.message_posts()[0]["client_id"], client);
}

#[tokio::test]
async fn a_message_from_the_tab_is_in_the_requests_transcript() {
    let c = card("entities = [\"lead\"]", 1).await;
    let s = &c.env.s;
    c.env
        .c2d
        .client_says(s.client_existing, "Когда можно посмотреть?");
    let (_, headers) = tab_of(&c, s.lead_existing, s.user_maria).await;
    let (k, channel) = (key(8), s.channel.to_string());
    let fields = [
        ("key", k.as_str()),
        ("channel", channel.as_str()),
        ("text", "Завтра в 11:00 у подъезда"),
    ];
    let (status, sent) = c.send(&refs(&headers), &fields).await;
    assert_eq!(status, 200, "{sent}");
    let request = c.env.c2d.close_request(s.client_existing);
    let hook = serde_json::json!({"hook_type": "close_request", "request_id": request});
    assert_eq!(c.daemon.post_webhook(hook).await, 200);
    common::wait_for("the transcript", || {
        c.env
            .portal
            .comments()
            .iter()
            .any(|m| m.entity_id == s.lead_existing && m.text.contains("Завтра в 11:00 у подъезда"))
    })
    .await;
}
