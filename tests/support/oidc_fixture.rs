//! The oidc-provider fixture (`tests/fixtures/oidc-provider/server.mjs`) as
//! a child process, the "person" scripts that approve a device login, and a
//! helper run whose stderr is read while it waits for approval.
//!
//! The fixture needs Node.js and `npm ci` in its directory. Without them the
//! tests skip with a message, except in CI (`CI` set), where they fail.
//! Everything listens on and talks to 127.0.0.1 only.

#![allow(dead_code)]

use crate::common::{root, Helper, Run};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Maximum wait for the fixture to print its URL.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Maximum wait for a helper run that a test drives.
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);
/// The grant type of device-code polls (RFC 8628 section 3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Returns the fixture's directory.
pub fn fixture_dir() -> PathBuf {
    root().join("tests/fixtures/oidc-provider")
}

/// Tells whether Node.js and the fixture's npm packages are installed.
/// Outside CI a missing piece skips the test with a message; in CI the test
/// fails, because `.ci/run` installs both.
pub fn node_available(test: &str) -> bool {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output();
    let problem = match node {
        Err(e) => Some(format!("`node` cannot be started ({e}); install Node.js 20 or newer")),
        Ok(output) if !output.status.success() => Some("`node --version` failed".to_string()),
        Ok(output) if node_major(&output.stdout).is_none_or(|major| major < 20) => Some(format!(
            "Node.js {} is too old; the fixture needs 20 or newer",
            String::from_utf8_lossy(&output.stdout).trim()
        )),
        Ok(_) if !fixture_dir().join("node_modules/oidc-provider/package.json").exists() => Some(format!(
            "the fixture's packages are not installed; run `make oidc-fixture` (npm ci in {})",
            fixture_dir().display()
        )),
        Ok(_) => None,
    };
    let Some(problem) = problem else {
        return true;
    };
    assert!(std::env::var_os("CI").is_none(), "{test}: {problem}; CI must install Node.js and the fixture (.ci/run)");
    eprintln!("{test}: skipped, {problem}");
    false
}

/// Parses the major version from `node --version` output such as `v20.20.2`.
fn node_major(version: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(version).ok()?;
    text.trim().strip_prefix('v')?.split('.').next()?.parse().ok()
}

/// Tells whether Debian's Chromium is installed. Outside CI its absence skips
/// the test with a message; in CI the test fails.
pub fn chromium_available(test: &str) -> bool {
    if Path::new("/usr/bin/chromium").exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: /usr/bin/chromium is missing; CI must install the Debian package `chromium` (.ci/run)"
    );
    eprintln!("{test}: skipped, /usr/bin/chromium is missing; install the Debian package `chromium`");
    false
}

/// A running fixture, stopped on drop.
pub struct OidcFixture {
    child: Child,
    /// Base URL, such as `http://127.0.0.1:41234`; also the issuer.
    pub url: String,
    log: tempfile::NamedTempFile,
    agent: ureq::Agent,
}

impl OidcFixture {
    /// Starts the fixture with command-line options, or returns `None` when
    /// the test must skip (see [`node_available`]).
    pub fn start(test: &str, options: &[&str]) -> Option<OidcFixture> {
        if !node_available(test) {
            return None;
        }
        let log = tempfile::NamedTempFile::new().expect("a temporary log file");
        let mut child = Command::new("node")
            .arg(fixture_dir().join("server.mjs"))
            .args(options)
            .current_dir(fixture_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("the log file opens for writing"))
            .spawn()
            .expect("node starts the fixture");

        let (sender, receiver) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver.recv_timeout(START_TIMEOUT).unwrap_or_default();
        let url = line.trim().to_string();
        if !url.starts_with("http://127.0.0.1:") {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{test}: the fixture did not print its URL within {START_TIMEOUT:?} (first line {line:?}); its log:\n{}",
                crate::common::read(log.path())
            );
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Some(OidcFixture { child, url, log, agent })
    }

    /// The API base the helper uses.
    pub fn api(&self) -> String {
        format!("{}/api/v3", self.url)
    }

    /// Returns the fixture's request log so far, for assertion messages.
    pub fn log(&self) -> String {
        crate::common::read(self.log.path())
    }

    /// A helper with a private directory that uses this fixture and the file store.
    pub fn helper(&self) -> Helper {
        Helper {
            dir: tempfile::tempdir().expect("a temporary directory"),
            api: self.api(),
            store: "file".to_string(),
            env: Vec::new(),
        }
    }

    fn control(&self, method: &str, name: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_fixture/{name}", self.url);
        let mut response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            (_, Some(body)) => self.agent.post(&url).send_json(&body),
            (_, None) => self.agent.post(&url).send_empty(),
        }
        .expect("the fixture answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(status, 200, "fixture route {method} {name} failed: {text}");
        serde_json::from_str(&text).expect("fixture routes return JSON")
    }

    /// Returns all counters. `token_errors` maps OAuth error codes to counts.
    pub fn stats(&self) -> Value {
        self.control("GET", "stats", None)
    }

    /// One counter; 0 when the fixture has not counted it yet.
    pub fn stat(&self, name: &str) -> u64 {
        self.stats().get(name).and_then(Value::as_u64).unwrap_or(0)
    }

    /// Returns how often the token endpoint returned OAuth error `code`.
    pub fn token_errors(&self, code: &str) -> u64 {
        self.stats()["token_errors"].get(code).and_then(Value::as_u64).unwrap_or(0)
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.control("POST", "reset-stats", None);
    }

    /// Changes knobs: `status_style`, `slow_down_polls`, `omit_refresh_token`.
    pub fn configure(&self, knobs: Value) {
        self.control("POST", "config", Some(knobs));
    }

    /// Returns every token, code and portal token the fixture handed out.
    pub fn secrets(&self) -> Vec<String> {
        match self.control("GET", "secrets", None) {
            Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            other => panic!("unexpected secrets answer {other}"),
        }
    }

    /// Returns the device codes handed out, each `{user_code, device_code, status}`.
    pub fn device_codes(&self) -> Vec<Value> {
        match self.control("GET", "device-codes", None) {
            Value::Array(items) => items,
            other => panic!("unexpected device-codes answer {other}"),
        }
    }

    /// Expires every waiting device code now; returns how many.
    pub fn expire_device_codes(&self) -> u64 {
        self.control("POST", "expire-device-codes", None)["expired"].as_u64().unwrap_or(0)
    }

    /// Sends a form to the token endpoint as a client would; returns the
    /// status and the JSON body.
    pub fn token_request(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let mut response = self
            .agent
            .post(format!("{}/oauth/token", self.url))
            .send_form(form.iter().copied())
            .expect("the token endpoint answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Polls once with `device_code`.
    pub fn poll(&self, device_code: &str) -> (u16, Value) {
        self.token_request(&[
            ("grant_type", DEVICE_CODE_GRANT),
            ("client_id", &self.client_id()),
            ("device_code", device_code),
        ])
    }

    /// Refreshes once with `refresh_token`.
    pub fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("client_id", &self.client_id()),
            ("refresh_token", refresh_token),
        ])
    }

    /// Starts a device authorization as the helper would; returns the response.
    pub fn device_authorization(&self) -> Value {
        let discovery = self.discovery();
        let mut response = self
            .agent
            .post(format!("{}/oauth/device/code", self.url))
            .send_form([
                ("client_id", discovery["clientId"].as_str().unwrap()),
                ("scope", discovery["scope"].as_str().unwrap()),
                ("audience", discovery["audience"].as_str().unwrap()),
            ])
            .expect("the device authorization endpoint answers");
        assert_eq!(response.status().as_u16(), 200);
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// Fetches the portal's discovery document.
    pub fn discovery(&self) -> Value {
        let mut response = self.agent.get(format!("{}/auth/provider", self.api())).call().expect("discovery answers");
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }

    fn client_id(&self) -> String {
        self.discovery()["clientId"].as_str().unwrap().to_string()
    }

    /// Calls the portal's `user-info` with a BigAnimal token; returns the
    /// status and the JSON body.
    pub fn user_info(&self, token: &str) -> (u16, Value) {
        let mut response = self
            .agent
            .get(format!("{}/user-info", self.api()))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .expect("user-info answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Drop for OidcFixture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the helper showed for a device login on stderr.
#[derive(Debug, Clone)]
pub struct LoginScreen {
    /// The page to open (`verification_uri`).
    pub verification_uri: String,
    /// The code to type.
    pub user_code: String,
    /// The link with the code filled in (`verification_uri_complete`).
    pub complete_uri: Option<String>,
}

impl LoginScreen {
    /// Reads the screen from the helper's stderr lines, as a person reads
    /// the terminal: the first indented URL is the page, the code follows
    /// "enter this code:", and a second indented URL is the complete link.
    fn parse(lines: &[String]) -> Option<LoginScreen> {
        let urls: Vec<&str> = lines
            .iter()
            .map(|line| line.trim())
            .filter(|line| line.starts_with("http://") || line.starts_with("https://"))
            .collect();
        let user_code = lines
            .iter()
            .find_map(|line| line.split_once("enter this code:"))
            .map(|(_, code)| code.trim().to_string())?;
        Some(LoginScreen {
            verification_uri: urls.first()?.to_string(),
            user_code,
            complete_uri: urls.get(1).map(|url| url.to_string()),
        })
    }
}

/// A helper process whose stderr is read line by line while it runs. A
/// helper still running when this is dropped (a failed test) is killed.
pub struct RunningHelper {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr_reader: Option<JoinHandle<String>>,
}

impl RunningHelper {
    /// Starts `helper` with `args`.
    pub fn start(helper: &Helper, args: &[&str]) -> RunningHelper {
        let mut child = helper.spawn(args);
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = mpsc::channel();
        let stderr_reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                let _ = sender.send(line);
            }
            all
        });
        RunningHelper { child, lines, seen: Vec::new(), stderr_reader: Some(stderr_reader) }
    }

    /// Waits until the helper has shown the whole login screen (the line
    /// with the code's lifetime ends it) and returns what it showed.
    pub fn login_screen(&mut self) -> LoginScreen {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.seen.iter().any(|line| line.starts_with("The code expires in")) {
                return LoginScreen::parse(&self.seen)
                    .unwrap_or_else(|| panic!("no URL and code in the login screen: {:#?}", self.seen));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => panic!("no login screen within 20 s; stderr so far: {:#?}", self.seen),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the helper ended before it showed a login screen; stderr: {:#?}", self.seen)
                }
            }
        }
    }

    /// Waits (bounded) for the helper to exit and returns its output.
    pub fn finish(mut self) -> Run {
        let deadline = Instant::now() + HELPER_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("the helper's status is readable") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the helper did not exit within {HELPER_TIMEOUT:?}; stderr so far: {:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        if let Some(mut pipe) = self.child.stdout.take() {
            pipe.read_to_string(&mut stdout).expect("the helper's stdout is readable");
        }
        let reader = self.stderr_reader.take().expect("finish runs once");
        let stderr = reader.join().expect("the stderr reader ends");
        Run { code: status.code().unwrap_or(-1), stdout, stderr }
    }
}

impl Drop for RunningHelper {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the HTTP person script with `args` and returns its JSON result,
/// `{"result", "pages"}`.
pub fn run_person(args: &[&str]) -> Value {
    let output = Command::new("python3")
        .arg(root().join("tests/support/device_person.py"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs the person script");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the person script failed:\n{stderr}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the person script printed no JSON ({e}); stderr:\n{stderr}"))
}

/// Approves `screen` over plain HTTP: opens the page, types the code,
/// confirms, signs in as `alice` and allows access.
pub fn approve(screen: &LoginScreen) -> Value {
    let outcome = run_person(&["--url", &screen.verification_uri, "--user-code", &screen.user_code]);
    assert_eq!(outcome["result"], "approved", "{outcome}");
    outcome
}

/// Denies `screen` over plain HTTP: presses Cancel on the confirmation page.
pub fn deny(screen: &LoginScreen) -> Value {
    let outcome = run_person(&["--url", &screen.verification_uri, "--user-code", &screen.user_code, "--deny"]);
    assert_eq!(outcome["result"], "denied", "{outcome}");
    outcome
}

/// Returns the refresh token in the helper's file store, if any.
pub fn stored_refresh_token(helper: &Helper) -> Option<String> {
    let store = helper.dir.path().join("state/store");
    let entries = std::fs::read_dir(&store).ok()?;
    for entry in entries {
        let text = std::fs::read_to_string(entry.ok()?.path()).ok()?;
        let outer: Value = serde_json::from_str(&text).ok()?;
        let record: Value = serde_json::from_str(outer["value"].as_str()?).ok()?;
        if let Some(token) = record.get("refresh_token").and_then(Value::as_str) {
            return Some(token.to_string());
        }
    }
    None
}
