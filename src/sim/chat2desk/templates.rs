//! Message templates in the simulated API (`chat2desk-api.md` §2 "templates"): `GET
//! /templates` lists `{id, command, text, name, created}`, `GET /templates/{id}` one of them.

use super::service::{not_found, success};
use super::Chat2DeskSim;
use crate::sim::http::SimResponse;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The company's templates, by id.
#[derive(Debug, Default)]
pub(super) struct Templates {
    items: BTreeMap<i64, Value>,
}

/// Ids of simulated templates start here.
const TEMPLATE_IDS: i64 = 700;

impl Templates {
    /// `GET /templates`.
    pub(super) fn list(&self) -> SimResponse {
        let items: Vec<Value> = self.items.values().cloned().collect();
        let total = items.len();
        super::service::list(items, total, total, 0)
    }

    /// `GET /templates/{id}`.
    pub(super) fn one(&self, id: Option<i64>) -> SimResponse {
        match id.and_then(|id| self.items.get(&id)) {
            Some(t) => success(t.clone()),
            None => not_found(),
        }
    }
}

impl Chat2DeskSim {
    /// Adds a message template; returns its id.
    pub fn add_template(&self, name: &str, text: &str) -> i64 {
        let mut s = self.svc().state();
        let id = TEMPLATE_IDS + s.templates.items.len() as i64 + 1;
        let template = json!({
            "id": id, "name": name, "command": format!("/t{id}"), "text": text,
            "created": "2026-01-01T00:00:00 UTC",
        });
        s.templates.items.insert(id, template);
        id
    }
}
