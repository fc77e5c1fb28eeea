//! The `chat2desk-b24` binary: parses the command line and calls into the library.

use anyhow::Context;
use chat2desk_b24::app;
use chat2desk_b24::chat2desk::{Chat2Desk, Chat2DeskOptions};
use chat2desk_b24::cli::{
    self, AppAction, BizprocAction, Cli, Command, StoreAction, WebhookAction,
};
use chat2desk_b24::config::{self, Config};
use chat2desk_b24::portal::{Bitrix24, Bitrix24Options};
use chat2desk_b24::store::Store;
use clap::Parser;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { offline } => {
            let ok = cli::check(&cli.config, offline).await;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::Setup { answers } => {
            let ok = cli::setup(&cli.config, answers.as_deref()).await?;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::Demo => {
            app::init_logging("warn");
            cli::demo().await?;
        }
        Command::Sim {
            chat2desk,
            portal,
            token,
            secret,
            action,
        } => match action {
            None => {
                app::init_logging("info");
                cli::sim(chat2desk, portal, &token, &secret).await?;
            }
            Some(action) => {
                if !cli::sim_action(action, chat2desk, portal).await? {
                    return Ok(ExitCode::FAILURE);
                }
            }
        },
        Command::GenMan { dir } => cli::gen_man(&dir)?,
        Command::GenCompletions { dir } => cli::gen_completions(&dir)?,
        Command::Run => {
            let config = load(&cli.config)?;
            let log = app::init_logging(&config.log.level);
            let signals = app::spawn_signal_handler().context("installing signal handlers")?;
            let daemon = app::build(config).await?;
            app::run(daemon, &cli.config, signals, log).await?;
        }
        Command::Config { keys: true } => {
            for key in cli::config_keys() {
                println!("{key}");
            }
        }
        Command::Config { keys: false } => print!("{}", load(&cli.config)?.dump()),
        Command::App { action } => {
            let config = load(&cli.config)?;
            match action {
                AppAction::Connect => cli::app_connect(&config)?,
                AppAction::Status => {
                    if !cli::app_status(&config).await? {
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
        }
        Command::Openlines { reconnect } => cli::openlines(&load(&cli.config)?, reconnect).await?,
        Command::Send {
            channel,
            phone,
            text,
            files,
            transport,
            dry_run,
            via_daemon,
        } => {
            let config = load(&cli.config)?;
            app::init_logging(&config.log.level);
            let args = cli::SendArgs {
                channel,
                phone,
                text,
                files,
                transport,
            };
            if via_daemon {
                let ended = cli::send_via_daemon(&config, &args).await?;
                return Ok(ExitCode::from(ended as u8));
            }
            let sent = if dry_run {
                cli::send_dry_run(&chat2desk(&config)?, &args).await?
            } else {
                cli::send(config, args).await?
            };
            if !sent {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Bizproc { action } => match action {
            BizprocAction::Install {
                docroot,
                url,
                owner,
            } => cli::bizproc::install(
                &load(&cli.config)?,
                &docroot,
                url.as_deref(),
                owner.as_deref(),
            )?,
            BizprocAction::Uninstall { docroot } => cli::bizproc::uninstall(&docroot)?,
        },
        Command::Status { json } => {
            let code = match load(&cli.config) {
                Ok(config) => cli::status(&config, json).await,
                Err(e) => cli::status_unreadable(&e, json),
            };
            return Ok(ExitCode::from(code));
        }
        Command::Store {
            action: StoreAction::Migrate { to },
        } => cli::store_migrate(&load(&cli.config)?, &to).await?,
        Command::Store {
            action: StoreAction::Backup { file },
        } => cli::store_backup(&load(&cli.config)?, &file).await?,
        Command::Retry { request_id, dead } => {
            cli::retry(&open_store(&load(&cli.config)?).await?, request_id, dead).await?
        }
        Command::Backfill { since } => {
            let config = load(&cli.config)?;
            app::init_logging(&config.log.level);
            let store = open_store(&config).await?;
            cli::backfill(&chat2desk(&config)?, &store, since, config.timezone()).await?;
        }
        Command::Operators => {
            let config = load(&cli.config)?;
            cli::operators(&config, &chat2desk(&config)?, &portal(&config)?).await?
        }
        Command::Channels => cli::channels(&chat2desk(&load(&cli.config)?)?).await?,
        Command::Webhook { action } => {
            let config = load(&cli.config)?;
            let client = chat2desk(&config)?;
            match action {
                WebhookAction::Set { public_url } => {
                    cli::webhook_set(&config, &client, &public_url).await?
                }
                WebhookAction::Show { json } => cli::webhook_show(&config, &client, json).await?,
                WebhookAction::Delete => cli::webhook_delete(&config, &client).await?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads the config; problems are printed one per line and become the error.
fn load(path: &Path) -> anyhow::Result<Config> {
    let loaded = config::load(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    for w in &loaded.warnings {
        eprintln!("warning: {}: {}", w.key, w.message);
    }
    Ok(loaded.config)
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    app::open_store(config).await
}

fn chat2desk(config: &Config) -> anyhow::Result<Chat2Desk> {
    Chat2Desk::new(Chat2DeskOptions::from_config(&config.chat2desk)).context("[chat2desk]")
}

fn portal(config: &Config) -> anyhow::Result<Bitrix24> {
    Bitrix24::new(Bitrix24Options::from_config(&config.bitrix24)).context("[bitrix24]")
}
