//! The business-process path as a sysadmin tries it with the real binary: `send --dry-run`
//! says what a send would do and writes nothing (no message, no client, no state database),
//! and `check` tests the listener and secret the PHP activity depends on by posting the
//! activity's own call to the running daemon.

mod common;

use common::{command, output, Env};

const SECRET: &str = "bizproc-secret-0123456789";

/// `chat2desk-b24 -c config send …`: exit code and output.
fn send(config: &std::path::Path, args: &[&str]) -> (i32, String) {
    let mut all = vec!["send"];
    all.extend_from_slice(args);
    let (out, text) = output(command(config, &all));
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_dry_run_asks_only_and_writes_nothing() {
    let env = Env::new().await;
    let config = env.write_config("lead", "");
    let channel = env.s.channel.to_string();
    let known = env
        .c2d
        .add_client("Анна", Some("79035550142"), "whatsapp", env.s.channel);

    let (code, out) = tokio::task::spawn_blocking({
        let (config, channel) = (config.clone(), channel.clone());
        move || {
            send(
                &config,
                &[
                    "--dry-run",
                    "--channel",
                    &channel,
                    "--phone",
                    "+7 903 555-01-42",
                    "--text",
                    "Здравствуйте",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "Would send to Chat2Desk client {known} through channel {channel}"
        )),
        "{out}"
    );

    let (code, out) = tokio::task::spawn_blocking({
        let (config, channel) = (config.clone(), channel.clone());
        move || {
            send(
                &config,
                &[
                    "--dry-run",
                    "--channel",
                    &channel,
                    "--phone",
                    "+79990007766",
                    "--text",
                    "Hi",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Would create a Chat2Desk client for +79990007766"),
        "{out}"
    );

    let (code, out) = tokio::task::spawn_blocking({
        let config = config.clone();
        move || {
            send(
                &config,
                &[
                    "--dry-run",
                    "--channel",
                    "999999",
                    "--phone",
                    "+79990007766",
                    "--text",
                    "Hi",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Would not send: Chat2Desk channel 999999 does not exist"),
        "{out}"
    );

    let (code, out) = tokio::task::spawn_blocking({
        let (config, channel) = (config.clone(), channel.clone());
        move || {
            send(
                &config,
                &[
                    "--dry-run",
                    "--channel",
                    &channel,
                    "--phone",
                    "12",
                    "--text",
                    "Hi",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is not a phone number"), "{out}");

    assert!(
        env.c2d.message_posts().is_empty(),
        "a dry run sent a message"
    );
    assert!(
        env.c2d.client_posts().is_empty(),
        "a dry run created a client"
    );
    assert!(env.c2d.client_by_phone("79990007766").is_none());
    assert!(!env.db().exists(), "a dry run created the state database");

    // The same send without --dry-run goes out.
    let (code, out) = tokio::task::spawn_blocking({
        let (config, channel) = (config.clone(), channel.clone());
        move || {
            send(
                &config,
                &[
                    "--channel",
                    &channel,
                    "--phone",
                    "+79035550142",
                    "--text",
                    "Здравствуйте",
                ],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Sent: Chat2Desk message"), "{out}");
    assert_eq!(env.c2d.message_posts().len(), 1);
}

/// `check` (online) on `config`: exit code and output.
async fn check(config: &std::path::Path) -> (i32, String) {
    let config = config.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let (out, text) = output(command(&config, &["check"]));
        (out.status.code().unwrap_or(-1), text)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_posts_the_activitys_call_to_the_running_listener() {
    let env = Env::new().await;
    let mut daemon = env
        .spawn_daemon(&format!("[bizproc]\nsecret = \"{SECRET}\"\n"))
        .await;
    let url = format!("http://127.0.0.1:{}/bizproc/send", daemon.listen);

    let (code, out) = check(&daemon.config).await;
    assert_eq!(code, 0, "{out}");
    let expected = format!(
        "ok   server.listen: POST {url} takes the secret as the portal's activity sends it (a probe without event_token, refused 400 before anything is queued)"
    );
    assert!(out.lines().any(|l| l == expected), "{out}");
    let log = daemon.log_tail();
    assert!(log.contains("Refused a business-process call"), "{log}");
    assert!(!log.contains("Queued a business-process send"), "{log}");

    // A config whose secret differs from the running daemon's: the activity would get 401.
    let other = env
        .config_file()
        .set("server.listen", format!("127.0.0.1:{}", daemon.listen))
        .merge("[bizproc]\nsecret = \"another-secret-0123456789\"\n")
        .write_as("other.toml");
    let (code, out) = check(&other).await;
    assert_eq!(code, 1, "{out}");
    let expected = format!(
        "FAIL bizproc.secret: the daemon at {url} refuses this secret (401): it runs with another [bizproc] secret; after changing it, reload the daemon (systemctl reload chat2desk-b24) and run `chat2desk-b24 bizproc install` again so the activity has it too"
    );
    assert!(out.lines().any(|l| l == expected), "{out}");
    assert!(
        !out.contains("another-secret"),
        "the secret is shown: {out}"
    );

    // Nothing listening: said so, and nothing claims the listener is reachable.
    daemon.kill9();
    let (_, out) = check(&daemon.config).await;
    assert!(
        out.lines().any(|l| l.starts_with(&format!(
            "warn server.listen: nothing answers at {url} (connection refused or no route)"
        ))),
        "{out}"
    );
    assert!(!out.contains("reachable"), "{out}");
}
