//! `generate completion SHELL` and `generate man`: shell completions and
//! man pages built from the clap definitions, so they always match
//! `--help`. `make install` runs them; the command is hidden from `--help`.

use super::Failure;
use crate::cli::{Cli, CompletionShell, GenerateArgs, GenerateTarget};
use clap::CommandFactory;
use clap_complete::Shell;

/// The program name the completions and pages are written for.
const BIN_NAME: &str = "biganimal-credential";

/// Prints (or writes) what `args` asks for.
pub(super) fn run(args: &GenerateArgs) -> Result<u8, Failure> {
    match &args.target {
        GenerateTarget::Completion { shell } => completion(*shell),
        GenerateTarget::Man { out_dir: None } => man_page(),
        GenerateTarget::Man { out_dir: Some(dir) } => clap_mangen::generate_to(Cli::command(), dir)
            .map(|()| 0)
            .map_err(|e| Failure::general(format!("could not write the man pages to `{}`: {e}", dir.display()))),
    }
}

fn completion(shell: CompletionShell) -> Result<u8, Failure> {
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN_NAME, &mut text);
    write(&text)
}

fn man_page() -> Result<u8, Failure> {
    let mut text = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut text)
        .map_err(|e| Failure::general(format!("could not render the man page: {e}")))?;
    write(&text)
}

fn write(bytes: &[u8]) -> Result<u8, Failure> {
    let text = String::from_utf8_lossy(bytes);
    crate::output::write_stdout(&text)
        .map(|()| 0)
        .map_err(|e| Failure::general(format!("could not write to stdout: {e}")))
}
