//! The two records kept per identity, each in its own store entry, and the
//! access-key record kept per profile and API base.
//!
//! The BigAnimal token and the refresh token live in separate entries so
//! that no entry grows past what a keychain accepts (Windows Credential
//! Manager caps a secret at 2560 bytes) and so that forgetting one leaves
//! the other intact. All records are JSON with a format version.

use crate::secret::Secret;
use serde::{Deserialize, Serialize};

/// The record format written by this version.
pub const FORMAT_VERSION: u32 = 1;

/// The BigAnimal API token and when it expires.
#[derive(Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Format version, [`FORMAT_VERSION`].
    pub v: u32,
    /// The BigAnimal bearer token.
    pub token: Secret,
    /// Expiry in Unix seconds.
    pub expires_at: i64,
    /// When the token was obtained, in Unix seconds.
    pub obtained_at: i64,
}

/// The refresh token and what is needed to use it without discovery.
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// Format version, [`FORMAT_VERSION`].
    pub v: u32,
    /// The current refresh token of this login.
    pub refresh_token: Secret,
    /// The issuer the token belongs to.
    pub issuer: String,
    /// The client id the token was issued to.
    pub client_id: String,
    /// When the device login happened, in Unix seconds; the token family's
    /// lifetime counts from here and rotation does not extend it.
    pub login_at: i64,
    /// When the refresh token was last rotated, in Unix seconds.
    pub rotated_at: i64,
    /// The account's e-mail from the ID token, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Set, in Unix seconds, just before the refresh token is sent, and
    /// cleared when the answer is stored. Found set by a later process, it
    /// means a refresh ended without its outcome being stored (a crash, a
    /// lost response), so the issuer may already have rotated this token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_started_at: Option<i64>,
}

/// An access key imported with `import-access-key`, kept per profile and
/// API base.
#[derive(Clone, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    /// Format version, [`FORMAT_VERSION`].
    pub v: u32,
    /// The `baak_…` key.
    pub access_key: Secret,
    /// When it was imported, in Unix seconds.
    pub imported_at: i64,
    /// When it expires, in Unix seconds, if the import stated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// Parses a stored record, accepting only the known format version.
pub fn parse<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({})", e.classify_name()))?;
    match value.get("v").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => return Err(format!("format version {v} is not supported by this build")),
        None => return Err("the format version is missing".to_string()),
    }
    serde_json::from_value(value).map_err(|e| format!("a field is missing or has the wrong type ({})", e.classify_name()))
}

/// Serializes a record.
pub fn to_text<T: Serialize>(record: &T) -> String {
    serde_json::to_string(record).expect("records contain only strings and integers")
}

/// A short name of a serde_json error category, without echoing input.
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_record_round_trip() {
        let record = TokenRecord {
            v: FORMAT_VERSION,
            token: Secret::new("tok"),
            expires_at: 100,
            obtained_at: 50,
        };
        let back: TokenRecord = parse(&to_text(&record)).unwrap();
        assert_eq!(back.token.expose(), "tok");
        assert_eq!(back.expires_at, 100);
    }

    #[test]
    fn parse_rejects_garbage_without_echo() {
        let err = parse::<TokenRecord>("secret-looking{garbage").err().unwrap();
        assert!(!err.contains("secret-looking"), "{err}");
        let err = parse::<TokenRecord>(r#"{"v":1,"token":7}"#).err().unwrap();
        assert!(err.contains("wrong type"), "{err}");
        let err = parse::<TokenRecord>(r#"{"v":9}"#).err().unwrap();
        assert!(err.contains("version 9"), "{err}");
    }
}
