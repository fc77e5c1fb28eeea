//! Hostile use of `/files/`, against the real binary: stored links to an internal host, or
//! portal links redirecting to one, fetch nothing there; active content (HTML, SVG) is
//! served as an `application/octet-stream` attachment, passive types inline, always with
//! `nosniff` and a sandboxing CSP; HEAD asks the portal with HEAD; 12 slow readers of a
//! 60 MiB file get at most 8 download slots while RSS stays under 100 MiB and `/healthz`
//! keeps answering.

mod common;

use chat2desk_b24::store::{HostedFile, Store};
use common::hostile::{target, Target, Watch};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A host inside the firewall: counts connections, answers a page it must not leak.
async fn internal_host() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/admin", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let page = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINTERNAL";
            let _ = sock.write_all(page.as_bytes()).await;
        }
    });
    (url, hits)
}

/// Offers `url` under a new token; the daemon's `/files/` address for it.
async fn offer(t: &Target, url: &str, name: &str) -> String {
    let token = chat2desk_b24::flows::openlines::random_token();
    let store = Store::open(&t.env.db()).await.unwrap();
    let file = HostedFile {
        url: url.to_string(),
        name: name.to_string(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
    };
    store.host_file(&token, &file).await.unwrap();
    format!("{}/files/{token}/{name}", t.base)
}

fn header(answer: &reqwest::Response, name: &str) -> String {
    answer
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_off_the_portal_fetch_nothing_and_active_content_is_never_served_inline() {
    let mut t = target("").await;
    let watch = Watch::start(&t);
    let http = reqwest::Client::new();
    let (internal, hits) = internal_host().await;

    let direct = offer(&t, &internal, "a.pdf").await;
    let redirected = offer(&t, &t.env.portal.attach_redirect(&internal), "b.pdf").await;
    for link in [direct, redirected] {
        let answer = http.get(&link).send().await.unwrap();
        assert_eq!(answer.status(), 502, "{link}");
        assert!(!answer.text().await.unwrap().contains("INTERNAL"));
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the internal host was never asked"
    );

    let page = b"<html><script>alert(document.cookie)</script></html>";
    for (name, kind) in [
        ("x.html", "text/html; charset=utf-8"),
        ("x.svg", "image/svg+xml"),
    ] {
        let link = t.env.portal.attach_file(name, kind, page);
        let answer = http.get(offer(&t, &link, name).await).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(header(&answer, "content-type"), "application/octet-stream");
        assert!(header(&answer, "content-disposition").starts_with("attachment;"));
        assert_eq!(header(&answer, "x-content-type-options"), "nosniff");
        assert_eq!(
            header(&answer, "content-security-policy"),
            "sandbox; default-src 'none'"
        );
    }
    let png = t.env.portal.attach_file("p.png", "image/png", b"\x89PNG");
    let answer = http
        .get(offer(&t, &png, "p.png").await)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&answer, "content-type"), "image/png");
    assert!(header(&answer, "content-disposition").starts_with("inline;"));
    assert_eq!(header(&answer, "x-content-type-options"), "nosniff");

    // HEAD is answered from the portal's HEAD: no download.
    let pdf = t
        .env
        .portal
        .attach_file("o.pdf", "application/pdf", &[b'%'; 4096]);
    let before = t.env.portal.file_requests().len();
    let answer = http
        .head(offer(&t, &pdf, "o.pdf").await)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(header(&answer, "content-type"), "application/pdf");
    let asked = t.env.portal.file_requests()[before..].to_vec();
    assert!(
        !asked.is_empty() && asked.iter().all(|r| r.starts_with("HEAD ")),
        "{asked:?}"
    );

    watch
        .finish()
        .await
        .assert_healthy("files: origins and types");
    t.assert_untouched().await;
}

/// Asks for `url` on a raw connection and reads the status line and 64 KiB; then holds the
/// connection without reading until every reader has its status (`answered`), and `hold`
/// longer: no slot is given back before the last reader was answered, however late the
/// machine's load lets it arrive. The status.
async fn slow_reader(url: String, answered: Arc<tokio::sync::Barrier>, hold: Duration) -> u16 {
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_at(rest.find('/').unwrap());
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let n = tcp.read(&mut buf).await.unwrap();
    let status = String::from_utf8_lossy(&buf[..n])
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    answered.wait().await;
    tokio::time::sleep(hold).await;
    drop(tcp);
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_slow_readers_of_a_60_mib_file_share_8_slots_and_memory_stays_bounded() {
    let mut t = target("").await;
    let big = vec![b'v'; 60 << 20];
    let link = t.env.portal.attach_file("film.mp4", "video/mp4", &big);
    drop(big);
    let url = offer(&t, &link, "film.mp4").await;
    let watch = Watch::start(&t);
    let answered = Arc::new(tokio::sync::Barrier::new(12));
    let hold = Duration::from_secs(2);
    let readers: Vec<_> = (0..12)
        .map(|_| tokio::spawn(slow_reader(url.clone(), answered.clone(), hold)))
        .collect();
    let mut statuses = Vec::new();
    for r in readers {
        let status = tokio::time::timeout(Duration::from_secs(120), r).await;
        statuses.push(status.expect("every reader is answered").unwrap());
    }
    statuses.sort();
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(served, 8, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 429, 503].contains(s)),
        "{statuses:?}"
    );
    watch.finish().await.assert_healthy("files: slow readers");
    t.assert_untouched().await;
}
