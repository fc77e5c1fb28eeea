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

/// Records a job of the same client resolved a moment ago (remembered in the state
/// database): used before searching, because the portal's duplicate search may not see an
/// entity created seconds ago. Each is checked to still exist before it is used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// The client's lead.
    pub lead: Option<i64>,
    /// The client's contact.
    pub contact: Option<i64>,
    /// Other Chat2Desk client ids of the same person whose jobs may have created an entity
    /// (with that id in `ORIGIN_ID`) and been stopped before remembering it.
    pub origins: Vec<i64>,
}

/// The result of routing: the entity, and a reopened lead to notify about.
#[derive(Debug, Clone)]
pub struct Routed {
    /// Where the transcript goes.
    pub entity: EntityRef,
    /// The lead or contact that stands for the client (the deal's contact for a deal): what
    /// the client's next job should find.
    pub person: EntityRef,
    /// Set when the entity is a closed lead that must be reopened: not done yet, so that the
    /// caller can save this intent first and a crash between the update and the next
    /// checkpoint still notifies the responsible (exactly once) after a restart.
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

    /// Finds or creates the entity for `client` by the configured integration type, trying
    /// the `known` records before searching.
    pub async fn route(
        &self,
        portal: &Bitrix24,
        client: &ClientFacts,
        operator: Option<&Operator>,
        known: Known,
    ) -> Result<Routed, BitrixError> {
        let lookup = Lookup {
            portal,
            client,
            known: &known,
        };
        match self.integration {
            Integration::Lead => self.route_lead(&lookup, operator).await,
            Integration::ContactDeal => self.route_contact_deal(&lookup, operator).await,
            Integration::OpenlinesLead => self.route_openlines(&lookup, operator).await,
        }
    }

    /// Leads: the client's lead (reopened when closed), else their contact, else a new lead.
    async fn route_lead(
        &self,
        lookup: &Lookup<'_>,
        operator: Option<&Operator>,
    ) -> Result<Routed, BitrixError> {
        if let Some(lead) = lookup.lead().await? {
            return Ok(use_lead(lead));
        }
        if let Some(contact) = lookup.contact().await? {
            return Ok(existing(EntityType::Contact, contact));
        }
        self.create_lead(lookup.portal, lookup.client, operator, false)
            .await
    }

    /// Contact + deal: the contact's open deal, else a new deal (or the contact itself when
    /// `new_deal_when_closed` is off); a new client gets a contact and a deal.
    async fn route_contact_deal(
        &self,
        lookup: &Lookup<'_>,
        operator: Option<&Operator>,
    ) -> Result<Routed, BitrixError> {
        let (portal, client) = (lookup.portal, lookup.client);
        let (contact, responsible, created) = match lookup.contact().await? {
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
        let person = EntityRef {
            kind: EntityType::Contact,
            id: contact,
        };
        if let Some(deal) = self.open_deal(portal, contact).await? {
            return Ok(with_person(existing(EntityType::Deal, deal), person));
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
            person,
            reopened: None,
            created: true,
        })
    }

    /// Open Lines lead generation: a known client keeps their contact (its open deal when
    /// there is one) or lead; a new client gets a lead titled the way Open Lines title them.
    async fn route_openlines(
        &self,
        lookup: &Lookup<'_>,
        operator: Option<&Operator>,
    ) -> Result<Routed, BitrixError> {
        if let Some(contact) = lookup.contact().await? {
            if let Some(deal) = self.open_deal(lookup.portal, contact).await? {
                let person = EntityRef {
                    kind: EntityType::Contact,
                    id: contact,
                };
                return Ok(with_person(existing(EntityType::Deal, deal), person));
            }
            return Ok(existing(EntityType::Contact, contact));
        }
        if let Some(lead) = lookup.lead().await? {
            return Ok(use_lead(lead));
        }
        self.create_lead(lookup.portal, lookup.client, operator, true)
            .await
    }

    /// Puts a closed lead back to `NEW` (`crm.lead.update`). Idempotent: a re-run after a
    /// crash sets the same status again.
    pub async fn reopen(&self, portal: &Bitrix24, reopen: &Reopen) -> Result<(), BitrixError> {
        portal
            .lead_update(reopen.lead_id, json!({ "STATUS_ID": "NEW" }))
            .await?;
        tracing::info!(
            entity = "lead",
            entity_id = reopen.lead_id,
            "Reopened a closed lead"
        );
        Ok(())
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
        let entity = EntityRef {
            kind: EntityType::Lead,
            id,
        };
        Ok(Routed {
            entity,
            person: entity,
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
    let entity = EntityRef { kind, id };
    Routed {
        entity,
        person: entity,
        reopened: None,
        created: false,
    }
}

fn with_person(routed: Routed, person: EntityRef) -> Routed {
    Routed { person, ..routed }
}

fn source_description(client: &ClientFacts) -> String {
    match &client.transport {
        Some(t) => format!("Chat2Desk ({t})"),
        None => "Chat2Desk".into(),
    }
}

/// How one routing call finds the client's records: the known ones first, then by phone,
/// then by the Chat2Desk client id kept in `ORIGIN_ID`.
struct Lookup<'a> {
    portal: &'a Bitrix24,
    client: &'a ClientFacts,
    known: &'a Known,
}

impl Lookup<'_> {
    /// The client's lead: the known one while it exists, else the newest found.
    async fn lead(&self) -> Result<Option<Lead>, BitrixError> {
        if let Some(id) = self.known.lead {
            if let Some(lead) = self.lead_by_id(id).await? {
                return Ok(Some(lead));
            }
        }
        if let Some(phone) = &self.client.phone {
            let found = self.portal.find_by_phone(phone, EntityType::Lead).await?;
            if let Some(id) = found.into_iter().max() {
                return self.lead_by_id(id).await;
            }
        }
        for origin in self.origins() {
            let leads = self.portal.leads(origin_filter(origin)).await?;
            if let Some(lead) = leads.into_iter().max_by_key(|l| l.id) {
                return Ok(Some(lead));
            }
        }
        Ok(None)
    }

    /// The client's contact: the known one while it exists, else the newest found.
    async fn contact(&self) -> Result<Option<i64>, BitrixError> {
        if let Some(id) = self.known.contact {
            let contacts = self.portal.contacts(json!({ "ID": id })).await?;
            if contacts.iter().any(|c| c.id == id) {
                return Ok(Some(id));
            }
        }
        if let Some(phone) = &self.client.phone {
            let ids = self
                .portal
                .find_by_phone(phone, EntityType::Contact)
                .await?;
            if let Some(id) = ids.into_iter().max() {
                return Ok(Some(id));
            }
        }
        for origin in self.origins() {
            let contacts = self.portal.contacts(origin_filter(origin)).await?;
            if let Some(id) = contacts.iter().map(|c| c.id).max() {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    async fn lead_by_id(&self, id: i64) -> Result<Option<Lead>, BitrixError> {
        let leads = self.portal.leads(json!({ "ID": id })).await?;
        Ok(leads.into_iter().find(|l| l.id == id))
    }

    /// The Chat2Desk client ids to look for in `ORIGIN_ID`: this client's, then the
    /// person's other ones.
    fn origins(&self) -> impl Iterator<Item = i64> + '_ {
        let own = self.client.client_id;
        std::iter::once(own).chain(
            self.known
                .origins
                .iter()
                .copied()
                .filter(move |o| *o != own),
        )
    }
}

fn origin_filter(client_id: i64) -> serde_json::Value {
    json!({ "ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": client_id.to_string() })
}

/// Uses an existing lead; a closed one is to go back to `NEW` ([`Router::reopen`]), which
/// the caller does only after it saved the intent (see [`Routed::reopened`]).
fn use_lead(lead: Lead) -> Routed {
    let mut routed = existing(EntityType::Lead, lead.id);
    if lead.is_closed() {
        routed.reopened = Some(Reopen {
            lead_id: lead.id,
            title: lead.title.clone(),
            user_id: lead.assigned_by_id,
        });
    }
    routed
}
