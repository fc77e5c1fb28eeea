//! Hosts that cannot be reached in each way (closed, firewalled, silent) are named against their
//! URL key, quickly.

use chat2desk_b24::sim::bitrix24::PortalSim;
use chat2desk_b24::sim::chat2desk::Chat2DeskSim;
use chat2desk_b24::sim::scenario;
use std::net::TcpListener;

use super::{assert_case, run};

/// A port on loopback where nothing listens.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback listener whose accept queue is full: new connections are never completed, as
/// behind a firewall that drops packets. Keep the returned sockets alive.
fn firewalled_port() -> (u16, Vec<socket2::Socket>) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut keep = vec![listener];
    for _ in 0..3 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr);
        keep.push(s);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    (addr.as_socket().unwrap().port(), keep)
}

/// A loopback listener that accepts connections (in the kernel) and never answers.
fn silent_port() -> (u16, TcpListener) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    (l.local_addr().unwrap().port(), l)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_hosts_are_named_against_their_url_key_quickly() {
    let c2d = Chat2DeskSim::start().await.unwrap();
    let portal = PortalSim::start().await.unwrap();
    let s = scenario::seed(&c2d, &portal);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let hook_path = portal.webhook_url();
    let hook_path = hook_path
        .strip_prefix(&portal.base_url())
        .unwrap()
        .to_string();
    let write = |api: &str, hook: &str, extra: &str| {
        std::fs::write(
            &path,
            format!(
                "[chat2desk]\napi_url = \"{api}\"\ntoken = \"{}\"\nrequests_per_second = 0\n\
                 [bitrix24]\nwebhook_url = \"{hook}\"\nrequests_per_second = 0\n[crm]\n\
                 default_responsibles = [{}]\n{extra}\n[database]\npath = \"{}\"\n",
                c2d.token(),
                s.user_default,
                dir.path().join("state.db").display()
            ),
        )
        .unwrap();
    };
    let refused = closed_port();
    let (firewalled, _keep) = firewalled_port();
    let (silent, _listener) = silent_port();
    let good_api = c2d.url();
    let good_hook = portal.webhook_url();
    let cases: Vec<(&str, String, String, String, String)> = vec![
        ("api refused", format!("http://127.0.0.1:{refused}"), good_hook.clone(), String::new(),
         format!("FAIL chat2desk.api_url: 127.0.0.1:{refused} refused the connection: nothing listens there, or a firewall rejects it; check the port in chat2desk.api_url and the firewall")),
        ("api firewalled", format!("https://127.0.0.1:{firewalled}"), good_hook.clone(), String::new(),
         format!("FAIL chat2desk.api_url: no connection to 127.0.0.1:{firewalled} within 3 s: a firewall drops the traffic or a proxy is needed; check the firewall (outgoing to port {firewalled}), or set HTTPS_PROXY")),
        ("api DNS", "https://no-such-host.invalid".into(), good_hook.clone(), String::new(),
         "FAIL chat2desk.api_url: the name no-such-host.invalid does not resolve (DNS); check the host name in chat2desk.api_url and the DNS servers in /etc/resolv.conf".into()),
        ("api TLS to a plain server", good_api.replace("http://", "https://"), good_hook.clone(), String::new(),
         format!("FAIL chat2desk.api_url: TLS with {} failed: the server does not speak TLS there (is the port right, or should the URL start with http://?); check chat2desk.api_url", good_api.trim_start_matches("http://"))),
        ("portal silent", good_api.clone(), format!("https://127.0.0.1:{silent}{hook_path}"), String::new(),
         format!("FAIL bitrix24.webhook_url: 127.0.0.1:{silent} accepts connections but sent no answer within 5 s (a firewall or proxy holding the traffic, or no https server on this port); check bitrix24.webhook_url, the firewall and the proxy")),
        ("portal refused", good_api.clone(), format!("http://127.0.0.1:{refused}{hook_path}"), String::new(),
         format!("FAIL bitrix24.webhook_url: 127.0.0.1:{refused} refused the connection: nothing listens there, or a firewall rejects it; check the port in bitrix24.webhook_url and the firewall")),
        ("operator missing", good_api.clone(), good_hook.clone(), format!("[[crm.operators]]\nchat2desk = 999\nbitrix24 = {}", s.user_maria),
         "FAIL crm.operators[0].chat2desk: operator 999 not found in Chat2Desk (GET /v1/operators lists 3 operator(s)); use an id or e-mail that `chat2desk-b24 operators` shows".into()),
        ("operator e-mail missing", good_api.clone(), good_hook.clone(), format!("[[crm.operators]]\nchat2desk = \"nobody@example.ru\"\nbitrix24 = {}", s.user_maria),
         "FAIL crm.operators[0].chat2desk: operator nobody@example.ru not found in Chat2Desk (GET /v1/operators lists 3 operator(s)); use an id or e-mail that `chat2desk-b24 operators` shows".into()),
    ];
    for (name, api, hook, extra, expected) in cases {
        write(&api, &hook, &extra);
        let p = path.clone();
        let (code, out) = tokio::task::spawn_blocking(move || run(&p, &[], &["check"]))
            .await
            .unwrap();
        assert_case(name, code, &out, &expected, 1);
        assert!(
            !out.contains("retried"),
            "{name}: check retries nothing:\n{out}"
        );
    }
    // The dependent checks say "not checked" instead of blaming the token.
    write(
        &format!("http://127.0.0.1:{refused}"),
        &format!("http://127.0.0.1:{refused}{hook_path}"),
        &format!(
            "[[crm.operators]]\nchat2desk = {}\nbitrix24 = {}",
            s.op_maria, s.user_maria
        ),
    );
    let p = path.clone();
    let (_, out) = tokio::task::spawn_blocking(move || run(&p, &[], &["check"]))
        .await
        .unwrap();
    for line in [
        "skip chat2desk.token: not checked (chat2desk.api_url cannot be reached)",
        "skip crm.operators[0].chat2desk: not checked (chat2desk.api_url cannot be reached)",
        "skip crm.source: not checked (the portal cannot be reached)",
        "skip crm.default_responsibles[0]: not checked (the portal cannot be reached)",
        "skip crm.operators[0].bitrix24: not checked (the portal cannot be reached)",
    ] {
        assert!(out.lines().any(|l| l == line), "{line}:\n{out}");
    }
    assert!(out.contains("2 problem(s)."), "{out}");
}
