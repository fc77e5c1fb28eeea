//! `app connect`, `app status` and `openlines`: the local application's grant and the Open
//! Lines bridge as a sysadmin inspects them.

use crate::config::Config;
use crate::flows::openlines::{line_status, LineRules, NO_ANSWER};
use anyhow::bail;
use chrono::Utc;

fn app_of(config: &Config) -> anyhow::Result<&crate::config::AppConfig> {
    config.bitrix24.app.as_ref().ok_or_else(|| {
        anyhow::anyhow!(
            "[bitrix24.app] is not configured: create the portal's local application (README, \
             \"Open Lines\") and add client_id, client_secret and daemon_url"
        )
    })
}

/// `app connect`: the URL a portal administrator opens.
pub fn app_connect(config: &Config) -> anyhow::Result<()> {
    let app = app_of(config)?;
    println!(
        "Open this address in the browser of a portal administrator (logged in to the portal):\n\n  {}/bitrix24/connect\n\nThe portal asks to allow the application, then shows «Приложение подключено».",
        app.daemon_url.trim_end_matches('/')
    );
    Ok(())
}

/// `app status`: who authorised, when, the scopes, the token's expiry, a revocation.
pub async fn app_status(config: &Config) -> anyhow::Result<bool> {
    let app = app_of(config)?;
    let store = crate::app::open_existing_store(config).await?;
    let Some(g) = store.grant().await? else {
        println!(
            "Not connected: a portal administrator must open {}/bitrix24/connect",
            app.daemon_url.trim_end_matches('/')
        );
        return Ok(false);
    };
    let when = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    println!("Authorised by: {} (user {})", g.user_name, g.user_id);
    println!("Authorised at: {}", when(g.authorized_at));
    println!("Portal member_id: {}", g.member_id);
    println!("Scopes: {}", g.scopes.join(", "));
    let left = g.expires_at - Utc::now();
    if left > chrono::Duration::zero() {
        println!(
            "Access token: valid until {} ({} min left; refreshed on its first refusal)",
            when(g.expires_at),
            left.num_minutes()
        );
    } else {
        println!(
            "Access token: expired at {} (refreshed on the next call)",
            when(g.expires_at)
        );
    }
    if let Some(at) = g.refreshed_at {
        println!("Last refresh: {}", when(at));
    }
    if let Some((at, why)) = g.revoked {
        println!(
            "REVOKED at {} ({why}): a portal administrator must open {}/bitrix24/connect again",
            when(at),
            app.daemon_url.trim_end_matches('/')
        );
        return Ok(false);
    }
    Ok(true)
}

/// `openlines`: each line, its channels and status, lines switched off or disconnected on
/// the portal, messages each way today, the last error. With `reconnect`, first forgets
/// that an administrator disconnected that line.
pub async fn openlines(config: &Config, reconnect: Option<i64>) -> anyhow::Result<()> {
    let rules = LineRules::new(config);
    let store = crate::app::open_existing_store(config).await?;
    if let Some(line) = reconnect {
        if crate::flows::openlines::reconnect(&store, line).await? {
            println!("Line {line} will be connected again on the daemon's next start or reload (systemctl reload chat2desk-b24)");
        } else {
            println!("Line {line} was not disconnected on the portal; nothing to do");
        }
    }
    let off = crate::flows::openlines::switched_off(&store).await?;
    if !rules.enabled() && off.is_empty() {
        bail!("no [[openlines.lines]] are configured");
    }
    let disconnected = crate::flows::openlines::disconnected(&store).await?;
    let app = match &config.bitrix24.app {
        Some(app) => {
            let portal = crate::portal::Bitrix24::new(
                crate::portal::Bitrix24Options::from_config(&config.bitrix24),
            )?;
            Some(crate::portal::local_app::app_client(
                app,
                &store,
                &portal,
                std::time::Duration::from_secs(config.bitrix24.timeout_secs),
            )?)
        }
        None => None,
    };
    let status = line_status(app.as_ref(), &rules).await;
    println!("Connector: {}", rules.connector);
    for l in &rules.lines {
        let channels: Vec<String> = l.channels.iter().map(i64::to_string).collect();
        let state = status
            .iter()
            .find(|(line, _)| *line == l.line)
            .map(|(_, s)| s.as_str())
            .unwrap_or("");
        let state = match disconnected.get(&l.line) {
            Some(d) => format!(
                "disconnected on the portal ({}, {}), left off: to connect it again run `chat2desk-b24 openlines --reconnect {}` and reload",
                d.event,
                d.at.format("%Y-%m-%d %H:%M UTC"),
                l.line
            ),
            None => state.to_string(),
        };
        println!(
            "  line {}: channels {}; {state}",
            l.line,
            channels.join(", ")
        );
    }
    for line in off
        .iter()
        .filter(|l| !rules.lines.iter().any(|c| c.line == **l))
    {
        println!("  line {line}: switched off (no longer in [[openlines.lines]])");
    }
    let midnight = Utc::now()
        .with_timezone(&config.timezone())
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(config.timezone()).earliest())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now);
    let t = store.line_traffic(midnight).await?;
    println!(
        "Today: {} client message(s) to lines, {} operator repl(ies) to clients; {} waiting",
        t.to_line, t.to_client, t.pending
    );
    match t.last_error {
        Some((at, text)) => println!(
            "Last error ({}): {text}",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        None => println!("Last error: none"),
    }
    if !status.is_empty() && status.iter().all(|(_, s)| s.starts_with(NO_ANSWER)) {
        bail!(
            "imconnector.status failed for every line: the portal did not answer the local \
             application; see `chat2desk-b24 app status` and [bitrix24.app]"
        );
    }
    Ok(())
}
