//! The real binary as systemd runs it: READY=1 over NOTIFY_SOCKET once started, WATCHDOG=1
//! while healthy, a SIGHUP reload, and SIGTERM → STOPPING=1 and exit 0.

mod common;

use common::{binary, Env, KillOnDrop};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Collects notify datagrams until one contains `want`.
fn wait_for(socket: &UnixDatagram, want: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            let hit = msg.lines().any(|l| l == want);
            seen.push(msg);
            if hit {
                return;
            }
        }
    }
    panic!("no {want} within 20 s; got {seen:?}");
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_ready_watchdog_reload_and_clean_stop() {
    let env = Env::new().await;
    let config = env.write_config("lead", "[log]\nlevel = \"info\"\n");
    let sock_path = env.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&sock_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    // systemd sets WATCHDOG_PID to the service's pid: `exec` keeps the shell's.
    let child = Command::new("sh")
        .args(["-c", "WATCHDOG_PID=$$ exec \"$0\" -c \"$1\" run"])
        .arg(binary())
        .arg(&config)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "3000000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut child = KillOnDrop(child);
    let socket = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        wait_for(&socket, "READY=1", &mut seen);
        assert!(seen.iter().any(|m| m.contains("STATUS=queue:")), "{seen:?}");
        wait_for(&socket, "WATCHDOG=1", &mut seen);
        socket
    })
    .await
    .unwrap();

    // A reload with a changed log level: RELOADING=1 then READY=1 again, still running.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("level = \"info\"", "level = \"debug\"");
    std::fs::write(&config, text).unwrap();
    signal(pid, "-HUP");
    let socket = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        wait_for(&socket, "RELOADING=1", &mut seen);
        wait_for(&socket, "READY=1", &mut seen);
        socket
    })
    .await
    .unwrap();
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "still running after reload"
    );

    signal(pid, "-TERM");
    let status = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        wait_for(&socket, "STOPPING=1", &mut seen);
        let status = child.0.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        (status, stderr)
    })
    .await
    .unwrap();
    let (status, stderr) = status;
    assert!(
        status.success(),
        "exit 0 after SIGTERM: {status:?}\n{stderr}"
    );
    assert!(stderr.contains("Reloaded the config"), "{stderr}");
    assert!(stderr.contains("Stopped"), "{stderr}");
}
