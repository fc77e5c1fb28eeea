//! The real binary's commands against the simulators: `check` names every problem with its
//! key and exits 1, `backfill`, `status`, `retry`, `operators`, `channels`, `demo`.

mod common;

use common::Env;
use std::path::Path;

/// Runs the binary with `-c config args…`; returns (success, stdout + stderr).
fn run(config: &Path, args: &[&str]) -> (bool, String) {
    let (out, text) = common::output(common::command(config, args));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_on_a_good_setup_and_names_each_problem() {
    let env = Env::new().await;
    let good = env.write_config("lead", "");
    let text = std::fs::read_to_string(&good).unwrap();
    let (ok, out) = tokio::task::spawn_blocking({
        let good = good.clone();
        move || run(&good, &["check"])
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("All checks passed."), "{out}");

    // (the key the FAIL line must name, the config text, what to change on the portal first)
    type Case = (&'static str, String, Box<dyn Fn(&Env) + Send>);
    let cases: Vec<Case> = vec![
        (
            "chat2desk.token",
            text.replace(
                &format!("token = \"{}\"", env.c2d.token()),
                "token = \"wrong-token\"",
            ),
            Box::new(|_| {}),
        ),
        (
            "bitrix24.webhook_url",
            text.clone(),
            Box::new(|e: &Env| e.portal.set_scopes(&["crm", "user"])),
        ),
        (
            "crm.source",
            text.replace("source = \"OTHER\"", "source = \"NO_SUCH_SOURCE\""),
            Box::new(|e: &Env| e.portal.set_scopes(&["crm", "user", "im"])),
        ),
        (
            "crm.default_responsibles[0]",
            text.replace(
                &format!("default_responsibles = [{}]", env.s.user_default),
                "default_responsibles = [999]",
            ),
            Box::new(|_| {}),
        ),
        (
            "database.path",
            text.replace(
                &format!("path = \"{}\"", env.db().display()),
                "path = \"/dev/null/state.db\"",
            ),
            Box::new(|_| {}),
        ),
        (
            "crm.default_responsible",
            text.replace("default_responsibles =", "default_responsible ="),
            Box::new(|_| {}),
        ),
    ];
    for (key, config_text, prepare) in cases {
        prepare(&env);
        std::fs::write(&good, &config_text).unwrap();
        let path = good.clone();
        let (ok, out) = tokio::task::spawn_blocking(move || run(&path, &["check"]))
            .await
            .unwrap();
        assert!(!ok, "check must fail for {key}: {out}");
        let line = out
            .lines()
            .find(|l| l.starts_with("FAIL") && l.contains(key))
            .unwrap_or_else(|| panic!("no FAIL line naming {key}:\n{out}"));
        assert!(
            line.len() > key.len() + 20,
            "the line says what to do: {line}"
        );
        assert!(
            !out.contains(env.c2d.token().as_str()),
            "token leaked: {out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_status_retry_operators_channels() {
    let env = Env::new().await;
    let config = env.write_config("lead", "");
    let closed = chat2desk_b24::sim::scenario::converse(&env.c2d, &env.s);
    let today = chrono::Utc::now()
        .date_naive()
        .pred_opt()
        .unwrap()
        .to_string();
    let c = config.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || run(&c, &["backfill", "--since", &today]))
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("{} newly queued", closed.len())),
        "{out}"
    );

    let c = config.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || run(&c, &["status"]))
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("Queue: {} pending", closed.len())),
        "{out}"
    );

    let c = config.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || run(&c, &["retry", "424242"]))
        .await
        .unwrap();
    assert!(!ok);
    assert!(out.contains("424242 is not in the queue"), "{out}");

    let c = config.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || run(&c, &["operators"]))
        .await
        .unwrap();
    assert!(ok, "{out}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.contains(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("Мария").contains(&format!("{} (mapped", env.s.user_maria)),
        "{out}"
    );
    assert!(
        line("Иван").contains(&format!("{} (same e-mail)", env.s.user_ivan)),
        "{out}"
    );
    assert!(line("Пётр").contains("unmatched"), "{out}");

    let c = config.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || run(&c, &["channels"]))
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains("79682212816") && out.contains("whatsapp"),
        "{out}"
    );
}

#[test]
fn demo_prints_the_portal_entities_and_transcripts() {
    let mut demo = std::process::Command::new(common::binary());
    demo.arg("demo");
    let (out, all) = common::output(demo);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{all}");
    assert!(text.contains("Queue: 4 done, 0 pending, 0 dead"), "{text}");
    // Four transcripts, then the refused business-process send's comment.
    assert_eq!(text.matches("──── Комментарий").count(), 5, "{text}");
    assert!(
        text.contains(r#"RETURN_VALUES: {"error":"","message_id":"#),
        "{text}"
    );
    assert!(
        text.contains(r#""sent":"Y"}"#) && text.contains(r#""sent":"N"}"#),
        "{text}"
    );
    assert!(
        text.contains("сообщение на номер +79995551234 не отправлено"),
        "{text}"
    );
    assert!(
        text.contains("«Анна, ипотека» статус NEW"),
        "closed lead reopened: {text}"
    );
    assert!(text.contains("Уведомление пользователю"), "{text}");
    assert!(
        text.contains("[url=https://files.example.com/c2d/planirovka-1k.pdf]"),
        "{text}"
    );
    // The Open Lines exchange both ways: the client's words in the line, the operator's
    // answer (signature as plain text, the file re-hosted) at Chat2Desk, the delivery back.
    assert!(
        text.contains("«Здравствуйте! Можно посмотреть квартиру в субботу?»\n    → в линии 1"),
        "{text}"
    );
    assert!(
        text.contains("«Мария Сидорова: Здравствуйте, Ольга! Суббота, 12:00 подойдёт?"),
        "{text}"
    );
    assert!(
        text.contains("→ доставлено: imconnector.send.status.delivery"),
        "{text}"
    );
    assert!(
        text.contains("→ ссылка на файл открывается: HTTP 200 OK, application/pdf"),
        "{text}"
    );
    assert!(
        text.contains("«Да, в 12 будем. Спасибо!»\n    → в линии 1"),
        "{text}"
    );
}
