//! The one HTTP client of the helper, configured on purpose.
//!
//! - Status codes are returned, not raised: OAuth endpoints put the useful
//!   answer in the body of 4xx responses (Auth0 uses 403 and 429).
//! - An overall timeout per request (`--http-timeout`, default 30 s), of
//!   which connecting (and finishing TLS) may take at most 10 s.
//! - Response bodies are capped at 1 MiB; every answer this helper reads is
//!   a small JSON document.
//! - Redirects are not followed: none of the endpoints redirects, and a
//!   redirect could move a token to another host.
//! - Proxies come from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`.
//!
//! Request and response bodies are never logged: they carry tokens.

use std::fmt;
use std::time::Duration;

/// Maximum response body size read from any endpoint, in bytes.
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Maximum time to open a TCP connection (and finish TLS), per request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A response that arrived, whatever its status.
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The body as text, at most [`MAX_BODY_BYTES`].
    pub body: String,
    /// The `Content-Type` header, empty when absent.
    pub content_type: String,
    /// The `Retry-After` header, when present.
    pub retry_after: Option<String>,
    /// The `x-ratelimit-reset` header (Auth0: Unix seconds), when present.
    pub rate_limit_reset: Option<String>,
}

/// A request that did not produce a readable response.
#[derive(Debug)]
pub struct TransportError {
    /// The URL that was requested (never carries secrets: none are put in queries).
    pub url: String,
    /// What went wrong, in words.
    pub detail: String,
    /// True when the request cannot have reached the server (connection refused,
    /// DNS failure), so repeating it is safe even for non-idempotent requests.
    pub not_sent: bool,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request to `{}` failed: {}", self.url, self.detail)
    }
}

impl std::error::Error for TransportError {}

/// The blocking HTTP client.
pub struct Http {
    agent: ureq::Agent,
}

impl Http {
    /// Builds the client with the limits listed in the module documentation;
    /// `timeout` bounds each whole request.
    pub fn new(timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .user_agent(concat!("biganimal-credential/", env!("CARGO_PKG_VERSION")))
            .build();
        Http {
            agent: config.into(),
        }
    }

    /// Sends a GET with optional extra headers.
    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Reply, TransportError> {
        let mut request = self.agent.get(url).header("Accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read_reply(url, request.call())
    }

    /// Sends a form-encoded POST.
    pub fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<Reply, TransportError> {
        let request = self.agent.post(url).header("Accept", "application/json");
        read_reply(url, request.send_form(form.iter().copied()))
    }

    /// Sends a JSON POST.
    pub fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<Reply, TransportError> {
        let request = self.agent.post(url).header("Accept", "application/json");
        read_reply(url, request.send_json(body))
    }
}

fn read_reply(
    url: &str,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Reply, TransportError> {
    let mut response = result.map_err(|e| transport_error(url, e))?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = response.status().as_u16();
    let content_type = header("content-type").unwrap_or_default();
    let retry_after = header("retry-after");
    let rate_limit_reset = header("x-ratelimit-reset");

    let bytes = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()
        .map_err(|e| transport_error(url, e))?;
    Ok(Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        content_type,
        retry_after,
        rate_limit_reset,
    })
}

fn transport_error(url: &str, error: ureq::Error) -> TransportError {
    let (detail, not_sent) = match &error {
        ureq::Error::Timeout(_) => (format!("timed out ({error})"), false),
        ureq::Error::HostNotFound => ("the host name did not resolve".to_string(), true),
        ureq::Error::ConnectionFailed => ("could not connect".to_string(), true),
        ureq::Error::BodyExceedsLimit(limit) => (
            format!("the response body is larger than the {limit}-byte limit"),
            false,
        ),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            ("connection refused".to_string(), true)
        }
        _ => (error.to_string(), false),
    };
    TransportError {
        url: url.to_string(),
        detail,
        not_sent,
    }
}
