//! Warnings: plain HTTP off loopback, a plain-HTTP OAuth URL, unknown environment variables.

use super::{minimal, ok};

#[test]
fn plain_http_warns_unless_loopback() {
    let w = ok(
        &minimal(),
        &[
            (
                "CHAT2DESK_B24_BITRIX24__WEBHOOK_URL",
                "http://portal.example/rest/1/abc/",
            ),
            ("CHAT2DESK_B24_CHAT2DESK__API_URL", "http://api.example"),
        ],
    )
    .warnings;
    let keys: Vec<_> = w.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["chat2desk.api_url", "bitrix24.webhook_url"]);
    assert!(!format!("{w:?}").contains("abc"));

    for (api, hook) in [
        ("http://127.0.0.1:8080", "http://127.0.0.1:9090/rest/1/abc/"),
        ("http://localhost:1", "http://[::1]:2/rest/1/abc/"),
    ] {
        let w = ok(
            &minimal(),
            &[
                ("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL", hook),
                ("CHAT2DESK_B24_CHAT2DESK__API_URL", api),
            ],
        )
        .warnings;
        assert!(w.is_empty(), "{w:?}");
    }
}

#[test]
fn a_plain_http_oauth_url_warns_it_carries_the_client_secret() {
    let app = |oauth: &str| {
        format!(
            "{}[server]\nlisten = \"127.0.0.1:8089\"\n[bitrix24.app]\nclient_id = \"local.a.b\"\n\
             client_secret = \"app-secret-0123\"\ndaemon_url = \"https://c2d.corp.lan\"\n\
             oauth_url = \"{oauth}\"\n",
            minimal()
        )
    };
    let w = ok(&app("http://oauth.corp.lan"), &[]).warnings;
    let keys: Vec<_> = w.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["bitrix24.app.oauth_url"], "{w:?}");
    assert!(w[0].message.contains("https://"), "{w:?}");
    assert!(!format!("{w:?}").contains("app-secret-0123"));
    assert!(ok(&app("https://oauth.bitrix.info"), &[])
        .warnings
        .is_empty());
}

#[test]
fn unknown_environment_variables_warn() {
    let loaded = ok(
        &minimal(),
        &[
            ("CHAT2DESK_B24_BITRIX24__WEBHOK_URL", "x"),
            ("CHAT2DESK_B24_CONFIG", "/etc/chat2desk-b24/config.toml"),
            ("CHAT2DESK_B24_LOGLEVEL", "debug"),
        ],
    );
    let keys: Vec<_> = loaded.warnings.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "CHAT2DESK_B24_BITRIX24__WEBHOK_URL",
            "CHAT2DESK_B24_LOGLEVEL"
        ]
    );
    assert!(loaded.warnings[0]
        .message
        .contains("CHAT2DESK_B24_BITRIX24__WEBHOOK_URL"));
}
