//! The lookup round of routing: every search the integration type may need, sent at once
//! in one `batch` (the known records by id, `findbycomm` by phone and the rows it found, the
//! `ORIGIN_ID` searches, the contacts' open deals), so that finding a client costs one
//! portal request whatever the answer turns out to be.

use super::routing::{ClientFacts, Known, ORIGINATOR};
use crate::bitrix24::{Answers, Bitrix24, BitrixError, Contact, Deal, EntityType, Lead, Round};
use serde_json::{json, Value};

/// Rows of one list page: a page this full may hide more rows.
const PAGE: usize = 50;
/// Matches `findbycomm` gives per value and type: a type this full may hide the others.
const FIND_CAP: usize = 20;
/// Most Chat2Desk client ids of one person searched in `ORIGIN_ID` (three calls each), so
/// that the round stays within one batch of 50.
const MAX_ORIGINS: usize = 12;

/// What to search for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needs {
    /// The client's lead.
    pub(crate) lead: bool,
    /// The open deals of the client's contact, in this pipeline.
    pub(crate) deals_in: Option<i64>,
}

/// What the lookup round found, read the way the routing rules ask.
#[derive(Debug, Default)]
pub(crate) struct Found {
    known_lead: Option<Lead>,
    /// `None` without a phone; else the ids `findbycomm` found and their rows.
    phone_leads: Option<(Vec<i64>, Vec<Lead>)>,
    origin_leads: Vec<Vec<Lead>>,
    known_contact: Option<i64>,
    phone_contacts: Vec<i64>,
    origin_contacts: Vec<Vec<Contact>>,
    /// Open deals of the candidate contacts; `full` when a page may have hidden some.
    deals: Vec<Deal>,
    deals_full: bool,
}

/// Sends the lookup round for `client`: one `findbycomm` for every entity type the rules
/// need; when one type comes back capped (20), the others may be missing (doc §2.2), so the
/// round is sent again with a search per type.
pub(crate) async fn look_up(
    portal: &Bitrix24,
    client: &ClientFacts,
    known: &Known,
    needs: Needs,
) -> Result<Found, BitrixError> {
    match look_up_with(portal, client, known, needs, false).await? {
        Some(found) => Ok(found),
        None => look_up_with(portal, client, known, needs, true)
            .await
            .map(Option::unwrap_or_default),
    }
}

/// The round's call names of the phone searches: the lead's and the contact's (the same
/// call unless `split`).
fn phone_calls(needs: Needs, split: bool) -> (&'static str, &'static str) {
    if split || !needs.lead {
        ("lead_phone", "contact_phone")
    } else {
        ("phone", "phone")
    }
}

/// One lookup round; `None` when the shared phone search came back capped.
async fn look_up_with(
    portal: &Bitrix24,
    client: &ClientFacts,
    known: &Known,
    needs: Needs,
    split: bool,
) -> Result<Option<Found>, BitrixError> {
    let origins = origins(client, known);
    let (lead_phone, contact_phone) = phone_calls(needs, split);
    let mut round = Round::new();
    if needs.lead {
        if let Some(id) = known.lead {
            round.list("lead_known", EntityType::Lead, json!({ "ID": id }));
        }
        if let Some(phone) = &client.phone {
            let kind = split.then_some(EntityType::Lead);
            round.find_by_phone(lead_phone, phone, kind);
            round.list_linked(
                "lead_phone_rows",
                EntityType::Lead,
                json!({}),
                "@ID",
                lead_phone,
                "[LEAD]",
            );
        }
        search_origins(&mut round, "lead_origin", EntityType::Lead, &origins);
    }
    if let Some(id) = known.contact {
        round.list("contact_known", EntityType::Contact, json!({ "ID": id }));
    }
    if let (Some(phone), false) = (&client.phone, lead_phone == contact_phone) {
        round.find_by_phone(contact_phone, phone, Some(EntityType::Contact));
    }
    search_origins(&mut round, "contact_origin", EntityType::Contact, &origins);
    if let Some(category) = needs.deals_in {
        let open = json!({ "CATEGORY_ID": category, "CLOSED": "N" });
        if let Some(id) = known.contact {
            let mut filter = open.clone();
            filter["CONTACT_ID"] = json!(id);
            round.list("deals_known", EntityType::Deal, filter);
        }
        if client.phone.is_some() {
            round.list_linked(
                "deals_phone",
                EntityType::Deal,
                open.clone(),
                "@CONTACT_ID",
                contact_phone,
                "[CONTACT]",
            );
        }
        for i in 0..origins.len() {
            round.list_linked(
                &format!("deals_origin{i}"),
                EntityType::Deal,
                open.clone(),
                "CONTACT_ID",
                &format!("contact_origin{i}"),
                "[0][ID]",
            );
        }
    }
    let mut answers = portal.round(round).await;
    let found = read(&mut answers, client, known, &origins, needs, split)?;
    let capped = |ids: &[i64]| ids.len() >= FIND_CAP;
    let shared = lead_phone == contact_phone;
    let lead_capped = found
        .phone_leads
        .as_ref()
        .is_some_and(|(ids, _)| capped(ids));
    if shared && (lead_capped || capped(&found.phone_contacts)) {
        return Ok(None);
    }
    Ok(Some(found))
}

fn read(
    answers: &mut Answers,
    client: &ClientFacts,
    known: &Known,
    origins: &[i64],
    needs: Needs,
    split: bool,
) -> Result<Found, BitrixError> {
    let (lead_phone, contact_phone) = phone_calls(needs, split);
    // The shared search answers both types: read it once.
    let mut shared_answer: Option<(Vec<i64>, Vec<i64>)> = None;
    if client.phone.is_some() && lead_phone == contact_phone {
        let (leads, contacts) =
            answers.found_ids_of(lead_phone, EntityType::Lead, EntityType::Contact)?;
        shared_answer = Some((leads, contacts));
    }
    let mut found = Found::default();
    if needs.lead {
        if let Some(id) = known.lead {
            let rows: Vec<Lead> = answers.rows("lead_known")?;
            found.known_lead = rows.into_iter().find(|l| l.id == id);
        }
        if client.phone.is_some() {
            let ids = match &shared_answer {
                Some((leads, _)) => leads.clone(),
                None => answers.found_ids(lead_phone, EntityType::Lead)?,
            };
            let rows: Vec<Lead> = answers.rows("lead_phone_rows")?;
            // Only the rows asked for: an empty `findbycomm` answer leaves the reference
            // unresolved, and what the portal makes of that is not documented.
            let rows = rows.into_iter().filter(|l| ids.contains(&l.id)).collect();
            found.phone_leads = Some((ids, rows));
        }
        for i in 0..origins.len() {
            found
                .origin_leads
                .push(answers.rows(&format!("lead_origin{i}"))?);
        }
    }
    if let Some(id) = known.contact {
        let rows: Vec<Contact> = answers.rows("contact_known")?;
        found.known_contact = rows.iter().any(|c| c.id == id).then_some(id);
    }
    if client.phone.is_some() {
        found.phone_contacts = match &shared_answer {
            Some((_, contacts)) => contacts.clone(),
            None => answers.found_ids(contact_phone, EntityType::Contact)?,
        };
    }
    for i in 0..origins.len() {
        found
            .origin_contacts
            .push(answers.rows(&format!("contact_origin{i}"))?);
    }
    if needs.deals_in.is_some() {
        let mut names = Vec::new();
        if known.contact.is_some() {
            names.push("deals_known".to_string());
        }
        if client.phone.is_some() {
            names.push("deals_phone".to_string());
        }
        names.extend((0..origins.len()).map(|i| format!("deals_origin{i}")));
        for name in names {
            let rows: Vec<Deal> = answers.rows(&name)?;
            found.deals_full |= rows.len() >= PAGE;
            found.deals.extend(rows);
        }
    }
    Ok(found)
}

impl Found {
    /// The client's lead: the known one while it exists, else the newest found by phone,
    /// else by `ORIGIN_ID`.
    pub(crate) fn lead(&self) -> Option<Lead> {
        if let Some(lead) = &self.known_lead {
            return Some(lead.clone());
        }
        if let Some((ids, rows)) = &self.phone_leads {
            if let Some(newest) = ids.iter().max() {
                return rows.iter().find(|l| l.id == *newest).cloned();
            }
        }
        self.origin_leads
            .iter()
            .find_map(|leads| leads.iter().max_by_key(|l| l.id).cloned())
    }

    /// The client's contact: the known one while it exists, else the newest found by phone,
    /// else by `ORIGIN_ID`.
    pub(crate) fn contact(&self) -> Option<i64> {
        self.known_contact
            .or_else(|| self.phone_contacts.iter().copied().max())
            .or_else(|| {
                self.origin_contacts
                    .iter()
                    .find_map(|contacts| contacts.iter().map(|c| c.id).max())
            })
    }

    /// The newest open deal of `contact` found, and whether a full page may have hidden it
    /// (then the caller asks the portal directly).
    pub(crate) fn open_deal(&self, contact: i64) -> (Option<i64>, bool) {
        let deal = self
            .deals
            .iter()
            .filter(|d| d.contact_id == Some(contact) && !d.closed)
            .map(|d| d.id)
            .max();
        (deal, deal.is_none() && self.deals_full)
    }
}

/// The Chat2Desk client ids to look for in `ORIGIN_ID`: this client's, then the person's
/// other ones.
fn origins(client: &ClientFacts, known: &Known) -> Vec<i64> {
    let own = client.client_id;
    std::iter::once(own)
        .chain(known.origins.iter().copied().filter(|o| *o != own))
        .take(MAX_ORIGINS)
        .collect()
}

/// Adds a `crm.<kind>.list` by `ORIGIN_ID` per Chat2Desk client id, named `<prefix><index>`.
fn search_origins(round: &mut Round, prefix: &str, kind: EntityType, origins: &[i64]) {
    for (i, origin) in origins.iter().enumerate() {
        round.list(&format!("{prefix}{i}"), kind, origin_filter(*origin));
    }
}

/// The filter of entities created for a Chat2Desk client.
pub(crate) fn origin_filter(client_id: i64) -> Value {
    json!({ "ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": client_id.to_string() })
}
