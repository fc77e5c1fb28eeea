//! `setup` through a real pseudo-terminal against both simulators: the token is asked first
//! and a failure offers a way back (to the API URL, from the webhook to the token, from the
//! database path to the webhook), the choices read live from the services are accepted (the
//! e-mail match and the file's values pre-selected), the written file keeps the example's
//! comments and passes `check`; and the same with `--answers` for automation, which as root
//! on a machine without the package's user leaves no root-owned state database.

mod common;

use common::Env;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A loopback URL where nothing answers (the discard port; connections are refused).
const DEAD_API: &str = "http://127.0.0.1:9";

/// The shipped example with the state database moved into `dir` and the Chat2Desk API URL
/// pointing where nothing answers (so the first token check fails on the URL).
fn example_in(dir: &Path) -> std::path::PathBuf {
    let text = include_str!("../config.example.toml")
        .replace(
            "path = \"/var/lib/chat2desk-b24/state.db\"",
            &format!("path = \"{}\"", dir.join("state.db").display()),
        )
        .replace(
            "api_url = \"https://api.chat2desk.com\"",
            &format!("api_url = \"{DEAD_API}\""),
        );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every comment line of the example is still in the written file.
fn assert_comments_kept(written: &str) {
    for line in include_str!("../config.example.toml")
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
    {
        assert!(written.contains(line), "comment lost: {line}\n{written}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_on_a_terminal_writes_a_commented_file_that_passes_check() {
    let env = Env::new().await;
    let (c2d, portal, s, dir) = (&env.c2d, &env.portal, &env.s, &env.dir);
    let path = example_in(dir.path());
    let (api, token, hook) = (c2d.url(), c2d.token(), portal.webhook_url());
    let p = path.clone();
    let typed = token.clone();
    let missing_db = dir
        .path()
        .join("missing")
        .join("state.db")
        .display()
        .to_string();
    let other_db = dir.path().join("other.db").display().to_string();
    let written_db = other_db.clone();
    let typed_api = api.clone();
    let screen = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat2desk-b24"));
        cmd.arg("-c").arg(&p).arg("setup").env("TERM", "xterm");
        let mut pty = rexpect::session::spawn_command(cmd, Some(30_000)).expect("pty");
        // The token comes first; the file's API URL answers nothing, so the check fails on
        // the URL and the way back changes it.
        pty.exp_string("Chat2Desk API token").unwrap();
        pty.send_line(&typed).unwrap();
        pty.exp_string("FAIL chat2desk.token").unwrap();
        pty.exp_string("What now?").unwrap();
        pty.send("\x1b[B").unwrap(); // Change the Chat2Desk API URL
        pty.send_line("").unwrap();
        pty.exp_string("Chat2Desk API URL").unwrap();
        for _ in 0..40 {
            pty.send("\x7f").unwrap();
        }
        pty.send_line(&typed_api).unwrap();
        // A wrong token: typed again.
        pty.exp_string("Chat2Desk API token").unwrap();
        pty.send_line("wrong-token").unwrap();
        pty.exp_string("FAIL chat2desk.token").unwrap();
        pty.exp_string("What now?").unwrap();
        pty.send_line("").unwrap(); // Type the token again
        pty.exp_string("Chat2Desk API token").unwrap();
        pty.send_line(&typed).unwrap();
        pty.exp_string("token works").unwrap();
        pty.exp_string("inbound webhook URL").unwrap();
        pty.send_line(&hook).unwrap();
        pty.exp_string("scopes crm, user, im granted").unwrap();
        // A database path in a missing directory: back to the webhook (kept with Enter).
        pty.exp_string("State database (database.path)").unwrap();
        pty.send_line(&missing_db).unwrap();
        pty.exp_string("FAIL database.path").unwrap();
        pty.exp_string("What now?").unwrap();
        pty.send("\x1b[B").unwrap(); // Back to the Bitrix24 webhook URL
        pty.send_line("").unwrap();
        pty.exp_string("inbound webhook URL").unwrap();
        pty.send_line("").unwrap();
        pty.exp_string("scopes crm, user, im granted").unwrap();
        pty.exp_string("State database (database.path)").unwrap();
        pty.send_line(&other_db).unwrap();
        pty.exp_string("ok   database.path").unwrap();
        pty.exp_string("Integration type").unwrap();
        pty.send("\x1b[B").unwrap(); // contact_deal
        pty.send_line("").unwrap();
        pty.exp_string("Source of new entities").unwrap();
        pty.send_line("").unwrap();
        pty.exp_string("Default responsibles").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        pty.send_line("").unwrap();
        for _ in 0..3 {
            pty.exp_string("Portal user for operator").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            pty.send_line("").unwrap();
        }
        pty.exp_string("separate files").unwrap();
        pty.send_line("").unwrap();
        let (before, _) = pty.exp_regex("All checks passed|problem\\(s\\)").unwrap();
        before
    })
    .await
    .unwrap();
    assert!(!screen.contains("FAIL "), "{screen}");
    let written = std::fs::read_to_string(&path).unwrap();
    assert_comments_kept(&written);
    assert!(
        written.contains("integration = \"contact_deal\""),
        "{written}"
    );
    assert!(
        written.contains(&format!("api_url = \"{api}\"")),
        "{written}"
    );
    assert!(
        written.contains(&format!("path = \"{written_db}\"")),
        "{written}"
    );
    // Ivan is matched by e-mail, Maria and Pётр have no portal user with their e-mail.
    assert!(
        written.contains(&format!(
            "[[crm.operators]]\nchat2desk = {}\nbitrix24 = {}",
            s.op_ivan, s.user_ivan
        )),
        "{written}"
    );
    assert!(
        !written.contains(&token),
        "the token went to its file: {written}"
    );
    let token_file = dir.path().canonicalize().unwrap().join("chat2desk-token");
    assert!(
        written.contains(&format!("token_file = \"{}\"", token_file.display())),
        "{written}"
    );
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), token);
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let check = Command::new(env!("CARGO_BIN_EXE_chat2desk-b24"))
        .arg("-c")
        .arg(&path)
        .arg("check")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{out}");
    assert!(out.contains("All checks passed."), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_with_an_answers_file_needs_no_terminal() {
    let env = Env::new().await;
    let (c2d, portal, s, dir) = (&env.c2d, &env.portal, &env.s, &env.dir);
    let path = example_in(dir.path());
    let db = dir.path().join("answered.db");
    let answers = dir.path().join("answers.toml");
    std::fs::write(
        &answers,
        format!(
            "api_url = \"{}\"\ntoken = \"{}\"\nwebhook_url = \"{}\"\nintegration = \"lead\"\n\
             source = \"WEB\"\ndefault_responsibles = [{}]\nsecrets_in_files = false\n\
             operators = [{{ chat2desk = {}, bitrix24 = {} }}]\ndatabase_path = \"{}\"\n",
            c2d.url(),
            c2d.token(),
            portal.webhook_url(),
            s.user_default,
            s.op_maria,
            s.user_maria,
            db.display()
        ),
    )
    .unwrap();
    let p = path.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_chat2desk-b24"))
            .arg("-c")
            .arg(&p)
            .arg("setup")
            .arg("--answers")
            .arg(&answers)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("All checks passed."), "{text}");
    let written = std::fs::read_to_string(&path).unwrap();
    assert_comments_kept(&written);
    assert!(written.contains("source = \"WEB\""), "{written}");
    assert!(
        written.contains(&format!("default_responsibles = [{}]", s.user_default)),
        "{written}"
    );
    assert!(
        written.contains(&format!("path = \"{}\"", db.display())),
        "{written}"
    );
    let root_without_user = nix::unistd::geteuid().is_root()
        && nix::unistd::User::from_name("chat2desk-b24")
            .unwrap()
            .is_none();
    if root_without_user {
        // The state database would be root's: check creates nothing and says why.
        assert!(!db.exists(), "a root-owned state database was left: {text}");
        assert!(
            text.contains(&format!(
                "ok   database.path: {} is writable by root, which creates answered.db at its \
                 first start (checked by permissions only, nothing created: this machine has no \
                 user chat2desk-b24 (the package creates it) and a state database made now would \
                 belong to root; the daemon creates it at its first start as the user it runs as)",
                dir.path().display()
            )),
            "{text}"
        );
    }

    // A wrong token in the answers stops with the reason, and the file is left as it was.
    let before = std::fs::read_to_string(&path).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "token = \"wrong\"\n").unwrap();
    let p = path.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_chat2desk-b24"))
            .arg("-c")
            .arg(&p)
            .arg("setup")
            .arg("--answers")
            .arg(&bad)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("FAIL chat2desk.token"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}
