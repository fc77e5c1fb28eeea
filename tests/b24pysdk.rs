//! The simulated portal and OAuth server against the official Bitrix24 Python SDK
//! (`b24pysdk`, a client nobody here wrote): `tests/conformance/b24pysdk_portal.py` does the
//! code exchange, a refresh and app-context calls through the SDK's own parsers.
//!
//! `.ci/run` installs the SDK; where it is missing outside CI the test says so and passes.

use chat2desk_b24::sim::bitrix24::PortalSim;
use std::process::Command;

fn sdk_present() -> bool {
    Command::new("python3")
        .args(["-c", "import b24pysdk"])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_parses_every_answer_of_the_simulated_portal() {
    if !sdk_present() {
        assert!(
            std::env::var_os("CI").is_none(),
            "b24pysdk is not installed: scripts/install-ci-deps.sh installs it"
        );
        eprintln!("SKIPPED: python3 -m pip install b24pysdk==1.3.2 to run this test");
        return;
    }
    let sim = PortalSim::start().await.unwrap();
    let (client_id, secret) = sim.register_app(
        "https://c2d.corp.lan/bitrix24/app",
        &["imopenlines", "imconnector", "im", "crm"],
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser
        .get(format!("{}/oauth/authorize/", sim.base_url()))
        .query(&[("client_id", client_id.as_str()), ("state", "s")])
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/b24pysdk_portal.py"
    );
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .env("SIM_BASE", sim.base_url())
            .env("CLIENT_ID", client_id)
            .env("CLIENT_SECRET", secret)
            .env("CODE", code)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "the SDK rejected the simulator:\n{stdout}\n{stderr}"
    );
}
