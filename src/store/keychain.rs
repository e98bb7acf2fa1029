//! The OS keychain: the Secret Service (GNOME Keyring, KWallet) over the
//! D-Bus session, through the keyring ecosystem's `dbus-secret-service`.
//!
//! Items carry the attributes `service` = `biganimal-credential` and
//! `username` = the entry key, the same attributes the `keyring` crates
//! use, so tools built on them see the same items. Every call runs with a
//! timeout, because a locked keyring may wait forever for a password prompt.
//!
//! Secrets cross the session bus without the Secret Service's optional
//! Diffie-Hellman transport encryption. Only processes of the same user
//! (or root) can reach that bus, and they can ask the keyring for the same
//! items anyway; the key exchange cost about 10 ms per call, several times
//! the rest of a cached lookup. `BIGANIMAL_SECRET_SERVICE_DH=1` turns the
//! encryption on.
//!
//! Processes of this helper use the Secret Service one at a time: each
//! store call opens a session of its own under a lock file in
//! `$XDG_RUNTIME_DIR/biganimal-credential` (else the lock directory), and
//! closes it before the lock is released. The first call uses the session
//! that opening the store made to check that the keychain responds.
//! gnome-keyring-daemon registers each new client in an idle callback of
//! its main loop. Public reports against versions up to 50 show it aborting
//! when it handles a client's call without that registration, and 42.1
//! aborted here in 3 of 39 runs of 64 processes reading the keychain
//! while one deleted from it. With the lock, none of 80 such runs did (50
//! of them beside a second set of 64 processes). A call holds the lock for
//! a few milliseconds.

use super::{with_timeout, SecretStore, StoreError};
use std::path::Path;
use std::time::Duration;

/// The `service` attribute of every item.
pub const SERVICE: &str = "biganimal-credential";
const NAME: &str = "Secret Service";
/// The name (without `.lock`) of the lock file that serialises Secret Service use.
const CONNECT_LOCK: &str = "secret-service-connect";

#[cfg(target_os = "linux")]
use dbus_secret_service::{EncryptionType, Error as ServiceError, SecretService};

/// A [`SecretStore`] in the OS keychain.
pub struct KeychainStore {
    /// Whether to encrypt the transport (`BIGANIMAL_SECRET_SERVICE_DH`).
    #[cfg(target_os = "linux")]
    dh: bool,
    #[cfg(target_os = "linux")]
    lock_dir: std::path::PathBuf,
    timeout: Duration,
    /// The session `connect` opened to check the keychain, kept with its
    /// lock for the first call, so that call does not open a second one.
    #[cfg(target_os = "linux")]
    first: std::sync::Mutex<Option<Session>>,
}

/// An open Secret Service session and the connection lock it holds. The
/// fields drop in order: the session closes before the lock is released.
#[cfg(target_os = "linux")]
struct Session {
    service: SecretService,
    _lock: Option<crate::store::lock::LockGuard>,
}

fn unavailable(detail: String) -> StoreError {
    StoreError {
        store: NAME,
        action: "connect to",
        detail,
        unavailable: true,
    }
}

#[cfg(target_os = "linux")]
impl KeychainStore {
    /// Checks within `timeout` that a Secret Service responds, and returns
    /// the store, which keeps that session (and the connection lock) for
    /// its first call. Each later call opens its own session under the lock.
    ///
    /// Fails with [`StoreError::unavailable`] set when this machine has no
    /// keychain to talk to (no D-Bus session, or no Secret Service on it).
    pub fn connect(timeout: Duration, lock_dir: &Path) -> Result<Self, StoreError> {
        // libdbus would try to start a bus through X11 when no address is set;
        // a helper run by kubectl in a container must not do that.
        if crate::config::non_empty_env("DBUS_SESSION_BUS_ADDRESS").is_none() {
            return Err(unavailable("no D-Bus session (`DBUS_SESSION_BUS_ADDRESS` is not set)".to_string()));
        }
        let dh = matches!(
            crate::config::non_empty_env("BIGANIMAL_SECRET_SERVICE_DH").as_deref(),
            Some("1" | "on" | "true" | "yes")
        );
        let store = KeychainStore {
            dh,
            lock_dir: connect_lock_dir(lock_dir),
            timeout,
            first: std::sync::Mutex::new(None),
        };
        let session = store.open_session("connect to", std::time::Instant::now())?;
        *store.first.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(session);
        Ok(store)
    }

    /// Takes the connection lock and opens a session, within what is left
    /// of the timeout that began at `started`.
    fn open_session(&self, action: &'static str, started: std::time::Instant) -> Result<Session, StoreError> {
        let lock = connect_lock(&self.lock_dir, self.timeout)?;
        let encryption = if self.dh { EncryptionType::Dh } else { EncryptionType::Plain };
        with_timeout(NAME, action, self.timeout, started, move || {
            let service = SecretService::connect(encryption).map_err(|e| {
                if stopped_answering(&e) {
                    map_error("connect to", e)
                } else {
                    unavailable(format!("no Secret Service answered on the D-Bus session: {e}"))
                }
            })?;
            Ok(Session { service, _lock: lock })
        })
    }

    /// Runs `call` on a helper thread within the timeout, in the session
    /// `connect` left open or else in a new one, and closes that session
    /// and releases its lock afterwards.
    fn run<T: Send + 'static>(
        &self,
        action: &'static str,
        call: impl FnOnce(&SecretService) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let first = self.first.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let session = match first {
            Some(session) => session,
            None => self.open_session(action, started)?,
        };
        with_timeout(NAME, action, self.timeout, started, move || {
            call(&session.service).map_err(|e| map_error(action, e))
        })
    }
}

/// Returns the directory of the connection lock: the per-user
/// `$XDG_RUNTIME_DIR/biganimal-credential`, which belongs to the login
/// session like its D-Bus session bus, so that processes with different
/// `BIGANIMAL_CREDENTIAL_DIR` values still take turns at the one Secret
/// Service. Without `XDG_RUNTIME_DIR` it is the lock directory.
#[cfg(target_os = "linux")]
fn connect_lock_dir(lock_dir: &Path) -> std::path::PathBuf {
    crate::config::non_empty_env("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("biganimal-credential"))
        .unwrap_or_else(|| lock_dir.to_path_buf())
}

/// Takes the connection lock, waiting at most `timeout`. When the lock
/// directory cannot be used, the session is opened without the lock and
/// `-v` logs the reason.
#[cfg(target_os = "linux")]
fn connect_lock(lock_dir: &Path, timeout: Duration) -> Result<Option<crate::store::lock::LockGuard>, StoreError> {
    use crate::store::lock::{self, LockError};
    match lock::acquire_quietly(lock_dir, CONNECT_LOCK, "using the Secret Service", timeout) {
        Ok(guard) => Ok(Some(guard)),
        Err(LockError::TimedOut { path, holder, waited }) => Err(StoreError {
            store: NAME,
            action: "connect to",
            detail: format!(
                "{holder} held the Secret Service connection lock `{}` for {} s; \
                 the keyring may be waiting for a password, or use `--store file`",
                path.display(),
                waited.as_secs()
            ),
            unavailable: false,
        }),
        Err(e @ LockError::Io { .. }) => {
            crate::log::info(&format!("using the Secret Service without the connection lock: {e}"));
            Ok(None)
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl KeychainStore {
    /// Reports that this build has no keychain support on this platform.
    pub fn connect(_timeout: Duration, _lock_dir: &Path) -> Result<Self, StoreError> {
        Err(unavailable("this build supports the keychain only on Linux".to_string()))
    }
}

/// Returns the search attributes of an entry.
fn attributes(key: &str) -> std::collections::HashMap<&str, &str> {
    [("service", SERVICE), ("username", key)].into_iter().collect()
}

/// Finds the entry's items, unlocking them if needed (which fails fast when
/// unlocking would need a prompt and no display is available).
#[cfg(target_os = "linux")]
fn find<'a>(service: &'a SecretService, key: &str) -> Result<Vec<dbus_secret_service::Item<'a>>, ServiceError> {
    let found = service.search_items(attributes(key))?;
    if !found.locked.is_empty() {
        let locked: Vec<&dbus_secret_service::Item> = found.locked.iter().collect();
        service.unlock_all(&locked)?;
    }
    Ok(found.unlocked.into_iter().chain(found.locked).collect())
}

#[cfg(target_os = "linux")]
impl SecretStore for KeychainStore {
    fn name(&self) -> &'static str {
        NAME
    }

    fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_string();
        let secret = self.run("read", move |service| {
            let items = find(service, &key)?;
            match items.as_slice() {
                [] => Ok(None),
                [item] => match item.get_secret() {
                    Err(e) if vanished(&e) => Ok(None),
                    read => read.map(Some),
                },
                _ => {
                    // Two processes raced to create the item; drop them all and
                    // let the next write create one.
                    for item in &items {
                        let _ = item.delete();
                    }
                    Ok(None)
                }
            }
        })?;
        match secret.map(String::from_utf8) {
            None => Ok(None),
            Some(Ok(text)) => Ok(Some(text)),
            Some(Err(_)) => {
                crate::log::notice("ignoring a keychain item whose data is not valid text; it will be replaced");
                Ok(None)
            }
        }
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        let value = value.to_string();
        self.run("write", move |service| {
            let items = find(service, &key)?;
            if let [item] = items.as_slice() {
                return item.set_secret(value.as_bytes(), "text/plain");
            }
            for item in &items {
                item.delete()?;
            }
            let collection = service.get_default_collection()?;
            collection.ensure_unlocked()?;
            let label = format!("BigAnimal credential ({key})");
            collection.create_item(&label, attributes(&key), value.as_bytes(), true, "text/plain")?;
            Ok(())
        })
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_string();
        self.run("delete an entry in", move |service| {
            for item in find(service, &key)? {
                match item.delete() {
                    Err(e) if vanished(&e) => {}
                    deleted => deleted?,
                }
            }
            Ok(())
        })
    }
}

#[cfg(not(target_os = "linux"))]
impl SecretStore for KeychainStore {
    fn name(&self) -> &'static str {
        NAME
    }
    fn get(&self, _key: &str) -> Result<Option<String>, StoreError> {
        Err(unavailable("this build supports the keychain only on Linux".to_string()))
    }
    fn set(&self, _key: &str, _value: &str) -> Result<(), StoreError> {
        Err(unavailable("this build supports the keychain only on Linux".to_string()))
    }
    fn delete(&self, _key: &str) -> Result<(), StoreError> {
        Err(unavailable("this build supports the keychain only on Linux".to_string()))
    }
}

/// Returns whether the item was deleted by another process between the
/// search that found it and this call, which makes it absent, not broken.
#[cfg(target_os = "linux")]
fn vanished(error: &ServiceError) -> bool {
    match error {
        ServiceError::Dbus(e) => matches!(
            e.name(),
            Some(
                "org.freedesktop.DBus.Error.UnknownObject"
                    | "org.freedesktop.DBus.Error.UnknownInterface"
                    | "org.freedesktop.DBus.Error.UnknownMethod"
                    | "org.freedesktop.Secret.Error.NoSuchObject"
            )
        ),
        _ => false,
    }
}

/// Returns whether the keyring daemon went away while it handled the call,
/// as gnome-keyring-daemon does when it aborts. That is a failure of a
/// keychain that exists, never a reason to fall back to the file store.
#[cfg(target_os = "linux")]
fn stopped_answering(error: &ServiceError) -> bool {
    match error {
        ServiceError::Dbus(e) => matches!(
            e.name(),
            Some("org.freedesktop.DBus.Error.NoReply" | "org.freedesktop.DBus.Error.Disconnected")
        ),
        _ => false,
    }
}

/// Describes a Secret Service error in words, with the fix where there is one.
#[cfg(target_os = "linux")]
fn map_error(action: &'static str, error: ServiceError) -> StoreError {
    let detail = match &error {
        _ if stopped_answering(&error) => "the keyring daemon stopped while answering (it may have crashed); \
             if it was restarted locked, unlock it, then try again"
            .to_string(),
        ServiceError::Locked | ServiceError::Prompt => {
            "the keyring is locked and unlocking it needs a password prompt; \
             unlock it (for example by logging in to the desktop) or use `--store file`"
                .to_string()
        }
        ServiceError::NoResult => "the keyring has no default collection; create one or use `--store file`".to_string(),
        ServiceError::Unavailable => "no Secret Service is running on the D-Bus session".to_string(),
        ServiceError::Dbus(e) => format!("the D-Bus call failed: {}", e.message().unwrap_or("no message")),
        _ => "the keyring returned data this helper cannot read".to_string(),
    };
    StoreError {
        store: NAME,
        action,
        detail,
        unavailable: false,
    }
}
