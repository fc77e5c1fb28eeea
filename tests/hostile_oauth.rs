//! The local application's token requests against an OAuth server that will not do what a
//! careless client relies on, with the real binary: the simulated `/oauth/token/` set to
//! refuse a GET (the secrets would travel in a URL), so the code exchange and the refresh
//! succeed only as POSTs; a token endpoint that answers with a redirect is not followed (the secret would
//! go to the redirect's host), the error names `[bitrix24.app] oauth_url`, and nothing is
//! stored or rotated.

mod common;

use chat2desk_b24::sim::bitrix24::PortalSim;
use common::bridge::bridge;
use common::{command, output};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_are_posts_and_a_redirecting_token_endpoint_is_not_followed() {
    let b = bridge("").await;
    let portal = &b.env.portal;
    portal.refuse_token_get(true);
    let get = reqwest::get(format!(
        "{}/oauth/token/?grant_type=refresh_token&client_id=a&client_secret=b&refresh_token=c",
        portal.oauth_url()
    ))
    .await
    .unwrap();
    assert_eq!(get.status(), 405, "the endpoint refuses secrets in a URL");
    assert_eq!(get.headers()["allow"], "POST");

    // The token endpoint redirects to another server: the code exchange stops there.
    let elsewhere = PortalSim::start().await.unwrap();
    let away = Some(format!("{}/oauth/token/", elsewhere.oauth_url()));
    portal.redirect_token_requests(away.clone());
    let (status, page) = b.connect().await;
    assert_eq!(status, 502, "{page}");
    assert!(page.contains("redirect, not followed"), "{page}");
    assert!(page.contains("[bitrix24.app] oauth_url"), "{page}");
    assert_eq!(
        elsewhere.http_requests(),
        0,
        "nothing reached the other host"
    );
    assert!(b.store().await.grant().await.unwrap().is_none(), "no grant");

    portal.redirect_token_requests(None);
    let (status, page) = b.connect().await;
    assert_eq!(status, 200, "{page}");
    let connected = b.store().await.grant().await.unwrap().unwrap();

    // A refresh through the redirect: refused with the key to fix, the stored pair kept.
    portal.expire_access_tokens();
    portal.redirect_token_requests(away);
    let (out, text) = output(command(&b.daemon.config, &["openlines"]));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("oauth/token"), "names the call: {text}");
    assert!(text.contains("[bitrix24.app] oauth_url"), "{text}");
    let kept = b.store().await.grant().await.unwrap().unwrap();
    assert_eq!(kept.refresh_token, connected.refresh_token, "not rotated");
    assert!(kept.revoked.is_none(), "a redirect is not a revocation");
    assert_eq!(
        elsewhere.http_requests(),
        0,
        "nothing reached the other host"
    );

    portal.redirect_token_requests(None);
    let (out, text) = output(command(&b.daemon.config, &["openlines"]));
    assert!(out.status.success(), "{text}");
    let refreshed = b.store().await.grant().await.unwrap().unwrap();
    assert_ne!(refreshed.refresh_token, connected.refresh_token, "rotated");

    let grants = portal.token_grants();
    assert_eq!(grants.get("authorization_code"), Some(&1), "{grants:?}");
    assert!(grants.get("refresh_token") >= Some(&1), "{grants:?}");
    let methods = portal.token_methods();
    assert_eq!(
        methods.get("GET"),
        Some(&1),
        "only this test's GET: {methods:?}"
    );
    assert_eq!(methods.keys().collect::<Vec<_>>(), ["GET", "POST"]);
}

/// A token endpoint on loopback that answers each request with `body`; the request lines
/// and bodies it received.
async fn token_server(body: String) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen, requests) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as many body bytes as Content-Length says.
            let complete = |got: &[u8]| {
                let text = String::from_utf8_lossy(got);
                let Some((head, rest)) = text.split_once("\r\n\r\n") else {
                    return false;
                };
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0usize);
                rest.len() >= length
            };
            while !complete(&got) {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let _ = seen.send(String::from_utf8_lossy(&got).into_owned());
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(answer.as_bytes()).await;
        }
    });
    (url, requests)
}

#[tokio::test]
async fn absurd_token_lifetimes_are_capped_and_the_secrets_travel_in_the_body() {
    use chat2desk_b24::config::Secret;
    use chat2desk_b24::portal::OAuthClient;
    let year = chrono::Duration::days(366);
    for expires_in in [
        "9223372036854775807",
        "-9223372036854775808",
        "\"99999999999999999999\"",
        "1e308",
    ] {
        let body = format!(
            "{{\"access_token\":\"a1\",\"refresh_token\":\"r1\",\"expires_in\":{expires_in}}}"
        );
        let (url, mut requests) = token_server(body).await;
        let secret = Secret::new("client-secret-0042".to_string());
        let oauth = OAuthClient::new(
            &url,
            "local.app",
            &secret,
            std::time::Duration::from_secs(5),
        )
        .unwrap();
        let before = chrono::Utc::now();
        let tokens = oauth.exchange_code("code-0042").await.unwrap();
        assert!(tokens.expires_at >= before, "{expires_in}");
        assert!(
            tokens.expires_at <= before + year,
            "{expires_in}: {}",
            tokens.expires_at
        );
        let refreshed = oauth.refresh(&tokens.refresh_token).await.unwrap();
        assert!(
            refreshed.expires_at <= chrono::Utc::now() + year,
            "{expires_in}"
        );
        for _ in 0..2 {
            let request = requests.recv().await.unwrap();
            let (line, rest) = request.split_once("\r\n").unwrap();
            assert_eq!(line, "POST /oauth/token/ HTTP/1.1", "{request}");
            let form = rest.split_once("\r\n\r\n").unwrap().1;
            assert!(form.contains("client_secret=client-secret-0042"), "{form}");
            assert!(!line.contains("secret") && !line.contains("r1"), "{line}");
        }
    }
}
