//! The helper against an authorization server this project did not write:
//! npm `oidc-provider` behind Auth0's paths, with a stand-in portal
//! (`tests/fixtures/oidc-provider/`). A person script approves each device
//! login over plain HTTP, and one test approves in headless Chromium.
//!
//! Each test starts its own fixture, so knobs and counters never mix. The
//! tests skip outside CI when Node.js or the fixture's packages are missing,
//! and fail in CI.

mod common;
#[path = "support/oidc_fixture.rs"]
mod oidc_fixture;

use common::{assert_no_leak, Run};
use oidc_fixture::{
    approve, chromium_available, deny, fixture_dir, stored_refresh_token, OidcFixture, RunningHelper,
};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

/// Forces a refresh, since every stored token has less than 48 h left.
/// Verbose, so the leak checks cover every step the helper describes.
const FORCE_REFRESH: &[&str] = &["get", "--login", "never", "--min-ttl", "48h", "-v"];

/// Starts a fixture with a short polling interval plus `options`.
fn fixture(test: &str, options: &[&str]) -> Option<OidcFixture> {
    let mut all = vec!["--interval", "0.2"];
    all.extend_from_slice(options);
    OidcFixture::start(test, &all)
}

/// Logs a new helper in through a device login that the person script
/// approves; returns the helper and the first run.
fn logged_in(fixture: &OidcFixture) -> (common::Helper, Run) {
    let helper = fixture.helper();
    let mut running = RunningHelper::start(&helper, &["get", "--login", "always"]);
    let screen = running.login_screen();
    approve(&screen);
    let run = running.finish();
    assert_eq!(run.code, 0, "{}\nfixture log:\n{}", run.stderr, fixture.log());
    (helper, run)
}

/// Returns the fixture's entry for the only device code it handed out.
fn only_device_code(fixture: &OidcFixture) -> Value {
    let codes = fixture.device_codes();
    assert_eq!(codes.len(), 1, "{codes:?}");
    codes[0].clone()
}

#[test]
fn approve_over_http_logs_in() {
    let Some(fixture) = fixture("approve_over_http_logs_in", &[]) else { return };
    let helper = fixture.helper();
    let mut running = RunningHelper::start(&helper, &["get", "--login", "always"]);
    let screen = running.login_screen();
    let person = approve(&screen);
    let run = running.finish();

    assert_eq!(run.code, 0, "{}\nfixture log:\n{}", run.stderr, fixture.log());
    assert_eq!(screen.verification_uri, format!("{}/activate", fixture.url));
    assert_eq!(
        screen.complete_uri.as_deref(),
        Some(format!("{}/activate?user_code={}", fixture.url, screen.user_code).as_str())
    );
    assert_eq!(
        person["pages"],
        json!(["Activate your device", "Confirm the device", "Sign in", "Authorize access", "Device login complete"])
    );

    let token = run.exec_token();
    let (status, user) = fixture.user_info(&token);
    assert_eq!(status, 200, "the portal accepts the exchanged token: {user}");
    assert_eq!(user["data"]["email"], "alice@example.com");

    assert_eq!(fixture.stat("provider"), 1);
    assert_eq!(fixture.stat("device_authorization"), 1);
    assert_eq!(fixture.stat("device_login_success"), 1);
    assert_eq!(fixture.stat("exchange_success"), 1);
    assert_eq!(fixture.token_errors("slow_down"), 0, "the helper never polled sooner than the interval");
    assert_eq!(only_device_code(&fixture)["status"], "consumed");
    assert!(stored_refresh_token(&helper).is_some(), "the refresh token is stored");
    let secrets = fixture.secrets();
    assert_no_leak(&run, &secrets, Some(&token));

    fixture.reset_stats();
    let cached = helper.run(&["get", "--login", "never"]);
    assert_eq!(cached.exec_token(), token);
    assert_eq!(fixture.stat("total"), 0, "a cached token needs no request");
}

#[test]
fn login_command_names_account() {
    let Some(fixture) = fixture("login_command_names_account", &[]) else { return };
    let helper = fixture.helper();
    let mut running = RunningHelper::start(&helper, &["login"]);
    approve(&running.login_screen());
    let run = running.finish();

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "login prints nothing on stdout");
    assert!(run.stderr.contains("logged in as alice@example.com"), "{}", run.stderr);
    assert_no_leak(&run, &fixture.secrets(), None);
}

fn denial_ends_with_exit_four(test: &str, style: &str) {
    let Some(fixture) = fixture(test, &["--status-style", style]) else { return };
    let helper = fixture.helper();
    let mut running = RunningHelper::start(&helper, &["get", "--login", "always"]);
    deny(&running.login_screen());
    let run = running.finish();

    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("denied"), "{}", run.stderr);
    assert_eq!(fixture.token_errors("access_denied"), 1, "polling stopped at the first access_denied");
    assert_eq!(only_device_code(&fixture)["status"], "consumed");
    assert_eq!(fixture.stat("exchange"), 0);
    assert!(stored_refresh_token(&helper).is_none());
    assert_no_leak(&run, &fixture.secrets(), None);
}

#[test]
fn denial_with_library_status_codes() {
    denial_ends_with_exit_four("denial_with_library_status_codes", "library");
}

#[test]
fn denial_with_auth0_status_codes() {
    denial_ends_with_exit_four("denial_with_auth0_status_codes", "auth0");
}

/// The provider expires the code while the helper still polls: the helper
/// stops at the first expired_token, and the code is then unknown
/// (invalid_grant), as at Auth0.
fn expiry_stops_polling(test: &str, style: &str) {
    let Some(fixture) = fixture(test, &["--status-style", style]) else { return };
    let helper = fixture.helper();
    let mut running = RunningHelper::start(&helper, &["get", "--login", "always"]);
    running.login_screen();
    assert_eq!(fixture.expire_device_codes(), 1);
    let run = running.finish();

    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
    assert_eq!(fixture.token_errors("expired_token"), 1, "polling stopped at the first expired_token");
    assert_eq!(fixture.token_errors("invalid_grant"), 0);

    let code = only_device_code(&fixture);
    let device_code = code["device_code"].as_str().unwrap();
    let (status, body) = fixture.poll(device_code);
    assert_eq!(body["error"], "invalid_grant", "a poll after expired_token: {body}");
    assert_eq!(status, 400);
    assert_no_leak(&run, &fixture.secrets(), None);
}

#[test]
fn expiry_with_library_status_codes() {
    expiry_stops_polling("expiry_with_library_status_codes", "library");
}

#[test]
fn expiry_with_auth0_status_codes() {
    expiry_stops_polling("expiry_with_auth0_status_codes", "auth0");
}

#[test]
fn code_lifetime_ends_unapproved() {
    let Some(fixture) = fixture("code_lifetime_ends_unapproved", &["--device-code-ttl", "2", "--interval", "0.5"]) else {
        return;
    };
    let helper = fixture.helper();
    let started = Instant::now();
    let run = helper.run(&["get", "--login", "always"]);

    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(fixture.token_errors("invalid_grant"), 0, "the helper never polled a forgotten code");
    assert!(fixture.stat("token_device") >= 2, "the helper polled while the code lived");
    assert_no_leak(&run, &fixture.secrets(), None);
}

/// Checks that slow_down adds 5 s for good. The first poll gets slow_down,
/// and the fixture then returns slow_down for any poll of that code that
/// comes less than 5.2 s after the previous one. So a single slow_down in
/// three polls proves that the helper added 5 s and kept it.
fn slow_down_adds_five_seconds(test: &str, style: &str) {
    let Some(fixture) = fixture(test, &["--status-style", style, "--slow-down-polls", "1"]) else { return };
    let helper = fixture.helper();
    let started = Instant::now();
    let mut running = RunningHelper::start(&helper, &["get", "--login", "always", "-v"]);
    let screen = running.login_screen();

    let deadline = Instant::now() + Duration::from_secs(20);
    while fixture.stat("token_device") < 2 {
        assert!(Instant::now() < deadline, "no second poll within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second_poll = started.elapsed();
    approve(&screen);
    let run = running.finish();
    let elapsed = started.elapsed();

    assert_eq!(run.code, 0, "{}\nfixture log:\n{}", run.stderr, fixture.log());
    assert_eq!(fixture.token_errors("slow_down"), 1, "only the forced slow_down");
    assert_eq!(fixture.stat("token_device"), 3);
    assert!(second_poll >= Duration::from_secs_f64(5.2), "second poll after {second_poll:?}");
    assert!(elapsed >= Duration::from_secs_f64(10.4), "third poll after {elapsed:?}");
    assert!(run.stderr.contains("slow down"), "{}", run.stderr);
    assert_no_leak(&run, &fixture.secrets(), Some(&run.exec_token()));
}

#[test]
fn slow_down_with_library_status_codes() {
    slow_down_adds_five_seconds("slow_down_with_library_status_codes", "library");
}

#[test]
fn slow_down_with_auth0_status_codes() {
    slow_down_adds_five_seconds("slow_down_with_auth0_status_codes", "auth0");
}

#[test]
fn missing_interval_means_five_seconds() {
    let Some(fixture) = OidcFixture::start("missing_interval_means_five_seconds", &["--no-interval"]) else {
        return;
    };
    let helper = fixture.helper();
    let started = Instant::now();
    let mut running = RunningHelper::start(&helper, &["get", "--login", "always"]);
    approve(&running.login_screen());
    let run = running.finish();

    assert_eq!(run.code, 0, "{}\nfixture log:\n{}", run.stderr, fixture.log());
    assert!(started.elapsed() >= Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(fixture.token_errors("slow_down"), 0, "no poll came sooner than 5 s");
    assert_eq!(fixture.stat("token_device"), 1, "the first poll, after 5 s, found the approval");
    assert_no_leak(&run, &fixture.secrets(), Some(&run.exec_token()));
}

#[test]
fn refresh_rotates_refresh_token() {
    let Some(fixture) = fixture("refresh_rotates_refresh_token", &[]) else { return };
    let (helper, first) = logged_in(&fixture);
    let mut previous_token = first.exec_token();
    let mut stored = vec![stored_refresh_token(&helper).expect("a refresh token after login")];

    for round in 1..=2 {
        let run = helper.run(FORCE_REFRESH);
        let token = run.exec_token();
        assert_ne!(token, previous_token, "round {round} returned a new BigAnimal token");
        assert_eq!(fixture.user_info(&token).0, 200);
        let current = stored_refresh_token(&helper).expect("a refresh token after refresh");
        assert!(!stored.contains(&current), "round {round} stored the rotated refresh token");
        assert!(fixture.secrets().contains(&current), "the stored token is one the provider issued");
        assert_no_leak(&run, &fixture.secrets(), Some(&token));
        stored.push(current);
        previous_token = token;
    }
    assert_eq!(fixture.stat("token_refresh"), 2);
    assert_eq!(fixture.stat("refresh_success"), 2);
    assert_eq!(fixture.stat("reuse_detections"), 0, "the helper never sent a rotated-out token");

    let (status, body) = fixture.refresh(&stored[0]);
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant", "the first refresh token was retired: {body}");
}

/// Several helpers find the token due at once. The lock lets one refresh,
/// and the others serve its token. A second refresh with the same token
/// would count as reuse, and the provider would revoke the login.
#[test]
fn concurrent_callers_refresh_once() {
    let Some(fixture) = fixture("concurrent_callers_refresh_once", &[]) else { return };
    let (helper, _) = logged_in(&fixture);
    fixture.reset_stats();

    let children: Vec<_> = (0..6).map(|_| helper.spawn(FORCE_REFRESH)).collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|child| Run::from(child.wait_with_output().expect("the helper exits")))
        .collect();

    let secrets = fixture.secrets();
    let mut tokens = std::collections::HashSet::new();
    for run in &runs {
        let token = run.exec_token();
        assert_no_leak(run, &secrets, Some(&token));
        tokens.insert(token);
    }
    assert_eq!(tokens.len(), 1, "every caller printed the same token");
    assert_eq!(fixture.stat("token_refresh"), 1);
    assert_eq!(fixture.stat("reuse_detections"), 0);
    assert_eq!(fixture.stat("grants_revoked"), 0);
    assert_eq!(helper.run(FORCE_REFRESH).code, 0, "the login still works");
}

#[test]
fn reused_refresh_token_needs_login() {
    let Some(fixture) = fixture("reused_refresh_token_needs_login", &[]) else { return };
    let (helper, _) = logged_in(&fixture);
    let retired = stored_refresh_token(&helper).unwrap();
    assert_eq!(helper.run(FORCE_REFRESH).code, 0);

    // Another copy of the retired token reaches the provider, which revokes
    // the whole login, including the token the helper now holds.
    let (_, body) = fixture.refresh(&retired);
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert_eq!(fixture.stat("reuse_detections"), 1);
    assert_eq!(fixture.stat("grants_revoked"), 1);

    // The token from the last refresh is still valid, so it is served with a
    // notice that names the login command.
    fixture.reset_stats();
    let run = helper.run(FORCE_REFRESH);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("serving the current one"), "{}", run.stderr);
    let hints: Vec<&str> = run.stderr.lines().filter(|l| l.contains("biganimal-credential login")).collect();
    assert_eq!(hints.len(), 1, "one line names the command: {}", run.stderr);
    assert!(run.stderr.contains("run `biganimal-credential login"), "{}", run.stderr);
    assert_eq!(fixture.stat("token_refresh"), 1, "one refresh, no loop");
    assert_eq!(fixture.stat("device_authorization"), 0);
    assert_eq!(stored_refresh_token(&helper), None, "the rejected token was forgotten");
    assert_no_leak(&run, &fixture.secrets(), Some(run.exec_token().as_str()));

    fixture.reset_stats();
    let again = helper.run(FORCE_REFRESH);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(fixture.stat("total"), 0, "nothing left to refresh");

    let mut running = RunningHelper::start(&helper, &["get", "--login", "always", "--min-ttl", "48h"]);
    approve(&running.login_screen());
    let relogin = running.finish();
    assert_eq!(relogin.code, 0, "{}", relogin.stderr);
    assert_eq!(fixture.stat("device_authorization"), 1);
    assert_no_leak(&relogin, &fixture.secrets(), Some(&relogin.exec_token()));
}

#[test]
fn refresh_without_new_refresh_token() {
    let Some(fixture) = fixture("refresh_without_new_refresh_token", &["--omit-refresh-token"]) else { return };
    let (helper, _) = logged_in(&fixture);
    let original = stored_refresh_token(&helper).unwrap();

    for round in 1..=2 {
        let run = helper.run(FORCE_REFRESH);
        assert_eq!(run.code, 0, "round {round}: {}", run.stderr);
        assert_eq!(stored_refresh_token(&helper).as_ref(), Some(&original), "round {round} kept the token");
        assert_no_leak(&run, &fixture.secrets(), Some(&run.exec_token()));
    }
    assert_eq!(fixture.stat("refresh_success"), 2);
    assert_eq!(fixture.stat("refresh_rejected"), 0);

    let (status, body) = fixture.refresh(&original);
    assert_eq!(status, 200, "the kept refresh token still works: {body}");
    assert!(body.get("refresh_token").is_none(), "the fixture sends no refresh token: {body}");
}

#[test]
fn logout_revokes_at_provider() {
    let Some(fixture) = fixture("logout_revokes_at_provider", &[]) else { return };
    let (helper, _) = logged_in(&fixture);
    let refresh_token = stored_refresh_token(&helper).unwrap();

    let run = helper.run(&["logout", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(fixture.stat("revocation"), 1);
    assert_eq!(fixture.stat("refresh_tokens_revoked"), 1);
    assert_eq!(stored_refresh_token(&helper), None);
    assert_no_leak(&run, &fixture.secrets(), None);

    let (status, body) = fixture.refresh(&refresh_token);
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant", "the revoked token no longer works: {body}");

    let after = helper.run(&["get", "--login", "never"]);
    assert_eq!(after.code, 3, "{}", after.stderr);
}

/// Checks that the fixture really uses both status-code styles, so the
/// helper tests above cover both.
#[test]
fn fixture_answers_both_status_styles() {
    let Some(fixture) = fixture("fixture_answers_both_status_styles", &[]) else { return };
    let cases = [
        ("library", 400, 400, 400),
        ("auth0", 403, 429, 403),
    ];
    for (style, pending, slow_down, expired) in cases {
        fixture.configure(json!({"status_style": style}));
        let authorization = fixture.device_authorization();
        let device_code = authorization["device_code"].as_str().unwrap();
        assert_eq!(authorization["interval"], 0.2, "{authorization}");

        let (status, body) = fixture.poll(device_code);
        assert_eq!((status, body["error"].as_str()), (pending, Some("authorization_pending")), "{style}");
        let (status, body) = fixture.poll(device_code);
        assert_eq!((status, body["error"].as_str()), (slow_down, Some("slow_down")), "{style}: a poll at once");

        fixture.expire_device_codes();
        let (status, body) = fixture.poll(device_code);
        assert_eq!((status, body["error"].as_str()), (expired, Some("expired_token")), "{style}");
        let (status, body) = fixture.poll(device_code);
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{style}: after expiry");
    }
}

#[test]
fn approve_in_chromium() {
    let test = "approve_in_chromium";
    if !chromium_available(test) {
        return;
    }
    let Some(fixture) = fixture(test, &[]) else { return };
    let helper = fixture.helper();
    let mut running = RunningHelper::start(&helper, &["get", "--login", "always"]);
    let screen = running.login_screen();
    let link = screen.complete_uri.clone().expect("the helper shows the link with the code");

    let screenshots = tempfile::tempdir().expect("a temporary directory");
    let output = Command::new("node")
        .arg(fixture_dir().join("browser-person.mjs"))
        .args(["--url", &link, "--user-code", &screen.user_code, "--screenshots"])
        .arg(screenshots.path())
        .current_dir(fixture_dir())
        .output()
        .expect("node runs the browser script");
    let browser_log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser approval failed:\n{browser_log}");
    let outcome: Value = serde_json::from_slice(&output.stdout).expect("the browser script prints JSON");
    let run = running.finish();

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(outcome["result"], "approved");
    assert_eq!(outcome["blocked"], json!([]), "the pages requested nothing outside 127.0.0.1");
    assert_eq!(outcome["pages"].as_array().map(Vec::len), Some(4), "{outcome}");
    for name in ["confirm.png", "complete.png"] {
        let bytes = std::fs::read(screenshots.path().join(name)).expect("the screenshot exists");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
        assert!(bytes.len() > 1000, "{name} has content ({} bytes)", bytes.len());
    }
    eprintln!("{test}: approved in Chromium {}", outcome["chromium"]);
    assert_eq!(fixture.user_info(&run.exec_token()).0, 200);
    assert_no_leak(&run, &fixture.secrets(), Some(&run.exec_token()));
}
