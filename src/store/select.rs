//! Chooses the store for `--store`.
//!
//! `auto` tries, in order:
//! 1. the OS keychain (Secret Service on Linux), when it answers within the
//!    keychain timeout;
//! 2. the file store, with a notice on stderr the first time it is chosen.
//!
//! A keychain that exists but fails (locked, timed out) is an error rather
//! than a reason to fall back, so credentials never split between stores.
//!
//! With `auto` and `keychain` on Linux, a copy of each BigAnimal token is
//! kept in the kernel keyring (see [`super::token_cache`]), and the
//! keychain is opened only when that copy is missing or stale.

use super::file::{self, FileStore};
use super::keychain::KeychainStore;
use super::lazy::LazyStore;
use super::{CredentialStore, SecretStore, StoreError};
use crate::cli::StoreKind;
use crate::log;
use std::path::Path;
use std::time::Duration;

/// Opens the store chosen by `kind`, with the token cache where it applies.
pub fn open_credential_store(
    kind: StoreKind,
    state_dir: &Path,
    lock_dir: &Path,
    keychain_timeout: Duration,
) -> Result<CredentialStore, StoreError> {
    let uses_keychain = match kind {
        StoreKind::Keychain => true,
        StoreKind::Auto => crate::config::non_empty_env("DBUS_SESSION_BUS_ADDRESS").is_some(),
        StoreKind::File | StoreKind::Keyutils => false,
    };
    if !uses_keychain {
        let backend = open(kind, state_dir, lock_dir, keychain_timeout)?;
        return Ok(match kind {
            StoreKind::Keyutils => CredentialStore::new(backend),
            _ => with_removal_cache(backend),
        });
    }
    if kind == StoreKind::Keychain && crate::config::non_empty_env("DBUS_SESSION_BUS_ADDRESS").is_none() {
        // Fail before any network request: this keychain cannot be reached.
        return open(kind, state_dir, lock_dir, keychain_timeout).map(CredentialStore::new);
    }

    let state_dir = state_dir.to_path_buf();
    let lock_dir = lock_dir.to_path_buf();
    let backend = LazyStore::new("Secret Service", move || open(kind, &state_dir, &lock_dir, keychain_timeout));
    Ok(with_cache(kind, Box::new(backend)))
}

#[cfg(target_os = "linux")]
fn with_cache(kind: StoreKind, backend: Box<dyn SecretStore>) -> CredentialStore {
    let namespace = match kind {
        StoreKind::Keychain => "keychain",
        _ => "auto",
    };
    CredentialStore::with_token_cache(backend, super::token_cache::TokenCache::open(namespace))
}

#[cfg(not(target_os = "linux"))]
fn with_cache(_kind: StoreKind, backend: Box<dyn SecretStore>) -> CredentialStore {
    CredentialStore::new(backend)
}

/// Wraps the file store with a cache that only removes the other stores'
/// copies (see [`super::token_cache`]).
#[cfg(target_os = "linux")]
fn with_removal_cache(backend: Box<dyn SecretStore>) -> CredentialStore {
    CredentialStore::with_token_cache(backend, super::token_cache::TokenCache::open_for_removal("file"))
}

#[cfg(not(target_os = "linux"))]
fn with_removal_cache(backend: Box<dyn SecretStore>) -> CredentialStore {
    CredentialStore::new(backend)
}

/// Opens the store chosen by `kind`. The file store lives in `state_dir`;
/// the keychain's connection lock (see [`KeychainStore::connect`]) in
/// `lock_dir`.
pub fn open(
    kind: StoreKind,
    state_dir: &Path,
    lock_dir: &Path,
    keychain_timeout: Duration,
) -> Result<Box<dyn SecretStore>, StoreError> {
    let file_store = || Box::new(FileStore::new(state_dir.join("store")));
    match kind {
        StoreKind::File => Ok(file_store()),
        StoreKind::Keychain => Ok(Box::new(KeychainStore::connect(keychain_timeout, lock_dir)?)),
        StoreKind::Keyutils => open_keyutils(),
        StoreKind::Auto => match KeychainStore::connect(keychain_timeout, lock_dir) {
            Ok(store) => {
                log::info("using the Secret Service store");
                Ok(Box::new(store))
            }
            Err(e) if e.unavailable => {
                notice_file_fallback_once(state_dir, &e);
                Ok(file_store())
            }
            Err(e) => Err(e),
        },
    }
}

#[cfg(target_os = "linux")]
fn open_keyutils() -> Result<Box<dyn SecretStore>, StoreError> {
    Ok(Box::new(super::keyutils::KeyutilsStore::open()?))
}

#[cfg(not(target_os = "linux"))]
fn open_keyutils() -> Result<Box<dyn SecretStore>, StoreError> {
    Err(StoreError {
        store: "keyutils",
        action: "open",
        detail: "kernel keyutils exists only on Linux; use `--store keychain` or `--store file`".to_string(),
        unavailable: true,
    })
}

/// Prints the fallback notice unless a marker file shows it was printed.
fn notice_file_fallback_once(state_dir: &Path, reason: &StoreError) {
    let marker = state_dir.join("file-store-notice-shown");
    if marker.exists() {
        return;
    }
    log::notice(&format!(
        "no OS keychain is available ({}); keeping credentials in private files under `{}` \
         (mode 0600). Set `--store` or `BIGANIMAL_CREDENTIAL_STORE` to choose explicitly. \
         This notice is shown once.",
        reason.detail,
        state_dir.join("store").display()
    ));
    let _ = file::create_private_dir(state_dir).and_then(|_| std::fs::write(&marker, b""));
}
