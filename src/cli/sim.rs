//! `sim`: both simulators as a standalone process (end-to-end tests of the packages).

use crate::sim::bitrix24::PortalSim;
use crate::sim::chat2desk::Chat2DeskSim;
use crate::sim::scenario;
use std::net::SocketAddr;

/// Starts both simulators on fixed addresses, seeds the demo company, prints their
/// coordinates as JSON lines, and serves until interrupted.
pub async fn sim(chat2desk: SocketAddr, portal_addr: SocketAddr) -> anyhow::Result<()> {
    let c2d = Chat2DeskSim::start_on(chat2desk).await?;
    let portal = PortalSim::start_on(portal_addr).await?;
    let s = scenario::seed(&c2d, &portal);
    println!(
        "{}",
        serde_json::json!({ "chat2desk_api_url": c2d.url(), "chat2desk_token": c2d.token() })
    );
    println!(
        "{}",
        serde_json::json!({ "bitrix24_webhook_url": portal.webhook_url(), "default_responsible": s.user_default })
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
