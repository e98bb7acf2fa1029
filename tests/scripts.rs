//! The commands scripts, Terraform runs and CI jobs use. `exec` runs a child
//! that checks its environment and exit status, and every `get --output`
//! form is checked. Access keys are imported, overridden by `BA_ACCESS_KEY`,
//! expired, reported and logged out. The emulator checks what reaches the
//! portal.

mod callers;
mod common;

use callers::feed_stdin;
use common::{assert_no_leak, root, secret_service_available, Emulator, Helper, Run};
use serde_json::Value;
use std::process::{Command, Stdio};

const KEY: &str = "baak_storedkey0123456789";
const ENV_KEY: &str = "baak_envkey0123456789";

fn emulator() -> Emulator {
    Emulator::start(&["--auto-approve", "--interval", "0.1", "--access-key", KEY, "--access-key", ENV_KEY])
}

fn logged_in(emulator: &Emulator) -> Helper {
    let helper = Helper::new(emulator, "file");
    let login = helper.run(&["get", "--login", "always", "-o", "token"]);
    assert_eq!(login.code, 0, "{}", login.stderr);
    helper
}

fn token_of(helper: &Helper) -> String {
    let run = helper.run(&["get", "--login", "never", "-o", "token"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

/// Calls the emulator's `user-info` with one header and returns the status.
fn user_info_status(emulator: &Emulator, header: &str) -> u16 {
    let (name, value) = header.trim_end().split_once(": ").expect("a `name: value` header line");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let response = agent
        .get(format!("{}/user-info", emulator.api()))
        .header(name, value)
        .call()
        .expect("user-info answers");
    response.status().as_u16()
}

/// Runs the helper with `input` on stdin.
fn run_with_input(helper: &Helper, args: &[&str], input: &str, env: &[(&str, &str)]) -> Run {
    let mut command = helper.command(args);
    command.stdin(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the helper starts");
    feed_stdin(&mut child, input.as_bytes());
    Run::from(child.wait_with_output().expect("the helper ends"))
}

/// A child that checks its environment: exit 0 when the token variable
/// equals `$EXPECTED`, `BA_API_URI` is set and no access-key variable is.
const CHECK_BEARER: &str = r#"[ "$BA_BEARER_TOKEN" = "$EXPECTED" ] && [ -n "$BA_API_URI" ] && [ -z "${BA_ACCESS_KEY+set}${EDB_TF_ACCESS_KEY+set}" ] || exit 42"#;

#[test]
fn exec_sets_environment() {
    let emulator = emulator();
    let helper = logged_in(&emulator);
    let token = token_of(&helper);

    let run = helper.run_with(
        &["exec", "--", "sh", "-c", &format!("{CHECK_BEARER}; printf %s \"$BA_API_URI\"")],
        &[("EXPECTED", &token), ("BA_ACCESS_KEY", ""), ("EDB_TF_ACCESS_KEY", "baak_stalekey0123456789")],
    );
    assert_eq!(run.code, 0, "the child saw the token: {}", run.stderr);
    assert_eq!(run.stdout, helper.api, "stdout is the child's alone");
    assert_no_leak(&run, &emulator.secrets(), None);
}

#[test]
fn exec_token_is_accepted_by_portal() {
    let emulator = emulator();
    let helper = logged_in(&emulator);
    let run = helper.run(&["exec", "--", "sh", "-c", "printf 'Authorization: Bearer %s' \"$BA_BEARER_TOKEN\""]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(user_info_status(&emulator, &run.stdout), 200);
}

#[test]
fn exec_passes_exit_status() {
    let emulator = emulator();
    let helper = logged_in(&emulator);
    for (script, code) in [("exit 0", 0), ("exit 7", 7), ("exit 255", 255), ("kill -TERM $$", 143), ("kill -KILL $$", 137)] {
        let run = helper.run(&["exec", "--", "sh", "-c", script]);
        assert_eq!(run.code, code, "{script}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{script}: the helper printed nothing itself");
    }
}

#[test]
fn exec_keeps_token_off_command_line() {
    let emulator = emulator();
    let helper = logged_in(&emulator);
    let token = token_of(&helper);
    // The child prints its own command line as the process list shows it.
    let run = helper.run(&["exec", "--", "sh", "-c", "tr '\\0' ' ' < /proc/$$/cmdline", "child-arg"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("child-arg"), "{}", run.stdout);
    assert!(!run.stdout.contains(&token), "{}", run.stdout);
}

#[test]
fn exec_reports_missing_command() {
    let emulator = emulator();
    let helper = logged_in(&emulator);
    let run = helper.run(&["exec", "--", "/nonexistent/terraform", "plan"]);
    assert_eq!(run.code, 127, "{}", run.stderr);
    assert!(run.stderr.contains("could not run `/nonexistent/terraform`"), "{}", run.stderr);
    assert_no_leak(&run, &emulator.secrets(), None);

    let without_login = Helper::new(&emulator, "file");
    let run = without_login.run(&["exec", "--login", "never", "--", "true"]);
    assert_eq!(run.code, 3, "no credential, no child: {}", run.stderr);
}

#[test]
fn output_forms_carry_token() {
    let emulator = emulator();
    let helper = logged_in(&emulator);
    let token = token_of(&helper);

    let header = helper.run(&["get", "-o", "header"]);
    assert_eq!(header.stdout, format!("Authorization: Bearer {token}\n"));
    assert_eq!(user_info_status(&emulator, &header.stdout), 200);

    let env = helper.run(&["get", "-o", "env"]);
    assert_eq!(env.code, 0, "{}", env.stderr);
    let script = format!("{}{CHECK_BEARER}", env.stdout);
    let status = Command::new("sh")
        .args(["-c", &script])
        .env("EXPECTED", &token)
        .env_remove("BA_ACCESS_KEY")
        .env("EDB_TF_ACCESS_KEY", "baak_stalekey0123456789")
        .status()
        .expect("sh runs");
    assert!(status.success(), "the env form sets the token and unsets a stale key: {}", env.stdout);

    let json: Value = helper.run(&["get", "-o", "json"]).json();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["token"], token.as_str());
    assert!(json["expiration_timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{json}");

    let bare = helper.run(&["get", "-o", "token"]);
    assert_eq!(bare.stdout, token, "no newline when stdout is a pipe");
    for run in [&header, &env, &bare] {
        assert_no_leak(run, &emulator.secrets(), Some(&token));
    }
}

#[test]
fn import_access_key_from_stdin() {
    let emulator = emulator();
    let helper = Helper::new(&emulator, "file");

    let run = run_with_input(&helper, &["import-access-key", "--expires-in", "30d"], &format!("{KEY}\n"), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("stored the access key of profile `default`"), "{}", run.stderr);
    assert_no_leak(&run, &emulator.secrets(), None);

    let header = helper.run(&["get", "-o", "header"]);
    assert_eq!(header.stdout, format!("x-access-key: {KEY}\n"));
    assert_eq!(user_info_status(&emulator, &header.stdout), 200);
    assert_eq!(emulator.stat("provider"), 0, "an access key needs no OAuth discovery");

    let json: Value = helper.run(&["get", "-o", "json"]).json();
    assert_eq!(json["token_type"], "access_key");
    assert_eq!(json["token"], KEY);
    assert!(json["expiration_timestamp"].as_str().is_some(), "{json}");

    let env = helper.run(&["get", "-o", "env"]);
    assert!(env.stdout.starts_with(&format!("export BA_ACCESS_KEY='{KEY}'\n")), "{}", env.stdout);

    let exec = helper.run_with(
        &["exec", "--", "sh", "-c", r#"[ -z "${BA_BEARER_TOKEN+set}" ] && printf '%s %s' "$BA_ACCESS_KEY" "$EDB_TF_ACCESS_KEY""#],
        &[("BA_BEARER_TOKEN", "stale-token")],
    );
    assert_eq!(exec.stdout, format!("{KEY} {KEY}"), "{}", exec.stderr);
}

#[test]
fn import_rejects_bad_keys_without_echo() {
    let emulator = emulator();
    let helper = Helper::new(&emulator, "file");
    let cases = [
        (vec!["import-access-key", KEY], "", "does not take the key as an argument"),
        (vec!["import-access-key"], "Bearer sometoken0123456789\n", "starts with `baak_`"),
        (vec!["import-access-key"], "baak_two words here\n", "contains a space"),
        (vec!["import-access-key"], "", "starts with `baak_`"),
        (vec!["import-access-key", "--expires-at", "2000-01-01T00:00:00Z"], KEY, "not in the future"),
        (vec!["import-access-key", "--expires-at", "tomorrow"], KEY, "RFC 3339"),
    ];
    for (args, input, message) in cases {
        let run = run_with_input(&helper, &args, input, &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("storedkey0123456789"), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("sometoken0123456789"), "{args:?}: {}", run.stderr);
    }
    let long = format!("baak_{}", "a".repeat(70 * 1024));
    let run = run_with_input(&helper, &["import-access-key"], &long, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("longer than 64 KiB"), "{}", run.stderr);
    assert_eq!(helper.run(&["get", "-o", "header", "--login", "never"]).code, 3, "nothing was stored");
}

#[test]
fn env_access_key_wins_over_stored() {
    let emulator = emulator();
    let helper = logged_in(&emulator);
    assert_eq!(run_with_input(&helper, &["import-access-key"], KEY, &[]).code, 0);

    let header = helper.run_with(&["get", "-o", "header"], &[("BA_ACCESS_KEY", ENV_KEY)]);
    assert_eq!(header.stdout, format!("x-access-key: {ENV_KEY}\n"), "{}", header.stderr);
    assert_eq!(user_info_status(&emulator, &header.stdout), 200);
    assert_no_leak(&header, &emulator.secrets(), Some(ENV_KEY));

    let stored = helper.run(&["get", "-o", "header"]);
    assert_eq!(stored.stdout, format!("x-access-key: {KEY}\n"), "the stored key wins over the login");

    let invalid = helper.run_with(&["get", "-o", "header"], &[("BA_ACCESS_KEY", "not-a-key")]);
    assert_eq!(invalid.code, 2);
    assert!(invalid.stderr.contains("invalid `BA_ACCESS_KEY`"), "{}", invalid.stderr);
}

#[test]
fn bearer_only_outputs_reject_access_key() {
    let emulator = emulator();
    let helper = logged_in(&emulator);
    for output in ["exec-credential", "token"] {
        let run = helper.run_with(&["get", "-o", output], &[("BA_ACCESS_KEY", ENV_KEY)]);
        assert_eq!(run.code, 2, "{output}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{output}");
        assert!(run.stderr.contains(&format!("`--output {output}` can carry only a bearer token")), "{}", run.stderr);
        assert!(run.stderr.contains("`biganimal-credential get --output header`"), "{}", run.stderr);
        assert!(run.stderr.contains("unset `BA_ACCESS_KEY`"), "{}", run.stderr);
        assert_no_leak(&run, &emulator.secrets(), None);
    }
}

#[test]
fn expired_access_key_names_fix() {
    let emulator = emulator();
    let helper = Helper::new(&emulator, "file");
    assert_eq!(run_with_input(&helper, &["import-access-key", "--expires-in", "1s"], KEY, &[]).code, 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let run = helper.run(&["get", "-o", "header"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("the access key of profile `default` expired at"), "{}", run.stderr);
    assert!(run.stderr.contains("biganimal-credential import-access-key"), "{}", run.stderr);

    let status = helper.run(&["status"]);
    assert_eq!(status.code, 3);
    assert!(status.stdout.contains("access key:     in use, stored; expired at"), "{}", status.stdout);
    assert_no_leak(&status, &emulator.secrets(), None);
}

#[test]
fn status_and_logout_with_access_key() {
    let emulator = emulator();
    let helper = Helper::new(&emulator, "file");
    assert_eq!(run_with_input(&helper, &["import-access-key", "--expires-in", "30d"], KEY, &[]).code, 0);

    let status = helper.run(&["status"]);
    assert_eq!(status.code, 0, "a valid key is a usable credential: {}", status.stderr);
    assert!(status.stdout.contains("access key:     in use, stored; valid until"), "{}", status.stdout);
    assert!(status.stdout.contains("(29d 23h left)"), "{}", status.stdout);
    assert_no_leak(&status, &emulator.secrets(), None);

    let from_env = helper.run_with(&["status"], &[("BA_ACCESS_KEY", ENV_KEY)]);
    assert!(from_env.stdout.contains("access key:     in use, from `BA_ACCESS_KEY`; expiry unknown"), "{}", from_env.stdout);
    assert_no_leak(&from_env, &emulator.secrets(), None);

    let logout = helper.run(&["logout"]);
    assert_eq!(logout.code, 0, "{}", logout.stderr);
    assert!(logout.stderr.contains("deleted the stored access key"), "{}", logout.stderr);
    let after = helper.run(&["status"]);
    assert!(after.stdout.contains("access key:     none"), "{}", after.stdout);
    assert_eq!(helper.run(&["get", "-o", "header", "--login", "never"]).code, 3);
}

#[test]
fn access_key_in_secret_service() {
    if !secret_service_available("access_key_in_secret_service") {
        return;
    }
    let emulator = emulator();
    let helper = Helper::new(&emulator, "keychain");
    let import = run_with_input(&helper, &["import-access-key"], KEY, &[]);
    assert_eq!(import.code, 0, "{}", import.stderr);
    assert!(import.stderr.contains("in the Secret Service store"), "{}", import.stderr);
    let marker = std::fs::read_dir(helper.dir.path().join("state"))
        .unwrap()
        .filter_map(|entry| entry.ok())
        .find(|entry| entry.file_name().to_string_lossy().starts_with("access-key-default-"))
        .expect("the import leaves a marker");
    assert_eq!(std::fs::metadata(marker.path()).unwrap().len(), 0, "the marker holds nothing secret");

    let header = helper.run(&["get", "-o", "header"]);
    assert_eq!(header.stdout, format!("x-access-key: {KEY}\n"), "{}", header.stderr);
    assert_eq!(helper.run(&["logout"]).code, 0);
    assert!(!marker.path().exists(), "logout removes the marker");
    assert_eq!(helper.run(&["get", "-o", "header", "--login", "never"]).code, 3);
}

#[test]
fn install_files_links_names() {
    let prefix = tempfile::tempdir().unwrap();
    let status = Command::new("make")
        .current_dir(root())
        .args(["-s", "install-files"])
        .arg(format!("BINARY={}", common::binary().display()))
        .arg(format!("PREFIX={}", prefix.path().display()))
        .status();
    let Ok(status) = status else {
        assert!(std::env::var("CI").is_err(), "CI machines have make");
        eprintln!("install_files_links_names: skipped, `make` is missing");
        return;
    };
    assert!(status.success());
    let bin = prefix.path().join("bin");
    for name in ["git-credential-biganimal", "docker-credential-biganimal"] {
        let target = std::fs::read_link(bin.join(name)).expect("a symbolic link");
        assert_eq!(target, std::path::Path::new("biganimal-credential"), "{name} links next to the binary");
    }
    let version = Command::new(bin.join("docker-credential-biganimal")).arg("version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("docker-credential-biganimal (biganimal-credential)"));
}

#[test]
fn setup_kubectl_names_absolute_binary() {
    let emulator = emulator();
    let helper = Helper::new(&emulator, "file");
    let run = helper.run(&["--profile", "ci", "setup", "kubectl"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let binary = std::fs::canonicalize(common::binary()).unwrap();
    assert!(run.stdout.contains(&format!("      command: \"{}\"\n", binary.display())), "{}", run.stdout);
    assert!(run.stdout.contains("      - get\n      - \"--profile\"\n      - \"ci\"\n      - \"--api-url\"\n"), "{}", run.stdout);
    assert!(run.stdout.contains("interactiveMode: IfAvailable"), "{}", run.stdout);
}
