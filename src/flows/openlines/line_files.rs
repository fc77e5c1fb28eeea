//! The links Chat2Desk gets for an operator's files: re-hosted by the daemon under new
//! unguessable tokens with `[server] public_url`, else the portal's own links.

use super::random_token;
use super::LineRules;
use super::OperatorReply;
use crate::engine::JobError;
use crate::engine::Stop;
use crate::store::{HostedFile, Store};
use std::time::Duration;

/// How long a re-hosted file stays reachable at its public link.
pub const HOSTED_FILE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The links Chat2Desk gets for the operator's files: with `[server] public_url`, each file
/// is offered by the daemon under a new unguessable token; without it, the portal's links
/// go as they are, and the first such reply of a chat tells the line (the second value).
pub(super) async fn file_links(
    store: &Store,
    rules: &LineRules,
    reply: &OperatorReply,
) -> Result<(Vec<String>, bool), Stop> {
    if reply.files.is_empty() {
        return Ok((Vec::new(), false));
    }
    let Some(public) = &rules.public_url else {
        let links = reply.files.iter().map(|f| f.link.clone()).collect();
        let topic = format!("files-as-portal-links:{}:{}", reply.line, reply.chat_id);
        return Ok((links, store.first_time(&topic).await?));
    };
    let mut links = Vec::with_capacity(reply.files.len());
    let expires_at =
        chrono::Utc::now() + chrono::Duration::from_std(HOSTED_FILE_TTL).expect("a week fits");
    for file in &reply.files {
        let token = random_token();
        let name = file_name(&file.name);
        store
            .host_file(
                &token,
                &HostedFile {
                    url: file.link.clone(),
                    name: name.clone(),
                    expires_at,
                },
            )
            .await?;
        links.push(hosted_link(public, &token, &name)?);
    }
    Ok((links, false))
}

/// A file name safe for a path segment and a `Content-Disposition`: no directories, no
/// control characters, never empty.
fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." {
        "file".into()
    } else {
        clean.to_string()
    }
}

/// `<public_url>/files/<token>/<name>`, the name percent-encoded.
fn hosted_link(public: &str, token: &str, name: &str) -> Result<String, Stop> {
    let mut url = url::Url::parse(public).map_err(|e| {
        Stop::Job(JobError::Permanent(format!(
            "[server] public_url = {public:?} is not a URL ({e}): set it to the reverse proxy's \
             internet address, e.g. https://c2d.example.com"
        )))
    })?;
    url.path_segments_mut()
        .map_err(|()| {
            Stop::Job(JobError::Permanent(format!(
                "[server] public_url = {public:?} cannot carry a path: use an http(s) URL"
            )))
        })?
        .pop_if_empty()
        .extend(["files", token, name]);
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosted_links_encode_the_name_under_the_public_path() {
        let link = hosted_link("https://proxy.example/c2d/", "ab12", "план цен.pdf").unwrap();
        assert_eq!(
            link,
            "https://proxy.example/c2d/files/ab12/%D0%BF%D0%BB%D0%B0%D0%BD%20%D1%86%D0%B5%D0%BD.pdf"
        );
        assert_eq!(file_name("../../etc/passwd"), "passwd");
        assert_eq!(file_name(".."), "file");
        assert_eq!(file_name("a\u{0}b.txt"), "ab.txt");
    }

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
