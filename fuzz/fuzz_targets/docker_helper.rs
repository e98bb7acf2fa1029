//! Fuzzes the readers of docker's credential-helper requests:
//! `protocol::docker::read_server_url` for `get` and `erase`, and
//! `read_store_request` for `store`.
//!
//! The input is what docker writes to the helper's stdin. Checks: an error
//! message has one of the fixed forms, so it never quotes the input, which
//! for `store` contains a secret. An accepted server URL is trimmed and has
//! no NUL. The `get` response for it is JSON that names the same URL.

#![no_main]

use biganimal_credential::protocol::docker::{self, NO_SERVER_URL, NO_USERNAME};
use biganimal_credential::protocol::server::Target;
use biganimal_credential::protocol::too_long;
use biganimal_credential::secret::Secret;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match docker::read_server_url(&mut &data[..]) {
        Ok(url) => check_server_url(&url),
        Err(error) => {
            let fixed = [
                NO_SERVER_URL,
                "the server URL is not valid UTF-8",
                "the server URL contains a NUL byte",
            ];
            assert!(fixed.contains(&error.0.as_str()) || error == too_long(), "unexpected error: {error}");
        }
    }

    match docker::read_store_request(&mut &data[..]) {
        Ok(url) => check_server_url(&url),
        Err(error) => {
            let message = error.0.as_str();
            let position = message
                .strip_prefix("invalid store request: expected a JSON object with `ServerURL`, `Username` and `Secret` (line ")
                .and_then(|rest| rest.strip_suffix(')'))
                .and_then(|rest| rest.split_once(", column "));
            let is_position = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
            let fixed = message == NO_SERVER_URL
                || message == NO_USERNAME
                || error == too_long()
                || position.is_some_and(|(line, column)| is_position(line) && is_position(column));
            assert!(fixed, "unexpected error: {message:?}");
        }
    }
});

fn check_server_url(url: &str) {
    assert!(!url.is_empty());
    assert_eq!(url, url.trim());
    assert!(!url.contains('\0'));

    let _ = Target::parse(url);

    let response = docker::render_response(url, &Secret::new("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"));
    let value: serde_json::Value = serde_json::from_str(&response).expect("the response is JSON");
    assert_eq!(value["ServerURL"].as_str(), Some(url));
}
