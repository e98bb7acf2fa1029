//! BigAnimal access keys: long-lived `baak_…` keys that EDB recommends for
//! automation, sent in the `x-access-key` header instead of a bearer token.
//!
//! A profile uses an access key when `BA_ACCESS_KEY` is set, the variable
//! EDB's edb-terraform scripts read, or when one was imported with
//! `import-access-key`. The variable wins over a stored key. A key is
//! served as it is: there is no exchange and no refresh. A stored key past
//! the expiry given at import is an error, so a script fails with the fix
//! instead of a 401 from the API.

use crate::clock::{from_unix, rfc3339};
use crate::secret::Secret;
use crate::store::record::{AccessKeyRecord, FORMAT_VERSION};
use time::OffsetDateTime;

/// The environment variable that overrides a stored key.
pub const ENV: &str = "BA_ACCESS_KEY";

/// The prefix of every BigAnimal access key.
pub const PREFIX: &str = "baak_";

/// The header that carries an access key.
pub const HEADER: &str = "x-access-key";

/// Shortest and longest accepted key, prefix included.
// NOTE: EDB publishes no key format beyond the `baak_` prefix. These bounds
// and the character set only catch paste mistakes (quotes, spaces, a
// `Bearer ` prefix, a truncated key), and a real key may need them widened.
const MIN_LEN: usize = PREFIX.len() + 8;
const MAX_LEN: usize = 1024;

/// The origin of a key in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The `BA_ACCESS_KEY` environment variable.
    Environment,
    /// The store, from `import-access-key`.
    Store,
}

/// An access key in use.
pub struct AccessKey {
    /// The `baak_…` key.
    pub key: Secret,
    /// Expiry stated at import; unknown for a key from the environment.
    pub expires_at: Option<OffsetDateTime>,
    /// Its origin.
    pub source: KeySource,
}

impl AccessKey {
    /// Reads a key from the `BA_ACCESS_KEY` value; empty counts as unset.
    pub fn from_env(value: Option<&str>) -> Result<Option<AccessKey>, String> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let key = validate(strip_one_newline(value)).map_err(|why| format!("invalid `{ENV}`: {why}"))?;
        Ok(Some(AccessKey {
            key,
            expires_at: None,
            source: KeySource::Environment,
        }))
    }

    /// Wraps a stored record.
    pub fn from_record(record: AccessKeyRecord) -> AccessKey {
        AccessKey {
            key: record.access_key,
            expires_at: record.expires_at.map(from_unix),
            source: KeySource::Store,
        }
    }

    /// Describes the source for messages: `BA_ACCESS_KEY` or `stored`.
    pub fn origin(&self) -> String {
        match self.source {
            KeySource::Environment => format!("from `{ENV}`"),
            KeySource::Store => "stored".to_string(),
        }
    }

    /// Fails when the key is past its stated expiry, with the fix.
    pub fn check_expiry(&self, now: OffsetDateTime, profile: &str) -> Result<(), String> {
        match self.expires_at {
            Some(at) if at <= now => Err(format!(
                "the access key of profile `{profile}` expired at {}; create a new key in the BigAnimal \
                 portal (My Account, Access Keys) and run `biganimal-credential import-access-key{}`",
                rfc3339(at),
                profile_option(profile)
            )),
            _ => Ok(()),
        }
    }
}

/// Returns ` --profile NAME` for a profile other than `default`.
pub fn profile_option(profile: &str) -> String {
    if profile == "default" {
        String::new()
    } else {
        format!(" --profile {profile}")
    }
}

/// Checks the shape of a key: `baak_`, then letters, digits or `-._~+/=`.
/// The message never contains the key.
pub fn validate(text: &str) -> Result<Secret, String> {
    if !text.starts_with(PREFIX) {
        return Err(format!("an access key starts with `{PREFIX}`"));
    }
    if !(MIN_LEN..=MAX_LEN).contains(&text.len()) {
        return Err(format!("an access key has {MIN_LEN} to {MAX_LEN} characters; this one has {}", text.len()));
    }
    let valid = text[PREFIX.len()..]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b));
    if !valid {
        return Err("the key contains a space, quote, line break or other character that keys do not have".to_string());
    }
    Ok(Secret::new(text))
}

/// Removes one trailing LF or CRLF, as `echo` and editors add.
pub fn strip_one_newline(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

/// Builds the record to store for a key imported at `now`.
pub fn record(key: Secret, now: OffsetDateTime, expires_at: Option<OffsetDateTime>) -> AccessKeyRecord {
    AccessKeyRecord {
        v: FORMAT_VERSION,
        access_key: key,
        imported_at: now.unix_timestamp(),
        expires_at: expires_at.map(OffsetDateTime::unix_timestamp),
    }
}

/// Parses `--expires-at`: an RFC 3339 time such as `2027-01-31T00:00:00Z`.
pub fn parse_expires_at(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("invalid time `{text}`: use RFC 3339, such as `2027-01-31T00:00:00Z`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const KEY: &str = "baak_0123456789abcdefXYZ";

    #[test]
    fn validate_accepts_key() {
        assert_eq!(validate(KEY).unwrap().expose(), KEY);
    }

    #[test]
    fn validate_rejects_without_echo() {
        let cases = [
            ("0123456789abcdef", "starts with `baak_`"),
            ("baak_short", "this one has 10"),
            ("baak_0123456789 abcdef", "contains a space"),
            ("\"baak_0123456789abcdef\"", "starts with"),
            ("baak_0123456789abcdef\n", "line break"),
        ];
        for (text, expected) in cases {
            let err = validate(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
            assert!(!err.contains("0123456789"), "the key stays out of the message: {err}");
        }
        assert!(validate(&format!("baak_{}", "a".repeat(MAX_LEN))).is_err());
    }

    #[test]
    fn strip_one_newline_only() {
        assert_eq!(strip_one_newline("k\n"), "k");
        assert_eq!(strip_one_newline("k\r\n"), "k");
        assert_eq!(strip_one_newline("k\n\n"), "k\n");
        assert_eq!(strip_one_newline("k"), "k");
    }

    #[test]
    fn env_key_wins_when_set() {
        assert!(AccessKey::from_env(None).unwrap().is_none());
        assert!(AccessKey::from_env(Some("")).unwrap().is_none());
        let key = AccessKey::from_env(Some(KEY)).unwrap().unwrap();
        assert_eq!(key.source, KeySource::Environment);
        let err = AccessKey::from_env(Some("Bearer x")).err().unwrap();
        assert!(err.starts_with("invalid `BA_ACCESS_KEY`"), "{err}");
    }

    #[test]
    fn expiry_check_names_fix() {
        let now = datetime!(2026-06-01 00:00:00 UTC);
        let record = record(Secret::new(KEY), now, Some(now));
        let key = AccessKey::from_record(record);
        let err = key.check_expiry(now, "ci").unwrap_err();
        assert_eq!(
            err,
            "the access key of profile `ci` expired at 2026-06-01T00:00:00Z; create a new key in the \
             BigAnimal portal (My Account, Access Keys) and run `biganimal-credential import-access-key --profile ci`"
        );
        assert!(key.check_expiry(now - time::Duration::seconds(1), "ci").is_ok());
    }

    #[test]
    fn expires_at_parses_rfc3339() {
        assert_eq!(parse_expires_at("2027-01-31T00:00:00Z").unwrap(), datetime!(2027-01-31 00:00:00 UTC));
        assert!(parse_expires_at("2027-01-31").unwrap_err().contains("RFC 3339"));
    }
}
