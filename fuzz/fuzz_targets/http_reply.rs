//! Fuzzes the readers of issuer and portal responses: `expect_success`,
//! `retry_after_seconds`, `parse_device_authorization` and
//! `parse_token_response`.
//!
//! The input is a small text form of an HTTP response, so that the seed
//! files read like the responses they represent:
//!
//! ```text
//! 403
//! content-type: application/json
//! retry-after: 5
//! x-sent-secret: v1.MRrT4tq2Fh9dPqL0sTg7
//!
//! {"error":"invalid_grant","error_description":"..."}
//! ```
//!
//! The first line is the status, then headers up to an empty line, then
//! the body. `x-sent-secret` is not a real header: it sets the secret the
//! request carried. A status line that is not a number stands for 200,
//! and input with no empty line is all body.
//!
//! Checks: the message and `Debug` of an error contain neither the sent
//! secret nor control characters. The wait is capped at `MAX_RETRY_WAIT`.
//! The parsed device authorization and token response keep the invariants
//! the session relies on.

#![no_main]

use biganimal_credential::http::Reply;
use biganimal_credential::oauth::client::{
    expect_success, parse_device_authorization, parse_token_response, retry_after_seconds, MAX_RETRY_WAIT,
};
use biganimal_credential::secret::Secret;
use libfuzzer_sys::fuzz_target;

const URL: &str = "https://issuer.invalid/oauth/token";
/// Maximum length of the server text that `expect_success` keeps from one
/// field, in characters.
const MAX_FIELD_CHARS: usize = 200;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (reply, secret) = read_reply(&text);

    if let Some(wait) = retry_after_seconds(&reply) {
        assert!(wait <= MAX_RETRY_WAIT, "wait {wait:?} is over the cap");
    }

    check_expect_success(&reply, None);
    if let Some(secret) = &secret {
        check_expect_success(&reply, Some(secret));
    }

    // The body parsers run on every JSON body, whatever the status, to
    // reach them without a 2xx status line.
    if let Ok(body) = serde_json::from_str::<serde_json::Value>(&reply.body) {
        check_body_parsers(&body);
    }
});

/// Splits the text form into a reply and the optional sent secret.
fn read_reply(text: &str) -> (Reply, Option<Secret>) {
    let Some((head, body)) = text.split_once("\n\n") else {
        return (reply_with(200, text), None);
    };
    let mut lines = head.lines();
    let status = lines.next().and_then(|line| line.trim().parse::<u16>().ok()).unwrap_or(200);
    let mut reply = reply_with(status, body);
    let mut secret = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        // ureq hands over only header values that are visible ASCII or tab.
        let value = value.trim();
        let visible = value.bytes().all(|b| b == b'\t' || (32..127).contains(&b));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" if visible => reply.content_type = value.to_string(),
            "retry-after" if visible => reply.retry_after = Some(value.to_string()),
            "x-ratelimit-reset" if visible => reply.rate_limit_reset = Some(value.to_string()),
            "x-sent-secret" => secret = Some(Secret::new(value)),
            _ => {}
        }
    }
    (reply, secret)
}

fn reply_with(status: u16, body: &str) -> Reply {
    Reply {
        status,
        body: body.to_string(),
        content_type: String::new(),
        retry_after: None,
        rate_limit_reset: None,
    }
}

fn check_expect_success(reply: &Reply, secret: Option<&Secret>) {
    let error = match expect_success("refresh", URL, reply, secret) {
        Ok(body) => {
            assert!((200..300).contains(&reply.status), "status {} accepted", reply.status);
            assert!(body.is_object(), "a success body that is not an object");
            return;
        }
        Err(error) => error,
    };

    let message = error.to_string();
    let debug = format!("{error:?}");
    // A tab can come only from the content type, which ureq passes as is.
    assert!(
        !message.chars().any(|c| c.is_control() && c != '\t'),
        "control character in {message:?}"
    );
    if let Some(secret) = secret.map(Secret::expose).filter(|s| is_checkable_secret(s, reply)) {
        assert!(!message.contains(secret), "the sent secret is in the message: {message:?}");
        assert!(!debug.contains(secret), "the sent secret is in the Debug output: {debug:?}");
    }
    if let Some(retry_after) = error.retry_after() {
        assert!(retry_after <= MAX_RETRY_WAIT.as_secs());
    }
}

/// Tells whether a leak of `secret` could only come from the body, so that
/// finding it in the error is a real failure. The secret must look like a
/// token: at least 16 characters of the base64url and JWT alphabet, with a
/// digit, so that it cannot match the fixed text, the URL or the
/// `[redacted]` marker. The content type must not contain it, because the
/// message quotes the content type as is.
fn is_checkable_secret(secret: &str, reply: &Reply) -> bool {
    secret.len() >= 16
        && secret.bytes().any(|b| b.is_ascii_digit())
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'='))
        && !reply.content_type.contains(secret)
}

fn check_body_parsers(body: &serde_json::Value) {
    if let Ok(authorization) = parse_device_authorization(URL, body) {
        assert!(!authorization.device_code.expose().is_empty());
        assert!(authorization.expires_in > 0);
        assert!(authorization.interval.is_finite());
        assert!(authorization.interval >= 0.0);
        let user_visible = [
            Some(&authorization.user_code),
            Some(&authorization.verification_uri),
            authorization.verification_uri_complete.as_ref(),
        ];
        for text in user_visible.into_iter().flatten() {
            assert!(!text.chars().any(char::is_control), "control character in {text:?}");
            assert!(text.chars().count() <= MAX_FIELD_CHARS);
        }
    }

    if let Ok(tokens) = parse_token_response("refresh", URL, body) {
        assert!(!tokens.access_token.expose().is_empty());
        for optional in [&tokens.id_token, &tokens.refresh_token].into_iter().flatten() {
            assert!(!optional.expose().is_empty(), "an empty optional token is kept");
        }
    }
}
