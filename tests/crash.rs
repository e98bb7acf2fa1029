//! A helper killed with SIGKILL at each step of a login and of a refresh:
//! the next call recovers with at most one new login, never sends a
//! refresh token the issuer may have rotated, and finds no corrupt store.
//!
//! The binary built for tests stops at the step named by
//! `BIGANIMAL_FAULT_POINT` (debug builds only); the test waits for its
//! message on stderr and then kills it.

mod common;

use common::{assert_no_leak, Emulator, Helper};
use std::io::{BufRead, BufReader};

/// Runs the helper until it reaches `point`, then kills it with SIGKILL.
fn kill_at(helper: &Helper, point: &str, args: &[&str]) {
    let mut command = helper.command(args);
    command.env("BIGANIMAL_FAULT_POINT", point);
    let mut child = command.spawn().expect("the helper starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let reached = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains(&format!("stopped at fault point `{point}`")));
    child.kill().expect("SIGKILL is delivered");
    let status = child.wait().expect("the helper is reaped");
    assert!(reached, "the helper exited ({status}) before reaching `{point}`");
}

/// Checks the call after the crash; returns how many new logins it needed.
fn recover(emulator: &Emulator, helper: &Helper) -> u64 {
    let logins_before = emulator.stat("logins");
    let run = helper.run(&["get", "--login", "always"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("unreadable"), "the store is intact: {}", run.stderr);
    assert_eq!(emulator.stat("reuse_detections"), 0, "no rotated refresh token was sent");
    assert_no_leak(&run, &emulator.secrets(), Some(&run.exec_token()));

    let again = helper.run(&["get", "--login", "never"]);
    assert_eq!(again.exec_token(), run.exec_token(), "the recovered token is cached");
    emulator.stat("logins") - logins_before
}

fn logged_in_near_expiry() -> (Emulator, Helper) {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1", "--portal-token-ttl", "60"]);
    let helper = Helper::new(&emulator, "file");
    assert_eq!(helper.run(&["get", "--login", "always"]).code, 0);
    emulator.configure(serde_json::json!({"portal_token_ttl": 3600}));
    (emulator, helper)
}

#[test]
fn killed_after_refresh_answer() {
    let (emulator, helper) = logged_in_near_expiry();
    kill_at(&helper, "refresh-answered", &["get", "--login", "never"]);
    assert_eq!(emulator.stat("refresh_success"), 1, "the issuer rotated the token");

    let never = helper.run(&["get", "--login", "never"]);
    assert_eq!(never.code, 0, "the token with 60 s left is served: {}", never.stderr);
    assert!(never.stderr.contains("not sent again"), "{}", never.stderr);
    assert_eq!(emulator.stat("refresh_success"), 1, "a possibly rotated token is not sent");
    assert_eq!(recover(&emulator, &helper), 1);
}

#[test]
fn killed_after_refresh_saved() {
    let (emulator, helper) = logged_in_near_expiry();
    kill_at(&helper, "refresh-saved", &["get", "--login", "never"]);
    assert_eq!(recover(&emulator, &helper), 0);
    assert_eq!(emulator.stat("refresh_success"), 2, "the saved token refreshed again");
}

#[test]
fn killed_after_refresh_exchange() {
    let (emulator, helper) = logged_in_near_expiry();
    kill_at(&helper, "exchange-answered", &["get", "--login", "never"]);
    assert_eq!(recover(&emulator, &helper), 0);
}

#[test]
fn killed_after_login_answer() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    kill_at(&helper, "login-answered", &["get", "--login", "always"]);
    assert_eq!(recover(&emulator, &helper), 1);
}

#[test]
fn killed_after_login_saved() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    kill_at(&helper, "login-saved", &["get", "--login", "always"]);
    assert_eq!(recover(&emulator, &helper), 0, "the saved refresh token is enough");
}

#[test]
fn killed_after_login_exchange() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    kill_at(&helper, "exchange-answered", &["get", "--login", "always"]);
    assert_eq!(recover(&emulator, &helper), 0);
}

#[test]
fn killed_during_device_polling() {
    let emulator = Emulator::start(&["--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let mut child = helper.spawn(&["get", "--login", "always"]);
    emulator.wait_for_pending();
    child.kill().expect("SIGKILL is delivered");
    let _ = child.wait();

    emulator.configure(serde_json::json!({"auto_approve": true}));
    assert_eq!(recover(&emulator, &helper), 1);
}
