//! The order in which a command picks the credential it serves:
//!
//! 1. `BA_ACCESS_KEY` from the environment, without opening the store;
//! 2. the access key imported for the profile and API base;
//! 3. the BigAnimal token of the OAuth session: cached, refreshed, or from a
//!    device login that the login policy allows.
//!
//! The store is asked for an imported key only when the key's marker file
//! exists in the state directory (see [`access_key_marker`]). So a profile
//! without a key pays one `stat` on the cached path, and the keychain stays
//! closed while the kernel-keyring token cache serves the token.
//!
//! An access key past its stated expiry fails with exit code 3 and the fix.
//! It never falls back to the OAuth login, because that would hide the
//! expiry.

use super::{Context, Failure};
use crate::access_key::{self, AccessKey};
use crate::cli::{GlobalArgs, LoginMode};
use crate::clock::{rfc3339, Clock};
use crate::credential::{bearer_only_message, ApiCredential};
use crate::identity::Identity;
use crate::log;
use crate::output::RenderError;
use crate::secret::Secret;
use crate::session::{LoginPolicy, Source};
use crate::store::short_hash;
use std::cell::OnceCell;
use std::path::{Path, PathBuf};

/// The helper operations the git and docker modes use, as a trait so
/// tests can drive the modes without a store or a server.
pub(super) trait CredentialSource {
    /// Returns the profile name, for messages.
    fn profile(&self) -> &str;
    /// Returns the credential to serve (see the module documentation).
    fn credential(&self, policy: LoginPolicy) -> Result<ApiCredential, Failure>;
    /// Deletes the cached BigAnimal token, only when it equals `presented`
    /// if that is given; the refresh token stays. Returns whether it did.
    fn forget_token(&self, presented: Option<&Secret>) -> Result<bool, Failure>;
    /// Tells whether a bearer token can be served without a device login.
    fn has_login(&self) -> Result<bool, Failure>;
}

/// The real source: opens the store only when a command needs it.
pub(super) struct LazySource<'a> {
    global: &'a GlobalArgs,
    context: OnceCell<Context>,
}

impl<'a> LazySource<'a> {
    pub(super) fn new(global: &'a GlobalArgs) -> Self {
        LazySource {
            global,
            context: OnceCell::new(),
        }
    }

    fn context(&self) -> Result<&Context, Failure> {
        if let Some(context) = self.context.get() {
            return Ok(context);
        }
        let context = Context::new(self.global)?;
        Ok(self.context.get_or_init(|| context))
    }
}

impl CredentialSource for LazySource<'_> {
    fn profile(&self) -> &str {
        &self.global.profile
    }

    fn credential(&self, policy: LoginPolicy) -> Result<ApiCredential, Failure> {
        if let Some(key) = env_access_key()? {
            log::info(&format!("using the access key from `{}`", access_key::ENV));
            return Ok(ApiCredential::AccessKey(key));
        }
        let context = self.context()?;
        if let Some(key) = context.stored_access_key()? {
            log::info("using the stored access key");
            return Ok(ApiCredential::AccessKey(key));
        }
        context.bearer(policy).map(ApiCredential::Bearer)
    }

    fn forget_token(&self, presented: Option<&Secret>) -> Result<bool, Failure> {
        let context = self.context()?;
        let Some(identity) = context.cached_identity() else {
            return Ok(false);
        };
        let key = identity.key();
        let Some(record) = context.store.load_token(&key).map_err(store_failure)? else {
            return Ok(false);
        };
        if presented.is_some_and(|token| token != &record.token) {
            return Ok(false);
        }
        // NOTE: another process may store a renewed token between the load
        // and this delete; deleting that one only costs one more refresh.
        context.store.delete_token(&key).map_err(store_failure)?;
        Ok(true)
    }

    fn has_login(&self) -> Result<bool, Failure> {
        let context = self.context()?;
        let Some(identity) = context.cached_identity() else {
            return Ok(false);
        };
        let key = identity.key();
        let token = context.store.load_token(&key).map_err(store_failure)?;
        let refresh = context.store.load_refresh(&key).map_err(store_failure)?;
        Ok(token.is_some() || refresh.is_some())
    }
}

impl Context {
    /// Returns the imported access key, failing when it is past its expiry.
    pub(super) fn stored_access_key(&self) -> Result<Option<AccessKey>, Failure> {
        let settings = &self.settings;
        let marker = access_key_marker(&settings.state_dir, &settings.profile, &settings.api_url);
        if !marker.exists() {
            return Ok(None);
        }
        let Some(record) = self
            .store
            .load_access_key(&settings.profile, &settings.api_url)
            .map_err(store_failure)?
        else {
            log::info("the access-key marker has no stored key behind it; removing the marker");
            let _ = std::fs::remove_file(&marker);
            return Ok(None);
        };
        let key = AccessKey::from_record(record);
        key.check_expiry(self.clock.now(), &settings.profile)
            .map_err(|message| Failure { code: 3, message })?;
        Ok(Some(key))
    }

    /// Returns the session's BigAnimal token and reports on stderr where
    /// it came from.
    pub(super) fn bearer(&self, policy: LoginPolicy) -> Result<crate::session::Credential, Failure> {
        let credential = self.session().get(policy, &mut super::stderr_prompt(self.open_browser))?;
        let until = rfc3339(credential.expires_at);
        match credential.source {
            Source::Cache => log::info("served the cached token"),
            Source::Refresh => log::info(&format!("refreshed; valid until {until}")),
            Source::Login => log::notice(&format!("logged in; token valid until {until}")),
        }
        Ok(credential)
    }

    /// Returns the identity from cached discovery, without a network call;
    /// `None` before the first login of this API base.
    pub(super) fn cached_identity(&self) -> Option<Identity> {
        let settings = &self.settings;
        let provider = self.discovery.load(&settings.api_url)?;
        Identity::new(&settings.profile, &settings.api_url, &provider, settings.free_trial).ok()
    }
}

/// Returns the path of the file that marks an imported access key for a
/// profile and API base. It contains nothing secret.
pub(super) fn access_key_marker(state_dir: &Path, profile: &str, api_url: &str) -> PathBuf {
    let hash = short_hash(&format!("{profile}|{api_url}"));
    state_dir.join(format!("access-key-{profile}-{hash}"))
}

/// Reads `BA_ACCESS_KEY`; a malformed key is a usage error.
pub(super) fn env_access_key() -> Result<Option<AccessKey>, Failure> {
    let value = std::env::var(access_key::ENV).ok();
    AccessKey::from_env(value.as_deref()).map_err(Failure::usage)
}

/// Maps `--login` to the session's policy; `auto` allows a login only when
/// someone can see it.
pub(super) fn login_policy(mode: LoginMode, can_show_login: bool) -> LoginPolicy {
    match mode {
        LoginMode::Never => LoginPolicy::Never,
        LoginMode::Always => LoginPolicy::Always,
        LoginMode::Auto if can_show_login => LoginPolicy::Auto,
        LoginMode::Auto => LoginPolicy::Never,
    }
}

/// Returns the exit-code-2 failure for a caller that can carry only a
/// bearer token, or `None` for a bearer credential.
pub(super) fn bearer_only(output: &str, credential: &ApiCredential, profile: &str) -> Option<Failure> {
    match credential {
        ApiCredential::Bearer(_) => None,
        ApiCredential::AccessKey(key) => Some(Failure::usage(bearer_only_message(output, key, profile))),
    }
}

/// Maps a render error of `get --output` to a failure.
pub(super) fn render_failure(error: RenderError, credential: &ApiCredential, profile: &str) -> Failure {
    match (error, credential) {
        (RenderError::BearerOnly(output), ApiCredential::AccessKey(key)) => {
            Failure::usage(bearer_only_message(output, key, profile))
        }
        (RenderError::BearerOnly(output), _) => Failure::general(format!("{output} cannot render this credential")),
        (RenderError::InvalidValue(message), _) => Failure::general(message),
    }
}

/// Maps a store error to a failure with exit code 1.
pub(super) fn store_failure(error: crate::store::StoreError) -> Failure {
    Failure::general(error.to_string())
}
