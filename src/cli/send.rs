//! `send`: one message through the business-process path (queue, steps, Chat2Desk), for a
//! sysadmin's first test; prints the result. `send --dry-run` only asks Chat2Desk read-only
//! questions and says what the send would do. `send --via-daemon` (`send_daemon.rs`) goes
//! through the running daemon's listener instead, as the portal's activity does.

use crate::app::build_beside;
use crate::chat2desk::Chat2Desk;
use crate::config::Config;
use crate::engine::{Outcome, Steps};
use crate::flows::bizproc::SendCall;
use crate::flows::bizproc::SendProgress;
use crate::portal::crm::phone::normalize_phone;
use crate::store::{Intake, JobKind, JobState, Store};
use std::time::{Duration, Instant};

/// How long `send` waits for the result.
const WAIT: Duration = Duration::from_secs(120);

/// What to send.
#[derive(Debug, Clone)]
pub struct SendArgs {
    /// Chat2Desk channel id.
    pub channel: i64,
    /// The client's phone.
    pub phone: String,
    /// Text.
    pub text: String,
    /// File links.
    pub files: Vec<String>,
    /// Transport (`whatsapp`, ...), else the client's or the channel's first.
    pub transport: Option<String>,
}

/// Queues the send and runs it here (or waits for the running daemon to); true when the
/// message went out.
pub async fn send(config: Config, args: SendArgs) -> anyhow::Result<bool> {
    something_to_send(&args)?;
    let daemon = build_beside(config).await?;
    let store = daemon.services().store.clone();
    let call = SendCall {
        event_token: None,
        workflow_id: None,
        document_id: Vec::new(),
        document_type: Vec::new(),
        channel_id: args.channel,
        phone: args.phone,
        text: args.text,
        files: args.files,
        transport: args.transport,
        ts: Some(chrono::Utc::now().timestamp()),
    };
    let identity = format!(
        "cli:{}:{:016x}",
        chrono::Utc::now().timestamp_millis(),
        rand::random::<u64>()
    );
    let started = Instant::now();
    let queued = store
        .enqueue_send(&identity, &call.to_value(), Intake::Manual)
        .await?;
    println!(
        "Queued send {} (channel {}, phone {})",
        queued.send_id, call.channel_id, call.phone
    );
    let lease = Duration::from_secs(daemon.config.sync.lease_secs);
    let mut shown_error: Option<String> = None;
    loop {
        if let Some(job) = store
            .claim_one(JobKind::SEND, queued.send_id, lease)
            .await?
        {
            daemon.worker.run_job(job).await;
        }
        if let Some(sent) = settled(&store, queued.send_id, started, &mut shown_error).await? {
            return Ok(sent);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prints what send job `send_id` came to once it is finished (`Some(true)`: sent), or
/// `None` while it waits (each new error once); gives up after [`WAIT`] from `started`.
pub(super) async fn settled(
    store: &Store,
    send_id: i64,
    started: Instant,
    shown_error: &mut Option<String>,
) -> anyhow::Result<Option<bool>> {
    let job = store
        .job(JobKind::SEND, send_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("send {send_id} vanished from the queue"))?;
    match job.state {
        JobState::Done => {
            let progress = SendProgress::of(&job);
            let ms = started.elapsed().as_millis();
            if let Some(error) = &progress.report_error {
                println!(
                    "The portal refused the result (bizproc.event.send: {error}); expected for `send --via-daemon`, whose event_token no workflow waits for"
                );
            }
            Ok(Some(match progress.outcome {
                Some(Outcome::Sent { message_id }) => {
                    println!(
                        "Sent: Chat2Desk message {message_id} to client {} in {ms} ms",
                        progress.client_id.unwrap_or(0)
                    );
                    true
                }
                Some(Outcome::Refused { error }) => {
                    println!("Not sent: {error}");
                    false
                }
                None => false,
            }))
        }
        JobState::Dead => {
            println!(
                "Not sent: {} (see `chat2desk-b24 status`)",
                job.last_error.unwrap_or_default()
            );
            Ok(Some(false))
        }
        JobState::Pending | JobState::Running => {
            if started.elapsed() > WAIT {
                println!(
                    "No result within {} s; the send stays queued (last error: {}). `chat2desk-b24 status` shows it.",
                    WAIT.as_secs(),
                    job.last_error.as_deref().unwrap_or("none")
                );
                return Ok(Some(false));
            }
            if job.last_error.is_some() && job.last_error != *shown_error {
                println!(
                    "Retrying after: {}",
                    job.last_error.as_deref().unwrap_or("")
                );
                shown_error.clone_from(&job.last_error);
            }
            Ok(None)
        }
    }
}

/// `send --dry-run`: what a send would do, asking Chat2Desk only read-only questions (the
/// channel, the client with this phone, whether the company may write first); nothing is
/// queued, created or sent. True when the send would go out.
pub async fn dry_run(c2d: &Chat2Desk, args: &SendArgs) -> anyhow::Result<bool> {
    something_to_send(args)?;
    let channels = c2d
        .channels()
        .await
        .map_err(|e| call_failed("GET /v1/channels", e))?;
    let Some(channel) = channels.iter().find(|c| c.id == args.channel) else {
        println!(
            "Would not send: Chat2Desk channel {} does not exist; `chat2desk-b24 channels` lists them",
            args.channel
        );
        return Ok(false);
    };
    let name = channel.name.as_deref().unwrap_or("unnamed");
    let Some(phone) = normalize_phone(&args.phone) else {
        println!(
            "Would not send: {:?} is not a phone number; give it in international format, e.g. +79161234567",
            args.phone
        );
        return Ok(false);
    };
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let clients = c2d
        .clients_by_phone(&digits)
        .await
        .map_err(|e| call_failed("GET /v1/clients?phone=", e))?;
    if let Some(client) = clients.first() {
        println!(
            "Would send to Chat2Desk client {} through channel {} ({name}); dry run, nothing was sent",
            client.id, channel.id
        );
        return Ok(true);
    }
    let info = c2d
        .api_info()
        .await
        .map_err(|e| call_failed("GET /v1/companies/api_info", e))?;
    if info.write_first_option == Some(false) {
        println!(
            "Would not send: no Chat2Desk client has the phone {phone}, and the company may not write first (companies/api_info: write_first_option = false)"
        );
        return Ok(false);
    }
    println!(
        "Would create a Chat2Desk client for {phone} (writing first, counted against [bizproc] write_first_daily_limit) and send through channel {} ({name}); dry run, nothing was sent",
        channel.id
    );
    Ok(true)
}

/// Refuses a send with neither text nor files.
pub(super) fn something_to_send(args: &SendArgs) -> anyhow::Result<()> {
    if args.text.trim().is_empty() && args.files.is_empty() {
        anyhow::bail!("--text is empty and no --file given: nothing to send");
    }
    Ok(())
}

/// A failed read-only Chat2Desk call of the dry run, named with what to do.
fn call_failed(call: &str, e: crate::chat2desk::Chat2DeskError) -> anyhow::Error {
    anyhow::anyhow!("{call} failed: {e}; {}", e.hint())
}
