//! The shipped nginx example in front of the daemon: a real nginx (Debian's package) with a
//! self-signed certificate made by the openssl CLI, a webhook posted over HTTPS through it,
//! and the comment on the portal simulator; the administrators' pages behind the same TLS
//! server, for the LAN only. nginx is required: CI installs it.

mod common;

use chat2desk_b24::app::build;
use chat2desk_b24::config::{Integration, PollStrategy, Secret};
use chat2desk_b24::server::ServerSettings;
use common::{free_port, Env, KillOnDrop};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const NGINX: &str = "/usr/sbin/nginx";
const HOST: &str = "chat2desk-b24.example.com";
const SECRET: &str = "nginx-test-secret-0123456789";
/// The test's "LAN": the one address the example's `allow` for the admin pages is set to. A
/// client bound to it is on the LAN; one from 127.0.0.1 is not.
const LAN: [u8; 4] = [127, 0, 0, 2];

fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", &format!("/CN={HOST}")])
        .args([
            "-addext",
            &format!("subjectAltName=DNS:{HOST},IP:127.0.0.1"),
        ])
        // A leaf, not a CA: rustls refuses a CA certificate as a server's own.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .output()
        .expect("the openssl CLI is installed");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// A loopback port nothing listens on.
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// The shipped example with only the values marked CHANGE-ME replaced.
fn site_config(https: u16, http: u16, daemon: u16, cert: &Path, key: &Path, logs: &Path) -> String {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/nginx/chat2desk-b24.conf"),
    )
    .unwrap();
    let replacements = [
        ("listen 443 ssl;", format!("listen 127.0.0.1:{https} ssl;")),
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        (
            "/etc/ssl/certs/chat2desk-b24.example.com.pem",
            cert.display().to_string(),
        ),
        (
            "/etc/ssl/private/chat2desk-b24.example.com.key",
            key.display().to_string(),
        ),
        ("/var/log/nginx/", format!("{}/", logs.display())),
        (
            "server 127.0.0.1:8089",
            format!("server 127.0.0.1:{daemon}"),
        ),
        // The second node is down (nothing listens there): nginx hands its share of the
        // deliveries to the first.
        (
            "server 192.0.2.12:8089",
            format!("server 127.0.0.1:{}", dead_port()),
        ),
        (
            "allow 192.168.0.0/16;",
            format!("allow {};", IpAddr::from(LAN)),
        ),
    ];
    let mut text = shipped;
    for (from, to) in replacements {
        assert!(text.contains(from), "the shipped config still has `{from}`");
        text = text.replace(from, &to);
    }
    // No IPv6 on every CI machine: drop the marked IPv6 listeners.
    text.lines()
        .filter(|l| !l.contains("# CHANGE-ME-IPV6"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn start_nginx(dir: &Path, site: &str) -> KillOnDrop {
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} is missing: this test needs Debian's nginx package (`apt-get install nginx`; \
         scripts/install-ci-deps.sh installs it on CI)"
    );
    std::fs::write(dir.join("site.conf"), site).unwrap();
    let temp = |name: &str| dir.join(name).display().to_string();
    let main = format!(
        "pid {pid};\nevents {{ worker_connections 64; }}\nhttp {{\n  client_body_temp_path {a};\n  proxy_temp_path {b};\n  fastcgi_temp_path {c};\n  uwsgi_temp_path {d};\n  scgi_temp_path {e};\n  include {site};\n}}\n",
        pid = temp("nginx.pid"),
        a = temp("body"),
        b = temp("proxy"),
        c = temp("fastcgi"),
        d = temp("uwsgi"),
        e = temp("scgi"),
        site = temp("site.conf"),
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let nginx = || {
        let mut command = Command::new(NGINX);
        command
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"));
        command
    };
    let check = nginx().arg("-t").output().unwrap();
    assert!(
        check.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = nginx()
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    KillOnDrop(child)
}

/// An HTTPS client of nginx on `https` that trusts `cert`, from `local` when given; it follows
/// no redirect.
fn https_client(cert: &Path, https: u16, local: Option<IpAddr>) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(root)
        .resolve(HOST, ([127, 0, 0, 1], https).into())
        .local_address(local)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Waits until nginx answers on `base`.
async fn wait_up(client: &reqwest::Client, base: &str) {
    let start = Instant::now();
    while let Err(e) = client.get(format!("{base}/")).send().await {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nginx did not come up: {e:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_through_the_shipped_nginx_config_reaches_the_portal() {
    let env = Env::new().await;
    let mut config = env.config(Integration::Lead);
    let daemon_port = free_port();
    config.server.listen = format!("127.0.0.1:{daemon_port}");
    config.server.webhook_secret = Secret::new(SECRET);
    config.sync.poll_strategy = PollStrategy::Off;
    let daemon = build(config).await.unwrap();
    let settings = ServerSettings::from_config(&daemon.config.server).unwrap();
    let server = daemon.bind_server_with(settings).await.unwrap();
    let shutdown = CancellationToken::new();
    let server_task = tokio::spawn(server.run(shutdown.clone()));
    let worker_task = tokio::spawn(daemon.worker.clone().run(shutdown.clone()));

    let dir = env.dir.path().join("nginx");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let (cert, key) = self_signed(&dir);
    let (https, http) = (free_port(), free_port());
    let site = site_config(https, http, daemon_port, &cert, &key, &dir.join("logs"));
    let _nginx = start_nginx(&dir, &site);

    let client = https_client(&cert, https, None);
    let base = format!("https://{HOST}:{https}");
    wait_up(&client, &base).await;

    let c = env.c2d.add_client(
        "Через прокси",
        Some("79007778899"),
        "whatsapp",
        env.s.channel,
    );
    env.c2d.client_says(c, "Добрый вечер");
    let request = env.c2d.close_request(c);
    let hook = format!("{base}/webhook/{SECRET}");
    let body = serde_json::json!({"hook_type": "close_request", "request_id": request});
    let answer = client.post(&hook).json(&body).send().await.unwrap();
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let start = Instant::now();
    while env.comments_for(request).len() != 1 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the comment did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Only POST /webhook/ is exposed; health, metrics and other paths are not.
    assert_eq!(client.get(&hook).send().await.unwrap().status(), 403);
    assert_eq!(
        client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let big = vec![b' '; (1 << 20) + 10];
    assert_eq!(
        client.post(&hook).body(big).send().await.unwrap().status(),
        413
    );
    let wrong = format!("{base}/webhook/wrong-secret-0123456789");
    assert_eq!(
        client
            .post(&wrong)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Plain HTTP redirects to HTTPS.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = plain
        .get(format!("http://127.0.0.1:{http}/webhook/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 301);
    // The access log never holds the secret.
    let access = std::fs::read_to_string(dir.join("logs/chat2desk-b24.access.log")).unwrap();
    assert!(access.contains("\"POST\" 200"), "{access}");
    assert!(!access.contains(SECRET), "{access}");

    shutdown.cancel();
    server_task.await.unwrap();
    worker_task.await.unwrap();
    assert_eq!(env.comments_for(request).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_pages_behind_the_shipped_nginx_answer_the_lan_only() {
    let env = Env::new().await;
    let (https, http, listen) = (free_port(), free_port(), free_port());
    let daemon_url = format!("https://{HOST}:{https}");
    let (client_id, secret) = env.portal.register_app(
        &format!("{daemon_url}/bitrix24/app"),
        &["imopenlines", "imconnector"],
    );
    let app = format!(
        "[bitrix24.app]\nclient_id = \"{client_id}\"\nclient_secret = \"{secret}\"\n\
         oauth_url = \"{}\"\ndaemon_url = \"{daemon_url}\"\n\
         [[openlines.lines]]\nline = 3\nchannels = [{}]\n",
        env.portal.oauth_url(),
        env.s.channel,
    );
    let _daemon = env.spawn_daemon_at(listen, &app).await;

    let dir = env.dir.path().join("nginx");
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let (cert, key) = self_signed(&dir);
    let site = site_config(https, http, listen, &cert, &key, &dir.join("logs"));
    let _nginx = start_nginx(&dir, &site);
    let lan = https_client(&cert, https, Some(IpAddr::from(LAN)));
    wait_up(&lan, &daemon_url).await;

    // From the LAN the connect page reaches the daemon, which sends the browser to the
    // portal's authorisation page with the state cookie.
    let connect = format!("{daemon_url}/bitrix24/connect");
    let answer = lan.get(&connect).send().await.unwrap();
    assert_eq!(answer.status(), 302, "{:?}", answer.text().await);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(
        location.contains("/oauth/authorize/") && location.contains(&client_id),
        "{location}"
    );
    assert!(answer.headers().contains_key("set-cookie"));

    // From elsewhere nginx refuses it before the daemon sees it.
    let outside = https_client(&cert, https, None);
    let refused = outside.get(&connect).send().await.unwrap();
    assert_eq!(refused.status(), 403);

    // The business-process listener is not behind this server, nor anything unknown.
    for path in ["/bizproc/send", "/card/"] {
        let answer = lan
            .post(format!("{daemon_url}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{path}");
    }
}
