//! The lead an Open Line made for a bridged chat (`openlines_lead` with the bridge on): the
//! line's CRM integration can create a lead for a new chat from the phone the daemon passed
//! with the user (`imconnector.send.messages` `user.phone`, `bitrix24-apps.md` §2.3), and
//! the transcript belongs on that lead, not on a second one.
//!
//! The docs name no method from a chat to its CRM binding (`imopenlines.crm.chat.get` goes
//! the other way, entity → chats), so the lead is found by that phone. `findbycomm` is asked
//! first by the lookup round; the line's lead is new and the duplicate index may not show it
//! yet, so `crm.lead.list` is asked by `PHONE` before a lead is created. A client without a
//! phone cannot be matched this way: the daemon creates its lead as without the bridge.

use super::ClientFacts;
use crate::portal::{Bitrix24, BitrixError, Lead};
use serde_json::json;

/// The newest lead with the client's phone, if any (none without a phone).
pub(crate) async fn line_lead(
    portal: &Bitrix24,
    client: &ClientFacts,
) -> Result<Option<Lead>, BitrixError> {
    let Some(phone) = &client.phone else {
        return Ok(None);
    };
    let leads = portal.leads(json!({ "PHONE": phone })).await?;
    Ok(leads.into_iter().max_by_key(|l| l.id))
}
