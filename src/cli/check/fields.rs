//! The CRM fields the rules write (`[[crm.fields]] to`, the keys of `[[crm.tag_rules]] set`)
//! exist in `crm.<type>.fields` of the integration's entity type and take what the rule gives:
//! a misspelt or wrong-typed field would be left out of every new entity.

use super::progress::Step;
use super::Line;
use crate::config::{Config, Integration};
use crate::portal::crm::fields::{FieldCatalog, Misfit};
use crate::portal::{Bitrix24, EntityType};

/// Field types a text source (`[[crm.fields]] from`) can fill; the value itself is matched
/// when the entity is written (an enumeration's item, a number).
const TEXT_TAKERS: &[&str] = &[
    "string",
    "text",
    "url",
    "enumeration",
    "integer",
    "double",
    "money",
    "char",
    "boolean",
    "crm_status",
    "date",
    "datetime",
    "user",
];

/// The entity type the rules' fields go to: the transcript's (a lead, or the deal).
pub(super) fn entity_type(config: &Config) -> EntityType {
    match config.crm.integration {
        Integration::ContactDeal => EntityType::Deal,
        Integration::Lead | Integration::OpenlinesLead => EntityType::Lead,
    }
}

/// One line per field a rule writes.
pub(super) async fn check(config: &Config, portal: &Bitrix24, step: &Step, lines: &mut Vec<Line>) {
    let crm = &config.crm;
    if crm.fields.is_empty() && crm.tag_rules.is_empty() {
        return;
    }
    let kind = entity_type(config);
    let entity = kind.timeline_name();
    let method = format!("crm.{entity}.fields");
    step.show(format!("crm field rules: {method}"));
    let catalog = match FieldCatalog::read(portal, kind).await {
        Ok(catalog) => catalog,
        Err(e) => {
            let why = format!("{method} failed: {e}; {}", e.hint());
            for (i, _) in crm.fields.iter().enumerate() {
                lines.push(Line::fail(format!("crm.fields[{i}].to"), why.clone()));
            }
            for (i, _) in crm.tag_rules.iter().enumerate() {
                lines.push(Line::fail(format!("crm.tag_rules[{i}].set"), why.clone()));
            }
            return;
        }
    };
    for (i, rule) in crm.fields.iter().enumerate() {
        let key = format!("crm.fields[{i}].to");
        let to = rule.to.trim();
        let line = match catalog.get(to) {
            None => Line::fail(key, format!("{to} is not a field of the {entity} ({method}); write the field's code as the portal shows it (CRM → Settings → Fields), e.g. UF_CRM_…")),
            Some(f) if f.read_only => Line::fail(key, format!("{to} of the {entity} is read-only ({method}); pick a field the portal lets you write")),
            Some(f) if !TEXT_TAKERS.contains(&f.kind.as_str()) => Line::fail(key, format!("{to} of the {entity} is of type {} ({method}), which the text of {} cannot fill; pick a string, list or number field", f.kind, rule.from.trim())),
            Some(f) => Line::ok(key, format!("{to} is a field of the {entity} of type {} ({method})", f.kind)),
        };
        lines.push(line);
    }
    for (i, rule) in crm.tag_rules.iter().enumerate() {
        for (field, value) in &rule.set {
            let key = format!("crm.tag_rules[{i}].set.{}", field.trim());
            let line = match catalog.fit(field.trim(), value) {
                Ok(sent) => Line::ok(key, format!("{value:?} fits {} of the {entity} (sent as {sent})", field.trim())),
                Err(Misfit::Unknown) => Line::fail(key, format!("{} is not a field of the {entity} ({method}); write the field's code as the portal shows it", field.trim())),
                Err(why) => Line::fail(key, format!("{value:?} does not fit {} of the {entity}: {why} ({method}); use one of its values", field.trim())),
            };
            lines.push(line);
        }
    }
}
