//! `GET /files/<token>/<name>`: operators' files re-hosted for Chat2Desk (the client's
//! messenger and Chat2Desk's cloud cannot open a LAN portal's links). The token is the
//! unguessable key a `line_out` job stored with the portal's link and an expiry; the daemon
//! fetches the link (following the portal's redirects, `/~code` → `/pub/im.file.php`) and
//! answers the file with its type and name. Unknown or expired tokens answer 404.
//!
//! The body is read whole, up to [`MAX_FILE_BYTES`] (the listener's answers are buffered).
//! Nothing here logs the token: it is the file's only key.

use super::handler::{not_allowed, not_found, Answer};
use crate::store::Store;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use hyper::{Method, Response, StatusCode};

/// Largest file passed on (bigger ones answer 502 and are logged).
pub const MAX_FILE_BYTES: usize = 64 << 20;
/// Redirects followed from the portal's short link.
const MAX_REDIRECTS: usize = 5;

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

/// Answers one `/files/…` request.
pub(super) async fn serve(
    store: &Store,
    http: &reqwest::Client,
    method: &Method,
    path: &str,
) -> Answer {
    if method != Method::GET && method != Method::HEAD {
        return not_allowed("GET, HEAD");
    }
    let Some(token) = token_of(path) else {
        return not_found();
    };
    let file = match store.hosted_file(token).await {
        Ok(Some(file)) => file,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %e, hint = e.hint(), "Cannot look a hosted file up");
            return status(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
        }
    };
    let (content_type, body) = match fetch(http, &file.url).await {
        Ok(fetched) => fetched,
        Err(reason) => {
            tracing::warn!(file = %file.name, reason = %reason, "Cannot fetch an operator's file from the portal for Chat2Desk");
            return status(
                StatusCode::BAD_GATEWAY,
                "the portal did not give the file\n",
            );
        }
    };
    tracing::debug!(file = %file.name, bytes = body.len(), "Served an operator's file");
    let length = body.len();
    let mut answer = Response::new(Full::new(if method == Method::HEAD {
        Bytes::new()
    } else {
        body
    }));
    let headers = answer.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition(&file.name)) {
        headers.insert(CONTENT_DISPOSITION, v);
    }
    if method == Method::HEAD {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
    answer
}

/// GETs `url`, following redirects; the content type (the portal's, else guessed from the
/// name) and the body.
async fn fetch(http: &reqwest::Client, url: &str) -> Result<(String, Bytes), String> {
    let mut url = url::Url::parse(url).map_err(|e| format!("bad stored link: {e}"))?;
    for _ in 0..=MAX_REDIRECTS {
        let answer = http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("GET failed: {}", e.without_url()))?;
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
        if answer
            .content_length()
            .is_some_and(|n| n > MAX_FILE_BYTES as u64)
        {
            return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
        }
        let content_type = answer
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = content_type.unwrap_or_else(|| guess_type(url.path()).into());
        let mut body = Vec::new();
        let mut answer = answer;
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| format!("body cut off: {}", e.without_url()))?
        {
            if body.len() + chunk.len() > MAX_FILE_BYTES {
                return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        return Ok((content_type, Bytes::from(body)));
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

/// `inline; filename="…"; filename*=UTF-8''…` (RFC 6266: an ASCII fallback and the real name).
fn disposition(name: &str) -> String {
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
    format!("inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn status(code: StatusCode, body: &'static str) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *answer.status_mut() = code;
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
            disposition("план \"A\".pdf"),
            "inline; filename=\"____ _A_.pdf\"; filename*=UTF-8''%D0%BF%D0%BB%D0%B0%D0%BD%20%22A%22.pdf"
        );
        assert_eq!(guess_type("/a/B.PDF"), "application/pdf");
    }
}
