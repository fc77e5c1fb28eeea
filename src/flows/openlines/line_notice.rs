//! The connector's own notices in an Open Lines chat (a reply that was not delivered, files
//! that go as portal links), shown once across crashes: `imconnector.send.messages` has no
//! idempotency key, so a push left unanswered is looked for in the chat before it is made
//! again ([`super::line_look`]).

use super::line_in::{element_result, Sent as LineAnswer};
use super::line_look::{find_pushed, InChat, METHOD as READ_METHOD};
use super::LineRules;
use super::OperatorReply;
use crate::engine::JobError;
use crate::portal::{id_from_value, AppClient, BitrixError};
use crate::store::Job;
use serde_json::json;

/// Shows `text` in the chat as a message of the connector (`imconnector.send.messages`),
/// its `message.id` `b24-note-<IM message id of the reply>`. The caller saves its intent
/// before: with `pushed_before` (a run stopped with the push unanswered) the chat is read
/// first and a notice found there is not pushed again; one that cannot be looked for is
/// pushed again (a rare duplicate notice beats a lost one). A line that refuses it is
/// logged and skipped.
pub(super) async fn tell_line(
    app: &AppClient,
    rules: &LineRules,
    job: &Job,
    reply: &OperatorReply,
    text: &str,
    pushed_before: bool,
) -> Result<(), JobError> {
    const METHOD: &str = "imconnector.send.messages";
    let notice_id = format!("b24-note-{}", reply.im_message_id);
    if pushed_before && already_shown(app, job, reply, &notice_id).await? {
        return Ok(());
    }
    let params = json!({
        "CONNECTOR": rules.connector,
        "LINE": reply.line,
        "MESSAGES": [{
            "user": {"id": reply.chat_id},
            "message": {
                "id": notice_id,
                "date": chrono::Utc::now().timestamp(),
                "text": format!("[Chat2Desk] {text}"),
                "disable_crm": "Y",
            },
            "chat": {"id": reply.chat_id},
        }],
    });
    let answer = app.call(METHOD, params).await;
    let refused = match answer.map(|r| element_result(&r, reply.line)) {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(LineAnswer::Refused(e) | LineAnswer::Unknown(e))) => e,
        Err(e @ (BitrixError::Api { .. } | BitrixError::Config { .. })) => e.to_string(),
        Err(e) => return Err(e.into()),
    };
    reply.warn_portal(
        job,
        METHOD,
        &refused,
        "The line did not take the connector's notice",
    );
    Ok(())
}

/// True when the chat of `reply` (its event's `im.chat_id`) already shows the notice.
async fn already_shown(
    app: &AppClient,
    job: &Job,
    reply: &OperatorReply,
    notice_id: &str,
) -> Result<bool, JobError> {
    let looked = match reply.im.get("chat_id").and_then(id_from_value) {
        Some(im_chat) => find_pushed(app, im_chat, notice_id).await?,
        None => InChat::Unreadable("the reply's event names no im.chat_id".into()),
    };
    if let InChat::Unreadable(why) = &looked {
        reply.warn_portal(
            job,
            READ_METHOD,
            &why,
            "A notice's earlier push is unanswered and the chat cannot be read: showing it again",
        );
    }
    Ok(matches!(looked, InChat::Found(_)))
}
