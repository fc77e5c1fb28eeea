//! The simulator service: shared state, the `SimService` entry point and webhook delivery.

use super::state::{Event, State};
use crate::sim::http::{SimRequest, SimResponse, SimService};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Delivery attempts after the first one (doc §3: ~10 s, ~5 min, ~2 h; unsure in numbers).
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_secs(10),
    Duration::from_secs(300),
    Duration::from_secs(7200),
];

pub(super) struct Service {
    state: Mutex<State>,
    deliveries: Arc<Mutex<Vec<(String, u16)>>>,
    runtime: tokio::runtime::Handle,
    http: reqwest::Client,
}

impl Service {
    pub fn new(token: String) -> Self {
        Self {
            state: Mutex::new(State::new(token)),
            deliveries: Arc::new(Mutex::new(Vec::new())),
            runtime: tokio::runtime::Handle::current(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("chat2desk sim state lock")
    }

    pub fn deliveries(&self) -> Vec<(String, u16)> {
        self.deliveries.lock().expect("deliveries lock").clone()
    }

    /// Runs a state change that may cause webhook events, then delivers them.
    pub fn with_events<T>(&self, change: impl FnOnce(&mut State) -> (T, Vec<Event>)) -> T {
        let (out, targets, scale) = {
            let mut state = self.state();
            let (out, events) = change(&mut state);
            let targets = state.deliveries_for(&events);
            (out, targets, state.webhook_retry_scale)
        };
        for (url, body) in targets {
            self.runtime.spawn(deliver(
                self.http.clone(),
                self.deliveries.clone(),
                url,
                body,
                scale,
            ));
        }
        out
    }
}

/// POSTs one event, retrying failures on the documented schedule scaled by `scale`.
async fn deliver(
    http: reqwest::Client,
    log: Arc<Mutex<Vec<(String, u16)>>>,
    url: String,
    body: Value,
    scale: f64,
) {
    let mut delays = RETRY_DELAYS.iter();
    loop {
        let status = match http.post(&url).json(&body).send().await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        log.lock()
            .expect("deliveries lock")
            .push((url.clone(), status));
        if (200..300).contains(&status) {
            return;
        }
        // The doc says the hook is disabled after 5 hours of failures; the simulator just
        // stops after the last retry.
        let Some(delay) = delays.next() else { return };
        tokio::time::sleep(delay.mul_f64(scale.max(0.0))).await;
    }
}

impl SimService for Service {
    fn handle(&self, req: SimRequest) -> SimResponse {
        if req.path.starts_with("/_sim/") {
            return self.control(&req);
        }
        let limited = self.state().bucket.as_mut().is_some_and(|b| !b.take());
        if limited {
            return self.rate_limited();
        }
        if let Some(denied) = self.check_token(&req) {
            return denied;
        }
        self.api(&req)
    }

    fn rate_limited(&self) -> SimResponse {
        let status = self.state().rate_limit_status;
        error(status, "Number of API requests exceeded")
    }

    fn server_error(&self) -> SimResponse {
        error(500, "Internal server error")
    }
}

impl Service {
    /// The doc's auth texts; the HTTP status is undocumented (knob, default 401).
    fn check_token(&self, req: &SimRequest) -> Option<SimResponse> {
        let state = self.state();
        match req.header("authorization").map(str::trim) {
            Some(t) if t == state.token => None,
            None | Some("") => Some(error(
                state.auth_status,
                "You have to specify your token. See API manual on info@chat2desk.com",
            )),
            Some(_) => Some(error(state.auth_status, "You need to auth")),
        }
    }
}

/// The error envelope.
pub(super) fn error(status: u16, message: &str) -> SimResponse {
    SimResponse::json(status, &json!({"status": "error", "message": message}))
}

/// The error envelope with field errors.
pub(super) fn field_error(status: u16, message: &str, field: &str, text: &str) -> SimResponse {
    SimResponse::json(
        status,
        &json!({"status": "error", "message": message, "errors": {field: [text]}}),
    )
}

/// The success envelope.
pub(super) fn success(data: Value) -> SimResponse {
    SimResponse::json(200, &json!({"status": "success", "data": data}))
}

/// The success envelope of a list, with `meta`.
pub(super) fn list(items: Vec<Value>, total: usize, limit: usize, offset: usize) -> SimResponse {
    SimResponse::json(
        200,
        &json!({"status": "success", "data": items,
            "meta": {"total": total, "limit": limit, "offset": offset}}),
    )
}

/// `404 Page not found`, the doc's text for unknown routes and objects.
pub(super) fn not_found() -> SimResponse {
    error(404, "Page not found")
}
