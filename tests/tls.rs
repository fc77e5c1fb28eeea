//! TLS towards the portal (rustls): a portal with a certificate from a private CA works when
//! `[bitrix24] ca_file` names that CA, and a certificate from an unknown CA or for another
//! host name is refused with an error that says so.
//!
//! The portal simulator speaks plain HTTP; a small TLS-terminating proxy (tokio-rustls, ring)
//! in front of it serves the generated certificate.

mod common;

use chat2desk_b24::config::Secret;
use chat2desk_b24::http::Backoff;
use chat2desk_b24::portal::{Bitrix24, Bitrix24Options};
use chat2desk_b24::sim::bitrix24::PortalSim;
use common::Env;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A private CA: its PEM and what signs server certificates.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A server certificate for `hosts`, signed by `ca`, as a rustls server config.
fn server_config(ca: &Ca, hosts: &[&str]) -> Arc<ServerConfig> {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, hosts[0]);
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    Arc::new(config)
}

/// Terminates TLS on a free loopback port and forwards the bytes to `backend`.
async fn tls_proxy(config: Arc<ServerConfig>, backend: SocketAddr) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A refused handshake simply ends the connection.
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// The portal's webhook URL with its origin swapped for `https://<host>:<port>`.
fn https_webhook(portal: &PortalSim, host: &str, port: u16) -> String {
    let plain = portal.webhook_url();
    let path = plain.strip_prefix(&portal.base_url()).unwrap();
    format!("https://{host}:{port}{path}")
}

fn write_pem(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

fn client(webhook: String, ca_file: Option<PathBuf>) -> Bitrix24 {
    let mut opts = Bitrix24Options::from_config(&Default::default());
    opts.webhook_url = Secret::new(webhook);
    opts.ca_file = ca_file;
    opts.requests_per_second = 0.0;
    opts.timeout = Duration::from_secs(3);
    opts.max_retries = 0;
    opts.backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
    Bitrix24::new(opts).expect("client builds")
}

async fn portal_addr(portal: &PortalSim) -> SocketAddr {
    portal
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

/// A TLS proxy in front of a portal simulator, its certificate for `hosts` signed by a private
/// CA whose PEM is in `ca_file`.
struct Tls {
    port: u16,
    ca_file: PathBuf,
    dir: tempfile::TempDir,
}

async fn tls_in_front_of(portal: &PortalSim, hosts: &[&str]) -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let ca = new_ca("Portal Test CA");
    let port = tls_proxy(server_config(&ca, hosts), portal_addr(portal).await).await;
    let ca_file = write_pem(dir.path(), "ca.pem", &ca.pem);
    Tls { port, ca_file, dir }
}

#[tokio::test]
async fn a_private_ca_in_ca_file_is_trusted() {
    let portal = PortalSim::start().await.unwrap();
    let tls = tls_in_front_of(&portal, &["localhost"]).await;
    let b24 = client(
        https_webhook(&portal, "localhost", tls.port),
        Some(tls.ca_file),
    );
    let profile = b24.profile().await.expect("the portal answers over TLS");
    assert_eq!(profile.id, 1);
    assert!(b24.portal_url().starts_with("https://localhost:"));
}

#[tokio::test]
async fn unknown_ca_is_refused_with_a_certificate_error() {
    let portal = PortalSim::start().await.unwrap();
    let tls = tls_in_front_of(&portal, &["localhost"]).await;
    let url = https_webhook(&portal, "localhost", tls.port);
    let other = write_pem(tls.dir.path(), "other.pem", &new_ca("Some Other CA").pem);
    for ca_file in [None, Some(other)] {
        let err = client(url.clone(), ca_file.clone())
            .profile()
            .await
            .expect_err("an untrusted certificate is refused");
        let text = err.to_string();
        assert!(text.contains("certificate"), "{text}");
        assert!(
            text.contains("UnknownIssuer") || text.to_lowercase().contains("unknown issuer"),
            "{ca_file:?}: {text}"
        );
        assert_eq!(err.method(), "profile");
        assert!(!err.is_transient(), "not retried forever: {text}");
        assert!(err.hint().contains("ca_file"), "{}", err.hint());
        assert!(portal.http_requests() == 0, "nothing reached the portal");
    }
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let portal = PortalSim::start().await.unwrap();
    let tls = tls_in_front_of(&portal, &["portal.example.ru"]).await;
    let err = client(
        https_webhook(&portal, "localhost", tls.port),
        Some(tls.ca_file),
    )
    .profile()
    .await
    .expect_err("a certificate for another name is refused");
    let text = err.to_string();
    assert!(text.contains("certificate"), "{text}");
    assert!(
        text.contains("NotValidForName") || text.to_lowercase().contains("not valid for"),
        "{text}"
    );
    assert_eq!(portal.http_requests(), 0);
}

#[tokio::test]
async fn a_ca_file_that_is_not_pem_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_pem(dir.path(), "ca.pem", "not a certificate\n");
    let mut opts = Bitrix24Options::from_config(&Default::default());
    opts.webhook_url = Secret::new("https://localhost:1/rest/1/abc/".to_string());
    opts.ca_file = Some(path);
    let err = Bitrix24::new(opts).expect_err("no certificate in the file");
    assert!(err.to_string().contains("ca_file"), "{err}");
}

/// The real binary's `check` with `ca_file` passes over TLS, and names the certificate
/// problem without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_uses_ca_file_and_names_the_certificate_problem() {
    let env = Env::new().await;
    let tls = tls_in_front_of(&env.portal, &["localhost"]).await;
    let config = env
        .config_file()
        .set(
            "bitrix24.webhook_url",
            https_webhook(&env.portal, "localhost", tls.port),
        )
        .set("bitrix24.timeout_secs", 3);
    let run = |path: PathBuf| {
        let (out, text) = common::output(common::command(&path, &["check"]));
        (out.status.success(), text)
    };

    let with_ca = config
        .clone()
        .set("bitrix24.ca_file", tls.ca_file.display().to_string())
        .write();
    let (ok, text) = tokio::task::spawn_blocking(move || run(with_ca))
        .await
        .unwrap();
    assert!(ok, "check passes over TLS with ca_file:\n{text}");

    let without = config.write();
    let (ok, text) = tokio::task::spawn_blocking(move || run(without))
        .await
        .unwrap();
    assert!(!ok, "check fails without ca_file:\n{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("FAIL") && l.contains("certificate"))
        .unwrap_or_else(|| panic!("a FAIL line names the certificate:\n{text}"));
    assert!(
        line.contains("UnknownIssuer") || line.to_lowercase().contains("unknown issuer"),
        "{line}"
    );
}
