//! `biganimal-credential`: hands out EDB BigAnimal API tokens to kubectl
//! exec hooks, scripts and people. See `--help` and docs/.

use biganimal_credential::{app, cli, dispatch, log};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let command_line = dispatch::command_line(std::env::args_os().collect());
    let cli = match cli::Cli::try_parse_from(command_line) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with exit code 0; real usage
            // errors go to stderr with exit code 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match app::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            log::notice(&failure.message);
            ExitCode::from(failure.code)
        }
    }
}
