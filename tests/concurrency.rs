//! Many processes at once: one refresh and one device login for all of
//! them, because the issuer revokes the whole login when a rotated refresh
//! token is used twice.

mod common;

use common::{assert_no_leak, secret_service_available, Emulator, Helper, Run};
use std::collections::HashSet;
use std::time::Instant;

/// Logs in with 60-second tokens (inside the 5-minute renewal margin), then
/// makes the emulator mint long-lived ones, so only the first refresh is needed.
fn logged_in_near_expiry(store: &str) -> (Emulator, Helper) {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1", "--portal-token-ttl", "60"]);
    let helper = Helper::new(&emulator, store);
    let run = helper.run(&["get", "--login", "always"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    emulator.configure(serde_json::json!({"portal_token_ttl": 3600, "latency_ms": 50}));
    emulator.reset_stats();
    (emulator, helper)
}

/// Starts `count` helpers at once and collects their results.
fn run_together(helper: &Helper, count: usize, args: &[&str]) -> Vec<Run> {
    let children: Vec<_> = (0..count).map(|_| helper.spawn(args)).collect();
    children
        .into_iter()
        .map(|child| Run::from(child.wait_with_output().expect("the helper exits")))
        .collect()
}

fn assert_one_shared_token(runs: &[Run], emulator: &Emulator) {
    let secrets = emulator.secrets();
    let mut tokens = HashSet::new();
    for run in runs {
        let token = run.exec_token();
        assert_no_leak(run, &secrets, Some(&token));
        tokens.insert(token);
    }
    assert_eq!(tokens.len(), 1, "every caller printed the same token");
}

fn sixty_four_callers_refresh_once(store: &str) {
    let (emulator, helper) = logged_in_near_expiry(store);
    let started = Instant::now();
    let runs = run_together(&helper, 64, &["get", "--login", "never"]);
    let elapsed = started.elapsed();

    assert_one_shared_token(&runs, &emulator);
    assert_eq!(emulator.stat("token_refresh"), 1, "exactly one refresh");
    assert_eq!(emulator.stat("exchange"), 1, "exactly one exchange");
    assert_eq!(emulator.stat("reuse_detections"), 0);
    eprintln!("64 callers with the {store} store: {elapsed:?}");
}

#[test]
fn sixty_four_callers_file_store() {
    sixty_four_callers_refresh_once("file");
}

#[test]
fn sixty_four_callers_secret_service() {
    if secret_service_available("sixty_four_callers_secret_service") {
        sixty_four_callers_refresh_once("keychain");
    }
}

#[test]
fn sixteen_first_calls_log_in_once() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.2", "--latency-ms", "20"]);
    let helper = Helper::new(&emulator, "file");
    let runs = run_together(&helper, 16, &["get", "--login", "always"]);

    assert_one_shared_token(&runs, &emulator);
    assert_eq!(emulator.stat("device_code"), 1, "one device login for all callers");
    assert_eq!(emulator.stat("logins"), 1);
    assert_eq!(emulator.stat("exchange"), 1);
    let waiting = runs.iter().filter(|r| r.stderr.contains("waiting for another biganimal-credential")).count();
    assert!(waiting >= 1, "callers that waited said what they waited for");
}

#[test]
fn lock_wait_is_bounded() {
    let emulator = Emulator::start(&["--interval", "0.2"]);
    let helper = Helper::new(&emulator, "file");
    // This login is never approved, so it holds the lock until killed.
    let mut holder = helper.spawn(&["get", "--login", "always"]);
    emulator.wait_for_pending();

    let started = Instant::now();
    let waiter = helper.run(&["get", "--login", "always", "--lock-timeout", "1s"]);
    let elapsed = started.elapsed();
    holder.kill().expect("the holder can be killed");
    let _ = holder.wait();

    assert_eq!(waiter.code, 1, "{}", waiter.stderr);
    assert!(waiter.stdout.is_empty());
    assert!(waiter.stderr.contains("refresh or device login of profile `default`"), "{}", waiter.stderr);
    assert!(waiter.stderr.contains("--lock-timeout"), "{}", waiter.stderr);
    assert!(elapsed.as_secs_f64() < 10.0, "gave up after {elapsed:?}");
}

#[test]
fn lock_released_when_holder_killed() {
    let emulator = Emulator::start(&["--interval", "0.2"]);
    let helper = Helper::new(&emulator, "file");
    let mut holder = helper.spawn(&["get", "--login", "always"]);
    emulator.wait_for_pending();
    holder.kill().expect("the holder can be killed");
    let _ = holder.wait();

    emulator.configure(serde_json::json!({"auto_approve": true}));
    let next = helper.run(&["get", "--login", "always", "--lock-timeout", "2s"]);
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(!next.stderr.contains("waiting for"), "{}", next.stderr);
}

#[test]
fn logout_during_keychain_reads() {
    if !secret_service_available("logout_during_keychain_reads") {
        return;
    }
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1", "--portal-token-ttl", "3600"]);
    let mut helper = Helper::new(&emulator, "keychain");
    assert_eq!(helper.run(&["get", "--login", "always"]).code, 0);
    // Every caller reads the Secret Service, so some find an item that the
    // logout deletes before they read its secret.
    helper.env.push(("BIGANIMAL_KEYUTILS_CACHE".to_string(), "off".to_string()));

    let mut readers: Vec<_> = (0..24).map(|_| helper.spawn(&["get", "--login", "never"])).collect();
    let logout = helper.spawn(&["logout"]);
    readers.extend((0..40).map(|_| helper.spawn(&["get", "--login", "never"])));
    let logout = Run::from(logout.wait_with_output().expect("logout exits"));
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    for reader in readers {
        let run = Run::from(reader.wait_with_output().expect("the helper exits"));
        assert!(run.code == 0 || run.code == 3, "served or logged out, never an error: {}", run.stderr);
        assert!(!run.stderr.contains("D-Bus call failed"), "{}", run.stderr);
    }
}
