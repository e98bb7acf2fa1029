//! Reads claims from a JWT payload without verifying its signature.
//!
//! The helper only needs hints for itself: when the BigAnimal token expires
//! (`exp`) and which account an ID token names (`email`). The servers that
//! accept these tokens check them; a client-side check would add a key
//! fetch and prove nothing. Anything that does not decode yields `None`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// Longest token this module decodes, in bytes; larger input is ignored.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Decodes the payload of a compact JWS into a JSON object.
pub fn payload(token: &str) -> Option<serde_json::Map<String, Value>> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Returns the `exp` claim in Unix seconds, when present and numeric.
pub fn expiry(token: &str) -> Option<i64> {
    let exp = payload(token)?.get("exp")?.as_f64()?;
    if exp.is_finite() && exp > 0.0 && exp < 253_402_300_800.0 {
        Some(exp as i64)
    } else {
        None
    }
}

/// Returns the `email` claim, when present.
pub fn email(token: &str) -> Option<String> {
    let email = payload(token)?.get("email")?.as_str()?.to_string();
    Some(email.chars().filter(|c| !c.is_control()).take(254).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(payload: &str) -> String {
        format!("eyJhbGciOiJIUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn expiry_from_exp_claim() {
        assert_eq!(expiry(&token(r#"{"exp":1767225600}"#)), Some(1_767_225_600));
        assert_eq!(expiry(&token(r#"{"exp":1767225600.5}"#)), Some(1_767_225_600));
    }

    #[test]
    fn expiry_absent_or_odd() {
        assert_eq!(expiry(&token(r#"{"sub":"x"}"#)), None);
        assert_eq!(expiry(&token(r#"{"exp":"soon"}"#)), None);
        assert_eq!(expiry(&token(r#"{"exp":-1}"#)), None);
        assert_eq!(expiry(&token(r#"{"exp":1e300}"#)), None);
        assert_eq!(expiry(&token("[1,2]")), None);
        assert_eq!(expiry("opaque-token"), None);
        assert_eq!(expiry("a.%%%.c"), None);
        assert_eq!(expiry("a.b.c.d"), None);
    }

    #[test]
    fn padded_payload_decodes() {
        let padded = format!(
            "h.{}.s",
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":12345}"#)
        );
        assert_eq!(expiry(&padded), Some(12345));
    }

    #[test]
    fn email_claim() {
        assert_eq!(
            email(&token(r#"{"email":"alice@example.com"}"#)),
            Some("alice@example.com".to_string())
        );
        assert_eq!(email(&token(r#"{"email":7}"#)), None);
    }
}
