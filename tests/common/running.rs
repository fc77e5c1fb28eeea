//! The daemon in-process through the one seam, [`Daemon::spawn`], for tests that need its
//! server and loops running.

use chat2desk_b24::app::{Daemon, Running, SpawnOptions};
use chat2desk_b24::config::Config;
use chat2desk_b24::server::ServerSettings;
use tokio_util::sync::CancellationToken;

/// The daemon of `config`, running as `run` runs it (without signals and systemd).
pub async fn spawn(config: Config) -> Running {
    spawn_with(config, SpawnOptions::default()).await
}

/// The daemon of `config` with the server's limits changed by `limits` (tests shorten them).
pub async fn spawn_limited(config: Config, limits: impl FnOnce(&mut ServerSettings)) -> Running {
    let mut settings = ServerSettings::from_config(&config.server).expect("[server] is valid");
    limits(&mut settings);
    let options = SpawnOptions {
        server: Some(settings),
        ..SpawnOptions::default()
    };
    spawn_with(config, options).await
}

async fn spawn_with(config: Config, options: SpawnOptions) -> Running {
    Daemon::spawn(config, options, CancellationToken::new())
        .await
        .expect("the daemon starts")
}
