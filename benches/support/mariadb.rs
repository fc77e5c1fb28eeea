//! A real MariaDB server for tests and benches: the Debian package's `mariadbd`, started on
//! loopback on a free port with its own temporary data directory and socket, never the
//! system service. Stopped by its PID (SIGTERM) when dropped.
//!
//! When `mariadbd` is missing, [`MariaDb::start`] panics under CI (`CI` set) and returns
//! `None` with a message otherwise, so a developer without the package can still run the
//! rest (`apt-get install mariadb-server`, or `scripts/install-ci-deps.sh`).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The user the tests connect as (created at start, all privileges).
const USER: &str = "c2d_test";
/// Its password (a loopback server that lives as long as the test).
const PASSWORD: &str = "c2d-test-pw";
/// Databases made so far by this process (names must be unique per server).
static DATABASES: AtomicU32 = AtomicU32::new(0);

/// A running server.
pub struct MariaDb {
    child: Child,
    port: u16,
    socket: PathBuf,
    dir: TempDir,
}

impl MariaDb {
    /// Starts a server, or `None` (with a message) when MariaDB is not installed and this
    /// is not CI.
    pub fn start() -> Option<MariaDb> {
        let Some(server) = find(&["mariadbd", "mysqld"]) else {
            let what = "MariaDB is not installed (no mariadbd): apt-get install -y \
                        mariadb-server, or run scripts/install-ci-deps.sh";
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
                panic!("{what}; the MariaDB tests cannot be skipped in CI");
            }
            eprintln!("SKIPPED: {what}");
            return None;
        };
        let install = find(&["mariadb-install-db", "mysql_install_db"])
            .expect("mariadb-install-db next to mariadbd");
        let dir = tempfile::Builder::new()
            .prefix("c2d-mariadb-")
            .tempdir()
            .expect("tempdir");
        let data = dir.path().join("data");
        let root = is_root();
        let mut init = Command::new(&install);
        init.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg("--skip-name-resolve");
        if root {
            init.arg("--user=root");
        }
        let out = init.output().expect("mariadb-install-db runs");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let socket = dir.path().join("mysqld.sock");
        let mut cmd = Command::new(&server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!(
                "--pid-file={}",
                dir.path().join("mysqld.pid").display()
            ))
            .arg(format!(
                "--log-error={}",
                dir.path().join("error.log").display()
            ))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--skip-name-resolve")
            .arg("--skip-log-bin")
            .arg("--performance-schema=OFF")
            .arg("--innodb-buffer-pool-size=64M")
            .arg("--max-connections=300")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if root {
            cmd.arg("--user=root");
        }
        let child = cmd.spawn().expect("mariadbd starts");
        let mut db = MariaDb {
            child,
            port,
            socket,
            dir,
        };
        db.wait_ready(Duration::from_secs(60));
        db.sql(&format!(
            "CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%'; FLUSH PRIVILEGES;"
        ));
        Some(db)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (which may not exist yet).
    pub fn url(&self, name: &str) -> String {
        format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a fresh, empty database and returns its URL.
    pub fn create_database(&self) -> String {
        let n = DATABASES.fetch_add(1, Ordering::SeqCst);
        let name = format!("c2d_{}_{n}", std::process::id());
        self.sql(&format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"));
        self.url(&name)
    }

    /// Runs `sql` as root through the socket with the `mariadb` client; panics on failure.
    pub fn sql(&self, sql: &str) -> String {
        let out = self.client(sql);
        assert!(
            out.status.success(),
            "mariadb -e {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn client(&self, sql: &str) -> std::process::Output {
        let client = find(&["mariadb", "mysql"]).expect("the mariadb client");
        Command::new(client)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-u", "root", "--batch", "--skip-column-names", "-e", sql])
            .output()
            .expect("mariadb client runs")
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let start = Instant::now();
        loop {
            if self.socket.exists() && self.client("SELECT 1").status.success() {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("mariadbd status") {
                panic!(
                    "mariadbd exited ({status}) before it was ready:\n{}",
                    self.error_log()
                );
            }
            assert!(
                start.elapsed() < timeout,
                "mariadbd not ready within {timeout:?}:\n{}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's error log (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The first of `names` found in `PATH` or the sbin directories.
fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/bin"].map(PathBuf::from));
    names
        .iter()
        .find_map(|name| dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p)))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
