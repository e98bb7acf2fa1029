//! Time as the session logic sees it.
//!
//! Every expiry check, polling wait and lock wait reads the same [`Clock`],
//! so tests drive token expiry and device-code polling without sleeping.

use std::time::Duration;
use time::OffsetDateTime;

/// A source of wall-clock time that can also wait.
pub trait Clock {
    /// Returns the current UTC time.
    fn now(&self) -> OffsetDateTime;

    /// Blocks the caller for `duration`.
    fn sleep(&self, duration: Duration);
}

/// The real clock: the system time and `std::thread::sleep`.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// Formats a time as RFC 3339 in UTC with whole seconds, the form
/// `ExecCredential.status.expirationTimestamp` and git's
/// `password_expiry_utc` readers accept.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .expect("zero nanoseconds is always valid");
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("a UTC time within year 0..9999 always formats as RFC 3339")
}

/// Converts Unix seconds to a time, clamping values outside what `time`
/// can represent so that corrupt stored numbers cannot panic.
pub fn from_unix(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(if seconds < 0 {
        OffsetDateTime::UNIX_EPOCH
    } else {
        time::macros::datetime!(9999-12-31 23:59:59 UTC)
    })
}

/// Formats a duration for people: `4m 10s`, `2h 5m`, `3d 4h`.
pub fn human_duration(seconds: i64) -> String {
    let sign = if seconds < 0 { "-" } else { "" };
    let s = seconds.unsigned_abs();
    let text = match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    };
    format!("{sign}{text}")
}

#[cfg(test)]
pub mod fake {
    //! A clock for tests: `sleep` advances time instead of waiting.

    use super::Clock;
    use std::cell::RefCell;
    use std::time::Duration;
    use time::OffsetDateTime;

    /// A clock that starts at a fixed time and records every sleep.
    pub struct FakeClock {
        now: RefCell<OffsetDateTime>,
        /// Every duration passed to `sleep`, in order.
        pub sleeps: RefCell<Vec<Duration>>,
    }

    impl Default for FakeClock {
        fn default() -> Self {
            FakeClock::new()
        }
    }

    impl FakeClock {
        /// Creates a clock at 2026-01-01T00:00:00Z.
        pub fn new() -> Self {
            FakeClock {
                now: RefCell::new(time::macros::datetime!(2026-01-01 00:00:00 UTC)),
                sleeps: RefCell::new(Vec::new()),
            }
        }

        /// Moves the clock forward without recording a sleep.
        pub fn advance(&self, by: Duration) {
            *self.now.borrow_mut() += by;
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> OffsetDateTime {
            *self.now.borrow()
        }

        fn sleep(&self, duration: Duration) {
            self.sleeps.borrow_mut().push(duration);
            self.advance(duration);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_drops_fraction() {
        let at = time::macros::datetime!(2026-03-04 05:06:07.891 UTC);
        assert_eq!(rfc3339(at), "2026-03-04T05:06:07Z");
    }

    #[test]
    fn from_unix_clamps_out_of_range() {
        assert_eq!(from_unix(i64::MAX).year(), 9999);
        assert_eq!(from_unix(i64::MIN), OffsetDateTime::UNIX_EPOCH);
    }

    #[test]
    fn human_duration_units() {
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(250), "4m 10s");
        assert_eq!(human_duration(7500), "2h 5m");
        assert_eq!(human_duration(273_600), "3d 4h");
        assert_eq!(human_duration(-90), "-1m 30s");
    }
}
