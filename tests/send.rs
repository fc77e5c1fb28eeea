//! The business-process path as a sysadmin tries it with the real binary: `send --dry-run`
//! says what a send would do and writes nothing (no message, no client, no state database),
//! `check` tests the listener and secret the PHP activity depends on by posting the
//! activity's own call to the running daemon, and `send --via-daemon` sends through that
//! listener as the activity does.

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

/// [`send`] off the async runtime (the daemon's simulators keep answering meanwhile).
async fn send_async(config: &std::path::Path, args: &[String]) -> (i32, String) {
    let (config, args) = (config.to_path_buf(), args.to_vec());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        send(&config, &args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_via_daemon_goes_through_the_listener_as_the_activity_does() {
    let env = Env::new().await;
    let mut daemon = env
        .spawn_daemon(&format!("[bizproc]\nsecret = \"{SECRET}\"\n"))
        .await;
    let url = format!("http://127.0.0.1:{}/bizproc/send", daemon.listen);
    let channel = env.s.channel.to_string();
    let known = env
        .c2d
        .add_client("Анна", Some("79035550142"), "whatsapp", env.s.channel);
    let text = "Проверка связи";
    let args = |channel: &str| -> Vec<String> {
        [
            "--via-daemon",
            "--channel",
            channel,
            "--phone",
            "+7 903 555-01-42",
            "--text",
            text,
        ]
        .map(String::from)
        .to_vec()
    };
    let (sent, refused) = (args(&channel), args("999999"));

    let (code, out) = send_async(&daemon.config, &sent).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with(&format!(
            "Taken: POST {url} answered 202 as the portal's activity expects; the daemon queued send "
        ))),
        "{out}"
    );
    assert!(out.contains("Sent: Chat2Desk message "), "{out}");
    assert!(out.contains(&format!("to client {known} in ")), "{out}");
    let posts = env.c2d.message_posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0]["text"], text);
    assert_eq!(posts[0]["client_id"], known);
    // The daemon closed the activity with its (made-up) token; the portal knew no such
    // workflow, said so, and the send still finished.
    let events = env.portal.event_sends();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].answer, "denied");
    assert_eq!(events[0].params["RETURN_VALUES"]["sent"], "Y");
    assert!(
        out.contains("The portal refused the result (bizproc.event.send: "),
        "{out}"
    );
    let log = daemon.log_tail();
    assert!(log.contains("Queued a business-process send"), "{log}");
    assert!(!log.contains(SECRET), "the secret reached the log");

    // The daemon takes the call, Chat2Desk has no such channel: not sent, exit 1.
    let (code, out) = send_async(&daemon.config, &refused).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Not sent: канал Chat2Desk 999999 не найден"),
        "{out}"
    );

    // Another secret than the running daemon's: the listener refuses, nothing is queued.
    let other = env
        .config_file()
        .set("server.listen", format!("127.0.0.1:{}", daemon.listen))
        .merge("[bizproc]\nsecret = \"another-secret-0123456789\"\n")
        .write_as("other.toml");
    let (code, out) = send_async(&other, &sent).await;
    assert_eq!(code, 2, "{out}");
    let expected = format!(
        "Not taken: the daemon at {url} refuses bizproc.secret (401): it runs with another [bizproc] secret; after changing it, reload the daemon (systemctl reload chat2desk-b24) and run `chat2desk-b24 bizproc install` again so the activity has it too"
    );
    assert!(out.lines().any(|l| l == expected), "{out}");
    assert!(
        !out.contains("another-secret"),
        "the secret is shown: {out}"
    );
    assert_eq!(env.c2d.message_posts().len(), 1);

    // Nothing listening: said so, exit 2.
    daemon.kill9();
    let (code, out) = send_async(&daemon.config, &sent).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with(&format!(
            "Not taken: nothing answers at {url} (connection refused or no route)"
        ))),
        "{out}"
    );
    assert_eq!(env.c2d.message_posts().len(), 1);
}
