//! Arguments of the hidden `generate` command, which prints shell
//! completions and man pages built from the clap definitions.

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Arguments of `generate`.
#[derive(Args, Clone)]
pub struct GenerateArgs {
    /// What to generate.
    #[command(subcommand)]
    pub target: GenerateTarget,
}

/// The files `generate` produces.
#[derive(Subcommand, Clone)]
pub enum GenerateTarget {
    /// Print the completion script for a shell.
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Print the man page, or write one page per command into a directory.
    Man {
        /// Write `biganimal-credential.1` and a page per command here.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// Shells with a completion script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// bash, with the bash-completion package.
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}
