//! The simulated portal's data: users, directories, CRM records, comments, notices, counters.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use tokio::time::Instant;

/// A timeline comment as stored by the simulator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SimComment {
    /// Comment id.
    pub id: i64,
    /// `lead`, `contact`, `deal` or `company`.
    pub entity_type: String,
    /// Owner id.
    pub entity_id: i64,
    /// The stored (trimmed) text.
    pub text: String,
}

/// A stored comment with its server-side fields.
pub(crate) struct StoredComment {
    pub(crate) comment: SimComment,
    pub(crate) author_id: i64,
    pub(crate) created: String,
}

/// A leaky bucket in front of the whole portal (a proxy or the cloud's limiter).
pub(crate) struct Bucket {
    pub(crate) rps: f64,
    pub(crate) burst: f64,
    pub(crate) level: f64,
    pub(crate) updated: Instant,
}

impl Bucket {
    /// Takes one request; false when the bucket is full.
    pub(crate) fn admit(&mut self) -> bool {
        let now = Instant::now();
        let drained = now.duration_since(self.updated).as_secs_f64() * self.rps;
        self.level = (self.level - drained).max(0.0);
        self.updated = now;
        if self.level + 1.0 > self.burst {
            return false;
        }
        self.level += 1.0;
        true
    }
}

/// Everything the portal knows.
pub(crate) struct State {
    pub(crate) secret: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) auth_status: u16,
    pub(crate) users: Vec<Map<String, Value>>,
    pub(crate) statuses: Vec<Map<String, Value>>,
    pub(crate) leads: BTreeMap<i64, Map<String, Value>>,
    pub(crate) contacts: BTreeMap<i64, Map<String, Value>>,
    /// Companies by id (the card tab's `CRM_COMPANY_DETAIL_TAB`).
    pub(crate) companies: BTreeMap<i64, Map<String, Value>>,
    pub(crate) deals: BTreeMap<i64, Map<String, Value>>,
    pub(crate) next_entity_id: i64,
    pub(crate) next_multifield_id: i64,
    pub(crate) comments: Vec<StoredComment>,
    pub(crate) notifications: Vec<(i64, String)>,
    pub(crate) calls: BTreeMap<String, u64>,
    pub(crate) bucket: Option<Bucket>,
    pub(crate) rejections: u64,
    pub(crate) workflows: Vec<super::bizproc::SimWorkflow>,
    pub(crate) event_sends: Vec<super::bizproc::SimEventSend>,
    pub(crate) event_send_failures: std::collections::VecDeque<String>,
    /// How long a new lead or contact stays invisible to `crm.duplicate.findbycomm` (a busy
    /// portal's duplicate index is rebuilt by an agent, after the record is saved).
    pub(crate) search_lag: std::time::Duration,
    /// When each record created through the API was saved (for `search_lag`).
    pub(crate) created_at: BTreeMap<i64, Instant>,
    /// Local applications and their grants.
    pub(crate) oauth: super::oauth::OAuth,
    /// Open Lines connectors and offline events.
    pub(crate) connectors: super::connector::Connectors,
    /// Users with the portal administrator flag.
    pub(crate) admins: std::collections::BTreeSet<i64>,
    /// The user the current call runs as (the webhook's owner, or an app token's user).
    pub(crate) caller: i64,
    /// The application (client id) of the current call's token; `None` for the webhook.
    pub(crate) caller_app: Option<String>,
    /// CRM card tabs and per-user read refusals.
    pub(crate) placements: super::placement::Placements,
    /// `UF_*` fields tests registered, by entity (`lead`, …) and name (`crm.<type>.fields`).
    pub(crate) user_fields: BTreeMap<String, Map<String, Value>>,
}

/// The webhook's owner.
pub(crate) const WEBHOOK_USER: i64 = 1;
/// Scopes granted by default.
pub(crate) const DEFAULT_SCOPES: [&str; 5] = ["crm", "user", "im", "imopenlines", "bizproc"];

/// Now, as the portal prints dates (ISO-8601, +03:00).
pub(crate) fn now_iso() -> String {
    let msk = chrono::FixedOffset::east_opt(3 * 3600).expect("valid offset");
    chrono::Utc::now()
        .with_timezone(&msk)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

impl State {
    /// True while record `id` is too new for the duplicate search to see.
    pub(crate) fn hidden_from_search(&self, id: i64) -> bool {
        self.created_at
            .get(&id)
            .is_some_and(|at| at.elapsed() < self.search_lag)
    }

    /// A fresh portal with its default user and directories.
    pub(crate) fn new(secret: String) -> Self {
        let mut state = Self {
            secret,
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            auth_status: 401,
            users: Vec::new(),
            statuses: Vec::new(),
            leads: BTreeMap::new(),
            contacts: BTreeMap::new(),
            companies: BTreeMap::new(),
            deals: BTreeMap::new(),
            next_entity_id: 1,
            next_multifield_id: 1,
            comments: Vec::new(),
            notifications: Vec::new(),
            calls: BTreeMap::new(),
            bucket: None,
            rejections: 0,
            workflows: Vec::new(),
            event_sends: Vec::new(),
            event_send_failures: std::collections::VecDeque::new(),
            search_lag: std::time::Duration::ZERO,
            user_fields: BTreeMap::new(),
            created_at: BTreeMap::new(),
            oauth: super::oauth::OAuth::default(),
            connectors: super::connector::Connectors::default(),
            admins: [WEBHOOK_USER].into_iter().collect(),
            caller: WEBHOOK_USER,
            caller_app: None,
            placements: Default::default(),
        };
        state.add_user("Admin", "Adminov", "admin@portal.example", true);
        for (id, name, semantics) in [
            ("NEW", "Не обработан", "process"),
            ("IN_PROCESS", "В работе", "process"),
            ("PROCESSED", "Обработан", "process"),
            ("CONVERTED", "Качественный лид", "success"),
            ("JUNK", "Некачественный лид", "failure"),
        ] {
            state.add_status("STATUS", id, name, Some(semantics));
        }
        for (id, name) in [
            ("CALL", "Звонок"),
            ("EMAIL", "Электронная почта"),
            ("WEB", "Веб-сайт"),
            ("ADVERTISING", "Реклама"),
            ("PARTNER", "Существующий клиент"),
            ("RECOMMENDATION", "По рекомендации"),
            ("TRADE_SHOW", "Выставка"),
            ("WEBFORM", "CRM-форма"),
            ("CALLBACK", "Обратный звонок"),
            ("RC_GENERATOR", "Генератор продаж"),
            ("STORE", "Интернет-магазин"),
            ("OTHER", "Другое"),
        ] {
            state.add_status("SOURCE", id, name, None);
        }
        for (id, name, semantics) in [
            ("NEW", "Новая", "process"),
            ("PREPARATION", "Подготовка документов", "process"),
            ("PREPAYMENT_INVOICE", "Счёт на предоплату", "process"),
            ("EXECUTING", "В работе", "process"),
            ("FINAL_INVOICE", "Финальный счёт", "process"),
            ("WON", "Сделка успешна", "success"),
            ("LOSE", "Сделка провалена", "failure"),
            ("APOLOGY", "Анализ причины провала", "failure"),
        ] {
            state.add_status("DEAL_STAGE", id, name, Some(semantics));
        }
        state
    }

    /// Adds a portal user; its id.
    pub(crate) fn add_user(
        &mut self,
        name: &str,
        last_name: &str,
        email: &str,
        active: bool,
    ) -> i64 {
        let id = self.users.len() as i64 + 1;
        let user = json!({
            "ID": id.to_string(), "ACTIVE": active, "NAME": name, "LAST_NAME": last_name,
            "EMAIL": email, "UF_DEPARTMENT": [1], "PERSONAL_GENDER": "", "TIME_ZONE": "",
        });
        self.users.push(user.as_object().expect("object").clone());
        id
    }

    /// Adds a directory row; `semantics` is `process`/`success`/`failure` where the directory
    /// has them (`EXTRA` is present only then).
    pub(crate) fn add_status(
        &mut self,
        entity: &str,
        id: &str,
        name: &str,
        semantics: Option<&str>,
    ) {
        let sort = 10
            * (1 + self
                .statuses
                .iter()
                .filter(|r| r["ENTITY_ID"] == entity)
                .count());
        let mut row = json!({
            "ID": (self.statuses.len() + 1).to_string(), "ENTITY_ID": entity, "STATUS_ID": id,
            "NAME": name, "NAME_INIT": name, "SORT": sort.to_string(), "SYSTEM": "Y",
            "CATEGORY_ID": null, "COLOR": null,
            "SEMANTICS": match semantics { Some("success") => json!("S"), Some("failure") => json!("F"), _ => Value::Null },
        });
        if let Some(semantics) = semantics {
            row["EXTRA"] = json!({"SEMANTICS": semantics, "COLOR": "#39A8EF"});
        }
        self.statuses.push(row.as_object().expect("object").clone());
    }

    /// `S`, `F` or `P` of a status in a directory (unknown ids count as in progress).
    pub(crate) fn semantic(&self, entity: &str, status_id: &str) -> &'static str {
        let row = self
            .statuses
            .iter()
            .find(|r| r["ENTITY_ID"] == entity && r["STATUS_ID"] == status_id);
        match row.and_then(|r| r.get("SEMANTICS")).and_then(Value::as_str) {
            Some("S") => "S",
            Some("F") => "F",
            _ => "P",
        }
    }

    /// A user record by id.
    pub(crate) fn user(&self, id: i64) -> Option<&Map<String, Value>> {
        self.users
            .iter()
            .find(|u| u.get("ID").and_then(super::values::int) == Some(id))
    }
}
