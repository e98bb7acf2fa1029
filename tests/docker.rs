//! docker mode through a credential client written outside this project,
//! the `docker` package from PyPI (docker-py). Its `docker.credentials.Store`
//! runs `docker-credential-biganimal` from PATH, and its `AuthConfig`
//! resolves `credHelpers` as the SDK does before a pull. Docker mode is also
//! run directly on its error paths.

mod callers;
mod common;

use callers::{docker_python, feed_stdin, helper_env, Links, DOCKER_PY_VERSION};
use common::{assert_no_leak, root, Emulator, Helper, Run};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};

fn logged_in() -> (Emulator, Helper) {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let login = helper.run(&["get", "--login", "always", "-o", "token"]);
    assert_eq!(login.code, 0, "{}", login.stderr);
    (emulator, helper)
}

/// Runs tests/support/docker_client.py and returns its JSON line and the run.
fn client(python: &Path, links: &Links, helper: &Helper, args: &[&str], extra_env: &[(&str, &str)]) -> (Value, Run) {
    let mut command = Command::new(python);
    command
        .arg(root().join("tests/support/docker_client.py"))
        .args(args)
        .env_clear()
        .env("PATH", links.path_env())
        .env("HOME", helper.dir.path())
        .stdin(Stdio::null());
    helper_env(&mut command, helper);
    for (name, value) in extra_env {
        command.env(name, value);
    }
    let run = Run::from(command.output().expect("python runs"));
    assert_eq!(run.code, 0, "docker_client.py {args:?} failed: {}", run.stderr);
    let value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {:?}", run.stdout));
    (value, run)
}

fn token_of(helper: &Helper) -> String {
    let run = helper.run(&["get", "--login", "never", "-o", "token"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

fn api_host(emulator: &Emulator) -> String {
    emulator.url.trim_start_matches("http://").to_string()
}

#[test]
fn docker_py_version_is_pinned() {
    let Some(python) = docker_python("docker_py_version_is_pinned") else {
        return;
    };
    let (emulator, helper) = logged_in();
    let (version, _) = client(&python, &Links::new(), &helper, &["version"], &[]);
    assert_eq!(version["result"], DOCKER_PY_VERSION, "tests were written against this docker-py");
    drop(emulator);
}

#[test]
fn docker_py_gets_token() {
    let Some(python) = docker_python("docker_py_gets_token") else {
        return;
    };
    let (emulator, helper) = logged_in();
    let links = Links::new();
    let token = token_of(&helper);
    let host = api_host(&emulator);

    for server in [host.clone(), emulator.url.clone(), format!("{}/v2/", emulator.url)] {
        let (answer, run) = client(&python, &links, &helper, &["get", &server], &[]);
        assert_eq!(
            answer["result"],
            json!({"ServerURL": server, "Username": "biganimal", "Secret": token}),
            "for {server}"
        );
        assert_no_leak(&run, &emulator.secrets(), Some(&token));
    }

    let config = json!({"credHelpers": {host.clone(): "biganimal"}}).to_string();
    let (resolved, _) = client(&python, &links, &helper, &["resolve", &host, &config], &[]);
    assert_eq!(
        resolved["result"],
        json!({"ServerAddress": host, "Username": "biganimal", "Password": token}),
        "docker-py turns the answer into registry credentials"
    );
}

#[test]
fn docker_py_not_found_for_other_server() {
    let Some(python) = docker_python("docker_py_not_found_for_other_server") else {
        return;
    };
    let (emulator, helper) = logged_in();
    let links = Links::new();

    let (answer, run) = client(&python, &links, &helper, &["get", "registry.example.com"], &[]);
    assert_eq!(answer["error"], "CredentialsNotFound", "{answer}");
    assert_no_leak(&run, &emulator.secrets(), None);

    let config = json!({"credHelpers": {"registry.example.com": "biganimal"}}).to_string();
    let (resolved, _) = client(&python, &links, &helper, &["resolve", "registry.example.com", &config], &[]);
    assert_eq!(resolved["result"], Value::Null, "docker-py carries on without credentials");
}

#[test]
fn docker_py_not_found_without_login() {
    let Some(python) = docker_python("docker_py_not_found_without_login") else {
        return;
    };
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let links = Links::new();

    let (answer, run) = client(&python, &links, &helper, &["get", &api_host(&emulator)], &[]);
    assert_eq!(answer["error"], "CredentialsNotFound", "{answer}");
    assert!(run.stderr.contains("run `biganimal-credential login"), "{}", run.stderr);
    assert_eq!(emulator.stat("device_code"), 0, "no device login without a terminal");

    let (listed, _) = client(&python, &links, &helper, &["list"], &[]);
    assert_eq!(listed["result"], json!({}));
}

#[test]
fn docker_py_lists_and_erases() {
    let Some(python) = docker_python("docker_py_lists_and_erases") else {
        return;
    };
    let (emulator, helper) = logged_in();
    let links = Links::new();
    let token = token_of(&helper);
    let host = api_host(&emulator);
    let extra = [("BIGANIMAL_CREDENTIAL_HOSTS", "127.0.0.1:5000")];

    let (listed, _) = client(&python, &links, &helper, &["list"], &extra);
    assert_eq!(listed["result"], json!({host.clone(): "biganimal", "127.0.0.1:5000": "biganimal"}));

    emulator.reset_stats();
    let (erased, _) = client(&python, &links, &helper, &["erase", &host], &[]);
    assert_eq!(erased["result"], Value::Null, "{erased}");
    let renewed = token_of(&helper);
    assert_ne!(renewed, token, "the cached token was forgotten");
    assert_eq!(emulator.stat("token_refresh"), 1, "the refresh token was kept");

    let (other, _) = client(&python, &links, &helper, &["erase", "registry.example.com"], &[]);
    assert_eq!(other["error"], "CredentialsNotFound", "{other}");
}

#[test]
fn docker_py_reports_access_key_conflict() {
    let Some(python) = docker_python("docker_py_reports_access_key_conflict") else {
        return;
    };
    let (emulator, helper) = logged_in();
    let key = [("BA_ACCESS_KEY", "baak_dockerkey0123456789")];
    let (answer, run) = client(&python, &Links::new(), &helper, &["get", &api_host(&emulator)], &key);
    assert_eq!(answer["error"], "StoreError", "{answer}");
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(message.contains("docker can carry only a bearer token"), "{message}");
    assert!(!message.contains("dockerkey0123456789"), "{message}");
    assert!(!run.stderr.contains("dockerkey0123456789"));
}

/// Runs docker mode through the `docker-credential-biganimal` link.
fn docker_mode(links: &Links, helper: &Helper, args: &[&str], input: &str) -> Run {
    let mut command = Command::new(links.path("docker-credential-biganimal"));
    command
        .args(args)
        .env_clear()
        .env("PATH", links.path_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    helper_env(&mut command, helper);
    let mut child = command.spawn().expect("the helper starts");
    feed_stdin(&mut child, input.as_bytes());
    Run::from(child.wait_with_output().expect("the helper ends"))
}

/// One docker-mode run and what must come back.
struct Case<'a> {
    name: &'static str,
    action: &'static str,
    input: String,
    code: i32,
    /// The exact stdout, or `None` when any non-empty stdout will do.
    stdout: Option<&'a str>,
}

impl<'a> Case<'a> {
    fn new(name: &'static str, action: &'static str, input: String, code: i32, stdout: Option<&'a str>) -> Self {
        Case {
            name,
            action,
            input,
            code,
            stdout,
        }
    }
}

#[test]
fn docker_mode_edge_cases() {
    let (emulator, helper) = logged_in();
    let links = Links::new();
    let host = api_host(&emulator);
    let token = token_of(&helper);
    let not_found = "credentials not found in native keychain\n";

    let long = "a".repeat(70 * 1024);
    let store_other = r#"{"ServerURL":"registry.example.com","Username":"me","Secret":"pw"}"#;
    let store_served = format!(r#"{{"ServerURL":"{host}","Username":"me","Secret":"pw"}}"#);
    let answer = format!("{{\"ServerURL\":\"{host}\",\"Username\":\"biganimal\",\"Secret\":\"{token}\"}}\n");
    let unknown = "unknown action `fetch`: use get, store, erase, list or version\n";
    let cases = [
        Case::new("empty stdin", "get", String::new(), 1, Some("no credentials server URL\n")),
        Case::new("CRLF after the URL", "get", format!("{host}\r\n"), 0, Some(&answer)),
        Case::new("unserved host", "get", "registry.example.com".to_string(), 1, Some(not_found)),
        Case::new("unsupported scheme", "get", format!("ftp://{host}"), 1, Some(not_found)),
        Case::new("NUL byte", "get", format!("{host}\0"), 1, Some("the server URL contains a NUL byte\n")),
        Case::new("oversized input", "get", long, 1, None),
        Case::new("store for another server", "store", store_other.to_string(), 1, None),
        Case::new("store for a served server", "store", store_served, 0, Some("")),
        Case::new("version action", "version", String::new(), 0, None),
        Case::new("version flag", "--version", String::new(), 0, None),
        Case::new("unknown action", "fetch", String::new(), 1, Some(unknown)),
    ];
    for case in cases {
        let name = case.name;
        let run = docker_mode(&links, &helper, &[case.action], &case.input);
        assert_eq!(run.code, case.code, "{name}: {} {}", run.stdout, run.stderr);
        match case.stdout {
            Some(expected) => assert_eq!(run.stdout, expected, "{name}"),
            None => assert!(!run.stdout.is_empty(), "{name}: the message is on stdout"),
        }
        assert_no_leak(&run, &emulator.secrets(), Some(&token));
    }

    let version = docker_mode(&links, &helper, &["-v"], "");
    assert!(version.stdout.starts_with("docker-credential-biganimal (biganimal-credential) "), "{}", version.stdout);
    let oversized = docker_mode(&links, &helper, &["get"], &"a".repeat(70 * 1024));
    assert!(oversized.stdout.contains("longer than 64 KiB"), "{}", oversized.stdout);
}

#[test]
fn setup_docker_snippet_resolves() {
    let Some(python) = docker_python("setup_docker_snippet_resolves") else {
        return;
    };
    let (emulator, helper) = logged_in();
    let snippet = helper.run(&["setup", "docker"]);
    assert_eq!(snippet.code, 0, "{}", snippet.stderr);
    assert!(snippet.stderr.contains("docker-credential-biganimal"), "{}", snippet.stderr);
    let host = api_host(&emulator);
    let config: Value = serde_json::from_str(&snippet.stdout).expect("the snippet is JSON");
    assert_eq!(config, json!({"credHelpers": {host.clone(): "biganimal"}}));

    let (resolved, _) = client(&python, &Links::new(), &helper, &["resolve", &host, &snippet.stdout], &[]);
    assert_eq!(resolved["result"]["Password"], token_of(&helper));
}
