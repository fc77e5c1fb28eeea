//! The rules' field values made to fit the entity's fields (`crm.<type>.fields`, cached per
//! process): an enumeration gets its item's id; a value that fits no item, not the field's
//! type or no field is left out, logged, and noted once on the entity's timeline (once per
//! entity, field and value: a `meta` key remembers it), and the transcript is written anyway.

use super::request::TranscriptRules;
use crate::config::{FieldRule, TagRule};
use crate::engine::Services;
use crate::portal::crm::field_cache::{self, catalog};
use crate::portal::crm::fields::Misfit;
use crate::portal::crm::EntityRef;
use crate::portal::{escape, EntityType};
use serde_json::{Map, Value};

/// A value the rules gave a field that does not take it.
#[derive(Debug, Clone)]
pub(super) struct Unfit {
    /// The rule's key, e.g. `crm.fields[2]` or `crm.tag_rules[0].set`.
    rule: String,
    field: String,
    value: String,
    why: Misfit,
}

/// The key of the rule that gave `field` its value (tag rules win, as in `fields`).
fn rule_of(field: &str, fields: &[FieldRule], tag_rules: &[TagRule]) -> String {
    let tag = tag_rules
        .iter()
        .rposition(|r| r.set.keys().any(|k| k.trim() == field));
    if let Some(i) = tag {
        return format!("crm.tag_rules[{i}].set");
    }
    match fields.iter().rposition(|r| r.to.trim() == field) {
        Some(i) => format!("crm.fields[{i}]"),
        None => "crm.fields".into(),
    }
}

/// Reads the field catalogs a transcript may write to, alongside the lookup (in its `batch`),
/// when a rule writes fields: the write round then needs no request of its own.
pub(super) async fn prefetch(services: &Services, rules: &TranscriptRules) {
    if rules.fields.is_empty() && rules.tag_rules.is_empty() {
        return;
    }
    let kinds = [EntityType::Lead, EntityType::Deal, EntityType::Contact];
    field_cache::prefetch(&services.portal, &kinds).await;
}

/// `values` made to fit the fields of `kind`, and those that did not. When the catalog cannot
/// be read the values go as they are (the portal takes or refuses them).
pub(super) async fn fit(
    services: &Services,
    (fields, tag_rules): (&[FieldRule], &[TagRule]),
    kind: EntityType,
    values: &Map<String, Value>,
    request_id: i64,
) -> (Map<String, Value>, Vec<Unfit>) {
    if values.is_empty() {
        return (Map::new(), Vec::new());
    }
    let catalog = match catalog(&services.portal, kind).await {
        Ok(catalog) => catalog,
        Err(e) => {
            tracing::warn!(
                request_id,
                entity = kind.timeline_name(),
                portal_method = %format!("crm.{}.fields", kind.timeline_name()),
                error = %e,
                "Could not read the entity's fields: the rules' values go unchecked"
            );
            return (values.clone(), Vec::new());
        }
    };
    let mut fitted = Map::new();
    let mut unfit = Vec::new();
    for (field, value) in values {
        let text = value.as_str().unwrap_or_default();
        match catalog.fit(field, text) {
            Ok(sent) => {
                fitted.insert(field.clone(), sent);
            }
            Err(why) => {
                let rule = rule_of(field, fields, tag_rules);
                tracing::warn!(
                    request_id,
                    entity = kind.timeline_name(),
                    field = %field,
                    rule = %rule,
                    reason = %why,
                    "A rule's value does not fit the CRM field: left out, the transcript is written anyway"
                );
                unfit.push(Unfit {
                    rule,
                    field: field.clone(),
                    value: text.to_string(),
                    why,
                });
            }
        }
    }
    (fitted, unfit)
}

/// Notes each misfit on the entity's timeline, once per entity, field and value; a failure
/// is logged and never holds the transcript up.
pub(super) async fn note(services: &Services, entity: EntityRef, unfit: &[Unfit], request_id: i64) {
    let name = entity.kind.timeline_name();
    for u in unfit {
        let value: String = u.value.chars().take(100).collect();
        let key = format!("field_misfit:{name}:{}:{}:{value}", entity.id, u.field);
        if matches!(services.store.meta(&key).await, Ok(Some(_))) {
            continue;
        }
        let text = format!(
            "Правило {} интеграции Chat2Desk не применено: значение «{}» не подходит для поля {} ({}). Исправьте правило в настройках интеграции.",
            u.rule,
            escape(&u.value),
            u.field,
            russian(&u.why)
        );
        match services
            .portal
            .comment_add(entity.kind, entity.id, &text)
            .await
        {
            Ok(_) => {
                if let Err(e) = services.store.set_meta(&key, &request_id.to_string()).await {
                    tracing::warn!(request_id, entity = name, error = %e, "Could not remember a noted field misfit");
                }
            }
            Err(e) => tracing::warn!(
                request_id,
                entity = name,
                entity_id = entity.id,
                portal_method = "crm.timeline.comment.add",
                error = %e,
                "Could not note a field misfit on the timeline"
            ),
        }
    }
}

fn russian(why: &Misfit) -> String {
    match why {
        Misfit::Unknown => "такого поля нет".into(),
        Misfit::ReadOnly => "поле только для чтения".into(),
        Misfit::NoItem(items) => {
            format!("в списке нет такого значения; есть: {}", items.join(", "))
        }
        Misfit::WrongType(kind) => format!("поле типа {kind}"),
    }
}
