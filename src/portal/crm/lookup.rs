//! The lookup round of routing: every search the integration type may need, sent at once
//! in one `batch` (the known records by id, `findbycomm` by phone and the rows it found, the
//! `ORIGIN_ID` searches, the contacts' open deals), so that finding a client costs one
//! portal request whatever the answer turns out to be. The same round reads the timeline of
//! the candidate routing takes first (through `$result[<list>][0][ID]`), so that the caller
//! finds the markers of a transcript written before the state database was lost without
//! another request.

use super::EntityRef;
use super::{ClientFacts, Known, ORIGINATOR};
use crate::portal::{
    Answers, Bitrix24, BitrixError, Comment, Contact, Deal, EntityType, Lead, Round,
};
use serde_json::{json, Value};
use std::collections::HashMap;

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
    /// The first row of the round's list calls, by call name: the candidate whose timeline
    /// the round read is one of them.
    firsts: HashMap<String, EntityRef>,
    /// The whole timeline (less than a page) of the candidate the round read it of.
    timelines: HashMap<EntityRef, Vec<Comment>>,
}

/// Suffix of the round's call that reads the timeline of a list call's first row.
const TIMELINE: &str = "_timeline";

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
    ask_timelines(&mut round, client, known, needs, &origins, contact_phone);
    let mut answers = portal.round(round).await;
    let mut found = read(&mut answers, client, known, &origins, needs, split)?;
    found.read_timelines(&mut answers);
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
            found.note("lead_known", EntityType::Lead, rows.first().map(|l| l.id));
            found.known_lead = rows.into_iter().find(|l| l.id == id);
        }
        if client.phone.is_some() {
            let ids = match &shared_answer {
                Some((leads, _)) => leads.clone(),
                None => answers.found_ids(lead_phone, EntityType::Lead)?,
            };
            let rows: Vec<Lead> = answers.rows("lead_phone_rows")?;
            found.note(
                "lead_phone_rows",
                EntityType::Lead,
                rows.first().map(|l| l.id),
            );
            // Only the rows asked for: an empty `findbycomm` answer leaves the reference
            // unresolved, and what the portal makes of that is not documented.
            let rows = rows.into_iter().filter(|l| ids.contains(&l.id)).collect();
            found.phone_leads = Some((ids, rows));
        }
        for i in 0..origins.len() {
            let name = format!("lead_origin{i}");
            let rows: Vec<Lead> = answers.rows(&name)?;
            found.note(&name, EntityType::Lead, rows.first().map(|l| l.id));
            found.origin_leads.push(rows);
        }
    }
    if let Some(id) = known.contact {
        let rows: Vec<Contact> = answers.rows("contact_known")?;
        found.note(
            "contact_known",
            EntityType::Contact,
            rows.first().map(|c| c.id),
        );
        found.known_contact = rows.iter().any(|c| c.id == id).then_some(id);
    }
    if client.phone.is_some() {
        found.phone_contacts = match &shared_answer {
            Some((_, contacts)) => contacts.clone(),
            None => answers.found_ids(contact_phone, EntityType::Contact)?,
        };
    }
    for i in 0..origins.len() {
        let name = format!("contact_origin{i}");
        let rows: Vec<Contact> = answers.rows(&name)?;
        found.note(&name, EntityType::Contact, rows.first().map(|c| c.id));
        found.origin_contacts.push(rows);
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
            found.note(&name, EntityType::Deal, rows.first().map(|d| d.id));
            found.deals_full |= rows.len() >= PAGE;
            found.deals.extend(rows);
        }
    }
    Ok(found)
}

/// Asks for the first timeline page of the one candidate routing takes first when it
/// exists, in the order of the integration type's rules: the known records, then the
/// newest found by phone, then by the client's own `ORIGIN_ID` (deals and contacts before
/// leads when the type routes to deals). One call, not one per candidate: every call
/// makes the round bigger, and a backlog's batches carry fewer rounds (a/b of
/// `cargo bench --bench cost`). When routing takes another entity, the caller reads its
/// timeline (an extra request, only then); a new entity needs none.
fn ask_timelines(
    round: &mut Round,
    client: &ClientFacts,
    known: &Known,
    needs: Needs,
    origins: &[i64],
    contact_phone: &str,
) {
    let phone = client.phone.is_some();
    let origin = !origins.is_empty();
    let lead = needs.lead;
    let leads = [
        (lead && known.lead.is_some(), EntityType::Lead, "lead_known"),
        (lead && phone, EntityType::Lead, "lead_phone_rows"),
        (lead && origin, EntityType::Lead, "lead_origin0"),
    ];
    let deals = needs.deals_in.is_some();
    let contacts = [
        (
            deals && known.contact.is_some(),
            EntityType::Deal,
            "deals_known",
        ),
        (deals && phone, EntityType::Deal, "deals_phone"),
        (deals && origin, EntityType::Deal, "deals_origin0"),
        (
            known.contact.is_some(),
            EntityType::Contact,
            "contact_known",
        ),
        (phone, EntityType::Contact, CONTACT_ROWS),
        (origin, EntityType::Contact, "contact_origin0"),
    ];
    let ordered: Vec<_> = if deals {
        contacts.into_iter().chain(leads).collect()
    } else {
        leads.into_iter().chain(contacts).collect()
    };
    let Some((_, kind, source)) = ordered.into_iter().find(|(wanted, ..)| *wanted) else {
        return;
    };
    if source == CONTACT_ROWS {
        // findbycomm answers bare ids: the contacts' rows, newest first, give the one
        // routing takes.
        if round.room() < 2 {
            return;
        }
        round.list_linked(
            CONTACT_ROWS,
            EntityType::Contact,
            json!({}),
            "@ID",
            contact_phone,
            "[CONTACT]",
        );
    }
    if round.room() > 0 {
        round.comment_list(&format!("{source}{TIMELINE}"), kind, source);
    }
}

/// The round's call of the rows of the contacts found by phone (asked only for their
/// timeline).
const CONTACT_ROWS: &str = "contact_phone_rows";

impl Found {
    /// Notes the first row a list call `name` answered, of type `kind`.
    fn note(&mut self, name: &str, kind: EntityType, first: Option<i64>) {
        if let Some(id) = first {
            self.firsts.insert(name.to_string(), EntityRef { kind, id });
        }
    }

    /// Reads the timelines the round asked for. A call that failed, or a page so full that
    /// it may hide older comments, is left out (the caller looks at the chosen entity
    /// itself); rows of another entity (a reference the portal could not resolve) are
    /// dropped.
    fn read_timelines(&mut self, answers: &mut Answers) {
        if answers.has(CONTACT_ROWS) {
            if let Ok(rows) = answers.rows::<Contact>(CONTACT_ROWS) {
                self.note(
                    CONTACT_ROWS,
                    EntityType::Contact,
                    rows.first().map(|c| c.id),
                );
            }
        }
        for (source, entity) in &self.firsts {
            let name = format!("{source}{TIMELINE}");
            if !answers.has(&name) {
                continue;
            }
            let Ok(rows) = answers.rows::<Comment>(&name) else {
                continue;
            };
            if rows.len() >= PAGE {
                continue;
            }
            let own = rows
                .into_iter()
                .filter(|c| {
                    c.entity_id == entity.id && c.entity_type == entity.kind.timeline_name()
                })
                .collect();
            self.timelines.insert(*entity, own);
        }
    }

    /// Every comment on `entity`'s timeline, when the round read it whole.
    pub(crate) fn timeline(&self, entity: EntityRef) -> Option<&[Comment]> {
        self.timelines.get(&entity).map(Vec::as_slice)
    }

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
