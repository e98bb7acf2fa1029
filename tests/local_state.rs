//! Faults in local state: corrupt or foreign store entries, a keychain that
//! is absent or never answers, and directories that cannot be written.
//! Each ends with a clear error or a documented fallback, never a panic or
//! a hang.

mod common;

use common::{secret_service_available, Emulator, Helper, Run};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn logged_in(store: &str) -> (Emulator, Helper) {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1", "--portal-token-ttl", "3600"]);
    let helper = Helper::new(&emulator, store);
    assert_eq!(helper.run(&["get", "--login", "always"]).code, 0);
    (emulator, helper)
}

/// Returns the file store's entries as (path, text) pairs.
fn file_entries(helper: &Helper) -> Vec<(PathBuf, String)> {
    let dir = helper.dir.path().join("state/store");
    std::fs::read_dir(dir)
        .expect("the store directory exists")
        .map(|entry| {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect()
}

/// Replaces the value of the file entry whose key ends with `suffix`.
fn overwrite_entry(helper: &Helper, suffix: &str, value: &str) {
    for (path, text) in file_entries(helper) {
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        if json["key"].as_str().unwrap().ends_with(suffix) {
            let replaced = serde_json::json!({"key": json["key"], "value": value});
            std::fs::write(&path, replaced.to_string()).unwrap();
            return;
        }
    }
    panic!("no entry ends with {suffix}");
}

#[test]
fn corrupt_token_entry_is_refreshed() {
    let (emulator, helper) = logged_in("file");
    overwrite_entry(&helper, "/token", "{garbage");
    emulator.reset_stats();

    let run = helper.run(&["get", "--login", "never"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("ignoring the stored token"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("ignoring the stored token").count(), 1, "reported once: {}", run.stderr);
    assert_eq!(emulator.stat("token_refresh"), 1);
}

#[test]
fn corrupt_refresh_entry_needs_login() {
    let (emulator, helper) = logged_in("file");
    overwrite_entry(&helper, "/token", "{garbage");
    overwrite_entry(&helper, "/refresh", "not json at all");
    emulator.reset_stats();

    let run = helper.run(&["get", "--login", "never"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("ignoring the stored refresh token"), "{}", run.stderr);
    assert!(!run.stderr.contains("not json at all"), "stored text is not echoed");
    assert_eq!(emulator.stat("total"), 0);

    let login = helper.run(&["get", "--login", "always"]);
    assert_eq!(login.code, 0, "a login replaces the corrupt entries: {}", login.stderr);
}

#[test]
fn foreign_format_version_is_reported() {
    let (_emulator, helper) = logged_in("file");
    overwrite_entry(&helper, "/token", r#"{"v":99,"token":"x","expires_at":1,"obtained_at":1}"#);
    let run = helper.run(&["get", "--login", "never"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("format version 99"), "{}", run.stderr);
}

#[test]
fn garbage_file_in_store_is_ignored() {
    let (_emulator, helper) = logged_in("file");
    for (path, _) in file_entries(&helper) {
        std::fs::write(&path, [0xff, 0x00, 0xfe]).unwrap();
    }
    let run = helper.run(&["get", "--login", "never"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("not a valid store entry"), "{}", run.stderr);
    for line in run.stderr.lines().filter(|line| !line.is_empty()) {
        assert_eq!(run.stderr.matches(line).count(), 1, "each line once: {}", run.stderr);
    }
}

#[test]
fn corrupt_keychain_entry_is_refreshed() {
    if !secret_service_available("corrupt_keychain_entry_is_refreshed") {
        return;
    }
    let (emulator, mut helper) = logged_in("keychain");
    // The kernel-keyring copy would serve the token without reading the item.
    helper.env.push(("BIGANIMAL_KEYUTILS_CACHE".to_string(), "off".to_string()));
    let key = format!(
        "default|{api}|{issuer}|emu-client|https://portal.biganimal.com/api/token",
        api = emulator.api(),
        issuer = emulator.url
    );
    let mut store = Command::new("secret-tool")
        .args(["store", "--label=corrupt", "service", "biganimal-credential", "username", &key])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("secret-tool runs");
    use std::io::Write;
    store.stdin.take().unwrap().write_all(b"{corrupt").unwrap();
    assert!(store.wait().unwrap().success());
    emulator.reset_stats();

    let run = helper.run(&["get", "--login", "never"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("ignoring the stored token"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("ignoring the stored token").count(), 1, "reported once: {}", run.stderr);
    assert_eq!(emulator.stat("token_refresh"), 1);
}

#[test]
fn silent_keychain_times_out() {
    // A D-Bus address whose socket accepts connections and never answers,
    // as a hung or prompting keyring daemon would.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let listener = UnixListener::bind(&socket).unwrap();
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "keychain");
    let address = format!("unix:path={}", socket.display());

    for store in ["keychain", "auto"] {
        let started = Instant::now();
        let run = helper.run_with(
            &["get", "--login", "always", "--keychain-timeout", "1s", "--store", store],
            &[("DBUS_SESSION_BUS_ADDRESS", address.as_str())],
        );
        let elapsed = started.elapsed();
        assert_eq!(run.code, 1, "{store}: {}", run.stderr);
        assert!(run.stdout.is_empty());
        assert!(run.stderr.contains("no answer within 1 s"), "{store}: {}", run.stderr);
        assert!(elapsed < Duration::from_secs(5), "{store}: took {elapsed:?}");
    }
    drop(listener);
}

#[test]
fn keychain_sessions_open_one_at_a_time() {
    if !secret_service_available("keychain_sessions_open_one_at_a_time") {
        return;
    }
    let (_emulator, mut helper) = logged_in("keychain");
    helper.env.push(("BIGANIMAL_KEYUTILS_CACHE".to_string(), "off".to_string()));
    // A runtime directory of this test's own, so that holding the lock
    // does not stall the tests that run beside it.
    let runtime = tempfile::tempdir().unwrap();
    helper.env.push(("XDG_RUNTIME_DIR".to_string(), runtime.path().display().to_string()));

    // This test process acts as another helper process, which holds the
    // connection lock while it uses the Secret Service.
    std::fs::create_dir(runtime.path().join("biganimal-credential")).unwrap();
    let path = runtime.path().join("biganimal-credential").join("secret-service-connect.lock");
    let holder = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap();
    holder.lock().unwrap();
    let started = Instant::now();
    let blocked = helper.run(&["get", "--login", "never", "--keychain-timeout", "1s"]);
    assert_eq!(blocked.code, 1, "{}", blocked.stderr);
    assert!(blocked.stdout.is_empty());
    assert!(blocked.stderr.contains("Secret Service connection lock"), "{}", blocked.stderr);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());

    drop(holder);
    let served = helper.run(&["get", "--login", "never", "--keychain-timeout", "1s"]);
    assert_eq!(served.code, 0, "{}", served.stderr);
}

#[test]
fn token_cache_serves_without_dbus() {
    if !secret_service_available("token_cache_serves_without_dbus") {
        return;
    }
    let (emulator, helper) = logged_in("keychain");
    let token = helper.run(&["get", "--login", "never"]).exec_token();

    // With the D-Bus address pointing at a socket that never answers, only
    // the kernel-keyring copy can serve the token.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let _listener = UnixListener::bind(&socket).unwrap();
    let address = format!("unix:path={}", socket.display());
    let started = Instant::now();
    let cached = helper.run_with(
        &["get", "--login", "never", "--keychain-timeout", "2s"],
        &[("DBUS_SESSION_BUS_ADDRESS", address.as_str())],
    );
    assert_eq!(cached.exec_token(), token);
    assert!(started.elapsed() < Duration::from_secs(2), "no keychain call was made");

    assert_eq!(helper.run(&["logout"]).code, 0);
    let after = helper.run_with(
        &["get", "--login", "never", "--keychain-timeout", "1s"],
        &[("DBUS_SESSION_BUS_ADDRESS", address.as_str())],
    );
    assert_ne!(after.code, 0, "logout removed the cached copy too");
    assert!(after.stdout.is_empty());
    drop(emulator);
}

#[test]
fn logout_ends_both_keychain_copies() {
    if !secret_service_available("logout_ends_both_keychain_copies") {
        return;
    }
    // `auto` and `keychain` keep separate kernel-keyring copies of one
    // Secret Service item; a logout through either must end both.
    for (first, second) in [("auto", "keychain"), ("keychain", "auto")] {
        let (_emulator, helper) = logged_in(first);
        let token = helper.run(&["get", "--login", "never"]).exec_token();
        let copied = helper.run(&["get", "--login", "never", "--store", second]);
        assert_eq!(copied.exec_token(), token, "{first} then {second}");

        assert_eq!(helper.run(&["logout"]).code, 0, "{first}");
        let after = helper.run(&["get", "--login", "never", "--store", second]);
        assert_eq!(after.code, 3, "{first} then {second}: {}", after.stderr);
        assert!(after.stdout.is_empty(), "{first} then {second}");
    }

    // A logout with the cache turned off still removes the copy that
    // earlier calls left for callers that have it on.
    let (_emulator, helper) = logged_in("keychain");
    assert_eq!(helper.run(&["get", "--login", "never"]).code, 0);
    let logout = helper.run_with(&["logout"], &[("BIGANIMAL_KEYUTILS_CACHE", "off")]);
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    let after = helper.run(&["get", "--login", "never"]);
    assert_eq!(after.code, 3, "{}", after.stderr);
    assert!(after.stdout.is_empty());
}

#[test]
fn file_logout_ends_auto_copy() {
    // `auto` with a D-Bus address but no Secret Service falls back to the
    // file store and copies tokens into the kernel keyring. A logout
    // through `--store file` uses the same files, so it must end that copy.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("no-bus");
    let address = format!("unix:path={}", socket.display());
    let env = [("DBUS_SESSION_BUS_ADDRESS", address.as_str())];
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1", "--portal-token-ttl", "3600"]);
    let helper = Helper::new(&emulator, "auto");
    assert_eq!(helper.run_with(&["get", "--login", "always"], &env).code, 0);
    assert_eq!(helper.run_with(&["get", "--login", "never"], &env).code, 0);

    assert_eq!(helper.run_with(&["logout", "--store", "file"], &env).code, 0);
    let after = helper.run_with(&["get", "--login", "never"], &env);
    assert_eq!(after.code, 3, "{}", after.stderr);
    assert!(after.stdout.is_empty());
}

#[test]
fn credential_dir_spellings_share_copies() {
    if !secret_service_available("credential_dir_spellings_share_copies") {
        return;
    }
    let (_emulator, helper) = logged_in("keychain");
    assert_eq!(helper.run(&["get", "--login", "never"]).code, 0);
    let other_spelling = format!("{}/", helper.dir.path().display());
    let logout = helper.run_with(&["logout"], &[("BIGANIMAL_CREDENTIAL_DIR", other_spelling.as_str())]);
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    let after = helper.run(&["get", "--login", "never"]);
    assert_eq!(after.code, 3, "{}", after.stderr);
}

#[test]
fn absent_keychain_is_an_error_when_chosen() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "keychain");
    let mut command = helper.command(&["get", "--login", "always"]);
    command.env_remove("DBUS_SESSION_BUS_ADDRESS");
    let run = Run::from(command.output().unwrap());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("DBUS_SESSION_BUS_ADDRESS"), "{}", run.stderr);
    assert_eq!(emulator.stat("total"), 0, "no request before the store is known");
}

#[test]
fn keyutils_store_round_trip() {
    let (emulator, helper) = logged_in("keyutils");
    emulator.reset_stats();
    let cached = helper.run(&["get", "--login", "never"]);
    assert_eq!(cached.code, 0, "{}", cached.stderr);
    assert_eq!(emulator.stat("total"), 0);
    assert_eq!(helper.run(&["logout"]).code, 0);
    assert_eq!(helper.run(&["get", "--login", "never"]).code, 3);
}

/// Replaces a directory the helper writes to with a regular file, which
/// no user, root included, can create entries in.
fn block_dir(helper: &Helper, name: &str) {
    let path = helper.dir.path().join(name);
    let _ = std::fs::remove_dir_all(&path);
    std::fs::write(&path, b"not a directory").unwrap();
}

#[test]
fn unwritable_state_dir_is_clear_error() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    block_dir(&helper, "state");
    let run = helper.run(&["get", "--login", "always"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("the file store: `"), "{}", run.stderr);
    assert!(run.stderr.contains("/state/"), "the message names the path: {}", run.stderr);
    assert!(run.stderr.contains("Not a directory"), "{}", run.stderr);
}

#[test]
fn unwritable_lock_dir_is_clear_error() {
    let (_emulator, helper) = logged_in("file");
    block_dir(&helper, "locks");
    let cached = helper.run(&["get", "--login", "never"]);
    assert_eq!(cached.code, 0, "the cached path takes no lock: {}", cached.stderr);

    let run = helper.run(&["get", "--login", "never", "--min-ttl", "48h"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("could not lock"), "{}", run.stderr);
    assert!(run.stderr.contains("is not a directory"), "the message says what is wrong: {}", run.stderr);
}

#[test]
fn unwritable_cache_dir_still_works() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    block_dir(&helper, "cache");
    let run = helper.run(&["get", "--login", "always"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("could not cache the provider discovery"), "{}", run.stderr);
}
