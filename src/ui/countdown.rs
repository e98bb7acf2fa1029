//! The countdown line shown on a terminal while the helper waits for
//! approval: redrawn in place once a second by a thread, so the time left
//! moves even while a poll waits out its interval.
//!
//! While the line is shown, [`log`] erases it before printing a message,
//! and the next tick draws it again below.

use crate::clock::human_duration;
use crate::log;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Erases the current terminal line and returns to its start.
pub const CLEAR_LINE: &str = "\r\x1b[2K";

/// Shared between the prompt and the drawing thread.
struct State {
    deadline: Instant,
    stopped: bool,
}

/// A running countdown; [`Countdown::stop`] ends it and erases the line.
pub struct Countdown {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Countdown {
    /// Starts drawing the time left until `deadline`; `bold` highlights it.
    pub fn start(deadline: Instant, bold: bool) -> Countdown {
        let shared = Arc::new((Mutex::new(State { deadline, stopped: false }), Condvar::new()));
        let for_thread = Arc::clone(&shared);
        log::set_status_line(true);
        let thread = std::thread::spawn(move || draw_until_stopped(&for_thread, bold));
        Countdown {
            shared,
            thread: Some(thread),
        }
    }

    /// Moves the deadline to the expiry computed after the latest poll.
    pub fn set_deadline(&self, deadline: Instant) {
        let (state, _) = &*self.shared;
        state.lock().expect("the countdown thread does not panic").deadline = deadline;
    }

    /// Stops the thread and erases the line.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        let (state, wake) = &*self.shared;
        state.lock().expect("the countdown thread does not panic").stopped = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        log::set_status_line(false);
        let _ = std::io::stderr().lock().write_all(CLEAR_LINE.as_bytes());
    }
}

impl Drop for Countdown {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.finish();
        }
    }
}

/// Renders the countdown line for `seconds_left`, in the longest wording
/// that fits in `columns` (when known). A line that wrapped could not be
/// erased by the next redraw, which would leave a copy on every second.
pub fn line(seconds_left: i64, bold: bool, columns: Option<usize>) -> String {
    let left = human_duration(seconds_left.max(0));
    let wordings = [
        format!("Waiting for approval in the browser… {left} left (Ctrl-C to cancel)"),
        format!("Waiting for approval… {left} left"),
        format!("{left} left"),
    ];
    let fits = |text: &String| columns.is_none_or(|columns| text.chars().count() < columns);
    let chosen = wordings.iter().find(|text| fits(text)).unwrap_or(&wordings[2]);
    let text = if bold { chosen.replacen(&left, &format!("\x1b[1m{left}\x1b[0m"), 1) } else { chosen.clone() };
    format!("{CLEAR_LINE}{text}")
}

fn draw_until_stopped(shared: &(Mutex<State>, Condvar), bold: bool) {
    let (state, wake) = shared;
    let mut guard = state.lock().expect("the prompt does not panic while holding the lock");
    while !guard.stopped {
        let left = guard.deadline.saturating_duration_since(Instant::now());
        let seconds = left.as_secs() as i64 + i64::from(left.subsec_nanos() > 0);
        let columns = super::terminal_size().map(|(columns, _)| columns);
        let _ = std::io::stderr().lock().write_all(line(seconds, bold, columns).as_bytes());
        // Wake when the shown second has passed, so the display changes on time.
        let until_next = left
            .checked_sub(Duration::from_secs((seconds - 1).max(0) as u64))
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(1));
        guard = wake
            .wait_timeout(guard, until_next)
            .expect("the prompt does not panic while holding the lock")
            .0;
    }
}
