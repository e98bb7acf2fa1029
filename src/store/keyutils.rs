//! The Linux kernel key retention service (keyutils), user keyring.
//!
//! Entries are `user` keys named `biganimal-credential:<entry key>` in the
//! user keyring (`@u`), which every process of the same user ID shares and
//! which lasts until the last process of that user ends or the machine
//! reboots. Each key gets full rights for its possessor and its owner, and
//! none for group or others, so later runs of the helper from any session
//! of the same user can read it. A lookup is one system call, with no
//! daemon in between.

use super::{SecretStore, StoreError};
use linux_keyutils::{KeyError, KeyPermissionsBuilder, KeyRing, KeyRingIdentifier, Permission};

const NAME: &str = "keyutils";
const PREFIX: &str = "biganimal-credential:";

/// A [`SecretStore`] in the kernel user keyring.
pub struct KeyutilsStore {
    keyring: KeyRing,
}

impl KeyutilsStore {
    /// Opens the user keyring; fails where keyutils is blocked, as in
    /// containers whose seccomp profile denies the key system calls.
    pub fn open() -> Result<Self, StoreError> {
        KeyRing::from_special_id(KeyRingIdentifier::User, true)
            .map(|keyring| KeyutilsStore { keyring })
            .map_err(|e| StoreError {
                store: NAME,
                action: "open",
                detail: format!("the kernel user keyring is not available ({e})"),
                unavailable: true,
            })
    }
}

fn error(action: &'static str, e: KeyError) -> StoreError {
    StoreError {
        store: NAME,
        action,
        detail: format!("{e}"),
        unavailable: false,
    }
}

fn description(key: &str) -> String {
    format!("{PREFIX}{key}")
}

/// Tells whether a search error means "no such key".
fn is_missing(e: &KeyError) -> bool {
    matches!(e, KeyError::KeyDoesNotExist | KeyError::KeyExpired | KeyError::KeyRevoked)
}

impl KeyutilsStore {
    /// Creates or replaces a key readable and writable only by this user.
    fn add(&self, key: &str, value: &str) -> Result<linux_keyutils::Key, StoreError> {
        let added = self
            .keyring
            .add_key(&description(key), value.as_bytes())
            .map_err(|e| error("write", e))?;
        let permissions = KeyPermissionsBuilder::builder()
            .posessor(Permission::ALL)
            .user(Permission::ALL)
            .build();
        added.set_perms(permissions).map_err(|e| error("write", e))?;
        Ok(added)
    }

    /// Creates or replaces a key that the kernel removes after `seconds`.
    pub fn set_with_timeout(&self, key: &str, value: &str, seconds: u64) -> Result<(), StoreError> {
        let added = self.add(key, value)?;
        let seconds = usize::try_from(seconds).unwrap_or(usize::MAX);
        added.set_timeout(seconds).map_err(|e| error("write", e))
    }
}

impl SecretStore for KeyutilsStore {
    fn name(&self) -> &'static str {
        NAME
    }

    fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let found = match self.keyring.search(&description(key)) {
            Ok(found) => found,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(error("read", e)),
        };
        match found.read_to_vec() {
            Ok(bytes) => Ok(String::from_utf8(bytes).ok()),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(error("read", e)),
        }
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.add(key, value).map(|_| ())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.keyring.search(&description(key)) {
            Ok(found) => match found.invalidate() {
                Ok(()) => Ok(()),
                Err(e) if is_missing(&e) => Ok(()),
                Err(e) => Err(error("delete an entry in", e)),
            },
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(error("delete an entry in", e)),
        }
    }
}
