//! `[crm.filter]`: whether a closed request is synced, decided from what the job read anyway
//! (the request's messages name the channel, the client object carries the client's tags,
//! `GET /requests/{id}` the request's tags when it was read).
//!
//! Request tags: the usual fetch is one call (`GET /requests/{id}/messages`), which carries
//! no tags. The client's tags always count; the request's own tags count when
//! `GET /requests/{id}` was read anyway, and it is read for them only when `only_tags` would
//! keep the request out otherwise (one call for a request about to be skipped, none for one
//! that is written). A `skip_tags` tag on the request alone is seen only when the request
//! was read (docs/rules.md): reading every request for it would cost a call per transcript.

use crate::chat2desk::{Chat2Desk, Chat2DeskError, Tag};
use crate::config::{CrmFilter, TagRef};
use crate::engine::JobError;

/// What a request carries that the filter looks at.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The request's channel, when a message named it.
    pub channel: Option<i64>,
    /// The request's own tags (empty when not read).
    pub request_tags: &'a [Tag],
    /// The client's tags.
    pub client_tags: &'a [Tag],
}

/// The rule that keeps a request out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptOut {
    /// The key of the rule: `channels`, `only_tags` or `skip_tags` (of `[crm.filter]`).
    pub rule: &'static str,
    /// Why, in words naming the key, e.g. `crm.filter.skip_tags: the client carries tag "Спам"`.
    pub why: String,
}

fn out(rule: &'static str, why: String) -> Option<KeptOut> {
    Some(KeptOut {
        rule,
        why: format!("crm.filter.{rule}: {why}"),
    })
}

/// The rule that keeps the request out; `None` = synced.
pub fn kept_out(filter: &CrmFilter, seen: &Seen<'_>) -> Option<KeptOut> {
    if !filter.channels.is_empty() {
        match seen.channel {
            Some(channel) if filter.channels.contains(&channel) => {}
            Some(channel) => return out("channels", format!("channel {channel} is not listed")),
            None => {
                return out(
                    "channels",
                    "no message of the request names its channel".into(),
                )
            }
        }
    }
    if let Some((tag, whose)) = carried(&filter.skip_tags, seen) {
        return out(
            "skip_tags",
            format!("the {whose} carries tag \"{}\"", tag.label),
        );
    }
    if !filter.only_tags.is_empty() && carried(&filter.only_tags, seen).is_none() {
        let wanted: Vec<String> = filter.only_tags.iter().map(ToString::to_string).collect();
        return out(
            "only_tags",
            format!(
                "neither the request nor the client carries {}",
                wanted.join(", ")
            ),
        );
    }
    None
}

/// [`kept_out`], reading request `request_id` for its tags when `only_tags` is the rule that
/// decides and the request was not read (`read_request`).
pub async fn decide(
    c2d: &Chat2Desk,
    filter: &CrmFilter,
    seen: Seen<'_>,
    request_id: i64,
    read_request: bool,
) -> Result<Option<KeptOut>, JobError> {
    let out = kept_out(filter, &seen);
    if read_request || !matches!(&out, Some(k) if k.rule == "only_tags") {
        return Ok(out);
    }
    let request = match c2d.request(request_id).await {
        Ok(request) => request,
        Err(Chat2DeskError::NotFound { .. }) => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    let seen = Seen {
        request_tags: &request.tags,
        ..seen
    };
    Ok(kept_out(filter, &seen))
}

/// The first tag of `wanted` the request or the client carries, and whose it is.
fn carried<'a>(wanted: &[TagRef], seen: &Seen<'a>) -> Option<(&'a Tag, &'static str)> {
    let find = |tags: &'a [Tag]| {
        tags.iter()
            .find(|t| wanted.iter().any(|w| w.matches(t.id, &t.label)))
    };
    find(seen.request_tags)
        .map(|t| (t, "request"))
        .or_else(|| find(seen.client_tags).map(|t| (t, "client")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(id: i64, label: &str) -> Tag {
        Tag {
            id,
            label: label.into(),
        }
    }

    #[test]
    fn each_rule_names_its_key() {
        let filter = CrmFilter {
            channels: vec![17],
            only_tags: vec![TagRef::Label("Продажи".into())],
            skip_tags: vec![TagRef::Id(9)],
        };
        let sales = [tag(3, "продажи")];
        let spam = [tag(9, "Спам")];
        let seen = |channel, client_tags| Seen {
            channel,
            request_tags: &[],
            client_tags,
        };
        assert_eq!(kept_out(&filter, &seen(Some(17), &sales)), None);
        let rule = |channel, tags| kept_out(&filter, &seen(channel, tags)).map(|k| k.rule);
        assert_eq!(rule(Some(18), &sales), Some("channels"));
        assert_eq!(rule(None, &sales), Some("channels"));
        assert_eq!(rule(Some(17), &spam), Some("skip_tags"));
        assert_eq!(rule(Some(17), &[]), Some("only_tags"));
        let why = kept_out(&filter, &seen(Some(17), &spam)).unwrap().why;
        assert_eq!(why, "crm.filter.skip_tags: the client carries tag \"Спам\"");
        assert_eq!(kept_out(&CrmFilter::default(), &seen(None, &[])), None);
    }
}
