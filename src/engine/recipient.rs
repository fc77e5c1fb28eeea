//! Who a send goes to, with the rules every sender shares (the business-process action and
//! the CRM card tab): the channel asked for, the Chat2Desk client with the phone — found, or
//! created when the company may write first (`companies/api_info: write_first_option`) and
//! the day's budget (`[bizproc] write_first_daily_limit`) allows — and the client's
//! transports on that channel.

use super::single_flight::{self, client_keys};
use super::{refusal_text, Services, Stop};
use crate::chat2desk::{Channel, Chat2DeskError};
use crate::store::Job;
use std::time::Duration;

/// The "write first" guard: how many new clients a day, counted in which zone.
#[derive(Debug, Clone, Copy)]
pub struct WriteFirst {
    /// New clients written to first per day at most (0 = no limit).
    pub daily_limit: u32,
    /// The zone whose calendar day the limit counts.
    pub timezone: chrono_tz::Tz,
}

/// Rules that set the write-first guard (the business-process send rules do; the CRM card's
/// sends read the same).
pub trait WriteFirstRules: Send + Sync + 'static {
    /// The guard these rules set.
    fn write_first(&self) -> WriteFirst;
}

/// The channel `channel_id`, from `GET /channels`; a refusal when the company has none.
pub async fn channel(services: &Services, channel_id: i64) -> Result<Channel, Stop> {
    let channels = services.chat2desk.channels().await?;
    channels
        .into_iter()
        .find(|c| c.id == channel_id)
        .ok_or_else(|| {
            Stop::Refused(format!(
                "канал Chat2Desk {channel_id} не найден: выберите канал из списка в настройках действия"
            ))
        })
}

/// The Chat2Desk client with `phone` (E.164), created on `channel` (with `transport`, else
/// the channel's first) when none exists and the write-first rules allow. One job at a time
/// finds or creates a phone's client (a transcript of the same person, or another send,
/// waits), so a person never gets two. `job` is a `sends` row's job: it holds the day's
/// place it takes.
pub async fn client_for_phone(
    services: &Services,
    rules: WriteFirst,
    job: &Job,
    to: (&str, &Channel, Option<String>),
    lease: Duration,
) -> Result<i64, Stop> {
    let keys = client_keys(Some(to.0), None);
    let found = single_flight::for_client(services, job, &keys, lease, || async {
        match find_or_create(services, rules, job, to.clone()).await {
            Ok(id) => Ok(Ok(id)),
            Err(Stop::Refused(text)) => Ok(Err(text)),
            Err(Stop::Job(e)) => Err(e),
        }
    })
    .await?;
    found.map_err(Stop::Refused)
}

async fn find_or_create(
    services: &Services,
    rules: WriteFirst,
    job: &Job,
    (phone, channel, transport): (&str, &Channel, Option<String>),
) -> Result<i64, Stop> {
    let c2d = &services.chat2desk;
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if let Some(client) = c2d.clients_by_phone(&digits).await?.into_iter().next() {
        return Ok(client.id);
    }
    let info = c2d.api_info().await?;
    if info.write_first_option == Some(false) {
        return Err(Stop::Refused(format!(
            "клиент с номером {phone} ещё не писал в Chat2Desk, а услуга «Писать первым» для компании не подключена (companies/api_info: write_first_option = false)"
        )));
    }
    let day = chrono::Utc::now()
        .with_timezone(&rules.timezone)
        .format("%Y-%m-%d")
        .to_string();
    let limit = rules.daily_limit;
    if !services
        .store
        .take_write_first(job.key, &day, limit)
        .await?
    {
        return Err(Stop::Refused(format!(
            "сегодня уже написали первыми {limit} новым клиентам (лимит [bizproc] write_first_daily_limit): сообщение на номер {phone} не отправлено, чтобы WhatsApp не заблокировал аккаунт за спам"
        )));
    }
    let transport = transport
        .or_else(|| channel.transports.first().cloned())
        .unwrap_or_else(|| "whatsapp".into());
    match c2d.create_client(&digits, &transport, channel.id).await {
        Ok(id) => {
            tracing::info!(
                send_id = job.key,
                client_id = id,
                channel_id = channel.id,
                "Created a Chat2Desk client to write first"
            );
            Ok(id)
        }
        Err(e @ Chat2DeskError::Api { .. }) => Err(Stop::Refused(format!(
            "Chat2Desk не создал клиента с номером {phone}: {}",
            refusal_text(&e)
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The client's transports on the channel (`GET /clients/{id}`); empty when not listed.
pub async fn client_transports(
    services: &Services,
    client_id: i64,
    channel_id: i64,
) -> Result<Vec<String>, Stop> {
    match services.chat2desk.client(client_id).await {
        Ok(client) => Ok(client.transports_on(channel_id).to_vec()),
        Err(Chat2DeskError::NotFound { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}
