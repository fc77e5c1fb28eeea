//! The tags the rules name (`[crm.filter] only_tags`/`skip_tags`, `[[crm.tag_rules]] tag`)
//! exist in Chat2Desk (`GET /v1/tags`): a misspelt label would silently never match.

use super::progress::Step;
use super::Line;
use crate::chat2desk::{Chat2Desk, Tag};
use crate::config::{Config, TagRef};

/// Every tag a rule names, with the rule's key.
fn named(config: &Config) -> Vec<(String, &TagRef)> {
    let f = &config.crm.filter;
    let lists = [("only_tags", &f.only_tags), ("skip_tags", &f.skip_tags)];
    let mut out: Vec<(String, &TagRef)> = lists
        .iter()
        .flat_map(|(name, tags)| {
            tags.iter()
                .enumerate()
                .map(move |(i, t)| (format!("crm.filter.{name}[{i}]"), t))
        })
        .collect();
    out.extend(
        config
            .crm
            .tag_rules
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("crm.tag_rules[{i}].tag"), &r.tag)),
    );
    out
}

/// One line per tag a rule names.
pub(super) async fn check(config: &Config, client: &Chat2Desk, step: &Step, lines: &mut Vec<Line>) {
    let wanted = named(config);
    if wanted.is_empty() {
        return;
    }
    step.show("crm tag rules: GET /v1/tags");
    let tags: Vec<Tag> = match client.tags().await {
        Ok(tags) => tags,
        Err(e) => {
            let why = format!("GET /v1/tags failed: {e}; {}", e.hint());
            for (key, _) in wanted {
                lines.push(Line::fail(key, why.clone()));
            }
            return;
        }
    };
    for (key, tag) in wanted {
        match tags.iter().find(|t| tag.matches(t.id, &t.label)) {
            Some(t) => lines.push(Line::ok(
                key,
                format!(
                    "tag {tag} is Chat2Desk's tag {} \"{}\" (GET /v1/tags)",
                    t.id, t.label
                ),
            )),
            None => lines.push(Line::fail(
                key,
                format!(
                    "Chat2Desk has no tag {tag} (GET /v1/tags lists {} tags); write the label as \
                     Chat2Desk shows it, or the tag's id",
                    tags.len()
                ),
            )),
        }
    }
}
