//! What the simulated OAuth server's `/oauth/token/` accepts before it looks at a grant:
//! the HTTP method, and a redirect knob standing for a misconfigured `oauth_url` (a proxy or
//! an old address that answers 3xx).
//!
//! The docs (`bitrix24-apps.md` §1.2–§1.3) show the token requests as a GET with
//! `client_secret` and the refresh token in the query, and the official SDK (§8, b24pysdk)
//! sends them so: a real server answers a GET, and so does this one by default. The daemon
//! sends a POST form, which keeps the secrets out of URLs and proxy logs; a test proves it
//! with [`TokenEndpoint::refuse_get`] (405, `Allow: POST`). Unsure in the docs: whether every
//! OAuth server takes the POST form (the daemon's tests assume it, as the REST API does).

use super::super::http::SimResponse;
use hyper::Method;
use std::collections::BTreeMap;

/// The token endpoint's knobs and what it saw.
#[derive(Debug, Default)]
pub(crate) struct TokenEndpoint {
    /// Refuse a GET with 405 (default: answered, as the docs show it).
    pub(crate) refuse_get: bool,
    /// Answer every token request with `307` to this URL instead.
    pub(crate) redirect_to: Option<String>,
    /// Token requests by HTTP method, refused ones included.
    pub(crate) methods: BTreeMap<String, u64>,
}

impl TokenEndpoint {
    /// Counts the request; the answer that ends it before the grant is looked at: 405 for a
    /// method the endpoint refuses, 307 while the redirect knob is set.
    pub(crate) fn gate(&mut self, method: &Method) -> Option<SimResponse> {
        *self.methods.entry(method.to_string()).or_default() += 1;
        let accepted = *method == Method::POST || (!self.refuse_get && *method == Method::GET);
        if !accepted {
            let mut answer = SimResponse::json(
                405,
                &serde_json::json!({
                    "error": "invalid_request",
                    "error_description": "The token endpoint accepts POST only",
                }),
            );
            let allow = if self.refuse_get { "POST" } else { "GET, POST" };
            answer.headers.push(("allow", allow.to_string()));
            return Some(answer);
        }
        let to = self.redirect_to.clone()?;
        let mut answer = SimResponse::text(307, "text/html; charset=utf-8", "");
        answer.headers.push(("location", to));
        Some(answer)
    }
}
