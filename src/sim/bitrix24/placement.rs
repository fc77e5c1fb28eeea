//! CRM card tabs (`bitrix24-apps.md` §9): `placement.bind/get/unbind/list` of a local
//! application, the current user's token a tab is opened with, per-user read permissions on
//! CRM records, and the form the portal page posts to a tab's handler.
//!
//! Unsure in the reference: the HTTP status of `ERROR_PLACEMENT_NOT_FOUND`,
//! `ERROR_WRONG_HANDLER_URL` and the duplicate `ERROR_CORE` (400 here, as REST business
//! errors are), and whether `placement.get` lists every user's bindings (here: the app's).

use super::super::http::{SimRequest, SimResponse};
use super::state::State;
use super::values::{int, param, text};
use super::{ApiError, Portal, PortalSim, Reply};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The card tabs (§9.1) a binding may name; smart processes are not simulated.
const PLACEMENTS: [&str; 7] = [
    "CRM_LEAD_DETAIL_TAB",
    "CRM_DEAL_DETAIL_TAB",
    "CRM_CONTACT_DETAIL_TAB",
    "CRM_COMPANY_DETAIL_TAB",
    "CRM_QUOTE_DETAIL_TAB",
    "CRM_SMART_INVOICE_DETAIL_TAB",
    "CRM_ORDER_DETAIL_TAB",
];

/// One `placement.bind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    client_id: String,
    placement: String,
    handler: String,
    title: String,
    user_id: i64,
}

/// The bindings and the records each user may not read.
#[derive(Debug, Default)]
pub(crate) struct Placements {
    bindings: Vec<Binding>,
    /// `(user, kind, id)`: `crm.<kind>.get` with that user's token is refused.
    denied: BTreeSet<(i64, String, i64)>,
}

/// `placement.*` with an application's token (an inbound webhook: `WRONG_AUTH_TYPE`).
pub(crate) fn call(state: &mut State, method: &str, params: &Value) -> Result<Reply, ApiError> {
    let Some(client_id) = state.caller_app.clone() else {
        return Err(ApiError::new(
            403,
            "WRONG_AUTH_TYPE",
            "Current authorization type is denied for this method Application context required",
        ));
    };
    let scopes = state
        .oauth
        .apps
        .iter()
        .find(|a| a.client_id == client_id)
        .map(|a| a.scopes.clone())
        .unwrap_or_default();
    if !scopes.iter().any(|s| s == "placement") {
        return Err(ApiError::new(
            state.auth_status,
            "insufficient_scope",
            "The request requires higher privileges than provided by the access token",
        ));
    }
    let get = |names: &[&str]| param(params, names).and_then(text);
    let code = get(&["PLACEMENT", "placement"]).unwrap_or_default();
    let handler = get(&["HANDLER", "handler"]);
    let mine = |b: &Binding| b.client_id == client_id;
    match method {
        "placement.list" => Ok(Reply::of(json!(PLACEMENTS))),
        "placement.get" => {
            let rows: Vec<Value> = state
                .placements
                .bindings
                .iter()
                .filter(|b| mine(b))
                .map(|b| {
                    json!({"placement": b.placement, "userId": b.user_id, "handler": b.handler,
                           "options": [], "title": b.title, "description": "", "langAll": {}})
                })
                .collect();
            Ok(Reply::of(json!(rows)))
        }
        "placement.bind" => {
            if !scopes.iter().any(|s| s == "crm") || !PLACEMENTS.contains(&code.as_str()) {
                return Err(ApiError::new(
                    400,
                    "ERROR_PLACEMENT_NOT_FOUND",
                    "Placement not found",
                ));
            }
            if !state.admins.contains(&state.caller) {
                return Err(ApiError::new(403, "ACCESS_DENIED", "Access denied!"));
            }
            let handler = handler.unwrap_or_default();
            let host = url::Url::parse(&handler)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string));
            if !host.is_some_and(|h| h.contains('.')) {
                return Err(ApiError::new(
                    400,
                    "ERROR_WRONG_HANDLER_URL",
                    "Wrong handler URL",
                ));
            }
            let binding = Binding {
                client_id: client_id.clone(),
                placement: code,
                handler,
                title: get(&["TITLE", "title"]).unwrap_or_default(),
                user_id: 0,
            };
            let list = &mut state.placements.bindings;
            if list.iter().any(|b| {
                b.client_id == binding.client_id
                    && b.placement == binding.placement
                    && b.handler == binding.handler
            }) {
                return Err(ApiError::new(
                    400,
                    "ERROR_CORE",
                    "Unable to set placement handler: Handler already binded",
                ));
            }
            list.push(binding);
            Ok(Reply::of(json!(true)))
        }
        "placement.unbind" => {
            let list = &mut state.placements.bindings;
            let before = list.len();
            list.retain(|b| {
                !(mine(b)
                    && b.placement == code
                    && handler.as_ref().is_none_or(|h| &b.handler == h))
            });
            Ok(Reply::of(json!({"count": before - list.len()})))
        }
        _ => Err(super::not_found(method)),
    }
}

/// The refusal of `crm.<kind>.get` when the calling user may not read the record (§9.2).
pub(crate) fn check_read(state: &State, method: &str, params: &Value) -> Result<(), ApiError> {
    let kind = method.split('.').nth(1).unwrap_or_default().to_string();
    let id = param(params, &["id", "ID"])
        .and_then(int)
        .unwrap_or_default();
    if state.placements.denied.contains(&(state.caller, kind, id)) {
        return Err(ApiError::new(
            400,
            "ACCESS_DENIED",
            "У Вас нет прав на просмотр этого элемента",
        ));
    }
    Ok(())
}

/// What the portal page posts to a tab's handler (§9.2): the URL with its query and the form.
#[derive(Debug, Clone)]
pub struct TabForm {
    /// The handler with `DOMAIN`, `PROTOCOL`, `LANG`, `APP_SID`.
    pub url: String,
    /// `AUTH_ID`, `AUTH_EXPIRES`, `REFRESH_ID`, `member_id`, `status`, `PLACEMENT`,
    /// `PLACEMENT_OPTIONS`.
    pub fields: Vec<(String, String)>,
}

impl PortalSim {
    /// The bindings as `(placement, handler, title)`, in bind order.
    pub fn placements(&self) -> Vec<(String, String, String)> {
        let state = self.portal.state();
        let list = &state.placements.bindings;
        list.iter()
            .map(|b| (b.placement.clone(), b.handler.clone(), b.title.clone()))
            .collect()
    }

    /// Forbids `user_id` to read the `kind` (`lead`, `deal`, `contact`) record `id`, as the
    /// portal's CRM permissions would.
    pub fn deny_read(&self, user_id: i64, kind: &str, id: i64) {
        let mut state = self.portal.state();
        state.placements.denied.insert((user_id, kind.into(), id));
    }

    /// A fresh access token of the first local application for `user_id` (the token a tab
    /// is opened with: the current user's, §9.2).
    pub fn user_token(&self, user_id: i64) -> Option<String> {
        self.portal.user_token(user_id)
    }

    /// The form the card page of `placement` record `id` posts to the tab's handler in the
    /// browser of `user_id`; `None` when the tab is not bound (the card shows no tab).
    pub fn tab_form(&self, placement: &str, id: i64, user_id: i64) -> Option<TabForm> {
        self.portal.tab_form(placement, id, user_id)
    }

    /// The URL of the portal's card page for a browser (`/_sim/card`): an iframe and the
    /// hidden form posted into it on load, as the portal renders a tab (§9.2).
    pub fn tab_page_url(&self, placement: &str, id: i64, user_id: i64) -> String {
        format!(
            "{}/_sim/card?placement={placement}&id={id}&user={user_id}",
            self.base_url()
        )
    }
}

impl Portal {
    fn user_token(&self, user_id: i64) -> Option<String> {
        let mut state = self.state();
        let client_id = state.oauth.apps.first()?.client_id.clone();
        Some(state.oauth.issue_access(&client_id, user_id))
    }

    fn tab_form(&self, placement: &str, id: i64, user_id: i64) -> Option<TabForm> {
        let (handler, member_id, ttl) = {
            let state = self.state();
            let list = &state.placements.bindings;
            let handler = list
                .iter()
                .find(|b| b.placement == placement)?
                .handler
                .clone();
            (
                handler,
                state.oauth.member_id.clone(),
                state.oauth.access_ttl,
            )
        };
        let token = self.user_token(user_id)?;
        let base = url::Url::parse(&self.base_url.lock().expect("base url")).ok()?;
        let domain = match base.port() {
            Some(port) => format!("{}:{port}", base.host_str()?),
            None => base.host_str()?.to_string(),
        };
        let mut url = url::Url::parse(&handler).ok()?;
        url.query_pairs_mut()
            .append_pair("DOMAIN", &domain)
            .append_pair("PROTOCOL", if base.scheme() == "https" { "1" } else { "0" })
            .append_pair("LANG", "ru")
            .append_pair("APP_SID", &super::oauth::random(32));
        let fields = [
            ("AUTH_ID", token),
            ("AUTH_EXPIRES", ttl.as_secs().to_string()),
            ("REFRESH_ID", super::oauth::random(32)),
            ("member_id", member_id),
            ("status", "L".to_string()),
            ("PLACEMENT", placement.to_string()),
            (
                "PLACEMENT_OPTIONS",
                json!({"ID": id.to_string()}).to_string(),
            ),
        ];
        Some(TabForm {
            url: url.to_string(),
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        })
    }

    /// `GET /_sim/card?placement=&id=&user=[&auth=]`: the card page with the tab's iframe;
    /// `auth` replaces the user's token with a forged one.
    pub(super) fn card_page(&self, req: &SimRequest) -> SimResponse {
        let query = req.query_pairs();
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let id = get("id").parse().unwrap_or_default();
        let user = get("user").parse().unwrap_or(1);
        let Some(mut form) = self.tab_form(&get("placement"), id, user) else {
            let page = "<!doctype html><p>Вкладка не установлена</p>";
            return SimResponse::text(404, "text/html; charset=utf-8", page);
        };
        // `auth` stands in for a forged or stolen AUTH_ID (tests of the handler's refusal).
        let forged = get("auth");
        if !forged.is_empty() {
            for (k, v) in form.fields.iter_mut() {
                if k == "AUTH_ID" {
                    *v = forged.clone();
                }
            }
        }
        let inputs: String = form
            .fields
            .iter()
            .map(|(k, v)| {
                format!(
                    "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                    attr(k),
                    attr(v)
                )
            })
            .collect();
        let page = format!(
            "<!doctype html><html><body><iframe name=\"tab\" id=\"tab\" \
             allow=\"geolocation *; microphone *; camera *; autoplay *\" \
             style=\"width:100%;height:900px;border:0\"></iframe>\
             <form id=\"f\" method=\"POST\" target=\"tab\" action=\"{}\">{inputs}</form>\
             <script>document.getElementById('f').submit()</script></body></html>",
            attr(&form.url)
        );
        SimResponse::text(200, "text/html; charset=utf-8", page)
    }
}

fn attr(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
