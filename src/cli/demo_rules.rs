//! The rules' part of `demo`: a request a `[crm.filter]` rule keeps out (a client tagged
//! «Спам»), a lead field set from a tag (`[[crm.tag_rules]]`: «VIP» → `SOURCE_ID =
//! PARTNER`), and an escalation (a client nobody answers, `after_minutes` = 3 s).

use crate::config::{Config, EscalationConfig, Notify, TagRef, TagRule};
use crate::flows::transcript::intake::Poller;
use crate::sim::bitrix24::PortalSim;
use crate::sim::chat2desk::Chat2DeskSim;
use crate::store::{JobKind, JobState, Store};
use std::time::{Duration, Instant};

/// How long the demo waits for a job or a notice.
const PATIENCE: Duration = Duration::from_secs(20);
/// The demo's escalation wait: 3 seconds (a fraction of a minute, which the key allows).
const AFTER_MINUTES: f64 = 0.05;

/// The tags [`prepare`] added.
pub(super) struct DemoRules {
    spam: i64,
    vip: i64,
    channel: i64,
}

/// Adds the tags «Спам» and «VIP» to Chat2Desk and the rules naming them, and
/// `[escalation]`, to `config`; `channel` is where the demo's clients write.
pub(super) fn prepare(c2d: &Chat2DeskSim, config: &mut Config, channel: i64) -> DemoRules {
    let spam = c2d.add_tag("Спам");
    let vip = c2d.add_tag("VIP");
    config.crm.filter.skip_tags = vec![TagRef::Label("Спам".into())];
    config.crm.tag_rules = vec![TagRule {
        tag: TagRef::Label("VIP".into()),
        set: [("SOURCE_ID".to_string(), "PARTNER".to_string())].into(),
    }];
    config.escalation = Some(EscalationConfig {
        after_minutes: AFTER_MINUTES,
        notify: Notify::Word("responsible".into()),
        working_hours: String::new(),
    });
    DemoRules { spam, vip, channel }
}

/// Runs the three cases with the worker running; `poller` brings the messages in.
pub(super) async fn run(
    rules: &DemoRules,
    c2d: &Chat2DeskSim,
    portal: &PortalSim,
    poller: &Poller,
    store: &Store,
) -> anyhow::Result<()> {
    println!("\n════ Rules ════");
    let spammer = c2d.add_client("Рассылка", Some("79005550101"), "whatsapp", rules.channel);
    c2d.tag_client(spammer, rules.spam);
    c2d.client_says(spammer, "Выгодное предложение!");
    let request = c2d.close_request(spammer);
    poller.poll_once().await?;
    let job = finished(store, JobKind::TRANSCRIPT, request).await?;
    println!(
        "Request {request} of a client tagged «Спам»: skipped, nothing written ({})",
        job.steps["skipped"].as_str().unwrap_or_default()
    );

    let vip = c2d.add_client(
        "Важный клиент",
        Some("79005550102"),
        "whatsapp",
        rules.channel,
    );
    c2d.tag_client(vip, rules.vip);
    c2d.client_says(vip, "Хочу заказать");
    let request = c2d.close_request(vip);
    poller.poll_once().await?;
    finished(store, JobKind::TRANSCRIPT, request).await?;
    let phone = "79005550102";
    let lead = portal
        .leads()
        .into_iter()
        .find(|l| l.to_string().contains(phone));
    let shown = |name: &str| {
        let value = lead.as_ref().and_then(|l| l.get(name));
        value.map_or_else(String::new, |v| {
            v.as_str().map_or(v.to_string(), str::to_string)
        })
    };
    println!(
        "Request {request} of a client tagged «VIP»: lead #{} with SOURCE_ID {} (from [[crm.tag_rules]])",
        shown("ID"),
        shown("SOURCE_ID")
    );

    let waiting = c2d.add_client(
        "Ждущий клиент",
        Some("79005550103"),
        "whatsapp",
        rules.channel,
    );
    let before = portal.notifications().len();
    c2d.client_says(waiting, "Здравствуйте, ответьте, пожалуйста");
    let written = Instant::now();
    poller.poll_once().await?;
    let notice = loop {
        let notices = portal.notifications();
        if let Some((user, text)) = notices
            .into_iter()
            .skip(before)
            .find(|(_, t)| t.contains("Ждущий клиент"))
        {
            break Some((user, text));
        }
        if written.elapsed() > PATIENCE {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    match notice {
        Some((user, text)) => println!(
            "Escalation after {:.1} s (after_minutes = {AFTER_MINUTES}): to user {user}:\n{text}",
            written.elapsed().as_secs_f64()
        ),
        None => println!("Escalation: no notice within {} s", PATIENCE.as_secs()),
    }
    Ok(())
}

/// Waits for job (`kind`, `key`) to finish; the job.
async fn finished(store: &Store, kind: JobKind, key: i64) -> anyhow::Result<crate::store::Job> {
    let start = Instant::now();
    loop {
        if let Some(job) = store.job(kind.clone(), key).await? {
            if matches!(job.state, JobState::Done | JobState::Dead) {
                return Ok(job);
            }
        }
        if start.elapsed() > PATIENCE {
            anyhow::bail!(
                "{kind} {key} did not finish within {} s",
                PATIENCE.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
