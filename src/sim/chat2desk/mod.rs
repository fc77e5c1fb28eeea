//! A Chat2Desk API v1 simulator on loopback, faithful to `chat2desk-api.md`: the documented
//! envelopes, paging, error texts and webhooks, with knobs for what the doc is unsure about
//! (time formats, auth and rate-limit statuses, bare request-message arrays).
//!
//! The message methods (`client_says`, `operator_says`, `bot_says`, `system_note`,
//! `send_file`) panic on a client id the simulator never issued: that is a bug in the test.

mod control;
mod outbound;
mod params;
mod render;
mod routes;
mod service;
mod state;
mod tags;
mod templates;

pub use render::TimeFormat;

use super::faults::Faults;
use super::http::SimServer;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use service::Service;
use state::Bucket;
use std::net::SocketAddr;
use std::sync::Arc;

/// A running simulator. Cheap to clone; all clones drive the same company.
#[derive(Clone)]
pub struct Chat2DeskSim {
    inner: Arc<Inner>,
}

struct Inner {
    server: SimServer,
    service: Arc<Service>,
    faults: Arc<Faults>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.server.stop();
    }
}

impl std::fmt::Debug for Chat2DeskSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat2DeskSim")
            .field("url", &self.url())
            .finish()
    }
}

impl Chat2DeskSim {
    /// Starts on `127.0.0.1:0`.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        Self::start_with_token(addr, &format!("sim-{:016x}", rand::random::<u64>())).await
    }

    /// Starts on `addr`, accepting only `token` (tests that look for the token in output need
    /// a distinctive one).
    pub async fn start_with_token(addr: SocketAddr, token: &str) -> std::io::Result<Self> {
        let token = token.to_string();
        let service = Arc::new(Service::new(token));
        let faults = Arc::new(Faults::default());
        let server = SimServer::start(addr, service.clone(), faults.clone()).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                server,
                service,
                faults,
            }),
        })
    }

    fn svc(&self) -> &Service {
        &self.inner.service
    }

    /// `http://127.0.0.1:<port>`: the client's `api_url` (routes are under `/v1/`).
    pub fn url(&self) -> String {
        self.inner.server.base_url()
    }

    /// The accepted token; any other gets the auth error.
    pub fn token(&self) -> String {
        self.svc().state().token.clone()
    }

    /// The fault plan.
    pub fn faults(&self) -> Arc<Faults> {
        self.inner.faults.clone()
    }

    /// HTTP requests received (faulted ones and `/_sim/` included).
    pub fn api_calls(&self) -> u64 {
        self.inner.server.requests()
    }

    /// What `api_info.domain_urls` returns (default `https://web.chat2desk.com`).
    pub fn set_web_domain(&self, url: &str) {
        self.svc().state().web_domain = url.to_string();
    }

    /// Prints every time in `format` (default: `"… UTC"` for messages and dialogs, unix
    /// seconds for request messages); `None` restores the defaults.
    pub fn set_time_format(&self, format: Option<TimeFormat>) {
        self.svc().state().time_format = format;
    }

    /// The zone of the zone-less formats [`TimeFormat::Dotted`] and [`TimeFormat::Naive`].
    pub fn set_naive_timezone(&self, zone: Tz) {
        self.svc().state().naive_zone = zone;
    }

    /// `GET /v1/requests/{id}/messages` answers a bare array without paging (as DG parses
    /// it) instead of the paged envelope.
    pub fn set_bare_request_messages(&self, bare: bool) {
        self.svc().state().bare_request_messages = bare;
    }

    /// Whether `GET /v1/requests/{id}` and `GET /v1/requests/{id}/messages` exist (both are
    /// thinly documented; a 404 from either must not lose the request).
    pub fn set_request_endpoints(&self, request: bool, messages: bool) {
        let mut s = self.svc().state();
        s.request_endpoint = request;
        s.request_messages_endpoint = messages;
    }

    /// HTTP status of the auth error (undocumented; default 401).
    pub fn set_auth_status(&self, status: u16) {
        self.svc().state().auth_status = status;
    }

    /// HTTP status of the rate-limit error (undocumented; default 429, 200 also plausible).
    pub fn set_rate_limit_status(&self, status: u16) {
        self.svc().state().rate_limit_status = status;
    }

    /// Answers the rate-limit error beyond `rps` requests per second with bursts of
    /// `burst`; `rps <= 0` turns it off.
    pub fn set_rate_limit(&self, rps: f64, burst: u32) {
        self.svc().state().bucket = (rps > 0.0).then(|| Bucket {
            rate: rps,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            updated: std::time::Instant::now(),
        });
    }

    /// Scales the webhook retry delays (10 s, 5 min, 2 h); e.g. `0.001` for tests.
    pub fn set_webhook_retry_scale(&self, scale: f64) {
        self.svc().state().webhook_retry_scale = scale;
    }

    /// `api_info.write_first_option` (default true): when false, `POST /messages` to a
    /// client who never wrote is refused.
    pub fn set_write_first(&self, enabled: bool) {
        self.svc().state().write_first = enabled;
    }

    /// The next `POST /messages` calls are refused (400) with these texts, in order.
    pub fn refuse_messages(&self, texts: &[&str]) {
        self.svc()
            .state()
            .message_refusals
            .extend(texts.iter().map(|t| t.to_string()));
    }

    /// Holds every successful `POST /messages` answer back this long after the message
    /// exists (a crash test kills the daemon in that window).
    pub fn hold_message_answers(&self, hold: std::time::Duration) {
        self.svc().state().message_answer_hold = hold;
    }

    /// The parameters of every `POST /v1/messages` received (refused ones included), in
    /// order.
    pub fn message_posts(&self) -> Vec<serde_json::Value> {
        self.writes("/messages")
    }

    /// The parameters of every `POST /v1/clients` received, in order.
    pub fn client_posts(&self) -> Vec<serde_json::Value> {
        self.writes("/clients")
    }

    fn writes(&self, path: &str) -> Vec<serde_json::Value> {
        self.svc()
            .state()
            .writes
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The client with this phone (digits compared), if any.
    pub fn client_by_phone(&self, phone: &str) -> Option<i64> {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        self.svc()
            .state()
            .clients
            .values()
            .find(|c| c.phone == digits)
            .map(|c| c.id)
    }

    /// Every webhook delivery attempt so far: `(url, HTTP status or 0)`.
    pub fn webhook_deliveries(&self) -> Vec<(String, u16)> {
        self.svc().deliveries()
    }

    /// Adds an operator; returns its id.
    pub fn add_operator(&self, first: &str, last: &str, email: &str) -> i64 {
        self.svc().state().add_operator(first, last, email)
    }

    /// Adds a channel; returns its id.
    pub fn add_channel(&self, name: &str, phone: &str, transports: &[&str]) -> i64 {
        self.svc().state().add_channel(name, phone, transports)
    }

    /// Adds a client; `phone: None` gives a synthetic `"[te] 8…"`-style phone.
    pub fn add_client(
        &self,
        name: &str,
        phone: Option<&str>,
        transport: &str,
        channel_id: i64,
    ) -> i64 {
        self.svc()
            .state()
            .add_client(name, phone, transport, channel_id)
    }

    /// Sets a client's `client_phone` (the real number of a client whose `phone` is a
    /// messenger id, such as a Telegram client who shared their number).
    pub fn set_client_phone(&self, client_id: i64, phone: &str) {
        if let Some(c) = self.svc().state().clients.get_mut(&client_id) {
            c.client_phone = Some(phone.to_string());
        }
    }

    fn post(
        &self,
        client_id: i64,
        kind: &'static str,
        text: Option<&str>,
        operator_id: Option<i64>,
        media: Option<(&'static str, String)>,
        attachments: Vec<(String, String)>,
    ) -> i64 {
        self.svc().with_events(|s| {
            s.post(client_id, kind, text, operator_id, media, attachments)
                .unwrap_or_else(|| panic!("simulator: unknown client {client_id}"))
        })
    }

    /// The client writes; opens the dialog and a request when none is open. Message id.
    pub fn client_says(&self, client_id: i64, text: &str) -> i64 {
        self.post(client_id, "from_client", Some(text), None, None, Vec::new())
    }

    /// An operator answers and gets the dialog assigned. Message id.
    pub fn operator_says(&self, client_id: i64, operator_id: i64, text: &str) -> i64 {
        self.post(
            client_id,
            "to_client",
            Some(text),
            Some(operator_id),
            None,
            Vec::new(),
        )
    }

    /// An auto-reply (`type: autoreply`). Message id.
    pub fn bot_says(&self, client_id: i64, text: &str) -> i64 {
        self.post(client_id, "autoreply", Some(text), None, None, Vec::new())
    }

    /// A system note (`type: system`). Message id.
    pub fn system_note(&self, client_id: i64, text: &str) -> i64 {
        self.post(client_id, "system", Some(text), None, None, Vec::new())
    }

    /// A file from the client (`from_operator: None`) or an operator. `kind` is the wire
    /// field: `photo`, `video`, `audio`, `pdf` (URL only, the name is lost as in the real
    /// API) or `attachment` (`attachments: [{name, link}]`). Message id.
    pub fn send_file(
        &self,
        client_id: i64,
        from_operator: Option<i64>,
        kind: &str,
        name: &str,
        url: &str,
    ) -> i64 {
        let media = match kind {
            "photo" => Some(("photo", url.to_string())),
            "video" => Some(("video", url.to_string())),
            "audio" => Some(("audio", url.to_string())),
            "pdf" => Some(("pdf", url.to_string())),
            _ => None,
        };
        let attachments = if media.is_none() {
            vec![(name.to_string(), url.to_string())]
        } else {
            Vec::new()
        };
        let direction = if from_operator.is_some() {
            "to_client"
        } else {
            "from_client"
        };
        self.post(
            client_id,
            direction,
            None,
            from_operator,
            media,
            attachments,
        )
    }

    /// Sets a message's `created` time (for time-zone tests).
    pub fn set_message_time(&self, message_id: i64, t: DateTime<Utc>) {
        if let Some(m) = self.svc().state().messages.get_mut(&message_id) {
            m.created = t;
        }
    }

    /// Closes the client's open request and its dialog (state closed, end time) and fires
    /// `close_request` and `close_dialog` webhooks. Returns the request id (the latest one
    /// when none was open, 0 when the client never wrote).
    pub fn close_request(&self, client_id: i64) -> i64 {
        self.svc().with_events(|s| s.close_request(client_id))
    }

    /// The client's open request.
    pub fn open_request_id(&self, client_id: i64) -> Option<i64> {
        self.svc().state().open_request_id(client_id)
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.inner.server.stop();
    }
}
