//! The business-process action's shared setup: the daemon with `[bizproc] secret`, a
//! workflow run on the portal sim, and what the portal saw of it.

use super::Env;
use chat2desk_b24::config::{Config, Integration, PollStrategy, Secret};
use chat2desk_b24::sim::bitrix24::SimWorkflow;
use serde_json::Value;
use std::time::{Duration, Instant};

pub const SECRET: &str = "bizproc-secret-0123456789";

/// The daemon in-process (through the one seam) and where its action is.
pub struct Running {
    pub url: String,
    pub db: std::path::PathBuf,
    daemon: chat2desk_b24::app::Running,
}

impl Running {
    pub async fn start(env: &Env, tweak: impl FnOnce(&mut Config)) -> Running {
        let mut config = env.config(Integration::Lead);
        config.server.listen = "127.0.0.1:0".into();
        config.bizproc.secret = Secret::new(SECRET);
        config.sync.poll_strategy = PollStrategy::Off;
        config.chat2desk.timeout_secs = 2;
        tweak(&mut config);
        let db = config.database.path.clone();
        let daemon = super::spawn(config).await;
        let url = format!("http://{}", daemon.webhook_addr().expect("listener"));
        Running { url, db, daemon }
    }

    pub async fn stop(self) {
        self.daemon.stop().await;
    }
}

pub fn lead_doc(lead: i64) -> Vec<String> {
    vec![
        "crm".into(),
        "CCrmDocumentLead".into(),
        format!("LEAD_{lead}"),
    ]
}

pub async fn run(
    env: &Env,
    url: &str,
    doc: &[String],
    phone: &str,
    text: &str,
    files: &[&str],
) -> SimWorkflow {
    let doc: Vec<&str> = doc.iter().map(String::as_str).collect();
    let channel = env.s.channel.to_string();
    let (workflow, status, body) = env
        .portal
        .run_workflow(
            url,
            SECRET,
            &doc,
            &[("channel_id", &channel), ("phone", phone), ("text", text)],
            files,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["accepted"], true);
    assert!(answer["job"].as_i64().is_some_and(|j| j > 0), "{body}");
    workflow
}

/// Waits until the portal saw the workflow completed; its RETURN_VALUES.
pub async fn completed(env: &Env, token: &str) -> Value {
    let start = Instant::now();
    loop {
        let done = env
            .portal
            .workflows()
            .into_iter()
            .find(|w| w.event_token == token)
            .and_then(|w| w.completed);
        if let Some(done) = done {
            return done["RETURN_VALUES"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "workflow not completed; event sends: {:?}",
            env.portal.event_sends()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn completions(env: &Env, token: &str) -> usize {
    env.portal
        .event_sends()
        .iter()
        .filter(|e| e.params["EVENT_TOKEN"] == token && e.answer == "completed")
        .count()
}

pub fn event_sends_for(env: &Env, token: &str) -> Vec<String> {
    env.portal
        .event_sends()
        .into_iter()
        .filter(|e| e.params["EVENT_TOKEN"] == token)
        .map(|e| e.answer)
        .collect()
}
