//! Operators: the company's agents who answer dialogs.

use crate::chat2desk::lenient::{int, text};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Chat2Desk operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Operator id.
    pub id: i64,
    /// Login e-mail.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// `operator`, `supervisor`, `admin`, `disabled`, ...
    pub role: Option<String>,
}

impl Operator {
    /// Decodes an operator object.
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            id: int(v.get("id"))?,
            email: text(v.get("email")),
            first_name: text(v.get("first_name")),
            last_name: text(v.get("last_name")),
            role: text(v.get("role")),
        })
    }

    /// "First Last", else the e-mail, else "Operator <id>".
    pub fn full_name(&self) -> String {
        let name = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !name.is_empty() {
            name
        } else if let Some(email) = self.email.as_deref().filter(|e| !e.trim().is_empty()) {
            email.trim().to_string()
        } else {
            format!("Operator {}", self.id)
        }
    }
}
