//! Values derived from a validated [`Config`]: the parsed time zone and schedule, and a dump.

use super::schedule::parse_schedule;
use super::Config;

impl Config {
    /// The parsed `crm.timezone`.
    ///
    /// # Panics
    /// When the configuration did not pass [`super::validate`] (`load` guarantees it did).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.crm
            .timezone
            .trim()
            .parse()
            .expect("crm.timezone is validated at load")
    }

    /// The parsed `sync.schedule`.
    ///
    /// # Panics
    /// When the configuration did not pass [`super::validate`] (`load` guarantees it did).
    pub fn schedule(&self) -> cron::Schedule {
        parse_schedule(&self.sync.schedule).expect("sync.schedule is validated at load")
    }

    /// The effective configuration as TOML, secrets shown as `***`.
    pub fn dump(&self) -> String {
        match toml::to_string_pretty(self) {
            Ok(text) => format!("# Effective configuration (secrets shown as ***)\n{text}"),
            Err(e) => format!("# The configuration cannot be shown as TOML: {e}\n"),
        }
    }
}
