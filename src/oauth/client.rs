//! [`AuthServer`] over HTTP: BigAnimal's portal and its Auth0 issuer.
//!
//! Error bodies are read whatever the status code, because Auth0 answers
//! device-flow errors with 403 and 429 while other servers use 400.
//! Requests that are safe to repeat (discovery, device authorization,
//! exchange, revocation) are retried on connection failures, 5xx and 429,
//! at most [`MAX_ATTEMPTS`] times with jittered exponential backoff. A
//! refresh is repeated only when the request cannot have left this machine
//! or the issuer rejected it with 429.

use super::{issuer_endpoint, AuthServer, DeviceAuthorization, Error, Provider, TokenResponse};
use crate::http::{Http, Reply, TransportError};
use crate::log;
use crate::secret::Secret;
use serde_json::Value;
use std::time::Duration;

/// Attempts per request that is safe to repeat.
pub const MAX_ATTEMPTS: u32 = 3;
/// Maximum wait between attempts, also the cap on a server's `Retry-After`.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);
/// First backoff step; it doubles on each attempt, plus up to 50 % jitter.
const BASE_BACKOFF: Duration = Duration::from_millis(250);

/// The HTTP implementation of [`AuthServer`].
pub struct HttpAuthServer {
    http: Http,
}

impl HttpAuthServer {
    /// Wraps an HTTP client.
    pub fn new(http: Http) -> Self {
        HttpAuthServer { http }
    }

    /// Runs `send` up to [`MAX_ATTEMPTS`] times while the failure is transient.
    fn with_retries(
        &self,
        operation: &'static str,
        mut send: impl FnMut() -> Result<Reply, TransportError>,
    ) -> Result<Reply, Error> {
        let mut attempt = 1;
        loop {
            let outcome = send();
            let wait = match &outcome {
                Err(e) => Some(backoff(attempt, None)).filter(|_| !e.permanent),
                Ok(reply) if reply.status == 429 || reply.status >= 500 => {
                    Some(backoff(attempt, retry_after_seconds(reply)))
                }
                Ok(_) => None,
            };
            match (wait, attempt < MAX_ATTEMPTS) {
                (Some(wait), true) => {
                    log::notice(&format!(
                        "{operation}: attempt {attempt} of {MAX_ATTEMPTS} failed ({}); retrying in {} ms",
                        describe_outcome(&outcome),
                        wait.as_millis()
                    ));
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                _ => {
                    return outcome.map_err(|source| Error::Transport { operation, source });
                }
            }
        }
    }

    /// Sends a token request, ending it after `limit` when given.
    fn token_request(
        &self,
        operation: &'static str,
        url: &str,
        form: &[(&str, &str)],
        secret: &Secret,
        limit: Option<std::time::Duration>,
    ) -> Result<TokenResponse, Error> {
        let reply = self
            .http
            .post_form_within(url, form, limit)
            .map_err(|source| Error::Transport { operation, source })?;
        let body = expect_success(operation, url, &reply, Some(secret))?;
        parse_token_response(operation, url, &body)
    }
}

impl AuthServer for HttpAuthServer {
    fn discover(&self, api_url: &str) -> Result<Provider, Error> {
        const OPERATION: &str = "provider discovery";
        let url = format!("{api_url}/auth/provider");
        let reply = self.with_retries(OPERATION, || self.http.get(&url, &[]))?;
        let body = expect_success(OPERATION, &url, &reply, None)?;
        let provider: Provider =
            serde_json::from_value(body).map_err(|e| Error::InvalidResponse {
                operation: OPERATION,
                url: url.clone(),
                detail: format!("expected `clientId` and `issuerUri`: {e}"),
            })?;
        if provider.client_id.is_empty() || provider.issuer_uri.is_empty() {
            return Err(Error::InvalidResponse {
                operation: OPERATION,
                url,
                detail: "`clientId` or `issuerUri` is empty".to_string(),
            });
        }
        Ok(provider)
    }

    fn request_device_code(
        &self,
        issuer: &str,
        client_id: &str,
        scope: &str,
        audience: &str,
    ) -> Result<DeviceAuthorization, Error> {
        const OPERATION: &str = "device authorization";
        let url = issuer_endpoint(issuer, "oauth/device/code");
        let form = [("client_id", client_id), ("scope", scope), ("audience", audience)];
        let reply = self.with_retries(OPERATION, || self.http.post_form(&url, &form))?;
        let body = expect_success(OPERATION, &url, &reply, None)?;
        parse_device_authorization(&url, &body)
    }

    fn poll_device_token(
        &self,
        issuer: &str,
        client_id: &str,
        device_code: &Secret,
        time_left: std::time::Duration,
    ) -> Result<TokenResponse, Error> {
        let url = issuer_endpoint(issuer, "oauth/token");
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code.expose()),
            ("client_id", client_id),
        ];
        self.token_request("device login", &url, &form, device_code, Some(time_left))
    }

    fn refresh(
        &self,
        issuer: &str,
        client_id: &str,
        refresh_token: &Secret,
    ) -> Result<TokenResponse, Error> {
        const OPERATION: &str = "refresh";
        let url = issuer_endpoint(issuer, "oauth/token");
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token.expose()),
        ];
        // A refresh is repeated only when the issuer certainly did not act on
        // it: the request never left this machine, or the issuer rejected it
        // with 429 before processing. The issuer rotates the refresh token
        // on use, so a second send of a token it already processed would
        // count as reuse and revoke the login.
        let mut attempt = 1;
        loop {
            let wait = match self.http.post_form(&url, &form) {
                Err(e) if e.not_sent && !e.permanent && attempt < MAX_ATTEMPTS => {
                    log::info(&format!("refresh: {e}; retrying, the request was not sent"));
                    backoff(attempt, None)
                }
                Ok(reply) if reply.status == 429 && attempt < MAX_ATTEMPTS => {
                    let wait = backoff(attempt, retry_after_seconds(&reply));
                    log::info(&format!(
                        "refresh: rate limited (HTTP 429); retrying in {} ms",
                        wait.as_millis()
                    ));
                    wait
                }
                Err(source) => return Err(Error::Transport { operation: OPERATION, source }),
                Ok(reply) => {
                    let body = expect_success(OPERATION, &url, &reply, Some(refresh_token))?;
                    return parse_token_response(OPERATION, &url, &body);
                }
            };
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    fn exchange(&self, api_url: &str, access_token: &Secret) -> Result<Secret, Error> {
        const OPERATION: &str = "token exchange";
        let url = format!("{api_url}/auth/token");
        let request = serde_json::json!({ "token": access_token.expose() });
        let reply = self.with_retries(OPERATION, || self.http.post_json(&url, &request))?;
        let body = expect_success(OPERATION, &url, &reply, Some(access_token))?;
        match body.get("token").and_then(Value::as_str) {
            // A bearer token goes into HTTP headers, environment variables
            // and terminals, so only visible ASCII is accepted.
            Some(token) if !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()) => {
                Ok(Secret::new(token))
            }
            Some(token) if !token.is_empty() => Err(Error::InvalidResponse {
                operation: OPERATION,
                url,
                detail: "the `token` field contains characters other than visible ASCII".to_string(),
            }),
            _ => Err(Error::InvalidResponse {
                operation: OPERATION,
                url,
                detail: "the `token` field is missing or empty".to_string(),
            }),
        }
    }

    fn revoke(&self, issuer: &str, client_id: &str, token: &Secret) -> Result<(), Error> {
        const OPERATION: &str = "revocation";
        let url = issuer_endpoint(issuer, "oauth/revoke");
        let form = [("client_id", client_id), ("token", token.expose())];
        let reply = self.with_retries(OPERATION, || self.http.post_form(&url, &form))?;
        if (200..300).contains(&reply.status) {
            return Ok(());
        }
        expect_success(OPERATION, &url, &reply, Some(token)).map(|_| ())
    }
}

/// Returns the JSON body of a 2xx reply, or the error the reply describes.
/// `sent_secret` is masked wherever the server echoes it into error text.
pub fn expect_success(
    operation: &'static str,
    url: &str,
    reply: &Reply,
    sent_secret: Option<&Secret>,
) -> Result<Value, Error> {
    let json: Option<Value> = serde_json::from_str(&reply.body).ok();
    let retry_after = retry_after_seconds(reply).map(|d| d.as_secs());

    if (200..300).contains(&reply.status) {
        return match json {
            Some(value @ Value::Object(_)) => Ok(value),
            _ => Err(Error::InvalidResponse {
                operation,
                url: url.to_string(),
                detail: format!(
                    "expected a JSON object, got {}",
                    describe_body(reply)
                ),
            }),
        };
    }

    if let Some(code) = json.as_ref().and_then(|v| v.get("error")).and_then(Value::as_str) {
        let description = json
            .as_ref()
            .and_then(|v| v.get("error_description"))
            .and_then(Value::as_str)
            .map(|d| clean_text(d, sent_secret));
        return Err(Error::OAuth {
            operation,
            code: clean_text(code, sent_secret),
            description,
            status: reply.status,
            retry_after,
        });
    }

    let message = match json.as_ref().and_then(|v| v.get("error")) {
        Some(portal) if portal.is_object() => portal_message(portal, sent_secret),
        _ => describe_body(reply),
    };
    Err(Error::Status {
        operation,
        url: url.to_string(),
        status: reply.status,
        message,
        retry_after,
    })
}

/// Formats the portal's `{"error": {"message", "reference"}}` shape.
fn portal_message(error: &Value, sent_secret: Option<&Secret>) -> String {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message");
    let mut text = clean_text(message, sent_secret);
    if let Some(reference) = error.get("reference").and_then(Value::as_str) {
        text.push_str(&format!(" (reference `{}`)", clean_text(reference, sent_secret)));
    }
    text
}

/// Describes a body that is not the expected JSON, without quoting it.
fn describe_body(reply: &Reply) -> String {
    let kind = if reply.content_type.contains("html") || reply.body.trim_start().starts_with('<') {
        "an HTML page, as a proxy or gateway returns"
    } else if reply.body.is_empty() {
        "an empty body"
    } else if reply.content_type.contains("json") {
        "malformed JSON"
    } else {
        "a non-JSON body"
    };
    format!("{kind} ({} bytes, content type `{}`)", reply.body.len(), reply.content_type)
}

/// Removes control and invisible formatting characters (which could
/// rearrange or hide text on a terminal), masks a secret the server may
/// have echoed, also in URL-encoded form, and caps server-provided text at
/// 200 characters.
fn clean_text(text: &str, sent_secret: Option<&Secret>) -> String {
    let mut text: String = text.chars().filter(|c| is_shown(*c)).collect();
    if let Some(secret) = sent_secret {
        let raw = secret.expose();
        if !raw.is_empty() {
            text = text.replace(raw, "[redacted]");
            for encoded in [percent_encode(raw, false), percent_encode(raw, true)] {
                if encoded != raw {
                    text = text.replace(&encoded, "[redacted]");
                }
            }
        }
    }
    // The cap comes after the masking: a secret cut in two by the cap
    // would no longer match and its first part would be shown.
    text.chars().take(200).collect()
}

/// Tells whether a character from a server may be shown: not a control
/// character and not an invisible format character such as a bidirectional
/// override or a line separator.
fn is_shown(c: char) -> bool {
    !c.is_control()
        && !matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Percent-encodes every byte outside `A-Z a-z 0-9 - . _ ~`; with `form`,
/// a space becomes `+`, as in form bodies.
fn percent_encode(text: &str, form: bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => encoded.push(byte as char),
            b' ' if form => encoded.push('+'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// Checks a verification URL from the issuer before it is shown to a
/// person: https, or plain http on loopback, and nothing invisible in it.
fn checked_verification_url(url: &str) -> Option<String> {
    let cleaned: String = url.chars().filter(|c| is_shown(*c)).collect();
    if cleaned != url {
        return None;
    }
    // `verification_uri_complete` carries the user code in its query, which
    // `validate_url` (made for API bases) rejects, so only the part before
    // the query is checked.
    let base = url.split(['?', '#']).next().unwrap_or_default();
    crate::config::validate_url("verification URL", base).ok().map(|_| url.to_string())
}

/// Parses a device authorization response (RFC 8628 §3.2).
pub fn parse_device_authorization(url: &str, body: &Value) -> Result<DeviceAuthorization, Error> {
    let invalid = |detail: &str| Error::InvalidResponse {
        operation: "device authorization",
        url: url.to_string(),
        detail: detail.to_string(),
    };
    let text = |name: &str| body.get(name).and_then(Value::as_str).filter(|s| !s.is_empty());

    let device_code = text("device_code").ok_or_else(|| invalid("`device_code` is missing"))?;
    let user_code = text("user_code").ok_or_else(|| invalid("`user_code` is missing"))?;
    let verification_uri = text("verification_uri")
        .or_else(|| text("verification_url"))
        .ok_or_else(|| invalid("`verification_uri` is missing"))?;
    let verification_uri = checked_verification_url(verification_uri).ok_or_else(|| {
        invalid("`verification_uri` is not an https URL (plain http only on loopback) or contains hidden characters")
    })?;
    let expires_in = body
        .get("expires_in")
        .and_then(Value::as_u64)
        .filter(|s| *s > 0)
        .ok_or_else(|| invalid("`expires_in` is missing or not a positive integer"))?
        .min(86_400);
    // RFC 8628 §3.2: a missing interval means 5 seconds.
    let interval = body
        .get("interval")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(5.0);

    Ok(DeviceAuthorization {
        device_code: Secret::new(device_code),
        user_code: clean_text(user_code, None),
        verification_uri,
        verification_uri_complete: text("verification_uri_complete").and_then(checked_verification_url),
        expires_in,
        interval,
    })
}

/// Parses a successful token response (RFC 6749 §5.1).
pub fn parse_token_response(
    operation: &'static str,
    url: &str,
    body: &Value,
) -> Result<TokenResponse, Error> {
    let text = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Secret::new)
    };
    let access_token = text("access_token").ok_or_else(|| Error::InvalidResponse {
        operation,
        url: url.to_string(),
        detail: "`access_token` is missing".to_string(),
    })?;
    Ok(TokenResponse {
        access_token,
        id_token: text("id_token"),
        refresh_token: text("refresh_token"),
        expires_in: body.get("expires_in").and_then(Value::as_u64),
    })
}

/// Reads how long the server asked to wait: `Retry-After` in seconds, else
/// `x-ratelimit-reset` as Unix seconds (Auth0), capped at [`MAX_RETRY_WAIT`].
pub fn retry_after_seconds(reply: &Reply) -> Option<Duration> {
    let from_retry_after = reply
        .retry_after
        .as_deref()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let from_reset = || {
        let reset: i64 = reply.rate_limit_reset.as_deref()?.trim().parse().ok()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Some(reset.saturating_sub(now).max(0) as u64)
    };
    from_retry_after
        .or_else(from_reset)
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_WAIT))
}

/// Returns the wait before the next attempt: the server's request when it
/// made one, else 250 ms doubled per attempt, plus up to 50 % jitter.
fn backoff(attempt: u32, requested: Option<Duration>) -> Duration {
    if let Some(requested) = requested {
        return requested.max(Duration::from_millis(100));
    }
    let base = BASE_BACKOFF * 2u32.saturating_pow(attempt.saturating_sub(1));
    let jitter = base.mul_f64(jitter_fraction() * 0.5);
    (base + jitter).min(MAX_RETRY_WAIT)
}

/// Returns a number in [0, 1) that differs between processes and calls.
fn jitter_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

fn describe_outcome(outcome: &Result<Reply, TransportError>) -> String {
    match outcome {
        Ok(reply) => format!("HTTP {}", reply.status),
        Err(e) => e.detail.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            content_type: "application/json".to_string(),
            retry_after: None,
            rate_limit_reset: None,
        }
    }

    #[test]
    fn auth0_pending_403_is_oauth_error() {
        let r = reply(403, r#"{"error":"authorization_pending","error_description":"wait"}"#);
        let err = expect_success("device login", "u", &r, None).unwrap_err();
        assert_eq!(err.oauth_code(), Some("authorization_pending"));
    }

    #[test]
    fn slow_down_429_is_oauth_error() {
        let r = reply(429, r#"{"error":"slow_down"}"#);
        let err = expect_success("device login", "u", &r, None).unwrap_err();
        assert_eq!(err.oauth_code(), Some("slow_down"));
    }

    #[test]
    fn portal_error_shape_is_summarised() {
        let r = reply(
            401,
            r#"{"error":{"status":401,"message":"token expired","reference":"ref-1","source":"auth"}}"#,
        );
        let err = expect_success("token exchange", "http://x/auth/token", &r, None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("HTTP 401"), "{text}");
        assert!(text.contains("token expired (reference `ref-1`)"), "{text}");
    }

    #[test]
    fn html_error_page_is_described_not_quoted() {
        let mut r = reply(502, "<html><body>Bad Gateway secret-ish</body></html>");
        r.content_type = "text/html".to_string();
        let text = expect_success("refresh", "u", &r, None).unwrap_err().to_string();
        assert!(text.contains("HTML page"), "{text}");
        assert!(!text.contains("secret-ish"), "{text}");
    }

    #[test]
    fn non_json_success_is_invalid() {
        let mut r = reply(200, "OK");
        r.content_type = "text/plain".to_string();
        let err = expect_success("token exchange", "u", &r, None).unwrap_err();
        assert!(matches!(err, Error::InvalidResponse { .. }));
    }

    #[test]
    fn echoed_secret_is_masked() {
        let secret = Secret::new("v1.refresh-token-value");
        let r = reply(
            403,
            r#"{"error":"invalid_grant","error_description":"bad token v1.refresh-token-value"}"#,
        );
        let text = expect_success("refresh", "u", &r, Some(&secret)).unwrap_err().to_string();
        assert!(!text.contains("v1.refresh-token-value"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn echoed_secret_across_length_cap_is_masked() {
        let secret = Secret::new("v1.MRrT4tq2Fh9dPqL0sTg7bX3nVk8Wc5");
        let description = format!("{} {}", "x".repeat(185), secret.expose());
        let body = serde_json::json!({"error": "invalid_grant", "error_description": description});
        let r = reply(403, &body.to_string());
        let text = expect_success("refresh", "u", &r, Some(&secret)).unwrap_err().to_string();
        assert!(!text.contains("v1.MRrT4tq2"), "{text}");
    }

    #[test]
    fn url_encoded_echo_is_masked() {
        let secret = Secret::new("v1.a+b/c=d");
        let description = "bad token v1.a%2Bb%2Fc%3Dd";
        let body = serde_json::json!({"error": "invalid_grant", "error_description": description});
        let r = reply(403, &body.to_string());
        let text = expect_success("refresh", "u", &r, Some(&secret)).unwrap_err().to_string();
        assert!(!text.contains("a%2Bb"), "{text}");
    }

    #[test]
    fn hidden_characters_are_removed() {
        assert_eq!(clean_text("abc\u{202e}gnp.exe\u{2028}x", None), "abcgnp.exex");
    }

    #[test]
    fn verification_url_must_be_https() {
        let body = |uri: &str| serde_json::json!({
            "device_code": "d", "user_code": "ABCD-EFGH", "verification_uri": uri, "expires_in": 900
        });
        assert!(parse_device_authorization("u", &body("https://auth.example/activate")).is_ok());
        assert!(parse_device_authorization("u", &body("http://127.0.0.1:9/activate")).is_ok());
        assert!(parse_device_authorization("u", &body("javascript:alert(1)")).is_err());
        assert!(parse_device_authorization("u", &body("http://evil.example/activate")).is_err());
        assert!(parse_device_authorization("u", &body("https://auth.example/\u{202e}gnp")).is_err());
    }

    #[test]
    fn device_authorization_defaults_interval_to_five() {
        let body = serde_json::json!({
            "device_code": "d", "user_code": "ABCD-EFGH",
            "verification_uri": "https://auth.example/activate", "expires_in": 900
        });
        let auth = parse_device_authorization("u", &body).unwrap();
        assert_eq!(auth.interval, 5.0);
        assert_eq!(auth.user_code, "ABCD-EFGH");
    }

    #[test]
    fn device_authorization_requires_fields() {
        let body = serde_json::json!({"user_code": "A", "verification_uri": "v", "expires_in": 9});
        let err = parse_device_authorization("u", &body).err().unwrap();
        assert!(err.to_string().contains("`device_code` is missing"));
    }

    #[test]
    fn retry_after_is_capped() {
        let mut r = reply(429, "{}");
        r.retry_after = Some("3600".to_string());
        assert_eq!(retry_after_seconds(&r), Some(MAX_RETRY_WAIT));
        r.retry_after = Some("2".to_string());
        assert_eq!(retry_after_seconds(&r), Some(Duration::from_secs(2)));
    }

    #[test]
    fn rate_limit_reset_is_relative_to_now() {
        let mut r = reply(429, "{}");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        r.rate_limit_reset = Some((now + 3).to_string());
        let wait = retry_after_seconds(&r).unwrap();
        assert!(wait <= Duration::from_secs(3), "{wait:?}");
        assert!(wait >= Duration::from_secs(2), "{wait:?}");
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(1, None) >= BASE_BACKOFF);
        assert!(backoff(2, None) >= BASE_BACKOFF * 2);
        assert!(backoff(30, None) <= MAX_RETRY_WAIT);
    }
}
