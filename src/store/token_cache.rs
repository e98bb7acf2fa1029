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
//! written, and copies left by earlier calls are removed whenever a token
//! is written or deleted.
//!
//! `--store auto` and `--store keychain` keep copies under separate
//! namespaces, because `auto` may use the file store. `auto` may share its
//! store of record with either of the others, so every write or delete of
//! a token through `auto`, `keychain` or `file` removes the copies of the
//! other two. So `logout` with any of them also ends what the others serve.
//!
//! NOTE: the namespaces are per `BIGANIMAL_CREDENTIAL_DIR`, while the
//! Secret Service items are not. A logout with one directory leaves the
//! keychain copy made under another directory until the token expires.

use super::keyutils::KeyutilsStore;
use super::SecretStore;
use crate::log;

/// Store names that may share a store of record: `auto` uses the Secret
/// Service or the file store.
const SHARING_STORES: [&str; 3] = ["auto", "keychain", "file"];

/// The kernel-keyring copy of tokens.
pub struct TokenCache {
    store: &'static str,
    /// False with `BIGANIMAL_KEYUTILS_CACHE=off` and for the file store.
    /// Then no copy is read or written, but copies that other stores or
    /// earlier calls left are still removed when a token is written or
    /// deleted. So a later call never serves a token this call logged out of.
    enabled: bool,
    /// The keyring and names, set up on first use, so that a call that
    /// never touches a copy (a file-store read) makes no keyutils call.
    opened: std::sync::OnceLock<Option<Opened>>,
}

/// The parts of a [`TokenCache`] that need system calls to set up.
struct Opened {
    keyring: KeyutilsStore,
    namespace: String,
    /// Namespaces of the other stores that may share the store of record.
    siblings: Vec<String>,
}

impl TokenCache {
    /// Returns the cache for tokens of the store named `store`. Each
    /// `BIGANIMAL_CREDENTIAL_DIR` (compared after resolving symbolic links
    /// and `..`) gets its own namespace, because that variable sets up a
    /// separate set of credentials (a container, a test).
    pub fn open(store: &'static str) -> TokenCache {
        let setting = crate::config::non_empty_env("BIGANIMAL_KEYUTILS_CACHE");
        let enabled = !matches!(setting.as_deref(), Some("off" | "0" | "false" | "no"));
        TokenCache::new(store, enabled)
    }

    /// Returns the cache of the file store. It keeps no copies of its own,
    /// since reading a file costs what a copy would. It removes the `auto`
    /// and `keychain` copies whenever it writes or deletes a token, because
    /// `auto` may have used the same files.
    pub fn open_for_removal(store: &'static str) -> TokenCache {
        TokenCache::new(store, false)
    }

    fn new(store: &'static str, enabled: bool) -> TokenCache {
        TokenCache {
            store,
            enabled,
            opened: std::sync::OnceLock::new(),
        }
    }

    /// Opens the keyring on first use; `None` where keyutils is blocked.
    fn opened(&self) -> Option<&Opened> {
        self.opened.get_or_init(|| open_keyring(self.store)).as_ref()
    }

    /// Returns the cached copy, or `None` on a miss or any error.
    pub fn get(&self, key: &str) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let opened = self.opened()?;
        opened.keyring.get(&entry_name(&opened.namespace, key)).ok().flatten()
    }

    /// Stores a copy that the kernel drops after `lifetime_seconds`.
    pub fn set(&self, key: &str, value: &str, lifetime_seconds: i64) {
        if !self.enabled {
            return;
        }
        let Some(opened) = self.opened() else {
            return;
        };
        if lifetime_seconds <= 0 {
            self.delete(key);
            return;
        }
        let entry = entry_name(&opened.namespace, key);
        if let Err(e) = opened.keyring.set_with_timeout(&entry, value, lifetime_seconds as u64) {
            log::info(&format!("could not update the keyutils token cache: {e}"));
            self.delete(key);
        }
    }

    /// Removes the copy, and the sibling stores' copies, which may now be
    /// older than the store of record.
    pub fn delete(&self, key: &str) {
        let Some(opened) = self.opened() else {
            return;
        };
        let _ = opened.keyring.delete(&entry_name(&opened.namespace, key));
        for sibling in &opened.siblings {
            let _ = opened.keyring.delete(&entry_name(sibling, key));
        }
    }
}

/// Opens the user keyring and works out the namespaces of `store`.
fn open_keyring(store: &'static str) -> Option<Opened> {
    let keyring = match KeyutilsStore::open() {
        Ok(keyring) => keyring,
        Err(e) => {
            log::info(&format!("the keyutils token cache is not used: {e}"));
            return None;
        }
    };
    let dir = crate::config::non_empty_env("BIGANIMAL_CREDENTIAL_DIR").map(|dir| {
        std::fs::canonicalize(&dir)
            .map(|path| path.to_string_lossy().into_owned())
            .unwrap_or_else(|_| dir.trim_end_matches('/').to_string())
    });
    let namespace_of = |name: &str| match &dir {
        Some(dir) => format!("{name}:{}", super::short_hash(dir)),
        None => name.to_string(),
    };
    let mut siblings = Vec::new();
    if SHARING_STORES.contains(&store) {
        for other in SHARING_STORES.iter().filter(|&&other| other != store) {
            siblings.push(namespace_of(other));
        }
    }
    Some(Opened {
        keyring,
        namespace: namespace_of(store),
        siblings,
    })
}

fn entry_name(namespace: &str, key: &str) -> String {
    format!("cache:{namespace}:{key}")
}
