//! The state database. A shared MySQL/MariaDB database (`[database] url`) is opened,
//! migrated and written once, as any node would. A SQLite file is checked without the root
//! trap: `check` run by another user than the
//! service's (typically `sudo chat2desk-b24 check` as root) creates nothing: no directory, no
//! `state.db`, no `-wal`/`-shm` owned by root that the service could then not open. It checks
//! by the permissions instead, as the service user would meet them.

use super::Line;
use crate::config::Config;
use crate::store::Store;
use nix::unistd::{Gid, Uid, User};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const KEY: &str = "database.path";
/// The unit's `StateDirectory=`: systemd creates it, owned by the service user, at start.
const STATE_DIRECTORY: &str = "/var/lib/chat2desk-b24";
/// The system user the package creates and the unit runs as.
pub(crate) const SERVICE_USER: &str = "chat2desk-b24";

/// Who the service runs as: the package's system user, or else the owner of the state
/// directory (a hand-made setup).
struct ServiceUser {
    name: String,
    uid: Uid,
    gid: Gid,
}

impl ServiceUser {
    fn find(existing: &Path) -> Option<Self> {
        if let Ok(Some(u)) = User::from_name(SERVICE_USER) {
            return Some(Self {
                name: u.name,
                uid: u.uid,
                gid: u.gid,
            });
        }
        let meta = std::fs::metadata(existing).ok()?;
        let uid = Uid::from_raw(meta.uid());
        let name = User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| format!("uid {uid}"), |u| u.name);
        Some(Self {
            name,
            uid,
            gid: Gid::from_raw(meta.gid()),
        })
    }

    /// Whether this user may do `want` (rwx bits, e.g. 0o3 = write + search) on `meta`, by the
    /// mode bits of the owner, the group or others (ACLs and supplementary groups aside).
    fn may(&self, meta: &std::fs::Metadata, want: u32) -> bool {
        if self.uid.is_root() {
            return true;
        }
        let shift = if meta.uid() == self.uid.as_raw() {
            6
        } else if meta.gid() == self.gid.as_raw() {
            3
        } else {
            0
        };
        (meta.mode() >> shift) & want == want
    }
}

/// Why nothing was created when `check` ran as root, the guessed service user, and
/// `may_create` was false (setup as root on a machine without the package's user).
const ROOT_WITHOUT_USER: &str = "checked by permissions only, nothing created: this machine has \
    no user chat2desk-b24 (the package creates it) and a state database made now would belong \
    to root; the daemon creates it at its first start as the user it runs as";

/// The database line(s). `may_create`: whether a missing SQLite file may be created when
/// `check` runs as the service user (false after `setup` as root without the package's user).
pub(super) async fn check(config: &Config, may_create: bool) -> Vec<Line> {
    if config.database.url.is_some() {
        return vec![shared(config).await];
    }
    let path = &config.database.path;
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let existing = dir
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    if !existing.is_dir() {
        return vec![Line::fail(
            KEY,
            format!(
                "{} is not a directory, so {} cannot be created; set database.path to a file in \
                 a directory (default /var/lib/chat2desk-b24/state.db)",
                existing.display(),
                path.display()
            ),
        )];
    }
    let Some(service) = ServiceUser::find(&existing) else {
        return vec![Line::fail(
            KEY,
            format!("cannot inspect {}", existing.display()),
        )];
    };
    let me = nix::unistd::geteuid();
    if me == service.uid {
        if may_create || path.exists() {
            return vec![open(path).await];
        }
        return by_permissions(path, &dir, &existing, &service, ROOT_WITHOUT_USER);
    }
    let who = User::from_uid(me)
        .ok()
        .flatten()
        .map_or_else(|| format!("uid {me}"), |u| u.name);
    let name = &service.name;
    let note = format!(
        "checked by permissions only, nothing created: check runs as {who}, not as the service \
         user {name}; for a full check run `sudo -u {name} chat2desk-b24 check`"
    );
    by_permissions(path, &dir, &existing, &service, &note)
}

/// Whether this is root on a machine without the package's user (then `setup` lets its
/// `check` create no state database).
pub(super) fn root_without_service_user() -> bool {
    nix::unistd::geteuid().is_root() && !matches!(User::from_name(SERVICE_USER), Ok(Some(_)))
}

/// As the service user: open (creating it when missing), answer, write.
async fn open(path: &Path) -> Line {
    let result = async {
        let store = Store::open(path).await?;
        store.ping().await?;
        store
            .set_meta("check.last_run_at", &chrono::Utc::now().to_rfc3339())
            .await
    }
    .await;
    match result {
        Ok(()) => Line::ok(KEY, format!("{} is writable", path.display())),
        Err(e) => Line::fail(
            KEY,
            format!("{e}; the service user needs write access to the file and its directory"),
        ),
    }
}

/// `[database] url`: connect (migrating), answer, write; the error names the server's
/// complaint and the fix.
async fn shared(config: &Config) -> Line {
    const URL_KEY: &str = "database.url";
    let location = config.database.location();
    let result = async {
        let store = Store::connect(&location, &config.node.name).await?;
        store.ping().await?;
        store
            .set_meta("check.last_run_at", &chrono::Utc::now().to_rfc3339())
            .await
    }
    .await;
    match result {
        Ok(()) => Line::ok(URL_KEY, format!("{} is writable", location.display())),
        Err(e) => Line::fail(URL_KEY, format!("{e}; {}", e.hint())),
    }
}

/// As another user (root), or told not to create: look, touch nothing; `note` says why.
fn by_permissions(
    path: &Path,
    dir: &Path,
    existing: &Path,
    service: &ServiceUser,
    note: &str,
) -> Vec<Line> {
    let name = &service.name;
    if existing != dir {
        let parent = std::fs::metadata(existing).ok();
        if parent.is_some_and(|m| service.may(&m, 0o3)) || dir == Path::new(STATE_DIRECTORY) {
            return vec![Line::warn(
                KEY,
                format!(
                    "{} does not exist yet; the service creates it at its first start \
                     (StateDirectory= in the unit) ({note})",
                    dir.display()
                ),
            )];
        }
        return vec![Line::fail(
            KEY,
            format!(
                "{} does not exist and {name} cannot create it in {}; create it: install -d -o \
                 {name} -m 0750 {}",
                dir.display(),
                existing.display(),
                dir.display()
            ),
        )];
    }
    let mut lines = Vec::new();
    if let Ok(meta) = std::fs::metadata(dir) {
        if !service.may(&meta, 0o3) {
            lines.push(Line::fail(
                KEY,
                format!(
                    "the service user {name} cannot write the directory {} (owner uid {}, mode \
                     {:o}); give it to the service: chown {name}: {}",
                    dir.display(),
                    meta.uid(),
                    meta.mode() & 0o7777,
                    dir.display()
                ),
            ));
        }
    }
    for file in [
        path.to_path_buf(),
        suffixed(path, "-wal"),
        suffixed(path, "-shm"),
    ] {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if !service.may(&meta, 0o6) {
            lines.push(Line::fail(
                KEY,
                format!(
                    "the service user {name} cannot write {} (owner uid {}, mode {:o}; created \
                     by an earlier run as root?); give it back: chown {name}: {}",
                    file.display(),
                    meta.uid(),
                    meta.mode() & 0o7777,
                    file.display()
                ),
            ));
        }
    }
    if lines.is_empty() {
        let what = if path.exists() {
            format!("{} is writable by {name}", path.display())
        } else {
            format!(
                "{} is writable by {name}, which creates {} at its first start",
                dir.display(),
                path.file_name().unwrap_or_default().to_string_lossy()
            )
        };
        lines.push(Line::ok(KEY, format!("{what} ({note})")));
    }
    lines
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
