//! The hostile-input suite's target and watch: the real binary with every route on (the
//! business-process action, the local application, `/files/`), and a watcher that asks
//! `/healthz` every 25 ms and samples the process's RSS while the attacks run.

use super::{free_port, Binary, Env};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `[bizproc] secret` of the target.
pub const BIZPROC_SECRET: &str = "hostile-bizproc-secret-0123456789";
/// The bound on the daemon's resident memory while attacked (the 100 MiB).
pub const RSS_LIMIT: u64 = 100 << 20;

/// The p99 `/healthz` bound: 100 ms, or `HOSTILE_HEALTHZ_P99_MS` on a machine too loaded
/// to promise it (CI keeps the default).
pub fn healthz_bound() -> Duration {
    let ms = std::env::var("HOSTILE_HEALTHZ_P99_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    Duration::from_millis(ms)
}

/// The simulators and the daemon under attack.
pub struct Target {
    /// Simulators and scratch directory.
    pub env: Env,
    /// The real binary.
    pub daemon: Binary,
    /// `http://127.0.0.1:<listen>`.
    pub base: String,
    /// The portal's calls by method once the daemon ran (the scenario's seeding included).
    calls_at_start: std::collections::BTreeMap<String, u64>,
}

/// The daemon with `[bizproc]`, `[bitrix24.app]` (registered on the portal sim, not
/// connected) and `extra` TOML.
pub async fn target(extra: &str) -> Target {
    let env = Env::new().await;
    let listen = free_port();
    let base = format!("http://127.0.0.1:{listen}");
    let (client_id, secret) = env.portal.register_app(
        &format!("{base}/bitrix24/app"),
        &["imopenlines", "imconnector", "im", "crm", "user"],
    );
    let config = format!(
        "[bizproc]\nsecret = \"{BIZPROC_SECRET}\"\n[bitrix24.app]\nclient_id = \"{client_id}\"\n\
         client_secret = \"{secret}\"\noauth_url = \"{}\"\ndaemon_url = \"{base}\"\n{extra}",
        env.portal.oauth_url()
    );
    let daemon = env.spawn_daemon_at(listen, &config).await;
    let calls_at_start = env.portal.calls_by_method();
    Target {
        env,
        daemon,
        base,
        calls_at_start,
    }
}

impl Target {
    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.daemon.child.as_ref().expect("the daemon runs").0.id()
    }

    /// Asserts the daemon still runs and nothing reached Chat2Desk, the portal's write
    /// methods, or the queue.
    pub async fn assert_untouched(&mut self) {
        let child = &mut self.daemon.child.as_mut().expect("the daemon runs").0;
        assert!(
            child.try_wait().unwrap().is_none(),
            "the daemon exited; log:\n{}",
            self.daemon.log_tail()
        );
        assert!(self.env.c2d.message_posts().is_empty(), "nothing sent");
        let writes: Vec<String> = self
            .env
            .portal
            .calls_by_method()
            .into_iter()
            .filter(|(m, n)| self.calls_at_start.get(m) != Some(n))
            .map(|(m, _)| m)
            .filter(|m| {
                [
                    "add", "update", "send", "set", "bind", "register", "activate",
                ]
                .iter()
                .any(|verb| m.contains(verb))
            })
            .collect();
        assert!(writes.is_empty(), "portal writes: {writes:?}");
        let store = chat2desk_b24::store::Store::open(&self.env.db())
            .await
            .unwrap();
        let counts = store.counts().await.unwrap();
        assert_eq!(counts.pending + counts.done, 0, "nothing queued");
        assert!(store.grant().await.unwrap().is_none(), "no grant stored");
    }
}

/// What the watch saw.
#[derive(Debug, Default)]
pub struct Samples {
    /// Time to each `/healthz` answer.
    pub latencies: Vec<Duration>,
    /// Time to each answer of the control, an idle loopback server probed right after each
    /// `/healthz`: what the machine's load alone costs a probe.
    pub control: Vec<Duration>,
    /// Probes that failed or did not answer 200.
    pub failures: Vec<String>,
    /// Largest RSS seen, bytes.
    pub max_rss: u64,
}

/// The 99th percentile of `latencies`.
fn p99_of(latencies: &[Duration]) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let index = (sorted.len() * 99).div_ceil(100).saturating_sub(1);
    sorted.get(index).copied().unwrap_or_default()
}

impl Samples {
    /// The 99th percentile of the `/healthz` latencies.
    pub fn p99(&self) -> Duration {
        p99_of(&self.latencies)
    }

    /// Every probe answered 200, p99 within [`healthz_bound`] plus the control's p99 (on an
    /// idle machine about 0; on one whose cores other processes hold, the stall every
    /// process there suffers, which is not the daemon's), RSS within [`RSS_LIMIT`].
    pub fn assert_healthy(&self, what: &str) {
        assert!(self.failures.is_empty(), "{what}: {:?}", self.failures);
        let control = p99_of(&self.control);
        println!(
            "{what}: /healthz p99 {:?} over {} probes (control p99 {control:?}), max RSS {} MiB",
            self.p99(),
            self.latencies.len(),
            self.max_rss >> 20
        );
        assert!(
            self.p99() <= healthz_bound() + control,
            "{what}: /healthz p99 {:?} over {:?} + the control's {control:?}",
            self.p99(),
            healthz_bound()
        );
        assert!(
            self.max_rss <= RSS_LIMIT,
            "{what}: RSS {} MiB over {} MiB",
            self.max_rss >> 20,
            RSS_LIMIT >> 20
        );
    }
}

/// Probes `/healthz` and samples RSS until [`Watch::finish`], from a thread of its own: the
/// probes' timing is the daemon's, not that of the test's runtime, whose two workers also run
/// the simulators (copying a 60 MiB file per request) and the attackers.
pub struct Watch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Samples>,
}

impl Watch {
    /// Starts watching `target`.
    pub fn start(target: &Target) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let url = target.daemon.metrics_url("/healthz");
        let pid = target.pid();
        let flag = stop.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let thread = std::thread::spawn(move || runtime.block_on(probe(&url, pid, &flag)));
        Watch { stop, thread }
    }

    /// Stops; what was seen.
    pub async fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread;
        tokio::task::spawn_blocking(move || thread.join().expect("the watch ran"))
            .await
            .unwrap()
    }
}

/// Asks `url` every 25 ms and samples the RSS of `pid` until `stop` (at least 5 probes).
async fn probe(url: &str, pid: u32, stop: &AtomicBool) -> Samples {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let control = control_server();
    let mut samples = Samples::default();
    // At least a few probes, however short the attack.
    while !stop.load(Ordering::Relaxed) || samples.latencies.len() + samples.failures.len() < 5 {
        let started = Instant::now();
        match http.get(url).send().await {
            Ok(r) if r.status() == 200 => samples.latencies.push(started.elapsed()),
            Ok(r) => samples.failures.push(format!("HTTP {}", r.status())),
            Err(e) => samples.failures.push(e.to_string()),
        }
        let started = Instant::now();
        if http.get(&control).send().await.is_ok() {
            samples.control.push(started.elapsed());
        }
        samples.max_rss = samples.max_rss.max(rss_of(pid));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    samples
}

/// The control: a loopback server on a thread of its own that answers every request at once;
/// its URL.
fn control_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((mut sock, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if sock.write_all(ok).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
    });
    url
}

/// Resident memory of `pid` in bytes (`VmRSS` of `/proc/<pid>/status`; 0 when unknown).
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
