//! Real kubectl (the machine's `/usr/bin/kubectl`) with the helper as its
//! exec credential plugin, against a local HTTPS API stand-in that accepts
//! only tokens the emulator minted.

mod common;

use common::{assert_no_leak, root, Emulator, Helper, Run};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const KUBECTL: &str = "/usr/bin/kubectl";

/// The HTTPS API stand-in, stopped on drop.
struct KubeApi {
    child: Child,
    url: String,
    ca: PathBuf,
}

impl KubeApi {
    fn start(emulator: &Emulator, dir: &Path) -> KubeApi {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .args(["-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl made a certificate");

        let mut child = Command::new("python3")
            .arg(root().join("tests/support/kube_api.py"))
            .args(["--emulator", &emulator.url, "--port", "0"])
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the API stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        KubeApi {
            child,
            url: line.trim().to_string(),
            ca: cert,
        }
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a kubeconfig whose user runs the helper as an exec plugin.
fn kubeconfig(dir: &Path, api: &KubeApi, helper: &Helper, api_version: &str) -> PathBuf {
    let interactive = if api_version.ends_with("/v1") {
        "      interactiveMode: Never\n"
    } else {
        ""
    };
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: biganimal
  user:
    exec:
      apiVersion: {api_version}
      command: {binary}
      args: [get, --login, never]
{interactive}      env:
      - name: BA_API_URI
        value: {api_url}
      - name: BIGANIMAL_CREDENTIAL_DIR
        value: {state}
      - name: BIGANIMAL_CREDENTIAL_STORE
        value: file
contexts:
- name: local
  context: {{cluster: local, user: biganimal}}
current-context: local
",
        server = api.url,
        ca = api.ca.display(),
        binary = common::binary().display(),
        api_url = helper.api,
        state = helper.dir.path().display(),
    );
    let path = dir.join(format!("kubeconfig-{}", api_version.rsplit('/').next().unwrap()));
    std::fs::write(&path, text).unwrap();
    path
}

fn kubectl(config: &Path, args: &[&str]) -> Run {
    let output = Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(config)
        .args(args)
        .env_remove("KUBERNETES_EXEC_INFO")
        .env("HOME", config.parent().unwrap())
        .stdin(Stdio::null())
        .output()
        .expect("kubectl runs");
    Run::from(output)
}

fn kubectl_present() -> bool {
    let present = Path::new(KUBECTL).exists();
    if !present {
        assert!(std::env::var("CI").is_err(), "CI machines have {KUBECTL}");
        eprintln!("kubectl tests skipped: {KUBECTL} is missing");
    }
    present
}

#[test]
fn kubectl_uses_helper_token() {
    if !kubectl_present() {
        return;
    }
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApi::start(&emulator, dir.path());
    assert_eq!(helper.run(&["get", "--login", "always"]).code, 0);

    for version in ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"] {
        let config = kubeconfig(dir.path(), &api, &helper, version);
        let run = kubectl(&config, &["get", "namespaces", "-o", "name"]);
        assert_eq!(run.code, 0, "kubectl with {version}: {}", run.stderr);
        assert_eq!(run.stdout.trim(), "namespace/default", "with {version}");
        assert_no_leak(&run, &emulator.secrets(), None);
    }
}

#[test]
fn kubectl_rejected_without_valid_token() {
    if !kubectl_present() {
        return;
    }
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let dir = tempfile::tempdir().unwrap();
    let api = KubeApi::start(&emulator, dir.path());
    let config = kubeconfig(dir.path(), &api, &helper, "client.authentication.k8s.io/v1");

    let run = kubectl(&config, &["get", "namespaces", "-o", "name"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("run `biganimal-credential login"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}
