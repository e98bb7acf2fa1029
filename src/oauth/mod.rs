//! The OAuth and portal side of BigAnimal: discovery, the device
//! authorization grant (RFC 8628), refresh, token exchange and revocation.
//!
//! [`AuthServer`] is the boundary the session logic talks to; [`client`]
//! implements it over HTTP, and tests implement it in memory.

pub mod client;
pub mod device;
pub mod jwt;

use crate::http::TransportError;
use crate::secret::Secret;
use std::fmt;

/// The document `GET {api}/auth/provider` returns. None of it is secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    /// The OAuth client id of the BigAnimal CLI application.
    pub client_id: String,
    /// The client id for free-trial accounts; older portals omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freetrial_client_id: Option<String>,
    /// The Auth0 issuer base, such as `https://auth.biganimal.com/`.
    pub issuer_uri: String,
    /// The scopes to request, space separated.
    #[serde(default)]
    pub scope: String,
    /// The API audience to request tokens for.
    #[serde(default)]
    pub audience: String,
}

/// The device authorization response (RFC 8628 §3.2).
pub struct DeviceAuthorization {
    /// The code the helper polls with; never shown to anyone.
    pub device_code: Secret,
    /// The code the person types or confirms in the browser.
    pub user_code: String,
    /// The page where the person enters the user code.
    pub verification_uri: String,
    /// The same page with the user code filled in, when the server offers it.
    pub verification_uri_complete: Option<String>,
    /// Seconds until the device code expires.
    pub expires_in: u64,
    /// Minimum seconds between polls, 5 when the server sends none.
    pub interval: f64,
}

/// A successful token response (RFC 6749 §5.1) from the issuer.
pub struct TokenResponse {
    /// The raw Auth0 access token, used only for the exchange.
    pub access_token: Secret,
    /// The OpenID Connect ID token, read for the account's e-mail.
    pub id_token: Option<Secret>,
    /// A new refresh token; absent when the issuer does not rotate.
    pub refresh_token: Option<Secret>,
    /// Lifetime of the access token in seconds.
    pub expires_in: Option<u64>,
}

/// A failed call to the issuer or the portal.
#[derive(Debug)]
pub enum Error {
    /// No readable response arrived.
    Transport {
        /// The operation, such as `token exchange`.
        operation: &'static str,
        /// The underlying failure.
        source: TransportError,
    },
    /// The issuer returned an OAuth error body (RFC 6749 §5.2).
    OAuth {
        /// The operation, such as `refresh`.
        operation: &'static str,
        /// The `error` field, such as `invalid_grant`.
        code: String,
        /// The `error_description` field, cleaned of control characters.
        description: Option<String>,
        /// The HTTP status code.
        status: u16,
        /// Seconds the server asked to wait, from `Retry-After` or `x-ratelimit-reset`.
        retry_after: Option<u64>,
    },
    /// The server returned an unexpected status and no OAuth error body.
    Status {
        /// The operation, such as `provider discovery`.
        operation: &'static str,
        /// The requested URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// A short, cleaned summary of the body (the portal's `error.message`).
        message: String,
        /// Seconds the server asked to wait, from `Retry-After` or `x-ratelimit-reset`.
        retry_after: Option<u64>,
    },
    /// The server returned 2xx but the body does not follow the protocol.
    InvalidResponse {
        /// The operation, such as `device authorization`.
        operation: &'static str,
        /// The requested URL.
        url: String,
        /// The problem with the body.
        detail: String,
    },
}

impl Error {
    /// Returns the OAuth `error` code, when the issuer sent one.
    pub fn oauth_code(&self) -> Option<&str> {
        match self {
            Error::OAuth { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Returns the seconds the server asked to wait before another request.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::OAuth { retry_after, .. } | Error::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transport { operation, source } => write!(f, "{operation} failed: {source}"),
            Error::OAuth {
                operation,
                code,
                description,
                status,
                ..
            } => {
                write!(f, "{operation} was rejected by the issuer with `{code}` (HTTP {status})")?;
                if let Some(description) = description {
                    write!(f, ": {description}")?;
                }
                Ok(())
            }
            Error::Status {
                operation,
                url,
                status,
                message,
                ..
            } => write!(f, "{operation} at `{url}` failed with HTTP {status}: {message}"),
            Error::InvalidResponse {
                operation,
                url,
                detail,
            } => write!(f, "{operation} at `{url}` returned an invalid response: {detail}"),
        }
    }
}

impl std::error::Error for Error {}

/// The issuer and portal operations the session needs.
pub trait AuthServer {
    /// Fetches `GET {api_url}/auth/provider`.
    fn discover(&self, api_url: &str) -> Result<Provider, Error>;

    /// Starts a device authorization at `{issuer}/oauth/device/code`.
    fn request_device_code(
        &self,
        issuer: &str,
        client_id: &str,
        scope: &str,
        audience: &str,
    ) -> Result<DeviceAuthorization, Error>;

    /// Polls `{issuer}/oauth/token` once with the device code grant, giving
    /// up after `time_left` (the device code's remaining lifetime) when
    /// that is shorter than the usual request timeout.
    fn poll_device_token(
        &self,
        issuer: &str,
        client_id: &str,
        device_code: &Secret,
        time_left: std::time::Duration,
    ) -> Result<TokenResponse, Error>;

    /// Exchanges a refresh token at `{issuer}/oauth/token`. Sent once: a
    /// refresh that may have reached the issuer is never repeated, because
    /// the issuer rotates the token on use and revokes the family on reuse.
    fn refresh(
        &self,
        issuer: &str,
        client_id: &str,
        refresh_token: &Secret,
    ) -> Result<TokenResponse, Error>;

    /// Exchanges a raw access token for a BigAnimal token at `{api_url}/auth/token`.
    fn exchange(&self, api_url: &str, access_token: &Secret) -> Result<Secret, Error>;

    /// Revokes a refresh token at `{issuer}/oauth/revoke`.
    fn revoke(&self, issuer: &str, client_id: &str, token: &Secret) -> Result<(), Error>;
}

/// Joins the issuer base and an endpoint path, with exactly one slash between.
pub fn issuer_endpoint(issuer: &str, path: &str) -> String {
    format!("{}/{}", issuer.trim_end_matches('/'), path.trim_start_matches('/'))
}
