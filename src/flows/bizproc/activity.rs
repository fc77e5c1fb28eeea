//! The PHP activity, embedded in the binary, and its installation into a portal's document
//! root: `<docroot>/local/activities/custom/chat2desksend/` (the first place the bizproc
//! runtime looks, `bitrix24-apps.md` §4.1), plus a settings file only the web server reads.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The activity's folder name (its code): class `CBPChat2DeskSend`.
pub const ACTIVITY_CODE: &str = "chat2desksend";

/// Where activities go under the document root.
const CUSTOM_DIR: &str = "local/activities/custom";
/// The settings file next to the class (daemon URL, secret, timeout).
const SETTINGS_FILE: &str = ".settings.php";
/// Records which parent folders the install created, so uninstall removes exactly those.
const CREATED_FILE: &str = ".chat2desk-b24-created";

/// One file of the activity.
#[derive(Debug, Clone, Copy)]
pub struct ActivityFile {
    /// Path inside the activity folder.
    pub path: &'static str,
    /// Contents.
    pub contents: &'static str,
}

macro_rules! activity_files {
    ($($path:literal),+ $(,)?) => {
        &[$(ActivityFile {
            path: $path,
            contents: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/packaging/bitrix/activities/chat2desksend/",
                $path
            )),
        }),+]
    };
}

/// Every file of the activity (the package also ships them under
/// `/usr/share/chat2desk-b24/bitrix/activities/chat2desksend/`).
pub const FILES: &[ActivityFile] = activity_files![
    ".description.php",
    "chat2desksend.php",
    "properties_dialog.php",
    "robot_properties_dialog.php",
    "lang/ru/.description.php",
    "lang/ru/chat2desksend.php",
    "lang/ru/properties_dialog.php",
    "lang/ru/robot_properties_dialog.php",
];

/// What the activity needs to reach the daemon.
#[derive(Debug, Clone)]
pub struct ActivitySettings {
    /// The daemon's base URL as the portal's web server reaches it.
    pub url: String,
    /// `[bizproc] secret`.
    pub secret: String,
    /// How long the activity waits for the result, in seconds.
    pub timeout_secs: u64,
}

/// What an install or uninstall did, for the sysadmin.
#[derive(Debug, Clone, Default)]
pub struct InstallReport {
    /// One line per change.
    pub done: Vec<String>,
    /// How to undo it.
    pub undo: String,
}

/// Copies the activity into `docroot`, writes its settings (mode 0640, owned by the owner
/// and group of `<docroot>/bitrix`, i.e. the web server's user, unless `owner` names
/// another uid:gid) and returns what it did. Running it again upgrades in place.
pub fn install(
    docroot: &Path,
    settings: &ActivitySettings,
    owner: Option<(u32, u32)>,
) -> io::Result<InstallReport> {
    let bitrix = docroot.join("bitrix");
    let meta = fs::metadata(&bitrix).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{} is not a Bitrix document root ({}: {e}); pass the portal's --docroot, e.g. /home/bitrix/www",
                docroot.display(),
                bitrix.display()
            ),
        )
    })?;
    let (uid, gid) = owner.unwrap_or((meta.uid(), meta.gid()));
    let mut report = InstallReport::default();
    let target = docroot.join(CUSTOM_DIR).join(ACTIVITY_CODE);
    // Parents created by an earlier install stay on the list, so uninstall removes them.
    let mut created: Vec<String> = fs::read_to_string(target.join(CREATED_FILE))
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default();
    let mut dir = docroot.to_path_buf();
    for part in CUSTOM_DIR.split('/') {
        dir.push(part);
        if !dir.exists() {
            fs::create_dir(&dir)?;
            chown(&dir, uid, gid)?;
            let relative = relative(docroot, &dir);
            report.done.push(format!("created {}", dir.display()));
            created.push(relative);
        }
    }
    let upgrade = target.exists();
    if upgrade {
        fs::remove_dir_all(&target)?;
    }
    fs::create_dir(&target)?;
    chown(&target, uid, gid)?;
    for file in FILES {
        let path = target.join(file.path);
        if let Some(parent) = path.parent() {
            if !parent.exists() {
                fs::create_dir_all(parent)?;
                chown_up(&target, parent, uid, gid)?;
            }
        }
        fs::write(&path, file.contents)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        chown(&path, uid, gid)?;
    }
    report.done.push(format!(
        "{} the activity ({} files) in {}",
        if upgrade { "upgraded" } else { "installed" },
        FILES.len(),
        target.display()
    ));
    let settings_path = target.join(SETTINGS_FILE);
    fs::write(&settings_path, settings_php(settings))?;
    fs::set_permissions(&settings_path, fs::Permissions::from_mode(0o640))?;
    chown(&settings_path, uid, gid)?;
    report.done.push(format!(
        "wrote {} (daemon {}, secret, timeout {} s), mode 0640, owner {uid}:{gid}",
        settings_path.display(),
        settings.url,
        settings.timeout_secs
    ));
    if !created.is_empty() {
        fs::write(target.join(CREATED_FILE), created.join("\n") + "\n")?;
    }
    report.undo = format!(
        "chat2desk-b24 bizproc uninstall --docroot {}",
        docroot.display()
    );
    Ok(report)
}

/// Removes the activity and the parent folders its install created (when empty).
pub fn uninstall(docroot: &Path) -> io::Result<InstallReport> {
    let target = docroot.join(CUSTOM_DIR).join(ACTIVITY_CODE);
    let mut report = InstallReport::default();
    if !target.exists() {
        report.done.push(format!(
            "nothing to do: {} does not exist",
            target.display()
        ));
        return Ok(report);
    }
    let created: Vec<String> = fs::read_to_string(target.join(CREATED_FILE))
        .map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    fs::remove_dir_all(&target)?;
    report.done.push(format!("removed {}", target.display()));
    for dir in created.iter().rev() {
        let path = docroot.join(dir);
        let empty = fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none());
        if empty {
            fs::remove_dir(&path)?;
            report
                .done
                .push(format!("removed {} (empty)", path.display()));
        }
    }
    report.undo = format!(
        "chat2desk-b24 bizproc install --docroot {}",
        docroot.display()
    );
    Ok(report)
}

/// The settings as a PHP file returning an array; guarded like every Bitrix include.
fn settings_php(s: &ActivitySettings) -> String {
    format!(
        "<?php\n// Written by `chat2desk-b24 bizproc install`; re-run it to change. Holds the shared\n// secret: readable by the web server only.\nif (!defined('B_PROLOG_INCLUDED') || B_PROLOG_INCLUDED !== true) {{\n    die();\n}}\nreturn [\n    'url' => '{}',\n    'secret' => '{}',\n    'timeout' => {},\n];\n",
        php_quote(s.url.trim_end_matches('/')),
        php_quote(&s.secret),
        s.timeout_secs
    )
}

/// The inside of a single-quoted PHP string.
fn php_quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn chown(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let meta = fs::metadata(path)?;
    if meta.uid() == uid && meta.gid() == gid {
        return Ok(());
    }
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot give {} to the web server's user {uid}:{gid} ({e}); run `bizproc install` as root",
                path.display()
            ),
        )
    })
}

/// Chowns every folder from `base` (exclusive) down to `dir`.
fn chown_up(base: &Path, dir: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let mut path = PathBuf::from(base);
    for part in dir.strip_prefix(base).unwrap_or(dir).components() {
        path.push(part);
        chown(&path, uid, gid)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_quote_php_strings() {
        let php = settings_php(&ActivitySettings {
            url: "http://10.0.0.5:8089/".into(),
            secret: "it's\\secret".into(),
            timeout_secs: 60,
        });
        assert!(php.contains("'url' => 'http://10.0.0.5:8089',"));
        assert!(php.contains("'secret' => 'it\\'s\\\\secret',"));
        assert!(php.starts_with("<?php\n"));
    }

    #[test]
    fn every_file_is_embedded() {
        assert!(FILES.iter().all(|f| f.contents.starts_with("<?php")));
        assert!(FILES
            .iter()
            .any(|f| f.contents.contains("class CBPChat2DeskSend")));
    }
}
