//! A good setup passes with the operator mapping checked; a run as root creates nothing in the
//! state directory.

use chat2desk_b24::sim::bitrix24::PortalSim;
use chat2desk_b24::sim::chat2desk::Chat2DeskSim;
use chat2desk_b24::sim::scenario;
use std::os::unix::fs::MetadataExt;

use super::{assert_case, base, fill, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_setup_passes_with_the_operator_mapping_checked() {
    let c2d = Chat2DeskSim::start().await.unwrap();
    let portal = PortalSim::start().await.unwrap();
    let s = scenario::seed(&c2d, &portal);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[chat2desk]\napi_url = \"{}\"\ntoken = \"{}\"\n[bitrix24]\nwebhook_url = \"{}\"\n\
             [crm]\ndefault_responsibles = [{}]\n[[crm.operators]]\nchat2desk = \"ivan@example.ru\"\n\
             bitrix24 = {}\n[database]\npath = \"{}\"\n",
            c2d.url(),
            c2d.token(),
            portal.webhook_url(),
            s.user_default,
            s.user_ivan,
            dir.path().join("state.db").display()
        ),
    )
    .unwrap();
    let (code, out) = tokio::task::spawn_blocking(move || run(&path, &[], &["check"]))
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines().any(|l| l == "ok   crm.operators[0].chat2desk: operator ivan@example.ru exists (Иван Петров, GET /v1/operators)"),
        "{out}"
    );
}

/// Run as root against a state directory owned by the service user: nothing is created, and
/// the line says it was checked by permissions; a root-owned `-wal` left behind is named.
#[test]
fn check_as_root_creates_nothing_in_the_state_directory() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    // nobody stands for the service user (no chat2desk-b24 user on a build machine).
    nix::unistd::chown(
        &state,
        Some(nix::unistd::Uid::from_raw(65534)),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .unwrap();
    let db = state.join("state.db");
    let template = base(&db);
    let path = dir.path().join("config.toml");
    std::fs::write(&path, fill(&template, &[])).unwrap();
    let (code, out) = run(&path, &[], &["check", "--offline"]);
    assert_eq!(code, 0, "{out}");
    let expected = format!(
        "ok   database.path: {} is writable by nobody, which creates state.db at its first start (checked by permissions only, nothing created: check runs as root, not as the service user nobody; for a full check run `sudo -u nobody chat2desk-b24 check`)",
        state.display()
    );
    assert!(out.lines().any(|l| l == expected), "{out}");
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        0,
        "nothing created"
    );

    // A missing state directory is not created either.
    let missing = dir.path().join("missing").join("state.db");
    std::fs::write(
        &path,
        base(&missing)
            .replace("{top}", "")
            .replace("{chat2desk}", "")
            .replace("{bitrix24}", "")
            .replace("{crm}", "")
            .replace("{sync}", "")
            .replace("{database}", "")
            .replace("{log}", "")
            .replace("{server}", ""),
    )
    .unwrap();
    nix::unistd::chown(dir.path(), Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let (code, out) = run(&path, &[], &["check", "--offline"]);
    assert_eq!(code, 0, "{out}");
    assert!(!dir.path().join("missing").exists(), "{out}");
    assert!(out.contains("does not exist yet"), "{out}");

    // A -wal owned by root (left by an earlier run as root) would stop the service.
    let wal = state.join("state.db-wal");
    std::fs::write(&wal, b"").unwrap();
    std::fs::write(&path, fill(&template, &[])).unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().uid(), 0);
    let (code, out) = run(&path, &[], &["check", "--offline"]);
    let expected = format!(
        "FAIL database.path: the service user nobody cannot write {} (owner uid 0, mode 644; created by an earlier run as root?); give it back: chown nobody: {}",
        wal.display(),
        wal.display()
    );
    assert_case("root-owned wal", code, &out, &expected, 1);
}
