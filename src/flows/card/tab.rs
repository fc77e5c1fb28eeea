//! Opening a tab (§9.2): the portal's form is ours (`member_id`), its `AUTH_ID` is a token of
//! the current user (`user.current`), and that user may read the entity (`crm.<kind>.get`
//! with the same token: the portal's CRM permissions decide). The token is used for these
//! calls only: never logged, never stored.

use crate::config::{constant_time_eq, CardConfig, Secret};
use crate::engine::Services;
use crate::portal::crm::phone::normalize_phone;
use crate::portal::{AppClient, BitrixError};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The entity a tab shows, as the current user may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabEntity {
    /// `lead`, `deal`, `contact` or `company`.
    pub kind: String,
    /// The record id.
    pub id: i64,
    /// Its title or name.
    pub title: String,
    /// Its phones in E.164 (a deal's come from its contact).
    pub phones: Vec<String>,
}

/// Who opened the tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabUser {
    /// The portal user id.
    pub id: i64,
    /// First and last name.
    pub name: String,
}

/// Why a tab is not shown: the HTTP status, the text for the manager (Russian) and the
/// reason for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabRefusal {
    /// 400, 403 or 503.
    pub status: u16,
    /// What the page says.
    pub message: String,
    /// What the log says (never a token).
    pub reason: String,
}

impl TabRefusal {
    fn new(status: u16, message: &str, reason: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            reason: reason.into(),
        }
    }
}

/// Checks the portal's form and reads the entity with the current user's token; `form`
/// holds the body's and the query's values.
pub async fn open_tab(
    services: &Services,
    card: &CardConfig,
    form: &HashMap<String, String>,
) -> Result<(TabUser, TabEntity), TabRefusal> {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or_default();
    let kind = card
        .entities
        .iter()
        .find(|e| CardConfig::placement_of(e) == field("PLACEMENT"))
        .cloned()
        .ok_or_else(|| {
            TabRefusal::new(
                400,
                "Эта вкладка не настроена для такой карточки.",
                "PLACEMENT is not a tab of [card] entities",
            )
        })?;
    let id = serde_json::from_str::<Value>(field("PLACEMENT_OPTIONS"))
        .ok()
        .and_then(|o| o.get("ID").cloned())
        .and_then(|v| match v {
            Value::String(s) => s.trim().parse::<i64>().ok(),
            other => other.as_i64(),
        })
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            TabRefusal::new(
                400,
                "Портал не передал номер карточки.",
                "PLACEMENT_OPTIONS has no ID",
            )
        })?;
    let unavailable = |reason: String| {
        TabRefusal::new(
            503,
            "Сервис временно недоступен, обновите вкладку позже.",
            reason,
        )
    };
    let app = services
        .app
        .as_ref()
        .ok_or_else(|| unavailable("[bitrix24.app] is not configured".into()))?;
    let grant = services
        .store
        .grant()
        .await
        .map_err(|e| unavailable(format!("cannot read the app grant: {e}")))?
        .filter(|g| g.revoked.is_none())
        .ok_or_else(|| unavailable("the local application is not connected".into()))?;
    if !constant_time_eq(field("member_id").as_bytes(), grant.member_id.as_bytes())
        || grant.member_id.is_empty()
    {
        return Err(TabRefusal::new(
            403,
            "Вкладка открыта не с того портала.",
            "member_id is not the connected portal's",
        ));
    }
    let token = Secret::new(field("AUTH_ID"));
    if token.is_empty() {
        return Err(TabRefusal::new(
            403,
            "Портал не передал ключ пользователя.",
            "AUTH_ID is empty",
        ));
    }
    let user = app
        .call_as("user.current", json!({}), &token)
        .await
        .map_err(|e| refused_token(&e))?;
    let user = TabUser {
        id: user
            .get("ID")
            .and_then(id_of)
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                TabRefusal::new(
                    403,
                    "Портал не подтвердил пользователя.",
                    "user.current answered no ID",
                )
            })?,
        name: full_name(&user),
    };
    let record = read(app, &kind, id, &token).await?;
    let mut phones = phones_of(&record);
    if kind == "deal" {
        if let Some(contact) = record.get("CONTACT_ID").and_then(id_of).filter(|c| *c > 0) {
            // The deal's contact is read with the same rights; a hidden contact gives no phones.
            if let Ok(contact) = read(app, "contact", contact, &token).await {
                phones.extend(phones_of(&contact));
            }
        }
    }
    phones.dedup();
    let title = ["TITLE", "NAME"]
        .iter()
        .filter_map(|k| record.get(*k).and_then(Value::as_str))
        .find(|t| !t.trim().is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{kind} {id}"));
    Ok((
        user,
        TabEntity {
            kind,
            id,
            title,
            phones,
        },
    ))
}

/// `crm.<kind>.get` with the user's token; a refusal is the page saying so.
async fn read(app: &AppClient, kind: &str, id: i64, token: &Secret) -> Result<Value, TabRefusal> {
    let method = format!("crm.{kind}.get");
    match app.call_as(&method, json!({"id": id}), token).await {
        Ok(record) => Ok(record),
        Err(e) if e.is_transient() => Err(TabRefusal::new(
            503,
            "Портал временно недоступен, обновите вкладку позже.",
            format!("{method} failed: {e}"),
        )),
        Err(e) if matches!(e.code(), Some("expired_token" | "invalid_token")) => {
            Err(refused_token(&e))
        }
        Err(e) => Err(TabRefusal::new(
            403,
            "У вас нет прав на просмотр этой карточки, переписка не показывается.",
            format!("{method} refused for this user: {}", e.code().unwrap_or("")),
        )),
    }
}

fn refused_token(e: &BitrixError) -> TabRefusal {
    if e.is_transient() {
        return TabRefusal::new(
            503,
            "Портал временно недоступен, обновите вкладку позже.",
            format!("{} failed: {e}", e.method()),
        );
    }
    let message = match e.code() {
        Some("expired_token") => "Ключ пользователя устарел: обновите страницу карточки.",
        _ => "Портал не подтвердил ключ пользователя.",
    };
    TabRefusal::new(
        403,
        message,
        format!("{} refused AUTH_ID: {}", e.method(), e.code().unwrap_or("")),
    )
}

fn id_of(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.trim().parse().ok(),
        other => other.as_i64(),
    }
}

fn full_name(user: &Value) -> String {
    let part = |k: &str| {
        user.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let name = format!("{} {}", part("NAME"), part("LAST_NAME"));
    name.trim().to_string()
}

fn phones_of(record: &Value) -> Vec<String> {
    match record.get("PHONE") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|p| p.get("VALUE").and_then(Value::as_str))
            .filter_map(normalize_phone)
            .collect(),
        _ => Vec::new(),
    }
}
