//! `[[crm.fields]] update = true`: a later request's transcript also writes the field to the
//! entity that exists, in the same write round (no portal request of its own).

mod common;

use chat2desk_b24::config::{FieldRule, Integration};
use common::{field, Env};

#[tokio::test]
async fn an_update_field_reaches_the_existing_lead_in_the_transcripts_round() {
    let env = Env::new().await;
    let vip = env.c2d.add_tag("VIP");
    let mut config = env.config(Integration::Lead);
    config.crm.fields = vec![FieldRule {
        from: "request.tags".into(),
        to: "COMMENTS".into(),
        update: true,
    }];
    let d = env.daemon(config).await;
    let client = env.s.client_existing;
    let mut portal_requests = Vec::new();
    for tagged in [false, true] {
        if tagged {
            env.c2d.tag_client(client, vip);
            // What the add_tag_to_client webhook does: the cached client is read again.
            d.services().directory.forget_client(client);
        }
        env.c2d.client_says(client, "Есть новости по квартире?");
        env.c2d.close_request(client);
        d.poller.poll_once().await.expect("poll");
        let before = env.portal.http_requests();
        d.worker.run_until_idle().await;
        portal_requests.push(env.portal.http_requests() - before);
    }
    let lead = env
        .portal
        .leads()
        .into_iter()
        .find(|l| field(l, "ID") == env.s.lead_existing.to_string())
        .expect("the existing lead");
    assert_eq!(field(&lead, "COMMENTS"), "VIP", "{lead:#}");
    assert_eq!(
        portal_requests[0], portal_requests[1],
        "the update rides in the transcript's round"
    );
}
