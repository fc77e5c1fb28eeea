//! `POST /_sim/app`: what a portal administrator does in *Приложения → Разработчикам →
//! Другое → Локальное приложение* (`bitrix24-apps.md` §1.1), for a simulator run as its own
//! process (`chat2desk-b24 sim app`): registers a local application that "uses API only"
//! with its handler path and scopes, and answers the client id and secret the UI shows.
//! The real portal has no such route.

use super::{params_of, values, ApiError, Portal};
use crate::sim::http::{SimRequest, SimResponse};
use serde_json::{json, Value};

impl Portal {
    /// Answers `POST /_sim/app` (`handler` required; `scopes` a list or a comma list).
    pub(super) fn register_app(&self, req: &SimRequest) -> SimResponse {
        let params = params_of(req);
        let Some(handler) = params.get("handler").and_then(values::text) else {
            return ApiError::new(400, "ERROR_ARGUMENT", "handler is required").response();
        };
        // The portal's code takes http and https handlers whose host contains a dot; the
        // REST docs say https only (doc §1.1 [X]): the simulator follows the code, so a
        // loopback daemon (`http://127.0.0.1:8089`) can be tried.
        let usable = url::Url::parse(&handler).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| h.contains('.'))
        });
        if !usable {
            return ApiError::new(
                400,
                "ERROR_ARGUMENT",
                "handler must be an http(s) URL whose host contains a dot",
            )
            .response();
        }
        let scopes: Vec<String> = match params.get("scopes") {
            Some(Value::Array(items)) => items.iter().filter_map(values::text).collect(),
            Some(list) => values::text(list)
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            None => Vec::new(),
        };
        let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let (client_id, client_secret) = self.state().oauth.register(&handler, &refs);
        let oauth_url = self.base_url.lock().expect("base url").clone();
        SimResponse::json(
            200,
            &json!({
                "client_id": client_id, "client_secret": client_secret,
                "oauth_url": oauth_url, "handler": handler, "scopes": scopes,
            }),
        )
    }
}
