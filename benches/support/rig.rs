//! A rig for soak and performance runs of the REAL binary: both simulators in this process,
//! many clients, conversations closed while the daemon runs, SIGKILL/restart, and the final
//! exactly-once checks. Shared by `tests/chaos.rs` and the benches (`#[path]` include); the
//! simulators, scratch directory and config file are the tests' one fixture.
#![allow(dead_code)]

#[path = "../../tests/common/fixture.rs"]
pub mod fixture;

use chat2desk_b24::config::Secret;
use chat2desk_b24::flows::transcript::text::find_marker;
use chat2desk_b24::store::{JobKind, JobState, Location, QueueCounts, Store};
use chrono::{DateTime, Utc};
pub use fixture::Env;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Which clients the rig creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Every client has a phone with an open lead on the portal.
    Existing,
    /// Every client has a phone and no entity yet.
    New,
    /// A quarter each: existing lead, new with phone, new without phone (Telegram), and the
    /// Telegram twin of the new client before it (another Chat2Desk client and dialog of the
    /// same person, with the same real number in `client_phone`).
    Mixed,
}

/// One Chat2Desk client of the rig.
#[derive(Debug, Clone)]
pub struct RigClient {
    /// Chat2Desk client id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Its lead seeded on the portal, if any.
    pub seeded_lead: Option<i64>,
    /// The person it belongs to (twins share one): the index of the person's first client.
    pub person: usize,
}

/// The fixture (simulators, demo company, scratch directory) plus the rig's clients.
pub struct Rig {
    /// Simulators, demo company and scratch directory.
    pub env: Env,
    /// Clients created by the rig.
    pub clients: Vec<RigClient>,
    /// A MySQL/MariaDB database shared by the nodes, instead of the SQLite file.
    pub shared_db: Option<String>,
}

impl std::ops::Deref for Rig {
    type Target = Env;

    fn deref(&self) -> &Env {
        &self.env
    }
}

impl Rig {
    /// Starts both simulators and creates `clients` clients of the given mix.
    pub async fn new(clients: usize, mix: Mix) -> Rig {
        let env = Env::new().await;
        let (c2d, portal, s) = (&env.c2d, &env.portal, &env.s);
        let clients = (0..clients)
            .map(|i| {
                let kind = match mix {
                    Mix::Existing => 0,
                    Mix::New => 1,
                    Mix::Mixed => i % 4,
                };
                let name = format!("Клиент-{i:06}");
                // A twin has the number of the client two before it (kind 1).
                let person = if kind == 3 { i - 2 } else { i };
                let phone = format!("7915{person:07}");
                let (phone, transport) = match kind {
                    2 | 3 => (None, "telegram"),
                    _ => (Some(phone.as_str()), "whatsapp"),
                };
                let id = c2d.add_client(&name, phone, transport, s.channel);
                if kind == 3 {
                    c2d.set_client_phone(id, &format!("7915{person:07}"));
                }
                let seeded_lead = (kind == 0).then(|| {
                    portal.add_lead(
                        &format!("{name}, заявка"),
                        Some(&format!("+{}", phone.unwrap())),
                        "IN_PROCESS",
                        s.user_ivan,
                    )
                });
                RigClient {
                    id,
                    name,
                    seeded_lead,
                    person,
                }
            })
            .collect();
        Rig {
            env,
            clients,
            shared_db: None,
        }
    }

    /// Where the state is: the shared MySQL/MariaDB database, else the SQLite file.
    pub fn location(&self) -> Location {
        match &self.shared_db {
            Some(url) => Location::MySql(Secret::new(url.clone())),
            None => Location::Sqlite(self.db()),
        }
    }

    /// A store handle for reading the state while the daemons run.
    pub async fn store(&self) -> Store {
        Store::connect(&self.location(), "rig")
            .await
            .expect("store opens")
    }

    /// Where the daemon's stderr goes (appended across restarts).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// Writes the config file: `strategy`, `workers`, short timeouts and backoff, plus `extra`
    /// TOML lines for the `[bitrix24]` section.
    pub fn write_config(&self, strategy: &str, workers: usize, bitrix_extra: &str) -> PathBuf {
        self.write_node_config(None, strategy, workers, bitrix_extra)
    }

    /// As [`Rig::write_config`], for the node `node` (its own `[node] name`, a leader lease
    /// of 3 s, its own file); with [`Rig::shared_db`] set, `[database] url` instead of the
    /// SQLite path.
    pub fn write_node_config(
        &self,
        node: Option<&str>,
        strategy: &str,
        workers: usize,
        bitrix_extra: &str,
    ) -> PathBuf {
        let mut file = self
            .config_file()
            .set("chat2desk.timeout_secs", 2)
            .set("bitrix24.timeout_secs", 2)
            .set("sync.poll_strategy", strategy)
            .set("sync.workers", workers as i64)
            .set("sync.max_attempts", 1000)
            .merge(&format!("[bitrix24]\n{bitrix_extra}"));
        if let Some(url) = &self.shared_db {
            file = file
                .remove("database.path")
                .set("database.url", url.as_str());
        }
        match node {
            Some(name) => file
                .set("node.name", name)
                .set("node.lease_secs", 3)
                .write_as(&format!("config-{name}.toml")),
            None => file.write(),
        }
    }

    /// One conversation of `client` (client, operator, client again), closed. The request
    /// id and when it was closed.
    pub fn converse(&self, client: &RigClient, turn: usize) -> (i64, DateTime<Utc>) {
        let op = [self.s.op_ivan, self.s.op_maria, self.s.op_petr][turn % 3];
        self.c2d.client_says(
            client.id,
            &format!("Здравствуйте, вопрос №{turn} от {}", client.name),
        );
        self.c2d
            .operator_says(client.id, op, "Добрый день! Отвечаю на ваш вопрос.");
        self.c2d.client_says(client.id, "Спасибо [b]большое[/b]!");
        let request = self.c2d.close_request(client.id);
        (request, Utc::now())
    }

    /// Waits until the daemon has polled once (a first "messages" poll starts at the newest
    /// message, so traffic must come after it).
    pub async fn wait_first_poll(&self, timeout: Duration) {
        let start = Instant::now();
        loop {
            if polled_once(&self.location()).await {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "no successful poll within {timeout:?}; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Queue counts, read while the daemon runs (WAL).
    pub async fn counts(&self) -> QueueCounts {
        let store = self.store().await;
        let counts = store.counts().await.expect("counts");
        store.close().await;
        counts
    }

    /// Waits until `total` jobs are finished (done or dead) and nothing is pending or running.
    pub async fn wait_settled(&self, total: usize, timeout: Duration) -> QueueCounts {
        let start = Instant::now();
        loop {
            let c = self.counts().await;
            if c.pending == 0 && c.running == 0 && (c.done + c.dead) as usize >= total {
                return c;
            }
            assert!(
                start.elapsed() < timeout,
                "not settled within {timeout:?}: {c:?}; log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of the daemon log.
    pub fn log_tail(&self) -> String {
        fixture::tail(&self.log())
    }

    /// Checks exactly-once: every request done with each part of its transcript once, one
    /// entity per client, nothing pending, every dead job with a reason. Returns when each
    /// request finished (the job's last update).
    pub async fn verify(
        &self,
        requests: &[(i64, i64, DateTime<Utc>)],
    ) -> HashMap<i64, DateTime<Utc>> {
        let store = self.store().await;
        let counts = store.counts().await.unwrap();
        assert_eq!(counts.pending, 0, "nothing pending: {counts:?}");
        assert_eq!(counts.running, 0, "nothing running: {counts:?}");
        for job in store.dead(100_000).await.unwrap() {
            let reason = job.last_error.clone().unwrap_or_default();
            assert!(
                !reason.trim().is_empty(),
                "dead job {} has a reason",
                job.key
            );
        }
        let mut finished = HashMap::new();
        for (request, _, _) in requests {
            let job = store
                .job(JobKind::TRANSCRIPT, *request)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("request {request} was never queued"));
            assert_eq!(
                job.state,
                JobState::Done,
                "request {request}: {:?}",
                job.last_error
            );
            finished.insert(*request, job.updated_at);
        }
        store.close().await;

        let mut parts: BTreeMap<i64, Vec<(usize, usize, String, i64)>> = BTreeMap::new();
        for c in self.portal.comments() {
            let m = find_marker(&c.text).expect("every comment carries our marker");
            parts.entry(m.request_id).or_default().push((
                m.part,
                m.total,
                c.entity_type.clone(),
                c.entity_id,
            ));
        }
        for (request, _, _) in requests {
            let mut got = parts.remove(request).unwrap_or_default();
            got.sort();
            let total = got.first().map_or(0, |p| p.1);
            let numbers: Vec<usize> = got.iter().map(|p| p.0).collect();
            assert!(total >= 1, "request {request} has a transcript");
            assert_eq!(
                numbers,
                (1..=total).collect::<Vec<_>>(),
                "request {request}: each part exactly once"
            );
            assert!(
                got.iter()
                    .all(|p| p.1 == total && p.2 == got[0].2 && p.3 == got[0].3),
                "request {request}: all parts on one entity"
            );
        }
        assert!(
            parts.is_empty(),
            "comments for unknown requests: {:?}",
            parts.keys()
        );

        // One entity per person (twins are one person): its seeded lead, or exactly one
        // lead created for one of its Chat2Desk clients (ORIGIN_ID).
        let mut created: HashMap<String, usize> = HashMap::new();
        for lead in self.portal.leads() {
            if let Some(origin) = lead.get("ORIGIN_ID").and_then(|v| v.as_str()) {
                *created.entry(origin.to_string()).or_default() += 1;
            }
        }
        let served: std::collections::HashSet<i64> = requests.iter().map(|r| r.1).collect();
        let mut people: BTreeMap<usize, (usize, bool)> = BTreeMap::new();
        for client in self.clients.iter().filter(|c| served.contains(&c.id)) {
            let made = created.get(&client.id.to_string()).copied().unwrap_or(0);
            let entry = people.entry(client.person).or_default();
            entry.0 += made;
            entry.1 |= client.seeded_lead.is_some();
        }
        for (person, (made, seeded)) in people {
            assert_eq!(
                made,
                usize::from(!seeded),
                "person {person} ({}): leads created",
                self.clients[person].name
            );
        }
        finished
    }
}

/// The real binary, started with a notify socket so readiness can be timed.
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// When it was spawned.
    pub spawned: Instant,
    notify: UnixDatagram,
}

impl Daemon {
    /// Spawns `chat2desk-b24 -c config run`, stderr appended to `log`.
    pub fn spawn(config: &Path, log: &Path, rust_log: &str) -> Daemon {
        let socket_path = log.with_extension(format!("notify-{}", rand::random::<u32>()));
        let notify = UnixDatagram::bind(&socket_path).expect("notify socket");
        notify
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let child = fixture::run_command(config)
            .env("RUST_LOG", rust_log)
            .env("NOTIFY_SOCKET", &socket_path)
            .stderr(fixture::append(log))
            .spawn()
            .expect("binary starts");
        Daemon {
            child,
            spawned: Instant::now(),
            notify,
        }
    }

    /// Blocks until the daemon sends `READY=1`; the time from spawn.
    pub fn wait_ready(&mut self, timeout: Duration) -> Duration {
        let mut buf = [0u8; 4096];
        loop {
            if let Ok(n) = self.notify.recv(&mut buf) {
                if String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == "READY=1")
                {
                    return self.spawned.elapsed();
                }
            }
            assert!(
                self.spawned.elapsed() < timeout,
                "no READY=1 within {timeout:?}"
            );
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "the daemon exited"
            );
        }
    }

    /// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// SIGKILL: no drain, no cleanup. (Dropping a `Daemon` kills it too, so a failing test
    /// leaves no daemon behind.)
    pub fn kill9(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM and wait for the drain.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// True once the daemon using the state database at `location` has finished a poll (its
/// messages cursor is set, so what closes afterwards is new traffic).
pub async fn polled_once(location: &Location) -> bool {
    let Ok(store) = Store::connect(location, "rig").await else {
        return false;
    };
    let polled = store
        .meta(chat2desk_b24::store::LAST_POLL_KEY)
        .await
        .ok()
        .flatten();
    store.close().await;
    polled.is_some()
}
