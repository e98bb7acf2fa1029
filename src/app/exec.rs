//! `exec -- COMMAND ARGS…`: runs a command with the credential in its
//! environment, for the BigAnimal Terraform provider, EDB's CLI and
//! scripts.
//!
//! The child gets `BA_BEARER_TOKEN`, or for a profile with an access key
//! `BA_ACCESS_KEY` and `EDB_TF_ACCESS_KEY`, and `BA_API_URI` (see
//! `output::shell`). The credential variables that do not apply are
//! removed, because the Terraform provider prefers a stale access key over
//! a fresh bearer token. The credential never appears on a command line. The child inherits stdin,
//! stdout and stderr, and the helper writes nothing to stdout itself.
//!
//! Exit status:
//! - the child's status, or 128+N when signal N ended it;
//! - 126 when the command could not be started and 127 when it was not
//!   found, as `env(1)` reports them;
//! - the helper's own codes when no credential was obtained.

use super::serve::{login_policy, CredentialSource, LazySource};
use super::Failure;
use crate::cli::{ExecArgs, GlobalArgs};
use crate::credential::ApiCredential;
use crate::output::shell;
use std::ffi::OsStr;
use std::io::IsTerminal;
use std::process::{Command, ExitStatus};

/// Runs the command and returns its exit status.
pub(super) fn run(global: &GlobalArgs, args: &ExecArgs) -> Result<u8, Failure> {
    let (program, arguments) = args.command.split_first().expect("clap requires a command");
    let policy = login_policy(args.login, std::io::stderr().is_terminal());
    let credential = LazySource::new(global).credential(policy)?;

    let mut command = Command::new(program);
    command.args(arguments);
    configure_env(&mut command, &credential, &global.api_url);
    let status = run_to_end(&mut command, program)?;
    Ok(exit_code(status))
}

/// Sets the credential variables and removes those that do not apply.
fn configure_env(command: &mut Command, credential: &ApiCredential, api_url: &str) {
    for (name, value) in shell::variables(credential, api_url) {
        command.env(name, value);
    }
    for name in shell::unused_variables(credential) {
        command.env_remove(name);
    }
}

/// Starts the command and waits for it. Terminal signals (Ctrl-C, Ctrl-\)
/// reach the whole foreground process group, so the helper ignores them
/// while it waits and lets the child decide.
fn run_to_end(command: &mut Command, program: &OsStr) -> Result<ExitStatus, Failure> {
    let display_name = program.to_string_lossy();
    let mut child = command.spawn().map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
        Failure {
            code,
            message: format!("could not run `{display_name}`: {e}"),
        }
    })?;
    ignore_terminal_signals();
    child
        .wait()
        .map_err(|e| Failure::general(format!("could not wait for `{display_name}`: {e}")))
}

// NOTE: a SIGTERM sent to the helper alone (not to its process group) ends
// the helper and leaves the child running; it is not forwarded.
#[cfg(unix)]
fn ignore_terminal_signals() {
    // SAFETY: `signal` with `SIG_IGN` installs no handler code; it only
    // changes this process's disposition. The child was already started,
    // so it keeps the default disposition.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
}

#[cfg(not(unix))]
fn ignore_terminal_signals() {}

/// Maps the child's status to the helper's exit code.
fn exit_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code).unwrap_or(1);
    }
    signal_exit_code(status).unwrap_or(1)
}

#[cfg(unix)]
fn signal_exit_code(status: ExitStatus) -> Option<u8> {
    use std::os::unix::process::ExitStatusExt;
    status.signal().and_then(|signal| u8::try_from(128 + signal).ok())
}

#[cfg(not(unix))]
fn signal_exit_code(_status: ExitStatus) -> Option<u8> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn exit_code_passes_status_and_signal() {
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(7 << 8)), 7);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGTERM)), 143);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 137);
    }
}
