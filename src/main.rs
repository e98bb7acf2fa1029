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

fn run() -> u8 {
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
