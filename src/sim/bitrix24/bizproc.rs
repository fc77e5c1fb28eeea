//! `bizproc.event.send` (`bitrix24-apps.md` §5) and the workflows waiting for it.
//!
//! A real portal checks the token's signature and hands the event to the activity
//! subscribed under it. The simulator keeps a table of waiting activities instead: a token
//! is valid once a workflow "saved" its subscription (the simulator's own workflow run, or
//! the PHP activity test's stand-in runtime through `/_sim/bizproc/wait`). Unknown tokens get
//! 403 `ACCESS_DENIED`; a repeated event for a completed activity gets `true` and changes
//! nothing; scripted failures answer what a workflow not saved yet or locked answers.

use super::state::State;
use super::values::text;
use super::{ApiError, Reply};
use rand::Rng;
use serde_json::{json, Value};

/// An activity waiting for its result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimWorkflow {
    /// The signed token the daemon must send back.
    pub event_token: String,
    /// Workflow instance id.
    pub workflow_id: String,
    /// `document_id` of the workflow.
    pub document_id: Vec<String>,
    /// False while the hit that started it has not saved it: `bizproc.event.send` then
    /// answers "not found" (400, `error` 404).
    pub saved: bool,
    /// `RETURN_VALUES` and `LOG_MESSAGE` of the event that completed it.
    pub completed: Option<Value>,
}

/// One `bizproc.event.send` call the portal received.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimEventSend {
    /// Its parameters.
    pub params: Value,
    /// `completed`, `repeated` (already completed: no effect), `denied` (unknown token) or
    /// `failed <code>` (a scripted failure).
    pub answer: String,
}

/// `bizproc.event.send`.
pub(crate) fn event_send(state: &mut State, params: &Value) -> Result<Reply, ApiError> {
    let token = params.get("EVENT_TOKEN").and_then(text).unwrap_or_default();
    let (answer, outcome) = if let Some(code) = state.event_send_failures.pop_front() {
        let description = if code == "423" {
            "Workflow instance is locked"
        } else {
            "Workflow instance not found"
        };
        (
            format!("failed {code}"),
            Err(ApiError::new(400, &code, description)),
        )
    } else {
        match state.workflows.iter_mut().find(|w| w.event_token == token) {
            None => (
                "denied".to_string(),
                Err(ApiError::new(403, "ACCESS_DENIED", "Access denied!")),
            ),
            Some(w) if !w.saved => (
                "failed 404".into(),
                Err(ApiError::new(400, "404", "Workflow instance not found")),
            ),
            Some(w) if w.completed.is_some() => ("repeated".into(), Ok(Reply::of(json!(true)))),
            Some(w) => {
                w.completed = Some(json!({
                    "RETURN_VALUES": params.get("RETURN_VALUES").cloned().unwrap_or(Value::Null),
                    "LOG_MESSAGE": params.get("LOG_MESSAGE").cloned().unwrap_or(Value::Null),
                }));
                ("completed".into(), Ok(Reply::of(json!(true))))
            }
        }
    };
    state.event_sends.push(SimEventSend {
        params: params.clone(),
        answer,
    });
    outcome
}

/// A token in the shape `CBPRestActivity::generateToken` produces
/// (`<uniqid>|<activity name>|<32 chars>.<64 hex>`); the simulator only compares it.
pub(crate) fn new_token(workflow_id: &str) -> (String, String) {
    let mut rng = rand::thread_rng();
    let hex = |n: usize, rng: &mut rand::rngs::ThreadRng| -> String {
        (0..n)
            .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
            .collect()
    };
    let activity = format!(
        "A{}_{}",
        rng.gen_range(10_000..99_999),
        rng.gen_range(10_000..99_999)
    );
    let event_id: String = (0..32)
        .map(|_| {
            char::from(
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                    [rng.gen_range(0..62)],
            )
        })
        .collect();
    let signature = hex(64, &mut rng);
    (
        format!("{workflow_id}|{activity}|{event_id}.{signature}"),
        activity,
    )
}
