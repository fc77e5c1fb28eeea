//! The configuration file as a document: values are set in place (comments, order and layout
//! kept; a missing file starts from the commented example), secrets optionally moved to
//! `*_file`s with mode 0640, and the file replaced atomically.

use crate::config::OperatorMapping;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table, Value};

/// The commented example, the start of a new file.
const EXAMPLE: &str = include_str!("../../../config.example.toml");
/// The group the package creates; secret files are readable by it.
const SERVICE_GROUP: &str = "chat2desk-b24";

/// The file being edited.
pub(super) struct Document {
    path: PathBuf,
    doc: DocumentMut,
}

impl Document {
    /// Reads `path`, or the example when it does not exist yet.
    pub(super) fn open(path: &Path) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => EXAMPLE.to_string(),
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        let doc = text.parse::<DocumentMut>().map_err(|_| {
            anyhow::anyhow!(
                "{} is not valid TOML; run `chat2desk-b24 check` to see the broken lines and fix \
                 them first",
                path.display()
            )
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// A string value currently in the file (`None` when unset or empty).
    pub(super) fn get_str(&self, section: &str, key: &str) -> Option<String> {
        self.doc
            .get(section)
            .and_then(|t| t.get(key))
            .and_then(Item::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
    }

    /// A list of whole numbers currently in the file (empty when unset).
    pub(super) fn int_list(&self, section: &str, key: &str) -> Vec<i64> {
        self.doc
            .get(section)
            .and_then(|t| t.get(key))
            .and_then(Item::as_array)
            .map(|a| a.iter().filter_map(Value::as_integer).collect())
            .unwrap_or_default()
    }

    /// The `[[crm.operators]]` entries currently in the file (those that read cleanly).
    pub(super) fn operators(&self) -> Vec<OperatorMapping> {
        let Some(Item::ArrayOfTables(tables)) =
            self.doc.get("crm").and_then(|c| c.get("operators"))
        else {
            return Vec::new();
        };
        tables
            .iter()
            .filter_map(|t| toml::from_str::<OperatorMapping>(&t.to_string()).ok())
            .collect()
    }

    /// Sets `section.key`, keeping the comments around the line.
    pub(super) fn set(&mut self, section: &str, key: &str, new: impl Into<Value>) {
        let table = self.section(section);
        match table.get_mut(key).and_then(Item::as_value_mut) {
            Some(old) => {
                let decor = old.decor().clone();
                *old = new.into();
                *old.decor_mut() = decor;
            }
            None => {
                table.insert(key, value(new));
            }
        }
    }

    /// Replaces every `[[crm.operators]]` entry.
    pub(super) fn set_operators(&mut self, mappings: &[OperatorMapping]) {
        let crm = self.section("crm");
        if mappings.is_empty() {
            crm.remove("operators");
            return;
        }
        let mut tables = ArrayOfTables::new();
        for m in mappings {
            let mut t = Table::new();
            match &m.chat2desk {
                crate::config::OperatorRef::Id(id) => t.insert("chat2desk", value(*id)),
                crate::config::OperatorRef::Email(e) => t.insert("chat2desk", value(e.as_str())),
            };
            t.insert("bitrix24", value(m.bitrix24));
            tables.push(t);
        }
        crm.insert("operators", Item::ArrayOfTables(tables));
    }

    /// Writes `secret` to `<config dir>/<name>` (mode 0640, group chat2desk-b24 when it
    /// exists) and points `section.<key>_file` at it, emptying the inline key.
    pub(super) fn secret_to_file(
        &mut self,
        section: &str,
        key: &str,
        name: &str,
        secret: &str,
    ) -> anyhow::Result<PathBuf> {
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // The loader reads the path as given: make it absolute.
        let file = std::fs::canonicalize(dir)
            .map_err(|e| anyhow::anyhow!("cannot resolve {}: {e}", dir.display()))?
            .join(name);
        write_private(&file, format!("{secret}\n").as_bytes())?;
        self.set(section, key, "");
        self.set(section, &format!("{key}_file"), file.display().to_string());
        Ok(file)
    }

    /// Keeps the secret inline (and drops a `_file` key that would conflict with it).
    pub(super) fn secret_inline(&mut self, section: &str, key: &str, secret: &str) {
        self.section(section).remove(&format!("{key}_file"));
        self.set(section, key, secret);
    }

    /// Replaces the file atomically (mode 0640; a new file gets the service group).
    pub(super) fn save(&self) -> anyhow::Result<()> {
        let tmp = self.path.with_extension("toml.setup-tmp");
        write_private(&tmp, self.doc.to_string().as_bytes())?;
        std::fs::rename(&tmp, &self.path)
            .map_err(|e| anyhow::anyhow!("cannot replace {}: {e}", self.path.display()))?;
        Ok(())
    }

    fn section(&mut self, name: &str) -> &mut Table {
        let item = self
            .doc
            .entry(name)
            .or_insert_with(|| Item::Table(Table::new()));
        if !item.is_table() {
            *item = Item::Table(Table::new());
        }
        item.as_table_mut().expect("just made a table")
    }
}

/// Writes `bytes` to a new file readable by owner and group only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let fail = |e: std::io::Error| anyhow::anyhow!("cannot write {}: {e}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o640)
        .open(path)
        .map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640)).map_err(fail)?;
    if let Ok(Some(group)) = nix::unistd::Group::from_name(SERVICE_GROUP) {
        // Root may hand the file to the service's group; anyone else keeps their own.
        let _ = nix::unistd::chown(path, None, Some(group.gid));
    }
    Ok(())
}
