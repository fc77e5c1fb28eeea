//! Secrets: `*_file` keys, their problems naming the key, and no secret or misplaced value ever
//! shown.

use super::{err, hook, keys, minimal, ok, secret_file, HOOK_SECRET, TOKEN};

#[test]
fn secrets_can_be_read_from_files() {
    let token = secret_file("  file-token-1\n");
    let hook_file = secret_file(&format!("{}\n", hook()));
    let toml = format!(
        "[chat2desk]\ntoken_file = \"{}\"\n[crm]\ndefault_responsibles = [1]\n",
        token.path().display()
    );
    let hook_path = hook_file.path().display().to_string();
    let c = ok(
        &toml,
        &[("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL_FILE", &hook_path)],
    )
    .config;
    assert_eq!(c.chat2desk.token.expose(), "file-token-1");
    assert_eq!(c.bitrix24.webhook_url.expose(), hook());

    // The environment beats a token_file in the TOML.
    let c = ok(
        &toml,
        &[
            ("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL_FILE", &hook_path),
            ("CHAT2DESK_B24_CHAT2DESK__TOKEN", "env-token"),
        ],
    )
    .config;
    assert_eq!(c.chat2desk.token.expose(), "env-token");

    // An empty placeholder next to token_file is fine (the example file has one).
    let toml = format!(
        "[chat2desk]\ntoken = \"\"\ntoken_file = \"{}\"\n[bitrix24]\nwebhook_url = \"{}\"\n\
         [crm]\ndefault_responsibles = [1]\n",
        token.path().display(),
        hook()
    );
    assert_eq!(
        ok(&toml, &[]).config.chat2desk.token.expose(),
        "file-token-1"
    );
}

#[test]
fn secret_file_problems_name_the_key() {
    let e = err(
        &minimal(),
        &[(
            "CHAT2DESK_B24_BITRIX24__WEBHOOK_URL_FILE",
            "/nonexistent/hook",
        )],
    );
    // Both set in the same layer? No: TOML has webhook_url, env has the file: env wins.
    assert_eq!(keys(&e), ["bitrix24.webhook_url_file"]);
    assert!(e.problems[0].message.contains("/nonexistent/hook"), "{e}");

    let token = secret_file("t");
    let toml = format!(
        "[chat2desk]\ntoken = \"{TOKEN}\"\ntoken_file = \"{}\"\n",
        token.path().display()
    );
    let e = err(&toml, &[]);
    // Every problem at once: the double secret and the two keys the file lacks.
    assert_eq!(
        keys(&e),
        [
            "chat2desk.token_file",
            "bitrix24.webhook_url",
            "crm.default_responsibles"
        ]
    );
    assert!(e.problems[0].message.contains("only one"), "{e}");
    assert!(!e.to_string().contains(TOKEN));
}

#[test]
fn secrets_never_show() {
    let loaded = ok(&minimal(), &[]);
    let c = &loaded.config;
    let shown = format!("{c:?} {} {:?}", c.dump(), loaded.warnings);
    assert!(
        !shown.contains(TOKEN) && !shown.contains(HOOK_SECRET),
        "{shown}"
    );
    assert!(c.dump().contains("token = \"***\""));
    assert!(c.dump().contains("webhook_url = \"***\""));
    assert_eq!(format!("{}", c.chat2desk.token), "***");

    // Malformed webhook URLs are described, not echoed.
    for bad in [
        format!("https://portal.example/rest/1/{HOOK_SECRET}/profile"),
        format!("ftp://portal.example/rest/1/{HOOK_SECRET}/"),
        format!("https://portal.example/{HOOK_SECRET}/"),
        format!("portal.example/rest/1/{HOOK_SECRET}"),
        format!("http://portal .example/rest/1/{HOOK_SECRET}/"),
    ] {
        let e = err(&minimal(), &[("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL", &bad)]);
        assert_eq!(keys(&e), ["bitrix24.webhook_url"], "{bad}");
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(HOOK_SECRET), "{shown}");
    }
    let e = err(
        &minimal(),
        &[(
            "CHAT2DESK_B24_BITRIX24__WEBHOOK_URL",
            &format!("[{HOOK_SECRET}]"),
        )],
    );
    assert!(!format!("{e} {e:?}").contains(HOOK_SECRET), "{e}");
}

#[test]
fn misplaced_values_are_not_echoed() {
    let e = err(&format!("chat2desk = \"{TOKEN}\"\n"), &[]);
    assert_eq!(
        keys(&e),
        [
            "chat2desk",
            "bitrix24.webhook_url",
            "crm.default_responsibles"
        ]
    );
    assert!(!e.to_string().contains(TOKEN), "{e}");
}
