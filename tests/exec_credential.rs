//! The ExecCredential output as kubectl reads it: `apiVersion` echoed from
//! `KUBERNETES_EXEC_INFO`, the expiry in RFC 3339 UTC, nothing else on stdout.

mod common;

use common::{Emulator, Helper};

const V1: &str = "client.authentication.k8s.io/v1";
const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

fn logged_in() -> (Emulator, Helper) {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    assert_eq!(helper.run(&["get", "--login", "always"]).code, 0);
    (emulator, helper)
}

fn exec_info(version: &str) -> String {
    format!(r#"{{"kind":"ExecCredential","apiVersion":"{version}","spec":{{"interactive":false}}}}"#)
}

#[test]
fn api_version_is_echoed() {
    let (_emulator, helper) = logged_in();
    let cases = [
        (Some(exec_info(V1)), V1),
        (Some(exec_info(V1BETA1)), V1BETA1),
        (None, V1BETA1),
        (Some(String::new()), V1BETA1),
    ];
    for (info, expected) in cases {
        let run = match &info {
            Some(text) => helper.run_with(&["get"], &[("KUBERNETES_EXEC_INFO", text)]),
            None => helper.run(&["get"]),
        };
        let json = run.json();
        assert_eq!(json["apiVersion"], expected, "for KUBERNETES_EXEC_INFO={info:?}");
        assert_eq!(json["kind"], "ExecCredential");
        assert!(json["status"]["token"].is_string());
    }
}

#[test]
fn expiration_timestamp_is_rfc3339_utc() {
    let (_emulator, helper) = logged_in();
    let json = helper.run(&["get"]).json();
    let stamp = json["status"]["expirationTimestamp"].as_str().unwrap().to_string();
    assert!(stamp.ends_with('Z'), "{stamp}");
    let parsed = time::OffsetDateTime::parse(&stamp, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(parsed > time::OffsetDateTime::now_utc());
}

#[test]
fn bad_exec_info_is_rejected() {
    let (_emulator, helper) = logged_in();
    let cases = [
        ("{not json", "not a JSON object"),
        (r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#, "v1alpha1"),
        (r#"{"apiVersion":"example.com/v9"}"#, "example.com/v9"),
        ("[1]", "expected a JSON object"),
    ];
    for (info, expected) in cases {
        let run = helper.run_with(&["get"], &[("KUBERNETES_EXEC_INFO", info)]);
        assert_eq!(run.code, 2, "for {info}: {}", run.stderr);
        assert!(run.stdout.is_empty());
        assert!(run.stderr.contains(expected), "for {info}: {}", run.stderr);
    }
}

#[test]
fn other_outputs_ignore_exec_info() {
    let (_emulator, helper) = logged_in();
    let run = helper.run_with(&["get", "--output", "token"], &[("KUBERNETES_EXEC_INFO", "{bad")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stdout.ends_with('\n'), "no newline when stdout is a pipe");
    assert!(run.stdout.starts_with("eyJ"));

    let json = helper.run(&["get", "--output", "json"]).json();
    assert_eq!(json["token_type"], "Bearer");
    assert!(json["expiration_timestamp"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn invalid_option_values_name_the_value() {
    let (_emulator, helper) = logged_in();
    let cases: [(&[&str], &str); 4] = [
        (&["get", "--min-ttl", "soon"], "`soon`"),
        (&["get", "--profile", "a/b"], "`a/b`"),
        (&["get", "--api-url", "http://portal.example.com/api/v3"], "loopback"),
        (&["get", "--store", "vault"], "vault"),
    ];
    for (args, expected) in cases {
        let run = helper.run(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}
