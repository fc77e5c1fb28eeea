//! `[crm]`: which CRM entities a request lands in, and who is responsible for them.

use super::rules::{CrmFilter, FieldRule, ResponsiblePick, TagRule};
use serde::{Deserialize, Serialize};

/// Which CRM entities a request lands in (the seed app's "integration type").
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Integration {
    /// Leads: a new client gets a lead.
    #[default]
    Lead,
    /// Contact + Deal: a new client gets a contact and a deal.
    ContactDeal,
    /// Open Lines lead generation: known clients keep their contact/deal/lead, new ones get a lead.
    OpenlinesLead,
}

/// A Chat2Desk operator, named by id or by e-mail in `[[crm.operators]]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OperatorRef {
    /// Chat2Desk operator id.
    Id(i64),
    /// Chat2Desk operator e-mail.
    Email(String),
}

/// One `[[crm.operators]]` entry: a Chat2Desk operator and the portal user standing for them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OperatorMapping {
    /// The Chat2Desk operator (id or e-mail).
    pub chat2desk: OperatorRef,
    /// The Bitrix24 user id.
    pub bitrix24: i64,
}

/// `[crm]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CrmConfig {
    /// Integration type.
    pub integration: Integration,
    /// `SOURCE_ID` of new entities (a `SOURCE` status id).
    pub source: String,
    /// Portal user ids; a new entity of an unmapped operator gets a random one of them.
    pub default_responsibles: Vec<i64>,
    /// Deal pipeline (`CATEGORY_ID`) for contact + deal.
    pub deal_category: i64,
    /// IANA time zone used to print times in transcripts.
    pub timezone: String,
    /// Explicit operator → portal user mapping.
    pub operators: Vec<OperatorMapping>,
    /// Contact + deal: when all the contact's deals are closed, create a new one (else comment
    /// on the contact).
    pub new_deal_when_closed: bool,
    /// Largest comment in bytes before a transcript is split into parts.
    pub max_comment_bytes: usize,
    /// How a new entity's responsible is picked among `default_responsibles`.
    pub responsible_pick: ResponsiblePick,
    /// `[crm.filter]`: which closed requests are synced.
    pub filter: CrmFilter,
    /// `[[crm.fields]]`: Chat2Desk values copied into CRM fields.
    pub fields: Vec<FieldRule>,
    /// `[[crm.tag_rules]]`: tags that set entity fields.
    pub tag_rules: Vec<TagRule>,
}

impl Default for CrmConfig {
    fn default() -> Self {
        Self {
            integration: Integration::Lead,
            source: "OTHER".into(),
            default_responsibles: Vec::new(),
            deal_category: 0,
            timezone: "Europe/Moscow".into(),
            operators: Vec::new(),
            new_deal_when_closed: true,
            max_comment_bytes: 10_000,
            responsible_pick: ResponsiblePick::Random,
            filter: CrmFilter::default(),
            fields: Vec::new(),
            tag_rules: Vec::new(),
        }
    }
}
