//! The main job end to end against the emulator: device login, cached
//! call, refresh, status and logout, once with the file store and once
//! with a real Secret Service (gnome-keyring).

mod common;

use common::{assert_no_leak, secret_service_available, Emulator, Helper, Run};
use std::process::Command;

/// Checks a BigAnimal token at the emulator's `user-info`, as the API would.
fn accepted_by_portal(emulator: &Emulator, token: &str) -> bool {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .get(format!("{}/user-info", emulator.api()))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .expect("user-info answers");
    response.status().as_u16() == 200
}

/// Runs login → cache → refresh → status → logout and checks each step.
fn whole_flow(store: &str) -> Helper {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1", "--portal-token-ttl", "3600"]);
    let helper = Helper::new(&emulator, store);
    let mut runs: Vec<(Run, Option<String>)> = Vec::new();

    let first = helper.run(&["get", "--login", "always"]);
    let first_token = first.exec_token();
    assert!(first.stderr.contains("/activate"), "the login screen shows the URL: {}", first.stderr);
    assert!(accepted_by_portal(&emulator, &first_token));
    assert_eq!(emulator.stat("logins"), 1);
    assert_eq!(emulator.stat("exchange"), 1);
    runs.push((first, Some(first_token.clone())));

    emulator.reset_stats();
    let cached = helper.run(&["get"]);
    assert_eq!(cached.exec_token(), first_token);
    assert_eq!(emulator.stat("total"), 0, "a cached call makes no request");
    runs.push((cached, Some(first_token.clone())));

    emulator.reset_stats();
    let refreshed = helper.run(&["get", "--min-ttl", "2h"]);
    let refreshed_token = refreshed.exec_token();
    assert_ne!(refreshed_token, first_token);
    assert_eq!(emulator.stat("token_refresh"), 1);
    assert_eq!(emulator.stat("exchange"), 1);
    assert_eq!(emulator.stat("provider"), 0, "a refresh makes no discovery request");
    assert_eq!(emulator.stat("total"), 2);
    assert!(accepted_by_portal(&emulator, &refreshed_token));
    runs.push((refreshed, Some(refreshed_token.clone())));

    let status = helper.run(&["status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stdout.contains("alice@example.com"), "{}", status.stdout);
    assert!(status.stdout.contains("valid until"), "{}", status.stdout);
    runs.push((status, None));

    emulator.reset_stats();
    let logout = helper.run(&["logout"]);
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert_eq!(emulator.stat("revoke"), 1);
    runs.push((logout, None));

    let after = helper.run(&["get", "--login", "never"]);
    assert_eq!(after.code, 3, "{}", after.stderr);
    assert!(after.stdout.is_empty());
    assert!(after.stderr.contains("run `biganimal-credential login"), "{}", after.stderr);
    runs.push((after, None));

    let secrets = emulator.secrets();
    assert!(secrets.len() >= 6, "the emulator reports what it issued");
    for (run, credential) in &runs {
        assert_no_leak(run, &secrets, credential.as_deref());
    }
    helper
}

#[test]
fn flow_with_file_store() {
    let helper = whole_flow("file");
    let store_dir = helper.dir.path().join("state/store");
    assert!(store_dir.is_dir(), "the file store directory exists");
}

#[cfg(unix)]
#[test]
fn file_store_modes_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    assert_eq!(helper.run(&["get", "--login", "always"]).code, 0);

    let store_dir = helper.dir.path().join("state/store");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store_dir), 0o700);
    let entries: Vec<_> = std::fs::read_dir(&store_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 2, "one entry for the token, one for the refresh token");
    for entry in entries {
        assert_eq!(mode(&entry), 0o600, "{}", entry.display());
    }
}

/// Counts Secret Service items of this helper whose user name contains `api`.
fn keyring_items(api: &str) -> usize {
    let output = Command::new("secret-tool")
        .args(["search", "--all", "service", "biganimal-credential"])
        .output()
        .expect("secret-tool runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    text.lines()
        .filter(|line| line.starts_with("attribute.username") && line.contains(api))
        .count()
}

#[test]
fn flow_with_secret_service() {
    if !secret_service_available("flow_with_secret_service") {
        return;
    }
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "keychain");
    let first = helper.run(&["get", "--login", "always"]);
    let token = first.exec_token();
    assert_eq!(keyring_items(&emulator.api()), 2, "token and refresh token are separate items");
    assert!(!helper.dir.path().join("state/store").exists(), "nothing is written to the file store");

    let cached = helper.run(&["get", "--login", "never"]);
    assert_eq!(cached.exec_token(), token);

    assert_eq!(helper.run(&["logout"]).code, 0);
    assert_eq!(keyring_items(&emulator.api()), 0, "logout deletes both items");
    drop(emulator);

    whole_flow("keychain");
}

#[test]
fn auto_store_prefers_secret_service() {
    if !secret_service_available("auto_store_prefers_secret_service") {
        return;
    }
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "auto");
    let run = helper.run(&["get", "--login", "always", "-v"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("using the Secret Service store"), "{}", run.stderr);
    assert_eq!(keyring_items(&emulator.api()), 2);
}

#[test]
fn auto_store_falls_back_to_file_once() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "auto");
    let mut command = helper.command(&["get", "--login", "always"]);
    command.env_remove("DBUS_SESSION_BUS_ADDRESS");
    let first = Run::from(command.output().unwrap());
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stderr.contains("no OS keychain is available"), "{}", first.stderr);

    let mut command = helper.command(&["get"]);
    command.env_remove("DBUS_SESSION_BUS_ADDRESS");
    let second = Run::from(command.output().unwrap());
    assert_eq!(second.exec_token(), first.exec_token());
    assert!(!second.stderr.contains("no OS keychain"), "the notice is shown once: {}", second.stderr);
}

#[test]
fn logout_without_discovery_cache() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    assert_eq!(helper.run(&["get", "--login", "always"]).code, 0);
    std::fs::remove_dir_all(helper.dir.path().join("cache")).unwrap();
    emulator.reset_stats();

    let logout = helper.run(&["logout"]);
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert!(logout.stderr.contains("logged out of profile `default`"), "{}", logout.stderr);
    assert_eq!(emulator.stat("revoke"), 1, "the refresh token was revoked");
    assert_eq!(helper.run(&["get", "--login", "never"]).code, 3, "nothing is served afterwards");
}

#[test]
fn logout_of_empty_profile_says_so() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let logout = helper.run(&["logout", "--profile", "unused"]);
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert!(logout.stderr.contains("nothing to log out"), "{}", logout.stderr);
    assert_eq!(emulator.stat("revoke"), 0);
}
