//! Device-login polling against the emulator: slow_down, denial, expiry,
//! and the login policy when no terminal is present.

mod common;

use common::{assert_no_leak, Emulator, Helper, Run};
use std::time::Instant;

/// Waits for a spawned helper and collects its output.
fn finish(child: std::process::Child) -> Run {
    Run::from(child.wait_with_output().expect("the helper exits"))
}

#[test]
fn slow_down_adds_five_seconds() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.2"]);
    emulator.configure(serde_json::json!({"slow_down_polls": 1}));
    let helper = Helper::new(&emulator, "file");

    let started = Instant::now();
    let run = helper.run(&["get", "--login", "always", "-v"]);
    let elapsed = started.elapsed();

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(emulator.stat("slow_down"), 1, "the second poll waited the longer interval");
    assert_eq!(emulator.stat("token_device"), 2);
    assert!(elapsed.as_secs_f64() >= 5.2, "the second poll came after {elapsed:?}");
    assert!(run.stderr.contains("slow down"), "{}", run.stderr);
    assert_no_leak(&run, &emulator.secrets(), Some(&run.exec_token()));
}

#[test]
fn slow_down_with_rfc_status_codes() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.2", "--status-style", "rfc"]);
    emulator.configure(serde_json::json!({"slow_down_polls": 1}));
    let helper = Helper::new(&emulator, "file");
    let run = helper.run(&["get", "--login", "always"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(emulator.stat("slow_down"), 1);
}

#[test]
fn pending_polls_until_approved() {
    let emulator = Emulator::start(&["--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let child = helper.spawn(&["get", "--login", "always"]);
    let user_code = emulator.wait_for_pending();
    emulator.approve(&user_code);
    let run = finish(child);

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains(&user_code), "the user code is shown: {}", run.stderr);
    assert!(emulator.stat("token_device") >= 1);
    assert_no_leak(&run, &emulator.secrets(), Some(&run.exec_token()));
}

#[test]
fn rate_limited_poll_keeps_polling() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    // Auth0's rate limit: 429 with `too_many_requests` and `Retry-After: 1`.
    emulator.fault("/oauth/token", "rate_limit", 1);
    let run = helper.run(&["get", "--login", "always", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("polling again in"), "{}", run.stderr);
    assert!(emulator.stat("token_device") >= 2, "a poll followed the rate limit");
}

#[test]
fn hung_poll_ends_at_code_expiry() {
    let emulator = Emulator::start(&["--interval", "0.1", "--device-code-ttl", "2"]);
    let helper = Helper::new(&emulator, "file");
    // The first poll gets no response, and the code expires while it waits.
    emulator.fault("/oauth/token", "timeout", 1);
    let started = std::time::Instant::now();
    let run = helper.run(&["get", "--login", "always", "--http-timeout", "20s"]);
    let elapsed = started.elapsed();

    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(elapsed < std::time::Duration::from_secs(8), "the poll outlived the 2 s code: {elapsed:?}");
}

#[test]
fn denial_ends_with_exit_four() {
    let emulator = Emulator::start(&["--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let child = helper.spawn(&["get", "--login", "always"]);
    let user_code = emulator.wait_for_pending();
    emulator.deny(&user_code);
    let run = finish(child);

    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("denied"), "{}", run.stderr);
    assert_no_leak(&run, &emulator.secrets(), None);
}

#[test]
fn expiry_ends_with_exit_four() {
    let emulator = Emulator::start(&["--interval", "0.2", "--device-code-ttl", "1"]);
    let helper = Helper::new(&emulator, "file");
    let run = helper.run(&["get", "--login", "always"]);

    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
    assert_no_leak(&run, &emulator.secrets(), None);
}

#[test]
fn no_terminal_means_no_login() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let run = helper.run_with(&["get"], &[("BIGANIMAL_VERBOSE", "0")]);

    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(run.stderr.contains("run `biganimal-credential login"), "{}", run.stderr);
    assert_eq!(emulator.stat("device_code"), 0);
}

#[test]
fn profile_named_in_login_hint() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let run = helper.run(&["get", "--login", "never", "--profile", "staging"]);
    assert_eq!(run.code, 3);
    assert!(run.stderr.contains("biganimal-credential login --profile staging"), "{}", run.stderr);
}

#[test]
fn login_command_names_account() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let run = helper.run(&["login"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "login prints nothing on stdout");
    assert!(run.stderr.contains("logged in as alice@example.com"), "{}", run.stderr);
    assert_no_leak(&run, &emulator.secrets(), None);
}
