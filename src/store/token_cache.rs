//! A copy of each BigAnimal token in the kernel keyring, in front of the
//! Secret Service.
//!
//! A Secret Service lookup needs a D-Bus connection and a session
//! handshake; a keyutils lookup is one system call. Only the short-lived
//! BigAnimal token is copied, never the refresh token or an access key,
//! and each copy is given a kernel timeout at the token's expiry, so it
//! disappears on its own. Entries are namespaced by the store of record.
//!
//! Every write of a token happens under the identity's lock and goes to
//! the store of record first, then here; deletes go to both. A failed
//! write here removes the copy, so the cache can be missing an entry but
//! never serves an older token than the store of record after a write.
//! `BIGANIMAL_KEYUTILS_CACHE=off` turns the cache off: no copy is read or
//! written, and copies left by earlier calls are removed as above.
//!
//! `--store auto` and `--store keychain` keep copies under separate
//! namespaces, because `auto` may use the file store. Both may use the
//! same Secret Service items, so every write or delete of a token through
//! one also removes the other's copy. So `logout` with either store also
//! ends what the other serves.

use super::keyutils::KeyutilsStore;
use super::SecretStore;
use crate::log;

/// Store names whose copies may come from the same Secret Service items.
const SECRET_SERVICE_STORES: [&str; 2] = ["auto", "keychain"];

/// The kernel-keyring copy of tokens.
pub struct TokenCache {
    keyring: KeyutilsStore,
    namespace: String,
    /// Namespaces of the other stores that may share the store of record.
    siblings: Vec<String>,
    /// False with `BIGANIMAL_KEYUTILS_CACHE=off`: no copy is read or
    /// written, but copies that earlier calls left are still removed
    /// wherever the store of record changes, so that a later call with
    /// the cache on never serves a token this call logged out of.
    enabled: bool,
}

impl TokenCache {
    /// Opens the cache for tokens of the store named `store`; `None` where
    /// keyutils is blocked or the cache is turned off. Each
    /// `BIGANIMAL_CREDENTIAL_DIR` gets its own namespace, because that
    /// variable sets up a separate set of credentials (a container, a test).
    pub fn open(store: &'static str) -> Option<TokenCache> {
        let setting = crate::config::non_empty_env("BIGANIMAL_KEYUTILS_CACHE");
        let enabled = !matches!(setting.as_deref(), Some("off" | "0" | "false" | "no"));
        let dir = crate::config::non_empty_env("BIGANIMAL_CREDENTIAL_DIR");
        let namespace_of = |name: &str| match &dir {
            Some(dir) => format!("{name}:{}", super::short_hash(dir)),
            None => name.to_string(),
        };
        let mut siblings = Vec::new();
        if SECRET_SERVICE_STORES.contains(&store) {
            for other in SECRET_SERVICE_STORES.iter().filter(|&&other| other != store) {
                siblings.push(namespace_of(other));
            }
        }
        let namespace = namespace_of(store);
        match KeyutilsStore::open() {
            Ok(keyring) => Some(TokenCache {
                keyring,
                namespace,
                siblings,
                enabled,
            }),
            Err(e) => {
                log::info(&format!("the keyutils token cache is not used: {e}"));
                None
            }
        }
    }

    fn entry(&self, key: &str) -> String {
        entry_name(&self.namespace, key)
    }

    /// Removes the sibling stores' copies, which may now be older than the
    /// store of record.
    fn delete_siblings(&self, key: &str) {
        for sibling in &self.siblings {
            let _ = self.keyring.delete(&entry_name(sibling, key));
        }
    }

    /// Returns the cached copy, or `None` on a miss or any error.
    pub fn get(&self, key: &str) -> Option<String> {
        if !self.enabled {
            return None;
        }
        self.keyring.get(&self.entry(key)).ok().flatten()
    }

    /// Stores a copy that the kernel drops after `lifetime_seconds`.
    pub fn set(&self, key: &str, value: &str, lifetime_seconds: i64) {
        let entry = self.entry(key);
        if !self.enabled || lifetime_seconds <= 0 {
            self.delete(key);
            return;
        }
        if let Err(e) = self.keyring.set_with_timeout(&entry, value, lifetime_seconds as u64) {
            log::info(&format!("could not update the keyutils token cache: {e}"));
            self.delete(key);
        }
    }

    /// Removes the copy, and the sibling stores' copies.
    pub fn delete(&self, key: &str) {
        let _ = self.keyring.delete(&self.entry(key));
        self.delete_siblings(key);
    }
}

fn entry_name(namespace: &str, key: &str) -> String {
    format!("cache:{namespace}:{key}")
}
