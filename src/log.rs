//! Messages to stderr: notices always, details only with `-v`.
//!
//! Callers pass finished text; nothing here formats tokens, and no code
//! passes a secret in. stdout is never written here.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);
/// Set while a terminal status line (the login countdown) is on screen.
static STATUS_LINE: AtomicBool = AtomicBool::new(false);

/// Turns detail messages on or off (the `-v` option).
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// Tells whether `-v` is on.
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Writes a detail line to stderr when `-v` is on.
pub fn info(message: &str) {
    if verbose() {
        write_line(message);
    }
}

/// Writes a line to stderr whatever the verbosity, once per process: a
/// store read twice in one call (before and after the lock) reports the
/// same problem only once.
pub fn notice(message: &str) {
    static SHOWN: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(message, &mut hasher);
    let fingerprint = std::hash::Hasher::finish(&hasher);
    let mut shown = SHOWN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if shown.contains(&fingerprint) {
        return;
    }
    shown.push(fingerprint);
    drop(shown);
    write_line(message);
}

/// Marks whether a status line is on screen, so that messages erase it
/// first instead of running into it.
pub fn set_status_line(shown: bool) {
    STATUS_LINE.store(shown, Ordering::Relaxed);
}

fn write_line(message: &str) {
    let mut stderr = std::io::stderr().lock();
    if STATUS_LINE.load(Ordering::Relaxed) {
        let _ = stderr.write_all(b"\r\x1b[2K");
    }
    // A closed stderr must not turn into a panic or an error exit.
    let _ = writeln!(stderr, "biganimal-credential: {message}");
}
