//! `bizproc install|uninstall`: the PHP activity in a portal's document root.

use crate::config::Config;
use crate::flows::bizproc::{self, ActivitySettings, InstallReport};
use std::net::SocketAddr;
use std::path::Path;

/// Installs (or upgrades) the activity under `docroot` with the daemon's URL and secret.
/// `url` overrides `[bizproc] daemon_url`; `owner` (`user[:group]`, names or numbers)
/// overrides the owner of `<docroot>/bitrix` for the settings file.
pub fn install(
    config: &Config,
    docroot: &Path,
    url: Option<&str>,
    owner: Option<&str>,
) -> anyhow::Result<()> {
    let secret = config.bizproc.secret.expose();
    if secret.is_empty() {
        anyhow::bail!("[bizproc] secret is empty: set it (e.g. `openssl rand -hex 24`) in the config, restart the daemon, then run `bizproc install` again");
    }
    let url = match url.map(str::to_string).or_else(|| {
        let configured = config.bizproc.daemon_url.trim();
        (!configured.is_empty()).then(|| configured.to_string())
    }) {
        Some(url) => url,
        None => listen_url(&config.server.listen)?,
    };
    let owner = owner.map(resolve_owner).transpose()?;
    let settings = ActivitySettings {
        url: url.trim_end_matches('/').to_string(),
        secret: secret.to_string(),
        timeout_secs: config.bizproc.wait_timeout_secs,
    };
    let report = bizproc::install(docroot, &settings, owner)
        .map_err(|e| anyhow::anyhow!("bizproc install: {e}"))?;
    print_report(&report);
    println!("Next: in the portal, open CRM → Settings → Business processes (or a pipeline's robots), add «Написать сообщение на номер» from the «Chat2Desk» group, pick the channel, then test with `chat2desk-b24 send --channel ID --phone P --text T`.");
    Ok(())
}

/// Removes the activity from `docroot`.
pub fn uninstall(docroot: &Path) -> anyhow::Result<()> {
    let report =
        bizproc::uninstall(docroot).map_err(|e| anyhow::anyhow!("bizproc uninstall: {e}"))?;
    print_report(&report);
    println!("Business processes that use the action now fail at that step; remove it from them.");
    Ok(())
}

fn print_report(report: &InstallReport) {
    for line in &report.done {
        println!("{line}");
    }
    if !report.undo.is_empty() {
        println!("To undo: {}", report.undo);
    }
}

/// `http://<listen>` when `[server] listen` names an address the portal can use.
fn listen_url(listen: &str) -> anyhow::Result<String> {
    let addr: SocketAddr = listen.trim().parse().map_err(|_| {
        anyhow::anyhow!("[server] listen = {listen:?} is not an address; pass --url http://<daemon host>:<port>")
    })?;
    if addr.ip().is_unspecified() {
        anyhow::bail!("[server] listen = {listen} listens on every address, so the portal's URL of the daemon is unknown: pass --url http://<this host's LAN address>:{} or set [bizproc] daemon_url", addr.port());
    }
    if addr.ip().is_loopback() {
        eprintln!("warning: [server] listen = {listen} is loopback: only a portal on this host reaches it; set listen to a LAN address (and [bizproc] daemon_url) when the portal runs elsewhere");
    }
    Ok(format!("http://{addr}"))
}

/// `user[:group]` as uid and gid, by number or by name (`/etc/passwd`, `/etc/group`).
fn resolve_owner(text: &str) -> anyhow::Result<(u32, u32)> {
    let (user, group) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && (f[0] == user || f[2] == user));
    let (uid, primary) = match (&entry, user.parse::<u32>()) {
        (Some(f), _) => (f[2].parse()?, f[3].parse::<u32>()?),
        (None, Ok(uid)) => (uid, uid),
        (None, Err(_)) => anyhow::bail!("--owner: no user {user:?} in /etc/passwd"),
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => std::fs::read_to_string("/etc/group")
                .unwrap_or_default()
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() > 2 && f[0] == g)
                .map(|f| f[2].parse::<u32>())
                .transpose()?
                .ok_or_else(|| anyhow::anyhow!("--owner: no group {g:?} in /etc/group"))?,
        },
    };
    Ok((uid, gid))
}
