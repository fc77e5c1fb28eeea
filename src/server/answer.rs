//! Answers every route shares: the buffered and streamed reply types, the client's address
//! behind trusted proxies, a body read within limits, and the plain answers (200, 404, 405).
//!
//! Nothing here logs the request path or query: they may carry a secret.

use super::ServerSettings;
use crate::config::Cidr;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use std::net::IpAddr;

/// A buffered answer (every route but `/files/`).
pub type Answer = Response<Full<Bytes>>;

/// What a connection is answered: buffered, or a file streamed from the portal.
pub type Reply = Response<Either<Full<Bytes>, BoxBody<Bytes, String>>>;

/// Largest form accepted on `/bizproc/*` and `POST /bitrix24/app` (413 above): the
/// activity's call is a few hundred bytes plus the text (the action caps it at
/// 10,000 characters).
pub const FORM_LIMIT: usize = 64 << 10;

/// Reads a whole body within `limit` bytes (413 above, checked against `Content-Length`
/// first) and the body timeout (408); the error is the status and reason.
pub async fn read_body(
    req: Request<Incoming>,
    s: &ServerSettings,
    limit: usize,
) -> Result<Bytes, (StatusCode, &'static str)> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit"));
    }
    let body = Limited::new(req.into_body(), limit).collect();
    match tokio::time::timeout(s.body_timeout, body).await {
        Err(_) => Err((StatusCode::REQUEST_TIMEOUT, "body not received in time")),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err((StatusCode::PAYLOAD_TOO_LARGE, "body over the size limit"))
        }
        Ok(Err(_)) => Err((StatusCode::BAD_REQUEST, "body cut off")),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the last
/// `X-Forwarded-For` hop that is not itself a trusted proxy. A hop that is not an address
/// fails closed: the client is `0.0.0.0`, which no `allow_from` network but `0.0.0.0/0` holds.
pub fn client_ip(peer: IpAddr, req: &Request<Incoming>, trusted: &[Cidr]) -> IpAddr {
    if !Cidr::any_contains(trusted, peer) {
        return peer;
    }
    let hops: Option<Vec<IpAddr>> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(|hop| hop.trim().parse().ok())
        .collect();
    let Some(hops) = hops else {
        return IpAddr::from([0, 0, 0, 0]);
    };
    hops.iter()
        .rev()
        .find(|ip| !Cidr::any_contains(trusted, **ip))
        .or(hops.first())
        .copied()
        .unwrap_or(peer)
}

/// `{"status":"success"}`, the answer Chat2Desk and the portal expect.
pub fn ok() -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from_static(b"{\"status\":\"success\"}")));
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    answer
}

/// 404, the same for an unknown path and a refused secret.
pub fn not_found() -> Answer {
    text(StatusCode::NOT_FOUND, "Not Found\n")
}

/// 405 with the methods the path allows.
pub fn not_allowed(allow: &'static str) -> Answer {
    let mut answer = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    answer
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    answer
}

/// A plain-text answer.
pub fn text(status: StatusCode, body: &str) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body.to_string())));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    answer
}

/// Escapes text for HTML (element content and quoted attributes).
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The pairs of a query string or a form body (`application/x-www-form-urlencoded`).
pub fn form_pairs(text: &str) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}
