//! The business-process action's HTTP edge (secret, bad requests, limits, routes off without
//! a secret) and `bizproc install`/`uninstall` of the PHP activity.

mod common;

use chat2desk_b24::config::Secret;
use chat2desk_b24::store::Store;
use common::bizproc::*;
use common::{binary, Env};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_401_missing_phone_400_large_body_413_http10_and_channels() {
    let env = Env::new().await;
    let run_ = Running::start(&env, |_| {}).await;
    let http = reqwest::Client::new();
    let post = |body: String| {
        let http = http.clone();
        let url = format!("{}/bizproc/send", run_.url);
        async move {
            let r = http
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let good = format!(
        "event_token=t1&properties[channel_id]={}&properties[phone]=79607940401&properties[text]=hi&auth[application_token]={SECRET}",
        env.s.channel
    );
    let (status, body) = post(good.replace(SECRET, "bizproc-secret-0123456788")).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = post(good.replace(&format!("&auth[application_token]={SECRET}"), "")).await;
    assert_eq!(status, 401);
    let (status, body) = post(good.replace("&properties[phone]=79607940401", "")).await;
    assert_eq!(status, 400);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["field"], "properties[phone]");
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("properties[phone]"));
    let (status, _) = post(format!("{good}&properties[pad]={}", "x".repeat(1 << 20))).await;
    assert_eq!(status, 413);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let store = Store::open(&run_.db).await.unwrap();
    assert_eq!(
        store.counts().await.unwrap().pending + store.counts().await.unwrap().done,
        0,
        "nothing queued"
    );
    assert!(env.c2d.message_posts().is_empty(), "nothing sent");

    // HTTP/1.0 with Content-Length, as the portal's 2021 HttpClient speaks.
    let addr = run_.url.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /bizproc/send HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{good}",
        good.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 202") || answer.starts_with("HTTP/1.1 202"),
        "{answer}"
    );
    assert!(answer.contains("\"accepted\":true"), "{answer}");

    let channels = http
        .get(format!("{}/bizproc/channels", run_.url))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(channels.status(), 200);
    let list: Value = channels.json().await.unwrap();
    assert_eq!(list["channels"][0]["id"], json!(env.s.channel));
    let denied = http
        .get(format!("{}/bizproc/channels", run_.url))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    run_.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bizproc_routes_are_off_without_a_secret() {
    let env = Env::new().await;
    let run_ = Running::start(&env, |c| c.bizproc.secret = Secret::default()).await;
    let r = reqwest::Client::new()
        .post(format!("{}/bizproc/send", run_.url))
        .body("auth[application_token]=")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    run_.stop().await;
}

#[test]
fn install_then_uninstall_leaves_the_docroot_as_it_was() {
    for with_local in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("bitrix/modules")).unwrap();
        std::fs::write(root.join("index.php"), "<?php // portal").unwrap();
        if with_local {
            std::fs::create_dir_all(root.join("local/php_interface")).unwrap();
            std::fs::write(root.join("local/php_interface/init.php"), "<?php").unwrap();
        }
        let before = tree(root);
        let etc = tempfile::tempdir().unwrap();
        let config = etc.path().join("config.toml");
        std::fs::write(
            &config,
            format!("[chat2desk]\ntoken = \"t\"\n[bitrix24]\nwebhook_url = \"https://portal.example/rest/1/abc/\"\n[crm]\ndefault_responsibles = [1]\n[server]\nlisten = \"10.0.0.5:8089\"\n[bizproc]\nsecret = \"{SECRET}\"\n"),
        )
        .unwrap();
        let install = || {
            std::process::Command::new(binary())
                .args([
                    "-c",
                    config.to_str().unwrap(),
                    "bizproc",
                    "install",
                    "--docroot",
                    root.to_str().unwrap(),
                ])
                .output()
                .unwrap()
        };
        let out = install();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            printed.contains("To undo: chat2desk-b24 bizproc uninstall"),
            "{printed}"
        );
        assert!(!printed.contains(SECRET), "the secret is never printed");
        let activity = root.join("local/activities/custom/chat2desksend");
        for f in chat2desk_b24::flows::bizproc::FILES {
            assert_eq!(
                std::fs::read_to_string(activity.join(f.path)).unwrap(),
                f.contents
            );
        }
        let settings = activity.join(".settings.php");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&settings).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let php = std::fs::read_to_string(&settings).unwrap();
        assert!(php.contains("'url' => 'http://10.0.0.5:8089'") && php.contains(SECRET));
        // Again: an upgrade in place.
        assert!(install().status.success());
        let out = std::process::Command::new(binary())
            .args(["bizproc", "uninstall", "--docroot", root.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(tree(root), before, "with_local = {with_local}");
    }
}

/// Every path under `root` with its kind and contents.
fn tree(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                out.push((rel, "dir".into()));
                stack.push(path);
            } else {
                out.push((rel, std::fs::read_to_string(&path).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}
