//! Fuzzes the JWT payload readers `payload`, `expiry` and `email`.
//!
//! Each input is tried twice: as a whole token, and as the decoded payload
//! of a token built around it, so that mutations reach the JSON reader
//! without having to keep the base64url encoding valid.
//!
//! Checks: `expiry` returns a value exactly when the payload is a JSON
//! object with a numeric `exp` in the accepted range. `email` returns only
//! text without control characters, at most 254 characters long.

#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use biganimal_credential::oauth::jwt;
use libfuzzer_sys::fuzz_target;

/// First second of the year 10000, the exclusive upper bound `expiry` accepts.
const MAX_EXP: f64 = 253_402_300_800.0;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_token(&text);

    let built = format!("eyJhbGciOiJSUzI1NiJ9.{}.c2lnbmF0dXJl", URL_SAFE_NO_PAD.encode(data));
    check_token(&built);

    let claims = serde_json::from_slice::<serde_json::Value>(data).ok();
    let expected_exp = claims
        .as_ref()
        .filter(|_| built.len() <= 64 * 1024)
        .and_then(|claims| claims.as_object())
        .and_then(|claims| claims.get("exp"))
        .and_then(|exp| exp.as_f64())
        .filter(|exp| *exp > 0.0 && *exp < MAX_EXP)
        .map(|exp| exp as i64);
    assert_eq!(jwt::expiry(&built), expected_exp, "expiry of a token built from the payload");
});

fn check_token(token: &str) {
    let payload = jwt::payload(token);

    match jwt::expiry(token) {
        Some(exp) => {
            let claims = payload.as_ref().expect("expiry without a payload");
            let raw = claims.get("exp").and_then(|v| v.as_f64()).expect("expiry without a numeric `exp`");
            assert!(raw > 0.0, "`exp` {raw} is not positive");
            assert!(raw < MAX_EXP, "`exp` {raw} is past the year 9999");
            assert_eq!(exp, raw as i64);
        }
        None => {
            let in_range = payload
                .as_ref()
                .and_then(|claims| claims.get("exp"))
                .and_then(|v| v.as_f64())
                .is_some_and(|raw| raw > 0.0 && raw < MAX_EXP);
            assert!(!in_range, "a numeric `exp` in range was ignored");
        }
    }

    if let Some(email) = jwt::email(token) {
        assert!(payload.as_ref().and_then(|c| c.get("email")).is_some_and(|e| e.is_string()));
        assert!(!email.chars().any(char::is_control), "control character in {email:?}");
        assert!(email.chars().count() <= 254, "e-mail longer than 254 characters");
    }
}
