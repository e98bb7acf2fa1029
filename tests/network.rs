//! HTTPS trust and proxies against a real TLS server: the emulator served
//! over HTTPS with a certificate from a private CA made by openssl, and a
//! local CONNECT proxy (`tests/support/connect_proxy.py`) that counts the
//! tunnels it opens. Everything listens on 127.0.0.1.

mod common;

use common::{assert_no_leak, root, Emulator, Helper, Run, TestCa};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Starts the emulator over HTTPS, approving logins at once.
fn tls_emulator(ca: &TestCa) -> Emulator {
    Emulator::start_tls(&["--auto-approve", "--interval", "0.1"], ca)
}

fn ca_path(ca: &TestCa) -> String {
    ca.ca.to_string_lossy().into_owned()
}

#[test]
fn https_server_rejected_without_its_ca() {
    let ca = TestCa::new("rejected");
    let emulator = tls_emulator(&ca);
    let helper = Helper::new(&emulator, "file");
    assert!(helper.api.starts_with("https://127.0.0.1:"), "{}", helper.api);

    let run = helper.run(&["get", "--login", "always"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("certificate was rejected"), "{}", run.stderr);
    assert!(run.stderr.contains("--ca-file"), "the message names the fix: {}", run.stderr);
    assert!(!run.stderr.contains("retrying"), "a rejected certificate is not retried: {}", run.stderr);
    assert_eq!(emulator.stat("total"), 0, "no request got past the TLS handshake");
}

#[test]
fn https_server_accepted_with_ca_file() {
    let ca = TestCa::new("ca-file");
    let emulator = tls_emulator(&ca);
    let helper = Helper::new(&emulator, "file");

    let run = helper.run(&["get", "--login", "always", "--ca-file", &ca_path(&ca)]);
    let token = run.exec_token();
    assert!(emulator.accepts_token(&token));
    assert_eq!(emulator.stat("exchange"), 1);
    assert_eq!(emulator.stat("logins"), 1);
    assert_no_leak(&run, &emulator.secrets(), Some(&token));

    // The variable works as the option does: a refresh goes over HTTPS too.
    let refreshed = helper.run_with(&["get", "--min-ttl", "48h"], &[("BIGANIMAL_CA_FILE", &ca_path(&ca))]);
    assert_ne!(refreshed.exec_token(), token);
    assert_eq!(emulator.stat("token_refresh"), 1);
}

#[test]
fn https_server_accepted_with_ssl_cert_file() {
    let ca = TestCa::new("ssl-cert-file");
    let emulator = tls_emulator(&ca);
    let helper = Helper::new(&emulator, "file");

    let run = helper.run_with(&["get", "--login", "always"], &[("SSL_CERT_FILE", &ca_path(&ca))]);
    assert!(emulator.accepts_token(&run.exec_token()));
}

#[test]
fn extra_cas_add_up() {
    let ca = TestCa::new("server");
    let other = TestCa::new("other");
    let emulator = tls_emulator(&ca);

    // Each extra CA adds to the others: the server's CA works in either place.
    for (ssl_cert_file, ca_file) in [(&other, &ca), (&ca, &other)] {
        let helper = Helper::new(&emulator, "file");
        let run = helper.run_with(
            &["get", "--login", "always", "--ca-file", &ca_path(ca_file)],
            &[("SSL_CERT_FILE", &ca_path(ssl_cert_file))],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
}

#[test]
fn bad_ca_file_read_only_on_request() {
    let ca = TestCa::new("lazy");
    let emulator = tls_emulator(&ca);
    let helper = Helper::new(&emulator, "file");
    let token = helper.run(&["get", "--login", "always", "--ca-file", &ca_path(&ca)]).exec_token();

    // A cached token is served without reading the CA file.
    let cached = helper.run(&["get", "--ca-file", "/nonexistent/ca.pem"]);
    assert_eq!(cached.exec_token(), token);
    assert!(!cached.stderr.contains("CA file"), "{}", cached.stderr);

    // A renewal reads it; its failure is reported and the valid token still served.
    let renewal = helper.run(&["get", "--min-ttl", "48h", "--ca-file", "/nonexistent/ca.pem"]);
    assert_eq!(renewal.exec_token(), token);
    assert!(renewal.stderr.contains("`/nonexistent/ca.pem`"), "{}", renewal.stderr);

    // A login has nothing to fall back on: the message names the file and the option.
    let login = helper.run(&["login", "--ca-file", "/nonexistent/ca.pem"]);
    assert_eq!(login.code, 1, "{}", login.stderr);
    assert!(login.stderr.contains("`/nonexistent/ca.pem`"), "{}", login.stderr);
    assert!(login.stderr.contains("`--ca-file`"), "{}", login.stderr);
    assert!(!login.stderr.contains("retrying"), "a missing CA file is not retried: {}", login.stderr);

    let not_pem = helper.dir.path().join("not-a-certificate.txt");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let run = helper.run(&["login", "--ca-file", &not_pem.to_string_lossy()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("contains no PEM certificate"), "{}", run.stderr);
}

/// The CONNECT proxy, stopped on drop.
struct Proxy {
    child: Child,
    url: String,
}

impl Proxy {
    fn start() -> Proxy {
        Proxy::start_with(&[])
    }

    fn start_with(args: &[&str]) -> Proxy {
        let mut child = Command::new("python3")
            .arg(root().join("tests/support/connect_proxy.py"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected first line {url:?}");
        Proxy { child, url }
    }

    fn stats(&self) -> Value {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent.get(format!("{}/_stats", self.url)).call().expect("the proxy answers");
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }

    fn tunnels(&self) -> u64 {
        self.stats()["connect"].as_u64().unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a login over HTTPS with extra environment variables.
fn login_with(emulator: &Emulator, ca: &TestCa, env: &[(&str, &str)]) -> Run {
    let helper = Helper::new(emulator, "file");
    helper.run_with(&["get", "--login", "always", "-v", "--ca-file", &ca_path(ca)], env)
}

#[test]
fn https_proxy_carries_every_request() {
    let ca = TestCa::new("proxy");
    let emulator = tls_emulator(&ca);
    let proxy = Proxy::start();

    let run = login_with(&emulator, &ca, &[("HTTPS_PROXY", &proxy.url)]);
    assert!(emulator.accepts_token(&run.exec_token()));
    let stats = proxy.stats();
    let port = emulator.url.rsplit(':').next().unwrap();
    let targets = stats["targets"].as_array().unwrap();
    assert!(!targets.is_empty(), "the proxy opened no tunnel: {stats}");
    for target in targets {
        assert_eq!(target.as_str().unwrap(), format!("127.0.0.1:{port}"), "{stats}");
    }
    assert!(run.stderr.contains("through the proxy `127.0.0.1:"), "{}", run.stderr);
    assert!(run.stderr.contains("from `HTTPS_PROXY`"), "{}", run.stderr);
}

#[test]
fn no_proxy_bypasses_proxy() {
    let ca = TestCa::new("no-proxy");
    let emulator = tls_emulator(&ca);
    let proxy = Proxy::start();

    for no_proxy in ["127.0.0.1", "example.com, 127.0.0.0/8", "localhost,*"] {
        let run = login_with(&emulator, &ca, &[("HTTPS_PROXY", &proxy.url), ("NO_PROXY", no_proxy)]);
        assert_eq!(run.code, 0, "NO_PROXY={no_proxy}: {}", run.stderr);
        assert_eq!(proxy.tunnels(), 0, "NO_PROXY={no_proxy} sent a request through the proxy");
    }

    // An entry for another port does not match.
    let run = login_with(&emulator, &ca, &[("https_proxy", &proxy.url), ("no_proxy", "127.0.0.1:1")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(proxy.tunnels() > 0, "a NO_PROXY entry for port 1 bypassed the proxy");
}

#[test]
fn http_proxy_variable_is_not_used_for_https() {
    let ca = TestCa::new("http-proxy");
    let emulator = tls_emulator(&ca);
    let proxy = Proxy::start();

    let run = login_with(&emulator, &ca, &[("HTTP_PROXY", &proxy.url)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(proxy.tunnels(), 0);
}

#[test]
fn plain_http_uses_http_proxy() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let proxy = Proxy::start();
    let helper = Helper::new(&emulator, "file");

    let run = helper.run_with(&["get", "--login", "always"], &[("http_proxy", &proxy.url), ("HTTPS_PROXY", "http://127.0.0.1:1")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(proxy.tunnels() > 0);
}

#[test]
fn proxy_password_is_sent_but_never_printed() {
    let ca = TestCa::new("proxy-auth");
    let emulator = tls_emulator(&ca);
    let proxy = Proxy::start();
    let with_password = proxy.url.replace("http://", "http://user:pr0xy-s3cret@");

    let run = login_with(&emulator, &ca, &[("HTTPS_PROXY", &with_password)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("pr0xy-s3cret"), "{}", run.stderr);
    let stats = proxy.stats();
    // base64("user:pr0xy-s3cret")
    assert_eq!(stats["proxy_authorization"][0], "Basic dXNlcjpwcjB4eS1zM2NyZXQ=", "{stats}");
}

#[test]
fn invalid_proxy_is_reported_without_its_value() {
    let ca = TestCa::new("bad-proxy");
    let emulator = tls_emulator(&ca);

    let run = login_with(&emulator, &ca, &[("HTTPS_PROXY", "socks5://user:s3cret@127.0.0.1:1080")]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("invalid proxy URL in `HTTPS_PROXY`"), "{}", run.stderr);
    assert!(run.stderr.contains("SOCKS"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret"), "{}", run.stderr);

    // Values that ureq's parser would accept and then use wrongly.
    for (value, why) in [
        ("http://127.0.0.1:99999", "a port from 1 to 65535"),
        ("http://127.0.0.1:+8080", "a port from 1 to 65535"),
        ("http://127.0.0.1", "a port from 1 to 65535"),
        ("http://user:s3cret@:1", "with a host"),
        ("http://user:s3%zzcret@127.0.0.1:1", "`%25`"),
    ] {
        let run = login_with(&emulator, &ca, &[("HTTPS_PROXY", value)]);
        assert_eq!(run.code, 1, "{value}: {}", run.stderr);
        assert!(run.stderr.contains("invalid proxy URL in `HTTPS_PROXY`"), "{value}: {}", run.stderr);
        assert!(run.stderr.contains(why), "{value}: {}", run.stderr);
        assert!(!run.stderr.contains("s3"), "{value}: {}", run.stderr);
        assert!(!run.stderr.contains("retrying"), "{value}: {}", run.stderr);
    }
}

#[test]
fn proxy_refusal_names_proxy_once() {
    let ca = TestCa::new("refusing-proxy");
    let emulator = tls_emulator(&ca);
    let proxy = Proxy::start_with(&["--require-auth"]);

    let run = login_with(&emulator, &ca, &[("HTTPS_PROXY", &proxy.url)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("407"), "{}", run.stderr);
    assert!(run.stderr.contains("from `HTTPS_PROXY`"), "the message names the variable: {}", run.stderr);
    assert!(run.stderr.contains("USER:PASSWORD@"), "the message names the fix: {}", run.stderr);
    assert_eq!(proxy.stats()["rejected"], 1, "a refused tunnel is not retried");
}

#[test]
fn silent_proxy_keeps_refresh_token() {
    let ca = TestCa::new("silent-proxy");
    let emulator = tls_emulator(&ca);
    let helper = Helper::new(&emulator, "file");
    let ca_file = ca_path(&ca);
    let token = helper.run(&["get", "--login", "always", "--ca-file", &ca_file]).exec_token();
    emulator.reset_stats();

    // A proxy that accepts connections and never replies to the CONNECT.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", silent.local_addr().unwrap());
    let renewal = helper.run_with(
        &["get", "--min-ttl", "48h", "--http-timeout", "2s", "--ca-file", &ca_file],
        &[("HTTPS_PROXY", proxy_url.as_str())],
    );
    assert_eq!(renewal.exec_token(), token, "the still-valid token is served: {}", renewal.stderr);
    assert!(renewal.stderr.contains("timed out"), "{}", renewal.stderr);
    assert!(!renewal.stderr.contains("may have reached"), "the refresh never left: {}", renewal.stderr);
    assert_eq!(emulator.stat("token_refresh"), 0);

    // Without the proxy, the same refresh token still works: no login needed.
    let direct = helper.run(&["get", "--min-ttl", "48h", "--login", "never", "--ca-file", &ca_file]);
    assert_eq!(direct.code, 0, "{}", direct.stderr);
    assert_eq!(emulator.stat("token_refresh"), 1);
    drop(silent);
}
