//! The Open Lines bridge as a portal administrator and a client meet it, against both
//! simulators over real HTTP with the real binary: the browser connects the local
//! application (redirects followed as a browser does), the connector is registered and
//! active on each line with its offline events bound; a client's messages on a mapped
//! channel reach their line once each, in order, files as links; an unmapped channel's do
//! not; an expired access token is refreshed; a restart goes on with the stored tokens; a
//! wrong state, a non-administrator, a post without our state and a foreign portal's tokens
//! get a 4xx page.

mod common;

use chat2desk_b24::sim::bitrix24::PortalSim;
use common::bridge::{bridge, LINE, SCOPES};
use common::{command, output, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_connects_the_app_and_the_connector_is_set_up_on_each_line() {
    let b = bridge("").await;
    let (status, page) = b.connect().await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Приложение подключено"), "{page}");
    let grant = b
        .store()
        .await
        .grant()
        .await
        .unwrap()
        .expect("tokens stored");
    assert_eq!(grant.member_id, b.env.portal.member_id());
    assert!(grant.revoked.is_none());
    let connectors = b.env.portal.connectors();
    let registered = connectors.get("chat2desk").expect("connector registered");
    assert_eq!(
        registered["PLACEMENT_HANDLER"],
        format!("http://127.0.0.1:{}/bitrix24/connector", b.listen)
    );
    let lines = b.env.portal.active_lines("chat2desk");
    assert!(
        lines.contains_key(&LINE) && lines.contains_key(&5),
        "{lines:?}"
    );
    let bound = b.env.portal.offline_bindings();
    assert!(
        bound.iter().any(|(event, connector)| event
            .eq_ignore_ascii_case("OnImConnectorMessageAdd")
            && connector == "chat2desk"),
        "{bound:?}"
    );
    // The settings frame shows each line with its status.
    let frame = reqwest::get(format!("http://127.0.0.1:{}/bitrix24/connector", b.listen))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(frame.contains("активна"), "{frame}");
    // The secret and the tokens never reach the log.
    let log = std::fs::read_to_string(&b.daemon.log).unwrap();
    assert!(
        !log.contains(grant.access_token.expose()),
        "token in the log"
    );
    assert!(
        !log.contains(grant.refresh_token.expose()),
        "token in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_state_non_admin_and_foreign_tokens_are_refused_with_a_page() {
    let b = bridge("").await;
    let base = format!("http://127.0.0.1:{}", b.listen);
    let stale = reqwest::get(format!("{base}/bitrix24/app?code=abc&state=forged"))
        .await
        .unwrap();
    assert_eq!(stale.status(), 400);
    assert!(stale.text().await.unwrap().contains("/bitrix24/connect"));

    // A user who is not an administrator authorises.
    b.env.portal.set_browser_user(b.env.s.user_maria);
    b.env.portal.set_admin(b.env.s.user_maria, false);
    let (status, page) = b.connect().await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("not a portal administrator"), "{page}");
    assert!(b.store().await.grant().await.unwrap().is_none());

    // Tokens of another portal posted as the app's form.
    let foreign = PortalSim::start().await.unwrap();
    let (id, secret) = foreign.register_app(&format!("{base}/bitrix24/app"), &SCOPES);
    let oauth = chat2desk_b24::portal::OAuthClient::new(
        &foreign.oauth_url(),
        &id,
        &chat2desk_b24::config::Secret::new(secret),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let to_handler = browser
        .get(format!("{}/oauth/authorize/", foreign.base_url()))
        .query(&[("client_id", id.as_str()), ("state", "x")])
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(to_handler.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let tokens = oauth.exchange_code(&code).await.unwrap();
    let member_id = foreign.member_id();
    let form = [
        ("AUTH_ID", tokens.access_token.expose()),
        ("REFRESH_ID", tokens.refresh_token.expose()),
        ("AUTH_EXPIRES", "3600"),
        ("member_id", member_id.as_str()),
    ];
    // Without a state of ours (a page on another site posting the form): refused unread.
    let posted = reqwest::Client::new()
        .post(format!("{base}/bitrix24/app"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 400);
    assert!(posted.text().await.unwrap().contains("/bitrix24/connect"));
    // With this browser's state and cookie: the refresh token is not our application's.
    let connect = browser
        .get(format!("{base}/bitrix24/connect"))
        .send()
        .await
        .unwrap();
    let cookie = connect.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("SameSite=Lax") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let state = cookie.split_once('=').unwrap().1.to_string();
    let posted = reqwest::Client::new()
        .post(format!("{base}/bitrix24/app"))
        .header("cookie", &cookie)
        .form(&[&form[..], &[("state", state.as_str())]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 400);
    let page = posted.text().await.unwrap();
    assert!(page.contains("invalid_grant"), "{page}");
    assert!(b.store().await.grant().await.unwrap().is_none());
    let _ = &b.client_id;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_messages_reach_their_line_in_order_once_each_and_tokens_refresh() {
    let mut b = bridge("").await;
    assert_eq!(b.connect().await.0, 200);
    b.webhook_set();
    let env = &b.env;
    let client = env.c2d.add_client(
        "Анна Клиентова",
        Some("79161234567"),
        "whatsapp",
        env.s.channel,
    );
    let unmapped_channel = env.c2d.add_channel("Viber", "79000000000", &["viber"]);
    let stranger = env
        .c2d
        .add_client("Чужой", Some("79160000001"), "viber", unmapped_channel);
    env.c2d.client_says(stranger, "этот канал не в линии");
    // Back to back: the simulator's deliveries run concurrently and overtake each other;
    // the reorder window puts them back in order.
    for i in 1..=5 {
        env.c2d.client_says(client, &format!("сообщение {i}"));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    env.c2d.send_file(
        client,
        None,
        "file",
        "договор.docx",
        "https://files.example/d.docx",
    );
    let chat = format!("c2d-{client}");
    wait_for("six messages in the line", || {
        env.portal
            .line_messages()
            .iter()
            .filter(|m| m.chat_id == chat)
            .count()
            >= 6
    })
    .await;
    let got = env.portal.line_messages();
    let ours: Vec<_> = got.iter().filter(|m| m.chat_id == chat).collect();
    assert_eq!(ours.len(), 6, "each message once: {got:#?}");
    assert!(ours.iter().all(|m| m.line == LINE), "{got:#?}");
    let texts: Vec<&str> = ours[..5].iter().map(|m| m.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "сообщение 1",
            "сообщение 2",
            "сообщение 3",
            "сообщение 4",
            "сообщение 5"
        ]
    );
    assert_eq!(ours[5].files, ["https://files.example/d.docx"]);
    assert!(
        got.iter().all(|m| m.chat_id != format!("c2d-{stranger}")),
        "an unmapped channel's message reached a line: {got:#?}"
    );

    // The access token expires: refreshed once, the message goes through.
    env.portal.expire_access_tokens();
    env.c2d.client_says(client, "после истечения токена");
    wait_for("the message after expiry", || {
        env.portal
            .line_messages()
            .iter()
            .any(|m| m.text == "после истечения токена")
    })
    .await;
    assert!(
        env.portal
            .token_grants()
            .get("refresh_token")
            .copied()
            .unwrap_or(0)
            >= 1,
        "{:?}",
        env.portal.token_grants()
    );

    // A restart goes on with the stored tokens.
    b.daemon.restart().await;
    env.c2d.client_says(client, "после перезапуска");
    wait_for("the message after the restart", || {
        env.portal
            .line_messages()
            .iter()
            .any(|m| m.text == "после перезапуска")
    })
    .await;
    let page = b.daemon.scrape().await;
    assert!(
        page.contains("openlines_messages_total{direction=\"to_line\",outcome=\"delivered\"}"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_grant_is_reported_by_check_with_the_fix() {
    let b = bridge("").await;
    assert_eq!(b.connect().await.0, 200);
    b.env.portal.revoke_grants();
    b.env.portal.expire_access_tokens();
    let (out, text) = output(command(&b.daemon.config, &["check"]));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("/bitrix24/connect"), "{text}");
    // `check` found the grant revoked (its refresh was refused) and recorded it: `status`
    // and `app status` say so with the fix.
    let (_, text) = output(command(&b.daemon.config, &["status"]));
    assert!(text.contains("Local application: REVOKED"), "{text}");
    assert!(text.contains("/bitrix24/connect again"), "{text}");
    let (out, text) = output(command(&b.daemon.config, &["app", "status"]));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("REVOKED"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openlines_fails_when_the_portal_answers_for_no_line() {
    // Not connected yet: every imconnector.status call fails, so a script must see a failure.
    let b = bridge("").await;
    let (out, text) = output(command(&b.daemon.config, &["openlines"]));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("line 3: channels"),
        "the lines are still listed: {text}"
    );
    assert!(
        text.contains("imconnector.status failed for every line"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_commands_print_the_connect_address_and_the_grant() {
    let b = bridge("").await;
    let (out, text) = output(command(&b.daemon.config, &["app", "connect"]));
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("http://127.0.0.1:{}/bitrix24/connect", b.listen)),
        "{text}"
    );
    let (out, text) = output(command(&b.daemon.config, &["app", "status"]));
    assert!(!out.status.success(), "not connected yet: {text}");
    assert!(text.contains("Not connected"), "{text}");
    assert_eq!(b.connect().await.0, 200);
    let (out, text) = output(command(&b.daemon.config, &["app", "status"]));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Authorised by: Admin Adminov"), "{text}");
    assert!(text.contains("imconnector"), "{text}");
    let (out, text) = output(command(&b.daemon.config, &["openlines"]));
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "line {LINE}: channels {}; активна",
            b.env.s.channel
        )),
        "{text}"
    );
    assert!(text.contains("Today: 0 client message(s)"), "{text}");
    let (out, text) = output(command(&b.daemon.config, &["check"]));
    assert!(
        text.contains("ok   bitrix24.app: connected by Admin Adminov"),
        "{text}"
    );
    assert!(
        text.contains("ok   openlines.lines[0].line: line 3 is active"),
        "{text}"
    );
    let _ = out;
}
