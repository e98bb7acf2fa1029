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
//! - Proxies come from the environment, chosen per URL (see [`proxy`]).
//! - HTTPS trusts the system's CA bundle plus `SSL_CERT_FILE` and
//!   `--ca-file` (see [`trust`]).
//!
//! Nothing is set up until the first request: a cached `get` builds no
//! agent, reads no proxy variable and loads no certificate.
//!
//! Request and response bodies are never logged: they carry tokens.

pub mod proxy;
pub mod trust;

use crate::log;
use proxy::{ProxyEnv, Target};
use std::cell::{OnceCell, RefCell};
use std::path::PathBuf;
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
    /// The failure, in words.
    pub detail: String,
    /// True when the request cannot have reached the server (connection refused,
    /// DNS failure), so repeating it is safe even for non-idempotent requests.
    pub not_sent: bool,
    /// True when repeating the request cannot help: the failure lies in a
    /// local setting (the URL, a proxy variable, the CA file), in the
    /// server's certificate, or in a response over the size limit.
    pub permanent: bool,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request to `{}` failed: {}", self.url, self.detail)
    }
}

impl std::error::Error for TransportError {}

/// The blocking HTTP client. Agents are built on first use, one per proxy
/// route, because ureq takes one proxy per agent.
pub struct Http {
    timeout: Duration,
    ca_file: Option<PathBuf>,
    proxies: OnceCell<ProxyEnv>,
    tls: OnceCell<Result<ureq::tls::TlsConfig, String>>,
    agents: RefCell<Vec<(Route, ureq::Agent)>>,
}

/// The route of a request: the proxy, if any, and whether the agent needs
/// trust roots.
#[derive(Clone, PartialEq, Eq)]
struct Route {
    proxy_url: Option<String>,
    tls: bool,
}

impl Http {
    /// Creates the client with the limits listed in the module
    /// documentation; `timeout` bounds each whole request, and `ca_file`
    /// adds a CA to the trusted ones.
    pub fn new(timeout: Duration, ca_file: Option<PathBuf>) -> Self {
        Http {
            timeout,
            ca_file,
            proxies: OnceCell::new(),
            tls: OnceCell::new(),
            agents: RefCell::new(Vec::new()),
        }
    }

    /// Returns the agent for `url`, building it on first use, and the words
    /// that name the proxy it goes through, for error messages.
    fn agent(&self, url: &str) -> Result<(ureq::Agent, Option<String>), TransportError> {
        let failure = |detail: String| TransportError {
            url: url.to_string(),
            detail,
            not_sent: true,
            permanent: true,
        };
        let target = Target::parse(url).ok_or_else(|| failure("the URL has no scheme or host".to_string()))?;
        let setting = self.proxies.get_or_init(ProxyEnv::from_env).proxy_for(&target).cloned();
        let proxy = match &setting {
            Some(setting) => Some(parse_proxy(setting).map_err(failure)?),
            None => None,
        };
        let route = Route {
            proxy_url: setting.as_ref().map(|s| s.url.clone()),
            tls: target.scheme == "https" || proxy.as_ref().is_some_and(|p| p.protocol() == ureq::ProxyProtocol::Https),
        };
        let via = match (&setting, &proxy) {
            (Some(setting), Some(proxy)) => Some(format!(
                "through the proxy `{}:{}` from `{}`",
                proxy.host(),
                proxy.port(),
                setting.variable
            )),
            _ => None,
        };
        if let Some((_, agent)) = self.agents.borrow().iter().find(|(r, _)| *r == route) {
            return Ok((agent.clone(), via));
        }

        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Shorter than the whole request, so a hang before anything was
            // sent ends as a connect timeout, which marks the request as
            // never sent.
            .timeout_connect(Some(CONNECT_TIMEOUT.min(self.timeout.mul_f64(0.75))))
            .timeout_global(Some(self.timeout))
            .max_redirects(0)
            .user_agent(concat!("biganimal-credential/", env!("CARGO_PKG_VERSION")))
            .proxy(proxy.clone());
        if route.tls {
            let tls = self.tls.get_or_init(|| trust::tls_config(self.ca_file.as_deref()));
            config = config.tls_config(tls.clone().map_err(failure)?);
        }
        if let Some(via) = &via {
            log::info(&format!("connecting to `{}` {via}", target.host));
        }
        let agent: ureq::Agent = config.build().into();
        self.agents.borrow_mut().push((route, agent.clone()));
        Ok((agent, via))
    }

    /// Sends a GET with optional extra headers.
    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Reply, TransportError> {
        let (agent, via) = self.agent(url)?;
        let mut request = agent.get(url).header("Accept", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read_reply(url, via.as_deref(), request.call())
    }

    /// Sends a form-encoded POST.
    pub fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<Reply, TransportError> {
        self.post_form_within(url, form, None)
    }

    /// Sends a form-encoded POST that ends after `limit` when that is
    /// shorter than the client's timeout.
    pub fn post_form_within(
        &self,
        url: &str,
        form: &[(&str, &str)],
        limit: Option<Duration>,
    ) -> Result<Reply, TransportError> {
        let (agent, via) = self.agent(url)?;
        let mut request = agent.post(url).header("Accept", "application/json");
        if let Some(limit) = limit.filter(|limit| *limit < self.timeout) {
            request = request.config().timeout_global(Some(limit.max(Duration::from_millis(1)))).build();
        }
        read_reply(url, via.as_deref(), request.send_form(form.iter().copied()))
    }

    /// Sends a JSON POST.
    pub fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<Reply, TransportError> {
        let (agent, via) = self.agent(url)?;
        let request = agent.post(url).header("Accept", "application/json");
        read_reply(url, via.as_deref(), request.send_json(body))
    }
}

/// Reads a response; a failure names the proxy (`via`) the request went
/// through, since a proxy fault otherwise looks like the server's.
fn read_reply(
    url: &str,
    via: Option<&str>,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Reply, TransportError> {
    let mut response = result.map_err(|e| {
        let mut error = transport_error(url, e);
        if let Some(via) = via {
            error.detail = format!("{} ({via})", error.detail);
        }
        error
    })?;
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

/// Builds ureq's proxy from a setting. The message names the variable,
/// never its value, which may carry a password.
fn parse_proxy(setting: &proxy::ProxySetting) -> Result<ureq::Proxy, String> {
    let invalid = |why: &str| format!("invalid proxy URL in `{}`: {why}", setting.variable);
    check_proxy_authority(&setting.url).map_err(|why| invalid(&why))?;
    let proxy = ureq::Proxy::new(&setting.url).map_err(|_| invalid("expected `http://HOST:PORT`"))?;
    match proxy.protocol() {
        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https => Ok(proxy),
        _ => Err(invalid("SOCKS proxies are not supported; use an HTTP proxy")),
    }
}

/// Checks the host, port and user information of a proxy URL, which
/// ureq's parser accepts too readily (an out-of-range port becomes 80).
/// The message never contains the URL, which may carry a password.
fn check_proxy_authority(url: &str) -> Result<(), String> {
    let rest = url.trim().split_once("://").map_or(url.trim(), |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (userinfo, server) = match authority.rsplit_once('@') {
        Some((userinfo, server)) => (Some(userinfo), server),
        None => (None, authority),
    };
    if let Some(userinfo) = userinfo {
        let bytes = userinfo.as_bytes();
        for (index, byte) in bytes.iter().enumerate() {
            let escaped = bytes.get(index + 1..index + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
            if *byte == b'%' && !escaped {
                return Err("the user name or password has a `%` that is not followed by two hex digits; \
                            write a literal `%` as `%25`"
                    .to_string());
            }
        }
    }
    let server = crate::protocol::server::ServerName::parse(server)
        .map_err(|_| "expected `http://HOST:PORT` with a host and a port from 1 to 65535".to_string())?;
    // ureq would take a missing port as 80, curl as 1080; naming it avoids
    // guessing which one the proxy listens on.
    if matches!(server.port, None | Some(0)) {
        return Err("expected `http://HOST:PORT` with a host and a port from 1 to 65535".to_string());
    }
    Ok(())
}

fn transport_error(url: &str, error: ureq::Error) -> TransportError {
    let (detail, not_sent, permanent) = match &error {
        // Before the connection (through any proxy, and TLS) is set up,
        // nothing of the request has left this machine.
        ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => {
            (format!("timed out ({error})"), true, false)
        }
        ureq::Error::Timeout(_) => (format!("timed out ({error})"), false, false),
        ureq::Error::HostNotFound => ("the host name did not resolve".to_string(), true, false),
        ureq::Error::ConnectionFailed => ("could not connect".to_string(), true, false),
        ureq::Error::BodyExceedsLimit(limit) => (
            format!("the response body is larger than the {limit}-byte limit"),
            false,
            true,
        ),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            ("connection refused".to_string(), true, false)
        }
        _ if certificate_error(&error).is_some() => {
            let rejected = certificate_error(&error);
            let why = rejected.map(describe_certificate_error).unwrap_or_default();
            let fix = match rejected {
                Some(rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. }) => {
                    "check that the URL names the server as its certificate does"
                }
                Some(
                    rustls::CertificateError::Expired
                    | rustls::CertificateError::ExpiredContext { .. }
                    | rustls::CertificateError::NotValidYet
                    | rustls::CertificateError::NotValidYetContext { .. },
                ) => "check this machine's clock, or ask the server's operator to renew the certificate",
                _ => "if a private CA or a TLS-inspecting proxy signs it, add that CA with `--ca-file` or `SSL_CERT_FILE`",
            };
            (format!("the server's TLS certificate was rejected ({why}); {fix}"), true, true)
        }
        ureq::Error::ConnectProxyFailed(why) => (
            format!(
                "the proxy refused to open a tunnel ({why}); check the proxy URL, and for HTTP 407 \
                 put the proxy's user name and password in it as `http://USER:PASSWORD@HOST:PORT`"
            ),
            true,
            true,
        ),
        _ => (error.to_string(), false, false),
    };
    TransportError {
        url: url.to_string(),
        detail,
        not_sent,
        permanent,
    }
}

/// Finds a rejected server certificate in an error; ureq passes rustls
/// errors on directly or inside an I/O error.
fn certificate_error(error: &ureq::Error) -> Option<&rustls::CertificateError> {
    let rustls_error = match error {
        ureq::Error::Rustls(inner) => Some(inner),
        ureq::Error::Io(io) => io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(why)) => Some(why),
        _ => None,
    }
}

fn describe_certificate_error(why: &rustls::CertificateError) -> String {
    use rustls::CertificateError::*;
    match why {
        UnknownIssuer => "signed by an unknown certificate authority".to_string(),
        NotValidForName | NotValidForNameContext { .. } => "not valid for this host name".to_string(),
        Expired | ExpiredContext { .. } => "expired".to_string(),
        NotValidYet | NotValidYetContext { .. } => "not valid yet".to_string(),
        other => format!("{other:?}"),
    }
}
