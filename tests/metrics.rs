//! The `/metrics` contract: the real binary, after a poll, a webhook and a synced request,
//! serves exactly the metrics the table of docs/operations.md ("Health and metrics")
//! documents, each with its type and label names.

mod common;

use common::exposition::{documented_metrics, parse_exposition};
use common::Env;
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_page_matches_the_documented_names_types_and_labels() {
    let env = Env::new().await;
    let daemon = env.spawn_daemon("").await;
    let request = env.close_and_deliver(&daemon).await;
    common::wait_for("the transcript", || env.comments_for(request).len() == 1).await;

    let page = daemon.scrape().await;
    let served = parse_exposition(&page);
    let documented = documented_metrics();
    assert_eq!(
        served.keys().collect::<Vec<_>>(),
        documented.keys().collect::<Vec<_>>(),
        "metric names: served (left) vs docs/operations.md (right)\n{page}"
    );
    for (name, (kind, labels)) in &documented {
        let (served_kind, served_labels) = &served[name];
        assert_eq!(served_kind, kind, "type of {name}");
        assert_eq!(
            served_labels,
            &BTreeSet::from([labels.clone()]),
            "label names of every {name} sample"
        );
    }
}
