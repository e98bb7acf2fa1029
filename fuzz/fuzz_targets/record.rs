//! Fuzzes `store::record::parse` for the three record types, as read back
//! from a keychain, the kernel keyring or the file store, where the entry
//! can be corrupt or written by another program.
//!
//! Checks: an error message is one of the fixed forms, so it never quotes
//! the stored text, which may contain a token. A record that parses has the
//! current format version and survives a write and a second parse.

#![no_main]

use biganimal_credential::store::record::{self, AccessKeyRecord, RefreshRecord, TokenRecord, FORMAT_VERSION};
use libfuzzer_sys::fuzz_target;

/// The serde_json error categories `parse` names in its messages.
const CATEGORIES: [&str; 4] = ["(read error)", "(syntax error)", "(unexpected data)", "(truncated)"];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    match record::parse::<TokenRecord>(&text) {
        Ok(parsed) => {
            assert_eq!(parsed.v, FORMAT_VERSION);
            let again: TokenRecord = record::parse(&record::to_text(&parsed)).expect("a written token record parses");
            assert_eq!(again.token.expose(), parsed.token.expose());
            assert_eq!(again.expires_at, parsed.expires_at);
            assert_eq!(again.obtained_at, parsed.obtained_at);
        }
        Err(message) => check_error(&message),
    }

    match record::parse::<RefreshRecord>(&text) {
        Ok(parsed) => {
            assert_eq!(parsed.v, FORMAT_VERSION);
            let again: RefreshRecord =
                record::parse(&record::to_text(&parsed)).expect("a written refresh record parses");
            assert_eq!(again.refresh_token.expose(), parsed.refresh_token.expose());
            assert_eq!(again.issuer, parsed.issuer);
            assert_eq!(again.client_id, parsed.client_id);
            assert_eq!(again.login_at, parsed.login_at);
            assert_eq!(again.rotated_at, parsed.rotated_at);
            assert_eq!(again.email, parsed.email);
            assert_eq!(again.refresh_started_at, parsed.refresh_started_at);
        }
        Err(message) => check_error(&message),
    }

    match record::parse::<AccessKeyRecord>(&text) {
        Ok(parsed) => {
            assert_eq!(parsed.v, FORMAT_VERSION);
            let again: AccessKeyRecord =
                record::parse(&record::to_text(&parsed)).expect("a written access key record parses");
            assert_eq!(again.access_key.expose(), parsed.access_key.expose());
            assert_eq!(again.imported_at, parsed.imported_at);
            assert_eq!(again.expires_at, parsed.expires_at);
        }
        Err(message) => check_error(&message),
    }
});

/// Asserts that `message` is one of the fixed forms `parse` produces.
fn check_error(message: &str) {
    let fixed_form = if let Some(category) = message.strip_prefix("not JSON ") {
        CATEGORIES.contains(&category)
    } else if let Some(category) = message.strip_prefix("a field is missing or has the wrong type ") {
        CATEGORIES.contains(&category)
    } else if let Some(rest) = message.strip_prefix("format version ") {
        rest.strip_suffix(" is not supported by this build")
            .is_some_and(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
    } else {
        message == "the format version is missing"
    };
    assert!(fixed_form, "unexpected error form: {message:?}");
}
