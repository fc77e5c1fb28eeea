//! Can the host of a URL key be reached at all? DNS, then TCP, each with a short limit, so a
//! firewalled host is named within seconds against the URL key (not against the token that
//! was never tried); and the words for a transport failure of the first real call (TLS, no
//! answer).

use std::io::ErrorKind;
use std::time::Duration;
use tokio::net::{lookup_host, TcpStream};
use url::Url;

/// Longest wait for the host name to resolve.
const DNS_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest wait for the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// `host:port` of a URL, for messages (never the path: the webhook's path is its secret).
pub(super) fn host_port(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port_or_known_default().unwrap_or(0);
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The proxy variable the HTTP client would use for this URL, if one is set (then a direct
/// DNS/TCP probe would test the wrong path, so it is skipped).
pub(super) fn proxy_var(url: &Url) -> Option<&'static str> {
    let names: &[&'static str] = if url.scheme() == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names
        .iter()
        .copied()
        .find(|n| std::env::var(n).is_ok_and(|v| !v.trim().is_empty()))
}

/// Resolves and connects to the URL's host; `Err` is the whole message for the URL key.
pub(super) async fn probe(key: &str, url: &Url) -> Result<(), String> {
    let host = url.host_str().unwrap_or("").trim_matches(['[', ']']);
    let port = url.port_or_known_default().unwrap_or(0);
    let at = host_port(url);
    let addrs: Vec<_> = match tokio::time::timeout(DNS_TIMEOUT, lookup_host((host, port))).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(_)) => Vec::new(),
        Err(_) => {
            return Err(format!(
                "the name {host} did not resolve within {} s (DNS); check the DNS servers in \
                 /etc/resolv.conf, or set HTTPS_PROXY when this machine reaches the internet \
                 through a proxy",
                DNS_TIMEOUT.as_secs()
            ))
        }
    };
    if addrs.is_empty() {
        return Err(format!(
            "the name {host} does not resolve (DNS); check the host name in {key} and the DNS \
             servers in /etc/resolv.conf"
        ));
    }
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last = Some(e.kind()),
            Err(_) => last = Some(ErrorKind::TimedOut),
        }
    }
    Err(match last {
        Some(ErrorKind::ConnectionRefused) => format!(
            "{at} refused the connection: nothing listens there, or a firewall rejects it; \
             check the port in {key} and the firewall"
        ),
        Some(ErrorKind::TimedOut) => format!(
            "no connection to {at} within {} s: a firewall drops the traffic or a proxy is \
             needed; check the firewall (outgoing to port {port}), or set HTTPS_PROXY",
            CONNECT_TIMEOUT.as_secs()
        ),
        _ => format!(
            "cannot connect to {at} (no route to the host); check the network, the firewall \
             and the host in {key}"
        ),
    })
}

/// Words for a transport failure of the first call after the TCP probe succeeded (so the
/// fault is TLS or an answer that never comes). `tls_fix` says what to do about an untrusted
/// certificate.
pub(super) fn after_connect(key: &str, url: &Url, detail: &str, tls_fix: &str) -> String {
    let at = host_port(url);
    let lower = detail.to_ascii_lowercase();
    if lower.contains("no answer within") || lower.contains("timed out") {
        return format!(
            "{at} accepts connections but sent no answer within {} s (a firewall or proxy \
             holding the traffic, or no {} server on this port); check {key}, the firewall \
             and the proxy",
            super::ANSWER_TIMEOUT.as_secs(),
            url.scheme()
        );
    }
    if let Some(i) = lower.find("invalid peer certificate") {
        let cause = detail[i..].split(['\n', ')']).next().unwrap_or("").trim();
        return format!(
            "TLS with {at} failed: the certificate is not trusted ({cause}); {tls_fix}"
        );
    }
    if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("corrupt message")
    {
        return format!(
            "TLS with {at} failed: the server does not speak TLS there (is the port right, or \
             should the URL start with http://?); check {key}"
        );
    }
    format!(
        "the connection to {at} broke before an answer; check {key}, the firewall and the proxy"
    )
}
