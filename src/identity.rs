//! Who a credential belongs to, and the cached provider discovery that
//! names it without a network call.
//!
//! A stored credential is keyed by profile, API base, issuer, client id
//! and audience, so a token is never served to another account or
//! environment. The discovery result is not secret and lives in a plain
//! cache file; a login fetches it afresh and rewrites the cache.

use crate::oauth::Provider;
use crate::store::{file, short_hash};
use std::path::PathBuf;

/// The account and environment a credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The profile name, `default` unless chosen.
    pub profile: String,
    /// The API base, such as `https://portal.biganimal.com/api/v3`.
    pub api_url: String,
    /// The issuer base, without a trailing slash.
    pub issuer: String,
    /// The OAuth client id in use (the free-trial one with `--free-trial`).
    pub client_id: String,
    /// The audience requested for access tokens.
    pub audience: String,
    /// The scopes requested at login.
    pub scope: String,
}

impl Identity {
    /// Builds the identity from a discovery result.
    pub fn new(profile: &str, api_url: &str, provider: &Provider, free_trial: bool) -> Result<Identity, String> {
        let issuer = crate::config::validate_url("issuer URI from provider discovery", &provider.issuer_uri)?;
        let client_id = if free_trial {
            provider.freetrial_client_id.clone().filter(|id| !id.is_empty()).ok_or_else(|| {
                format!(
                    "`--free-trial` was given but `{api_url}/auth/provider` returned no `freetrialClientId`; \
                     log in without `--free-trial`"
                )
            })?
        } else {
            provider.client_id.clone()
        };
        Ok(Identity {
            profile: profile.to_string(),
            api_url: api_url.to_string(),
            issuer,
            client_id,
            audience: provider.audience.clone(),
            scope: provider.scope.clone(),
        })
    }

    /// Returns the store key: every field that separates accounts and environments.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.profile, self.api_url, self.issuer, self.client_id, self.audience
        )
    }

    /// Returns the lock file name: readable profile plus a hash of the key.
    pub fn lock_name(&self) -> String {
        format!("{}-{}", self.profile, short_hash(&self.key()))
    }
}

/// Provider discovery results cached on disk, one file per API base.
pub struct DiscoveryCache {
    dir: PathBuf,
}

impl DiscoveryCache {
    /// Uses `dir` for cache files.
    pub fn new(dir: PathBuf) -> Self {
        DiscoveryCache { dir }
    }

    fn path(&self, api_url: &str) -> PathBuf {
        self.dir.join(format!("provider-{}.json", short_hash(api_url)))
    }

    /// Reads the cached discovery for `api_url`; `None` when absent or unreadable.
    pub fn load(&self, api_url: &str) -> Option<Provider> {
        let text = std::fs::read_to_string(self.path(api_url)).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        if value.get("apiUrl")?.as_str()? != api_url {
            return None;
        }
        serde_json::from_value(value.get("provider")?.clone()).ok()
    }

    /// Writes the discovery for `api_url`.
    pub fn save(&self, api_url: &str, provider: &Provider) -> std::io::Result<()> {
        file::create_private_dir(&self.dir)?;
        let text = serde_json::json!({ "apiUrl": api_url, "provider": provider }).to_string();
        file::write_atomically(&self.path(api_url), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Provider {
        Provider {
            client_id: "cli".to_string(),
            freetrial_client_id: None,
            issuer_uri: "https://auth.example.com/".to_string(),
            scope: "openid offline_access".to_string(),
            audience: "https://portal.example.com/api".to_string(),
        }
    }

    #[test]
    fn key_separates_profiles_and_clients() {
        let a = Identity::new("a", "https://p/api/v3", &provider(), false).unwrap();
        let b = Identity::new("b", "https://p/api/v3", &provider(), false).unwrap();
        assert_ne!(a.key(), b.key());
        assert_eq!(a.issuer, "https://auth.example.com");
    }

    #[test]
    fn free_trial_needs_its_client_id() {
        let err = Identity::new("a", "https://p/api/v3", &provider(), true).unwrap_err();
        assert!(err.contains("freetrialClientId"), "{err}");
        let mut with_trial = provider();
        with_trial.freetrial_client_id = Some("trial".to_string());
        let id = Identity::new("a", "https://p/api/v3", &with_trial, true).unwrap();
        assert_eq!(id.client_id, "trial");
    }

    #[test]
    fn insecure_issuer_is_rejected() {
        let mut bad = provider();
        bad.issuer_uri = "http://auth.example.com/".to_string();
        assert!(Identity::new("a", "https://p/api/v3", &bad, false).is_err());
    }

    #[test]
    fn discovery_cache_round_trip() {
        let dir = std::env::temp_dir().join(format!("bac-discovery-{}", std::process::id()));
        let cache = DiscoveryCache::new(dir);
        assert!(cache.load("https://p/api/v3").is_none());
        cache.save("https://p/api/v3", &provider()).unwrap();
        assert_eq!(cache.load("https://p/api/v3"), Some(provider()));
        assert!(cache.load("https://other/api/v3").is_none());
    }
}
