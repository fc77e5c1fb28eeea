//! `[card]`: the Chat2Desk tab in the CRM cards of leads, deals, contacts and companies
//! (`bitrix24-apps.md` §9), and its offline checks.

use super::{Config, Problem};
use serde::{Deserialize, Serialize};

/// The entity types a tab may be bound to, as written in `entities`.
pub const CARD_ENTITIES: [&str; 4] = ["lead", "deal", "contact", "company"];

/// `[card]`: where the tab appears, its title and how far back it shows messages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CardConfig {
    /// The CRM entity types whose detail card gets the tab (`CRM_<ENTITY>_DETAIL_TAB`).
    pub entities: Vec<String>,
    /// The tab's title.
    pub title: String,
    /// How many days back the tab shows messages.
    pub history_days: u32,
}

impl Default for CardConfig {
    fn default() -> Self {
        Self {
            entities: CARD_ENTITIES.iter().map(|e| e.to_string()).collect(),
            title: "Chat2Desk".into(),
            history_days: 90,
        }
    }
}

impl CardConfig {
    /// The placement code of the card tab of `entity` (`lead` → `CRM_LEAD_DETAIL_TAB`).
    pub fn placement_of(entity: &str) -> String {
        format!("CRM_{}_DETAIL_TAB", entity.trim().to_uppercase())
    }

    /// The placement codes of every listed entity, in the listed order.
    pub fn placements(&self) -> Vec<String> {
        self.entities
            .iter()
            .map(|e| Self::placement_of(e))
            .collect()
    }
}

/// Every problem of `[card]`.
pub(crate) fn validate(c: &Config, out: &mut Vec<Problem>) {
    let Some(card) = &c.card else {
        return;
    };
    if c.bitrix24.app.is_none() {
        out.push(Problem::new(
            "card",
            "needs [bitrix24.app]: the tab is a placement of the portal's local application; \
             add [bitrix24.app] (with the `placement` and `crm` scopes) or remove [card]",
        ));
    }
    if card.entities.is_empty() {
        out.push(Problem::new(
            "card.entities",
            "empty; list where the tab appears, e.g. entities = [\"lead\", \"deal\", \
             \"contact\", \"company\"], or remove [card]",
        ));
    }
    for (i, entity) in card.entities.iter().enumerate() {
        let key = format!("card.entities[{i}]");
        if !CARD_ENTITIES.contains(&entity.as_str()) {
            out.push(Problem::new(
                key,
                format!("\"{entity}\" is not a card; expected one of \"lead\", \"deal\", \"contact\", \"company\""),
            ));
        } else if card.entities[..i].contains(entity) {
            out.push(Problem::new(
                key,
                format!("\"{entity}\" is listed twice; keep it once"),
            ));
        }
    }
    let title = card.title.trim();
    if title.is_empty() || title.chars().count() > 100 {
        out.push(Problem::new(
            "card.title",
            "expected the tab's title, 1 to 100 characters, e.g. title = \"Chat2Desk\"",
        ));
    }
    if !(1..=3650).contains(&card.history_days) {
        out.push(Problem::new(
            "card.history_days",
            format!(
                "{} is out of range; expected 1..=3650 days (default 90)",
                card.history_days
            ),
        ));
    }
}

/// The warning of an `https://` portal with an `http://` `daemon_url`: the managers'
/// browsers block such a tab as mixed content (§9.3).
pub(crate) fn warnings(c: &Config) -> Vec<Problem> {
    let (Some(_), Some(app)) = (&c.card, &c.bitrix24.app) else {
        return Vec::new();
    };
    let portal_https = c
        .bitrix24
        .webhook_url
        .expose()
        .trim()
        .starts_with("https://");
    if portal_https && app.daemon_url.trim().starts_with("http://") {
        return vec![Problem::new(
            "bitrix24.app.daemon_url",
            "is http:// while the portal is https://: browsers block the CRM card tab as mixed \
             content; serve the daemon over https (a reverse proxy with a certificate the \
             managers' browsers trust) and set daemon_url to that address",
        )];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(c: &Config) -> Vec<String> {
        let mut out = Vec::new();
        validate(c, &mut out);
        out.into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn defaults_are_the_four_cards_and_bad_values_name_their_key() {
        let card = CardConfig::default();
        assert_eq!(card.entities, CARD_ENTITIES);
        assert_eq!((card.title.as_str(), card.history_days), ("Chat2Desk", 90));
        assert_eq!(card.placements()[0], "CRM_LEAD_DETAIL_TAB");
        let mut c = Config {
            card: Some(card),
            ..Config::default()
        };
        assert_eq!(keys(&c), ["card"], "needs [bitrix24.app]");
        c.bitrix24.app = Some(super::super::AppConfig::default());
        assert!(keys(&c).is_empty());
        c.card = Some(CardConfig {
            entities: vec!["lead".into(), "invoice".into(), "lead".into()],
            title: " ".into(),
            history_days: 0,
        });
        assert_eq!(
            keys(&c),
            [
                "card.entities[1]",
                "card.entities[2]",
                "card.title",
                "card.history_days"
            ]
        );
    }

    #[test]
    fn an_http_daemon_behind_an_https_portal_is_warned_about() {
        let mut c = Config {
            card: Some(CardConfig::default()),
            ..Config::default()
        };
        c.bitrix24.webhook_url = super::super::Secret::new("https://portal.corp/rest/1/x/");
        c.bitrix24.app = Some(super::super::AppConfig {
            daemon_url: "http://c2d.corp.lan".into(),
            ..Default::default()
        });
        let found = warnings(&c);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "bitrix24.app.daemon_url");
        c.bitrix24.app.as_mut().unwrap().daemon_url = "https://c2d.corp.lan".into();
        assert!(warnings(&c).is_empty());
    }
}
