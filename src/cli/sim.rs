//! `sim`: both simulators as a standalone process, seeded with the demo company, for a
//! newcomer's first transcript (docs/first-transcript.md) and the packages' end-to-end test;
//! its subcommands ([`drive`]) drive a running one.

mod drive;

pub use drive::{sim_action, SimAction};

use crate::sim::bitrix24::PortalSim;
use crate::sim::chat2desk::Chat2DeskSim;
use crate::sim::scenario::{self, Scenario};
use std::net::SocketAddr;

/// The Chat2Desk API token the simulator accepts unless `--token` says otherwise.
pub const SIM_TOKEN: &str = "sim-chat2desk-token";
/// The portal's inbound-webhook secret unless `--secret` says otherwise.
pub const SIM_SECRET: &str = "simwebhooksecret";

/// Starts both simulators on `chat2desk` and `portal`, seeds the demo company, prints their
/// coordinates as JSON lines on stdout (a newcomer's guide on stderr), and serves until
/// interrupted.
pub async fn sim(
    chat2desk: SocketAddr,
    portal_addr: SocketAddr,
    token: &str,
    secret: &str,
) -> anyhow::Result<()> {
    let c2d = Chat2DeskSim::start_with_token(chat2desk, token).await?;
    let portal = PortalSim::start_with_secret(portal_addr, secret).await?;
    let s = scenario::seed(&c2d, &portal);
    println!(
        "{}",
        serde_json::json!({ "chat2desk_api_url": c2d.url(), "chat2desk_token": c2d.token() })
    );
    println!(
        "{}",
        serde_json::json!({ "bitrix24_webhook_url": portal.webhook_url(), "default_responsible": s.user_default })
    );
    eprint!("{}", guide(&c2d, &portal, &s));
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// What a newcomer reads when the simulators are up: where they are, what to put in the
/// config, the seeded company and the commands that drive it.
fn guide(c2d: &Chat2DeskSim, portal: &PortalSim, s: &Scenario) -> String {
    format!(
        "\nChat2Desk simulator: {c2d_url} (API under /v1/)\n\
         Portal simulator:    {portal_url}\n\n\
         Put in the config (docs/first-transcript.md):\n\
         \x20 [chat2desk] api_url = \"{c2d_url}\"  token = \"{token}\"\n\
         \x20 [bitrix24]  webhook_url = \"{webhook}\"\n\
         \x20 [crm]       default_responsibles = [{default}]\n\n\
         Demo company: channel {channel} (WhatsApp, Viber); operators {op_ivan} Иван Петров \
         (ivan@example.ru, portal user {user_ivan} by e-mail), {op_maria} Мария Сидорова, \
         {op_petr} Пётр Новенький; clients {c1} Никита (open lead {lead}), {c2} Анна, {c3} Сергей, \
         {c4} Ольга (Telegram).\n\n\
         Drive it: chat2desk-b24 sim client | message | close | timeline | app | browse \
         (chat2desk-b24 sim --help). Ctrl-C stops it; nothing is kept.\n",
        c2d_url = c2d.url(),
        portal_url = portal.base_url(),
        token = c2d.token(),
        webhook = portal.webhook_url(),
        default = s.user_default,
        channel = s.channel,
        op_ivan = s.op_ivan,
        user_ivan = s.user_ivan,
        op_maria = s.op_maria,
        op_petr = s.op_petr,
        c1 = s.client_existing,
        lead = s.lead_existing,
        c2 = s.client_returning,
        c3 = s.client_new,
        c4 = s.client_telegram,
    )
}
