//! Where credentials are kept: the OS keychain, the Linux kernel keyring,
//! or a private file, behind one small interface.
//!
//! Each identity has two entries, `…/token` and `…/refresh` (see
//! [`record`]). Unreadable or corrupt entries are reported on stderr and
//! treated as absent, so a damaged store leads to a refresh or a new login,
//! never to a crash.

pub mod file;
pub mod keychain;
#[cfg(target_os = "linux")]
pub mod keyutils;
pub mod lock;
pub mod record;
pub mod select;

use crate::log;
use record::{RefreshRecord, TokenRecord};
use std::fmt;
use std::time::Duration;

/// A failed store operation.
#[derive(Debug)]
pub struct StoreError {
    /// The store, such as `Secret Service` or `file`.
    pub store: &'static str,
    /// What was attempted, such as `read` or `write`.
    pub action: &'static str,
    /// Why it failed; never contains a stored value.
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
    /// The store's name for messages, such as `Secret Service`.
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
}

impl CredentialStore {
    /// Wraps a backend.
    pub fn new(backend: Box<dyn SecretStore>) -> Self {
        CredentialStore { backend }
    }

    /// The backend's name.
    pub fn name(&self) -> &'static str {
        self.backend.name()
    }

    /// Loads the BigAnimal token of an identity.
    pub fn load_token(&self, key: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.load(&token_key(key), "token")
    }

    /// Loads the refresh token of an identity.
    pub fn load_refresh(&self, key: &str) -> Result<Option<RefreshRecord>, StoreError> {
        self.load(&refresh_key(key), "refresh token")
    }

    /// Saves the BigAnimal token of an identity.
    pub fn save_token(&self, key: &str, record: &TokenRecord) -> Result<(), StoreError> {
        self.backend.set(&token_key(key), &record::to_text(record))
    }

    /// Saves the refresh token of an identity.
    pub fn save_refresh(&self, key: &str, record: &RefreshRecord) -> Result<(), StoreError> {
        self.backend.set(&refresh_key(key), &record::to_text(record))
    }

    /// Deletes the BigAnimal token of an identity.
    pub fn delete_token(&self, key: &str) -> Result<(), StoreError> {
        self.backend.delete(&token_key(key))
    }

    /// Deletes the refresh token of an identity.
    pub fn delete_refresh(&self, key: &str) -> Result<(), StoreError> {
        self.backend.delete(&refresh_key(key))
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

fn token_key(identity: &str) -> String {
    format!("{identity}/token")
}

fn refresh_key(identity: &str) -> String {
    format!("{identity}/refresh")
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

/// Runs a store call on a helper thread and gives up after `timeout`.
///
/// A locked keychain can wait forever on an unlock prompt; the abandoned
/// thread ends with the process.
pub fn with_timeout<T: Send + 'static>(
    store: &'static str,
    action: &'static str,
    timeout: Duration,
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
    receiver.recv_timeout(timeout).unwrap_or_else(|_| {
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
        let err = with_timeout("test", "read", Duration::from_millis(20), || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(())
        })
        .unwrap_err();
        assert!(err.to_string().contains("no answer within"), "{err}");
    }
}
