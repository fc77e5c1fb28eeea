//! `demo` shows an operator finishing the Open Lines session and the closed request becoming
//! a transcript on the portal (the real binary, both simulators in process).

mod common;

#[test]
fn demo_shows_a_finished_session_becoming_a_transcript() {
    let mut demo = std::process::Command::new(common::binary());
    demo.arg("demo");
    let (out, all) = common::output(demo);
    assert!(out.status.success(), "{all}");
    let text = String::from_utf8_lossy(&out.stdout);
    let finish = text
        .find("Оператор завершил сессию")
        .unwrap_or_else(|| panic!("no finished session in the demo: {text}"));
    let after = &text[finish..];
    let closed = after
        .find("закрыто в Chat2Desk")
        .expect("the request closed");
    let transcript = after
        .find("→ стенограмма в таймлайне: lead")
        .expect("the transcript on the client's lead");
    assert!(closed < transcript, "{after}");
}
