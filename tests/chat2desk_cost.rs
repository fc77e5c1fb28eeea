//! What Chat2Desk's billed API costs per synced request, and that saving calls changes no
//! transcript: one call per request (its message list, the completeness check and the fetch
//! at once), clients and operators cached; a message no poll or webhook brought still lands
//! in the transcript; `status` prints the month's calls and the projection.

mod common;

use chat2desk_b24::config::Integration;
use chat2desk_b24::sim::scenario;
use common::{command, output, run_command, Env};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

/// Polls once, syncs everything and returns the closed requests with the Chat2Desk calls
/// the worker made.
async fn sync(env: &Env) -> (Vec<i64>, u64) {
    let d = env.daemon(env.config(Integration::Lead)).await;
    let closed = scenario::converse(&env.c2d, &env.s);
    d.poller.poll_once().await.expect("poll");
    let before = env.c2d.api_calls();
    d.worker.run_until_idle().await;
    let calls = env.c2d.api_calls() - before;
    let counts = d.services().store.counts().await.unwrap();
    assert_eq!((counts.done, counts.dead), (closed.len() as u64, 0));
    (closed, calls)
}

/// The comment texts by request, with the digits of the bold headings (dates and times)
/// blanked: the two companies are seeded a moment apart, so a minute may turn between them.
fn transcripts(env: &Env, requests: &[i64]) -> BTreeMap<i64, Vec<String>> {
    requests
        .iter()
        .map(|r| {
            (
                *r,
                env.comments_for(*r).iter().map(|t| undated(t)).collect(),
            )
        })
        .collect()
}

/// `text` with every digit between `[b]` and `[/b]` replaced by `#`.
fn undated(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split("[b]").enumerate() {
        if i > 0 {
            out.push_str("[b]");
        }
        match part.split_once("[/b]") {
            Some((bold, rest)) if i > 0 => {
                out.extend(
                    bold.chars()
                        .map(|c| if c.is_ascii_digit() { '#' } else { c }),
                );
                out.push_str("[/b]");
                out.push_str(rest);
            }
            _ => out.push_str(part),
        }
    }
    out
}

#[tokio::test]
async fn one_call_per_request_gives_the_transcript_of_a_full_fetch() {
    // The same company twice: once as Chat2Desk usually answers, once without
    // `GET /requests/{id}/messages`, so the daemon reads the request (`GET /requests/{id}`)
    // and its dialog's messages: everything from scratch.
    let cheap = Env::new().await;
    let full = Env::new().await;
    full.c2d.set_request_endpoints(true, false);

    let (closed, cheap_calls) = sync(&cheap).await;
    let (closed_full, full_calls) = sync(&full).await;
    assert_eq!(
        closed, closed_full,
        "both companies close the same requests"
    );

    let a = transcripts(&cheap, &closed);
    let b = transcripts(&full, &closed);
    assert!(a.values().all(|t| t.len() == 1), "{a:#?}");
    assert_eq!(a, b, "a transcript built from fewer calls reads the same");

    // Per request one message list, plus one read per client and one of the operators.
    let clients = closed.len() as u64; // the scenario's requests are one per client
    assert!(
        cheap_calls <= closed.len() as u64 + clients + 1,
        "{cheap_calls} Chat2Desk calls for {} requests",
        closed.len()
    );
    assert!(
        cheap_calls < full_calls,
        "fewer calls than the full fetch: {cheap_calls} vs {full_calls}"
    );
}

#[tokio::test]
async fn a_repeat_client_costs_one_call_and_a_message_no_poll_saw_is_in_the_transcript() {
    let env = Env::new().await;
    let d = env.daemon(env.config(Integration::Lead)).await;
    let client = env.s.client_existing;

    // First request: the client is read once and kept.
    env.c2d.client_says(client, "Первый вопрос");
    let first = env.c2d.close_request(client);
    d.poller.poll_once().await.expect("poll");
    d.worker.run_until_idle().await;
    assert_eq!(env.comments_for(first).len(), 1);

    // Second request: the poll reads the client's first message; the operator's answer comes
    // after it, so neither that poll nor a webhook delivered it.
    env.c2d.client_says(client, "Второй вопрос");
    d.poller.poll_once().await.expect("poll");
    env.c2d
        .operator_says(client, env.s.op_ivan, "Ответ, которого опрос не видел");
    let second = env.c2d.close_request(client);
    d.poller.poll_once().await.expect("poll");
    let before = env.c2d.api_calls();
    d.worker.run_until_idle().await;
    let calls = env.c2d.api_calls() - before;

    let text = env.comments_for(second);
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(text[0].contains("Второй вопрос"), "{}", text[0]);
    assert!(
        text[0].contains("Ответ, которого опрос не видел"),
        "the message the poll missed is fetched: {}",
        text[0]
    );
    assert!(!text[0].contains("Первый вопрос"), "{}", text[0]);
    assert_eq!(calls, 1, "only the request's message list is read");
}

#[tokio::test]
async fn status_prints_the_months_chat2desk_calls_and_projection() {
    let env = Env::new().await;
    let config = env.write_config("lead", "");
    let mut child = run_command(&config)
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    // The first poll and the hourly api_info read make calls; wait until they are made.
    let start = std::time::Instant::now();
    while env.c2d.api_calls() < 3 {
        assert!(start.elapsed() < Duration::from_secs(30), "no calls made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SIGTERM: the daemon adds its calls to the month's count on the way out.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    let made = env.c2d.api_calls();

    let (out, text) = output(command(&config, &["status"]));
    assert!(out.status.success(), "{text}");
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with("Chat2Desk calls this month"))
        .unwrap_or_else(|| panic!("no calls line: {text}"));
    assert!(line.contains(&format!("({month})")), "{line}");
    assert!(
        line.contains(&format!("{made} made by chat2desk-b24")),
        "every call the simulator answered is counted ({made}): {line}"
    );
    assert!(
        line.contains("by Chat2Desk's count (companies/api_info"),
        "{line}"
    );
    let projection: u64 = line
        .rsplit("projected for the month: ")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(projection >= made, "{line}");
}
