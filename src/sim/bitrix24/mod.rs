//! A boxed Bitrix24 portal's REST API behind an inbound webhook (`bitrix24-rest.md`), on the
//! shared fault-injecting [`SimServer`].
//!
//! Routes `/rest/<user>/<secret>/<method>[.json][/]`, GET and POST; JSON bodies only with
//! `Content-Type: application/json` (invalid JSON = no parameters), PHP-bracket form and
//! query parameters otherwise, body over query.

mod apps;
mod batch;
mod bizproc;
mod connector;
mod crm;
mod dialog;
mod fields;
mod listing;
mod oauth;
mod people;
mod placement;
mod state;
mod token_endpoint;
mod values;

pub use bizproc::{SimEventSend, SimWorkflow};
pub use connector::LineMessage;
pub use placement::TabForm;
pub use state::SimComment;

use super::faults::Faults;
use super::http::{SimRequest, SimResponse, SimServer, SimService};
use crate::portal::query;
use rand::Rng;
use serde_json::{json, Map, Value};
use state::{Bucket, State};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A method's success: `result`, plus `total`/`next` for lists.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) result: Value,
    pub(crate) total: Option<u64>,
    pub(crate) next: Option<u64>,
}

impl Reply {
    /// A plain result.
    pub(crate) fn of(result: Value) -> Self {
        Self {
            result,
            total: None,
            next: None,
        }
    }
}

/// A method's error envelope and HTTP status.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) description: String,
}

impl ApiError {
    /// An error with its status, code and text.
    pub(crate) fn new(status: u16, code: &str, description: &str) -> Self {
        Self {
            status,
            code: code.into(),
            description: description.into(),
        }
    }

    fn response(&self) -> SimResponse {
        // Newer boxes answer some codes as integers (`"error": 404`, bitrix24-apps.md §5).
        let code = match self.code.parse::<i64>() {
            Ok(number) => json!(number),
            Err(_) => json!(self.code),
        };
        SimResponse::json(
            self.status,
            &json!({"error": code, "error_description": self.description}),
        )
    }
}

/// Methods the simulated portal knows, with the scope each needs (`None`: never checked).
fn scope_of(method: &str) -> Option<Option<&'static str>> {
    let scope = match method {
        "profile" | "scope" | "methods" | "batch" | "app.info" => None,
        "user.get" | "user.current" => Some("user"),
        "im.notify.system.add" | "im.notify.personal.add" | "im.dialog.messages.get" => Some("im"),
        "bizproc.event.send" => Some("bizproc"),
        "crm.status.list"
        | "crm.duplicate.findbycomm"
        | "crm.timeline.comment.add"
        | "crm.timeline.comment.list" => Some("crm"),
        m if m.starts_with("event.") || m.starts_with("placement.") || m == "events" => None,
        m if m.starts_with("imconnector.") => None,
        m => {
            crm::Kind::from_method(m)?;
            match m.rsplit('.').next()? {
                "add" | "get" | "list" | "update" | "fields" => Some("crm"),
                _ => return None,
            }
        }
    };
    Some(scope)
}

/// Runs one known method after the scope check (used directly and by `batch`).
pub(crate) fn execute(state: &mut State, method: &str, params: &Value) -> Result<Reply, ApiError> {
    let Some(scope) = scope_of(method) else {
        return Err(not_found(method));
    };
    *state.calls.entry(method.to_string()).or_default() += 1;
    if let Some(scope) = scope {
        let granted = state
            .scopes
            .iter()
            .any(|s| s == scope || (scope == "user" && (s == "user_basic" || s == "user_brief")));
        if !granted {
            return Err(ApiError::new(
                state.auth_status,
                "insufficient_scope",
                "The request requires higher privileges than provided by the webhook token",
            ));
        }
    }
    match method {
        "profile" => people::profile(state),
        "scope" => {
            let full = params.get("full").is_some_and(values::truthy);
            let scopes: Vec<String> = if full {
                state::DEFAULT_SCOPES
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                state.scopes.clone()
            };
            Ok(Reply::of(json!(scopes)))
        }
        "methods" => Ok(Reply::of(json!(METHODS))),
        "app.info" => Ok(Reply::of(oauth::app_info(state))),
        "batch" => batch::run(state, params, &[]),
        "user.get" => people::user_get(state, params),
        "user.current" => people::current(state),
        "im.notify.system.add" | "im.notify.personal.add" => people::notify(state, params),
        "im.dialog.messages.get" => dialog::messages_get(state, params),
        "crm.status.list" => crm::status_list(state, params),
        "crm.duplicate.findbycomm" => crm::find_by_comm(state, params),
        "crm.timeline.comment.add" => people::comment_add(state, params),
        "crm.timeline.comment.list" => people::comment_list(state, params),
        "bizproc.event.send" => bizproc::event_send(state, params),
        m if m.starts_with("imconnector.") => connector::imconnector(state, m, params),
        m if m.starts_with("event.offline.") => {
            let admin = oauth::is_admin(state, state.caller);
            connector::offline(state, m, params, admin)
        }
        m if m.starts_with("event.") || m == "events" => {
            let admin = oauth::is_admin(state, state.caller);
            connector::events(state, m, params, admin)
        }
        m if m.starts_with("placement.") => placement::call(state, m, params),
        m if m.starts_with("event.") || m.starts_with("imconnector.") => Err(ApiError::new(
            403,
            "WRONG_AUTH_TYPE",
            "Current authorization type is denied for this method",
        )),
        m => {
            let kind = crm::Kind::from_method(m).ok_or_else(|| not_found(m))?;
            match m.rsplit('.').next() {
                Some("add") => crm::add(state, kind, params),
                Some("update") => crm::update(state, kind, params),
                Some("fields") => Ok(fields::list(state, kind)),
                Some("get") => {
                    placement::check_read(state, m, params)?;
                    crm::get(state, kind, params)
                }
                _ => crm::list(state, kind, params),
            }
        }
    }
}

/// What `methods` lists.
const METHODS: &[&str] = &[
    "batch",
    "profile",
    "scope",
    "methods",
    "app.info",
    "user.get",
    "user.current",
    "im.notify.system.add",
    "im.notify.personal.add",
    "im.dialog.messages.get",
    "crm.status.list",
    "crm.duplicate.findbycomm",
    "crm.timeline.comment.add",
    "crm.timeline.comment.list",
    "bizproc.event.send",
    "crm.lead.add",
    "crm.lead.get",
    "crm.lead.list",
    "crm.lead.update",
    "crm.lead.fields",
    "crm.contact.add",
    "crm.contact.get",
    "crm.contact.list",
    "crm.contact.update",
    "crm.contact.fields",
    "crm.deal.add",
    "crm.deal.get",
    "crm.deal.list",
    "crm.deal.update",
    "crm.deal.fields",
    "crm.company.add",
    "crm.company.get",
    "crm.company.list",
    "crm.company.update",
    "crm.company.fields",
    "imconnector.register",
    "imconnector.unregister",
    "imconnector.activate",
    "imconnector.connector.data.set",
    "imconnector.status",
    "imconnector.send.messages",
    "imconnector.update.messages",
    "imconnector.send.status.delivery",
    "imconnector.send.status.reading",
    "event.bind",
    "event.unbind",
    "event.get",
    "events",
    "event.offline.get",
    "event.offline.clear",
    "event.offline.error",
    "event.offline.list",
    "placement.bind",
    "placement.get",
    "placement.unbind",
    "placement.list",
];

pub(crate) fn not_found(method: &str) -> ApiError {
    ApiError::new(
        404,
        "ERROR_METHOD_NOT_FOUND",
        &format!("Method '{method}' not found"),
    )
}

/// The `time` block of an envelope.
pub(crate) fn time_json(started: Instant) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let took = started.elapsed().as_secs_f64();
    let date = state::now_iso();
    json!({
        "start": now - took, "finish": now, "duration": took, "processing": took,
        "date_start": date, "date_finish": date,
    })
}

/// The portal behind the HTTP layer.
struct Portal {
    state: Mutex<State>,
    /// `http://127.0.0.1:<port>`, known once the server is bound.
    base_url: Mutex<String>,
}

impl Portal {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("portal state lock")
    }

    /// Records of one entity table as the `crm.*.get` methods show them.
    fn records(&self, table: fn(&State) -> &BTreeMap<i64, Map<String, Value>>) -> Vec<Value> {
        table(&self.state())
            .values()
            .map(|r| Value::Object(crm::readable(r)))
            .collect()
    }

    /// `GET /_sim/state`: everything the portal holds, for tests that run the simulator as
    /// a separate process (no credentials needed; the real portal has no such route).
    fn snapshot(&self) -> Value {
        let (comments, notifications, workflows, event_sends) = {
            let state = self.state();
            let comments: Vec<SimComment> =
                state.comments.iter().map(|c| c.comment.clone()).collect();
            (
                comments,
                state.notifications.clone(),
                state.workflows.clone(),
                state.event_sends.clone(),
            )
        };
        json!({
            "leads": self.records(|s| &s.leads),
            "contacts": self.records(|s| &s.contacts),
            "deals": self.records(|s| &s.deals),
            "comments": comments,
            "notifications": notifications
                .into_iter()
                .map(|(user, message)| json!({"user_id": user, "message": message}))
                .collect::<Vec<_>>(),
            "workflows": workflows,
            "event_sends": event_sends,
        })
    }

    /// `POST /_sim/bizproc/wait`: the portal runtime signed `event_token` (`saved=0`: from
    /// now on `bizproc.event.send` answers "not found" rather than `ACCESS_DENIED`) or saved
    /// the workflow whose activity waits under it (the PHP activity test's stand-in runtime
    /// calls it).
    fn wait(&self, req: &SimRequest) -> SimResponse {
        let params = params_of(req);
        let Some(token) = params.get("event_token").and_then(values::text) else {
            return ApiError::new(400, "ERROR_ARGUMENT", "event_token is required").response();
        };
        let document_id = match params.get("document_id") {
            Some(Value::Array(items)) => items.iter().filter_map(values::text).collect(),
            _ => Vec::new(),
        };
        let workflow_id = params
            .get("workflow_id")
            .and_then(values::text)
            .unwrap_or_default();
        // `saved=0`: the token was just signed (valid, but its workflow is not saved yet).
        let saved = params
            .get("saved")
            .and_then(values::text)
            .is_none_or(|s| s != "0");
        let mut state = self.state();
        match state.workflows.iter_mut().find(|w| w.event_token == token) {
            Some(w) => w.saved |= saved,
            None => state.workflows.push(SimWorkflow {
                event_token: token,
                workflow_id,
                document_id,
                saved,
                completed: None,
            }),
        }
        SimResponse::json(200, &json!({"result": true}))
    }
}

/// Splits `/rest/<user>/<secret>/<method>[.json][/]`.
fn split_path(path: &str) -> Option<(String, String, String)> {
    let rest = path.strip_prefix("/rest/")?;
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let [user, secret, method] = parts.as_slice() else {
        return None;
    };
    let method = method
        .strip_suffix(".json")
        .unwrap_or(method)
        .to_lowercase();
    Some((user.to_string(), secret.to_string(), method))
}

/// The method of an application's call `/rest/<method>[.json][/]`.
fn app_method(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/rest/")?.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    Some(rest.strip_suffix(".json").unwrap_or(rest).to_lowercase())
}

/// True when the body is JSON: `Content-Type` exactly `application/json`, parameters ignored.
fn is_json(req: &SimRequest) -> bool {
    req.header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
}

/// Query and body parameters; the body wins (doc §1.1).
fn params_of(req: &SimRequest) -> Value {
    let mut params = match query::decode(&req.query) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let body = if is_json(req) {
        // Invalid JSON silently means "no parameters".
        serde_json::from_slice::<Value>(&req.body).unwrap_or(Value::Null)
    } else if req.body.is_empty() {
        Value::Null
    } else {
        query::decode(&String::from_utf8_lossy(&req.body))
    };
    if let Value::Object(body) = body {
        params.extend(body);
    }
    Value::Object(params)
}

impl SimService for Portal {
    fn handle(&self, req: SimRequest) -> SimResponse {
        if req.path == "/_sim/state" {
            return SimResponse::json(200, &self.snapshot());
        }
        if req.path == "/_sim/bizproc/wait" {
            return self.wait(&req);
        }
        if req.path == "/_sim/card" {
            return self.card_page(&req);
        }
        if req.path == "/_sim/app" && req.method == hyper::Method::POST {
            return self.register_app(&req);
        }
        if req.path.starts_with("/~") || req.path == "/pub/im.file.php" {
            let files = &mut self.state().connectors;
            files
                .file_requests
                .push(format!("{} {}", req.method, req.path));
            if let Some(answer) = files.file_answer(&req.path, &req.query_pairs()) {
                return answer;
            }
        }
        let started = Instant::now();
        let mut state = self.state();
        if let Some(bucket) = state.bucket.as_mut() {
            if !bucket.admit() {
                state.rejections += 1;
                return self.rate_limited();
            }
        }
        let path = req.path.trim_end_matches('/');
        if path == "/oauth/authorize" {
            let host = req.header("host").unwrap_or("127.0.0.1").to_string();
            return match state.oauth.authorize(&req.query_pairs(), &host) {
                oauth::AuthorizeAnswer::Redirect(to) => {
                    let mut answer = SimResponse::text(302, "text/html; charset=utf-8", "");
                    answer.headers.push(("location", to));
                    answer
                }
                oauth::AuthorizeAnswer::Page(text) => {
                    SimResponse::text(200, "text/html; charset=utf-8", text)
                }
            };
        }
        if path == "/oauth/token" {
            if let Some(answer) = state.oauth.endpoint.gate(&req.method) {
                return answer;
            }
            let portal = self.base_url.lock().expect("base url").clone();
            return match state.oauth.token(&params_of(&req), &portal) {
                Ok(tokens) => SimResponse::json(200, &tokens),
                Err(e) => e.response(),
            };
        }
        let (method, params) = match split_path(&req.path) {
            Some((user, secret, method)) => {
                if scope_of(&method).is_none() {
                    return not_found(&method).response();
                }
                if user != state::WEBHOOK_USER.to_string() || secret != state.secret {
                    return ApiError::new(
                        state.auth_status,
                        "INVALID_CREDENTIALS",
                        "Invalid request credentials",
                    )
                    .response();
                }
                if oauth::app_only(&method) {
                    return ApiError::new(
                        403,
                        "WRONG_AUTH_TYPE",
                        "Current authorization type is denied for this method Application context required",
                    )
                    .response();
                }
                state.caller = state::WEBHOOK_USER;
                state.caller_app = None;
                (method, params_of(&req))
            }
            None => {
                // An application's call: /rest/<method>[.json] with its access token.
                let Some(method) = app_method(&req.path) else {
                    return not_found("").response();
                };
                if scope_of(&method).is_none() {
                    return not_found(&method).response();
                }
                let params = params_of(&req);
                let Some(token) = oauth::access_token(&params, req.header("authorization")) else {
                    return ApiError::new(401, "NO_AUTH_FOUND", "Wrong authorization data")
                        .response();
                };
                match state.oauth.check(&token) {
                    Ok(grant) => {
                        state.caller = grant.user_id;
                        state.caller_app = Some(grant.client_id);
                    }
                    Err(e) => return e.response(),
                }
                (method, params)
            }
        };
        let outcome = if method == "batch" {
            *state.calls.entry(method.clone()).or_default() += 1;
            let json_body = is_json(&req).then_some(&req.body[..]);
            let body_text = String::from_utf8_lossy(&req.body);
            let form: Vec<&str> = if json_body.is_some() {
                vec![&req.query]
            } else {
                vec![&req.query, &body_text]
            };
            batch::run(&mut state, &params, &batch::command_order(json_body, &form))
        } else {
            execute(&mut state, &method, &params)
        };
        match outcome {
            Ok(reply) => {
                let mut envelope = json!({"result": reply.result});
                if let Some(total) = reply.total {
                    envelope["total"] = json!(total);
                }
                if let Some(next) = reply.next {
                    envelope["next"] = json!(next);
                }
                envelope["time"] = time_json(started);
                SimResponse::json(200, &envelope)
            }
            Err(error) => error.response(),
        }
    }

    fn rate_limited(&self) -> SimResponse {
        ApiError::new(503, "QUERY_LIMIT_EXCEEDED", "Too many requests").response()
    }

    fn server_error(&self) -> SimResponse {
        ApiError::new(500, "ERROR_CORE", "Internal server error").response()
    }
}

/// A running simulated portal. State changes through the `add_*`/`set_*` knobs and through
/// the REST API; read it back with [`PortalSim::leads`], [`PortalSim::comments`], ….
pub struct PortalSim {
    server: SimServer,
    portal: Arc<Portal>,
    faults: Arc<Faults>,
}

impl std::fmt::Debug for PortalSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSim")
            .field("addr", &self.server.addr())
            .finish()
    }
}

impl PortalSim {
    /// Starts a portal on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a portal on `addr`.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let secret: String = {
            let mut rng = rand::thread_rng();
            (0..16)
                .map(|_| format!("{:x}", rng.gen_range(0..16u8)))
                .collect()
        };
        Self::start_with_secret(addr, &secret).await
    }

    /// Starts a portal on `addr` whose webhook path secret is `secret` (tests that look for
    /// the secret in output need a distinctive one).
    pub async fn start_with_secret(addr: SocketAddr, secret: &str) -> std::io::Result<Self> {
        let secret = secret.to_string();
        let portal = Arc::new(Portal {
            state: Mutex::new(State::new(secret)),
            base_url: Mutex::new(String::new()),
        });
        let faults = Arc::new(Faults::default());
        let server = SimServer::start(addr, portal.clone(), faults.clone()).await?;
        *portal.base_url.lock().expect("base url") = server.base_url();
        Ok(Self {
            server,
            portal,
            faults,
        })
    }

    /// `http://127.0.0.1:<port>/rest/1/<secret>/`.
    pub fn webhook_url(&self) -> String {
        format!(
            "{}/rest/{}/{}/",
            self.server.base_url(),
            state::WEBHOOK_USER,
            self.portal.state().secret
        )
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The fault plan.
    pub fn faults(&self) -> Arc<Faults> {
        self.faults.clone()
    }

    /// HTTP requests received (a batch is one).
    pub fn http_requests(&self) -> u64 {
        self.server.requests()
    }

    /// A leaky bucket in front of the portal: `burst` requests, draining `rps` per second;
    /// full → 503 `QUERY_LIMIT_EXCEEDED`. `rps` 0 turns it off (a box has none by default).
    pub fn set_rate_limit(&self, rps: f64, burst: u32) {
        self.portal.state().bucket = (rps > 0.0).then(|| Bucket {
            rps,
            burst: f64::from(burst.max(1)),
            level: 0.0,
            updated: tokio::time::Instant::now(),
        });
    }

    /// Makes leads and contacts created through the API invisible to
    /// `crm.duplicate.findbycomm` for `lag` after they are saved, as on a busy portal whose
    /// duplicate index lags (lists by field still see them at once).
    pub fn set_search_lag(&self, lag: std::time::Duration) {
        self.portal.state().search_lag = lag;
    }

    /// Registers a local application ("uses API only", doc §1.1) whose handler (OAuth
    /// `redirect_uri`) is `handler`, with `scopes`; its `(client_id, client_secret)`.
    pub fn register_app(&self, handler: &str, scopes: &[&str]) -> (String, String) {
        self.portal.state().oauth.register(handler, scopes)
    }

    /// Registers a local application with `scopes` whose handler is
    /// `<daemon_url>/bitrix24/app`, and gives the `[bitrix24.app]` of a daemon at `daemon_url`.
    pub fn app_config(&self, daemon_url: &str, scopes: &[&str]) -> crate::config::AppConfig {
        let handler = format!("{daemon_url}/bitrix24/app");
        let (client_id, secret) = self.register_app(&handler, scopes);
        crate::config::AppConfig {
            client_id,
            client_secret: crate::config::Secret::new(secret),
            oauth_url: self.oauth_url(),
            daemon_url: daemon_url.to_string(),
        }
    }

    /// The OAuth server's base URL (`<oauth_url>/oauth/token/`): this simulator.
    pub fn oauth_url(&self) -> String {
        self.server.base_url()
    }

    /// The portal's `member_id`.
    pub fn member_id(&self) -> String {
        self.portal.state().oauth.member_id.clone()
    }

    /// The user logged in in the admin's browser (who authorises the app).
    pub fn set_browser_user(&self, user_id: i64) {
        self.portal.state().oauth.browser_user = user_id;
    }

    /// Grants or takes the portal administrator flag.
    pub fn set_admin(&self, user_id: i64, admin: bool) {
        let mut state = self.portal.state();
        if admin {
            state.admins.insert(user_id);
        } else {
            state.admins.remove(&user_id);
        }
    }

    /// Lifetime of new access tokens (default 1 h).
    pub fn set_token_ttl(&self, ttl: std::time::Duration) {
        self.portal.state().oauth.access_ttl = ttl;
    }

    /// Makes every access token expire now (calls answer `expired_token`).
    pub fn expire_access_tokens(&self) {
        self.portal.state().oauth.expire_access();
    }

    /// Revokes every grant: tokens and refresh tokens stop working.
    pub fn revoke_grants(&self) {
        self.portal.state().oauth.revoke();
    }

    /// Token requests answered, by `grant_type`.
    pub fn token_grants(&self) -> BTreeMap<String, u64> {
        self.portal.state().oauth.grants.clone()
    }

    /// Token requests received, by HTTP method (refused ones included).
    pub fn token_methods(&self) -> BTreeMap<String, u64> {
        self.portal.state().oauth.endpoint.methods.clone()
    }

    /// Refuses a GET at `/oauth/token/` with 405 (by default it answers one, as the docs and
    /// the official SDK do): for proving a client sends its secrets in a POST body.
    pub fn refuse_token_get(&self, refuse: bool) {
        self.portal.state().oauth.endpoint.refuse_get = refuse;
    }

    /// Answers every token request with a 307 to `to` (`None`: answers them again), as an
    /// `oauth_url` behind a proxy or moved would.
    pub fn redirect_token_requests(&self, to: Option<String>) {
        self.portal.state().oauth.endpoint.redirect_to = to;
    }

    /// Delay between `imconnector.activate` and the line's status being saved.
    pub fn set_status_delay(&self, delay: std::time::Duration) {
        self.portal.state().connectors.status_delay = delay;
    }

    /// Connectors registered (`imconnector.register`), by id.
    pub fn connectors(&self) -> BTreeMap<String, Value> {
        self.portal.state().connectors.registered.clone()
    }

    /// Lines where `connector` is active, with their `DATA`.
    pub fn active_lines(&self, connector: &str) -> BTreeMap<i64, Value> {
        self.portal
            .state()
            .connectors
            .status
            .iter()
            .filter(|((c, _), _)| c == connector)
            .map(|((_, line), s)| (*line, s.data.clone()))
            .collect()
    }

    /// Offline bindings `(event, auth_connector)`.
    pub fn offline_bindings(&self) -> Vec<(String, String)> {
        self.portal
            .state()
            .connectors
            .bound
            .iter()
            .cloned()
            .collect()
    }

    /// Client messages that reached Open Lines, in order.
    pub fn line_messages(&self) -> Vec<LineMessage> {
        self.portal.state().connectors.messages.clone()
    }

    /// An operator answers in a line's chat: queues `OnImConnectorMessageAdd` for every app
    /// bound to it. `files`: `(name, link)`. Returns the IM message id.
    pub fn operator_reply(
        &self,
        connector: &str,
        line: i64,
        chat_id: &str,
        user_id: i64,
        text: &str,
        files: &[(String, String)],
    ) -> i64 {
        self.portal
            .state()
            .connectors
            .operator_reply(connector, line, chat_id, user_id, text, files)
    }

    /// An operator finishes the session of a line's chat: `OnImConnectorDialogFinish` for
    /// every app bound to it. The session id; `None` when the chat has no open session.
    pub fn finish_session(&self, connector: &str, line: i64, chat_id: &str) -> Option<i64> {
        self.portal
            .state()
            .connectors
            .finish_session(connector, line, chat_id)
    }

    /// The current session of a line's chat: its id, whether it is finished, and the lead
    /// the line made for it.
    pub fn chat_session(&self, line: i64, chat_id: &str) -> Option<(i64, bool, Option<i64>)> {
        let state = self.portal.state();
        let s = state
            .connectors
            .sessions
            .get(&(line, chat_id.to_string()))?;
        Some((s.id, s.closed, s.lead))
    }

    /// Turns on a line's CRM lead generation: a new chat's client gets a lead (unless their
    /// phone is already known).
    pub fn set_line_creates_leads(&self, line: i64) {
        self.portal.state().connectors.lead_lines.insert(line);
    }

    /// Makes the portal an older box without `OnImConnectorDialogStart/Finish`.
    pub fn set_old_box(&self, old: bool) {
        self.portal.state().connectors.old_box = old;
    }

    /// An administrator switches `connector` off on `line`: `OnImConnectorStatusDelete`.
    pub fn disconnect_line(&self, connector: &str, line: i64) {
        self.portal.state().connectors.disconnect(connector, line);
    }

    /// Queues an offline event `event` (upper-case name) with `data` for every app bound to
    /// it, as the portal does when something happens in a line.
    pub fn raise_offline_event(&self, event: &str, data: Value, user_id: i64) {
        self.portal
            .state()
            .connectors
            .raise(&event.to_uppercase(), data, user_id);
    }

    /// Keeps a file an operator attaches; its short link on the portal (no login needed:
    /// it redirects to a signed `/pub/im.file.php` address), for [`PortalSim::operator_reply`].
    pub fn attach_file(&self, name: &str, content_type: &str, bytes: &[u8]) -> String {
        let portal = self.base_url();
        self.portal
            .state()
            .connectors
            .attach_file(&portal, name, content_type, bytes.to_vec())
    }

    /// Injected fault: a short link on the portal that redirects to `location`.
    pub fn attach_redirect(&self, location: &str) -> String {
        let portal = self.base_url();
        self.portal
            .state()
            .connectors
            .attach_redirect(&portal, location)
    }

    /// `METHOD path` of every request for a file link so far.
    pub fn file_requests(&self) -> Vec<String> {
        self.portal.state().connectors.file_requests.clone()
    }

    /// Offline event rows still queued (`(id, event, process_id, error)`).
    pub fn offline_rows(&self) -> Vec<(i64, String, Option<String>, bool)> {
        self.portal
            .state()
            .connectors
            .rows
            .iter()
            .map(|r| (r.id, r.event.clone(), r.process_id.clone(), r.error))
            .collect()
    }

    /// External message ids the portal got delivery statuses for.
    pub fn delivered(&self) -> Vec<String> {
        self.portal.state().connectors.delivered.clone()
    }

    /// Requests refused by the bucket.
    pub fn rate_limit_rejections(&self) -> u64 {
        self.portal.state().rejections
    }

    /// Scopes granted to the webhook (default `crm,user,im,imopenlines,bizproc`).
    pub fn set_scopes(&self, scopes: &[&str]) {
        self.portal.state().scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// HTTP status of auth and scope errors: 401 (source, default) or 403 (docs).
    pub fn set_auth_error_status(&self, status: u16) {
        self.portal.state().auth_status = status;
    }

    /// Adds a user; its id. User 1, the webhook's owner, exists from the start.
    pub fn add_user(&self, name: &str, last_name: &str, email: &str, active: bool) -> i64 {
        self.portal.state().add_user(name, last_name, email, active)
    }

    /// Adds a custom `SOURCE` directory entry.
    pub fn add_source(&self, status_id: &str, name: &str) {
        self.portal
            .state()
            .add_status("SOURCE", status_id, name, None);
    }

    fn add_entity(&self, method: &str, fields: Value) -> i64 {
        let mut state = self.portal.state();
        let reply = execute(&mut state, method, &json!({"fields": fields}))
            .unwrap_or_else(|e| panic!("{method} in the simulator failed: {}", e.description));
        let id = values::int(&reply.result).expect("the simulator returns the new id");
        // A seeded record is as old as the company: the search lag applies to new ones only.
        state.created_at.remove(&id);
        id
    }

    /// Adds a lead; its id.
    pub fn add_lead(
        &self,
        title: &str,
        phone: Option<&str>,
        status_id: &str,
        assigned_by_id: i64,
    ) -> i64 {
        let phones: Vec<Value> = phone
            .map(|p| json!({"VALUE": p, "VALUE_TYPE": "WORK"}))
            .into_iter()
            .collect();
        self.add_entity(
            "crm.lead.add",
            json!({"TITLE": title, "PHONE": phones, "STATUS_ID": status_id, "ASSIGNED_BY_ID": assigned_by_id}),
        )
    }

    /// Adds a contact; its id.
    pub fn add_contact(&self, name: &str, phone: Option<&str>, assigned_by_id: i64) -> i64 {
        let phones: Vec<Value> = phone
            .map(|p| json!({"VALUE": p, "VALUE_TYPE": "WORK"}))
            .into_iter()
            .collect();
        self.add_entity(
            "crm.contact.add",
            json!({"NAME": name, "PHONE": phones, "ASSIGNED_BY_ID": assigned_by_id}),
        )
    }

    /// Adds a company with a phone; its id.
    pub fn add_company(&self, title: &str, phone: Option<&str>, assigned_by_id: i64) -> i64 {
        let phones: Vec<Value> = phone
            .map(|p| json!({"VALUE": p, "VALUE_TYPE": "WORK"}))
            .into_iter()
            .collect();
        self.add_entity(
            "crm.company.add",
            json!({"TITLE": title, "PHONE": phones, "ASSIGNED_BY_ID": assigned_by_id}),
        )
    }

    /// Adds a deal; its id.
    pub fn add_deal(
        &self,
        title: &str,
        contact_id: i64,
        stage_id: &str,
        assigned_by_id: i64,
    ) -> i64 {
        self.add_entity(
            "crm.deal.add",
            json!({"TITLE": title, "CONTACT_ID": contact_id, "STAGE_ID": stage_id, "ASSIGNED_BY_ID": assigned_by_id}),
        )
    }

    /// All leads as `crm.lead.get` shows them.
    pub fn leads(&self) -> Vec<Value> {
        self.portal.records(|s| &s.leads)
    }

    /// The lead `id` as `crm.lead.get` shows it.
    pub fn lead(&self, id: i64) -> Option<Value> {
        let leads = &self.portal.state().leads;
        leads.get(&id).map(|r| Value::Object(crm::readable(r)))
    }

    /// All contacts as `crm.contact.get` shows them.
    pub fn contacts(&self) -> Vec<Value> {
        self.portal.records(|s| &s.contacts)
    }

    /// All deals as `crm.deal.get` shows them.
    pub fn deals(&self) -> Vec<Value> {
        self.portal.records(|s| &s.deals)
    }

    /// All timeline comments, oldest first.
    pub fn comments(&self) -> Vec<SimComment> {
        self.portal
            .state()
            .comments
            .iter()
            .map(|c| c.comment.clone())
            .collect()
    }

    /// Notifications sent: (user, message).
    pub fn notifications(&self) -> Vec<(i64, String)> {
        self.portal.state().notifications.clone()
    }

    /// A workflow of `document_id` (e.g. `["crm", "CCrmDocumentLead", "LEAD_5"]`) whose
    /// activity is about to call the daemon: its token is known but, until
    /// [`PortalSim::save_workflow`], `bizproc.event.send` answers "not found".
    pub fn issue_workflow(&self, document_id: &[&str]) -> SimWorkflow {
        let workflow_id = format!(
            "{:x}.{:08}",
            rand::random::<u64>() >> 8,
            rand::random::<u32>() % 100_000_000
        );
        let (event_token, _) = bizproc::new_token(&workflow_id);
        let workflow = SimWorkflow {
            event_token,
            workflow_id,
            document_id: document_id.iter().map(|d| d.to_string()).collect(),
            saved: false,
            completed: None,
        };
        self.portal.state().workflows.push(workflow.clone());
        workflow
    }

    /// The hit that started the workflow saved it: its activity can be completed.
    pub fn save_workflow(&self, event_token: &str) {
        if let Some(w) = self
            .portal
            .state()
            .workflows
            .iter_mut()
            .find(|w| w.event_token == event_token)
        {
            w.saved = true;
        }
    }

    /// Runs a workflow the way the PHP activity does: issues it, POSTs the call in the
    /// REST-activity form shape to `daemon_url/bizproc/send` over HTTP/1.0 (as the 2021
    /// `HttpClient` speaks), then saves it, as the hit ends. `properties` are
    /// `properties[...]` fields; `files` go as `properties[files][i]`. Returns the workflow
    /// and the daemon's status and body.
    pub async fn run_workflow(
        &self,
        daemon_url: &str,
        secret: &str,
        document_id: &[&str],
        properties: &[(&str, &str)],
        files: &[&str],
    ) -> (SimWorkflow, u16, String) {
        let workflow = self.issue_workflow(document_id);
        let mut props = Map::new();
        for (key, value) in properties {
            props.insert(key.to_string(), json!(value));
        }
        props.insert("files".into(), json!(files));
        let kind = document_id
            .get(2)
            .and_then(|d| d.rsplit_once('_'))
            .map_or("", |(k, _)| k);
        let body = json!({
            "workflow_id": workflow.workflow_id,
            "code": crate::flows::bizproc::CODE,
            "document_id": document_id,
            "document_type": [document_id.first().copied().unwrap_or("crm"), document_id.get(1).copied().unwrap_or(""), kind],
            "event_token": workflow.event_token,
            "properties": props,
            "use_subscription": "Y",
            "timeout_duration": 3600,
            "ts": chrono::Utc::now().timestamp(),
            "auth": {"application_token": secret},
        });
        let answer = reqwest::Client::new()
            .post(format!("{}/bizproc/send", daemon_url.trim_end_matches('/')))
            .version(reqwest::Version::HTTP_10)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(query::encode(&body))
            .send()
            .await;
        let (status, text) = match answer {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        };
        if status == 202 {
            self.save_workflow(&workflow.event_token);
        }
        (workflow, status, text)
    }

    /// The workflows the portal knows, with what completed them.
    pub fn workflows(&self) -> Vec<SimWorkflow> {
        self.portal.state().workflows.clone()
    }

    /// Every `bizproc.event.send` received, in order.
    pub fn event_sends(&self) -> Vec<SimEventSend> {
        self.portal.state().event_sends.clone()
    }

    /// The next `bizproc.event.send` calls fail with these codes, in order: `"404"` or
    /// `"423"` (answered as integers, newer boxes) or `"ERROR_CORE"` (older).
    pub fn fail_event_sends(&self, codes: &[&str]) {
        self.portal
            .state()
            .event_send_failures
            .extend(codes.iter().map(|c| c.to_string()));
    }

    /// Drops the scripted `bizproc.event.send` failures not used yet.
    pub fn clear_event_send_failures(&self) {
        self.portal.state().event_send_failures.clear();
    }

    /// Method calls executed, sub-calls of batches included, per method.
    pub fn calls_by_method(&self) -> BTreeMap<String, u64> {
        self.portal.state().calls.clone()
    }
}
