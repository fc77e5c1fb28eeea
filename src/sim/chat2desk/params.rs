//! Request parameters from the query string, a JSON body or a form body: the API accepts
//! all three (`chat2desk-api.md` §1).

use crate::chat2desk::lenient;
use crate::sim::http::SimRequest;
use serde_json::{Map, Value};

/// Merged parameters: query first, body on top.
pub(super) struct Params(pub(super) Map<String, Value>);

impl Params {
    pub fn of(req: &SimRequest) -> Self {
        let mut map = Map::new();
        merge_pairs(&mut map, req.query_pairs());
        if let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) {
            map.extend(body);
        } else if !req.body.is_empty() {
            let pairs = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            merge_pairs(&mut map, pairs);
        }
        Self(map)
    }

    pub fn value(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn text(&self, name: &str) -> Option<String> {
        match self.value(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn int(&self, name: &str) -> Option<i64> {
        lenient::int(self.value(name))
    }

    /// A list given as a JSON array, repeated `name[]` keys or a comma list.
    pub fn list(&self, name: &str) -> Vec<String> {
        lenient::strings(self.value(name))
    }

    /// `limit` (default 20, at most 200) and `offset` (default 0).
    pub fn window(&self) -> (usize, usize) {
        let limit = self
            .int("limit")
            .filter(|l| *l > 0)
            .map_or(20, |l| l.min(200) as usize);
        let offset = self.int("offset").map_or(0, |o| o.max(0) as usize);
        (limit, offset)
    }

    /// `order=desc` → true.
    pub fn descending(&self) -> bool {
        self.text("order")
            .is_some_and(|o| o.eq_ignore_ascii_case("desc"))
    }
}

fn merge_pairs(map: &mut Map<String, Value>, pairs: Vec<(String, String)>) {
    for (key, value) in pairs {
        if let Some(base) = key.strip_suffix("[]") {
            let entry = map
                .entry(base.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(items) = entry {
                items.push(Value::String(value));
            }
        } else {
            map.insert(key, Value::String(value));
        }
    }
}
