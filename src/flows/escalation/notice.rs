//! Who gets an escalation notice and what it says: the client's name, the channel, how long
//! the client has waited, a link to the chat in Chat2Desk and to the client's CRM card.

use super::EscalationRules;
use crate::config::{EscalationConfig, Notify};
use crate::engine::{JobError, Services};
use crate::portal::crm::EntityRef;
use crate::portal::{escape, EntityType, ErrorKind};
use crate::store::{ClientKey, Wait};
use chrono::Utc;

/// How far back the client's entity, as the transcript jobs remembered it, is looked up.
const REMEMBERED_FOR: chrono::Duration = chrono::Duration::days(400);

/// The client's lead or contact, as its transcript jobs remembered it (the records the
/// transcript flow keeps under the client's Chat2Desk id: `crm.lead`, `crm.contact`).
pub(super) async fn entity_of(
    services: &Services,
    client_id: i64,
) -> Result<Option<EntityRef>, JobError> {
    let keys = [ClientKey::chat2desk(client_id)];
    let records = services
        .store
        .client_records(&keys, Utc::now() - REMEMBERED_FOR)
        .await?;
    Ok(records.iter().find_map(|r| {
        let kind = match r.scope.as_str() {
            "crm.lead" => EntityType::Lead,
            "crm.contact" => EntityType::Contact,
            _ => return None,
        };
        Some(EntityRef { kind, id: r.id })
    }))
}

/// The users to notify: the listed ones, or the entity's responsible (`ASSIGNED_BY_ID`),
/// else, for a client with no entity yet, the first of `[crm] default_responsibles`.
pub(super) async fn recipients(
    services: &Services,
    rules: &EscalationRules,
    config: &EscalationConfig,
    entity: Option<EntityRef>,
) -> Result<Vec<i64>, JobError> {
    if let Notify::Users(users) = &config.notify {
        return Ok(users.clone());
    }
    if let Some(entity) = entity {
        match services.portal.responsible_of(entity.kind, entity.id).await {
            Ok(Some(user)) => return Ok(vec![user]),
            Ok(None) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(rules
        .default_responsibles
        .first()
        .copied()
        .into_iter()
        .collect())
}

/// The notice's text (BB-code, as `im.notify.system.add` shows it).
pub(super) fn text(
    services: &Services,
    wait: &Wait,
    name: Option<&str>,
    entity: Option<EntityRef>,
) -> String {
    let m = &wait.opened_by;
    let minutes = (Utc::now() - m.at).num_minutes().max(0);
    let who = name
        .map(|n| escape(n.trim()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("№{}", m.client_id));
    let channel = m
        .channel_id
        .map_or_else(String::new, |c| format!(" (канал {c})"));
    let mut links = Vec::new();
    if let Some(dialog) = m.dialog_id {
        let url = services.directory.chat_url(dialog);
        links.push(format!("[url={url}]Открыть чат в Chat2Desk[/url]"));
    }
    if let Some(entity) = entity {
        let url = format!(
            "{}/crm/{}/details/{}/",
            services.portal.portal_url(),
            entity.kind.timeline_name(),
            entity.id
        );
        links.push(format!("[url={url}]Карточка в CRM[/url]"));
    }
    format!(
        "Chat2Desk: клиент {who}{channel} ждёт ответа оператора {minutes} мин. {}",
        links.join(" · ")
    )
    .trim_end()
    .to_string()
}
