//! `GET /files/<token>/<name>`: operators' files re-hosted for Chat2Desk (the client's
//! messenger and Chat2Desk's cloud cannot open a LAN portal's links). The token is the
//! unguessable key a `line_out` job stored with the portal's link and an expiry; the daemon
//! fetches the link (following the portal's own redirects, `/~code` → `/pub/im.file.php`)
//! and streams the file on. Unknown or expired tokens answer 404.
//!
//! Hostile-input rules (SECURITY.md): only the portal's origin is fetched, on the first
//! request and on every redirect; the body is streamed with backpressure (nothing buffered
//! whole), at most [`MAX_DOWNLOADS`] at once and [`LINK_BURST`] per link before a
//! [`LINK_PERIOD`] pace; HEAD asks the portal with HEAD; only raster images, PDF, audio and
//! video are served `inline` under their type, everything else as an
//! `application/octet-stream` attachment, always with `nosniff` and a sandboxing CSP.
//! Nothing here logs the token: it is the file's only key.

use crate::engine::Services;
use crate::server::{not_allowed, not_found, Caller, Listener, Path, Reply, Route, Router};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use governor::state::keyed::HashMapStateStore;
use governor::{clock::DefaultClock, Quota, RateLimiter};
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{
    HeaderValue, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    LOCATION, RETRY_AFTER, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Largest file passed on (bigger ones answer 502, or are cut off when the portal did not
/// say their length, and are logged).
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Redirects followed from the portal's short link.
const MAX_REDIRECTS: usize = 5;
/// Downloads streamed at once; more answer 503 with `Retry-After`.
pub const MAX_DOWNLOADS: usize = 8;
/// Requests one link may take at once before [`LINK_PERIOD`] paces it (429 above).
pub const LINK_BURST: u32 = 10;
/// Once its burst is spent, one more request per link per this period.
pub const LINK_PERIOD: Duration = Duration::from_secs(6);
/// How often expired offers are purged.
pub const PURGE_EVERY: Duration = Duration::from_secs(600);

type LinkLimiter = RateLimiter<String, HashMapStateStore<String>, DefaultClock>;

/// The `/files/` route: the offers in the queue's database, the portal they come from, and
/// the re-hosting's shared limits (the download slots and each link's pace).
#[derive(Debug)]
pub struct FileHost {
    services: Arc<Services>,
    slots: Arc<Semaphore>,
    per_link: LinkLimiter,
}

impl FileHost {
    /// Mounts `/files/…` on the public listener, with limits of `MAX_DOWNLOADS` and
    /// `LINK_BURST` / `LINK_PERIOD`.
    pub fn mount(services: Arc<Services>, router: Router) -> Router {
        let route = Arc::new(Self::new(services));
        router.mount(&[Path::Prefix("/files/")], Listener::Public, route)
    }

    fn new(services: Arc<Services>) -> Self {
        let burst = NonZeroU32::new(LINK_BURST).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(LINK_PERIOD)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            services,
            slots: Arc::new(Semaphore::new(MAX_DOWNLOADS)),
            per_link: RateLimiter::hashmap(quota),
        }
    }

    /// Deletes expired offers and forgets the pace of links not asked for lately; runs
    /// every [`PURGE_EVERY`] until the server stops.
    async fn purge(&self) {
        match self.services.store.purge_hosted_files().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "Purged expired file offers"),
            Err(e) => {
                tracing::warn!(error = %e, hint = e.hint(), "Cannot purge expired file offers")
            }
        }
        self.per_link.retain_recent();
    }

    /// Answers one `/files/…` request; the portal is the only origin fetched from.
    async fn serve(&self, method: &Method, path: &str) -> Reply {
        let store = &self.services.store;
        let (http, portal) = (
            self.services.portal.http(),
            self.services.portal.portal_url(),
        );
        let (http, portal) = (&http, portal.as_str());
        if method != Method::GET && method != Method::HEAD {
            return not_allowed("GET, HEAD").map(Either::Left);
        }
        let Some(token) = token_of(path) else {
            return not_found().map(Either::Left);
        };
        let file = match store.hosted_file(token).await {
            Ok(Some(file)) => file,
            Ok(None) => return not_found().map(Either::Left),
            Err(e) => {
                tracing::warn!(error = %e, hint = e.hint(), "Cannot look a hosted file up");
                return status(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
            }
        };
        if self.per_link.check_key(&token.to_string()).is_err() {
            tracing::warn!(file = %file.name, "Refused a file request over its link's rate");
            return busy(StatusCode::TOO_MANY_REQUESTS, LINK_PERIOD);
        }
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            tracing::warn!(
                file = %file.name,
                limit = MAX_DOWNLOADS,
                "Refused a file request: every download slot is busy"
            );
            return busy(StatusCode::SERVICE_UNAVAILABLE, Duration::from_secs(1));
        };
        let upstream = match fetch(http, portal, method, &file.url).await {
            Ok(upstream) => upstream,
            Err(reason) => {
                tracing::warn!(file = %file.name, reason = %reason, "Cannot fetch an operator's file from the portal for Chat2Desk");
                return status(
                    StatusCode::BAD_GATEWAY,
                    "the portal did not give the file\n",
                );
            }
        };
        tracing::debug!(file = %file.name, bytes = upstream.content_length(), "Serving an operator's file");
        answer(&file.name, method, upstream, slot)
    }
}

impl Route for FileHost {
    fn answer<'a>(&'a self, req: Request<Incoming>, _: Caller<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move { self.serve(req.method(), req.uri().path()).await })
    }

    fn housekeeping(
        self: Arc<Self>,
        shutdown: CancellationToken,
    ) -> Option<BoxFuture<'static, ()>> {
        Some(Box::pin(async move {
            let mut tick = tokio::time::interval(PURGE_EVERY);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => self.purge().await,
                }
            }
        }))
    }
}

/// The token of a `/files/<token>/…` path, when it looks like one of ours.
pub(super) fn token_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/files/")?;
    let token = rest.split('/').next()?;
    let plausible = (32..=128).contains(&token.len())
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    plausible.then_some(token)
}

/// The answer to pass on: headers from the portal's type and the name, and (for GET) the
/// body streamed while `slot` is held.
fn answer(
    name: &str,
    method: &Method,
    upstream: reqwest::Response,
    slot: OwnedSemaphorePermit,
) -> Reply {
    let portal_type = upstream
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = portal_type.unwrap_or_else(|| guess_type(upstream.url().path()).into());
    let (content_type, inline) = served_as(&content_type);
    let length = upstream.content_length();
    let body = if method == Method::HEAD {
        drop(slot);
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed()
    } else {
        // One chunk read from the portal per chunk the client took: backpressure.
        let frames = futures_util::stream::unfold(
            (upstream, slot, 0u64),
            |(mut upstream, slot, sent)| async move {
                // u64::MAX marks a stream already ended by an error.
                if sent == u64::MAX {
                    return None;
                }
                let chunk = match upstream.chunk().await {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => return None,
                    Err(e) => {
                        let cut = Err(e.without_url().to_string());
                        return Some((cut, (upstream, slot, u64::MAX)));
                    }
                };
                let sent = sent.saturating_add(chunk.len() as u64);
                if sent > MAX_FILE_BYTES {
                    tracing::warn!(
                        limit = MAX_FILE_BYTES,
                        "An operator's file is over the size limit; cut off"
                    );
                    let cut = Err(format!("larger than {MAX_FILE_BYTES} bytes"));
                    return Some((cut, (upstream, slot, u64::MAX)));
                }
                Some((Ok(Frame::data(chunk)), (upstream, slot, sent)))
            },
        );
        StreamBody::new(frames).boxed()
    };
    let mut answer = Response::new(Either::Right(body));
    let headers = answer.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition(name, inline)) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    if let Some(length) = length {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
    guard_headers(headers);
    answer
}

/// `nosniff` and a CSP that runs nothing, on every answer of this route.
fn guard_headers(headers: &mut hyper::HeaderMap) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
}

/// The type to answer with and whether `inline`: raster images, PDF, audio and video keep
/// the portal's type (its essence, without parameters); anything else (HTML, SVG, scripts,
/// unknown) is an `application/octet-stream` attachment.
fn served_as(portal_type: &str) -> (&str, bool) {
    let essence = portal_type.split(';').next().unwrap_or("").trim();
    let lower = essence.to_ascii_lowercase();
    let raster = matches!(
        lower.as_str(),
        "image/jpeg" | "image/png" | "image/gif" | "image/webp" | "image/bmp" | "image/avif"
    );
    let media = (lower.starts_with("audio/") || lower.starts_with("video/"))
        && lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/.+-".contains(&b));
    if raster || media || lower == "application/pdf" {
        (essence, true)
    } else {
        ("application/octet-stream", false)
    }
}

/// Asks the portal for `url` with `method` (GET or HEAD), following at most
/// [`MAX_REDIRECTS`] redirects, each of which must stay on `portal`'s origin; the first
/// answer that is not a redirect, when it is a success within [`MAX_FILE_BYTES`].
async fn fetch(
    http: &reqwest::Client,
    portal: &str,
    method: &Method,
    url: &str,
) -> Result<reqwest::Response, String> {
    let mut url = url::Url::parse(url).map_err(|e| format!("bad stored link: {e}"))?;
    let method = if method == Method::HEAD {
        reqwest::Method::HEAD
    } else {
        reqwest::Method::GET
    };
    for _ in 0..=MAX_REDIRECTS {
        if url.origin().ascii_serialization() != portal {
            return Err(format!(
                "refused a link to {} (only the portal's origin {portal} is fetched)",
                url.origin().ascii_serialization()
            ));
        }
        let answer = http
            .request(method.clone(), url.clone())
            .send()
            .await
            .map_err(|e| format!("{method} failed: {}", e.without_url()))?;
        let code = answer.status();
        if code.is_redirection() {
            let location = answer
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("HTTP {code} without a Location"))?;
            url = url
                .join(location)
                .map_err(|e| format!("bad redirect: {e}"))?;
            continue;
        }
        if !code.is_success() {
            return Err(format!("HTTP {code}"));
        }
        if answer.content_length().is_some_and(|n| n > MAX_FILE_BYTES) {
            return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
        }
        return Ok(answer);
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// A content type from a name's extension (when the portal sends none).
fn guess_type(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "txt" => "text/plain; charset=utf-8",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// `inline` or `attachment`, then `filename="…"; filename*=UTF-8''…` (RFC 6266: an ASCII
/// fallback and the real name).
fn disposition(name: &str, inline: bool) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn status(code: StatusCode, body: &'static str) -> Reply {
    let mut answer = Response::new(Either::Left(Full::new(Bytes::from_static(body.as_bytes()))));
    *answer.status_mut() = code;
    answer
}

/// 429 or 503 with `Retry-After` (whole seconds).
fn busy(code: StatusCode, retry: Duration) -> Reply {
    let mut answer = status(code, "too many file requests, retry later\n");
    answer
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry.as_secs().max(1)));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_tokens_are_looked_up() {
        let t = "a".repeat(64);
        assert_eq!(token_of(&format!("/files/{t}/offer.pdf")), Some(t.as_str()));
        assert_eq!(token_of("/files/short/offer.pdf"), None);
        assert_eq!(token_of(&format!("/files/{}%2e/x", "a".repeat(40))), None);
        assert_eq!(token_of("/filesx"), None);
    }

    #[test]
    fn the_name_survives_in_both_disposition_forms() {
        assert_eq!(
            disposition("план \"A\".pdf", true),
            "inline; filename=\"____ _A_.pdf\"; filename*=UTF-8''%D0%BF%D0%BB%D0%B0%D0%BD%20%22A%22.pdf"
        );
        assert_eq!(guess_type("/a/B.PDF"), "application/pdf");
        assert!(disposition("x.html", false).starts_with("attachment; "));
    }

    #[test]
    fn only_passive_types_are_served_inline() {
        assert_eq!(served_as("image/PNG"), ("image/PNG", true));
        assert_eq!(served_as("application/pdf; q=1"), ("application/pdf", true));
        assert_eq!(served_as("video/mp4"), ("video/mp4", true));
        for active in [
            "text/html; charset=utf-8",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/javascript",
            "audio/x\"y",
            "",
        ] {
            assert_eq!(
                served_as(active),
                ("application/octet-stream", false),
                "{active}"
            );
        }
    }
}
