//! The credential a profile presents to the BigAnimal API: a bearer token
//! from the OAuth session, or an access key.

use crate::access_key::{AccessKey, KeySource};
use crate::session::Credential;

/// The credential a command serves.
pub enum ApiCredential {
    /// A BigAnimal token, sent as `Authorization: Bearer …`.
    Bearer(Credential),
    /// An access key, sent as `x-access-key: …`.
    AccessKey(AccessKey),
}

/// Explains that `output` can carry only a bearer token while the profile
/// uses an access key, and names the forms that can carry the key.
pub fn bearer_only_message(output: &str, key: &AccessKey, profile: &str) -> String {
    let to_bearer = match key.source {
        KeySource::Environment => format!("unset `{}`", crate::access_key::ENV),
        KeySource::Store => "choose a profile without an access key (`--profile`)".to_string(),
    };
    format!(
        "{output} can carry only a bearer token, but profile `{profile}` uses an access key ({}); \
         `biganimal-credential get --output header`, `--output env` and `--output json` and \
         `biganimal-credential exec` send the key as `x-access-key`, or {to_bearer} to use a device login",
        key.origin()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn bearer_only_names_output_and_alternatives() {
        let key = AccessKey {
            key: Secret::new("baak_secretvalue"),
            expires_at: None,
            source: KeySource::Environment,
        };
        let message = bearer_only_message("git", &key, "ci");
        assert!(message.starts_with("git can carry only a bearer token"), "{message}");
        assert!(message.contains("profile `ci` uses an access key (from `BA_ACCESS_KEY`)"), "{message}");
        assert!(message.contains("--output header"), "{message}");
        assert!(message.ends_with("unset `BA_ACCESS_KEY` to use a device login"), "{message}");
        assert!(!message.contains("secretvalue"), "{message}");
    }
}
