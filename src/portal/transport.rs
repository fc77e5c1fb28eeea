//! One HTTP request to the portal and what its answer means for a retry: executed, surely not
//! executed (safe to repeat), maybe executed (repeat only reads), or final.

use super::error::is_rate_code;
use super::BitrixError;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::Url;

/// Pause after `OPERATION_TIME_LIMIT` when the portal gives no `operating_reset_at`
/// (doc §1.7: "~60 s").
const OPERATING_PAUSE: Duration = Duration::from_secs(60);
/// Redirects followed per request (doc §1.4: follow 302, the portal's domain moved).
const MAX_REDIRECTS: usize = 5;

/// How a request failed, as far as retrying is concerned.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The portal did not execute the request (rate codes, connection refused): always safe
    /// to send again, after `pause` when the portal said how long.
    NotExecuted {
        error: BitrixError,
        pause: Option<Duration>,
    },
    /// The request may or may not have run (timeout, reset, 5xx, cut or garbled body).
    Uncertain(BitrixError),
    /// Repeating cannot help (auth, scope, unknown method, business errors).
    Final(BitrixError),
}

/// The transport: an HTTP client and the webhook base URL (a secret: never printed).
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Url,
    pub(crate) timeout: Duration,
}

impl Transport {
    /// POSTs `body` as JSON to `<webhook>/<method>` and returns the success envelope; the
    /// attempt is counted in the metrics by method and outcome.
    pub(crate) async fn post(&self, method: &str, body: &Value) -> Result<Value, Failure> {
        use crate::metrics::{global, Outcome, Remote};
        let started = std::time::Instant::now();
        let result = self.send(method, body).await;
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(Failure::NotExecuted { .. } | Failure::Uncertain(_)) => Outcome::Transient,
            Err(Failure::Final(_)) => Outcome::Error,
        };
        global().record_call(Remote::Bitrix24, method, outcome, started.elapsed());
        result
    }

    async fn send(&self, method: &str, body: &Value) -> Result<Value, Failure> {
        let mut url = self.base.join(method).map_err(|_| {
            Failure::Final(BitrixError::Decode {
                method: method.to_string(),
                detail: "the method name does not form a valid URL".into(),
                garbled: false,
            })
        })?;
        let mut hops = 0;
        let response = loop {
            let response = self
                .http
                .post(url.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(body).expect("JSON value serialises"))
                .send()
                .await
                .map_err(|e| self.request_failure(method, e))?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) && hops < MAX_REDIRECTS {
                let target = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|loc| url.join(loc).ok());
                if let Some(target) = target {
                    // Keep POST and the JSON body: PHP portals answer a moved domain with a
                    // 302, and a GET without the body would silently lose the parameters.
                    url = target;
                    hops += 1;
                    continue;
                }
            }
            break response;
        };
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| {
            Failure::Uncertain(BitrixError::Transport {
                method: method.to_string(),
                detail: format!("the answer was cut off (HTTP {status}): {}", describe(e)),
            })
        })?;
        interpret(method, status, &bytes)
    }

    fn request_failure(&self, method: &str, err: reqwest::Error) -> Failure {
        let err = err.without_url();
        let error = |detail: String| BitrixError::Transport {
            method: method.to_string(),
            detail,
        };
        if err.is_timeout() {
            Failure::Uncertain(error(format!(
                "no answer within {} s",
                self.timeout.as_secs_f64()
            )))
        } else if err.is_connect() {
            Failure::NotExecuted {
                error: error(format!("cannot connect to the portal: {}", describe(err))),
                pause: None,
            }
        } else {
            Failure::Uncertain(error(format!("request failed: {}", describe(err))))
        }
    }
}

/// The error and its sources on one line (reqwest's own text is terse). The caller strips the
/// URL first; the sources are hyper/io errors that never hold it.
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Reads an answer: the success envelope, or the failure it stands for.
pub(crate) fn interpret(method: &str, status: u16, bytes: &[u8]) -> Result<Value, Failure> {
    let json: Value = match serde_json::from_slice(bytes) {
        Ok(json) => json,
        Err(_) => {
            let error = BitrixError::Transport {
                method: method.to_string(),
                detail: format!("HTTP {status} with a body that is not JSON"),
            };
            return Err(match status {
                200..=299 => Failure::Uncertain(BitrixError::Decode {
                    method: method.to_string(),
                    detail: "HTTP 200 with a body that is not JSON".into(),
                    garbled: true,
                }),
                429 => Failure::NotExecuted { error, pause: None },
                500..=599 => Failure::Uncertain(error),
                _ => Failure::Final(error),
            });
        }
    };
    if let Some(code) = json.get("error").filter(|c| !c.is_null()) {
        let code = match code {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let description = json
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let pause = (code == "OPERATION_TIME_LIMIT").then(|| operating_pause(&json));
        let error = BitrixError::Api {
            method: method.to_string(),
            code: code.clone(),
            description,
            http_status: status,
        };
        return Err(if is_rate_code(&code) {
            Failure::NotExecuted { error, pause }
        } else if status >= 500 {
            Failure::Uncertain(error)
        } else {
            Failure::Final(error)
        });
    }
    if json.get("result").is_none() {
        let error = BitrixError::Decode {
            method: method.to_string(),
            detail: format!("HTTP {status} JSON answer without `result` or `error`"),
            garbled: status >= 500,
        };
        return Err(if status >= 500 {
            Failure::Uncertain(error)
        } else {
            Failure::Final(error)
        });
    }
    Ok(json)
}

/// How long to hold a method after `OPERATION_TIME_LIMIT`: until `time.operating_reset_at`
/// (Unix seconds) when given, else about a minute.
pub(crate) fn operating_pause(envelope: &Value) -> Duration {
    let reset_at = envelope
        .get("time")
        .and_then(|t| t.get("operating_reset_at"))
        .and_then(Value::as_f64);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    match reset_at {
        Some(at) if at > now => Duration::from_secs_f64((at - now).min(600.0)),
        Some(_) => Duration::from_secs(1),
        None => OPERATING_PAUSE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_retry_classes() {
        assert!(interpret("m", 200, br#"{"result":1}"#).is_ok());
        assert!(matches!(
            interpret(
                "m",
                503,
                br#"{"error":"QUERY_LIMIT_EXCEEDED","error_description":"x"}"#
            ),
            Err(Failure::NotExecuted { pause: None, .. })
        ));
        assert!(matches!(
            interpret("m", 429, br#"{"error":"OPERATION_TIME_LIMIT"}"#),
            Err(Failure::NotExecuted { pause: Some(p), .. }) if p == OPERATING_PAUSE
        ));
        assert!(matches!(
            interpret("m", 502, b"<html>bad gateway</html>"),
            Err(Failure::Uncertain(_))
        ));
        assert!(matches!(
            interpret("m", 200, b"{\"result\": <html"),
            Err(Failure::Uncertain(BitrixError::Decode {
                garbled: true,
                ..
            }))
        ));
        assert!(matches!(
            interpret("m", 401, br#"{"error":"NO_AUTH_FOUND"}"#),
            Err(Failure::Final(_))
        ));
        assert!(matches!(
            interpret("m", 500, br#"{"error":"ERROR_CORE"}"#),
            Err(Failure::Uncertain(_))
        ));
    }

    #[test]
    fn operating_reset_at_sets_the_pause() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let pause =
            operating_pause(&serde_json::json!({"time": {"operating_reset_at": now + 10.0}}));
        assert!(pause > Duration::from_secs(8) && pause <= Duration::from_secs(10));
    }
}
