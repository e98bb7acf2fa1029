//! `biganimal-credential`: hands out EDB BigAnimal API tokens to kubectl
//! exec hooks, scripts and people. See `--help` and docs/.
//!
//! The C `main` is defined here instead of Rust's: std's start-up code
//! reads `/proc/self/maps` to place a stack guard, which was an eighth of
//! the instructions of a cached `get`. On glibc, std still receives the
//! arguments and environment. Without that start-up code a stack overflow
//! ends in a plain SIGSEGV, and SIGPIPE keeps its default action, so a
//! reader that closes stdout early ends the process quietly.
#![no_main]

use biganimal_credential::{app, cli, dispatch, log};
use std::ffi::{c_char, c_int};
use std::io::Write;

#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    let code = run();
    // Rust's own start-up code would flush stdout at exit; this one must.
    let _ = std::io::stdout().flush();
    c_int::from(code)
}

/// The variables that clap reads for options; an empty one would be an
/// invalid value rather than an unset one.
const OPTION_VARIABLES: [&str; 13] = [
    "BA_API_URI",
    "BIGANIMAL_BROWSER",
    "BIGANIMAL_CA_FILE",
    "BIGANIMAL_CREDENTIAL_HOSTS",
    "BIGANIMAL_CREDENTIAL_STORE",
    "BIGANIMAL_FREE_TRIAL",
    "BIGANIMAL_HTTP_TIMEOUT",
    "BIGANIMAL_KEYCHAIN_TIMEOUT",
    "BIGANIMAL_LOCK_TIMEOUT",
    "BIGANIMAL_LOGIN",
    "BIGANIMAL_MIN_TTL",
    "BIGANIMAL_PROFILE",
    "BIGANIMAL_VERBOSE",
];

/// Removes option variables that are set but empty, so that `BA_API_URI=`
/// means the same as no `BA_API_URI`, as it does for the directory variables.
fn drop_empty_settings() {
    for name in OPTION_VARIABLES {
        if std::env::var_os(name).is_some_and(|value| value.is_empty()) {
            // Nothing else runs yet: no other thread reads the environment.
            std::env::remove_var(name);
        }
    }
}

fn run() -> u8 {
    drop_empty_settings();
    let command_line = dispatch::command_line(std::env::args_os().collect());
    let cli = match cli::Cli::parse_command_line(command_line) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with exit code 0; real usage
            // errors go to stderr with exit code 2.
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match app::run(cli) {
        Ok(code) => code,
        Err(failure) => {
            log::notice(&failure.message);
            failure.code
        }
    }
}
