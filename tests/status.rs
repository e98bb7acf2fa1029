//! `status` for people and `status --json` for scripts, against the
//! emulator: the fields, the exit code, and no secret in the output.

mod common;

use common::{assert_no_leak, Emulator, Helper};
use serde_json::Value;

#[test]
fn status_json_after_login() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let login = helper.run(&["login"]);
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert!(login.stderr.contains("logged in as alice@example.com (profile `default`); token valid until "), "{}", login.stderr);
    assert!(login.stderr.contains("renewed without a browser until "), "{}", login.stderr);

    let run = helper.run(&["status", "--json"]);
    let report = run.json();
    assert_eq!(report["profile"], "default");
    assert_eq!(report["api_url"], emulator.api());
    assert_eq!(report["store"], "file");
    assert_eq!(report["account"], "alice@example.com");
    assert_eq!(report["token"]["state"], "valid");
    assert!(report["token"]["expires_at"].as_str().unwrap().ends_with('Z'), "{report}");
    assert!(report["token"]["seconds_left"].as_i64().unwrap() > 80_000, "{report}");
    assert_eq!(report["refresh_token"]["present"], true);
    assert_eq!(report["refresh_token"]["usable"], true);
    assert!(report["refresh_token"]["age_seconds"].as_i64().unwrap() >= 0);
    assert!(report["refresh_token"]["login_at"].is_string(), "{report}");
    assert!(report["refresh_token"]["usable_until"].is_string(), "{report}");
    assert_eq!(report["access_key"]["present"], false);
    assert_eq!(report["access_key"]["source"], Value::Null);
    assert_eq!(report["usable"], true);
    assert_eq!(emulator.stat("total"), 4, "status makes no request: {}", emulator.stats());
    assert_no_leak(&run, &emulator.secrets(), None);
}

#[test]
fn status_json_without_login_exits_three() {
    let emulator = Emulator::start(&[]);
    let helper = Helper::new(&emulator, "file");

    let run = helper.run(&["status", "--json", "--profile", "ci"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON even without a login");
    assert_eq!(report["profile"], "ci");
    assert_eq!(report["token"]["state"], "none");
    assert_eq!(report["refresh_token"]["present"], false);
    assert_eq!(report["usable"], false);
    // The hint repeats every setting that differs from its default, as `get` does.
    let hint = format!("run `biganimal-credential login --profile ci --api-url {} --store file`", helper.api);
    assert!(run.stderr.contains(&hint), "{}", run.stderr);
}

#[test]
fn status_json_describes_access_key_without_showing_it() {
    let emulator = Emulator::start(&[]);
    let helper = Helper::new(&emulator, "file");
    let key = "baak_status0123456789abcdef";

    let run = helper.run_with(&["status", "--json"], &[("BA_ACCESS_KEY", key)]);
    let report = run.json();
    assert_eq!(report["access_key"]["present"], true);
    assert_eq!(report["access_key"]["source"], "environment");
    assert_eq!(report["access_key"]["usable"], true);
    assert_eq!(report["usable"], true);
    assert!(!run.stdout.contains(key), "the key is on stdout");
    assert!(!run.stderr.contains(key), "the key is on stderr");
}

#[test]
fn status_for_people_lists_each_field() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    assert_eq!(helper.run(&["login"]).code, 0);

    let run = helper.run(&["status"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let labels: Vec<&str> = run.stdout.lines().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(labels, ["profile", "API", "store", "account", "token", "refresh token", "access key"], "{}", run.stdout);
    let fresh = ["usable for 30d 0h more", "usable for 29d 23h more"];
    assert!(fresh.iter().any(|text| run.stdout.contains(text)), "{}", run.stdout);
}
