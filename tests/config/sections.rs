//! The later sections' contracts: `[bizproc]`, the database URL, the node name, `[openlines]`
//! and the app's secret.

use super::{err, keys, minimal, ok, secret_file};

#[test]
fn bizproc_section_keys_secret_file_and_errors_name_the_key() {
    let file = secret_file("bizproc-secret-from-a-file\n");
    let toml = format!(
        "{}[bizproc]\nsecret_file = \"{}\"\nwrite_first_daily_limit = 0\nfiles = \"links\"\n\
         daemon_url = \"http://10.0.0.5:8089\"\nwait_timeout_secs = 600\n",
        minimal(),
        file.path().display()
    );
    let c = ok(&toml, &[]).config;
    assert_eq!(c.bizproc.secret.expose(), "bizproc-secret-from-a-file");
    assert_eq!(c.bizproc.write_first_daily_limit, 0);
    assert_eq!(c.bizproc.files, chat2desk_b24::config::FileMode::Links);
    assert!(!format!("{:?}", c).contains("bizproc-secret-from-a-file"));
    // From the environment too.
    let c = ok(
        &minimal(),
        &[("CHAT2DESK_B24_BIZPROC__SECRET", "0123456789abcdefXYZ")],
    )
    .config;
    assert_eq!(c.bizproc.secret.expose(), "0123456789abcdefXYZ");
    assert_eq!(
        c.bizproc.write_first_daily_limit, 20,
        "the seed's advice is the default"
    );

    let e = err(
        &format!(
            "{}[bizproc]\nsecret = \"short\"\nwait_timeout_secs = 1\n",
            minimal()
        ),
        &[],
    );
    assert_eq!(keys(&e), ["bizproc.secret", "bizproc.wait_timeout_secs"]);
    assert!(
        !e.to_string().contains("short\""),
        "the secret is not shown: {e}"
    );
    let e = err(
        &format!("{}[bizproc]\nwrite_first_daly_limit = 5\n", minimal()),
        &[],
    );
    assert!(
        e.to_string()
            .contains("did you mean `write_first_daily_limit`"),
        "{e}"
    );
    let e = err(
        &format!(
            "{}[server]\nlisten = \"\"\n[bizproc]\nsecret = \"0123456789abcdef\"\n",
            minimal()
        ),
        &[],
    );
    assert_eq!(keys(&e), ["server.listen"]);
}

const DB_PASSWORD: &str = "db-Pa55-secret";

fn db_url() -> String {
    format!("mysql://chat2desk:{DB_PASSWORD}@db.example.local:3306/chat2desk_b24")
}

#[test]
fn database_url_replaces_path_and_its_password_never_shows() {
    let c = ok(
        &format!("{}[database]\nurl = \"{}\"\n", minimal(), db_url()),
        &[],
    )
    .config;
    assert_eq!(
        c.database.url.as_ref().map(|u| u.expose().to_string()),
        Some(db_url())
    );
    let dump = c.dump();
    assert!(
        dump.contains("url = \"mysql://chat2desk:***@db.example.local:3306/chat2desk_b24\""),
        "{dump}"
    );
    assert!(
        !dump.contains(DB_PASSWORD) && !dump.contains("path ="),
        "{dump}"
    );
    assert!(!format!("{c:?}").contains(DB_PASSWORD));
    assert!(!format!("{:?}", c.database.location()).contains(DB_PASSWORD));
    // From a file, or the environment.
    let file = secret_file(&format!("{}\n", db_url()));
    let c = ok(
        &format!(
            "{}[database]\nurl_file = \"{}\"\n",
            minimal(),
            file.path().display()
        ),
        &[],
    )
    .config;
    assert_eq!(c.database.url.unwrap().expose(), db_url());
    let c = ok(&minimal(), &[("CHAT2DESK_B24_DATABASE__URL", &db_url())]).config;
    assert_eq!(c.database.url.unwrap().expose(), db_url());
}

#[test]
fn database_path_and_url_are_exclusive() {
    let e = err(
        &format!(
            "{}[database]\npath = \"/tmp/state.db\"\nurl = \"{}\"\n",
            minimal(),
            db_url()
        ),
        &[],
    );
    assert_eq!(keys(&e), vec!["database.url"]);
    let text = e.to_string();
    assert!(
        text.contains("database.path") && text.contains("exactly one"),
        "{text}"
    );
    assert!(!text.contains(DB_PASSWORD));
    // Across layers too.
    let e = err(
        &format!("{}[database]\npath = \"/tmp/state.db\"\n", minimal()),
        &[("CHAT2DESK_B24_DATABASE__URL", &db_url())],
    );
    assert_eq!(keys(&e), vec!["database.url"]);
}

#[test]
fn a_database_url_that_is_not_mysql_names_the_key_without_the_password() {
    for bad in [
        format!("postgres://u:{DB_PASSWORD}@h/db"),
        format!("mysql://u:{DB_PASSWORD}@h:3306/"),
        format!("mysql://:{DB_PASSWORD}@h/db"),
        "not a url".to_string(),
    ] {
        let e = err(&format!("{}[database]\nurl = \"{bad}\"\n", minimal()), &[]);
        assert_eq!(keys(&e), vec!["database.url"], "{bad}");
        let text = e.to_string();
        assert!(
            text.contains("mysql://user:password@host:3306/database"),
            "{text}"
        );
        assert!(!text.contains(DB_PASSWORD), "{text}");
    }
}

#[test]
fn node_name_defaults_to_the_host_name_and_is_checked() {
    let c = ok(&minimal(), &[]).config;
    assert_eq!(c.node.name, chat2desk_b24::store::default_node_name());
    assert!(!c.node.name.is_empty());
    assert_eq!((c.node.lease_secs, c.sync.lease_secs), (15, 30));
    let c = ok(
        &format!("{}[node]\nname = \"c2d-node-2\"\n", minimal()),
        &[],
    )
    .config;
    assert_eq!(c.node.name, "c2d-node-2");
    let e = err(
        &format!(
            "{}[node]\nname = \"two words\"\nlease_secs = 1\n",
            minimal()
        ),
        &[],
    );
    assert_eq!(keys(&e), vec!["node.name", "node.lease_secs"]);
    let e = err(&format!("{}[node]\nnames = \"x\"\n", minimal()), &[]);
    assert!(e.to_string().contains("did you mean `name`"), "{e}");
}

const APP: &str =
    "[bitrix24.app]\nclient_id = \"local.abc.123\"\nclient_secret = \"app-SECRET-77\"\n\
     oauth_url = \"https://oauth.bitrix.info\"\ndaemon_url = \"https://c2d.corp.lan\"\n";

#[test]
fn openlines_contract_keys_load() {
    let toml = format!(
        "{}{APP}[openlines]\nconnector = \"c2d_main\"\nevents_poll_ms = 500\n\
         [[openlines.lines]]\nline = 3\nchannels = [17, 18]\n[[openlines.lines]]\nline = 5\n\
         channels = [19]\n[server]\npublic_url = \"https://c2d.example.com\"\n",
        minimal()
    );
    let c = ok(&toml, &[]).config;
    let app = c.bitrix24.app.as_ref().expect("[bitrix24.app] read");
    assert_eq!(app.client_id, "local.abc.123");
    assert_eq!(app.client_secret.expose(), "app-SECRET-77");
    assert_eq!(app.daemon_url, "https://c2d.corp.lan");
    assert_eq!(c.openlines.connector, "c2d_main");
    assert_eq!(c.openlines.events_poll_ms, 500);
    assert_eq!(c.openlines.line_of(18), Some(3));
    assert_eq!(c.openlines.line_of(19), Some(5));
    assert_eq!(c.openlines.line_of(20), None);
    assert_eq!(
        c.server.public_url.as_deref(),
        Some("https://c2d.example.com")
    );
    assert!(
        !c.dump().contains("app-SECRET-77"),
        "the dump hides the secret"
    );
}

#[test]
fn app_secret_from_a_file_or_the_environment() {
    let file = secret_file("from-file-secret\n");
    let toml = format!(
        "{}[bitrix24.app]\nclient_id = \"local.x\"\nclient_secret_file = \"{}\"\ndaemon_url = \"https://c2d.lan\"\n",
        minimal(),
        file.path().display()
    );
    let c = ok(&toml, &[]).config;
    assert_eq!(
        c.bitrix24.app.unwrap().client_secret.expose(),
        "from-file-secret"
    );
    let toml = format!(
        "{}[bitrix24.app]\nclient_id = \"local.x\"\ndaemon_url = \"https://c2d.lan\"\n",
        minimal()
    );
    let c = ok(
        &toml,
        &[("CHAT2DESK_B24_BITRIX24__APP__CLIENT_SECRET", "env-secret")],
    )
    .config;
    assert_eq!(c.bitrix24.app.unwrap().client_secret.expose(), "env-secret");
}

#[test]
fn openlines_mistakes_name_the_key() {
    let two_lines = format!(
        "{}{APP}[[openlines.lines]]\nline = 3\nchannels = [17, 18]\n[[openlines.lines]]\nline = 4\nchannels = [18]\n",
        minimal()
    );
    let e = err(&two_lines, &[]);
    assert_eq!(keys(&e), ["openlines.lines[1].channels"], "{e}");
    assert!(
        e.to_string().contains("channel 18 is already in line 3"),
        "{e}"
    );

    let line_twice = format!(
        "{}{APP}[[openlines.lines]]\nline = 3\nchannels = [17]\n[[openlines.lines]]\nline = 3\nchannels = [18]\n",
        minimal()
    );
    let e = err(&line_twice, &[]);
    assert_eq!(keys(&e), ["openlines.lines[1].line"], "{e}");

    let no_app = format!(
        "{}[[openlines.lines]]\nline = 3\nchannels = [17]\n",
        minimal()
    );
    let e = err(&no_app, &[]);
    assert_eq!(keys(&e), ["bitrix24.app"], "{e}");

    let bad = format!(
        "{}[bitrix24.app]\nclient_id = \"local.x\"\nclient_secret = \"s\"\nclient_sekret = 1\n\
         [openlines]\nconnector = \"chat.2desk\"\n",
        minimal()
    );
    let e = err(&bad, &[]);
    let found = keys(&e);
    assert!(found.contains(&"bitrix24.app.client_sekret"), "{e}");
    assert!(found.contains(&"bitrix24.app.daemon_url"), "{e}");
    assert!(found.contains(&"openlines.connector"), "{e}");

    let wrong_type = format!(
        "{}{APP}[[openlines.lines]]\nline = \"three\"\nchannels = [17]\n",
        minimal()
    );
    let e = err(&wrong_type, &[]);
    assert_eq!(keys(&e), ["openlines.lines[0].line"], "{e}");
}
