//! The get-a-credential use case, apart from the OS: it takes its clock,
//! issuer/portal client, store and discovery cache as values.
//!
//! `get` reads top to bottom as key → load → check → lock → re-read →
//! refresh or login → save → return:
//!
//! | stored state                                      | result                                  |
//! |---------------------------------------------------|-----------------------------------------|
//! | token valid for at least `min_ttl`                | served; no lock, no network             |
//! | after the lock: token changed while waiting, still valid | served (another process renewed it) |
//! | refresh token younger than its 30-day lifetime    | refresh, then exchange                  |
//! | refresh rejected with `invalid_grant`             | forget it if still stored, then login   |
//! | refresh failed otherwise (network, 5xx)           | error; the refresh is not repeated      |
//! | a refresh was in flight and its outcome is unknown | forget the refresh token, then login   |
//! | no refresh token, policy `Never`                  | `LoginRequired`                         |
//! | no refresh token, policy `Auto`, a login failed in the last 10 min | `LoginRequired`        |
//! | no refresh token, otherwise                       | device login, then exchange             |
//!
//! A rotated refresh token is saved before the exchange, so a crash or a
//! failed exchange never leaves the store with a token the issuer has
//! already retired. Before a refresh token is sent, its record is marked as
//! in flight. A later process that finds the mark treats the outcome as
//! lost and does not send that token again, because the issuer revokes the
//! whole login when a rotated-out token comes back.

use crate::clock::{from_unix, Clock};
use crate::identity::{DiscoveryCache, Identity};
use crate::fault;
use crate::log;
use crate::oauth::device::{poll_for_tokens, DeviceLoginError};
use crate::oauth::{jwt, AuthServer, DeviceAuthorization, TokenResponse};
use crate::secret::Secret;
use crate::store::lock::{self, LockError, LockGuard};
use crate::store::record::{RefreshRecord, TokenRecord, FORMAT_VERSION};
use crate::store::{file, CredentialStore, StoreError};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use time::OffsetDateTime;

/// How long a refresh-token family lives from login; Auth0's absolute
/// lifetime with rotation, which BigAnimal documents as 30 days.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 86_400);
/// How long `Auto` declines to start a new login after one failed.
pub const LOGIN_RETRY_PAUSE: Duration = Duration::from_secs(600);
/// Token lifetime assumed when neither the token nor the issuer states one.
const FALLBACK_LIFETIME: Duration = Duration::from_secs(3600);

/// When a device login may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginPolicy {
    /// Never; fail with [`SessionError::LoginRequired`] instead.
    Never,
    /// When someone can see it, unless a login failed in the last
    /// [`LOGIN_RETRY_PAUSE`], so that a caller's retries do not start a
    /// login each.
    Auto,
    /// Whenever a login is needed.
    Always,
}

/// Fixed inputs of a session.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The profile name.
    pub profile: String,
    /// The API base.
    pub api_url: String,
    /// Log in with the portal's free-trial client id.
    pub free_trial: bool,
    /// A token with less than this left is renewed.
    pub min_ttl: Duration,
    /// Maximum wait for another process's refresh or login.
    pub lock_timeout: Duration,
    /// Directory of lock files.
    pub lock_dir: PathBuf,
    /// Directory for login-failure markers.
    pub state_dir: PathBuf,
    /// The command that logs in with these settings, for hints, such as
    /// `biganimal-credential login --profile prod`.
    pub login_command: String,
}

/// Shows a device login to a person.
pub trait LoginPrompt {
    /// Shows the verification URL and user code.
    fn show(&mut self, authorization: &DeviceAuthorization);
    /// Called before each poll with the seconds left on the code.
    fn waiting(&mut self, seconds_left: i64);
    /// Called once when polling ends, successfully or not.
    fn finished(&mut self);
}

/// Where a served credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The store, without network.
    Cache,
    /// A refresh-token grant and exchange.
    Refresh,
    /// A device login and exchange.
    Login,
}

/// A BigAnimal token ready to hand out.
pub struct Credential {
    /// The BigAnimal bearer token.
    pub token: Secret,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    /// The origin of the credential.
    pub source: Source,
}

/// A reason why no credential could be served.
#[derive(Debug)]
pub enum SessionError {
    /// A device login is needed but not allowed here.
    LoginRequired {
        /// The command that logs in with the same settings.
        command: String,
        /// Why, in words.
        reason: String,
    },
    /// The device login ended without tokens.
    Login(DeviceLoginError),
    /// The issuer or the portal failed.
    Auth(crate::oauth::Error),
    /// The store failed.
    Store(StoreError),
    /// The per-identity lock could not be taken.
    Lock(LockError),
    /// A setting or a discovery value is invalid.
    Config(String),
    /// Provider discovery at the API base failed, which usually means the
    /// API URL is wrong.
    Discovery(crate::oauth::Error),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::LoginRequired { command, reason } => {
                write!(f, "login required: {reason}; run `{command}`")
            }
            SessionError::Login(e) => write!(f, "{e}"),
            SessionError::Auth(e) => write!(f, "{e}"),
            SessionError::Store(e) => write!(f, "{e}"),
            SessionError::Lock(e) => write!(f, "{e}"),
            SessionError::Config(e) => f.write_str(e),
            // A reply that is not a discovery document usually means a wrong
            // API URL; a connection, TLS or proxy failure, a rate limit or a
            // server error has its own cause.
            SessionError::Discovery(e @ crate::oauth::Error::Transport { .. }) => write!(f, "{e}"),
            SessionError::Discovery(e @ crate::oauth::Error::Status { status, .. }) if *status == 429 || *status >= 500 => {
                write!(f, "{e}; the API is failing or rate limiting, so try again later")
            }
            SessionError::Discovery(e) => write!(
                f,
                "{e}; check that the API URL (`--api-url` or `BA_API_URI`) is the BigAnimal API base, \
                 such as `{}`",
                crate::config::DEFAULT_API_URL
            ),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        SessionError::Store(e)
    }
}

impl From<crate::oauth::Error> for SessionError {
    fn from(e: crate::oauth::Error) -> Self {
        SessionError::Auth(e)
    }
}

impl From<LockError> for SessionError {
    fn from(e: LockError) -> Self {
        SessionError::Lock(e)
    }
}

/// The use case with its collaborators.
pub struct Session<'a> {
    settings: &'a Settings,
    server: &'a dyn AuthServer,
    store: &'a CredentialStore,
    discovery: &'a DiscoveryCache,
    clock: &'a dyn Clock,
    /// The discovery fetched over the network by this session, if any, so
    /// a login right after a cache miss does not fetch it twice.
    discovered: std::cell::RefCell<Option<crate::oauth::Provider>>,
}

impl<'a> Session<'a> {
    /// Creates a session from its collaborators.
    pub fn new(
        settings: &'a Settings,
        server: &'a dyn AuthServer,
        store: &'a CredentialStore,
        discovery: &'a DiscoveryCache,
        clock: &'a dyn Clock,
    ) -> Self {
        Session {
            settings,
            server,
            store,
            discovery,
            clock,
            discovered: std::cell::RefCell::new(None),
        }
    }

    /// Returns a valid BigAnimal token: cached, refreshed, or from a new
    /// device login, following the table in the module documentation.
    pub fn get(&self, policy: LoginPolicy, prompt: &mut dyn LoginPrompt) -> Result<Credential, SessionError> {
        let identity = self.identity()?;
        let key = identity.key();
        let cached = self.store.load_token(&key)?;
        if let Some(credential) = self.fresh(cached.as_ref(), self.settings.min_ttl) {
            return Ok(credential);
        }

        let _lock = match self.try_lock(&identity, "refresh or device login")? {
            Some(lock) => lock,
            None => {
                // Another process is renewing this token: wait for it, then
                // read what it stored, together with every other waiter.
                lock::wait_until_released(&self.settings.lock_dir, &identity.lock_name(), self.settings.lock_timeout)?;
                if let Some(credential) = self.renewed_meanwhile(&key, cached.as_ref())? {
                    return Ok(credential);
                }
                self.lock(&identity, "refresh or device login")?
            }
        };
        if let Some(credential) = self.renewed_meanwhile(&key, cached.as_ref())? {
            return Ok(credential);
        }

        if let Some(refresh) = self.usable_refresh(&identity)? {
            match self.refresh(&identity, refresh) {
                Ok(credential) => return Ok(credential),
                Err(RefreshFailure::Rejected(e)) => {
                    log::notice(&format!("the stored login is no longer valid ({e}); a new login is needed"));
                }
                Err(RefreshFailure::Other(e)) => return self.current_or(&key, e),
            }
        }

        match policy {
            LoginPolicy::Never => self.current_or(
                &key,
                self.login_required(format!("no valid stored login for profile `{}`", identity.profile)),
            ),
            LoginPolicy::Auto if self.recent_login_failure(&identity).is_some() => self.current_or(
                &key,
                self.login_required(format!(
                    "the last device login for profile `{}` failed less than {} minutes ago",
                    identity.profile,
                    LOGIN_RETRY_PAUSE.as_secs() / 60
                )),
            ),
            LoginPolicy::Auto | LoginPolicy::Always => self.device_login(&identity, prompt),
        }
    }

    fn login_required(&self, reason: String) -> SessionError {
        SessionError::LoginRequired {
            command: self.settings.login_command.clone(),
            reason,
        }
    }

    /// Serves the stored token while it has any time left, although it is
    /// inside the renewal margin, because renewing it failed with `error`.
    /// Returns `error` when the token has expired or is absent.
    fn current_or(&self, key: &str, error: SessionError) -> Result<Credential, SessionError> {
        let current = self.store.load_token_uncached(key)?;
        match self.fresh(current.as_ref(), Duration::ZERO) {
            Some(credential) => {
                let left = (credential.expires_at - self.clock.now()).whole_seconds();
                log::notice(&format!(
                    "could not renew the token ({error}); serving the current one, which expires in {}",
                    crate::clock::human_duration(left)
                ));
                Ok(credential)
            }
            None => Err(error),
        }
    }

    /// Runs a device login whatever is stored, under the identity's lock.
    pub fn login(&self, prompt: &mut dyn LoginPrompt) -> Result<Credential, SessionError> {
        let identity = self.identity()?;
        let _lock = self.lock(&identity, "device login")?;
        self.device_login(&identity, prompt)
    }

    /// Revokes the stored refresh token at the issuer (best effort) and
    /// deletes the identity's token and refresh token, under the identity's
    /// lock so that a refresh running elsewhere cannot store a new token
    /// afterwards. Returns whether anything was stored.
    pub fn logout(&self) -> Result<bool, SessionError> {
        let identity = self.identity()?;
        let key = identity.key();
        let lock = self.lock(&identity, "logout")?;
        let refresh = self.store.load_refresh(&key)?;
        let token = self.store.load_token_uncached(&key)?;

        if let Some(refresh) = &refresh {
            match self.server.revoke(&refresh.issuer, &refresh.client_id, &refresh.refresh_token) {
                Ok(()) => log::info("revoked the refresh token at the issuer"),
                Err(e) => log::notice(&format!(
                    "could not revoke the refresh token at the issuer ({e}); deleting it locally anyway"
                )),
            }
        }
        self.store.delete_refresh(&key)?;
        self.store.delete_token(&key)?;
        self.clear_login_failure(&identity);
        drop(lock);
        lock::remove_unheld(&self.settings.lock_dir, &identity.lock_name());
        Ok(refresh.is_some() || token.is_some())
    }

    /// Resolves the identity from cached discovery, or discovers and caches it.
    pub fn identity(&self) -> Result<Identity, SessionError> {
        let api_url = &self.settings.api_url;
        let provider = match self.discovery.load(api_url) {
            Some(provider) => provider,
            None => self.discover()?,
        };
        Identity::new(&self.settings.profile, api_url, &provider, self.settings.free_trial)
            .map_err(SessionError::Config)
    }

    /// Returns the stored credential when it has at least `margin` left.
    fn fresh(&self, record: Option<&TokenRecord>, margin: Duration) -> Option<Credential> {
        let record = record?;
        let expires_at = from_unix(record.expires_at);
        let left = expires_at - self.clock.now();
        if left.is_positive() && left.unsigned_abs() >= margin && left.unsigned_abs() > Duration::ZERO {
            Some(Credential {
                token: record.token.clone(),
                expires_at,
                source: Source::Cache,
            })
        } else {
            None
        }
    }

    fn lock(&self, identity: &Identity, action: &str) -> Result<LockGuard, SessionError> {
        let purpose = format!("{action} of profile `{}`", identity.profile);
        Ok(lock::acquire(
            &self.settings.lock_dir,
            &identity.lock_name(),
            &purpose,
            self.settings.lock_timeout,
        )?)
    }

    fn try_lock(&self, identity: &Identity, action: &str) -> Result<Option<LockGuard>, SessionError> {
        let purpose = format!("{action} of profile `{}`", identity.profile);
        Ok(lock::try_acquire(&self.settings.lock_dir, &identity.lock_name(), &purpose)?)
    }

    /// Re-reads the token (see [`CredentialStore::load_token_after_wait`])
    /// and returns it when it is usable.
    /// That needs the full margin, or any time left when the token differs
    /// from `before`: another process renewed it, and renewing it again
    /// would not give a longer-lived one.
    fn renewed_meanwhile(&self, key: &str, before: Option<&TokenRecord>) -> Result<Option<Credential>, SessionError> {
        let reread = self.store.load_token_after_wait(key, before)?;
        let changed = match (before, &reread) {
            (Some(before), Some(after)) => before.token != after.token,
            (None, Some(_)) => true,
            _ => false,
        };
        let margin = if changed { Duration::ZERO } else { self.settings.min_ttl };
        let credential = self.fresh(reread.as_ref(), margin);
        if credential.is_some() && changed {
            log::info("another process renewed the token while this one waited");
        }
        Ok(credential)
    }

    /// Loads the refresh record when it can still be used.
    fn usable_refresh(&self, identity: &Identity) -> Result<Option<RefreshRecord>, SessionError> {
        let key = identity.key();
        let Some(record) = self.store.load_refresh(&key)? else {
            return Ok(None);
        };
        let age = self.clock.now() - from_unix(record.login_at);
        if age.unsigned_abs() >= REFRESH_TOKEN_LIFETIME && age.is_positive() {
            log::notice(&format!(
                "the stored login for profile `{}` is older than {} days and can no longer be refreshed",
                identity.profile,
                REFRESH_TOKEN_LIFETIME.as_secs() / 86_400
            ));
            self.store.delete_refresh(&key)?;
            return Ok(None);
        }
        if record.issuer != identity.issuer || record.client_id != identity.client_id {
            return Ok(None);
        }
        if record.refresh_started_at.is_some() {
            log::notice(&format!(
                "an earlier refresh for profile `{}` ended before its answer was stored; \
                 its refresh token may already be rotated by the issuer and is not sent again",
                identity.profile
            ));
            self.store.delete_refresh(&key)?;
            return Ok(None);
        }
        Ok(Some(record))
    }

    fn refresh(&self, identity: &Identity, record: RefreshRecord) -> Result<Credential, RefreshFailure> {
        let key = identity.key();
        log::info(&format!("refreshing the token for profile `{}`", identity.profile));
        let requested_at = self.clock.now();
        let in_flight = RefreshRecord {
            refresh_started_at: Some(requested_at.unix_timestamp()),
            ..record.clone()
        };
        self.store.save_refresh(&key, &in_flight).map_err(|e| RefreshFailure::Other(e.into()))?;

        let answer = self.server.refresh(&record.issuer, &record.client_id, &record.refresh_token);
        fault::point("refresh-answered");
        let tokens = match answer {
            Ok(tokens) => tokens,
            Err(e) if e.oauth_code() == Some("invalid_grant") => {
                self.forget_refresh_if_unchanged(&key, &record.refresh_token)
                    .map_err(RefreshFailure::Other)?;
                return Err(RefreshFailure::Rejected(e));
            }
            Err(e) => {
                if issuer_kept_token(&e) {
                    self.store.save_refresh(&key, &record).map_err(|e| RefreshFailure::Other(e.into()))?;
                } else {
                    log::notice(
                        "the refresh may have reached the issuer without its answer arriving; \
                         the stored refresh token is not sent again, because the issuer may have rotated it",
                    );
                }
                return Err(RefreshFailure::Other(e.into()));
            }
        };

        let updated = RefreshRecord {
            refresh_token: tokens.refresh_token.clone().unwrap_or(record.refresh_token),
            rotated_at: match tokens.refresh_token {
                Some(_) => requested_at.unix_timestamp(),
                None => record.rotated_at,
            },
            email: tokens.id_token.as_ref().and_then(|t| jwt::email(t.expose())).or(record.email),
            refresh_started_at: None,
            ..record
        };
        self.store.save_refresh(&key, &updated).map_err(|e| RefreshFailure::Other(e.into()))?;
        fault::point("refresh-saved");
        self.exchange_and_save(identity, &tokens, requested_at, Source::Refresh)
            .map_err(RefreshFailure::Other)
    }

    /// Deletes the stored refresh token only if it is still `failed`: another
    /// process may have stored a newer one meanwhile.
    fn forget_refresh_if_unchanged(&self, key: &str, failed: &Secret) -> Result<(), SessionError> {
        if let Some(current) = self.store.load_refresh(key)? {
            if &current.refresh_token == failed {
                self.store.delete_refresh(key)?;
            }
        }
        Ok(())
    }

    fn device_login(&self, cached: &Identity, prompt: &mut dyn LoginPrompt) -> Result<Credential, SessionError> {
        // A login fetches discovery afresh: the portal may have changed its client.
        let fetched = self.discovered.borrow().clone();
        let provider = match fetched {
            Some(provider) => provider,
            None => self.discover()?,
        };
        let identity = Identity::new(&cached.profile, &cached.api_url, &provider, self.settings.free_trial)
            .map_err(SessionError::Config)?;
        let key = identity.key();

        let authorization =
            self.server
                .request_device_code(&identity.issuer, &identity.client_id, &identity.scope, &identity.audience)?;
        prompt.show(&authorization);
        let polled = poll_for_tokens(
            self.server,
            self.clock,
            &identity.issuer,
            &identity.client_id,
            &authorization,
            &mut |left| prompt.waiting(left),
        );
        prompt.finished();
        fault::point("login-answered");
        let tokens = match polled {
            Ok(tokens) => tokens,
            Err(e) => {
                self.record_login_failure(&identity);
                return Err(SessionError::Login(e));
            }
        };
        let requested_at = self.clock.now();
        self.clear_login_failure(&identity);

        let login_at = requested_at.unix_timestamp();
        match &tokens.refresh_token {
            Some(refresh_token) => {
                let record = RefreshRecord {
                    v: FORMAT_VERSION,
                    refresh_token: refresh_token.clone(),
                    issuer: identity.issuer.clone(),
                    client_id: identity.client_id.clone(),
                    login_at,
                    rotated_at: login_at,
                    email: tokens.id_token.as_ref().and_then(|t| jwt::email(t.expose())),
                    refresh_started_at: None,
                };
                self.store.save_refresh(&key, &record)?;
                fault::point("login-saved");
            }
            None => {
                log::notice("the issuer returned no refresh token; the next expiry will need a new login");
                self.store.delete_refresh(&key)?;
            }
        }
        self.exchange_and_save(&identity, &tokens, requested_at, Source::Login)
    }

    fn exchange_and_save(
        &self,
        identity: &Identity,
        tokens: &TokenResponse,
        requested_at: OffsetDateTime,
        source: Source,
    ) -> Result<Credential, SessionError> {
        let token = self.server.exchange(&identity.api_url, &tokens.access_token)?;
        fault::point("exchange-answered");
        let expires_at = expiry_of(&token, tokens, requested_at);
        let lifetime = (expires_at - requested_at).unsigned_abs();
        if lifetime < self.settings.min_ttl {
            log::notice(&format!(
                "the new token lives {}, less than the renewal margin `--min-ttl` of {}, \
                 so every call renews it; lower `--min-ttl` (or `BIGANIMAL_MIN_TTL`)",
                crate::clock::human_duration(lifetime.as_secs() as i64),
                crate::clock::human_duration(self.settings.min_ttl.as_secs() as i64)
            ));
        }
        let record = TokenRecord {
            v: FORMAT_VERSION,
            token: token.clone(),
            expires_at: expires_at.unix_timestamp(),
            obtained_at: requested_at.unix_timestamp(),
        };
        self.store.save_token(&identity.key(), &record)?;
        Ok(Credential { token, expires_at, source })
    }

    /// Fetches provider discovery and caches it.
    fn discover(&self) -> Result<crate::oauth::Provider, SessionError> {
        let api_url = &self.settings.api_url;
        log::info(&format!("discovering the login provider at `{api_url}/auth/provider`"));
        let provider = self.server.discover(api_url).map_err(SessionError::Discovery)?;
        if let Err(e) = self.discovery.save(api_url, &provider) {
            log::notice(&format!("could not cache the provider discovery: {e}"));
        }
        *self.discovered.borrow_mut() = Some(provider.clone());
        Ok(provider)
    }

    fn failure_marker(&self, identity: &Identity) -> PathBuf {
        self.settings
            .state_dir
            .join(format!("login-failed-{}", identity.lock_name()))
    }

    fn record_login_failure(&self, identity: &Identity) {
        let path = self.failure_marker(identity);
        let stamp = self.clock.now().unix_timestamp().to_string();
        let _ = file::create_private_dir(&self.settings.state_dir)
            .and_then(|_| file::write_atomically(&path, stamp.as_bytes()));
    }

    fn clear_login_failure(&self, identity: &Identity) {
        let _ = std::fs::remove_file(self.failure_marker(identity));
    }

    /// Returns when the last login failed, if within [`LOGIN_RETRY_PAUSE`].
    fn recent_login_failure(&self, identity: &Identity) -> Option<OffsetDateTime> {
        let text = std::fs::read_to_string(self.failure_marker(identity)).ok()?;
        let at = from_unix(text.trim().parse().ok()?);
        let since = self.clock.now() - at;
        (!since.is_negative() && since.unsigned_abs() < LOGIN_RETRY_PAUSE).then_some(at)
    }
}

/// A reason why a refresh did not produce a credential.
enum RefreshFailure {
    /// The issuer rejected the refresh token (`invalid_grant`): log in again.
    Rejected(crate::oauth::Error),
    /// Anything else: report it.
    Other(SessionError),
}

/// Tells whether a failed refresh certainly left the refresh token valid:
/// the request never left this machine, the issuer itself answered with
/// an OAuth error (an issuer rotates only on success), or the answer was a
/// 4xx. A 5xx without an OAuth error body may come from a gateway after
/// the issuer rotated the token, so its outcome counts as unknown.
fn issuer_kept_token(error: &crate::oauth::Error) -> bool {
    match error {
        crate::oauth::Error::Transport { source, .. } => source.not_sent,
        crate::oauth::Error::OAuth { .. } => true,
        crate::oauth::Error::Status { status, .. } => *status < 500,
        crate::oauth::Error::InvalidResponse { .. } => false,
    }
}

/// Works out when a BigAnimal token expires: its JWT `exp`, else the raw
/// token's `expires_in` counted from the request, else one hour.
pub fn expiry_of(token: &Secret, tokens: &TokenResponse, requested_at: OffsetDateTime) -> OffsetDateTime {
    if let Some(exp) = jwt::expiry(token.expose()) {
        return from_unix(exp);
    }
    match tokens.expires_in {
        Some(seconds) => requested_at + Duration::from_secs(seconds.min(366 * 86_400)),
        None => requested_at + FALLBACK_LIFETIME,
    }
}

#[cfg(test)]
mod tests {
    //! The decision table, driven with an in-memory issuer, an in-memory
    //! store and a fake clock.

    use super::*;
    use crate::clock::fake::FakeClock;
    use crate::oauth::{Error as OAuthError, Provider};
    use crate::store::{SecretStore, StoreError};
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemoryStore(Mutex<HashMap<String, String>>);

    impl SecretStore for MemoryStore {
        fn name(&self) -> &'static str {
            "memory"
        }
        fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
            Ok(self.0.lock().unwrap().get(key).cloned())
        }
        fn set(&self, key: &str, value: &str) -> Result<(), StoreError> {
            self.0.lock().unwrap().insert(key.to_string(), value.to_string());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.0.lock().unwrap().remove(key);
            Ok(())
        }
    }

    /// An issuer and portal in memory that counts calls.
    #[derive(Default)]
    struct FakeServer {
        calls: RefCell<Vec<&'static str>>,
        refresh_answer: RefCell<Option<&'static str>>,
        rotate: bool,
        next_token: RefCell<u32>,
    }

    impl FakeServer {
        fn rotating() -> Self {
            FakeServer {
                rotate: true,
                ..Default::default()
            }
        }
        fn calls(&self) -> Vec<&'static str> {
            self.calls.borrow().clone()
        }
        fn tokens(&self) -> TokenResponse {
            *self.next_token.borrow_mut() += 1;
            let n = *self.next_token.borrow();
            TokenResponse {
                access_token: Secret::new(format!("raw-{n}")),
                id_token: None,
                refresh_token: self.rotate.then(|| Secret::new(format!("rt-{n}"))),
                expires_in: Some(3600),
            }
        }
    }

    impl AuthServer for FakeServer {
        fn discover(&self, _: &str) -> Result<Provider, OAuthError> {
            self.calls.borrow_mut().push("discover");
            Ok(Provider {
                client_id: "client".to_string(),
                freetrial_client_id: None,
                issuer_uri: "https://issuer.example/".to_string(),
                scope: "openid offline_access".to_string(),
                audience: "aud".to_string(),
            })
        }
        fn request_device_code(&self, _: &str, _: &str, _: &str, _: &str) -> Result<DeviceAuthorization, OAuthError> {
            self.calls.borrow_mut().push("device_code");
            Ok(DeviceAuthorization {
                device_code: Secret::new("dc"),
                user_code: "ABCD-EFGH".to_string(),
                verification_uri: "https://issuer.example/activate".to_string(),
                verification_uri_complete: None,
                expires_in: 600,
                interval: 5.0,
            })
        }
        fn poll_device_token(&self, _: &str, _: &str, _: &Secret, _: Duration) -> Result<TokenResponse, OAuthError> {
            self.calls.borrow_mut().push("poll");
            let mut tokens = self.tokens();
            tokens.refresh_token = Some(Secret::new("rt-login"));
            Ok(tokens)
        }
        fn refresh(&self, _: &str, _: &str, _: &Secret) -> Result<TokenResponse, OAuthError> {
            self.calls.borrow_mut().push("refresh");
            match *self.refresh_answer.borrow() {
                Some("lost") => Err(OAuthError::Transport {
                    operation: "refresh",
                    source: crate::http::TransportError {
                        url: "https://issuer.example/oauth/token".to_string(),
                        detail: "connection reset".to_string(),
                        not_sent: false,
                        permanent: false,
                    },
                }),
                Some(code) => Err(OAuthError::OAuth {
                    operation: "refresh",
                    code: code.to_string(),
                    description: None,
                    status: 403,
                    retry_after: None,
                }),
                None => Ok(self.tokens()),
            }
        }
        fn exchange(&self, _: &str, raw: &Secret) -> Result<Secret, OAuthError> {
            self.calls.borrow_mut().push("exchange");
            Ok(Secret::new(format!("ba-{}", raw.expose())))
        }
        fn revoke(&self, _: &str, _: &str, _: &Secret) -> Result<(), OAuthError> {
            self.calls.borrow_mut().push("revoke");
            Ok(())
        }
    }

    struct SilentPrompt(u32);

    impl LoginPrompt for SilentPrompt {
        fn show(&mut self, _: &DeviceAuthorization) {
            self.0 += 1;
        }
        fn waiting(&mut self, _: i64) {}
        fn finished(&mut self) {}
    }

    struct Fixture {
        settings: Settings,
        store: CredentialStore,
        discovery: DiscoveryCache,
        clock: FakeClock,
    }

    impl Fixture {
        fn new(name: &str) -> Self {
            let root = std::env::temp_dir().join(format!("bac-session-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            Fixture {
                settings: Settings {
                    profile: "default".to_string(),
                    api_url: "https://portal.example/api/v3".to_string(),
                    free_trial: false,
                    min_ttl: Duration::from_secs(300),
                    lock_timeout: Duration::from_secs(1),
                    lock_dir: root.join("locks"),
                    state_dir: root.join("state"),
                    login_command: "biganimal-credential login".to_string(),
                },
                store: CredentialStore::new(Box::new(MemoryStore::default())),
                discovery: DiscoveryCache::new(root.join("cache")),
                clock: FakeClock::new(),
            }
        }

        fn session<'a>(&'a self, server: &'a FakeServer) -> Session<'a> {
            Session::new(&self.settings, server, &self.store, &self.discovery, &self.clock)
        }
    }

    #[test]
    fn first_get_logs_in_then_caches() {
        let fixture = Fixture::new("first");
        let server = FakeServer::rotating();
        let mut prompt = SilentPrompt(0);
        let first = fixture.session(&server).get(LoginPolicy::Always, &mut prompt).unwrap();
        assert_eq!(first.source, Source::Login);
        assert_eq!(prompt.0, 1);
        assert_eq!(server.calls(), vec!["discover", "device_code", "poll", "exchange"]);

        server.calls.borrow_mut().clear();
        let second = fixture.session(&server).get(LoginPolicy::Never, &mut prompt).unwrap();
        assert_eq!(second.source, Source::Cache);
        assert_eq!(second.token, first.token);
        assert!(server.calls().is_empty());
    }

    #[test]
    fn refresh_under_min_ttl_uses_two_requests() {
        let fixture = Fixture::new("refresh");
        let server = FakeServer::rotating();
        let mut prompt = SilentPrompt(0);
        fixture.session(&server).get(LoginPolicy::Always, &mut prompt).unwrap();
        server.calls.borrow_mut().clear();

        fixture.clock.advance(Duration::from_secs(3600 - 200));
        let renewed = fixture.session(&server).get(LoginPolicy::Never, &mut prompt).unwrap();
        assert_eq!(renewed.source, Source::Refresh);
        assert_eq!(server.calls(), vec!["refresh", "exchange"]);
        let stored = fixture.store.load_refresh(&fixture.session(&server).identity().unwrap().key()).unwrap().unwrap();
        assert_eq!(stored.refresh_token.expose(), "rt-2");
    }

    #[test]
    fn refresh_without_rotation_keeps_old_token() {
        let fixture = Fixture::new("norotate");
        let server = FakeServer::default();
        let mut prompt = SilentPrompt(0);
        fixture.session(&server).get(LoginPolicy::Always, &mut prompt).unwrap();
        fixture.clock.advance(Duration::from_secs(3500));
        fixture.session(&server).get(LoginPolicy::Never, &mut prompt).unwrap();
        let key = fixture.session(&server).identity().unwrap().key();
        let stored = fixture.store.load_refresh(&key).unwrap().unwrap();
        assert_eq!(stored.refresh_token.expose(), "rt-login");
    }

    #[test]
    fn invalid_grant_with_never_fails_fast() {
        let fixture = Fixture::new("invalid-never");
        let server = FakeServer::rotating();
        let mut prompt = SilentPrompt(0);
        fixture.session(&server).get(LoginPolicy::Always, &mut prompt).unwrap();
        *server.refresh_answer.borrow_mut() = Some("invalid_grant");
        fixture.clock.advance(Duration::from_secs(3601));

        let err = fixture.session(&server).get(LoginPolicy::Never, &mut prompt).err().unwrap();
        assert!(matches!(err, SessionError::LoginRequired { .. }), "{err}");
        assert!(err.to_string().contains("biganimal-credential login"), "{err}");
        let key = fixture.session(&server).identity().unwrap().key();
        assert!(fixture.store.load_refresh(&key).unwrap().is_none());
    }

    #[test]
    fn invalid_grant_with_always_logs_in() {
        let fixture = Fixture::new("invalid-always");
        let server = FakeServer::rotating();
        let mut prompt = SilentPrompt(0);
        fixture.session(&server).get(LoginPolicy::Always, &mut prompt).unwrap();
        *server.refresh_answer.borrow_mut() = Some("invalid_grant");
        fixture.clock.advance(Duration::from_secs(3500));
        server.calls.borrow_mut().clear();

        let credential = fixture.session(&server).get(LoginPolicy::Always, &mut prompt).unwrap();
        assert_eq!(credential.source, Source::Login);
        assert_eq!(server.calls(), vec!["refresh", "discover", "device_code", "poll", "exchange"]);
    }

    #[test]
    fn other_refresh_error_is_reported_and_kept() {
        let fixture = Fixture::new("refresh-error");
        let server = FakeServer::rotating();
        let mut prompt = SilentPrompt(0);
        fixture.session(&server).get(LoginPolicy::Always, &mut prompt).unwrap();
        *server.refresh_answer.borrow_mut() = Some("temporarily_unavailable");
        fixture.clock.advance(Duration::from_secs(3601));

        let err = fixture.session(&server).get(LoginPolicy::Always, &mut prompt).err().unwrap();
        assert!(matches!(err, SessionError::Auth(_)), "{err}");
        let key = fixture.session(&server).identity().unwrap().key();
        assert!(fixture.store.load_refresh(&key).unwrap().is_some());
    }

    #[test]
    fn lost_refresh_answer_is_not_retried() {
        let fixture = Fixture::new("lost-answer");
        let server = FakeServer::rotating();
        let mut prompt = SilentPrompt(0);
        fixture.session(&server).get(LoginPolicy::Always, &mut prompt).unwrap();
        *server.refresh_answer.borrow_mut() = Some("lost");
        fixture.clock.advance(Duration::from_secs(3601));

        let err = fixture.session(&server).get(LoginPolicy::Never, &mut prompt).err().unwrap();
        assert!(matches!(err, SessionError::Auth(_)), "{err}");

        *server.refresh_answer.borrow_mut() = None;
        server.calls.borrow_mut().clear();
        let err = fixture.session(&server).get(LoginPolicy::Never, &mut prompt).err().unwrap();
        assert!(matches!(err, SessionError::LoginRequired { .. }), "{err}");
        assert!(server.calls().is_empty(), "the possibly rotated token is not sent: {:?}", server.calls());
    }

    #[test]
    fn failed_renewal_serves_current_token() {
        let fixture = Fixture::new("serve-current");
        let server = FakeServer::rotating();
        let mut prompt = SilentPrompt(0);
        let first = fixture.session(&server).get(LoginPolicy::Always, &mut prompt).unwrap();
        *server.refresh_answer.borrow_mut() = Some("temporarily_unavailable");
        fixture.clock.advance(Duration::from_secs(3500));

        let served = fixture.session(&server).get(LoginPolicy::Never, &mut prompt).unwrap();
        assert_eq!(served.token, first.token, "the token with 100 s left is served");
        assert_eq!(served.source, Source::Cache);

        fixture.clock.advance(Duration::from_secs(101));
        let err = fixture.session(&server).get(LoginPolicy::Never, &mut prompt).err().unwrap();
        assert!(matches!(err, SessionError::Auth(_)), "an expired token is not served: {err}");
    }

    #[test]
    fn old_refresh_token_is_not_used() {
        let fixture = Fixture::new("old-refresh");
        let server = FakeServer::rotating();
        let mut prompt = SilentPrompt(0);
        fixture.session(&server).get(LoginPolicy::Always, &mut prompt).unwrap();
        fixture.clock.advance(REFRESH_TOKEN_LIFETIME + Duration::from_secs(1));
        server.calls.borrow_mut().clear();

        let err = fixture.session(&server).get(LoginPolicy::Never, &mut prompt).err().unwrap();
        assert!(matches!(err, SessionError::LoginRequired { .. }));
        assert!(server.calls().is_empty());
    }

    #[test]
    fn auto_policy_pauses_after_failed_login() {
        let fixture = Fixture::new("pause");
        let server = FakeServer::rotating();
        let identity = fixture.session(&server).identity().unwrap();
        fixture.session(&server).record_login_failure(&identity);

        let err = fixture.session(&server).get(LoginPolicy::Auto, &mut SilentPrompt(0)).err().unwrap();
        assert!(err.to_string().contains("failed less than 10 minutes ago"), "{err}");

        fixture.clock.advance(LOGIN_RETRY_PAUSE);
        assert!(fixture.session(&server).get(LoginPolicy::Auto, &mut SilentPrompt(0)).is_ok());
    }

    #[test]
    fn expiry_prefers_jwt_exp() {
        use base64::Engine;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"exp":1800000000}"#);
        let token = Secret::new(format!("h.{payload}.s"));
        let tokens = TokenResponse {
            access_token: Secret::new("raw"),
            id_token: None,
            refresh_token: None,
            expires_in: Some(60),
        };
        let at = time::macros::datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(expiry_of(&token, &tokens, at).unix_timestamp(), 1_800_000_000);
        assert_eq!(expiry_of(&Secret::new("opaque"), &tokens, at), at + Duration::from_secs(60));
    }
}
