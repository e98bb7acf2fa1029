//! Credential storage: the OS keychain, the Linux kernel keyring, or a
//! private file, behind one small interface.
//!
//! Each identity has two entries, `…/token` and `…/refresh`, and a profile
//! with an imported access key has one more, `…/access-key` (see
//! [`record`]). Unreadable or corrupt entries are reported on stderr and
//! treated as absent, so a damaged store leads to a refresh or a new login,
//! never to a crash.

pub mod file;
pub mod keychain;
#[cfg(target_os = "linux")]
pub mod keyutils;
pub mod lazy;
pub mod lock;
pub mod record;
pub mod select;
#[cfg(target_os = "linux")]
pub mod token_cache;

use crate::log;
use record::{AccessKeyRecord, RefreshRecord, TokenRecord};
use std::fmt;
use std::time::Duration;

/// A failed store operation.
#[derive(Debug, Clone)]
pub struct StoreError {
    /// The store, such as `Secret Service` or `file`.
    pub store: &'static str,
    /// The attempted action, such as `read` or `write`.
    pub action: &'static str,
    /// The cause, in words. It never contains a stored value.
    pub detail: String,
    /// True when the store does not exist on this machine at all (no
    /// D-Bus session, no Secret Service), as opposed to failing.
    pub unavailable: bool,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not {} the {} store: {}", self.action, self.store, self.detail)
    }
}

impl std::error::Error for StoreError {}

/// A key-value store for secret strings.
pub trait SecretStore: Send + Sync {
    /// Returns the store's name for messages, such as `Secret Service`.
    fn name(&self) -> &'static str;
    /// Reads an entry; `Ok(None)` when it does not exist.
    fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Creates or replaces an entry.
    fn set(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Removes an entry; removing a missing entry succeeds.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Typed access to the two records of an identity.
pub struct CredentialStore {
    backend: Box<dyn SecretStore>,
    #[cfg(target_os = "linux")]
    cache: Option<token_cache::TokenCache>,
}

impl CredentialStore {
    /// Wraps a backend without a token cache.
    pub fn new(backend: Box<dyn SecretStore>) -> Self {
        CredentialStore {
            backend,
            #[cfg(target_os = "linux")]
            cache: None,
        }
    }

    /// Wraps a backend with a kernel-keyring copy of tokens in front of it.
    #[cfg(target_os = "linux")]
    pub fn with_token_cache(backend: Box<dyn SecretStore>, cache: token_cache::TokenCache) -> Self {
        CredentialStore {
            backend,
            cache: Some(cache),
        }
    }

    /// Returns the backend's name.
    pub fn name(&self) -> &'static str {
        self.backend.name()
    }

    /// Loads the BigAnimal token of an identity, from the token cache when
    /// it has a copy.
    pub fn load_token(&self, key: &str) -> Result<Option<TokenRecord>, StoreError> {
        #[cfg(target_os = "linux")]
        if let Some(record) = self.cached_token(key) {
            return Ok(Some(record));
        }
        let record: Option<TokenRecord> = self.load(&token_key(key), "token")?;
        #[cfg(target_os = "linux")]
        if let (Some(cache), Some(record)) = (&self.cache, &record) {
            cache.set(&token_key(key), &record::to_text(record), seconds_left(record));
        }
        Ok(record)
    }

    /// Loads the BigAnimal token from the store of record, bypassing the
    /// token cache, and puts that value in the cache. Used under the lock,
    /// where the newest value matters and may correct a stale copy.
    pub fn load_token_uncached(&self, key: &str) -> Result<Option<TokenRecord>, StoreError> {
        let record: Option<TokenRecord> = self.load(&token_key(key), "token")?;
        #[cfg(target_os = "linux")]
        if let Some(cache) = &self.cache {
            match &record {
                Some(record) => cache.set(&token_key(key), &record::to_text(record), seconds_left(record)),
                None => cache.delete(&token_key(key)),
            }
        }
        Ok(record)
    }

    /// Loads the BigAnimal token after a wait for another process's renewal.
    /// A cached copy that differs from `before` is served, because only a
    /// renewal writes a new one. Otherwise the store of record is read. So
    /// the processes that waited for one renewal do not all open it at once.
    pub fn load_token_after_wait(&self, key: &str, before: Option<&TokenRecord>) -> Result<Option<TokenRecord>, StoreError> {
        #[cfg(target_os = "linux")]
        if let Some(record) = self.cached_token(key) {
            if before.is_none_or(|before| before.token != record.token) {
                return Ok(Some(record));
            }
        }
        self.load_token_uncached(key)
    }

    #[cfg(target_os = "linux")]
    fn cached_token(&self, key: &str) -> Option<TokenRecord> {
        let text = self.cache.as_ref()?.get(&token_key(key))?;
        record::parse(&text).ok()
    }

    /// Loads the refresh token of an identity.
    pub fn load_refresh(&self, key: &str) -> Result<Option<RefreshRecord>, StoreError> {
        self.load(&refresh_key(key), "refresh token")
    }

    /// Saves the BigAnimal token of an identity, then its cached copy.
    pub fn save_token(&self, key: &str, record: &TokenRecord) -> Result<(), StoreError> {
        let text = record::to_text(record);
        #[cfg(target_os = "linux")]
        if let Some(cache) = &self.cache {
            // Drop the old copy first, so a failed write below cannot leave
            // a copy older than the store of record.
            cache.delete(&token_key(key));
        }
        self.backend.set(&token_key(key), &text)?;
        #[cfg(target_os = "linux")]
        if let Some(cache) = &self.cache {
            cache.set(&token_key(key), &text, seconds_left(record));
        }
        Ok(())
    }

    /// Saves the refresh token of an identity.
    pub fn save_refresh(&self, key: &str, record: &RefreshRecord) -> Result<(), StoreError> {
        self.backend.set(&refresh_key(key), &record::to_text(record))
    }

    /// Deletes the BigAnimal token of an identity and its cached copy.
    pub fn delete_token(&self, key: &str) -> Result<(), StoreError> {
        #[cfg(target_os = "linux")]
        if let Some(cache) = &self.cache {
            cache.delete(&token_key(key));
        }
        self.backend.delete(&token_key(key))
    }

    /// Deletes the refresh token of an identity.
    pub fn delete_refresh(&self, key: &str) -> Result<(), StoreError> {
        self.backend.delete(&refresh_key(key))
    }

    /// Loads the access key of a profile and API base.
    pub fn load_access_key(&self, profile: &str, api_url: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.load(&access_key_entry(profile, api_url), "access key")
    }

    /// Saves the access key of a profile and API base.
    pub fn save_access_key(&self, profile: &str, api_url: &str, record: &AccessKeyRecord) -> Result<(), StoreError> {
        self.backend.set(&access_key_entry(profile, api_url), &record::to_text(record))
    }

    /// Deletes the access key of a profile and API base.
    pub fn delete_access_key(&self, profile: &str, api_url: &str) -> Result<(), StoreError> {
        self.backend.delete(&access_key_entry(profile, api_url))
    }

    fn load<T: for<'de> serde::Deserialize<'de>>(
        &self,
        entry: &str,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        let Some(text) = self.backend.get(entry)? else {
            return Ok(None);
        };
        match record::parse(&text) {
            Ok(value) => Ok(Some(value)),
            Err(reason) => {
                log::notice(&format!(
                    "ignoring the stored {what} in the {} store because it is unreadable: {reason}; \
                     it will be replaced on the next refresh or login",
                    self.backend.name()
                ));
                Ok(None)
            }
        }
    }
}

/// Seconds until a token record expires, for the cache copy's timeout.
#[cfg(target_os = "linux")]
fn seconds_left(record: &TokenRecord) -> i64 {
    record.expires_at - time::OffsetDateTime::now_utc().unix_timestamp()
}

fn token_key(identity: &str) -> String {
    format!("{identity}/token")
}

fn refresh_key(identity: &str) -> String {
    format!("{identity}/refresh")
}

/// Returns the entry name of an access key. Identity keys have five
/// `|`-separated fields and other suffixes, so the two never collide.
fn access_key_entry(profile: &str, api_url: &str) -> String {
    format!("{profile}|{api_url}/access-key")
}

/// Returns a 64-bit FNV-1a hash as 16 hex digits, for file names derived
/// from long keys. Collisions are harmless: every file also stores its key.
pub fn short_hash(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Runs a store call on a helper thread and gives up when `timeout`,
/// counted from `started`, has passed.
///
/// A locked keychain can wait forever on an unlock prompt; the abandoned
/// thread ends with the process.
pub fn with_timeout<T: Send + 'static>(
    store: &'static str,
    action: &'static str,
    timeout: Duration,
    started: std::time::Instant,
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("store-call".to_string())
        .spawn(move || {
            let _ = sender.send(call());
        })
        .map_err(|e| StoreError {
            store,
            action,
            detail: format!("could not start a thread: {e}"),
            unavailable: false,
        })?;
    receiver.recv_timeout(timeout.saturating_sub(started.elapsed())).unwrap_or_else(|_| {
        Err(StoreError {
            store,
            action,
            detail: format!(
                "no answer within {} s; the keyring may be locked and waiting for a password, \
                 or use `--store file`",
                timeout.as_secs_f64()
            ),
            unavailable: false,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hash_is_stable() {
        assert_eq!(short_hash(""), "cbf29ce484222325");
        assert_eq!(short_hash("a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn timeout_reports_slow_call() {
        let err = with_timeout("test", "read", Duration::from_millis(20), std::time::Instant::now(), || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(())
        })
        .unwrap_err();
        assert!(err.to_string().contains("no answer within"), "{err}");
    }

    /// A store of record that counts its reads.
    #[cfg(target_os = "linux")]
    struct CountingStore {
        entries: std::sync::Mutex<std::collections::HashMap<String, String>>,
        reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    #[cfg(target_os = "linux")]
    impl SecretStore for CountingStore {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(self.entries.lock().unwrap().get(key).cloned())
        }
        fn set(&self, key: &str, value: &str) -> Result<(), StoreError> {
            self.entries.lock().unwrap().insert(key.to_string(), value.to_string());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.entries.lock().unwrap().remove(key);
            Ok(())
        }
    }

    #[cfg(target_os = "linux")]
    fn token_record(token: &str) -> TokenRecord {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        TokenRecord {
            v: record::FORMAT_VERSION,
            token: crate::secret::Secret::new(token.to_string()),
            expires_at: now + 600,
            obtained_at: now,
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn changed_cached_copy_skips_store() {
        if keyutils::KeyutilsStore::open().is_err() {
            eprintln!("skipped: keyutils is blocked here");
            return;
        }
        let cache = token_cache::TokenCache::open("unit-after-wait");
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let backend = CountingStore {
            entries: Default::default(),
            reads: counter.clone(),
        };
        let store = CredentialStore::with_token_cache(Box::new(backend), cache);
        let key = format!("after-wait-{}", std::process::id());
        let renewed = token_record("renewed-token");
        store.save_token(&key, &renewed).unwrap();
        let reads = || counter.load(std::sync::atomic::Ordering::SeqCst);

        let before = token_record("expiring-token");
        let loaded = store.load_token_after_wait(&key, Some(&before)).unwrap().unwrap();
        assert_eq!(loaded.token.expose(), "renewed-token");
        assert_eq!(reads(), 0, "a changed cached copy is served without the store of record");

        let loaded = store.load_token_after_wait(&key, Some(&renewed)).unwrap().unwrap();
        assert_eq!(loaded.token.expose(), "renewed-token");
        assert_eq!(reads(), 1, "an unchanged copy sends the read to the store of record");
        store.delete_token(&key).unwrap();
    }
}
