//! The demo scenario: a small company with operators, channels and four clients, seeded into
//! both simulators. Used by `chat2desk-b24 demo`, `chat2desk-b24 sim` and the tests.

use super::bitrix24::PortalSim;
use super::chat2desk::Chat2DeskSim;
use crate::config::{Config, OperatorMapping, OperatorRef, Secret};
use std::path::Path;

/// Ids of what the scenario created.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Portal user the e-mail-matched operator maps to.
    pub user_ivan: i64,
    /// Portal user mapped by id in the config.
    pub user_maria: i64,
    /// The default responsible.
    pub user_default: i64,
    /// Chat2Desk operator matched by e-mail.
    pub op_ivan: i64,
    /// Chat2Desk operator mapped by id.
    pub op_maria: i64,
    /// Chat2Desk operator with no portal user.
    pub op_petr: i64,
    /// WhatsApp channel.
    pub channel: i64,
    /// Client with an open lead on the portal.
    pub client_existing: i64,
    /// Client whose lead on the portal is closed (junk).
    pub client_returning: i64,
    /// A new client with a phone.
    pub client_new: i64,
    /// A Telegram client without a phone.
    pub client_telegram: i64,
    /// The existing open lead.
    pub lead_existing: i64,
    /// The closed lead.
    pub lead_closed: i64,
}

/// Seeds the company: portal users and leads, Chat2Desk operators, a channel and clients.
pub fn seed(c2d: &Chat2DeskSim, portal: &PortalSim) -> Scenario {
    let user_ivan = portal.add_user("Иван", "Петров", "ivan@example.ru", true);
    let user_maria = portal.add_user("Мария", "Сидорова", "maria@example.ru", true);
    let user_default = portal.add_user("Олег", "Дежурный", "oleg@example.ru", true);
    let op_ivan = c2d.add_operator("Иван", "Петров", "ivan@example.ru");
    let op_maria = c2d.add_operator("Мария", "Сидорова", "m.sidorova@c2d.example");
    let op_petr = c2d.add_operator("Пётр", "Новенький", "petr@c2d.example");
    let channel = c2d.add_channel("[1GT] 79682212816", "79682212816", &["whatsapp", "viber"]);
    let client_existing = c2d.add_client("Никита", Some("79607940401"), "whatsapp", channel);
    let client_returning = c2d.add_client("Анна", Some("79161234567"), "whatsapp", channel);
    let client_new = c2d.add_client("Сергей", Some("79035550011"), "whatsapp", channel);
    let client_telegram = c2d.add_client("Ольга", None, "telegram", channel);
    let lead_existing = portal.add_lead(
        "Никита, ЖК Да Винчи",
        Some("+79607940401"),
        "IN_PROCESS",
        user_ivan,
    );
    let lead_closed = portal.add_lead(
        "Анна, ипотека",
        Some("+7 (916) 123-45-67"),
        "JUNK",
        user_maria,
    );
    Scenario {
        user_ivan,
        user_maria,
        user_default,
        op_ivan,
        op_maria,
        op_petr,
        channel,
        client_existing,
        client_returning,
        client_new,
        client_telegram,
        lead_existing,
        lead_closed,
    }
}

/// The conversations of the demo, each ending with the request closed. Returns the closed
/// request ids.
pub fn converse(c2d: &Chat2DeskSim, s: &Scenario) -> Vec<i64> {
    c2d.client_says(
        s.client_existing,
        "Здравствуйте! Интересует 1-комнатная квартира в ЖК Да Винчи",
    );
    c2d.bot_says(
        s.client_existing,
        "Спасибо за обращение! Оператор ответит в течение 5 минут.",
    );
    c2d.operator_says(s.client_existing, s.op_ivan, "Здравствуйте! Стоимость квартиры от 1 664 000 руб., площадь от 30,94 до 44,9 кв.м. Отправляю планировку.");
    c2d.send_file(
        s.client_existing,
        Some(s.op_ivan),
        "pdf",
        "planirovka-1k.pdf",
        "https://files.example.com/c2d/planirovka-1k.pdf",
    );
    c2d.client_says(s.client_existing, "Спасибо! А ипотека есть?");
    c2d.operator_says(s.client_existing, s.op_ivan, "Да, от 15 400 руб. в месяц.");

    c2d.client_says(s.client_returning, "Добрый день, я снова по поводу ипотеки");
    c2d.send_file(
        s.client_returning,
        None,
        "photo",
        "spravka.jpg",
        "https://files.example.com/c2d/spravka.jpg",
    );
    c2d.operator_says(
        s.client_returning,
        s.op_maria,
        "Анна, здравствуйте! Справку получили, передаю менеджеру.",
    );

    c2d.client_says(s.client_new, "Здравствуйте, есть ли парковка?");
    c2d.operator_says(
        s.client_new,
        s.op_petr,
        "Да, подземный паркинг на 120 мест.",
    );
    c2d.system_note(s.client_new, "Диалог передан оператору Пётр Новенький");

    c2d.client_says(
        s.client_telegram,
        "Привет! Пришлите, пожалуйста, прайс [b]срочно[/b]",
    );
    c2d.operator_says(
        s.client_telegram,
        s.op_ivan,
        "Ольга, добрый день! Прайс во вложении.",
    );
    c2d.send_file(
        s.client_telegram,
        Some(s.op_ivan),
        "attachment",
        "price-2026.xlsx",
        "https://files.example.com/c2d/price-2026.xlsx",
    );

    [
        s.client_existing,
        s.client_returning,
        s.client_new,
        s.client_telegram,
    ]
    .iter()
    .map(|client| c2d.close_request(*client))
    .collect()
}

/// A config pointing at both simulators, with the scenario's mapping and defaults.
pub fn config(c2d: &Chat2DeskSim, portal: &PortalSim, s: &Scenario, database: &Path) -> Config {
    let mut config = Config::default();
    config.chat2desk.api_url = c2d.url();
    config.chat2desk.token = Secret::new(c2d.token());
    config.chat2desk.requests_per_second = 0.0;
    config.bitrix24.webhook_url = Secret::new(portal.webhook_url());
    config.bitrix24.requests_per_second = 0.0;
    config.crm.default_responsibles = vec![s.user_default];
    config.crm.operators = vec![OperatorMapping {
        chat2desk: OperatorRef::Id(s.op_maria),
        bitrix24: s.user_maria,
    }];
    config.sync.schedule = "*/2 * * * * *".into();
    config.sync.backoff_base_secs = 1;
    config.sync.backoff_max_secs = 5;
    config.database.path = database.to_path_buf();
    config
}
