//! docs/first-transcript.md followed as a newcomer follows it: every ```` ```sh walkthrough ````
//! block, in the document's order, run by `sh -e` in an empty directory with the real binary
//! first on `PATH`. A `background` block is a command left running in its own terminal (the
//! simulators, the daemon); running one again is stopping the previous one with Ctrl-C and
//! starting it anew. Only the document's three addresses are swapped for free ports. The
//! transcript of the request the walkthrough closes must reach the portal exactly once.

mod common;

use common::{binary, field, free_port, wait_for};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output};

const DOC: &str = include_str!("../docs/first-transcript.md");

/// The addresses the document uses: the Chat2Desk simulator, the portal simulator, the daemon.
const ADDRESSES: [&str; 3] = ["127.0.0.1:18080", "127.0.0.1:18081", "127.0.0.1:8089"];

/// One marked block of the document.
struct Block {
    /// Its first line in the document (for messages).
    line: usize,
    code: String,
    background: bool,
}

/// The ```` ```sh walkthrough [background] ```` blocks, in order.
fn blocks(doc: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (n, line) in doc.lines().enumerate() {
        match open.take() {
            Some(block) if line.trim_end() == "```" => blocks.push(block),
            Some(mut block) => {
                block.code.push_str(line);
                block.code.push('\n');
                open = Some(block);
            }
            None => {
                let words: Vec<&str> = line.split_whitespace().collect();
                if words.first() == Some(&"```sh") && words.get(1) == Some(&"walkthrough") {
                    open = Some(Block {
                        line: n + 1,
                        code: String::new(),
                        background: words.get(2) == Some(&"background"),
                    });
                }
            }
        }
    }
    assert!(open.is_none(), "an unclosed walkthrough block");
    blocks
}

/// The walk: its directory, addresses and the commands left running.
struct Walk {
    dir: tempfile::TempDir,
    swaps: Vec<(&'static str, String)>,
    /// Running background commands, by the terminal they run in: their last word (`sim`,
    /// `run`).
    running: Vec<(String, Child)>,
}

impl Walk {
    fn new() -> Self {
        let swaps = ADDRESSES
            .iter()
            .map(|a| (*a, format!("127.0.0.1:{}", free_port())))
            .collect();
        Self {
            dir: tempfile::tempdir().unwrap(),
            swaps,
            running: Vec::new(),
        }
    }

    fn address(&self, index: usize) -> &str {
        &self.swaps[index].1
    }

    fn shell(&self, code: &str) -> Command {
        let code = self
            .swaps
            .iter()
            .fold(code.to_string(), |c, (from, to)| c.replace(from, to));
        let bin = binary();
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new("sh");
        command
            .arg("-e")
            .arg("-c")
            .arg(code)
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("CHAT2DESK_SIM_ADDR", self.address(0))
            .env("PORTAL_SIM_ADDR", self.address(1))
            .env_remove("JOURNAL_STREAM")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC");
        command
    }

    /// Runs a block to its end; it must succeed.
    fn run(&self, block: &Block) -> Output {
        let out = self.shell(&block.code).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("--- line {}:\n{}{text}", block.line, block.code);
        assert!(
            out.status.success(),
            "the block at line {} of docs/first-transcript.md failed ({}):\n{}{text}",
            block.line,
            out.status,
            block.code
        );
        out
    }

    /// Starts a background block (after stopping the one of the same terminal) and waits
    /// until it listens.
    async fn start(&mut self, block: &Block) {
        let code = block.code.trim();
        assert!(!code.contains('\n'), "line {}: one command", block.line);
        let terminal = code.split_whitespace().last().unwrap_or("").to_string();
        if let Some(at) = self.running.iter().position(|(t, _)| *t == terminal) {
            let (_, child) = self.running.remove(at);
            interrupt(child);
        }
        let log = std::fs::File::create(self.dir.path().join(format!("{terminal}.log"))).unwrap();
        println!("--- line {} (left running):\n{code}", block.line);
        let child = self
            .shell(&format!("exec {code}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.running.push((terminal.clone(), child));
        let ports: Vec<String> = if terminal == "sim" {
            vec![self.address(0).into(), self.address(1).into()]
        } else {
            vec![self.address(2).into()]
        };
        wait_for(&format!("line {}: {code} listens", block.line), || {
            ports.iter().all(|p| TcpStream::connect(p).is_ok())
        })
        .await;
    }

    /// `status --json` of the walk's config.
    fn status(&self) -> serde_json::Value {
        let out = self
            .shell("chat2desk-b24 -c chat2desk-b24.toml status --json")
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).expect("status --json prints JSON")
    }

    /// What the portal simulator holds (`/_sim/state`).
    async fn portal(&self) -> serde_json::Value {
        let url = format!("http://{}/_sim/state", self.address(1));
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }
}

impl Drop for Walk {
    fn drop(&mut self) {
        for (_, child) in self.running.drain(..) {
            interrupt(child);
        }
    }
}

/// Ctrl-C, then waits for the process to end.
fn interrupt(mut child: Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
    let _ = child.wait();
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn log_of(dir: &Path, terminal: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{terminal}.log"))).unwrap_or_default()
}

#[tokio::test]
async fn the_first_transcript_walkthrough_works_as_written() {
    let blocks = blocks(DOC);
    for address in ADDRESSES {
        assert!(DOC.contains(address), "the walkthrough uses {address}");
    }
    assert!(blocks.iter().any(|b| b.code.contains("sim close")));
    assert!(blocks.iter().any(|b| b.code.contains("sim browse")));
    let mut walk = Walk::new();
    let mut request = None;
    let mut closed_at = None;
    let mut timeline = String::new();
    for block in &blocks {
        if block.background {
            walk.start(block).await;
            continue;
        }
        let out = walk.run(block);
        if block.code.contains("sim close") {
            request = stdout(&out).lines().last().map(str::to_string);
            closed_at = Some(chrono::Utc::now());
        }
        if block.code.contains("sim timeline") {
            timeline = stdout(&out);
        }
        if block.code.contains("sim browse") {
            assert!(stdout(&out).contains("подключён"), "{}", stdout(&out));
        }
    }
    let request = request.expect("the walkthrough closes a request");
    let marker = format!("обращение {request} ·");
    assert!(
        timeline.contains(&marker),
        "sim timeline shows it:\n{timeline}"
    );
    // Once: still one comment after a poll that ran after the close (the webhook brought it
    // first; the daemon was restarted since).
    let closed_at = closed_at.unwrap();
    wait_for("a poll after the close", || {
        walk.status()["last_poll"]["at"]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .is_some_and(|at| at > closed_at)
    })
    .await;
    let portal = walk.portal().await;
    let comments = portal["comments"].as_array().unwrap();
    let transcripts: Vec<&serde_json::Value> = comments
        .iter()
        .filter(|c| c["text"].as_str().unwrap_or("").contains(&marker))
        .collect();
    assert_eq!(
        transcripts.len(),
        1,
        "the transcript arrives once: {comments:#?}\n{}",
        log_of(walk.dir.path(), "run")
    );
    let text = transcripts[0]["text"].as_str().unwrap();
    assert!(text.contains("Клиент (Иван Смирнов): Здравствуйте! Сколько стоит доставка?"));
    assert!(text.contains("Оператор (Иван Петров): Доставка по Москве бесплатная."));
    // As the document says: a new lead, whose responsible is user 2 (operator 101's e-mail).
    assert_eq!(transcripts[0]["entity_type"], "lead");
    let lead = portal["leads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| field(l, "ID") == field(transcripts[0], "entity_id"))
        .expect("the comment's lead");
    assert_eq!(field(lead, "ASSIGNED_BY_ID"), "2", "{lead}");
    assert_eq!(walk.status()["queue"]["dead"], 0);
}

/// A step skipped or done out of order: each driving command says what to do instead.
#[tokio::test]
async fn a_skipped_step_says_what_to_do() {
    let mut walk = Walk::new();
    let fails = |walk: &Walk, code: &str| {
        let out = walk.shell(code).output().unwrap();
        assert!(!out.status.success(), "{code} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let error = fails(&walk, "chat2desk-b24 sim client --phone +79161112233");
    assert!(
        error.contains("start `chat2desk-b24 sim`") && error.contains("--chat2desk"),
        "{error}"
    );
    walk.start(&Block {
        line: 0,
        code: "chat2desk-b24 sim".into(),
        background: true,
    })
    .await;
    let client = walk
        .run(&Block {
            line: 0,
            code: "chat2desk-b24 sim client --phone +79161112233".into(),
            background: false,
        })
        .stdout;
    let client = String::from_utf8_lossy(&client).trim().to_string();
    let error = fails(&walk, &format!("chat2desk-b24 sim close --client {client}"));
    assert!(
        error.contains("no request to close") && error.contains("sim message --client"),
        "{error}"
    );
    let error = fails(&walk, "chat2desk-b24 sim timeline --wait 1");
    assert!(
        error.contains("no transcript arrived within 1 s"),
        "{error}"
    );
    let daemon = walk.address(2).to_string();
    let error = fails(
        &walk,
        &format!("chat2desk-b24 sim browse http://{daemon}/bitrix24/connect"),
    );
    assert!(error.contains("is the daemon listening there?"), "{error}");
}
