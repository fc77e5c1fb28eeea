//! New CRM entities: their fields, and how they go into the write round, where a deal's
//! `CONTACT_ID` and the comments' `ENTITY_ID` take the new ids through `$result[...]`.

use super::{ClientFacts, EntityRef, Routed, ORIGINATOR};
use crate::portal::{Answers, BitrixError, EntityType, IdOf, Round};
use serde_json::{json, Value};

/// Round call names of the adds.
const NEW_LEAD: &str = "new_lead";
const NEW_CONTACT: &str = "new_contact";
const NEW_DEAL: &str = "new_deal";

/// What routing decided to create.
#[derive(Debug, Clone, PartialEq)]
pub enum Creation {
    /// A lead.
    Lead {
        /// Its fields.
        fields: Value,
    },
    /// A contact and its deal.
    ContactAndDeal {
        /// The contact's fields.
        contact: Value,
        /// The deal's fields (`CONTACT_ID` is the new contact's).
        deal: Value,
    },
    /// A deal of an existing contact.
    Deal {
        /// The contact.
        contact: i64,
        /// The deal's fields.
        deal: Value,
    },
}

/// What the write round made of a creation.
#[derive(Debug)]
pub struct Created {
    /// The entity and its person, when the adds succeeded.
    pub routed: Result<Routed, BitrixError>,
    /// The person when it was created but the target was not (a contact without its deal):
    /// remembered so that the retry finds it at once.
    pub person_only: Option<EntityRef>,
}

impl Creation {
    /// The type of the entity the transcript goes to.
    pub fn target(&self) -> EntityType {
        match self {
            Creation::Lead { .. } => EntityType::Lead,
            _ => EntityType::Deal,
        }
    }

    /// Adds `extra` to the fields of the entity the transcript goes to (its keys win).
    pub fn add_fields(&mut self, extra: &serde_json::Map<String, Value>) {
        let target = match self {
            Creation::Lead { fields } => fields,
            Creation::ContactAndDeal { deal, .. } | Creation::Deal { deal, .. } => deal,
        };
        if let Value::Object(fields) = target {
            fields.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }

    /// Adds the creation to `round`; the id of the transcript's entity for later calls.
    pub fn add_to(&self, round: &mut Round) -> IdOf<'static> {
        match self {
            Creation::Lead { fields } => {
                round.add(NEW_LEAD, EntityType::Lead, fields.clone(), None);
            }
            Creation::ContactAndDeal { contact, deal } => {
                round.add(NEW_CONTACT, EntityType::Contact, contact.clone(), None);
                round.add(
                    NEW_DEAL,
                    EntityType::Deal,
                    deal.clone(),
                    Some(("CONTACT_ID", NEW_CONTACT)),
                );
            }
            Creation::Deal { deal, .. } => {
                round.add(NEW_DEAL, EntityType::Deal, deal.clone(), None);
            }
        }
        IdOf::Call(match self {
            Creation::Lead { .. } => NEW_LEAD,
            _ => NEW_DEAL,
        })
    }

    /// Reads the adds' answers of the round.
    pub fn read(&self, answers: &mut Answers, client_id: i64) -> Created {
        let lead = |id| EntityRef {
            kind: EntityType::Lead,
            id,
        };
        let contact = |id| EntityRef {
            kind: EntityType::Contact,
            id,
        };
        let deal = |id| EntityRef {
            kind: EntityType::Deal,
            id,
        };
        match self {
            Creation::Lead { .. } => Created {
                routed: answers.new_id(NEW_LEAD).map(|id| {
                    log_created("lead", id, client_id);
                    created(lead(id), lead(id))
                }),
                person_only: None,
            },
            Creation::ContactAndDeal { .. } => match answers.new_id(NEW_CONTACT) {
                Err(error) => Created {
                    routed: Err(error),
                    person_only: None,
                },
                Ok(contact_id) => {
                    log_created("contact", contact_id, client_id);
                    let routed = answers.new_id(NEW_DEAL).map(|id| {
                        log_created("deal", id, client_id);
                        created(deal(id), contact(contact_id))
                    });
                    let person_only = routed.is_err().then(|| contact(contact_id));
                    Created {
                        routed,
                        person_only,
                    }
                }
            },
            Creation::Deal {
                contact: contact_id,
                ..
            } => Created {
                routed: answers.new_id(NEW_DEAL).map(|id| {
                    log_created("deal", id, client_id);
                    created(deal(id), contact(*contact_id))
                }),
                person_only: None,
            },
        }
    }
}

fn created(entity: EntityRef, person: EntityRef) -> Routed {
    Routed {
        entity,
        person,
        reopened: None,
        timeline: None,
    }
}

fn log_created(entity: &'static str, id: i64, client_id: i64) {
    tracing::info!(entity, entity_id = id, client_id, "Created a {entity}");
}

/// The fields every lead or contact we create carries.
pub(crate) fn person_fields(client: &ClientFacts, source: &str, responsible: Option<i64>) -> Value {
    let mut fields = json!({
        "NAME": client.name.clone().unwrap_or_default(),
        "SOURCE_ID": source,
        "SOURCE_DESCRIPTION": source_description(client),
        "OPENED": "Y",
        "ORIGINATOR_ID": ORIGINATOR,
        "ORIGIN_ID": client.client_id.to_string(),
    });
    if let Some(phone) = &client.phone {
        fields["PHONE"] = json!([{ "VALUE": phone, "VALUE_TYPE": "MOBILE" }]);
    }
    if let Some(email) = &client.email {
        fields["EMAIL"] = json!([{ "VALUE": email, "VALUE_TYPE": "WORK" }]);
    }
    if let Some(user) = responsible {
        fields["ASSIGNED_BY_ID"] = json!(user);
    }
    fields
}

/// A new lead's fields, titled as the cloud app titles them (or as Open Lines do).
pub(crate) fn lead_fields(
    client: &ClientFacts,
    source: &str,
    responsible: Option<i64>,
    openlines: bool,
) -> Value {
    let name = display_name(client);
    let title = if openlines {
        format!("{name} - Открытая линия Chat2Desk")
    } else {
        format!("Chat2Desk: {name}")
    };
    let mut fields = person_fields(client, source, responsible);
    fields["TITLE"] = json!(title);
    fields["STATUS_ID"] = json!("NEW");
    fields
}

/// A new deal's fields; `contact` is `None` when the contact is created in the same round.
pub(crate) fn deal_fields(
    client: &ClientFacts,
    source: &str,
    category: i64,
    contact: Option<i64>,
    responsible: Option<i64>,
) -> Value {
    let mut fields = json!({
        "TITLE": format!("Chat2Desk: {}", display_name(client)),
        "CATEGORY_ID": category,
        "SOURCE_ID": source,
        "SOURCE_DESCRIPTION": source_description(client),
        "OPENED": "Y",
        "ORIGINATOR_ID": ORIGINATOR,
        "ORIGIN_ID": client.client_id.to_string(),
    });
    if let Some(contact) = contact {
        fields["CONTACT_ID"] = json!(contact);
    }
    if let Some(user) = responsible {
        fields["ASSIGNED_BY_ID"] = json!(user);
    }
    fields
}

fn display_name(client: &ClientFacts) -> String {
    client
        .name
        .clone()
        .or_else(|| client.phone.clone())
        .unwrap_or_else(|| format!("клиент {}", client.client_id))
}

fn source_description(client: &ClientFacts) -> String {
    match &client.transport {
        Some(t) => format!("Chat2Desk ({t})"),
        None => "Chat2Desk".into(),
    }
}
