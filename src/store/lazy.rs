//! A store that is opened on first use.
//!
//! Opening the Secret Service costs a D-Bus connection and a session
//! handshake (about 10 ms). When the token cache has the token, the cached path
//! never touches the store of record, so it should not pay for opening it.

use super::{SecretStore, StoreError};
use std::sync::OnceLock;

type Opener = Box<dyn Fn() -> Result<Box<dyn SecretStore>, StoreError> + Send + Sync>;

/// A [`SecretStore`] that runs its opener on the first call.
pub struct LazyStore {
    name: &'static str,
    open: Opener,
    opened: OnceLock<Result<Box<dyn SecretStore>, StoreError>>,
}

impl LazyStore {
    /// Creates the store; `name` is reported until it is opened.
    pub fn new(
        name: &'static str,
        open: impl Fn() -> Result<Box<dyn SecretStore>, StoreError> + Send + Sync + 'static,
    ) -> Self {
        LazyStore {
            name,
            open: Box::new(open),
            opened: OnceLock::new(),
        }
    }

    fn store(&self) -> Result<&dyn SecretStore, StoreError> {
        match self.opened.get_or_init(|| (self.open)()) {
            Ok(store) => Ok(store.as_ref()),
            Err(e) => Err(e.clone()),
        }
    }
}

impl SecretStore for LazyStore {
    fn name(&self) -> &'static str {
        match self.store() {
            Ok(store) => store.name(),
            Err(_) => self.name,
        }
    }

    fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.store()?.get(key)
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.store()?.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store()?.delete(key)
    }
}
