//! URL checks: http(s) shape, the inbound webhook path, and plain-http warnings.
//!
//! The webhook URL is a secret (its path is the key), so problems about it describe the URL
//! and never echo it.

use super::Problem;
use std::net::IpAddr;
use url::{Host, Url};

/// Method names a sysadmin may have pasted after the webhook secret (never a secret themselves).
const METHOD_NAMES: &[&str] = &[
    "profile",
    "scope",
    "methods",
    "batch",
    "app.info",
    "user.current",
];

/// Parses `value` as an absolute http(s) URL with a host, or records a problem under `key`.
/// With `secret`, the problem does not show the value.
pub(crate) fn http_url(
    key: &str,
    value: &str,
    secret: bool,
    out: &mut Vec<Problem>,
) -> Option<Url> {
    let shown = if secret {
        String::new()
    } else {
        format!(" `{value}`")
    };
    let url = match Url::parse(value.trim()) {
        Ok(_) if value.trim().contains(char::is_whitespace) => {
            out.push(Problem::new(
                key,
                format!("value{shown} has a space inside; expected one absolute https:// URL (remove what follows it)"),
            ));
            return None;
        }
        Ok(url) => url,
        Err(e) => {
            out.push(Problem::new(
                key,
                format!("value{shown} is not a valid URL ({e}); expected an absolute https:// URL"),
            ));
            return None;
        }
    };
    if !matches!(url.scheme(), "http" | "https") {
        out.push(Problem::new(
            key,
            format!(
                "URL{shown} has scheme `{}`; expected https:// (http:// only for a test server)",
                url.scheme()
            ),
        ));
        return None;
    }
    if url.host().is_none() {
        out.push(Problem::new(
            key,
            format!("URL{shown} has no host; expected https://<host>/..."),
        ));
        return None;
    }
    if url.query().is_some() || url.fragment().is_some() {
        out.push(Problem::new(
            key,
            format!("URL{shown} has a query or fragment (`?…`, `#…`); remove it: the daemon adds its own paths and parameters"),
        ));
        return None;
    }
    Some(url)
}

/// Checks the inbound webhook shape `.../rest/<user>/<secret>/` (trailing `/` optional) of a
/// URL [`http_url`] accepted (so without query or fragment).
pub(crate) fn webhook_shape(key: &str, url: &Url, out: &mut Vec<Problem>) {
    const EXPECTED: &str =
        "expected the inbound webhook URL https://<portal>/rest/<user id>/<secret>/ \
        as shown in Bitrix24 → Developer resources → Other → Inbound webhook";
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    let Some(rest) = segments.iter().rposition(|s| *s == "rest") else {
        out.push(Problem::new(
            key,
            format!("URL path has no `/rest/` part; {EXPECTED}"),
        ));
        return;
    };
    let tail = &segments[rest + 1..];
    let looks_like_method = |s: &str| {
        let bare = s.strip_suffix(".json").unwrap_or(s);
        METHOD_NAMES.contains(&bare) || bare.contains('.')
    };
    match tail {
        [_, last] if looks_like_method(last) => out.push(Problem::new(
            key,
            format!(
                "URL ends with the method name `{last}` instead of the secret; {EXPECTED} \
                 (the user id and the secret are both needed)"
            ),
        )),
        // Not shown: a swapped path would put the secret here.
        [user, _] if user.parse::<u32>().is_err() => out.push(Problem::new(
            key,
            format!("URL has no user id (a number) right after `/rest/`; {EXPECTED}"),
        )),
        [_, _] => {}
        [_, _, last, ..] => {
            let what = if looks_like_method(last) {
                format!("the method name `{last}`")
            } else {
                "an extra path segment".to_string()
            };
            out.push(Problem::new(
                key,
                format!("URL has {what} after the secret; remove it: {EXPECTED}"),
            ));
        }
        _ => out.push(Problem::new(
            key,
            format!(
                "URL path after `/rest/` is incomplete (user id and secret needed); {EXPECTED}"
            ),
        )),
    }
}

/// A warning when `url` uses plain http:// to a host that is not a loopback address.
pub(crate) fn plain_http_warning(key: &str, url: &Url) -> Option<Problem> {
    if url.scheme() != "http" || is_loopback(url) {
        return None;
    }
    Some(Problem::new(
        key,
        "uses plain http:// to a non-loopback host: the secret travels unencrypted; use https:// \
         (with bitrix24.ca_file for a self-signed portal certificate)",
    ))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// `url` with its password shown as `***` (the whole value as `***` when it does not parse),
/// for logs, errors and the `config` dump.
pub fn mask_password(url: &str) -> String {
    match Url::parse(url.trim()) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "***".to_string(),
    }
}

/// The problems of a `[database] url` value (empty when it is usable), for `store migrate
/// --to`.
pub fn database_url_problems(value: &str) -> Vec<Problem> {
    let mut out = Vec::new();
    database_url("database.url", value, &mut out);
    out
}

/// Checks `[database] url`: a `mysql://` URL with a host, a user and a database name.
/// Problems describe the URL with its password masked.
pub(crate) fn database_url(key: &str, value: &str, out: &mut Vec<Problem>) {
    let expected = "expected mysql://user:password@host:3306/database (MySQL 8 or MariaDB >= \
                    10.6; TLS with ?ssl-mode=required or verify_identity&ssl-ca=/path/ca.pem)";
    let url = match Url::parse(value.trim()) {
        Ok(url) => url,
        Err(e) => {
            out.push(Problem::new(
                key,
                format!("not a valid URL ({e}); {expected}"),
            ));
            return;
        }
    };
    let shown = mask_password(value);
    let wrong = if url.scheme() != "mysql" {
        Some(format!("scheme `{}:` is not supported", url.scheme()))
    } else if url.host_str().is_none_or(str::is_empty) {
        Some("names no host".to_string())
    } else if url.username().is_empty() {
        Some("names no user".to_string())
    } else if url.path().trim_matches('/').is_empty() {
        Some("names no database".to_string())
    } else {
        None
    };
    if let Some(wrong) = wrong {
        out.push(Problem::new(key, format!("`{shown}` {wrong}; {expected}")));
    }
}
