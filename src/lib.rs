//! The library behind the `biganimal-credential` binary: the session use
//! case, the OAuth and portal client, the stores and the output formats.
//!
//! The binary in `main.rs` only parses the command line and maps failures
//! to exit codes. The modules are public so that the fuzz targets and
//! tests can reach the parsers of outside input.

pub mod access_key;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod credential;
pub mod dispatch;
pub mod fault;
pub mod http;
pub mod identity;
pub mod log;
pub mod oauth;
pub mod output;
pub mod protocol;
pub mod secret;
pub mod session;
pub mod store;
pub mod ui;
