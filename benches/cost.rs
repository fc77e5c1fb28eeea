//! What the daemon ALONE costs per transcript (`cargo bench --bench cost`): the simulators
//! run in a process of their own (this bench re-executed with `COST_BENCH_SIMS` set, driven
//! over its stdin), so neither they nor this process compete with the daemon for the
//! measurement; the daemon's CPU time is read from `/proc/<pid>/stat` (utime + stime) and
//! its peak RSS from `/proc/<pid>/status` (`VmHWM`). Prints a table, asserts only
//! exactly-once (via the rig's checks), nothing about speed.
//!
//! a/b. a backlog of closed requests (existing clients with an open lead / new clients),
//!      polled in, against a portal answering in 50 ms;
//! c.   requests closed at 50 per second with `close_request` webhooks, unlimited portal:
//!      close → comment latency;
//! d/e. a trickle (one close every 500 ms) with webhooks against a portal answering in
//!      50 ms: portal calls per transcript in the everyday case.
//!
//! `COST_REQUESTS` (default 10,000), `COST_TRICKLE` (default 40) change the sizes,
//! `COST_WORKERS` the daemon's `sync.workers`; with `COST_METHODS` set, each scenario also
//! prints the portal's sub-calls by method to stderr.

#[path = "support/rig.rs"]
mod rig;

use rig::{fixture, Daemon, Mix, Rig};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the simulators' process: the scenario to build.
const SIMS_ROLE: &str = "COST_BENCH_SIMS";

/// `COST_WORKERS`: `sync.workers` of the daemon, else its default (the test fixture's
/// config sets 4).
fn workers() -> usize {
    let default = chat2desk_b24::config::SyncConfig::default().workers;
    env_or("COST_WORKERS", default)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the simulators' process is asked to build.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Setup {
    clients: usize,
    existing: bool,
    portal_latency_ms: u64,
    webhooks: bool,
    /// `sync.workers` (`COST_WORKERS`, else the daemon's default).
    workers: usize,
}

// ---------------------------------------------------------------------------------------
// The simulators' process.

/// Builds the rig, prints where its config is, then answers one command per stdin line:
/// `close FROM TO RATE` (conversations of clients FROM..TO closed, RATE per second, 0 = at
/// once), `wait N` (until N jobs settled), `stats` (calls answered so far), `latency FROM`
/// (exactly-once checks, then p50/p99 close → done of the closes from index FROM), `quit`.
async fn sims(setup: Setup) {
    let mix = if setup.existing {
        Mix::Existing
    } else {
        Mix::New
    };
    let rig = Rig::new(setup.clients, mix).await;
    rig.portal
        .faults()
        .set_latency(Duration::from_millis(setup.portal_latency_ms));
    let (listen, metrics) = (fixture::free_port(), fixture::free_port());
    let config = rig
        .config_file()
        .set("sync.workers", setup.workers as i64)
        .set("chat2desk.timeout_secs", 5)
        .set("bitrix24.timeout_secs", 5)
        .set("sync.poll_strategy", "messages")
        .set("sync.schedule", "0 * * * * *")
        .set("sync.max_attempts", 1000)
        .set("server.listen", format!("127.0.0.1:{listen}"))
        .set("server.metrics_listen", format!("127.0.0.1:{metrics}"))
        .set("server.webhook_secret", fixture::WEBHOOK_SECRET)
        .write();
    if setup.webhooks {
        let answer = reqwest::Client::new()
            .post(format!("{}/v1/webhooks", rig.c2d.url()))
            .header("Authorization", rig.c2d.token())
            .json(&json!({
                "url": format!("http://127.0.0.1:{listen}/webhook/{}", fixture::WEBHOOK_SECRET),
                "name": "bench",
                "events": ["close_request"],
            }))
            .send()
            .await
            .expect("webhook registers");
        assert!(answer.status().is_success(), "{answer:?}");
    }
    println!(
        "{}",
        json!({"config": config, "log": rig.log(), "db": rig.db()})
    );
    let mut closed: Vec<(i64, i64, chrono::DateTime<chrono::Utc>)> = Vec::new();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        let words: Vec<&str> = line.split_whitespace().collect();
        let arg = |i: usize| {
            words
                .get(i)
                .and_then(|w| w.parse::<usize>().ok())
                .unwrap_or(0)
        };
        let answer = match words.first().copied() {
            Some("close") => {
                let (from, to, rate) = (arg(1), arg(2), arg(3));
                let start = Instant::now();
                for (k, client) in rig.clients[from..to].iter().enumerate() {
                    if rate > 0 {
                        let due = start + Duration::from_secs_f64(k as f64 / rate as f64);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let (request, at) = rig.converse(client, 0);
                    closed.push((request, client.id, at));
                }
                json!({"closed": closed.len()})
            }
            Some("wait") => {
                rig.wait_settled(arg(1), Duration::from_secs(7200)).await;
                json!({"settled": arg(1)})
            }
            Some("stats") => json!({
                "chat2desk_calls": rig.c2d.api_calls(),
                "portal_calls": rig.portal.http_requests(),
                "portal_methods": rig.portal.calls_by_method(),
            }),
            Some("latency") => {
                let done = rig.verify(&closed).await;
                let mut ms: Vec<f64> = closed[arg(1)..]
                    .iter()
                    .map(|(r, _, at)| (done[r] - *at).num_microseconds().unwrap_or(0) as f64 / 1e3)
                    .collect();
                ms.sort_by(f64::total_cmp);
                let pct = |p: f64| {
                    ms.get(((ms.len() as f64 - 1.0) * p).round() as usize)
                        .copied()
                        .unwrap_or(0.0)
                };
                json!({"p50_ms": pct(0.5), "p99_ms": pct(0.99)})
            }
            Some("quit") | None => break,
            Some(other) => json!({"error": other}),
        };
        println!("{answer}");
        std::io::stdout().flush().expect("stdout");
    }
}

// ---------------------------------------------------------------------------------------
// The measuring process.

/// The simulators' process and its pipes.
struct Sims {
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
    config: PathBuf,
    log: PathBuf,
    db: PathBuf,
}

impl Sims {
    fn start(setup: &Setup) -> Sims {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env(SIMS_ROLE, serde_json::to_string(setup).unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("simulators start");
        let to = child.stdin.take().unwrap();
        let mut from = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        from.read_line(&mut line).expect("simulators answer");
        let v: Value = serde_json::from_str(&line).expect("paths");
        let path = |k: &str| PathBuf::from(v[k].as_str().unwrap());
        Sims {
            config: path("config"),
            log: path("log"),
            db: path("db"),
            child,
            to,
            from,
        }
    }

    fn ask(&mut self, command: &str) -> Value {
        writeln!(self.to, "{command}").expect("command");
        let mut line = String::new();
        self.from.read_line(&mut line).expect("answer");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("answer to {command}: {line}"))
    }

    fn calls(&mut self) -> (u64, u64) {
        let v = self.ask("stats");
        (
            v["chat2desk_calls"].as_u64().unwrap(),
            v["portal_calls"].as_u64().unwrap(),
        )
    }

    /// Waits until the daemon has polled once (the messages cursor is set: what closes
    /// afterwards is new traffic).
    async fn wait_first_poll(&self) {
        let location = chat2desk_b24::store::Location::Sqlite(self.db.clone());
        let start = Instant::now();
        while !rig::polled_once(&location).await {
            assert!(start.elapsed() < Duration::from_secs(60), "no first poll");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sims {
    fn drop(&mut self) {
        let _ = writeln!(self.to, "quit");
        let _ = self.child.wait();
    }
}

/// The daemon's CPU time so far (user + system), from `/proc/<pid>/stat`.
fn cpu(d: &Daemon) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", d.child.id())).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_secs_f64(ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// One scenario's numbers.
struct Row {
    name: &'static str,
    requests: usize,
    elapsed: Duration,
    cpu: Duration,
    chat2desk_calls: u64,
    portal_calls: u64,
    latency: Option<(f64, f64)>,
    peak_rss_kib: u64,
}

/// The counters when a scenario's measurement starts.
struct Mark {
    start: Instant,
    cpu: Duration,
    chat2desk_calls: u64,
    portal_calls: u64,
}

impl Mark {
    fn now(sims: &mut Sims, d: &Daemon) -> Self {
        let (chat2desk_calls, portal_calls) = sims.calls();
        Self {
            start: Instant::now(),
            cpu: cpu(d),
            chat2desk_calls,
            portal_calls,
        }
    }
}

/// Waits until the scenario's `n` jobs settled, stops the daemon and reads the numbers since
/// `mark` (close → comment latency for the live scenarios).
fn settle(sims: &mut Sims, d: Daemon, name: &'static str, n: usize, mark: Mark, live: bool) -> Row {
    sims.ask(&format!("wait {n}"));
    let (elapsed, cpu) = (mark.start.elapsed(), cpu(&d));
    let (c2d, portal) = sims.calls();
    if std::env::var_os("COST_METHODS").is_some() {
        // The portal's sub-calls by method since the simulators started (first poll included).
        eprintln!("{name}: {}", sims.ask("stats")["portal_methods"]);
    }
    let peak = d.memory_kib("VmHWM").unwrap_or(0);
    d.stop();
    let lat = sims.ask("latency 0");
    Row {
        name,
        requests: n,
        elapsed,
        cpu: cpu - mark.cpu,
        chat2desk_calls: c2d - mark.chat2desk_calls,
        portal_calls: portal - mark.portal_calls,
        latency: live.then(|| {
            (
                lat["p50_ms"].as_f64().unwrap(),
                lat["p99_ms"].as_f64().unwrap(),
            )
        }),
        peak_rss_kib: peak,
    }
}

/// a/b: a backlog closed while the daemon is stopped, then synced.
async fn backlog(name: &'static str, n: usize, existing: bool, latency_ms: u64) -> Row {
    let mut sims = Sims::start(&Setup {
        clients: n,
        existing,
        portal_latency_ms: latency_ms,
        webhooks: false,
        workers: workers(),
    });
    let mut d = Daemon::spawn(&sims.config, &sims.log, "warn");
    d.wait_ready(Duration::from_secs(60));
    sims.wait_first_poll().await;
    d.stop();
    sims.ask(&format!("close 0 {n} 0"));
    let (chat2desk_calls, portal_calls) = sims.calls();
    let mut d = Daemon::spawn(&sims.config, &sims.log, "warn");
    d.wait_ready(Duration::from_secs(60));
    // The calls count from before the start (its first poll is the backlog's), the time and
    // CPU from READY.
    let mark = Mark {
        start: Instant::now(),
        cpu: cpu(&d),
        chat2desk_calls,
        portal_calls,
    };
    settle(&mut sims, d, name, n, mark, false)
}

/// c/d/e: closes at `rate` per second with webhooks while the daemon runs.
async fn live(name: &'static str, n: usize, existing: bool, rate: usize, latency_ms: u64) -> Row {
    let mut sims = Sims::start(&Setup {
        clients: n,
        existing,
        portal_latency_ms: latency_ms,
        webhooks: true,
        workers: workers(),
    });
    let mut d = Daemon::spawn(&sims.config, &sims.log, "warn");
    d.wait_ready(Duration::from_secs(60));
    sims.wait_first_poll().await;
    let mark = Mark::now(&mut sims, &d);
    sims.ask(&format!("close 0 {n} {rate}"));
    settle(&mut sims, d, name, n, mark, true)
}

/// Idle RSS two seconds after the first poll, and the binary's size.
async fn idle() -> String {
    let sims = Sims::start(&Setup {
        clients: 0,
        existing: true,
        portal_latency_ms: 0,
        webhooks: false,
        workers: workers(),
    });
    let mut d = Daemon::spawn(&sims.config, &sims.log, "warn");
    d.wait_ready(Duration::from_secs(60));
    sims.wait_first_poll().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = d.memory_kib("VmRSS").unwrap_or(0);
    d.stop();
    let size = std::fs::metadata(fixture::binary())
        .map(|m| m.len())
        .unwrap_or(0);
    format!(
        "idle RSS after start and first poll: {:.1} MiB (VmRSS); this build's binary {:.1} MiB",
        rss as f64 / 1024.0,
        size as f64 / 1_048_576.0
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(setup) = std::env::var(SIMS_ROLE) {
        let setup: Setup = serde_json::from_str(&setup).expect("setup");
        runtime.block_on(sims(setup));
        return;
    }
    let n = env_or("COST_REQUESTS", 10_000);
    let trickle = env_or("COST_TRICKLE", 40);
    let rows = runtime.block_on(async {
        vec![
            backlog("a. backlog, existing, portal 50 ms", n, true, 50).await,
            backlog("b. backlog, new, portal 50 ms", n, false, 50).await,
            live("c. webhooks 50/s", n, true, 50, 0).await,
            live("d. trickle, existing", trickle, true, 2, 50).await,
            live("e. trickle, new", trickle, false, 2, 50).await,
        ]
    });
    println!(
        "| scenario | requests | elapsed | daemon CPU ms/transcript | Chat2Desk calls/request | portal calls/transcript | close→comment p50 / p99 | peak RSS |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        let latency = r
            .latency
            .map(|(a, b)| format!("{a:.0} / {b:.0} ms"))
            .unwrap_or_else(|| "-".into());
        let per = |x: u64| x as f64 / r.requests as f64;
        println!(
            "| {} | {} | {:.1} s | {:.2} | {:.2} | {:.2} | {latency} | {:.1} MiB |",
            r.name,
            r.requests,
            r.elapsed.as_secs_f64(),
            r.cpu.as_secs_f64() * 1e3 / r.requests as f64,
            per(r.chat2desk_calls),
            per(r.portal_calls),
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    println!(
        "(default config, workers {}, a poll a minute; c: portal answers at once, a/b/d/e: in 50 ms)",
        workers()
    );
    println!("{}", runtime.block_on(idle()));
}
