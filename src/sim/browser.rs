//! The administrator's browser, as far as connecting the local application needs one: it
//! follows redirects and keeps the cookies each host sets (the daemon binds its OAuth
//! `state` to the browser with one), sending them back only to that host.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use std::collections::BTreeMap;

/// Redirects followed before giving up.
const MAX_HOPS: usize = 10;

/// Opens `url` and follows redirects as a browser does; the final status and page.
pub async fn open(url: &str) -> anyhow::Result<(u16, String)> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut jar: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut url = reqwest::Url::parse(url)?;
    for _ in 0..MAX_HOPS {
        let origin = url.origin().ascii_serialization();
        let mut request = http.get(url.clone());
        if let Some(cookies) = jar.get(&origin) {
            request = request.header(COOKIE, cookies.join("; "));
        }
        let answer = request.send().await?;
        for set in answer.headers().get_all(SET_COOKIE) {
            let pair = set.to_str()?.split(';').next().unwrap_or("").trim();
            let name = pair.split('=').next().unwrap_or("").to_string();
            let cookies = jar.entry(origin.clone()).or_default();
            cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            cookies.push(pair.to_string());
        }
        let status = answer.status();
        match answer.headers().get(LOCATION) {
            Some(to) if status.is_redirection() => url = url.join(to.to_str()?)?,
            _ => return Ok((status.as_u16(), answer.text().await?)),
        }
    }
    anyhow::bail!("more than {MAX_HOPS} redirects from {url}")
}
