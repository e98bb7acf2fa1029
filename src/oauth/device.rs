//! Polling the token endpoint during a device login (RFC 8628 §3.4–3.5).
//!
//! | answer                                   | action                                   |
//! |------------------------------------------|------------------------------------------|
//! | tokens                                   | done                                     |
//! | `authorization_pending`                  | wait `interval`, poll again              |
//! | `slow_down`                              | add 5 s to `interval` for good, poll again |
//! | `expired_token`                          | stop: the code expired                   |
//! | `access_denied`                          | stop: the person declined                |
//! | timeout or other transport failure, 5xx, 429, `too_many_requests`, `temporarily_unavailable` | double `interval` (max 60 s, or the `Retry-After` wait when longer), poll again |
//! | any other OAuth error                    | stop with that error                     |
//!
//! The wait is counted from the previous response, and polling stops at the
//! code's `expires_in` deadline whatever the server returns. A poll still
//! waiting for its response at that deadline is cut off. The decision is
//! made on the JSON `error` field, never on the HTTP status, because Auth0
//! answers `authorization_pending` with 403 and `slow_down` with 429.

use super::{AuthServer, DeviceAuthorization, Error, TokenResponse};
use crate::clock::Clock;
use crate::log;
use std::fmt;
use std::time::Duration;

/// Seconds RFC 8628 §3.5 adds to the interval on each `slow_down`.
const SLOW_DOWN_STEP: f64 = 5.0;
/// The shortest interval used, whatever the server sends, in seconds.
const MIN_INTERVAL: f64 = 0.1;
/// Maximum interval reached by doubling after transient failures, in seconds.
const MAX_BACKOFF_INTERVAL: f64 = 60.0;
/// Maximum interval taken from the server, in seconds. Larger values are
/// treated as this, so a hostile value cannot stall the login forever.
const MAX_SERVER_INTERVAL: f64 = 300.0;
/// Maximum code lifetime taken from the server, in seconds (Auth0 sends 900).
const MAX_CODE_LIFETIME: u64 = 3600;

/// The reason a device login ended without tokens.
#[derive(Debug)]
pub enum DeviceLoginError {
    /// The person declined the request (`access_denied`).
    Denied,
    /// The device code expired before approval (`expired_token`, or the deadline passed).
    Expired,
    /// The issuer or the network failed in a way that ends the login.
    Failed(Error),
}

impl fmt::Display for DeviceLoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceLoginError::Denied => f.write_str(
                "the device login was denied in the browser; run the command again to start a new login",
            ),
            DeviceLoginError::Expired => f.write_str(
                "the device login code expired before it was approved; \
                 run the command again and approve the new code in time",
            ),
            DeviceLoginError::Failed(e) => write!(f, "the device login failed: {e}"),
        }
    }
}

impl std::error::Error for DeviceLoginError {}

/// Polls until the person approves, declines, or the code expires.
///
/// `on_wait` is called before each wait with the seconds left until the
/// code expires, so a terminal can show a countdown.
pub fn poll_for_tokens(
    server: &dyn AuthServer,
    clock: &dyn Clock,
    issuer: &str,
    client_id: &str,
    authorization: &DeviceAuthorization,
    on_wait: &mut dyn FnMut(i64),
) -> Result<TokenResponse, DeviceLoginError> {
    let deadline = clock.now() + Duration::from_secs(authorization.expires_in.min(MAX_CODE_LIFETIME));
    let mut interval = authorization.interval.clamp(MIN_INTERVAL, MAX_SERVER_INTERVAL);

    loop {
        let wait = Duration::from_secs_f64(interval);
        let now = clock.now();
        if now + wait >= deadline {
            return Err(DeviceLoginError::Expired);
        }
        on_wait((deadline - now).whole_seconds());
        clock.sleep(wait);

        // The poll may not outlive the code, because a late response could
        // only be `expired_token`.
        let time_left = deadline - clock.now();
        if !time_left.is_positive() {
            return Err(DeviceLoginError::Expired);
        }
        let time_left = time_left.unsigned_abs();
        let error = match server.poll_device_token(issuer, client_id, &authorization.device_code, time_left) {
            Ok(tokens) => return Ok(tokens),
            Err(error) => error,
        };
        match error.oauth_code() {
            Some("authorization_pending") => {}
            Some("slow_down") => {
                interval += SLOW_DOWN_STEP;
                log::info(&format!(
                    "device login: the issuer asked to slow down; polling every {interval:.1} s"
                ));
            }
            Some("expired_token") => return Err(DeviceLoginError::Expired),
            Some("access_denied") => return Err(DeviceLoginError::Denied),
            Some(_) if !is_transient(&error) => return Err(DeviceLoginError::Failed(error)),
            _ if is_transient(&error) => {
                let requested = error.retry_after().unwrap_or(0) as f64;
                interval = (interval * 2.0).min(MAX_BACKOFF_INTERVAL).max(interval).max(requested);
                log::info(&format!(
                    "device login: {error}; polling again in {interval:.1} s"
                ));
            }
            _ => return Err(DeviceLoginError::Failed(error)),
        }
    }
}

/// Tells whether a failure other than `authorization_pending` and
/// `slow_down` is worth another poll: a transport failure, a rate limit (Auth0 sends
/// 429 with `too_many_requests`), a server error, or the OAuth code
/// `temporarily_unavailable`.
fn is_transient(error: &Error) -> bool {
    match error {
        Error::Transport { .. } => true,
        Error::Status { status, .. } => *status == 429 || *status >= 500,
        Error::OAuth { code, status, .. } => {
            *status == 429 || *status >= 500 || matches!(code.as_str(), "too_many_requests" | "temporarily_unavailable")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::fake::FakeClock;
    use crate::oauth::Provider;
    use crate::secret::Secret;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// An issuer whose poll answers come from a script.
    struct ScriptedIssuer {
        answers: RefCell<VecDeque<Result<TokenResponse, Error>>>,
        polls: RefCell<u32>,
    }

    fn oauth(code: &str) -> Result<TokenResponse, Error> {
        Err(Error::OAuth {
            operation: "device login",
            code: code.to_string(),
            description: None,
            status: 403,
            retry_after: None,
        })
    }

    fn tokens() -> Result<TokenResponse, Error> {
        Ok(TokenResponse {
            access_token: Secret::new("raw"),
            id_token: None,
            refresh_token: Some(Secret::new("rt")),
            expires_in: Some(86_400),
        })
    }

    impl ScriptedIssuer {
        fn new(answers: Vec<Result<TokenResponse, Error>>) -> Self {
            ScriptedIssuer {
                answers: RefCell::new(answers.into()),
                polls: RefCell::new(0),
            }
        }
    }

    impl AuthServer for ScriptedIssuer {
        fn discover(&self, _: &str) -> Result<Provider, Error> {
            unreachable!("polling never discovers")
        }
        fn request_device_code(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: &str,
        ) -> Result<DeviceAuthorization, Error> {
            unreachable!("polling never requests a code")
        }
        fn poll_device_token(&self, _: &str, _: &str, _: &Secret, _: Duration) -> Result<TokenResponse, Error> {
            *self.polls.borrow_mut() += 1;
            self.answers
                .borrow_mut()
                .pop_front()
                .unwrap_or_else(|| oauth("authorization_pending"))
        }
        fn refresh(&self, _: &str, _: &str, _: &Secret) -> Result<TokenResponse, Error> {
            unreachable!("polling never refreshes")
        }
        fn exchange(&self, _: &str, _: &Secret) -> Result<Secret, Error> {
            unreachable!("polling never exchanges")
        }
        fn revoke(&self, _: &str, _: &str, _: &Secret) -> Result<(), Error> {
            unreachable!("polling never revokes")
        }
    }

    fn authorization(interval: f64, expires_in: u64) -> DeviceAuthorization {
        DeviceAuthorization {
            device_code: Secret::new("device-code"),
            user_code: "ABCD-EFGH".to_string(),
            verification_uri: "https://auth.example/activate".to_string(),
            verification_uri_complete: None,
            expires_in,
            interval,
        }
    }

    fn run(issuer: &ScriptedIssuer, clock: &FakeClock, auth: &DeviceAuthorization) -> Result<TokenResponse, DeviceLoginError> {
        poll_for_tokens(issuer, clock, "https://auth.example/", "client", auth, &mut |_| {})
    }

    #[test]
    fn pending_then_tokens() {
        let issuer = ScriptedIssuer::new(vec![oauth("authorization_pending"), tokens()]);
        let clock = FakeClock::new();
        assert!(run(&issuer, &clock, &authorization(5.0, 900)).is_ok());
        assert_eq!(*clock.sleeps.borrow(), vec![Duration::from_secs(5); 2]);
    }

    #[test]
    fn slow_down_adds_five_seconds_for_good() {
        let issuer = ScriptedIssuer::new(vec![
            oauth("slow_down"),
            oauth("authorization_pending"),
            oauth("slow_down"),
            oauth("authorization_pending"),
            tokens(),
        ]);
        let clock = FakeClock::new();
        assert!(run(&issuer, &clock, &authorization(1.0, 900)).is_ok());
        let secs: Vec<f64> = clock.sleeps.borrow().iter().map(Duration::as_secs_f64).collect();
        assert_eq!(secs, vec![1.0, 6.0, 6.0, 11.0, 11.0]);
    }

    #[test]
    fn expired_token_stops() {
        let issuer = ScriptedIssuer::new(vec![oauth("expired_token")]);
        let err = run(&issuer, &FakeClock::new(), &authorization(5.0, 900)).err().unwrap();
        assert!(matches!(err, DeviceLoginError::Expired));
    }

    #[test]
    fn access_denied_stops() {
        let issuer = ScriptedIssuer::new(vec![oauth("access_denied")]);
        let err = run(&issuer, &FakeClock::new(), &authorization(5.0, 900)).err().unwrap();
        assert!(matches!(err, DeviceLoginError::Denied));
    }

    #[test]
    fn other_oauth_error_stops() {
        let issuer = ScriptedIssuer::new(vec![oauth("invalid_grant")]);
        let err = run(&issuer, &FakeClock::new(), &authorization(5.0, 900)).err().unwrap();
        assert!(err.to_string().contains("invalid_grant"), "{err}");
        assert_eq!(*issuer.polls.borrow(), 1);
    }

    #[test]
    fn deadline_ends_pending_loop() {
        let issuer = ScriptedIssuer::new(vec![]);
        let clock = FakeClock::new();
        let err = run(&issuer, &clock, &authorization(5.0, 30)).err().unwrap();
        assert!(matches!(err, DeviceLoginError::Expired));
        assert_eq!(*issuer.polls.borrow(), 5);
    }

    #[test]
    fn absurd_server_values_are_bounded() {
        let issuer = ScriptedIssuer::new(vec![tokens()]);
        let clock = FakeClock::new();
        assert!(run(&issuer, &clock, &authorization(1e15, u64::MAX)).is_ok());
        assert_eq!(*clock.sleeps.borrow(), vec![Duration::from_secs(300)]);
    }

    #[test]
    fn transport_failure_doubles_interval() {
        let failure = Err(Error::Transport {
            operation: "device login",
            source: crate::http::TransportError {
                url: "u".to_string(),
                detail: "timed out".to_string(),
                not_sent: false,
                permanent: false,
            },
        });
        let issuer = ScriptedIssuer::new(vec![failure, tokens()]);
        let clock = FakeClock::new();
        assert!(run(&issuer, &clock, &authorization(2.0, 900)).is_ok());
        let secs: Vec<f64> = clock.sleeps.borrow().iter().map(Duration::as_secs_f64).collect();
        assert_eq!(secs, vec![2.0, 4.0]);
    }

    #[test]
    fn rate_limit_backs_off_and_continues() {
        let limited = Err(Error::OAuth {
            operation: "device login",
            code: "too_many_requests".to_string(),
            description: None,
            status: 429,
            retry_after: Some(7),
        });
        let issuer = ScriptedIssuer::new(vec![limited, oauth("authorization_pending"), tokens()]);
        let clock = FakeClock::new();
        assert!(run(&issuer, &clock, &authorization(2.0, 900)).is_ok());
        let secs: Vec<f64> = clock.sleeps.borrow().iter().map(Duration::as_secs_f64).collect();
        assert_eq!(secs, vec![2.0, 7.0, 7.0], "waits as long as Retry-After asks, then keeps that interval");
    }
}
