//! Ctrl-C during a device login.
//!
//! While the helper polls for approval, SIGINT clears the countdown line,
//! prints that the login was cancelled and exits with 130 (128 + SIGINT),
//! as shells report it. Nothing is written to the store while polling, so
//! the store stays as it was. The OS releases the profile's lock file when
//! the process ends. The handler uses only `write(2)` and `_exit(2)`,
//! which are async-signal-safe.
//!
//! A SIGINT that was ignored when the login started (a background job of a
//! non-interactive shell) stays ignored.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The exit code after Ctrl-C.
pub const EXIT_CODE: i32 = 130;

/// The line printed on SIGINT.
const MESSAGE: &[u8] = b"biganimal-credential: device login cancelled; the credential store was not changed\n";
/// Returns to the start of the line and erases it (the countdown and `^C`).
const CLEAR_LINE: &[u8] = b"\r\x1b[2K";

static CLEAR_ON_INTERRUPT: AtomicBool = AtomicBool::new(false);
/// The disposition to restore, as `libc::sighandler_t`; 0 when not installed.
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);

#[cfg(unix)]
extern "C" fn on_interrupt(_signal: libc::c_int) {
    // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffers are
    // static.
    unsafe {
        if CLEAR_ON_INTERRUPT.load(Ordering::Relaxed) {
            libc::write(2, CLEAR_LINE.as_ptr().cast(), CLEAR_LINE.len());
        } else {
            libc::write(2, b"\n".as_ptr().cast(), 1);
        }
        libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::_exit(EXIT_CODE);
    }
}

/// Installs the handler; `terminal` makes it erase the current line first.
#[cfg(unix)]
pub fn install(terminal: bool) {
    CLEAR_ON_INTERRUPT.store(terminal, Ordering::Relaxed);
    let handler = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler above only calls async-signal-safe functions.
    let previous = unsafe { libc::signal(libc::SIGINT, handler) };
    if previous == libc::SIG_IGN {
        // SAFETY: restores the inherited disposition; no handler code.
        unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
        return;
    }
    // SIG_DFL is 0, so store it as 1 to keep 0 for "not installed".
    PREVIOUS.store(if previous == libc::SIG_DFL { 1 } else { previous }, Ordering::Relaxed);
}

/// Puts back the disposition that [`install`] replaced.
#[cfg(unix)]
pub fn uninstall() {
    let previous = match PREVIOUS.swap(0, Ordering::Relaxed) {
        0 => return,
        1 => libc::SIG_DFL,
        other => other,
    };
    // SAFETY: restores a disposition this process had before.
    unsafe { libc::signal(libc::SIGINT, previous) };
}

#[cfg(not(unix))]
pub fn install(_terminal: bool) {}

#[cfg(not(unix))]
pub fn uninstall() {}
