//! Chat2Desk errors and the classifier that turns an HTTP answer into one.
//!
//! The API's HTTP statuses for auth, not-found and rate limiting are undocumented
//! (`chat2desk-api.md` §1, §6.2): old clients match the error texts instead, so the classifier
//! looks at both. Error texts are only searched in error fields (`message`, `errors`,
//! `data.message`) or in non-JSON bodies, never in a successful payload, where a client's
//! message could quote them.

use serde_json::Value;
use std::collections::BTreeMap;

/// An error talking to Chat2Desk. `endpoint` is `METHOD /v1/path` (never the token).
#[derive(Debug, thiserror::Error)]
pub enum Chat2DeskError {
    /// The token is missing or wrong.
    #[error("Chat2Desk {endpoint}: authentication failed ({message})")]
    Auth {
        /// The call.
        endpoint: String,
        /// The server's text.
        message: String,
    },
    /// The object or route does not exist.
    #[error("Chat2Desk {endpoint}: not found")]
    NotFound {
        /// The call.
        endpoint: String,
    },
    /// The monthly API quota of the plan is used up.
    #[error("Chat2Desk {endpoint}: monthly API quota exceeded")]
    QuotaExceeded {
        /// The call.
        endpoint: String,
    },
    /// The short-term rate limit answered (retries exhausted).
    #[error("Chat2Desk {endpoint}: rate limited (Number of API requests exceeded)")]
    RateLimited {
        /// The call.
        endpoint: String,
    },
    /// The API refused the call with an error envelope.
    #[error("Chat2Desk {endpoint}: HTTP {status}: {message}{}", fmt_errors(.errors))]
    Api {
        /// The call.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// `message` of the envelope (or a body excerpt).
        message: String,
        /// `errors`: field → messages.
        errors: BTreeMap<String, Vec<String>>,
    },
    /// HTTP 5xx (or a proxy error page).
    #[error("Chat2Desk {endpoint}: server error HTTP {status}")]
    Server {
        /// The call.
        endpoint: String,
        /// HTTP status.
        status: u16,
    },
    /// Connection refused/reset, timeout, truncated body.
    #[error("Chat2Desk {endpoint}: transport error: {detail}")]
    Transport {
        /// The call.
        endpoint: String,
        /// What happened (no URL).
        detail: String,
    },
    /// A successful answer whose body is not JSON.
    #[error("Chat2Desk {endpoint}: undecodable answer: {detail}")]
    Decode {
        /// The call.
        endpoint: String,
        /// What was wrong.
        detail: String,
    },
    /// Valid JSON in a shape we cannot use (e.g. no id).
    #[error("Chat2Desk {endpoint}: unexpected answer: {detail}")]
    Unexpected {
        /// The call.
        endpoint: String,
        /// What was missing.
        detail: String,
    },
    /// The client could not be built (bad `api_url`, TLS setup).
    #[error("Chat2Desk client setup: {detail}")]
    Setup {
        /// What was wrong.
        detail: String,
    },
}

fn fmt_errors(errors: &BTreeMap<String, Vec<String>>) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = errors
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.join(", ")))
        .collect();
    format!(" ({})", parts.join("; "))
}

impl Chat2DeskError {
    /// True when the same call may succeed later (retry with backoff).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Chat2DeskError::RateLimited { .. }
                | Chat2DeskError::Server { .. }
                | Chat2DeskError::Transport { .. }
                | Chat2DeskError::Decode { .. }
        )
    }

    /// What the sysadmin should do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Chat2DeskError::Auth { .. } => {
                "check [chat2desk] token (Settings → API in Chat2Desk)"
            }
            Chat2DeskError::NotFound { .. } => {
                "the object is gone or [chat2desk] api_url is wrong (it must not end in /v1)"
            }
            Chat2DeskError::QuotaExceeded { .. } => {
                "the Chat2Desk monthly API quota is used up: upgrade the API mode or wait for next month"
            }
            Chat2DeskError::RateLimited { .. } => {
                "lower [chat2desk] requests_per_second; the call is retried later"
            }
            Chat2DeskError::Api { .. } => {
                "Chat2Desk refused the call; read the message and errors above"
            }
            Chat2DeskError::Server { .. } => "Chat2Desk is failing; the call is retried later",
            Chat2DeskError::Transport { .. } => {
                "check network access to [chat2desk] api_url (DNS, firewall, proxy) or raise timeout_secs"
            }
            Chat2DeskError::Decode { .. } => {
                "Chat2Desk sent a broken answer; the call is retried later"
            }
            Chat2DeskError::Unexpected { .. } => {
                "Chat2Desk answered in an unknown shape; report it with a debug log"
            }
            Chat2DeskError::Setup { .. } => "check [chat2desk] api_url",
        }
    }

    /// The call that failed (`None` for setup errors).
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Chat2DeskError::Auth { endpoint, .. }
            | Chat2DeskError::NotFound { endpoint }
            | Chat2DeskError::QuotaExceeded { endpoint }
            | Chat2DeskError::RateLimited { endpoint }
            | Chat2DeskError::Api { endpoint, .. }
            | Chat2DeskError::Server { endpoint, .. }
            | Chat2DeskError::Transport { endpoint, .. }
            | Chat2DeskError::Decode { endpoint, .. }
            | Chat2DeskError::Unexpected { endpoint, .. } => Some(endpoint),
            Chat2DeskError::Setup { .. } => None,
        }
    }
}

/// Longest body excerpt kept in an error.
const EXCERPT: usize = 200;

/// Classifies a complete HTTP answer: the JSON body on success, else the error.
pub(crate) fn classify(endpoint: &str, status: u16, body: &[u8]) -> Result<Value, Chat2DeskError> {
    let endpoint = endpoint.to_string();
    match serde_json::from_slice::<Value>(body) {
        Ok(json) => {
            let error_text = envelope_error(&json);
            let ok_status = (200..300).contains(&status);
            if ok_status && error_text.is_none() {
                return Ok(json);
            }
            let (message, errors) = error_text.unwrap_or_default();
            let all_text = std::iter::once(message.as_str())
                .chain(errors.values().flatten().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(e) = by_text(&endpoint, &all_text, &message) {
                return Err(e);
            }
            if let Some(e) = by_status(&endpoint, status, &message) {
                return Err(e);
            }
            if message.to_ascii_lowercase().contains("page not found") {
                return Err(Chat2DeskError::NotFound { endpoint });
            }
            Err(Chat2DeskError::Api {
                endpoint,
                status,
                message,
                errors,
            })
        }
        Err(parse_error) => {
            let text = String::from_utf8_lossy(body);
            let excerpt = excerpt(&text);
            if let Some(e) = by_text(&endpoint, &text, &excerpt) {
                return Err(e);
            }
            if let Some(e) = by_status(&endpoint, status, &excerpt) {
                return Err(e);
            }
            if (200..300).contains(&status) {
                Err(Chat2DeskError::Decode {
                    endpoint,
                    detail: format!("not JSON ({parse_error})"),
                })
            } else {
                Err(Chat2DeskError::Api {
                    endpoint,
                    status,
                    message: excerpt,
                    errors: BTreeMap::new(),
                })
            }
        }
    }
}

/// `(message, errors)` when the body is an error envelope: `status: "error"`, or
/// `data.status: "error"`, or a bare `{"message": ...}` without `data`.
fn envelope_error(json: &Value) -> Option<(String, BTreeMap<String, Vec<String>>)> {
    let top = json.as_object()?;
    let is_error = |v: &Value| {
        v.get("status")
            .and_then(Value::as_str)
            .is_some_and(|s| s.eq_ignore_ascii_case("error"))
    };
    let source = if is_error(json) {
        json
    } else if json.get("data").is_some_and(is_error) {
        &json["data"]
    } else if !top.contains_key("data")
        && !top.contains_key("status")
        && top.get("message").is_some_and(Value::is_string)
    {
        json
    } else {
        return None;
    };
    let message = match source.get("message") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let mut errors = BTreeMap::new();
    if let Some(Value::Object(map)) = source.get("errors") {
        for (field, v) in map {
            let list = match v {
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), String::from))
                    .collect(),
                Value::String(s) => vec![s.clone()],
                other => vec![other.to_string()],
            };
            errors.insert(field.clone(), list);
        }
    }
    Some((message, errors))
}

fn by_text(endpoint: &str, text: &str, message: &str) -> Option<Chat2DeskError> {
    let lower = text.to_ascii_lowercase();
    let endpoint = endpoint.to_string();
    if lower.contains("number of api requests exceeded") {
        Some(Chat2DeskError::RateLimited { endpoint })
    } else if lower.contains("api calls exceeded api limit per month") {
        Some(Chat2DeskError::QuotaExceeded { endpoint })
    } else if lower.contains("you need to auth") || lower.contains("you have to specify your token")
    {
        Some(Chat2DeskError::Auth {
            endpoint,
            message: message.to_string(),
        })
    } else {
        None
    }
}

fn by_status(endpoint: &str, status: u16, message: &str) -> Option<Chat2DeskError> {
    let endpoint = endpoint.to_string();
    match status {
        429 => Some(Chat2DeskError::RateLimited { endpoint }),
        401 | 403 => Some(Chat2DeskError::Auth {
            endpoint,
            message: if message.is_empty() {
                format!("HTTP {status}")
            } else {
                message.to_string()
            },
        }),
        404 => Some(Chat2DeskError::NotFound { endpoint }),
        500..=599 => Some(Chat2DeskError::Server { endpoint, status }),
        _ => None,
    }
}

fn excerpt(text: &str) -> String {
    let trimmed = text.trim();
    match trimmed.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(status: u16, body: &Value) -> Result<Value, Chat2DeskError> {
        classify("GET /v1/x", status, body.to_string().as_bytes())
    }

    #[test]
    fn success_passes_even_when_messages_quote_error_texts() {
        let body = json!({"status":"success","data":[{"text":"You need to auth"}]});
        assert_eq!(run(200, &body).unwrap(), body);
        let bare = json!([{"id": 1}]);
        assert_eq!(run(200, &bare).unwrap(), bare);
    }

    #[test]
    fn known_texts_win_over_statuses() {
        let rl = json!({"status":"error","message":"Number of API requests exceeded"});
        for status in [200, 400, 429, 500] {
            assert!(matches!(
                run(status, &rl),
                Err(Chat2DeskError::RateLimited { .. })
            ));
        }
        let quota = json!({"status":"error","message":"API calls exceeded API limit per month"});
        let e = run(200, &quota).unwrap_err();
        assert!(matches!(e, Chat2DeskError::QuotaExceeded { .. }));
        assert!(!e.is_transient());
        let auth = json!({"status":"error","message":"You have to specify your token. See API manual on info@chat2desk.com"});
        let e = run(200, &auth).unwrap_err();
        assert!(matches!(e, Chat2DeskError::Auth { .. }));
        assert!(!e.is_transient());
        assert!(e.hint().contains("token"));
        let nested = json!({"data":{"status":"error","message":"You need to auth"}});
        assert!(matches!(
            run(200, &nested),
            Err(Chat2DeskError::Auth { .. })
        ));
    }

    #[test]
    fn statuses_without_known_texts() {
        assert!(matches!(
            run(429, &json!({})),
            Err(Chat2DeskError::RateLimited { .. })
        ));
        assert!(matches!(
            run(401, &json!({"status":"error"})),
            Err(Chat2DeskError::Auth { .. })
        ));
        let nf = json!({"status":"error","message":"Page not found"});
        assert!(matches!(
            run(404, &nf),
            Err(Chat2DeskError::NotFound { .. })
        ));
        assert!(matches!(
            run(200, &nf),
            Err(Chat2DeskError::NotFound { .. })
        ));
        let e = classify("GET /v1/x", 502, b"<html>502 Bad Gateway</html>").unwrap_err();
        assert!(matches!(e, Chat2DeskError::Server { status: 502, .. }));
        assert!(e.is_transient());
        let e = classify("GET /v1/x", 200, b"{\"result\": <html>oops").unwrap_err();
        assert!(matches!(e, Chat2DeskError::Decode { .. }));
        assert!(e.is_transient());
        let e = classify("GET /v1/x", 200, b"Number of API requests exceeded").unwrap_err();
        assert!(matches!(e, Chat2DeskError::RateLimited { .. }));
    }

    #[test]
    fn api_errors_keep_message_and_fields() {
        let body = json!({"status":"error","message":"Validation failed",
            "errors":{"client":["Client already exist","{\"id\":5}"],"phone":"bad"}});
        let e = run(400, &body).unwrap_err();
        let Chat2DeskError::Api {
            status,
            message,
            errors,
            ..
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!(*status, 400);
        assert_eq!(message, "Validation failed");
        assert_eq!(errors["client"][1], "{\"id\":5}");
        assert_eq!(errors["phone"], vec!["bad"]);
        assert!(!e.is_transient());
        assert!(e.to_string().contains("Client already exist"));
        let e = run(200, &json!({"status":"error"})).unwrap_err();
        assert!(matches!(e, Chat2DeskError::Api { status: 200, .. }));
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            &b""[..],
            b"null",
            b"\xff\xfe",
            b"[]",
            b"{\"status\":5,\"message\":[1]}",
            b"{\"status\":\"error\",\"errors\":[1,2]}",
            "ж".repeat(500).as_bytes(),
        ] {
            for status in [0, 200, 204, 302, 400, 404, 418, 503, 999] {
                let _ = classify("GET /v1/x", status, body);
            }
        }
    }
}
