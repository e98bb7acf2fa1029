//! Server faults injected by the emulator on each endpoint: every one ends
//! with a clear error inside the documented time, nothing on stdout, and a
//! store the next call can use.
//!
//! The helper runs with `--http-timeout 2s`, so the documented bound for a
//! repeatable request is 3 attempts × 2 s plus at most about 1.2 s of
//! backoff, and 1 attempt for a refresh (plus up to 2 waits on 429).

mod common;

use common::{assert_no_leak, Emulator, Helper, Run};
use std::time::{Duration, Instant};

const EXCHANGE: &str = "/api/v3/auth/token";
const TOKEN: &str = "/oauth/token";
const PROVIDER: &str = "/api/v3/auth/provider";

/// Upper bound for one `get` under faults with a 2-second request timeout.
const BOUND: Duration = Duration::from_secs(12);

/// A logged-in helper whose token has expired, so the next call must renew
/// it and has no current token to fall back on.
fn needing_refresh() -> (Emulator, Helper) {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1", "--portal-token-ttl", "0"]);
    let helper = Helper::new(&emulator, "file");
    assert_eq!(helper.run(&["get", "--login", "always"]).code, 0);
    emulator.reset_stats();
    (emulator, helper)
}

fn timed_get(helper: &Helper) -> (Run, Duration) {
    let started = Instant::now();
    let run = helper.run(&["get", "--login", "never", "--http-timeout", "2s"]);
    (run, started.elapsed())
}

fn assert_clear_failure(run: &Run, elapsed: Duration, expected: &str, case: &str) {
    assert_eq!(run.code, 1, "{case}: {}", run.stderr);
    assert!(run.stdout.is_empty(), "{case}: stdout is empty");
    assert!(run.stderr.contains(expected), "{case}: expected `{expected}` in {}", run.stderr);
    assert!(elapsed < BOUND, "{case}: took {elapsed:?}");
}

fn clear_faults(emulator: &Emulator) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    agent
        .delete(format!("{}/_emulator/fault", emulator.url))
        .call()
        .expect("faults can be cleared");
}

#[test]
fn exchange_faults_fail_clearly_and_keep_store() {
    let cases = [
        ("timeout", 3, "timed out"),
        ("reset", 3, "token exchange failed"),
        ("html502", 3, "HTML page"),
        ("nonjson200", 1, "invalid response"),
        ("huge", 1, "larger than"),
        ("rate_limit", 3, "HTTP 429"),
        ("rate_limit_reset", 3, "HTTP 429"),
        ("rate_limit_bare", 3, "HTTP 429"),
        ("server_error", 3, "HTTP 500"),
        ("unavailable", 3, "HTTP 503"),
    ];
    for (kind, count, expected) in cases {
        let (emulator, helper) = needing_refresh();
        emulator.fault(EXCHANGE, kind, count);
        let (run, elapsed) = timed_get(&helper);
        assert_clear_failure(&run, elapsed, expected, kind);
        assert_no_leak(&run, &emulator.secrets(), None);

        // The rotated refresh token was saved before the exchange.
        clear_faults(&emulator);
        let next = helper.run(&["get", "--login", "never"]);
        assert_eq!(next.code, 0, "{kind}: the next call recovers: {}", next.stderr);
        assert_eq!(emulator.stat("reuse_detections"), 0, "{kind}");
    }
}

#[test]
fn transient_exchange_faults_are_retried() {
    for kind in ["server_error", "unavailable", "html502", "reset", "rate_limit", "rate_limit_reset"] {
        let (emulator, helper) = needing_refresh();
        emulator.fault(EXCHANGE, kind, 2);
        let (run, elapsed) = timed_get(&helper);
        assert_eq!(run.code, 0, "{kind}: the third attempt succeeds: {}", run.stderr);
        assert_eq!(emulator.stat("exchange"), 3, "{kind}");
        assert!(run.stderr.contains("retrying"), "{kind}: {}", run.stderr);
        assert!(elapsed < BOUND, "{kind}: took {elapsed:?}");
    }
}


#[test]
fn refresh_faults_with_unknown_outcome() {
    // The answer was lost, so the issuer may have rotated the token: the
    // next call asks for a login instead of sending it again.
    // A 5xx without an OAuth error body may come from a gateway after the
    // issuer rotated the token, so it counts as a lost answer too.
    let cases = [
        ("html502", "HTML page"),
        ("server_error", "HTTP 500"),
        ("unavailable", "HTTP 503"),
        ("timeout", "timed out"),
        ("reset", "refresh failed"),
        ("lose_response", "refresh failed"),
        ("nonjson200", "invalid response"),
        ("huge", "larger than"),
    ];
    for (kind, expected) in cases {
        let (emulator, helper) = needing_refresh();
        emulator.fault(TOKEN, kind, 1);
        let (run, elapsed) = timed_get(&helper);
        assert_clear_failure(&run, elapsed, expected, kind);
        assert_eq!(emulator.stat("token_refresh"), 1, "{kind}: a refresh is sent once");

        clear_faults(&emulator);
        let next = helper.run(&["get", "--login", "never"]);
        assert_eq!(next.code, 3, "{kind}: {}", next.stderr);
        assert_eq!(emulator.stat("token_refresh"), 1, "{kind}: the token was not sent again");
        assert_eq!(emulator.stat("reuse_detections"), 0, "{kind}");
        assert_no_leak(&next, &emulator.secrets(), None);
    }
}

#[test]
fn refresh_rate_limit_is_retried() {
    for kind in ["rate_limit", "rate_limit_reset", "rate_limit_bare"] {
        let (emulator, helper) = needing_refresh();
        emulator.fault(TOKEN, kind, 1);
        let (run, elapsed) = timed_get(&helper);
        assert_eq!(run.code, 0, "{kind}: {}", run.stderr);
        assert_eq!(emulator.stat("refresh_success"), 1, "{kind}");
        assert!(elapsed < BOUND, "{kind}: took {elapsed:?}");
    }

    let (emulator, helper) = needing_refresh();
    emulator.fault(TOKEN, "rate_limit", 3);
    let (run, elapsed) = timed_get(&helper);
    assert_clear_failure(&run, elapsed, "HTTP 429", "rate_limit x3");
    clear_faults(&emulator);
    assert_eq!(helper.run(&["get", "--login", "never"]).code, 0, "429 left the token valid");
}

#[test]
fn failed_renewal_serves_still_valid_token() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1", "--portal-token-ttl", "120"]);
    let helper = Helper::new(&emulator, "file");
    let first = helper.run(&["get", "--login", "always"]).exec_token();
    for (path, kind) in [(TOKEN, "server_error"), (EXCHANGE, "server_error"), (TOKEN, "lose_response")] {
        emulator.fault(path, kind, 3);
        let (run, elapsed) = timed_get(&helper);
        clear_faults(&emulator);
        assert_eq!(run.code, 0, "{path} {kind}: {}", run.stderr);
        assert_eq!(run.exec_token(), first, "{path} {kind}: the current token is served");
        assert!(run.stderr.contains("serving the current one"), "{path} {kind}: {}", run.stderr);
        assert!(elapsed < BOUND, "{path} {kind}: took {elapsed:?}");
    }
    assert_eq!(emulator.stat("reuse_detections"), 0);
}

#[test]
fn discovery_faults() {
    for (kind, count, expected) in [("html502", 3, "HTML page"), ("timeout", 3, "timed out"), ("nonjson200", 1, "invalid response")] {
        let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
        let helper = Helper::new(&emulator, "file");
        emulator.fault(PROVIDER, kind, count);
        let started = Instant::now();
        let run = helper.run(&["get", "--login", "always", "--http-timeout", "2s"]);
        assert_clear_failure(&run, started.elapsed(), expected, kind);
        assert!(run.stderr.contains("provider discovery"), "{kind}: {}", run.stderr);
    }

    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    emulator.fault(PROVIDER, "server_error", 2);
    assert_eq!(helper.run(&["get", "--login", "always"]).code, 0, "the third attempt succeeds");

    // A failing API is not blamed on the API URL.
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    emulator.fault(PROVIDER, "server_error", 3);
    let run = helper.run(&["get", "--login", "always"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("try again later"), "{}", run.stderr);
    assert!(!run.stderr.contains("is the BigAnimal API base"), "{}", run.stderr);
}
