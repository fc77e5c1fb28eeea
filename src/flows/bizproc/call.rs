//! The call contract of `POST /bizproc/send`: the form fields Bitrix sends to a REST
//! activity's handler (`workflow_id`, `code`, `document_id[0..2]`, `document_type[0..2]`,
//! `event_token`, `properties[...]`, `ts`, `auth[application_token]`), decoded the way PHP
//! fills `$_POST`, checked field by field.

use crate::config::{constant_time_eq, Secret};
use crate::portal::crm::EntityRef;
use crate::portal::EntityType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The activity's code, sent as `code`.
pub const CODE: &str = "chat2desk_send";

/// Longest message text accepted (Chat2Desk does not say; messengers cut at about 4096).
const MAX_TEXT_CHARS: usize = 10_000;
/// Most file links in one call.
const MAX_FILES: usize = 20;

/// One validated call: what to send, to whom, and how to answer the workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendCall {
    /// The signed token `bizproc.event.send` completes the activity with; `None` for a send
    /// started by `chat2desk-b24 send` (nobody waits for it).
    pub event_token: Option<String>,
    /// The workflow instance (for logs).
    pub workflow_id: Option<String>,
    /// `document_id`: module, document class and id, e.g. `crm`, `CCrmDocumentLead`,
    /// `LEAD_123`; empty when not given.
    pub document_id: Vec<String>,
    /// `document_type`, e.g. `crm`, `CCrmDocumentLead`, `LEAD`.
    pub document_type: Vec<String>,
    /// Chat2Desk channel id.
    pub channel_id: i64,
    /// The phone as the process gave it (normalised by the worker: a bad phone is an error
    /// written to the timeline, not a refused call).
    pub phone: String,
    /// Message text (may be empty when there are files).
    pub text: String,
    /// File links, in order.
    pub files: Vec<String>,
    /// Transport (`whatsapp`, `viber`, `telegram`…); `None` = the client's, else the
    /// channel's first.
    pub transport: Option<String>,
    /// `ts` of the call (unix seconds), when given.
    pub ts: Option<i64>,
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// `auth[application_token]` is missing or wrong (answered 401).
    #[error("auth[application_token] is missing or wrong")]
    Unauthorized,
    /// A field is missing or malformed (answered 400 naming it).
    #[error("{field}: {problem}")]
    Field {
        /// The form field, e.g. `properties[phone]`.
        field: String,
        /// What is wrong and what is expected.
        problem: String,
    },
}

fn field_error(field: &str, problem: impl Into<String>) -> CallError {
    CallError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

impl SendCall {
    /// Checks the secret (in constant time), then reads every field of a decoded form
    /// ([`crate::portal::query::decode`]). The secret is checked first, so an
    /// unauthenticated caller learns nothing about the fields.
    pub fn from_form(form: &Value, secret: &Secret) -> Result<SendCall, CallError> {
        let presented = form
            .get("auth")
            .and_then(|a| a.get("application_token"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if secret.is_empty() || !constant_time_eq(presented.as_bytes(), secret.expose().as_bytes())
        {
            return Err(CallError::Unauthorized);
        }
        let event_token = text(form.get("event_token"))
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                field_error(
                    "event_token",
                    "missing; expected the token the activity signed for bizproc.event.send",
                )
            })?;
        if event_token.len() > 1024 {
            return Err(field_error("event_token", "longer than 1024 characters"));
        }
        let properties = form.get("properties").unwrap_or(&Value::Null);
        let channel_id =
            match text(properties.get("channel_id")) {
                None => return Err(field_error(
                    "properties[channel_id]",
                    "missing; expected a Chat2Desk channel id (GET /bizproc/channels lists them)",
                )),
                Some(raw) => raw
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| {
                        field_error(
                            "properties[channel_id]",
                            format!("`{raw}` is not a channel id; expected a positive integer"),
                        )
                    })?,
            };
        let phone = phone_of(properties.get("phone")).ok_or_else(|| {
            field_error(
                "properties[phone]",
                "missing or empty; expected the client's phone, e.g. {=Document:PHONE}",
            )
        })?;
        let files = files_of(properties.get("files"))?;
        let message = text(properties.get("text")).unwrap_or_default();
        if message.trim().is_empty() && files.is_empty() {
            return Err(field_error(
                "properties[text]",
                "missing or empty; expected the message text (or at least one file link)",
            ));
        }
        if message.chars().count() > MAX_TEXT_CHARS {
            return Err(field_error(
                "properties[text]",
                format!("longer than {MAX_TEXT_CHARS} characters"),
            ));
        }
        let document_id = list(form.get("document_id"), "document_id")?;
        let document_type = list(form.get("document_type"), "document_type")?;
        let transport = text(properties.get("transport"))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        if transport
            .as_deref()
            .is_some_and(|t| !t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        {
            return Err(field_error(
                "properties[transport]",
                "expected a transport name such as whatsapp, viber or telegram",
            ));
        }
        Ok(SendCall {
            event_token: Some(event_token),
            workflow_id: text(form.get("workflow_id")).filter(|w| !w.is_empty()),
            document_id,
            document_type,
            channel_id,
            phone,
            text: message,
            files,
            transport,
            ts: text(form.get("ts")).and_then(|t| t.trim().parse().ok()),
        })
    }

    /// The CRM entity of the document (`LEAD_123`, `DEAL_5`, `CONTACT_7`, `COMPANY_9`), for
    /// the error comment; `None` for other documents (smart processes, none given).
    pub fn entity(&self) -> Option<EntityRef> {
        let id = self.document_id.get(2)?;
        let (prefix, number) = id.rsplit_once('_')?;
        let kind = match prefix.to_ascii_uppercase().as_str() {
            "LEAD" => EntityType::Lead,
            "DEAL" => EntityType::Deal,
            "CONTACT" => EntityType::Contact,
            "COMPANY" => EntityType::Company,
            _ => return None,
        };
        let id = number.parse::<i64>().ok().filter(|n| *n > 0)?;
        Some(EntityRef { kind, id })
    }

    /// The stored form of the call.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a call serialises")
    }

    /// The `external_id` of the Chat2Desk message of send `send_id`: made from the
    /// `event_token`, so that it is the same whatever the state database remembers (a call
    /// delivered again after the state was lost is looked for by it); a send without one
    /// (`chat2desk-b24 send`) uses its id.
    pub fn message_key(&self, send_id: i64) -> String {
        use md5::{Digest, Md5};
        match &self.event_token {
            Some(token) => format!("b24-send-{:x}", Md5::digest(token.as_bytes())),
            None => format!("b24-send-{send_id}"),
        }
    }

    /// Reads a stored call.
    pub fn from_value(value: &Value) -> Option<SendCall> {
        serde_json::from_value(value.clone()).ok()
    }
}

/// A leaf of the form as text (PHP makes every leaf a string; numbers are tolerated).
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `{=Document:PHONE}` may hold several numbers: a list, or one string with commas or new
/// lines. The first non-empty one is the phone.
fn phone_of(v: Option<&Value>) -> Option<String> {
    let candidates: Vec<String> = match v? {
        Value::Array(items) => items.iter().filter_map(|i| text(Some(i))).collect(),
        Value::Object(map) => map.values().filter_map(|i| text(Some(i))).collect(),
        other => text(Some(other)).into_iter().collect(),
    };
    candidates
        .iter()
        .flat_map(|c| c.split([',', '\n', ';']))
        .map(str::trim)
        .find(|p| !p.is_empty())
        .map(String::from)
}

/// `properties[files][]` (zero or more URLs) or one string with one URL per line.
fn files_of(v: Option<&Value>) -> Result<Vec<String>, CallError> {
    let raw: Vec<String> = match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter_map(|i| text(Some(i))).collect(),
        Some(Value::Object(map)) => map.values().filter_map(|i| text(Some(i))).collect(),
        Some(other) => text(Some(other)).into_iter().collect(),
    };
    let links: Vec<String> = raw
        .iter()
        .flat_map(|r| r.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if links.len() > MAX_FILES {
        return Err(field_error(
            "properties[files]",
            format!("{} links; expected at most {MAX_FILES}", links.len()),
        ));
    }
    for (i, link) in links.iter().enumerate() {
        let ok = url::Url::parse(link)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            return Err(field_error(
                &format!("properties[files][{i}]"),
                format!("`{link}` is not a link; expected a direct http(s) link anyone can open"),
            ));
        }
    }
    Ok(links)
}

/// `document_id[0..2]` / `document_type[0..2]`: absent, or a list of strings.
fn list(v: Option<&Value>, field: &str) -> Result<Vec<String>, CallError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(field_error(
                field,
                format!("expected {field}[0], {field}[1] and {field}[2], e.g. crm, CCrmDocumentLead, LEAD_123"),
            ))
        }
    };
    items
        .iter()
        .map(|i| text(Some(i)))
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| field_error(field, "expected a list of strings"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::query::decode;

    const SECRET: &str = "0123456789abcdef0123";

    fn parse(form: &str) -> Result<SendCall, CallError> {
        SendCall::from_form(&decode(form), &Secret::new(SECRET))
    }

    fn base() -> String {
        format!(
            "workflow_id=wf1&code=chat2desk_send&document_id[0]=crm&document_id[1]=CCrmDocumentLead\
             &document_id[2]=LEAD_123&document_type[0]=crm&document_type[1]=CCrmDocumentLead\
             &document_type[2]=LEAD&event_token=tok&properties[channel_id]=17\
             &properties[phone]=%2B7+916+123-45-67&properties[text]=%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82\
             &ts=1773265993&auth[application_token]={SECRET}"
        )
    }

    #[test]
    fn reads_the_rest_activity_shape() {
        let call = parse(&format!(
            "{}&properties[files][]=https://x.example/a.jpg&properties[files][]=https://x.example/b.pdf",
            base()
        ))
        .unwrap();
        assert_eq!(call.event_token.as_deref(), Some("tok"));
        assert_eq!(call.channel_id, 17);
        assert_eq!(call.phone, "+7 916 123-45-67");
        assert_eq!(call.text, "Привет");
        assert_eq!(call.files.len(), 2);
        assert_eq!(call.ts, Some(1_773_265_993));
        let entity = call.entity().unwrap();
        assert_eq!((entity.kind, entity.id), (EntityType::Lead, 123));
    }

    #[test]
    fn files_as_one_string_per_line_and_newer_document_classes() {
        let form = base()
            .replace(
                "CCrmDocumentLead",
                "Bitrix%5CCrm%5CIntegration%5CBizProc%5CDocument%5CDeal",
            )
            .replace("LEAD_123", "DEAL_5")
            + "&properties[files]=https://x.example/a.jpg%0Ahttps://x.example/b.pdf%0A";
        let call = parse(&form).unwrap();
        assert_eq!(
            call.files,
            ["https://x.example/a.jpg", "https://x.example/b.pdf"]
        );
        assert_eq!(call.entity().unwrap().kind, EntityType::Deal);
    }

    #[test]
    fn wrong_or_missing_secret_is_unauthorized_before_any_field() {
        let wrong = base().replace(SECRET, "0123456789abcdef0124");
        assert_eq!(parse(&wrong), Err(CallError::Unauthorized));
        assert_eq!(parse("properties[phone]="), Err(CallError::Unauthorized));
    }

    #[test]
    fn names_the_bad_field() {
        let field = |form: String| match parse(&form) {
            Err(CallError::Field { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(base().replace("&properties[phone]=%2B7+916+123-45-67", "")),
            "properties[phone]"
        );
        assert_eq!(
            field(base().replace(
                "properties[phone]=%2B7+916+123-45-67",
                "properties[phone]=+"
            )),
            "properties[phone]"
        );
        assert_eq!(
            field(base().replace("properties[channel_id]=17", "properties[channel_id]=x")),
            "properties[channel_id]"
        );
        assert_eq!(
            field(base().replace("event_token=tok", "event_token=")),
            "event_token"
        );
        assert_eq!(
            field(base() + "&properties[files][]=ftp://x"),
            "properties[files][0]"
        );
    }
}
