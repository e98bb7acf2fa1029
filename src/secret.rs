//! A string that must never reach a log, an error message or `Debug` output.
//!
//! Tokens, refresh tokens, device codes and access keys travel in [`Secret`].
//! It has no `Display`, its `Debug` prints a placeholder, and the raw value
//! comes out only through [`Secret::expose`], which the code calls where the
//! value is sent: an HTTP body or header, a keychain write, or stdout.

use std::fmt;

/// A secret string with a redacting `Debug` and no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Returns the raw value, for the places where it is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_value() {
        let secret = Secret::new("eyJhbGciOiJIUzI1NiJ9.payload.signature");
        let debug = format!("{secret:?}");
        assert!(!debug.contains("eyJ"));
        assert_eq!(debug, "Secret([redacted])");
    }
}
