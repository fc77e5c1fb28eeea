//! The webhook intake's shared setup: the daemon with `[server] webhook_secret` and short
//! limits, the log lines of the test binary, and raw or JSON requests to it.

use super::Env;
use chat2desk_b24::config::{Config, Integration, PollStrategy, Secret};
use chat2desk_b24::store::Store;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const SECRET: &str = "test-secret-0123456789abcdef";

/// Every log line of this test binary (one global subscriber; tests search for their own).
pub fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("chat2desk_b24=debug")
            .with_ansi(false)
            .with_writer(move || Capture(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buffer
    })
}

pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

/// The daemon in-process (through the one seam) with the webhook secret and short server
/// limits; polling off unless the test turns it on.
pub struct Running {
    pub daemon: chat2desk_b24::app::Running,
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
}

impl Running {
    pub async fn start(env: &Env, tweak: impl FnOnce(&mut Config)) -> Running {
        logs();
        let mut config = env.config(Integration::Lead);
        config.server.listen = "127.0.0.1:0".into();
        config.server.webhook_secret = Secret::new(SECRET);
        config.sync.poll_strategy = PollStrategy::Off;
        config.sync.schedule = "* * * * * *".into();
        tweak(&mut config);
        let daemon = super::spawn_limited(config, |settings| {
            settings.header_timeout = Duration::from_millis(300);
            settings.body_timeout = Duration::from_millis(300);
        })
        .await;
        let addr = daemon.webhook_addr().unwrap();
        let metrics = daemon.metrics_addr().unwrap();
        Running {
            daemon,
            addr,
            metrics,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hook(&self) -> String {
        self.url(&format!("/webhook/{SECRET}"))
    }

    pub fn store(&self) -> &Store {
        &self.daemon.services().store
    }

    pub async fn stop(self) {
        self.daemon.stop().await;
    }
}

pub async fn post(client: &reqwest::Client, url: &str, body: serde_json::Value) -> u16 {
    client
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sends raw bytes and returns what the server answered before closing (or timing out).
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server must not wait for a slow client forever"
    );
    String::from_utf8_lossy(&out).into_owned()
}
