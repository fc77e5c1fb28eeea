//! Finding or creating the entity that gets a request's transcript.
//!
//! Every step is safe to repeat after a crash: an entity is always searched for (by phone,
//! else by the Chat2Desk client id kept in `ORIGIN_ID`) before one is created, so a retry
//! finds what the first try made.

use super::responsible::{Choice, Responsibles};
use crate::bitrix24::{Bitrix24, BitrixError, EntityType, Lead};
use crate::chat2desk::Operator;
use crate::config::{CrmConfig, Integration};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `ORIGINATOR_ID` written on every entity we create; `ORIGIN_ID` holds the Chat2Desk client id.
pub const ORIGINATOR: &str = "chat2desk";

/// A CRM entity on the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    /// Entity type.
    pub kind: EntityType,
    /// Entity id.
    pub id: i64,
}

/// What the worker knows about the client of a request.
#[derive(Debug, Clone, Default)]
pub struct ClientFacts {
    /// Chat2Desk client id.
    pub client_id: i64,
    /// Display name.
    pub name: Option<String>,
    /// Phone in E.164 (`+79161234567`), when the client has a real one.
    pub phone: Option<String>,
    /// E-mail, when known.
    pub email: Option<String>,
    /// Transport or channel name, for titles ("whatsapp").
    pub transport: Option<String>,
    /// The Chat2Desk operator who handled the request: id and record (when still known).
    pub operator_id: Option<i64>,
}

/// A closed lead that was put back to `NEW`: whom to notify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reopen {
    /// The lead.
    pub lead_id: i64,
    /// Its title, for the notification.
    pub title: Option<String>,
    /// The user to notify.
    pub user_id: Option<i64>,
}

/// The result of routing: the entity, and a reopened lead to notify about.
#[derive(Debug, Clone)]
pub struct Routed {
    /// Where the transcript goes.
    pub entity: EntityRef,
    /// Set when a closed lead was reopened by this call.
    pub reopened: Option<Reopen>,
    /// True when the entity was created by this call.
    pub created: bool,
}

/// The routing rules of one integration type.
#[derive(Debug)]
pub struct Router {
    integration: Integration,
    source: String,
    deal_category: i64,
    new_deal_when_closed: bool,
    responsibles: Responsibles,
}

impl Router {
    /// Rules from `[crm]`.
    pub fn new(crm: &CrmConfig) -> Self {
        Self {
            integration: crm.integration,
            source: crm.source.clone(),
            deal_category: crm.deal_category,
            new_deal_when_closed: crm.new_deal_when_closed,
            responsibles: Responsibles::new(crm),
        }
    }

    /// The responsible picker (for the `operators` command).
    pub fn responsibles(&self) -> &Responsibles {
        &self.responsibles
    }

    /// Finds or creates the entity for `client` by the configured integration type.
    pub async fn route(
        &self,
        portal: &Bitrix24,
        client: &ClientFacts,
        operator: Option<&Operator>,
    ) -> Result<Routed, BitrixError> {
        match self.integration {
            Integration::Lead => self.route_lead(portal, client, operator).await,
            Integration::ContactDeal => self.route_contact_deal(portal, client, operator).await,
            Integration::OpenlinesLead => self.route_openlines(portal, client, operator).await,
        }
    }

    /// Leads: the client's lead (reopened when closed), else their contact, else a new lead.
    async fn route_lead(
        &self,
        portal: &Bitrix24,
        client: &ClientFacts,
        operator: Option<&Operator>,
    ) -> Result<Routed, BitrixError> {
        if let Some(lead) = find_lead(portal, client).await? {
            return self.use_lead(portal, lead).await;
        }
        if let Some(contact) = find_contact(portal, client).await? {
            return Ok(existing(EntityType::Contact, contact));
        }
        self.create_lead(portal, client, operator, false).await
    }

    /// Contact + deal: the contact's open deal, else a new deal (or the contact itself when
    /// `new_deal_when_closed` is off); a new client gets a contact and a deal.
    async fn route_contact_deal(
        &self,
        portal: &Bitrix24,
        client: &ClientFacts,
        operator: Option<&Operator>,
    ) -> Result<Routed, BitrixError> {
        let (contact, responsible, created) = match find_contact(portal, client).await? {
            Some(id) => (id, None, false),
            None => {
                let responsible = self.pick(portal, client, operator).await?;
                let id = portal
                    .contact_add(self.contact_fields(client, responsible))
                    .await?;
                tracing::info!(
                    entity = "contact",
                    entity_id = id,
                    client_id = client.client_id,
                    "Created a contact"
                );
                (id, responsible, true)
            }
        };
        if let Some(deal) = self.open_deal(portal, contact).await? {
            return Ok(existing(EntityType::Deal, deal));
        }
        if !self.new_deal_when_closed && !created {
            return Ok(existing(EntityType::Contact, contact));
        }
        let responsible = match responsible {
            Some(r) => Some(r),
            None => self.pick(portal, client, operator).await?,
        };
        let id = portal
            .deal_add(self.deal_fields(client, contact, responsible))
            .await?;
        tracing::info!(
            entity = "deal",
            entity_id = id,
            client_id = client.client_id,
            "Created a deal"
        );
        Ok(Routed {
            entity: EntityRef {
                kind: EntityType::Deal,
                id,
            },
            reopened: None,
            created: true,
        })
    }

    /// Open Lines lead generation: a known client keeps their contact (its open deal when
    /// there is one) or lead; a new client gets a lead titled the way Open Lines title them.
    async fn route_openlines(
        &self,
        portal: &Bitrix24,
        client: &ClientFacts,
        operator: Option<&Operator>,
    ) -> Result<Routed, BitrixError> {
        if let Some(contact) = find_contact(portal, client).await? {
            if let Some(deal) = self.open_deal(portal, contact).await? {
                return Ok(existing(EntityType::Deal, deal));
            }
            return Ok(existing(EntityType::Contact, contact));
        }
        if let Some(lead) = find_lead(portal, client).await? {
            return self.use_lead(portal, lead).await;
        }
        self.create_lead(portal, client, operator, true).await
    }

    /// Uses an existing lead; a closed one goes back to `NEW`.
    async fn use_lead(&self, portal: &Bitrix24, lead: Lead) -> Result<Routed, BitrixError> {
        let mut routed = existing(EntityType::Lead, lead.id);
        if lead.is_closed() {
            portal
                .lead_update(lead.id, json!({ "STATUS_ID": "NEW" }))
                .await?;
            tracing::info!(
                entity = "lead",
                entity_id = lead.id,
                "Reopened a closed lead"
            );
            routed.reopened = Some(Reopen {
                lead_id: lead.id,
                title: lead.title.clone(),
                user_id: lead.assigned_by_id,
            });
        }
        Ok(routed)
    }

    async fn create_lead(
        &self,
        portal: &Bitrix24,
        client: &ClientFacts,
        operator: Option<&Operator>,
        openlines: bool,
    ) -> Result<Routed, BitrixError> {
        let responsible = self.pick(portal, client, operator).await?;
        let name = client
            .name
            .clone()
            .or_else(|| client.phone.clone())
            .unwrap_or_else(|| format!("клиент {}", client.client_id));
        let title = if openlines {
            format!("{name} - Открытая линия Chat2Desk")
        } else {
            format!("Chat2Desk: {name}")
        };
        let mut fields = self.person_fields(client, responsible);
        fields["TITLE"] = json!(title);
        fields["STATUS_ID"] = json!("NEW");
        let id = portal.lead_add(fields).await?;
        tracing::info!(entity = "lead", entity_id = id, client_id = client.client_id, responsible = ?responsible, "Created a lead");
        Ok(Routed {
            entity: EntityRef {
                kind: EntityType::Lead,
                id,
            },
            reopened: None,
            created: true,
        })
    }

    async fn open_deal(&self, portal: &Bitrix24, contact: i64) -> Result<Option<i64>, BitrixError> {
        let deals = portal
            .deals(json!({
                "CONTACT_ID": contact,
                "CATEGORY_ID": self.deal_category,
                "CLOSED": "N",
            }))
            .await?;
        Ok(deals.iter().filter(|d| !d.closed).map(|d| d.id).max())
    }

    async fn pick(
        &self,
        portal: &Bitrix24,
        client: &ClientFacts,
        operator: Option<&Operator>,
    ) -> Result<Option<Choice>, BitrixError> {
        let op = client.operator_id.map(|id| (id, operator));
        self.responsibles.pick(portal, op).await
    }

    fn person_fields(
        &self,
        client: &ClientFacts,
        responsible: Option<Choice>,
    ) -> serde_json::Value {
        let mut fields = json!({
            "NAME": client.name.clone().unwrap_or_default(),
            "SOURCE_ID": self.source,
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
        if let Some(r) = responsible {
            fields["ASSIGNED_BY_ID"] = json!(r.user_id());
        }
        fields
    }

    fn contact_fields(
        &self,
        client: &ClientFacts,
        responsible: Option<Choice>,
    ) -> serde_json::Value {
        self.person_fields(client, responsible)
    }

    fn deal_fields(
        &self,
        client: &ClientFacts,
        contact: i64,
        responsible: Option<Choice>,
    ) -> serde_json::Value {
        let name = client
            .name
            .clone()
            .or_else(|| client.phone.clone())
            .unwrap_or_else(|| format!("клиент {}", client.client_id));
        let mut fields = json!({
            "TITLE": format!("Chat2Desk: {name}"),
            "CONTACT_ID": contact,
            "CATEGORY_ID": self.deal_category,
            "SOURCE_ID": self.source,
            "SOURCE_DESCRIPTION": source_description(client),
            "OPENED": "Y",
            "ORIGINATOR_ID": ORIGINATOR,
            "ORIGIN_ID": client.client_id.to_string(),
        });
        if let Some(r) = responsible {
            fields["ASSIGNED_BY_ID"] = json!(r.user_id());
        }
        fields
    }
}

fn existing(kind: EntityType, id: i64) -> Routed {
    Routed {
        entity: EntityRef { kind, id },
        reopened: None,
        created: false,
    }
}

fn source_description(client: &ClientFacts) -> String {
    match &client.transport {
        Some(t) => format!("Chat2Desk ({t})"),
        None => "Chat2Desk".into(),
    }
}

/// The client's newest lead: by phone, else by the Chat2Desk client id in `ORIGIN_ID`.
async fn find_lead(portal: &Bitrix24, client: &ClientFacts) -> Result<Option<Lead>, BitrixError> {
    if let Some(phone) = &client.phone {
        if let Some(id) = portal
            .find_by_phone(phone, EntityType::Lead)
            .await?
            .into_iter()
            .max()
        {
            let leads = portal.leads(json!({ "ID": id })).await?;
            return Ok(leads.into_iter().find(|l| l.id == id));
        }
    }
    let leads = portal.leads(origin_filter(client)).await?;
    Ok(leads.into_iter().max_by_key(|l| l.id))
}

fn origin_filter(client: &ClientFacts) -> serde_json::Value {
    json!({ "ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": client.client_id.to_string() })
}

/// The client's newest contact: by phone, else by the Chat2Desk client id in `ORIGIN_ID`.
async fn find_contact(portal: &Bitrix24, client: &ClientFacts) -> Result<Option<i64>, BitrixError> {
    if let Some(phone) = &client.phone {
        let ids = portal.find_by_phone(phone, EntityType::Contact).await?;
        if let Some(id) = ids.into_iter().max() {
            return Ok(Some(id));
        }
    }
    let contacts = portal.contacts(origin_filter(client)).await?;
    Ok(contacts.iter().map(|c| c.id).max())
}
