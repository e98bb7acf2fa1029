//! Shared test support: the BigAnimal emulator as a child process, the
//! helper binary run with an isolated environment, and the leak check.
//!
//! Every server here listens on 127.0.0.1 only.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Returns the project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The helper binary built by cargo for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_biganimal-credential"))
}

/// A running emulator, stopped on drop.
pub struct Emulator {
    child: Child,
    /// Base URL, such as `http://127.0.0.1:41234`.
    pub url: String,
    agent: ureq::Agent,
}

impl Emulator {
    /// Starts the emulator with extra command-line options.
    pub fn start(options: &[&str]) -> Emulator {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Emulator::start_with_agent(options, agent)
    }

    /// Starts the emulator over HTTPS with `tls`'s server certificate; the
    /// control calls trust `tls`'s CA.
    pub fn start_tls(options: &[&str], tls: &TestCa) -> Emulator {
        let trust = biganimal_credential::http::trust::tls_config(Some(&tls.ca)).expect("the test CA loads");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .tls_config(trust)
            .build()
            .into();
        let cert = tls.server_cert.to_string_lossy().into_owned();
        let key = tls.server_key.to_string_lossy().into_owned();
        let mut all: Vec<&str> = vec!["--tls-cert", &cert, "--tls-key", &key];
        all.extend_from_slice(options);
        Emulator::start_with_agent(&all, agent)
    }

    fn start_with_agent(options: &[&str], agent: ureq::Agent) -> Emulator {
        let mut child = Command::new("python3")
            .arg(root().join("emulator/biganimal_emulator.py"))
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the emulator");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the emulator prints its URL");
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") || url.starts_with("https://127.0.0.1:"),
            "unexpected first line {url:?}"
        );
        Emulator { child, url, agent }
    }

    /// The API base the helper uses.
    pub fn api(&self) -> String {
        format!("{}/api/v3", self.url)
    }

    fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_emulator/{path}", self.url);
        let mut response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, Some(body)) => self.agent.post(&url).send_json(&body),
            (_, None) => self.agent.post(&url).send_empty(),
        }
        .expect("the control API answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        assert!(status < 300, "control call {method} {path} failed with {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// All counters.
    pub fn stats(&self) -> Value {
        self.control("GET", "stats", None)
    }

    /// One counter.
    pub fn stat(&self, name: &str) -> u64 {
        self.stats()
            .get(name)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("the emulator has no counter `{name}`"))
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.control("POST", "reset", None);
    }

    /// Changes knobs at run time.
    pub fn configure(&self, settings: Value) {
        self.control("POST", "config", Some(settings));
    }

    /// Injects a fault on `path` for the next `count` requests.
    pub fn fault(&self, path: &str, kind: &str, count: u32) {
        self.control(
            "POST",
            "fault",
            Some(serde_json::json!({"path": path, "kind": kind, "count": count})),
        );
    }

    /// Returns every secret the emulator has issued.
    pub fn secrets(&self) -> Vec<String> {
        match self.control("GET", "secrets", None) {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            other => panic!("unexpected secrets answer {other}"),
        }
    }

    /// User codes waiting for approval.
    pub fn pending(&self) -> Vec<String> {
        match self.control("GET", "pending", None) {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_string).or_else(|| v.get("user_code")?.as_str().map(str::to_string)))
                .collect(),
            other => panic!("unexpected pending answer {other}"),
        }
    }

    /// Waits (bounded) until a device code is pending and returns its user code.
    pub fn wait_for_pending(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(code) = self.pending().into_iter().next() {
                return code;
            }
            assert!(Instant::now() < deadline, "no device code became pending within 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Approves a user code.
    pub fn approve(&self, user_code: &str) {
        self.control("POST", "approve", Some(serde_json::json!({"user_code": user_code})));
    }

    /// Tells whether the portal's `user-info` accepts a BigAnimal token.
    pub fn accepts_token(&self, token: &str) -> bool {
        let response = self
            .agent
            .get(format!("{}/user-info", self.api()))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .expect("user-info answers");
        response.status().as_u16() == 200
    }

    /// Denies a user code.
    pub fn deny(&self, user_code: &str) {
        self.control("POST", "deny", Some(serde_json::json!({"user_code": user_code})));
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA made with openssl and a server certificate it signed for
/// `127.0.0.1` and `localhost`, in a temporary directory.
pub struct TestCa {
    /// Keeps the files until the test ends.
    pub dir: tempfile::TempDir,
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    /// The server certificate (PEM), signed by the CA.
    pub server_cert: PathBuf,
    /// The server's private key (PEM).
    pub server_key: PathBuf,
}

impl TestCa {
    /// Makes the CA and the server certificate, named `name` in their subjects.
    pub fn new(name: &str) -> TestCa {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = |file: &str| dir.path().join(file);
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl runs");
            assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let ca_subject = format!("/CN={name} test CA");
        openssl(&[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", &ca_subject,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]].concat());
        openssl(&[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat());
        std::fs::write(
            path("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("the extension file is written");
        openssl(&["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "2",
            "-days", "1", "-extfile", "server.ext", "-out", "server.pem"]);
        TestCa {
            ca: path("ca.pem"),
            server_cert: path("server.pem"),
            server_key: path("server.key"),
            dir,
        }
    }
}

/// The helper binary with a private state directory and a chosen store.
pub struct Helper {
    /// The private directory (`BIGANIMAL_CREDENTIAL_DIR` and `HOME`).
    pub dir: tempfile::TempDir,
    /// The API base.
    pub api: String,
    /// The `--store` value.
    pub store: String,
    /// Extra environment variables for every run.
    pub env: Vec<(String, String)>,
}

impl Helper {
    /// A helper that talks to `emulator` and keeps credentials in `store`.
    pub fn new(emulator: &Emulator, store: &str) -> Helper {
        Helper {
            dir: tempfile::tempdir().expect("a temporary directory"),
            api: emulator.api(),
            store: store.to_string(),
            env: Vec::new(),
        }
    }

    /// Builds the helper command with a clean environment and the given arguments.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("BIGANIMAL_CREDENTIAL_DIR", self.dir.path())
            .env("BA_API_URI", &self.api)
            .env("BIGANIMAL_CREDENTIAL_STORE", &self.store)
            // Every scenario runs with `-v`, so the leak checks cover the
            // detail messages too.
            .env("BIGANIMAL_VERBOSE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Ok(bus) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
            command.env("DBUS_SESSION_BUS_ADDRESS", bus);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// Runs the helper and waits for it.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Runs the helper with extra environment variables.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        for (name, value) in env {
            command.env(name, value);
        }
        Run::from(command.output().expect("the helper binary runs"))
    }

    /// Starts the helper without waiting.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("the helper binary starts")
    }
}

/// The result of one run of the helper.
pub struct Run {
    /// Exit code; -1 when killed by a signal.
    pub code: i32,
    /// stdout as text.
    pub stdout: String,
    /// stderr as text.
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts exit code 0 and returns stdout parsed as JSON.
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "exit code; stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {:?}", self.stdout))
    }

    /// Returns `status.token` of an ExecCredential on stdout.
    pub fn exec_token(&self) -> String {
        self.json()["status"]["token"]
            .as_str()
            .expect("status.token is a string")
            .to_string()
    }
}

/// Asserts that no secret the emulator issued appears in stderr, and that
/// stdout contains none except `allowed` (the requested credential).
pub fn assert_no_leak(run: &Run, secrets: &[String], allowed: Option<&str>) {
    for secret in secrets {
        assert!(!run.stderr.contains(secret.as_str()), "a secret leaked to stderr: {}", run.stderr);
        if Some(secret.as_str()) != allowed {
            assert!(!run.stdout.contains(secret.as_str()), "a secret other than the credential reached stdout");
        }
    }
}

/// Tells whether a real Secret Service session is available; in CI it must be.
pub fn secret_service_available(test: &str) -> bool {
    let present = std::env::var("BIGANIMAL_TEST_SECRET_SERVICE").is_ok()
        && std::env::var("DBUS_SESSION_BUS_ADDRESS").is_ok();
    if !present {
        assert!(
            std::env::var("CI").is_err(),
            "{test}: CI must run the tests inside tests/support/secret-service-session.sh"
        );
        eprintln!("{test}: skipped, no Secret Service session; run the tests with `make test`");
    }
    present
}

/// Reads a file as text, or an empty string.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
