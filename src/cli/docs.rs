//! Man pages and shell completions generated from the clap definitions (for the packages).

use super::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;

/// Writes `chat2desk-b24.1` and one page per subcommand into `dir`.
pub fn gen_man(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)?;
    Ok(())
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
