//! `operators` and `channels`: what Chat2Desk has, and how operators map to portal users.

use crate::chat2desk::Chat2Desk;
use crate::config::Config;
use crate::portal::crm::{Choice, Responsibles};
use crate::portal::Bitrix24;

/// Lists Chat2Desk operators with the portal user each one maps to (mapped in the config,
/// matched by e-mail, or none: new entities then go to a default responsible).
pub async fn operators(
    config: &Config,
    chat2desk: &Chat2Desk,
    portal: &Bitrix24,
) -> anyhow::Result<()> {
    let responsibles = Responsibles::new(&config.crm);
    let operators = chat2desk.operators().await?;
    println!("{:>8}  {:<30} {:<32} portal user", "id", "name", "e-mail");
    let mut unmatched = 0;
    for op in &operators {
        let choice = responsibles
            .for_operator(portal, op.id, op.email.as_deref())
            .await?;
        let user = match choice {
            Some(Choice::Mapped(id)) => format!("{id} (mapped in [[crm.operators]])"),
            Some(Choice::Matched(id)) => format!("{id} (same e-mail)"),
            Some(Choice::Default(_)) | None => {
                unmatched += 1;
                "— unmatched: a random default responsible".to_string()
            }
        };
        println!(
            "{:>8}  {:<30} {:<32} {user}",
            op.id,
            op.full_name(),
            op.email.as_deref().unwrap_or("")
        );
    }
    println!(
        "{} operator(s), {unmatched} unmatched. Map one with [[crm.operators]] chat2desk = <id or e-mail>, bitrix24 = <user id>.",
        operators.len()
    );
    Ok(())
}

/// Lists Chat2Desk channels.
pub async fn channels(chat2desk: &Chat2Desk) -> anyhow::Result<()> {
    let channels = chat2desk.channels().await?;
    println!("{:>8}  {:<30} {:<16} transports", "id", "name", "phone");
    for ch in &channels {
        println!(
            "{:>8}  {:<30} {:<16} {}",
            ch.id,
            ch.name.as_deref().unwrap_or(""),
            ch.phone.as_deref().unwrap_or(""),
            ch.transports.join(", ")
        );
    }
    println!("{} channel(s).", channels.len());
    Ok(())
}
