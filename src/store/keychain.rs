//! The OS keychain through the keyring ecosystem: the Secret Service
//! (GNOME Keyring, KWallet) over D-Bus on Linux.
//!
//! Entries use the service name `biganimal-credential` and the entry key as
//! the user name. Every call runs with a timeout, because a locked keyring
//! may wait forever for a password prompt.

use super::{with_timeout, SecretStore, StoreError};
use keyring_core::{CredentialStore as KeyringStore, Entry, Error as KeyringError};
use std::sync::Arc;
use std::time::Duration;

/// The service attribute of every entry.
pub const SERVICE: &str = "biganimal-credential";
const NAME: &str = "Secret Service";

/// A [`SecretStore`] in the OS keychain.
pub struct KeychainStore {
    store: Arc<KeyringStore>,
    timeout: Duration,
}

impl KeychainStore {
    /// Connects to the platform keychain within `timeout`.
    ///
    /// Fails with [`StoreError::unavailable`] set when this machine has no
    /// keychain to talk to (no D-Bus session, or no Secret Service on it).
    pub fn connect(timeout: Duration) -> Result<Self, StoreError> {
        let store = with_timeout(NAME, "connect to", timeout, connect_platform)?;
        Ok(KeychainStore { store, timeout })
    }

    fn entry(store: &Arc<KeyringStore>, key: &str, action: &'static str) -> Result<Entry, StoreError> {
        Entry::new_in_store(store, SERVICE, key).map_err(|e| map_error(action, e))
    }
}

#[cfg(target_os = "linux")]
fn connect_platform() -> Result<Arc<KeyringStore>, StoreError> {
    // libdbus would try to start a bus through X11 when no address is set;
    // a helper run by kubectl in a container must not do that.
    if crate::config::non_empty_env("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return Err(StoreError {
            store: NAME,
            action: "connect to",
            detail: "no D-Bus session (`DBUS_SESSION_BUS_ADDRESS` is not set)".to_string(),
            unavailable: true,
        });
    }
    match dbus_secret_service_keyring_store::Store::new() {
        Ok(store) => Ok(store),
        Err(e) => Err(StoreError {
            store: NAME,
            action: "connect to",
            detail: format!("no Secret Service answered on the D-Bus session: {e}"),
            unavailable: true,
        }),
    }
}

#[cfg(not(target_os = "linux"))]
fn connect_platform() -> Result<Arc<KeyringStore>, StoreError> {
    Err(StoreError {
        store: NAME,
        action: "connect to",
        detail: "this build supports the keychain only on Linux".to_string(),
        unavailable: true,
    })
}

impl SecretStore for KeychainStore {
    fn name(&self) -> &'static str {
        NAME
    }

    fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let store = self.store.clone();
        let key = key.to_string();
        with_timeout(NAME, "read", self.timeout, move || {
            let entry = Self::entry(&store, &key, "read")?;
            match entry.get_password() {
                Ok(value) => Ok(Some(value)),
                Err(KeyringError::NoEntry) => Ok(None),
                Err(KeyringError::BadEncoding(_)) | Err(KeyringError::BadDataFormat(..)) => {
                    crate::log::notice(
                        "ignoring a keychain entry whose data is not valid text; it will be replaced",
                    );
                    Ok(None)
                }
                Err(KeyringError::Ambiguous(entries)) => {
                    // Two processes may race to create the same item; keep none
                    // and let the next write create one.
                    for duplicate in entries {
                        let _ = duplicate.delete_credential();
                    }
                    Ok(None)
                }
                Err(e) => Err(map_error("read", e)),
            }
        })
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let store = self.store.clone();
        let key = key.to_string();
        let value = value.to_string();
        with_timeout(NAME, "write", self.timeout, move || {
            let entry = Self::entry(&store, &key, "write")?;
            match entry.set_password(&value) {
                Err(KeyringError::Ambiguous(entries)) => {
                    for duplicate in entries {
                        let _ = duplicate.delete_credential();
                    }
                    entry.set_password(&value).map_err(|e| map_error("write", e))
                }
                other => other.map_err(|e| map_error("write", e)),
            }
        })
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let store = self.store.clone();
        let key = key.to_string();
        with_timeout(NAME, "delete an entry in", self.timeout, move || {
            let entry = Self::entry(&store, &key, "delete an entry in")?;
            match entry.delete_credential() {
                Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
                Err(KeyringError::Ambiguous(entries)) => {
                    for duplicate in entries {
                        let _ = duplicate.delete_credential();
                    }
                    Ok(())
                }
                Err(e) => Err(map_error("delete an entry in", e)),
            }
        })
    }
}

/// Describes a keyring error without its `Debug` form, which can contain
/// the stored bytes.
fn map_error(action: &'static str, error: KeyringError) -> StoreError {
    let detail = match &error {
        KeyringError::NoStorageAccess(e) => {
            format!("the keyring is locked or access was denied ({e}); unlock it or use `--store file`")
        }
        KeyringError::PlatformFailure(e) => format!("the keyring service failed: {e}"),
        KeyringError::TooLong(name, limit) => {
            format!("the value of `{name}` is longer than the keychain's limit of {limit}")
        }
        KeyringError::Invalid(name, reason) => format!("`{name}` is invalid: {reason}"),
        KeyringError::BadEncoding(_) | KeyringError::BadDataFormat(..) => {
            "the stored data is not valid".to_string()
        }
        _ => "the keychain returned an unexpected error".to_string(),
    };
    StoreError {
        store: NAME,
        action,
        detail,
        unavailable: false,
    }
}
