//! The company's API information (`GET /companies/api_info`).

use crate::chat2desk::lenient::{field, flag, int, strings, text};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /companies/api_info`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ApiInfo {
    /// Web-UI base URLs; the first one builds chat links.
    pub domain_urls: Vec<String>,
    /// API mode (plan).
    pub mode: Option<String>,
    /// Company name.
    pub company_name: Option<String>,
    /// Calls made this month against the plan quota.
    pub requests_this_month: Option<i64>,
    /// May the company message clients who never wrote.
    pub write_first_option: Option<bool>,
}

impl ApiInfo {
    /// Decodes the `data` object.
    pub fn from_json(v: &Value) -> Self {
        Self {
            domain_urls: strings(field(v, &["domain_urls", "domain_url"])),
            mode: text(v.get("mode")),
            company_name: text(v.get("company_name")),
            requests_this_month: int(v.get("requests_this_month")),
            write_first_option: flag(v.get("write_first_option")),
        }
    }
}
