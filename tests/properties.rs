//! Property tests for the parsers of outside input, run by `cargo test`.
//!
//! Each property runs 256 generated cases, so the file finishes in a few
//! seconds. The coverage-guided fuzz targets under `fuzz/` check the same
//! parsers on mutated input for longer; see docs/fuzzing.md.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use biganimal_credential::config::{parse_duration, validate_profile, validate_url};
use biganimal_credential::http::Reply;
use biganimal_credential::oauth::client::{
    expect_success, parse_device_authorization, parse_token_response, retry_after_seconds, MAX_RETRY_WAIT,
};
use biganimal_credential::oauth::jwt;
use biganimal_credential::output::exec_credential::{requested_version, DEFAULT_VERSION, SUPPORTED_VERSIONS};
use biganimal_credential::secret::Secret;
use biganimal_credential::store::record::{self, AccessKeyRecord, RefreshRecord, TokenRecord, FORMAT_VERSION};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::time::Duration;

const CASES: u32 = 256;
const URL: &str = "https://issuer.invalid/oauth/token";

fn reply(status: u16, body: String) -> Reply {
    Reply {
        status,
        body,
        content_type: "application/json".to_string(),
        retry_after: None,
        rate_limit_reset: None,
    }
}

/// Returns the first `window`-character piece of `secret` found in `text`.
fn leaked_piece<'a>(secret: &'a str, text: &str, window: usize) -> Option<&'a str> {
    (0..=secret.len().saturating_sub(window))
        .map(|start| &secret[start..start + window])
        .find(|piece| text.contains(piece))
}

// Issuer and portal responses.

/// Text that shares no character with the secrets generated below
/// (uppercase letters and digits), with the control characters the
/// cleaning removes.
fn filler() -> impl Strategy<Value = String> {
    let character = prop_oneof![
        20 => proptest::char::range('a', 'z'),
        2 => Just(' '),
        1 => Just(':'),
        1 => Just('é'),
        1 => Just('\u{1}'),
        1 => Just('\n'),
    ];
    proptest::collection::vec(character, 0..260)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Builds an error body that echoes `text` in one of the fields that reach the error message.
fn echoing_body(field: usize, text: &str) -> Value {
    match field {
        0 => json!({"error": "invalid_grant", "error_description": text}),
        1 => json!({"error": text}),
        2 => json!({"error": {"status": 401, "message": text, "reference": "ref-1"}}),
        _ => json!({"error": {"status": 401, "message": "token expired", "reference": text}}),
    }
}

/// The largest duration `parse_duration` accepts: 3650 days.
const MAX_DURATION_SECONDS: u64 = 3650 * 86_400;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// An error shows no part of the sent secret that the server echoed,
    /// wherever the echo sits in the text, including across the cap on its length.
    #[test]
    fn expect_success_masks_echoed_secret(
        secret in "[A-Z0-9]{24,64}",
        before in filler(),
        after in filler(),
        field in 0usize..4,
        status in prop_oneof![Just(400u16), Just(401), Just(403), Just(429), Just(500), Just(503)],
    ) {
        let echoed = format!("{before}{secret}{after}");
        let body = echoing_body(field, &echoed).to_string();
        let error = expect_success("refresh", URL, &reply(status, body), Some(&Secret::new(secret.as_str())))
            .expect_err("an error status");
        let message = error.to_string();
        let debug = format!("{error:?}");
        prop_assert_eq!(leaked_piece(&secret, &message, 12), None, "message: {}", message);
        prop_assert_eq!(leaked_piece(&secret, &debug, 12), None, "Debug: {}", debug);
    }

    /// Any reply, however malformed, yields a JSON object or an error
    /// without control characters, and the requested wait is capped.
    #[test]
    fn expect_success_accepts_any_reply(
        status in any::<u16>(),
        body in prop_oneof![any::<String>(), "[{}\\[\\]\":,a-z0-9 ]{0,40}"],
        content_type in "[ -~]{0,30}",
        retry_after in proptest::option::of("[ 0-9a-z-]{0,24}"),
        rate_limit_reset in proptest::option::of("[ 0-9-]{0,24}"),
    ) {
        let reply = Reply { status, body, content_type, retry_after, rate_limit_reset };
        if let Some(wait) = retry_after_seconds(&reply) {
            prop_assert!(wait <= MAX_RETRY_WAIT);
        }
        match expect_success("device login", URL, &reply, None) {
            Ok(value) => {
                prop_assert!((200..300).contains(&status));
                prop_assert!(value.is_object());
            }
            Err(error) => {
                let message = error.to_string();
                prop_assert!(!message.chars().any(char::is_control), "{}", message);
            }
        }
    }

    /// A numeric `Retry-After` is honoured up to the cap.
    #[test]
    fn retry_after_is_capped_seconds(seconds in any::<u64>()) {
        let mut reply = reply(429, String::new());
        reply.retry_after = Some(seconds.to_string());
        let expected = Duration::from_secs(seconds).min(MAX_RETRY_WAIT);
        prop_assert_eq!(retry_after_seconds(&reply), Some(expected));
    }

    /// A device authorization that parses keeps the invariants the polling relies on.
    #[test]
    fn device_authorization_keeps_invariants(
        device_code in json_value(),
        user_code in json_value(),
        verification_uri in json_value(),
        expires_in in json_value(),
        interval in proptest::option::of(json_value()),
    ) {
        let mut body = json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "expires_in": expires_in,
        });
        if let Some(interval) = interval {
            body["interval"] = interval;
        }
        if let Ok(authorization) = parse_device_authorization(URL, &body) {
            prop_assert!(!authorization.device_code.expose().is_empty());
            prop_assert!(authorization.expires_in > 0);
            prop_assert!(authorization.interval.is_finite() && authorization.interval >= 0.0);
            prop_assert!(!authorization.user_code.chars().any(char::is_control));
            prop_assert!(!authorization.verification_uri.chars().any(char::is_control));
        }
    }

    /// A token response parses exactly when `access_token` is a non-empty string.
    #[test]
    fn token_response_needs_access_token(access_token in json_value(), refresh_token in json_value()) {
        let body = json!({"access_token": access_token, "refresh_token": refresh_token, "expires_in": 3600});
        let expected = access_token.as_str().is_some_and(|t| !t.is_empty());
        let parsed = parse_token_response("refresh", URL, &body);
        prop_assert_eq!(parsed.is_ok(), expected);
        if let Ok(tokens) = parsed {
            prop_assert_eq!(tokens.refresh_token.is_some(), refresh_token.as_str().is_some_and(|t| !t.is_empty()));
        }
    }
}

/// Small JSON values of every type, with strings that are empty, plain or contain control characters.
fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-zA-Z0-9\u{0}-\u{1f} ]{0,12}".prop_map(Value::from),
        Just(json!([1, "a"])),
        Just(json!({"nested": "x"})),
    ]
}

// KUBERNETES_EXEC_INFO.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// The result is always one of the two supported versions, and the one
    /// requested when it is supported.
    #[test]
    fn requested_version_is_supported(
        api_version in prop_oneof![
            Just(json!("client.authentication.k8s.io/v1")),
            Just(json!("client.authentication.k8s.io/v1beta1")),
            Just(json!("client.authentication.k8s.io/v1alpha1")),
            "client\\.authentication\\.k8s\\.io/v[0-9a-z]{0,8}".prop_map(Value::from),
            json_value(),
        ],
        include_version in any::<bool>(),
    ) {
        let mut request = json!({"kind": "ExecCredential", "spec": {"interactive": false}});
        if include_version {
            request["apiVersion"] = api_version.clone();
        }
        let result = requested_version(Some(&request.to_string()));
        if let Ok(version) = result {
            prop_assert!(SUPPORTED_VERSIONS.contains(&version));
        }
        let requested = api_version.as_str().filter(|v| SUPPORTED_VERSIONS.contains(v));
        match (include_version, requested) {
            (false, _) => prop_assert_eq!(result, Ok(DEFAULT_VERSION)),
            (true, Some(requested)) => prop_assert_eq!(result, Ok(requested)),
            (true, None) => prop_assert!(result.is_err()),
        }
    }

    /// Text that is not a JSON object never panics and never yields another version.
    #[test]
    fn requested_version_any_text(text in any::<String>()) {
        if let Ok(version) = requested_version(Some(&text)) {
            prop_assert!(SUPPORTED_VERSIONS.contains(&version));
        }
    }
}

// Option values.

/// A duration as a user may type it: number and unit pairs, possibly
/// surrounded by whitespace, or a bare number of seconds.
#[derive(Debug, Clone)]
enum DurationText {
    Parts(Vec<(u64, char)>),
    Seconds(u64),
}

fn duration_text() -> impl Strategy<Value = DurationText> {
    let value = prop_oneof![8 => 0u64..100_000, 1 => any::<u64>()];
    let unit = prop_oneof![Just('s'), Just('m'), Just('h'), Just('d')];
    prop_oneof![
        proptest::collection::vec((value.clone(), unit), 1..5).prop_map(DurationText::Parts),
        value.prop_map(DurationText::Seconds),
    ]
}

impl DurationText {
    fn render(&self) -> String {
        match self {
            DurationText::Parts(parts) => parts.iter().map(|(value, unit)| format!("{value}{unit}")).collect(),
            DurationText::Seconds(seconds) => seconds.to_string(),
        }
    }

    /// Returns the total in seconds, or `None` when it overflows a `u64`.
    fn seconds(&self) -> Option<u64> {
        match self {
            DurationText::Parts(parts) => parts.iter().try_fold(0u64, |total, (value, unit)| {
                let factor = match unit {
                    's' => 1,
                    'm' => 60,
                    'h' => 3600,
                    _ => 86_400,
                };
                value.checked_mul(factor).and_then(|v| total.checked_add(v))
            }),
            DurationText::Seconds(seconds) => Some(*seconds),
        }
    }
}

/// Parts of a URL whose host is known by construction under the URL
/// Standard: the authority ends at the first `/`, `\`, `?` or `#`, and the
/// host follows the last `@` in it.
fn host() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        Just(("localhost".to_string(), true)),
        Just(("LocalHost".to_string(), true)),
        (0u8..=255, 0u8..=255, 1u8..=254).prop_map(|(b, c, d)| (format!("127.{b}.{c}.{d}"), true)),
        Just(("[::1]".to_string(), true)),
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}".prop_map(|name| {
            let loopback = name == "localhost";
            (name, loopback)
        }),
        (1u8..=223, any::<u8>(), any::<u8>(), 1u8..=254)
            .prop_filter("not loopback", |(a, ..)| *a != 127)
            .prop_map(|(a, b, c, d)| (format!("{a}.{b}.{c}.{d}"), false)),
        Just(("[2001:db8::1]".to_string(), false)),
        Just(("[::ffff:127.0.0.1]".to_string(), false)),
        Just(("127.0.0.1.nip.example".to_string(), false)),
        Just(("localhost.example".to_string(), false)),
    ]
}

/// Text after the host that tries to make a loopback host appear.
fn tail() -> impl Strategy<Value = String> {
    let separator = prop_oneof![Just("/"), Just("\\")];
    let decoy = prop_oneof![
        Just(""),
        Just("@127.0.0.1"),
        Just("@localhost:8080"),
        Just("@[::1]"),
        Just(":80@127.0.0.1"),
    ];
    proptest::collection::vec((separator, "[a-z0-9.]{0,6}", decoy), 0..3)
        .prop_map(|segments| segments.into_iter().map(|(s, text, decoy)| format!("{s}{text}{decoy}")).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A valid duration parses to its total, and prints back to the same value.
    #[test]
    fn parse_duration_round_trips(text in duration_text(), before in "[ \t]{0,2}", after in "[ \t\n]{0,2}") {
        let typed = format!("{before}{}{after}", text.render());
        let parsed = parse_duration(&typed);
        match text.seconds() {
            Some(seconds) if seconds <= MAX_DURATION_SECONDS => {
                prop_assert_eq!(parsed.clone(), Ok(Duration::from_secs(seconds)));
                prop_assert_eq!(parse_duration(&format!("{seconds}s")), parsed);
            }
            Some(_) => prop_assert!(parsed.is_err(), "{:?} is above 3650 days but parsed", typed),
            None => prop_assert!(parsed.is_err(), "{:?} overflows but parsed", typed),
        }
    }

    /// A valid duration with one foreign character put inside, or with a
    /// number missing its unit, is rejected with the input in the message.
    #[test]
    fn parse_duration_rejects_corrupted(
        text in duration_text(),
        position in any::<proptest::sample::Index>(),
        inserted in prop_oneof![Just('.'), Just('-'), Just('x'), Just('M'), Just(' '), Just('٣'), Just('\u{0}')],
        trailing in 1u64..1000,
    ) {
        let valid = text.render();
        let at = position.index(valid.len() + 1);
        let corrupted = format!("{}{inserted}{}", &valid[..at], &valid[at..]);
        let whitespace_at_end = inserted == ' ' && (at == 0 || at == valid.len());
        if !whitespace_at_end {
            let error = parse_duration(&corrupted).expect_err("a foreign character");
            prop_assert!(error.contains(&format!("`{corrupted}`")), "{}", error);
        }
        if let DurationText::Parts(_) = text {
            let unit_missing = format!("{valid}{trailing}");
            prop_assert!(parse_duration(&unit_missing).is_err());
        }
    }

    /// Arbitrary text never panics the duration parser.
    #[test]
    fn parse_duration_any_text(text in prop_oneof![any::<String>(), "[0-9smhdx .-]{0,16}"]) {
        if let Ok(duration) = parse_duration(&text) {
            prop_assert!(text.trim().bytes().all(|b| b.is_ascii_digit() || b"smhd".contains(&b)));
            prop_assert_eq!(duration.subsec_nanos(), 0);
        }
    }

    /// Plain `http` is accepted only when the host the URL Standard reads is
    /// loopback, whatever user information or path surrounds it.
    #[test]
    fn validate_url_http_only_for_loopback(
        scheme in prop_oneof![Just("http"), Just("HTTP"), Just("https")],
        userinfo in proptest::option::of(prop_oneof![
            Just("localhost"), Just("127.0.0.1"), Just("user:pass"), Just("127.0.0.1:80"), Just("a@localhost"),
        ]),
        (host, loopback) in host(),
        port in proptest::option::of(1u16..),
        tail in tail(),
    ) {
        let userinfo = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let url = format!("{scheme}://{userinfo}{host}{port}{tail}");
        let result = validate_url("issuer URI", &url);
        if scheme.eq_ignore_ascii_case("http") && !loopback {
            prop_assert!(result.is_err(), "accepted {:?} with remote host {:?}", url, host);
        }
        if (scheme == "https" || loopback) && !tail.contains('\\') {
            prop_assert_eq!(result, Ok(url.trim_end_matches('/').to_string()));
        }
    }

    /// Profile names are accepted exactly when they have 1 to 64 characters from `A-Za-z0-9._-`.
    #[test]
    fn validate_profile_charset(name in "[A-Za-z0-9._-]{1,64}", bad in "[^A-Za-z0-9._-]", position in any::<proptest::sample::Index>()) {
        prop_assert_eq!(validate_profile(&name), Ok(name.clone()));
        let at = position.index(name.len() + 1);
        let corrupted = format!("{}{bad}{}", &name[..at], &name[at..]);
        prop_assert!(validate_profile(&corrupted).is_err());
        let too_long = format!("{name}{}", "a".repeat(65 - name.len()));
        prop_assert!(validate_profile(&too_long).is_err());
    }
}

// JWT payloads.

fn exp_claim() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(prop_oneof![
        (1i64..253_402_300_800).prop_map(Value::from),
        (1.0f64..2.0e10).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!("1767225600")),
        Just(json!(true)),
        Just(Value::Null),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// `expiry` returns the claim exactly when the payload is a JSON object
    /// with a numeric `exp` in range, padded or not.
    #[test]
    fn jwt_expiry_reads_numeric_exp(exp in exp_claim(), email in proptest::option::of("[a-z]{1,8}@example\\.com"), padded in any::<bool>()) {
        let mut claims = json!({"iss": "https://auth.biganimal.com/", "sub": "auth0|1"});
        if let Some(exp) = &exp {
            claims["exp"] = exp.clone();
        }
        if let Some(email) = &email {
            claims["email"] = json!(email);
        }
        let encoded = if padded { URL_SAFE.encode(claims.to_string()) } else { URL_SAFE_NO_PAD.encode(claims.to_string()) };
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{encoded}.c2lnbmF0dXJl");
        let expected = exp
            .as_ref()
            .and_then(Value::as_f64)
            .filter(|e| *e > 0.0 && *e < 253_402_300_800.0)
            .map(|e| e as i64);
        prop_assert_eq!(jwt::expiry(&token), expected);
        prop_assert_eq!(jwt::email(&token), email);
    }

    /// A payload that is not base64url, not JSON or not an object yields no claims.
    #[test]
    fn jwt_rejects_bad_payloads(
        payload in prop_oneof![
            "[a-z0-9 ,:\\[\\]\"]{0,20}".prop_map(|text| URL_SAFE_NO_PAD.encode(text)),
            Just(URL_SAFE_NO_PAD.encode("[1,2]")),
            Just(URL_SAFE_NO_PAD.encode("{\"exp\":1767225600")),
        ],
        corrupt in prop_oneof![Just(None), Just(Some('*')), Just(Some('+')), Just(Some('/'))],
    ) {
        let payload = match corrupt {
            Some(c) => format!("{payload}{c}"),
            None => payload,
        };
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
        prop_assert_eq!(jwt::expiry(&token), None);
        prop_assert_eq!(jwt::email(&token), None);
    }

    /// Arbitrary text, with or without dots, never panics the readers.
    #[test]
    fn jwt_any_text(text in prop_oneof![any::<String>(), "[A-Za-z0-9_=.-]{0,40}"]) {
        if let Some(exp) = jwt::expiry(&text) {
            prop_assert!(exp > 0);
            prop_assert!(jwt::payload(&text).is_some());
        }
        if let Some(email) = jwt::email(&text) {
            prop_assert!(!email.chars().any(char::is_control));
        }
    }
}

// Stored records.

/// Record text that is corrupt or foreign in one of several ways, each
/// with `marker` in a place a careless message could quote.
fn corrupt_record(marker: String) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(format!("{marker}{{garbage")),
        Just(format!("{{\"v\":1,\"token\":\"{marker}\"")),
        Just(format!("{{\"v\":1,\"token\":\"{marker}\",\"expires_at\":\"{marker}\",\"obtained_at\":1}}")),
        Just(format!("{{\"v\":1,\"{marker}\":1}}")),
        Just(format!("{{\"v\":\"{marker}\",\"token\":\"t\"}}")),
        Just(format!("{{\"v\":2,\"token\":\"{marker}\",\"expires_at\":1,\"obtained_at\":1}}")),
        Just(format!("[\"{marker}\"]")),
        Just(format!("\"{marker}\"")),
        Just(format!("{{\"v\":1,\"refresh_token\":{{\"{marker}\":1}},\"issuer\":\"i\",\"client_id\":\"c\",\"login_at\":1,\"rotated_at\":1}}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A parse error never quotes the stored text.
    #[test]
    fn record_error_never_quotes_input((marker, text) in "Tok[A-Za-z0-9]{6,12}".prop_flat_map(|marker| (Just(marker.clone()), corrupt_record(marker)))) {
        for error in [
            record::parse::<TokenRecord>(&text).err(),
            record::parse::<RefreshRecord>(&text).err(),
            record::parse::<AccessKeyRecord>(&text).err(),
        ] {
            let error = error.expect("corrupt text is rejected");
            prop_assert!(!error.contains(&marker), "{}", error);
        }
    }

    /// A record written by this version parses back to the same fields.
    #[test]
    fn record_round_trips(
        token in any::<String>(),
        issuer in any::<String>(),
        email in proptest::option::of(any::<String>()),
        times in any::<(i64, i64)>(),
        started_at in proptest::option::of(any::<i64>()),
    ) {
        let token_record = TokenRecord { v: FORMAT_VERSION, token: Secret::new(token.as_str()), expires_at: times.0, obtained_at: times.1 };
        let back: TokenRecord = record::parse(&record::to_text(&token_record)).expect("own token record");
        prop_assert_eq!(back.token.expose(), token.as_str());
        prop_assert_eq!((back.expires_at, back.obtained_at), times);

        let refresh_record = RefreshRecord {
            v: FORMAT_VERSION,
            refresh_token: Secret::new(token.as_str()),
            issuer: issuer.clone(),
            client_id: "pM8AqzKa3BwVr5".to_string(),
            login_at: times.0,
            rotated_at: times.1,
            email: email.clone(),
            refresh_started_at: started_at,
        };
        let back: RefreshRecord = record::parse(&record::to_text(&refresh_record)).expect("own refresh record");
        prop_assert_eq!(back.refresh_token.expose(), token.as_str());
        prop_assert_eq!(back.issuer, issuer);
        prop_assert_eq!(back.email, email);
        prop_assert_eq!((back.login_at, back.rotated_at), times);
        prop_assert_eq!(back.refresh_started_at, started_at);

        let key_record = AccessKeyRecord {
            v: FORMAT_VERSION,
            access_key: Secret::new(token.as_str()),
            imported_at: times.0,
            expires_at: started_at,
        };
        let back: AccessKeyRecord = record::parse(&record::to_text(&key_record)).expect("own access key record");
        prop_assert_eq!(back.access_key.expose(), token.as_str());
        prop_assert_eq!((back.imported_at, back.expires_at), (times.0, started_at));
    }
}
