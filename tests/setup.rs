//! `setup` through a real pseudo-terminal against both simulators: the token and webhook are
//! typed, the choices read live from the services are accepted (the e-mail match and the
//! file's values pre-selected), the written file keeps the example's comments and passes
//! `check`; and the same with `--answers` for automation.

mod common;

use common::Env;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The shipped example with the state database moved into `dir`.
fn example_in(dir: &Path) -> std::path::PathBuf {
    let text = include_str!("../config.example.toml").replace(
        "path = \"/var/lib/chat2desk-b24/state.db\"",
        &format!("path = \"{}\"", dir.join("state.db").display()),
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
    let screen = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat2desk-b24"));
        cmd.arg("-c").arg(&p).arg("setup").env("TERM", "xterm");
        let mut pty = rexpect::session::spawn_command(cmd, Some(30_000)).expect("pty");
        pty.exp_string("Chat2Desk API URL").unwrap();
        // Replace the example's default with the simulator's URL.
        for _ in 0..40 {
            pty.send("\x7f").unwrap();
        }
        pty.send_line(&api).unwrap();
        pty.exp_string("Chat2Desk API token").unwrap();
        pty.send_line("wrong-token").unwrap();
        pty.exp_string("FAIL chat2desk.token").unwrap();
        pty.exp_string("Chat2Desk API token").unwrap();
        pty.send_line(&typed).unwrap();
        pty.exp_string("token works").unwrap();
        pty.exp_string("inbound webhook URL").unwrap();
        pty.send_line(&hook).unwrap();
        pty.exp_string("scopes crm, user, im granted").unwrap();
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
    let answers = dir.path().join("answers.toml");
    std::fs::write(
        &answers,
        format!(
            "api_url = \"{}\"\ntoken = \"{}\"\nwebhook_url = \"{}\"\nintegration = \"lead\"\n\
             source = \"WEB\"\ndefault_responsibles = [{}]\nsecrets_in_files = false\n\
             operators = [{{ chat2desk = {}, bitrix24 = {} }}]\n",
            c2d.url(),
            c2d.token(),
            portal.webhook_url(),
            s.user_default,
            s.op_maria,
            s.user_maria
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
