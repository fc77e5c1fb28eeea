//! `profile`, `user.get`, `user.current`, `im.notify.*` and `crm.timeline.comment.*`
//! (doc §2.1, §2.7–§2.9).

use super::listing;
use super::state::{now_iso, SimComment, State, StoredComment, WEBHOOK_USER};
use super::values::{int, param, text, truthy};
use super::{ApiError, Reply};
use serde_json::{json, Map, Value};

/// Largest stored comment (`b_crm_timeline.COMMENT` is MySQL `TEXT`, doc §4).
const MAX_COMMENT_BYTES: usize = 65_535;

/// `profile`.
pub(crate) fn profile(state: &mut State) -> Result<Reply, ApiError> {
    let user = state.user(state.caller).cloned().unwrap_or_default();
    if !user.get("ACTIVE").is_some_and(truthy) {
        return Ok(Reply::of(json!({})));
    }
    let admin = state.admins.contains(&state.caller);
    Ok(Reply::of(json!({
        "ID": user["ID"], "ADMIN": admin, "NAME": user["NAME"], "LAST_NAME": user["LAST_NAME"],
        "PERSONAL_GENDER": "", "TIME_ZONE": "",
    })))
}

/// `user.current`.
pub(crate) fn current(state: &mut State) -> Result<Reply, ApiError> {
    let user = state.user(state.caller).cloned().unwrap_or_default();
    Ok(Reply::of(Value::Object(user)))
}

/// `user.get`: `FILTER` (or plain top-level keys) on `ID`, `EMAIL`, `ACTIVE`, names.
pub(crate) fn user_get(state: &mut State, params: &Value) -> Result<Reply, ApiError> {
    let mut filter = Map::new();
    if let Some(Value::Object(map)) = param(params, &["FILTER", "filter"]) {
        filter.extend(map.clone());
    }
    if let Value::Object(top) = params {
        for (key, value) in top {
            let reserved = ["FILTER", "SORT", "ORDER", "START", "ADMIN_MODE"];
            if !reserved.contains(&key.to_uppercase().as_str()) {
                filter.insert(key.clone(), value.clone());
            }
        }
    }
    let rows: Vec<Map<String, Value>> = state
        .users
        .iter()
        .filter(|user| {
            filter
                .iter()
                .all(|(key, wanted)| match key.to_uppercase().as_str() {
                    "ACTIVE" => user.get("ACTIVE").is_some_and(truthy) == truthy(wanted),
                    "ID" => user.get("ID").and_then(int) == int(wanted),
                    field => {
                        let actual = user.get(field).and_then(text).unwrap_or_default();
                        // E-mail and names compare as a case-insensitive DB collation would.
                        text(wanted).is_some_and(|w| w.eq_ignore_ascii_case(&actual))
                    }
                })
        })
        .cloned()
        .collect();
    if rows.is_empty() {
        return Ok(Reply::of(json!([])));
    }
    listing::page(rows, params)
}

/// `im.notify.system.add` / `im.notify.personal.add`.
pub(crate) fn notify(state: &mut State, params: &Value) -> Result<Reply, ApiError> {
    let user = param(params, &["USER_ID", "TO", "user_id", "to"])
        .and_then(int)
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::new(400, "USER_ID_EMPTY", "Recipient ID can't be empty"))?;
    let message = param(params, &["MESSAGE", "message"])
        .and_then(text)
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::new(400, "MESSAGE_EMPTY", "Message can't be empty"))?;
    if state.user(user).is_none() {
        return Ok(Reply::of(json!(false)));
    }
    state.notifications.push((user, message));
    Ok(Reply::of(json!(state.notifications.len())))
}

/// `crm.timeline.comment.add`: lowercase `fields` only (crm ≥ 23.100.0).
pub(crate) fn comment_add(state: &mut State, params: &Value) -> Result<Reply, ApiError> {
    let Some(fields) = params.get("fields").and_then(Value::as_object) else {
        return Err(ApiError::new(
            400,
            "ERROR_ARGUMENT",
            "Required parameter 'fields' is missing",
        ));
    };
    let entity_type = fields
        .get("ENTITY_TYPE")
        .and_then(text)
        .unwrap_or_default()
        .to_lowercase();
    let entity_id = fields.get("ENTITY_ID").and_then(int).unwrap_or(0);
    let comment = fields
        .get("COMMENT")
        .and_then(text)
        .unwrap_or_default()
        .trim()
        .to_string();
    if comment.is_empty() {
        return Err(ApiError::new(400, "INVALID_ARG_VALUE", "Empty comment"));
    }
    if comment.len() > MAX_COMMENT_BYTES {
        return Err(ApiError::new(
            400,
            "INVALID_ARG_VALUE",
            "Comment is too long for the timeline",
        ));
    }
    let exists = match entity_type.as_str() {
        "lead" => state.leads.contains_key(&entity_id),
        "contact" => state.contacts.contains_key(&entity_id),
        "deal" => state.deals.contains_key(&entity_id),
        _ => false,
    };
    if !exists {
        return Err(ApiError::new(
            400,
            "OWNER_NOT_FOUND",
            "Owner element not found",
        ));
    }
    let author_id = fields
        .get("AUTHOR_ID")
        .and_then(int)
        .filter(|id| *id > 0)
        .unwrap_or(WEBHOOK_USER);
    let id = state.comments.len() as i64 + 1;
    state.comments.push(StoredComment {
        comment: SimComment {
            id,
            entity_type,
            entity_id,
            text: comment,
        },
        author_id,
        created: now_iso(),
    });
    Ok(Reply::of(json!(id)))
}

/// `crm.timeline.comment.list`: the filter honours only `ENTITY_ID` and `ENTITY_TYPE`.
pub(crate) fn comment_list(state: &mut State, params: &Value) -> Result<Reply, ApiError> {
    let filter = param(params, &["filter", "FILTER"])
        .cloned()
        .unwrap_or(Value::Null);
    let entity_id = filter.get("ENTITY_ID").and_then(int);
    let entity_type = filter
        .get("ENTITY_TYPE")
        .and_then(text)
        .map(|t| t.to_lowercase());
    let mut rows: Vec<Map<String, Value>> = state
        .comments
        .iter()
        .filter(|c| entity_id.is_none() || entity_id == Some(c.comment.entity_id))
        .filter(|c| entity_type.is_none() || entity_type.as_ref() == Some(&c.comment.entity_type))
        .map(|c| {
            json!({
                "ID": c.comment.id.to_string(),
                "ENTITY_ID": c.comment.entity_id.to_string(),
                "ENTITY_TYPE": c.comment.entity_type,
                "CREATED": c.created,
                "COMMENT": c.comment.text,
                "AUTHOR_ID": c.author_id.to_string(),
                "FILES": [],
            })
            .as_object()
            .expect("object")
            .clone()
        })
        .collect();
    let order = param(params, &["order", "ORDER"])
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter(|(k, _)| {
                    matches!(k.to_uppercase().as_str(), "ID" | "CREATED" | "AUTHOR_ID")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<String, Value>>()
        });
    listing::sort(&mut rows, order.map(Value::Object).as_ref());
    let select = param(params, &["select", "SELECT"]);
    let ordinary = [
        "ID",
        "ENTITY_ID",
        "ENTITY_TYPE",
        "CREATED",
        "COMMENT",
        "AUTHOR_ID",
    ];
    let rows = rows
        .iter()
        .map(|r| listing::project(r, select, &ordinary))
        .collect();
    listing::page(rows, params)
}
