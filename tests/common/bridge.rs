//! The Open Lines bridge run as a sysadmin runs it: the real binary with `[bitrix24.app]`
//! registered on the portal sim, the scenario's channel in line 3 and a second line with a
//! channel of its own; the admin's browser connects the app.

use super::{command, free_port, output, wait_for, Binary, Env};
use chat2desk_b24::store::Store;

/// The scopes the local application is given.
pub const SCOPES: [&str; 5] = ["imopenlines", "imconnector", "im", "crm", "user"];
/// The scenario's line.
pub const LINE: i64 = 3;

/// The daemon, its simulators and the app's client id.
pub struct Bridge {
    /// The simulators and the state database.
    pub env: Env,
    /// The real binary.
    pub daemon: Binary,
    /// Its webhook listener's port.
    pub listen: u16,
    /// The local application's `client_id`.
    pub client_id: String,
    /// The channel of line 5.
    pub other_channel: i64,
}

/// The daemon with `[bitrix24.app]` registered on the portal sim and the scenario's channel
/// in line 3 (a second line holds a channel of its own).
pub async fn bridge(extra: &str) -> Bridge {
    let env = Env::new().await;
    let listen = free_port();
    let daemon_url = format!("http://127.0.0.1:{listen}");
    let (client_id, secret) = env
        .portal
        .register_app(&format!("{daemon_url}/bitrix24/app"), &SCOPES);
    let other = env.c2d.add_channel("Telegram бот", "", &["telegram"]);
    let config = format!(
        "[bitrix24.app]\nclient_id = \"{client_id}\"\nclient_secret = \"{secret}\"\n\
         oauth_url = \"{}\"\ndaemon_url = \"{daemon_url}\"\n\
         [[openlines.lines]]\nline = {LINE}\nchannels = [{}]\n\
         [[openlines.lines]]\nline = 5\nchannels = [{other}]\n{extra}",
        env.portal.oauth_url(),
        env.s.channel,
    );
    let daemon = env.spawn_daemon_at(listen, &config).await;
    Bridge {
        env,
        daemon,
        listen,
        client_id,
        other_channel: other,
    }
}

impl Bridge {
    /// The admin's browser opens /bitrix24/connect and follows every redirect; the final
    /// status and page.
    pub async fn connect(&self) -> (u16, String) {
        let url = format!("http://127.0.0.1:{}/bitrix24/connect", self.listen);
        chat2desk_b24::sim::browser::open(&url)
            .await
            .expect("the connect page answers")
    }

    /// Points Chat2Desk's webhook at the daemon.
    pub fn webhook_set(&self) {
        let public = format!("http://127.0.0.1:{}", self.listen);
        let (out, text) = output(command(&self.daemon.config, &["webhook", "set", &public]));
        assert!(out.status.success(), "webhook set: {text}");
    }

    /// The state database.
    pub async fn store(&self) -> Store {
        Store::open(&self.env.db()).await.unwrap()
    }

    /// Takes `line` out of `[[openlines.lines]]` in the config file.
    pub fn drop_line(&self, line: i64) {
        let text = std::fs::read_to_string(&self.daemon.config).unwrap();
        let mut table: toml::Table = text.parse().unwrap();
        let lines = table
            .get_mut("openlines")
            .and_then(|o| o.get_mut("lines"))
            .and_then(toml::Value::as_array_mut)
            .expect("the config has [[openlines.lines]]");
        lines.retain(|l| l["line"].as_integer() != Some(line));
        std::fs::write(&self.daemon.config, toml::to_string(&table).unwrap()).unwrap();
    }

    /// Replaces `[[openlines.lines]]` in the config file with `lines` (line, its channels).
    pub fn set_lines(&self, lines: &[(i64, &[i64])]) {
        let text = std::fs::read_to_string(&self.daemon.config).unwrap();
        let mut table: toml::Table = text.parse().unwrap();
        let openlines = table
            .get_mut("openlines")
            .and_then(toml::Value::as_table_mut)
            .expect("the config has [openlines]");
        let lines = lines.iter().map(|(line, channels)| {
            let mut entry = toml::Table::new();
            entry.insert("line".into(), (*line).into());
            entry.insert("channels".into(), channels.to_vec().into());
            toml::Value::Table(entry)
        });
        openlines.insert("lines".into(), toml::Value::Array(lines.collect()));
        std::fs::write(&self.daemon.config, toml::to_string(&table).unwrap()).unwrap();
    }

    /// SIGHUP: the daemon reloads its config.
    pub fn reload(&self) {
        let pid = self.daemon.child.as_ref().expect("the daemon runs").0.id();
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP {pid}");
    }

    /// Asserts that `status`, `openlines` and `check` all show `line` disconnected by the
    /// portal's `event` and that `check` says how to connect it again.
    pub fn assert_shown_disconnected(&self, line: i64, event: &str) {
        let (_, status) = output(command(&self.daemon.config, &["status"]));
        assert!(
            status.contains(&format!("Open Line {line}: disconnected on the portal")),
            "{status}"
        );
        let (_, lines) = output(command(&self.daemon.config, &["openlines"]));
        assert!(
            lines.contains(&format!("disconnected on the portal ({event}")),
            "{lines}"
        );
        let (_, check) = output(command(&self.daemon.config, &["check"]));
        assert!(
            check.contains(&format!("openlines --reconnect {line}")),
            "{check}"
        );
    }

    /// Waits until `openlines` lists `line` as switched off because the config no longer
    /// names it (the daemon notes it just after the portal answered).
    pub async fn wait_listed_switched_off(&self, line: i64) {
        let listed = || output(command(&self.daemon.config, &["openlines"])).1;
        let want = format!("line {line}: switched off (no longer in [[openlines.lines]])");
        wait_for("`openlines` to list the line as switched off", || {
            listed().contains(&want)
        })
        .await;
    }
}
