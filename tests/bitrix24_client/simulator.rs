//! The simulated portal itself: form and query parameters, and `batch` with references and limits.

use chat2desk_b24::sim::bitrix24::PortalSim;
use serde_json::{json, Value};

/// Sends `request` and reads the answer as JSON.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn the_simulator_reads_form_and_query_parameters() {
    let sim = PortalSim::start().await.unwrap();
    let hook = sim.webhook_url();
    let http = reqwest::Client::new();
    sim.add_lead("First", None, "NEW", 1);
    sim.add_lead("Second", None, "JUNK", 1);

    let page: Value = json_of(
        http.get(format!("{hook}crm.lead.list.json?filter[%3EID]=1&select[]=ID&select[]=TITLE&select[]=STATUS_SEMANTIC_ID")),
    )
    .await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["result"][0]["TITLE"], "Second");
    assert_eq!(page["result"][0]["STATUS_SEMANTIC_ID"], "F");
    assert!(page["time"]["duration"].is_number());

    let added: Value = json_of(
        http.post(format!("{hook}crm.lead.add/"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("fields[TITLE]=Form%20lead&fields[PHONE][0][VALUE]=%2B79161234567&fields[PHONE][0][VALUE_TYPE]=WORK"),
    )
    .await;
    let id = added["result"].as_i64().unwrap();
    let got: Value = json_of(http.get(format!("{hook}crm.lead.get?id={id}"))).await;
    assert_eq!(got["result"]["ID"], id.to_string());
    assert_eq!(got["result"]["PHONE"][0]["VALUE"], "+79161234567");
    assert_eq!(got["result"]["HAS_PHONE"], "Y");

    // Invalid JSON silently means "no parameters".
    let response = http
        .post(format!("{hook}crm.lead.add"))
        .header("Content-Type", "application/json; charset=utf-8")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // An unknown method is reported before the credentials are checked.
    let response = http
        .get(format!("{}/rest/1/wrong/crm.nope.list", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "ERROR_METHOD_NOT_FOUND");
}

#[tokio::test]
async fn the_simulator_batch_resolves_references_and_limits() {
    let sim = PortalSim::start().await.unwrap();
    let hook = sim.webhook_url();
    let http = reqwest::Client::new();
    let body = json!({"halt": 0, "cmd": {
        "a": "crm.lead.add?fields[TITLE]=Ref%20lead",
        "b": "crm.lead.get?id=$result[a]",
        "c": "crm.lead.get?id=999999",
        "d": "batch?cmd[x]=profile",
        "e": "crm.timeline.comment.add?fields[ENTITY_TYPE]=lead&fields[ENTITY_ID]=$result[a]&fields[COMMENT]=Lead%20$result[b][TITLE]",
    }});
    let answer: Value = json_of(http.post(format!("{hook}batch")).json(&body)).await;
    let result = &answer["result"];
    assert_eq!(result["result"]["b"]["TITLE"], "Ref lead");
    assert_eq!(result["result_error"]["c"]["error"], "");
    assert_eq!(
        result["result_error"]["c"]["error_description"],
        "Not found"
    );
    assert_eq!(
        result["result_error"]["d"]["error"],
        "ERROR_BATCH_METHOD_NOT_ALLOWED"
    );
    assert_eq!(result["result_next"], json!([]));
    assert_eq!(sim.comments()[0].text, "Lead Ref lead");

    // Written by hand: the portal runs sub-calls in the order of the request.
    let cmd: Vec<String> = (0..51).map(|i| format!("\"q{i}\":\"scope\"")).collect();
    let answer: Value = json_of(
        http.post(format!("{hook}batch"))
            .header("Content-Type", "application/json")
            .body(format!("{{\"cmd\":{{{}}}}}", cmd.join(","))),
    )
    .await;
    assert_eq!(answer["result"]["result"].as_object().unwrap().len(), 50);
    assert_eq!(
        answer["result"]["result_error"]["q50"]["error"],
        "ERROR_BATCH_LENGTH_EXCEEDED"
    );
    assert_eq!(
        answer["result"]["result_error"].as_object().unwrap().len(),
        1
    );

    let halted: Value = json_of(
        http.post(format!("{hook}batch"))
            .json(&json!({"halt": 1, "cmd": {"a": "crm.deal.get?id=77", "b": "profile"}})),
    )
    .await;
    assert_eq!(halted["result"]["result"], json!([]));
    assert!(halted["result"]["result_error"]["a"].is_object());
}
