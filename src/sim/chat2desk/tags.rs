//! Tags in the simulated API (`chat2desk-api.md` §2 "Channels, operators, tags"): `GET /tags`
//! lists `{id, group_id, group_name, label, description}`; `POST /tags/assign_to {tag_ids,
//! assignee_type: "client"|"request", assignee_id}` puts tags on a client or a request,
//! whose objects then carry them in `tags` (`[{id, label}]`).

use super::params::Params;
use super::service::{field_error, success, Service};
use super::state::State;
use super::Chat2DeskSim;
use crate::sim::http::SimResponse;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The company's tags and who carries them.
#[derive(Debug, Default)]
pub(super) struct Tags {
    /// id → label.
    labels: BTreeMap<i64, String>,
    /// Tag ids on each client.
    clients: BTreeMap<i64, BTreeSet<i64>>,
    /// Tag ids on each request.
    requests: BTreeMap<i64, BTreeSet<i64>>,
}

/// Ids of simulated tags start here.
const TAG_IDS: i64 = 500;

impl Tags {
    fn json(&self, ids: Option<&BTreeSet<i64>>) -> Value {
        let items: Vec<Value> = ids
            .into_iter()
            .flatten()
            .filter_map(|id| Some(json!({"id": id, "label": self.labels.get(id)?})))
            .collect();
        Value::Array(items)
    }

    /// The `tags` of client `id`.
    pub(super) fn of_client(&self, id: i64) -> Value {
        self.json(self.clients.get(&id))
    }

    /// The `tags` of request `id`.
    pub(super) fn of_request(&self, id: i64) -> Value {
        self.json(self.requests.get(&id))
    }

    /// `GET /tags`.
    pub(super) fn list(&self) -> SimResponse {
        let items: Vec<Value> = self
            .labels
            .iter()
            .map(|(id, label)| {
                json!({"id": id, "group_id": 1, "group_name": "Основная", "label": label,
                       "description": null})
            })
            .collect();
        let total = items.len();
        super::service::list(items, total, total, 0)
    }
}

impl Service {
    /// `POST /tags/assign_to`.
    pub(super) fn assign_tags(&self, p: &Params) -> SimResponse {
        let mut s = self.state();
        let ids: Vec<i64> = p
            .list("tag_ids")
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect();
        if ids.is_empty() || ids.iter().any(|id| !s.tags.labels.contains_key(id)) {
            return field_error(400, "Validation failed", "tag_ids", "unknown tag");
        }
        let Some(assignee) = p.int("assignee_id") else {
            return field_error(400, "Validation failed", "assignee_id", "required");
        };
        let State {
            tags,
            clients,
            requests,
            ..
        } = &mut *s;
        let target = match p.text("assignee_type").as_deref() {
            Some("client") if clients.contains_key(&assignee) => &mut tags.clients,
            Some("request") if requests.contains_key(&assignee) => &mut tags.requests,
            _ => return field_error(400, "Validation failed", "assignee_id", "not found"),
        };
        target.entry(assignee).or_default().extend(ids);
        success(json!({"result": "ok"}))
    }
}

impl Chat2DeskSim {
    /// Creates a tag of the company; returns its id.
    pub fn add_tag(&self, label: &str) -> i64 {
        let mut s = self.svc().state();
        let id = TAG_IDS + s.tags.labels.len() as i64 + 1;
        s.tags.labels.insert(id, label.to_string());
        id
    }

    /// Puts tag `tag` on client `client_id` (as `POST /tags/assign_to` would).
    pub fn tag_client(&self, client_id: i64, tag: i64) {
        let mut s = self.svc().state();
        s.tags.clients.entry(client_id).or_default().insert(tag);
    }

    /// Puts tag `tag` on request `request_id` (as `POST /tags/assign_to` would).
    pub fn tag_request(&self, request_id: i64, tag: i64) {
        let mut s = self.svc().state();
        s.tags.requests.entry(request_id).or_default().insert(tag);
    }
}
