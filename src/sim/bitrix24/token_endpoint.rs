//! What the simulated OAuth server's `/oauth/token/` accepts before it looks at a grant:
//! the HTTP method, and a redirect knob standing for a misconfigured `oauth_url` (a proxy or
//! an old address that answers 3xx).
//!
//! Unsure in the docs: `bitrix24-apps.md` §1.2–§1.3 show the token requests as a GET with
//! `client_secret` and the refresh token in the query; the SDK (§8) names only the fields.
//! The daemon sends them as a POST form, which keeps the secrets out of URLs and proxy logs.
//! The simulator refuses a GET by default (405, `Allow: POST`) so a client that puts the
//! secrets in a URL is caught; [`TokenEndpoint::allow_get`] accepts it as the docs show.

use super::super::http::SimResponse;
use hyper::Method;
use std::collections::BTreeMap;

/// The token endpoint's knobs and what it saw.
#[derive(Debug, Default)]
pub(crate) struct TokenEndpoint {
    /// Answer a GET as the docs show it (default: 405).
    pub(crate) allow_get: bool,
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
        let accepted = *method == Method::POST || (self.allow_get && *method == Method::GET);
        if !accepted {
            let mut answer = SimResponse::json(
                405,
                &serde_json::json!({
                    "error": "invalid_request",
                    "error_description": "The token endpoint accepts POST only",
                }),
            );
            let allow = if self.allow_get { "GET, POST" } else { "POST" };
            answer.headers.push(("allow", allow.to_string()));
            return Some(answer);
        }
        let to = self.redirect_to.clone()?;
        let mut answer = SimResponse::text(307, "text/html; charset=utf-8", "");
        answer.headers.push(("location", to));
        Some(answer)
    }
}
