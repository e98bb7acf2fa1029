//! Fuzzes `requested_version`, which reads `KUBERNETES_EXEC_INFO`.
//!
//! The input is the variable's value. Checks: the result is one of the two
//! supported versions, a request that names a supported version gets that
//! version back, and an error message stays short and free of control
//! characters, since it is printed to a terminal.

#![no_main]

use biganimal_credential::output::exec_credential::{requested_version, SUPPORTED_VERSIONS};
use libfuzzer_sys::fuzz_target;

/// Maximum error message length, in characters: the fixed text plus at most
/// 80 characters of the version.
const MAX_ERROR_CHARS: usize = 400;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match requested_version(Some(&text)) {
        Ok(version) => {
            assert!(SUPPORTED_VERSIONS.contains(&version), "unsupported version {version:?}");
            let requested = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|value| value.get("apiVersion").and_then(|v| v.as_str()).map(str::to_string));
            if let Some(requested) = requested {
                assert_eq!(requested, version, "the requested version was not echoed");
            }
        }
        Err(message) => {
            assert!(!message.chars().any(char::is_control), "control character in {message:?}");
            assert!(message.chars().count() <= MAX_ERROR_CHARS, "error too long: {message:?}");
        }
    }
});
