//! The PHP activity: `php -l` on every file, then the real activity (installed by the real
//! binary's `bizproc install`) on a stand-in of the portal's PHP runtime
//! (tests/php/bitrix_standin*.php, which says so) against the real daemon and the portal
//! simulator on loopback; every body it sent is then parsed by the official Bitrix24 Python
//! SDK (scripts/bizproc_conformance.py). php-cli and b24pysdk come from
//! scripts/install-ci-deps.sh.

mod common;

use chat2desk_b24::config::{Integration, PollStrategy, Secret};
use common::{binary, Env};
use std::path::{Path, PathBuf};
use std::process::Command;

const SECRET: &str = "php-activity-secret-0123456789";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn php() -> Command {
    let ok = Command::new("php")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "php-cli is required for the activity tests: run scripts/install-ci-deps.sh (apt-get install -y php-cli)");
    Command::new("php")
}

fn php_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            php_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "php") {
            out.push(path);
        }
    }
}

#[test]
fn php_lint_every_file() {
    let mut files = Vec::new();
    php_files(&repo().join("packaging/bitrix"), &mut files);
    php_files(&repo().join("tests/php"), &mut files);
    assert!(files.len() >= 11, "{files:?}");
    for file in files {
        let out = php().arg("-l").arg(&file).output().unwrap();
        assert!(
            out.status.success(),
            "php -l {}: {}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A fresh docroot with the activity installed by the binary from `config`.
fn installed(config: &Path, url: &str) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("bitrix")).unwrap();
    let out = Command::new(binary())
        .args([
            "-c",
            config.to_str().unwrap(),
            "bizproc",
            "install",
            "--docroot",
        ])
        .arg(root.path())
        .args(["--url", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = root.path().join("local/activities/custom/chat2desksend");
    (root, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_activity_against_the_real_daemon() {
    let php_ok = php();
    drop(php_ok);
    let env = Env::new().await;
    env.c2d.client_says(env.s.client_existing, "Здравствуйте");
    let mut config = env.config(Integration::Lead);
    config.server.listen = "127.0.0.1:0".into();
    config.bizproc.secret = Secret::new(SECRET);
    config.sync.poll_strategy = PollStrategy::Off;
    let daemon = common::spawn(config).await;
    let url = format!("http://{}", daemon.webhook_addr().unwrap());

    let good = env.write_config("lead", &format!("[bizproc]\nsecret = \"{SECRET}\"\n"));
    let wrong = env.dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        std::fs::read_to_string(&good)
            .unwrap()
            .replace(SECRET, "another-secret-0123456789"),
    )
    .unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let capture = tempfile::tempdir().unwrap();
    let (_a, up) = installed(&good, &url);
    let (_b, down) = installed(&good, &closed);
    let (_c, unauthorized) = installed(&wrong, &url);

    let lead = env.s.lead_existing.to_string();
    let channel = env.s.channel.to_string();
    for (mode, dir) in [
        ("sent", &up),
        ("refused", &up),
        ("timeout", &up),
        ("daemon_down", &down),
        ("unauthorized", &unauthorized),
    ] {
        let dir = dir.clone();
        let args = [
            repo()
                .join("tests/php/activity_test.php")
                .display()
                .to_string(),
            mode.to_string(),
            dir.display().to_string(),
            env.portal.base_url(),
            env.c2d.url(),
            channel.clone(),
            lead.clone(),
        ];
        let capture_dir = capture.path().to_path_buf();
        let out = tokio::task::spawn_blocking(move || {
            php()
                .args(&args)
                .env("C2D_CAPTURE_DIR", capture_dir)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!("── php activity_test.php {mode}\n{stdout}");
        assert!(
            out.status.success(),
            "mode {mode}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // sent and timeout posted a message; refused never does.
    let posts = env.c2d.message_posts();
    assert_eq!(
        posts.len(),
        2,
        "sent + timeout (the refused one never posts): {posts:#?}"
    );
    assert_eq!(posts[0]["attachment"], "https://files.example.com/plan.jpg");
    assert_eq!(env.portal.comments().len(), 1, "the refusal's comment");

    conformance(capture.path());
    daemon.stop().await;
}

/// Every captured body through b24pysdk; skipped (loudly) only when python3 is absent.
fn conformance(dir: &Path) {
    let python = Command::new("python3").arg("--version").output();
    if !python.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: python3 is absent, the b24pysdk conformance check did not run (scripts/install-ci-deps.sh installs it)");
        return;
    }
    let out = Command::new("python3")
        .arg(repo().join("scripts/bizproc_conformance.py"))
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("── b24pysdk conformance\n{text}");
    assert!(
        out.status.success(),
        "b24pysdk could not parse the activity's bodies (pip install b24pysdk==1.3.2):\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One body per mode: each one posts once (daemon_down and unauthorized too).
    assert!(text.contains("5 body(ies) parsed"), "{text}");
}
