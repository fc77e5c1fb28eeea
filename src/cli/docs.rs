//! Man pages and shell completions generated from the clap definitions and the example
//! configuration (for the packages).

mod cli_page;
mod config_page;

use super::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;

/// Writes `man1/chat2desk-b24.1`, one `man1/chat2desk-b24-<command>.1` per subcommand and
/// `man5/chat2desk-b24.toml.5` into `dir`.
pub fn gen_man(dir: &Path) -> anyhow::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    let man1 = dir.join("man1");
    let man5 = dir.join("man5");
    std::fs::create_dir_all(&man1)?;
    std::fs::create_dir_all(&man5)?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    collect(&cmd, "", &mut pages);
    let names: Vec<String> = pages.iter().map(|(_, _, name)| name.clone()).collect();
    std::fs::write(
        man1.join("chat2desk-b24.1"),
        cli_page::render(cmd.clone(), "", &names)?,
    )?;
    for (sub, path, name) in pages {
        std::fs::write(
            man1.join(format!("{name}.1")),
            cli_page::render(sub, &path, &[])?,
        )?;
    }
    std::fs::write(
        man5.join("chat2desk-b24.toml.5"),
        config_page::render(version)?,
    )?;
    Ok(())
}

/// Every visible subcommand below `cmd`, at any depth, with its path (`app status`) and
/// page name (`chat2desk-b24-app-status`).
fn collect(cmd: &clap::Command, path: &str, out: &mut Vec<(clap::Command, String, String)>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_path = match path {
            "" => sub.get_name().to_string(),
            p => format!("{p} {}", sub.get_name()),
        };
        let name = format!("chat2desk-b24-{}", sub_path.replace(' ', "-"));
        out.push((sub.clone(), sub_path.clone(), name));
        collect(sub, &sub_path, out);
    }
}

/// Every key the configuration accepts, as `section.key` (`config --keys`): the list the
/// configuration page must cover.
pub fn config_keys() -> Vec<String> {
    crate::config::KeyTable::new().dotted()
}

/// Writes bash, zsh and fish completions into `dir`.
pub fn gen_completions(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Cli::command();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd, "chat2desk-b24", dir)?;
    }
    Ok(())
}
