//! Typed portal methods (doc §2). Every one goes through [`Bitrix24::call`], so calls made at
//! the same time share one `batch` request.

use super::params::{
    self, decode, new_id, COMMENT_ADD, CONTACT_SELECT, DEAL_SELECT, FIND_BY_COMM, LEAD_SELECT,
    NOTIFY,
};
use super::Bitrix24;
use super::BitrixError;
use super::{
    id_from_value, Comment, Contact, Deal, EntityType, Lead, ListPage, Profile, StatusItem, User,
};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

impl Bitrix24 {
    /// `profile`: the webhook's user; the cheapest check that the webhook works.
    pub async fn profile(&self) -> Result<Profile, BitrixError> {
        self.call("profile", json!({})).await
    }

    /// `scope`: the scopes granted to the webhook.
    pub async fn scopes(&self) -> Result<Vec<String>, BitrixError> {
        self.call("scope", json!({})).await
    }

    /// `crm.status.list` of one directory (`STATUS`, `SOURCE`, `DEAL_STAGE`, `DEAL_STAGE_1`…),
    /// in `SORT` order.
    pub async fn statuses(&self, entity_id: &str) -> Result<Vec<StatusItem>, BitrixError> {
        self.call(
            "crm.status.list",
            json!({"filter": {"ENTITY_ID": entity_id}, "order": {"SORT": "ASC"}}),
        )
        .await
    }

    /// `crm.duplicate.findbycomm` for one phone number and entity type: the matching ids
    /// (empty when the portal answers `[]`).
    pub async fn find_by_phone(
        &self,
        phone: &str,
        entity_type: EntityType,
    ) -> Result<Vec<i64>, BitrixError> {
        let result: Value = self
            .call(
                FIND_BY_COMM,
                params::find_by_phone(phone, Some(entity_type)),
            )
            .await?;
        params::found_ids(&result, entity_type)
    }

    /// `crm.lead.list` with `filter`, newest first; the first page (50) only.
    pub async fn leads(&self, filter: Value) -> Result<Vec<Lead>, BitrixError> {
        self.list_rows("crm.lead.list", filter, &LEAD_SELECT).await
    }

    /// `crm.lead.add` without a live-feed event; the new id.
    pub async fn lead_add(&self, fields: Value) -> Result<i64, BitrixError> {
        self.add("crm.lead.add", fields).await
    }

    /// `crm.lead.update` of `fields`.
    pub async fn lead_update(&self, id: i64, fields: Value) -> Result<(), BitrixError> {
        self.call::<Value>("crm.lead.update", params::update(id, fields))
            .await
            .map(drop)
    }

    /// `crm.contact.list` with `filter`, newest first; the first page only.
    pub async fn contacts(&self, filter: Value) -> Result<Vec<Contact>, BitrixError> {
        self.list_rows("crm.contact.list", filter, &CONTACT_SELECT)
            .await
    }

    /// `crm.contact.add`; the new id.
    pub async fn contact_add(&self, fields: Value) -> Result<i64, BitrixError> {
        self.add("crm.contact.add", fields).await
    }

    /// `crm.deal.list` with `filter`, newest first; the first page only.
    pub async fn deals(&self, filter: Value) -> Result<Vec<Deal>, BitrixError> {
        self.list_rows("crm.deal.list", filter, &DEAL_SELECT).await
    }

    /// `crm.deal.add`; the new id.
    pub async fn deal_add(&self, fields: Value) -> Result<i64, BitrixError> {
        self.add("crm.deal.add", fields).await
    }

    /// `crm.timeline.comment.add` (lowercase `fields`, as the method requires); the comment id.
    pub async fn comment_add(
        &self,
        entity: EntityType,
        entity_id: i64,
        text: &str,
    ) -> Result<i64, BitrixError> {
        let result = self
            .call(COMMENT_ADD, params::comment(entity, entity_id, text))
            .await?;
        new_id(COMMENT_ADD, result)
    }

    /// One page of an entity's timeline comments, newest first, from `start`.
    pub async fn comments(
        &self,
        entity: EntityType,
        entity_id: i64,
        start: u64,
    ) -> Result<ListPage<Comment>, BitrixError> {
        const METHOD: &str = params::COMMENT_LIST;
        let page = self
            .call_list(
                METHOD,
                params::comment_list(entity, json!(entity_id), start),
            )
            .await?;
        Ok(ListPage {
            items: decode(METHOD, Value::Array(page.items))?,
            total: page.total,
            next: page.next,
        })
    }

    /// `im.notify.system.add`: a system notice to a portal user.
    pub async fn notify(&self, user_id: i64, message: &str) -> Result<(), BitrixError> {
        self.call::<Value>(NOTIFY, params::notify(user_id, message))
            .await
            .map(drop)
    }

    /// The responsible (`ASSIGNED_BY_ID`) of a CRM entity (`crm.<type>.get`); `None` when
    /// the field is empty.
    pub async fn responsible_of(
        &self,
        entity: EntityType,
        id: i64,
    ) -> Result<Option<i64>, BitrixError> {
        let method = format!("crm.{}.get", entity.timeline_name());
        let record: Value = self.call(&method, json!({"id": id})).await?;
        Ok(record.get("ASSIGNED_BY_ID").and_then(id_from_value))
    }

    /// `bizproc.event.send`: completes the activity waiting on `event_token` with
    /// `return_values` (kept as given: the activity whitelists them) and writes
    /// `log_message` into the workflow's log.
    pub async fn event_send(
        &self,
        event_token: &str,
        return_values: Value,
        log_message: &str,
    ) -> Result<(), BitrixError> {
        self.call::<Value>(
            "bizproc.event.send",
            json!({"EVENT_TOKEN": event_token, "RETURN_VALUES": return_values, "LOG_MESSAGE": log_message}),
        )
        .await
        .map(drop)
    }

    /// `user.get` by id; `None` when there is no such user.
    pub async fn user(&self, id: i64) -> Result<Option<User>, BitrixError> {
        let users: Vec<User> = self.users("user.get", json!({"ID": id})).await?;
        Ok(users.into_iter().find(|u| u.id == id))
    }

    /// Active users with this e-mail (`user.get`).
    pub async fn users_by_email(&self, email: &str) -> Result<Vec<User>, BitrixError> {
        self.users("user.get", json!({"EMAIL": email, "ACTIVE": true}))
            .await
    }

    /// Every active user (`user.get`, all pages), e.g. to choose responsibles from.
    pub async fn active_users(&self) -> Result<Vec<User>, BitrixError> {
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            let page = self
                .call_list(
                    "user.get",
                    json!({"FILTER": {"ACTIVE": true}, "SORT": "ID", "ORDER": "ASC", "start": start}),
                )
                .await?;
            let rows: Vec<User> = decode("user.get", Value::Array(page.items))?;
            let empty = rows.is_empty();
            out.extend(rows);
            match page.next {
                Some(next) if !empty && next > start => start = next,
                _ => return Ok(out),
            }
        }
    }

    async fn users(&self, method: &str, filter: Value) -> Result<Vec<User>, BitrixError> {
        let page = self.call_list(method, json!({"FILTER": filter})).await?;
        decode(method, Value::Array(page.items))
    }

    async fn list_rows<T: DeserializeOwned>(
        &self,
        method: &str,
        filter: Value,
        select: &[&str],
    ) -> Result<Vec<T>, BitrixError> {
        let page = self.call_list(method, params::list(filter, select)).await?;
        decode(method, Value::Array(page.items))
    }

    async fn add(&self, method: &str, fields: Value) -> Result<i64, BitrixError> {
        let result = self.call(method, params::add(fields)).await?;
        new_id(method, result)
    }
}
