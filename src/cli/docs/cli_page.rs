//! `chat2desk-b24(1)` and one page per subcommand: clap's NAME, SYNOPSIS, DESCRIPTION and
//! OPTIONS, followed by what a sysadmin looks for: EXIT STATUS on every page, and FILES,
//! ENVIRONMENT, EXAMPLES and SEE ALSO on the main one.

use roff::{bold, roman, Roff};

/// The main page's DESCRIPTION.
const DESCRIPTION: &str = "chat2desk-b24 connects Chat2Desk to an on-premise Bitrix24 \
portal. The daemon (chat2desk-b24 run, started by systemd as chat2desk-b24.service) finds \
closed Chat2Desk requests by polling and through webhooks, and writes each transcript once \
as a comment on the timeline of a CRM lead, contact or deal; a business-process action sends \
messages through Chat2Desk; the Open Lines bridge carries chats into the portal's Contact \
Center. Its state (the queue of jobs) lives in a SQLite file or a shared MySQL/MariaDB \
database. The other commands configure, check and inspect it.";

/// Every command's exit codes, by its path under `chat2desk-b24`; the others use
/// [`DEFAULT_EXIT`].
const EXIT_CODES: &[(&str, &[(&str, &str)])] = &[
    (
        "run",
        &[
            ("0", "stopped cleanly on SIGTERM or SIGINT"),
            ("1", "could not start: invalid configuration, unusable database or listener (systemd restarts it)"),
        ],
    ),
    (
        "check",
        &[
            ("0", "every check passed (ok or skip lines only)"),
            ("1", "at least one FAIL line"),
        ],
    ),
    (
        "setup",
        &[
            ("0", "the configuration was written and the final check passed"),
            ("1", "the final check failed, or setup could not finish"),
        ],
    ),
    (
        "status",
        &[
            ("0", "healthy"),
            ("1", "degraded: dead jobs, or no successful Chat2Desk poll within [server] health_max_poll_age_secs"),
            ("2", "the configuration or the state database cannot be read (or a usage error)"),
        ],
    ),
    (
        "app status",
        &[
            ("0", "the local application is connected"),
            ("1", "not connected, the grant was revoked, or the state cannot be read"),
        ],
    ),
    (
        "openlines",
        &[
            ("0", "the lines were listed and the portal answered for at least one"),
            ("1", "no [[openlines.lines]], the state cannot be read, or imconnector.status failed for every line"),
        ],
    ),
    (
        "send",
        &[
            ("0", "Chat2Desk accepted the message"),
            ("1", "the message was not sent (the line printed says why)"),
            ("2", "with --via-daemon: the daemon's listener did not take the call (nothing answers, another [bizproc] secret, /bizproc/ off or not proxied), so nothing was queued; or a usage error"),
        ],
    ),
    (
        "retry",
        &[
            ("0", "the request (or every dead one) was queued again"),
            ("1", "the request is not in the queue, or the database cannot be used"),
        ],
    ),
    (
        "sim timeline",
        &[
            ("0", "the comments were printed (none yet, without --wait)"),
            ("1", "no comment arrived within --wait seconds, or the portal simulator did not answer"),
        ],
    ),
    (
        "sim browse",
        &[
            ("0", "the final page answered below 400 (e.g. the application is connected)"),
            ("1", "an error page (its text is printed), or the address did not answer"),
        ],
    ),
];

/// Exit codes of a command without an entry in [`EXIT_CODES`].
const DEFAULT_EXIT: &[(&str, &str)] = &[
    ("0", "success"),
    ("1", "failure; the message on standard error names the configuration key or the remote call at fault and what to do"),
];

/// The main page's FILES.
const FILES: &[(&str, &str)] = &[
    ("/etc/chat2desk-b24/config.toml", "The configuration; see chat2desk-b24.toml(5)."),
    ("/var/lib/chat2desk-b24/state.db", "The SQLite state database ([database] path), owned by the chat2desk-b24 user; created by the daemon's first start."),
    ("/usr/lib/systemd/system/chat2desk-b24.service", "The hardened systemd unit (Type=notify, watchdog; check --offline before start and reload)."),
    ("/usr/share/doc/chat2desk-b24/", "README.md, the docs (docs/), config.example.toml and examples/nginx-chat2desk-b24.conf, the reverse proxy for webhooks and the admin pages."),
    ("/usr/share/chat2desk-b24/bitrix/activities/chat2desksend/", "The business-process activity that chat2desk-b24 bizproc install copies into the portal."),
    ("/usr/share/chat2desk-b24/monitoring/", "A Prometheus alert rule file and a Grafana dashboard."),
];

/// The main page's ENVIRONMENT.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("CHAT2DESK_B24_<SECTION>__<KEY>", "Sets a configuration key, beating the file, e.g. CHAT2DESK_B24_CHAT2DESK__TOKEN_FILE; see chat2desk-b24.toml(5). A variable that names no key is a warning."),
    ("RUST_LOG", "A tracing filter that replaces [log] level, e.g. info,chat2desk_b24=debug."),
    ("HTTPS_PROXY, HTTP_PROXY, ALL_PROXY", "A proxy for the calls to Chat2Desk and the portal; check names the one in use."),
    ("NOTIFY_SOCKET, WATCHDOG_USEC", "Set by systemd: the daemon reports readiness and feeds the watchdog."),
];

/// The main page's EXAMPLES: what to type, and what it does.
const EXAMPLES: &[(&str, &str)] = &[
    ("sudo chat2desk-b24 setup", "Guided first configuration: the token, the portal webhook, the CRM choices; then check."),
    ("sudo chat2desk-b24 check", "Every configuration and live check, one line each."),
    ("sudo systemctl enable --now chat2desk-b24", "Start the daemon; it picks up requests closed recently."),
    ("sudo chat2desk-b24 backfill --since 2026-01-01", "Queue the requests closed since a day, for the running daemon to sync."),
    ("sudo -u chat2desk-b24 chat2desk-b24 status --json", "The queue, the last poll and the nodes as JSON for a script; exit 0 healthy, 1 degraded, 2 unreadable."),
    ("sudo chat2desk-b24 send --via-daemon --channel 1 --phone +79161234567 --text Test", "Send a message through the running daemon's listener as the portal's activity does: tests the address, the [bizproc] secret and the send path."),
    ("sudo chat2desk-b24 retry --dead", "After fixing the cause of dead jobs, run them again."),
    ("journalctl -u chat2desk-b24 -o json", "The daemon's log with its fields (REQUEST_ID, ENTITY, PORTAL_METHOD)."),
];

/// Renders `cmd`'s page (`path` is its command path under `chat2desk-b24`, empty for the main
/// page) with the sections clap does not make.
pub fn render(cmd: clap::Command, path: &str, subpages: &[String]) -> std::io::Result<Vec<u8>> {
    let main = path.is_empty();
    let cmd = if main {
        cmd.long_about(DESCRIPTION)
    } else {
        cmd
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    let mut page = Roff::new();
    page.control("SH", ["EXIT STATUS"]);
    if main {
        definitions(&mut page, &exit_codes(""));
        let special: Vec<&str> = EXIT_CODES.iter().map(|(p, _)| *p).collect();
        page.text([roman(format!(
            "Commands whose codes say more (their pages list them): {}. status is made for \
             monitoring: 0 healthy, 1 degraded (dead jobs or a stale poll), 2 the state \
             cannot be read.",
            special.join(", ")
        ))]);
        files_and_environment(&mut page);
        page.control("SH", ["EXAMPLES"]);
        definitions(&mut page, EXAMPLES);
    } else {
        definitions(&mut page, &exit_codes(path));
    }
    page.control("SH", ["SEE ALSO"]);
    let mut see: Vec<String> = if main {
        subpages.to_vec()
    } else {
        vec!["chat2desk-b24".to_string()]
    };
    see.push("chat2desk-b24.toml".to_string());
    let mut refs = Vec::new();
    for (i, name) in see.iter().enumerate() {
        let section = if name.ends_with(".toml") { "5" } else { "1" };
        refs.push(bold(name.as_str()));
        let sep = if i + 1 == see.len() { "" } else { ", " };
        refs.push(roman(format!("({section}){sep}")));
    }
    refs.push(roman(", /usr/share/doc/chat2desk-b24/README.md"));
    page.text(refs);
    out.extend_from_slice(page.to_roff().as_bytes());
    Ok(out)
}

/// The exit codes of the command at `path`, with the usage error every command shares.
fn exit_codes(path: &str) -> Vec<(&'static str, &'static str)> {
    let mut codes: Vec<(&str, &str)> = EXIT_CODES
        .iter()
        .find(|(p, _)| *p == path)
        .map_or(DEFAULT_EXIT, |(_, c)| c)
        .to_vec();
    if !codes.iter().any(|(code, _)| *code == "2") {
        codes.push(("2", "usage error (an unknown option or a missing argument)"));
    }
    codes
}

fn files_and_environment(page: &mut Roff) {
    page.control("SH", ["FILES"]);
    definitions(page, FILES);
    page.control("SH", ["ENVIRONMENT"]);
    definitions(page, ENVIRONMENT);
}

/// `.TP` term / definition pairs.
fn definitions(page: &mut Roff, items: &[(&str, &str)]) {
    for (term, text) in items {
        page.control("TP", []);
        page.text([bold(*term)]);
        page.text([roman(*text)]);
    }
}
