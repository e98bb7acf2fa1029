//! Refresh against the emulator: request counts, rotation, and what
//! happens when the issuer rejects the refresh token.

mod common;

use common::{assert_no_leak, Emulator, Helper};

fn logged_in(options: &[&str]) -> (Emulator, Helper) {
    let mut all = vec!["--auto-approve", "--interval", "0.1"];
    all.extend_from_slice(options);
    let emulator = Emulator::start(&all);
    let helper = Helper::new(&emulator, "file");
    let run = helper.run(&["get", "--login", "always"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    emulator.reset_stats();
    (emulator, helper)
}

#[test]
fn cached_call_makes_no_request() {
    let (emulator, helper) = logged_in(&[]);
    for _ in 0..3 {
        assert_eq!(helper.run(&["get", "--login", "never"]).code, 0);
    }
    assert_eq!(emulator.stat("total"), 0);
}

#[test]
fn refresh_is_two_requests_without_discovery() {
    let (emulator, helper) = logged_in(&["--portal-token-ttl", "120"]);
    let run = helper.run(&["get", "--login", "never"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(emulator.stat("token_refresh"), 1);
    assert_eq!(emulator.stat("exchange"), 1);
    assert_eq!(emulator.stat("provider"), 0);
    assert_eq!(emulator.stat("total"), 2);
    assert_no_leak(&run, &emulator.secrets(), Some(&run.exec_token()));
}

#[test]
fn rotated_token_is_used_next_time() {
    let (emulator, helper) = logged_in(&[]);
    for _ in 0..3 {
        let run = helper.run(&["get", "--login", "never", "--min-ttl", "48h"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(emulator.stat("refresh_success"), 3);
    assert_eq!(emulator.stat("reuse_detections"), 0, "a rotated-out token is never sent again");
}

#[test]
fn refresh_without_rotation_keeps_working() {
    let (emulator, helper) = logged_in(&["--no-rotate"]);
    for _ in 0..2 {
        let run = helper.run(&["get", "--login", "never", "--min-ttl", "48h"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(emulator.stat("refresh_success"), 2);
}

#[test]
fn invalid_grant_with_never_fails_fast() {
    // Tokens minted already expired, so no current token can be served instead.
    let (emulator, helper) = logged_in(&["--portal-token-ttl", "0"]);
    emulator.configure(serde_json::json!({}));
    revoke_all(&emulator);

    let run = helper.run(&["get", "--login", "never", "--min-ttl", "48h"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("run `biganimal-credential login"), "{}", run.stderr);
    assert_eq!(emulator.stat("token_refresh"), 1);

    emulator.reset_stats();
    let again = helper.run(&["get", "--login", "never", "--min-ttl", "48h"]);
    assert_eq!(again.code, 3);
    assert_eq!(emulator.stat("token_refresh"), 0, "the rejected refresh token was forgotten");
    assert_no_leak(&run, &emulator.secrets(), None);
}

#[test]
fn rejected_refresh_serves_valid_token_until_expiry() {
    let (emulator, helper) = logged_in(&[]);
    revoke_all(&emulator);
    let run = helper.run(&["get", "--login", "never", "--min-ttl", "48h"]);
    assert_eq!(run.code, 0, "the 24-hour token is still valid: {}", run.stderr);
    assert!(run.stderr.contains("serving the current one"), "{}", run.stderr);
    assert!(run.stderr.contains("biganimal-credential login"), "the notice names the fix: {}", run.stderr);
}

#[test]
fn invalid_grant_leads_to_login() {
    let (emulator, helper) = logged_in(&[]);
    revoke_all(&emulator);

    let run = helper.run(&["get", "--login", "always", "--min-ttl", "48h"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(emulator.stat("token_refresh"), 1);
    assert_eq!(emulator.stat("logins"), 1);
    assert_no_leak(&run, &emulator.secrets(), Some(&run.exec_token()));
}

#[test]
fn expired_token_without_refresh_needs_login() {
    let (emulator, helper) = logged_in(&["--portal-token-ttl", "0"]);
    expire_refresh_tokens(&emulator);
    let run = helper.run(&["get", "--login", "never", "--min-ttl", "48h"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
}

fn revoke_all(emulator: &Emulator) {
    control_post(emulator, "revoke-all");
}

fn expire_refresh_tokens(emulator: &Emulator) {
    control_post(emulator, "expire-refresh-tokens");
}

fn control_post(emulator: &Emulator, path: &str) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let response = agent
        .post(format!("{}/_emulator/{path}", emulator.url))
        .send_empty()
        .expect("the control API answers");
    assert!(response.status().as_u16() < 300);
}
