//! Finding or creating the entity that gets a request's transcript.
//!
//! Every step is safe to repeat after a crash: an entity is always searched for (by phone,
//! else by the Chat2Desk client id kept in `ORIGIN_ID`) before one is created, so a retry
//! finds what the first try made. Routing only decides ([`Plan`]); the caller's write round
//! creates the entity together with its comments.

use super::creation::{self};
use super::lookup::{self, Found, Needs};
use super::Creation;
use super::{Choice, Responsibles};
use crate::chat2desk::Operator;
use crate::config::{CrmConfig, Integration};
use crate::portal::{Bitrix24, BitrixError, Comment, EntityType, Lead};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `ORIGINATOR_ID` written on every entity we create; `ORIGIN_ID` holds the Chat2Desk client id.
pub const ORIGINATOR: &str = "chat2desk";

/// A CRM entity on the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// Every comment on the entity's timeline, when the lookup round read it whole (`None`:
    /// not read; the caller looks before writing).
    pub timeline: Option<Vec<Comment>>,
}

/// What routing decided: an entity that exists, or what to create in the write round.
#[derive(Debug, Clone)]
pub enum Plan {
    /// The transcript goes to an existing entity.
    Existing(Routed),
    /// The transcript goes to an entity the write round creates.
    Create(Creation),
}

/// The routing rules of one integration type.
#[derive(Debug)]
pub struct Router {
    integration: Integration,
    source: String,
    deal_category: i64,
    new_deal_when_closed: bool,
    responsibles: Responsibles,
    /// The Open Lines bridge is on: with `openlines_lead`, a line may have made the lead.
    line_leads: bool,
}

/// The fields that put a closed lead back to «Не обработан».
pub fn reopen_fields() -> serde_json::Value {
    json!({ "STATUS_ID": "NEW" })
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
            line_leads: false,
        }
    }

    /// With `bridged`, `openlines_lead` looks for the lead an Open Line made for the client
    /// before creating one (see `crm::line_lead`).
    pub fn with_bridge(mut self, bridged: bool) -> Self {
        self.line_leads = bridged;
        self
    }

    /// The responsible picker (for the `operators` command).
    pub fn responsibles(&self) -> &Responsibles {
        &self.responsibles
    }

    /// Decides where `client`'s transcript goes by the configured integration type: one
    /// lookup round (trying the `known` records first, and reading the timeline of the
    /// candidate taken first), then, for a new entity, the choice of its responsible. Nothing is
    /// written here.
    pub async fn plan(
        &self,
        portal: &Bitrix24,
        store: &Store,
        client: &ClientFacts,
        operator: Option<&Operator>,
        known: Known,
    ) -> Result<Plan, BitrixError> {
        let needs = Needs {
            lead: self.integration != Integration::ContactDeal,
            deals_in: (self.integration != Integration::Lead).then_some(self.deal_category),
        };
        let found = lookup::look_up(portal, client, &known, needs).await?;
        let plan = match self.integration {
            Integration::Lead => {
                self.plan_lead(portal, store, client, operator, &found)
                    .await
            }
            Integration::ContactDeal => {
                self.plan_contact_deal(portal, store, client, operator, &found)
                    .await
            }
            Integration::OpenlinesLead => {
                self.plan_openlines(portal, store, client, operator, &found)
                    .await
            }
        }?;
        Ok(match plan {
            Plan::Existing(mut routed) => {
                routed.timeline = found.timeline(routed.entity).map(<[Comment]>::to_vec);
                Plan::Existing(routed)
            }
            create => create,
        })
    }

    /// Leads: the client's lead (reopened when closed), else their contact, else a new lead.
    async fn plan_lead(
        &self,
        portal: &Bitrix24,
        store: &Store,
        client: &ClientFacts,
        operator: Option<&Operator>,
        found: &Found,
    ) -> Result<Plan, BitrixError> {
        if let Some(lead) = found.lead() {
            return Ok(Plan::Existing(use_lead(lead)));
        }
        if let Some(contact) = found.contact() {
            return Ok(Plan::Existing(existing(EntityType::Contact, contact)));
        }
        self.new_lead(portal, store, client, operator, false).await
    }

    /// Contact + deal: the contact's open deal, else a new deal (or the contact itself when
    /// `new_deal_when_closed` is off); a new client gets a contact and a deal.
    async fn plan_contact_deal(
        &self,
        portal: &Bitrix24,
        store: &Store,
        client: &ClientFacts,
        operator: Option<&Operator>,
        found: &Found,
    ) -> Result<Plan, BitrixError> {
        let Some(contact) = found.contact() else {
            let responsible = self.pick(portal, store, client, operator).await?;
            return Ok(Plan::Create(Creation::ContactAndDeal {
                contact: creation::person_fields(client, &self.source, responsible),
                deal: creation::deal_fields(
                    client,
                    &self.source,
                    self.deal_category,
                    None,
                    responsible,
                ),
            }));
        };
        if let Some(deal) = self.open_deal(portal, found, contact).await? {
            return Ok(Plan::Existing(deal_of(deal, contact)));
        }
        if !self.new_deal_when_closed {
            return Ok(Plan::Existing(existing(EntityType::Contact, contact)));
        }
        let responsible = self.pick(portal, store, client, operator).await?;
        Ok(Plan::Create(Creation::Deal {
            contact,
            deal: creation::deal_fields(
                client,
                &self.source,
                self.deal_category,
                Some(contact),
                responsible,
            ),
        }))
    }

    /// Open Lines lead generation: a known client keeps their contact (its open deal when
    /// there is one) or lead; with the bridge on, the lead a line made for the client; a new
    /// client gets a lead titled the way Open Lines title them.
    async fn plan_openlines(
        &self,
        portal: &Bitrix24,
        store: &Store,
        client: &ClientFacts,
        operator: Option<&Operator>,
        found: &Found,
    ) -> Result<Plan, BitrixError> {
        if let Some(contact) = found.contact() {
            if let Some(deal) = self.open_deal(portal, found, contact).await? {
                return Ok(Plan::Existing(deal_of(deal, contact)));
            }
            return Ok(Plan::Existing(existing(EntityType::Contact, contact)));
        }
        if let Some(lead) = found.lead() {
            return Ok(Plan::Existing(use_lead(lead)));
        }
        if self.line_leads {
            if let Some(lead) = super::line_lead::line_lead(portal, client).await? {
                return Ok(Plan::Existing(use_lead(lead)));
            }
        }
        self.new_lead(portal, store, client, operator, true).await
    }

    async fn new_lead(
        &self,
        portal: &Bitrix24,
        store: &Store,
        client: &ClientFacts,
        operator: Option<&Operator>,
        openlines: bool,
    ) -> Result<Plan, BitrixError> {
        let responsible = self.pick(portal, store, client, operator).await?;
        Ok(Plan::Create(Creation::Lead {
            fields: creation::lead_fields(client, &self.source, responsible, openlines),
        }))
    }

    /// The contact's newest open deal in the pipeline: from the lookup round, or asked
    /// directly when a full page there may have hidden it.
    async fn open_deal(
        &self,
        portal: &Bitrix24,
        found: &Found,
        contact: i64,
    ) -> Result<Option<i64>, BitrixError> {
        let (deal, unsure) = found.open_deal(contact);
        if !unsure {
            return Ok(deal);
        }
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
        store: &Store,
        client: &ClientFacts,
        operator: Option<&Operator>,
    ) -> Result<Option<i64>, BitrixError> {
        let op = client.operator_id.map(|id| (id, operator));
        let choice = self.responsibles.pick(portal, store, op).await?;
        if let Some(choice) = choice {
            tracing::debug!(client_id = client.client_id, responsible = ?choice, "Chose a responsible");
        }
        Ok(choice.map(Choice::user_id))
    }
}

fn existing(kind: EntityType, id: i64) -> Routed {
    let entity = EntityRef { kind, id };
    Routed {
        entity,
        person: entity,
        reopened: None,
        timeline: None,
    }
}

/// An existing deal, whose person is its contact.
fn deal_of(deal: i64, contact: i64) -> Routed {
    Routed {
        person: EntityRef {
            kind: EntityType::Contact,
            id: contact,
        },
        ..existing(EntityType::Deal, deal)
    }
}

/// Uses an existing lead; a closed one is to go back to `NEW` ([`reopen_fields`]), which
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
