//! Rounds: the calls one step needs at once, sent together in one `batch` (never split
//! across two), where a call may use an earlier call's answer through `$result[...]`
//! (doc §1.6). Rounds of many jobs share a batch, so a backlog costs a fraction of an HTTP
//! request per round.

use super::batcher::{Pending, Reply, MAX_BATCH};
use super::params::{self, decode, new_id};
use super::references::Link;
use super::Bitrix24;
use super::BitrixError;
use super::EntityType;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use tokio::sync::oneshot;

/// The id a write needs: one known now, or the one an earlier `*.add` of the round answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdOf<'a> {
    /// Known.
    Known(i64),
    /// Answered by the call of this name in the same round.
    Call(&'a str),
}

/// Calls to send together. Each has a name, unique in the round, by which its answer is read.
#[derive(Debug, Default)]
pub struct Round {
    calls: Vec<RoundCall>,
}

#[derive(Debug)]
struct RoundCall {
    name: String,
    method: String,
    params: Value,
    links: Vec<Link>,
}

impl Round {
    /// An empty round.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when nothing is to be sent.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Room left before the round fills a batch.
    pub fn room(&self) -> usize {
        MAX_BATCH.saturating_sub(self.calls.len())
    }

    fn push(&mut self, name: &str, method: &str, params: Value) -> &mut RoundCall {
        self.calls.push(RoundCall {
            name: name.to_string(),
            method: method.to_string(),
            params,
            links: Vec::new(),
        });
        self.calls.last_mut().expect("just pushed")
    }

    /// `crm.duplicate.findbycomm` of one phone for one entity type (`None`: every type; at
    /// most 20 matches per value, and when one type hits 20 the others may be missing).
    pub fn find_by_phone(&mut self, name: &str, phone: &str, kind: Option<EntityType>) {
        self.push(
            name,
            params::FIND_BY_COMM,
            params::find_by_phone(phone, kind),
        );
    }

    /// `crm.<kind>.list` with `filter`, newest first, first page.
    pub fn list(&mut self, name: &str, kind: EntityType, filter: Value) {
        let params = params::list(filter, params::select_of(kind));
        self.push(name, &params::list_method(kind), params);
    }

    /// `crm.<kind>.list` with `filter` and `filter[<field>]` set to `$result[<call>]<path>`:
    /// e.g. the leads whose `@ID` is the `LEAD` list a `findbycomm` call answers. What the
    /// portal does when that call found nothing is not documented, so readers of the answer
    /// keep only the rows they asked for.
    pub fn list_linked(
        &mut self,
        name: &str,
        kind: EntityType,
        filter: Value,
        field: &str,
        call: &str,
        path: &str,
    ) {
        let params = params::list(filter, params::select_of(kind));
        let method = params::list_method(kind);
        self.push(name, &method, params).links.push(Link {
            at: format!("/filter/{}", pointer_step(field)),
            to: call.to_string(),
            path: path.to_string(),
        });
    }

    /// `crm.<kind>.add` of `fields`; `link` sets one field to the id an earlier add answers
    /// (a deal's `CONTACT_ID`).
    pub fn add(&mut self, name: &str, kind: EntityType, fields: Value, link: Option<(&str, &str)>) {
        let call = self.push(name, &params::add_method(kind), params::add(fields));
        if let Some((field, to)) = link {
            call.links.push(Link {
                at: format!("/fields/{}", pointer_step(field)),
                to: to.to_string(),
                path: String::new(),
            });
        }
    }

    /// `crm.<kind>.update` of `fields`.
    pub fn update(&mut self, name: &str, kind: EntityType, id: i64, fields: Value) {
        let method = format!("crm.{}.update", kind.timeline_name());
        self.push(name, &method, params::update(id, fields));
    }

    /// `crm.lead.update` of `fields`.
    pub fn lead_update(&mut self, name: &str, id: i64, fields: Value) {
        self.push(name, "crm.lead.update", params::update(id, fields));
    }

    /// `crm.timeline.comment.add` on an entity known now or created earlier in the round.
    pub fn comment_add(&mut self, name: &str, kind: EntityType, entity: IdOf<'_>, text: &str) {
        let (id, link) = match entity {
            IdOf::Known(id) => (id, None),
            IdOf::Call(to) => (0, Some(to)),
        };
        let call = self.push(name, params::COMMENT_ADD, params::comment(kind, id, text));
        if let Some(to) = link {
            call.links.push(Link {
                at: "/fields/ENTITY_ID".into(),
                to: to.to_string(),
                path: String::new(),
            });
        }
    }

    /// `crm.timeline.comment.list`, first page (newest first), of the entity in the first
    /// row a list call `list` of this round answers (`$result[list][0][ID]`). What the
    /// portal does when that list is empty is not documented: readers keep only the rows
    /// of the entity the list answered.
    pub fn comment_list(&mut self, name: &str, kind: EntityType, list: &str) {
        let params = params::comment_list(kind, Value::Null, 0);
        self.push(name, params::COMMENT_LIST, params)
            .links
            .push(Link {
                at: "/filter/ENTITY_ID".into(),
                to: list.to_string(),
                path: "[0][ID]".into(),
            });
    }

    /// `im.notify.system.add`.
    pub fn notify(&mut self, name: &str, user_id: i64, message: &str) {
        self.push(name, params::NOTIFY, params::notify(user_id, message));
    }
}

/// A filter or field name as one JSON-pointer step (`~` and `/` escaped).
fn pointer_step(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The answers of a round, by call name.
#[derive(Debug)]
pub struct Answers {
    methods: HashMap<String, String>,
    replies: HashMap<String, Result<Reply, BitrixError>>,
}

impl Answers {
    fn take(&mut self, name: &str) -> Result<(String, Reply), BitrixError> {
        let method = self.methods.get(name).cloned().unwrap_or_default();
        match self.replies.remove(name) {
            Some(Ok(reply)) => Ok((method, reply)),
            Some(Err(error)) => Err(error),
            None => Err(BitrixError::Decode {
                method,
                detail: format!("no call named {name} in the round (or read twice)"),
                garbled: false,
            }),
        }
    }

    /// True when the call was in the round (answered or not).
    pub fn has(&self, name: &str) -> bool {
        self.replies.contains_key(name)
    }

    /// The rows a list call answered.
    pub fn rows<T: DeserializeOwned>(&mut self, name: &str) -> Result<Vec<T>, BitrixError> {
        let (method, reply) = self.take(name)?;
        match reply.result {
            Value::Array(_) => decode(&method, reply.result),
            Value::Null => Ok(Vec::new()),
            // `[]` may come as `{}`.
            Value::Object(map) if map.is_empty() => Ok(Vec::new()),
            other => decode(&method, other),
        }
    }

    /// The ids of `kind` a `findbycomm` call answered.
    pub fn found_ids(&mut self, name: &str, kind: EntityType) -> Result<Vec<i64>, BitrixError> {
        let (_, reply) = self.take(name)?;
        params::found_ids(&reply.result, kind)
    }

    /// The ids of two types one `findbycomm` call (without `entity_type`) answered.
    pub fn found_ids_of(
        &mut self,
        name: &str,
        first: EntityType,
        second: EntityType,
    ) -> Result<(Vec<i64>, Vec<i64>), BitrixError> {
        let (_, reply) = self.take(name)?;
        Ok((
            params::found_ids(&reply.result, first)?,
            params::found_ids(&reply.result, second)?,
        ))
    }

    /// The id an `*.add` call answered.
    pub fn new_id(&mut self, name: &str) -> Result<i64, BitrixError> {
        let (method, reply) = self.take(name)?;
        new_id(&method, reply.result)
    }

    /// Success or the error of a call whose result does not matter.
    pub fn done(&mut self, name: &str) -> Result<(), BitrixError> {
        self.take(name).map(drop)
    }
}

impl Bitrix24 {
    /// Sends the round's calls together, in one `batch` (which may carry other rounds too),
    /// and returns every answer. A round of more than 50 calls is refused whole.
    pub async fn round(&self, round: Round) -> Answers {
        let methods: HashMap<String, String> = round
            .calls
            .iter()
            .map(|c| (c.name.clone(), c.method.clone()))
            .collect();
        if round.calls.len() > MAX_BATCH {
            let replies = round
                .calls
                .into_iter()
                .map(|c| {
                    let error = BitrixError::Decode {
                        method: c.method,
                        detail: format!("a round holds at most {MAX_BATCH} calls"),
                        garbled: false,
                    };
                    (c.name, Err(error))
                })
                .collect();
            return Answers { methods, replies };
        }
        let unit_id = self.shared().units.fetch_add(1, Ordering::Relaxed);
        let mut unit = Vec::with_capacity(round.calls.len());
        let mut waiting = Vec::with_capacity(round.calls.len());
        for call in round.calls {
            let (reply, answer) = oneshot::channel();
            unit.push(Pending {
                method: call.method.clone(),
                params: call.params,
                reply,
                unit: unit_id,
                name: Some(call.name.clone()),
                links: call.links,
            });
            waiting.push((call.name, call.method, answer));
        }
        self.submit(unit);
        let mut replies = HashMap::new();
        for (name, method, answer) in waiting {
            let reply = answer.await.unwrap_or_else(|_| {
                Err(BitrixError::Transport {
                    method,
                    detail: "the request task ended without an answer".into(),
                })
            });
            replies.insert(name, reply);
        }
        Answers { methods, replies }
    }
}
