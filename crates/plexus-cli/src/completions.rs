//! `plexus completions SHELL` and `plexus man`: shell completion scripts
//! (clap_complete) and man pages (clap_mangen), both generated from the
//! command-line definition in `cli.rs`, so they never fall behind it.

use std::{io::Write, path::PathBuf};

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;

/// Arguments of `plexus completions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  plexus completions bash > ~/.local/share/bash-completion/completions/plexus\n  plexus completions zsh > ~/.zfunc/_plexus        (with fpath+=~/.zfunc in ~/.zshrc)\n  plexus completions fish > ~/.config/fish/completions/plexus.fish"
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// Arguments of `plexus man`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  plexus man > plexus.1 && man ./plexus.1\n  plexus man --dir ~/.local/share/man/man1      then `man plexus-share`"
)]
pub struct ManArgs {
    /// Write one page per command into this folder (plexus.1,
    /// plexus-share.1, ...; pages of those names are replaced) instead of
    /// printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell` to standard output.
pub fn completions(args: CompletionsArgs) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "plexus", &mut script);
    print(&script).context("writing the completion script")
}

/// Prints the main man page (roff), or writes every command's page to
/// `args.dir`.
pub fn man(args: ManArgs) -> Result<()> {
    // `plexus help` is --help again; it gets no page and is not listed.
    let cmd = Cli::command().disable_help_subcommand(true);
    let Some(dir) = args.dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page)?;
        return print(&page).context("writing the man page");
    };
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create {}: pick a folder you can write",
            dir.display()
        )
    })?;
    clap_mangen::generate_to(cmd, &dir)
        .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
    println!("wrote the man pages into {}", dir.display());
    Ok(())
}

/// Writes `bytes` to standard output; a reader that stopped early (`| head`)
/// is not an error.
fn print(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
