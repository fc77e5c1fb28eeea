//! `POST /bizproc/send` and `GET /bizproc/channels`: the portal's business-process action.
//!
//! The call is answered 202 as soon as its send job is committed (the activity waits inside
//! a portal hit; the work happens after), 401 for a wrong or missing
//! `auth[application_token]` (nothing queued), 400 naming the bad field, 413 over the body
//! limit ([`FORM_LIMIT`](crate::server::FORM_LIMIT)). The secret is looked up in one pass over the raw form before
//! anything is decoded, and the decoder refuses forms past [`query::Limits::ROUTE`].
//! Nothing here logs the body or the secret.

use super::{CallError, SendCall};
use crate::config::{constant_time_eq, Secret};
use crate::engine::Services;
use crate::portal::query;
use crate::server::{
    client_ip, not_allowed, not_found, read_body, Answer, Caller, Listener, Path, Reply, Route,
    Router, ServerSettings, FORM_LIMIT,
};
use crate::store::Intake;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::Notify;

const SECRET_FIELD: &str = "auth[application_token]";

/// The action's route: `[bizproc] secret`, and the queue and Chat2Desk it reaches.
#[derive(Debug)]
pub struct BizprocRoute {
    /// `[bizproc] secret`; empty = both paths answer 404.
    secret: Secret,
    services: Arc<Services>,
    /// Poked when a send was queued.
    wake: Arc<Notify>,
}

impl BizprocRoute {
    /// Mounts `/bizproc/…` on the public listener.
    pub fn mount(
        secret: Secret,
        services: Arc<Services>,
        wake: Arc<Notify>,
        router: Router,
    ) -> Router {
        let route = Arc::new(Self {
            secret,
            services,
            wake,
        });
        router.mount(&[Path::Prefix("/bizproc/")], Listener::Public, route)
    }

    /// Routes `/bizproc/...`; 404 while `[bizproc] secret` is empty (the action is off).
    async fn bizproc(&self, req: Request<Incoming>, caller: Caller<'_>) -> Answer {
        if self.secret.is_empty() {
            return not_found();
        }
        let s = caller.settings;
        let client = client_ip(caller.peer.ip(), &req, &s.trusted_proxies);
        match (req.uri().path(), req.method()) {
            ("/bizproc/send", &Method::POST) => self.bizproc_send(req, s, client).await,
            ("/bizproc/send", _) => not_allowed("POST"),
            ("/bizproc/channels", &Method::GET) => self.bizproc_channels(&req, client).await,
            ("/bizproc/channels", _) => not_allowed("GET"),
            _ => not_found(),
        }
    }

    async fn bizproc_send(
        &self,
        req: Request<Incoming>,
        settings: &ServerSettings,
        client: IpAddr,
    ) -> Answer {
        let body = match read_body(req, settings, FORM_LIMIT).await {
            Ok(body) => body,
            Err((status, reason)) => return refuse(client, status, None, reason),
        };
        let Ok(text) = std::str::from_utf8(&body) else {
            return refuse(
                client,
                StatusCode::BAD_REQUEST,
                None,
                "body is not UTF-8 form data",
            );
        };
        if !self.bizproc_secret_is(query::find(text, SECRET_FIELD).as_deref()) {
            return unauthorized(client);
        }
        let form = match query::decode_strict(text, query::Limits::ROUTE) {
            Ok(form) => form,
            Err(e) => return refuse(client, StatusCode::BAD_REQUEST, None, &e.to_string()),
        };
        let call = match SendCall::from_form(&form, &self.secret) {
            Ok(call) => call,
            Err(CallError::Unauthorized) => return unauthorized(client),
            Err(CallError::Field { field, problem }) => {
                return refuse(client, StatusCode::BAD_REQUEST, Some(&field), &problem)
            }
        };
        let token = call.event_token.clone().unwrap_or_default();
        let store = &self.services.store;
        match store
            .enqueue_send(&token, &call.to_value(), Intake::Bizproc)
            .await
        {
            Ok(queued) => {
                if queued.new {
                    self.wake.notify_one();
                }
                tracing::info!(
                    send_id = queued.send_id,
                    workflow_id = call.workflow_id.as_deref().unwrap_or(""),
                    channel_id = call.channel_id,
                    repeated = !queued.new,
                    client = %client,
                    "Queued a business-process send"
                );
                answer(
                    StatusCode::ACCEPTED,
                    &json!({"accepted": true, "job": queued.send_id}),
                )
            }
            Err(e) => {
                tracing::warn!(client = %client, error = %e, hint = e.hint(), "Business-process send not queued; answered 503");
                answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"accepted": false, "error": "state database unavailable, retry later"}),
                )
            }
        }
    }

    /// The company's channels for the activity's settings dialog. The secret comes as
    /// `Authorization: Bearer <secret>` only (never in the URL, which proxies log).
    async fn bizproc_channels(&self, req: &Request<Incoming>, client: IpAddr) -> Answer {
        let bearer = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string);
        if !self.bizproc_secret_is(bearer.as_deref()) {
            return unauthorized(client);
        }
        match self.services.chat2desk.channels().await {
            Ok(channels) => answer(
                StatusCode::OK,
                &json!({"channels": channels.iter().map(|c| json!({
                    "id": c.id, "name": c.name, "phone": c.phone, "transports": c.transports,
                })).collect::<Vec<_>>()}),
            ),
            Err(e) => {
                tracing::warn!(endpoint = "GET /v1/channels", error = %e, hint = e.hint(), "Cannot list channels for the business-process dialog");
                answer(
                    StatusCode::BAD_GATEWAY,
                    &json!({"error": format!("Chat2Desk: {e}")}),
                )
            }
        }
    }

    /// Whether `presented` is `[bizproc] secret` (compared in constant time).
    fn bizproc_secret_is(&self, presented: Option<&str>) -> bool {
        let expected = self.secret.expose().as_bytes();
        !expected.is_empty() && presented.is_some_and(|p| constant_time_eq(p.as_bytes(), expected))
    }
}

impl Route for BizprocRoute {
    fn answer<'a>(&'a self, req: Request<Incoming>, caller: Caller<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move { self.bizproc(req, caller).await.map(Either::Left) })
    }
}

fn unauthorized(client: IpAddr) -> Answer {
    refuse(
        client,
        StatusCode::UNAUTHORIZED,
        Some(SECRET_FIELD),
        "wrong or missing auth[application_token]: use [bizproc] secret (`chat2desk-b24 bizproc install` writes it into the activity)",
    )
}

/// Logs a refused call (address, status, field and reason; never the body) and answers it.
fn refuse(client: IpAddr, status: StatusCode, field: Option<&str>, reason: &str) -> Answer {
    tracing::warn!(client = %client, status = status.as_u16(), field = field.unwrap_or(""), reason, "Refused a business-process call");
    let mut body = json!({"accepted": false, "error": match field {
        Some(f) if status == StatusCode::BAD_REQUEST => format!("{f}: {reason}"),
        _ => reason.to_string(),
    }});
    if let Some(field) = field {
        body["field"] = json!(field);
    }
    answer(status, &body)
}

fn answer(status: StatusCode, body: &Value) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body.to_string())));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    answer
}
