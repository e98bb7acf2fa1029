//! Fuzzes the checks of option values: `parse_duration`, `validate_profile`
//! and `validate_url`. The issuer URL that `validate_url` checks comes from
//! the portal's discovery response, so it is outside input too.
//!
//! Checks: a duration that parses prints back to the same value. A profile
//! name that passes has the documented length and characters. A URL that
//! passes with plain `http` names a loopback host according to both the
//! `http` crate (the parser ureq sends requests with) and the WHATWG URL
//! Standard (the `url` crate), so that no other client reads a remote host
//! out of it.

#![no_main]

use biganimal_credential::config::{parse_duration, validate_profile, validate_url};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_duration(&text);
    check_profile(&text);
    check_url(&text);
});

fn check_duration(text: &str) {
    let Ok(duration) = parse_duration(text) else {
        return;
    };
    let trimmed = text.trim();
    assert!(
        trimmed.bytes().all(|b| b.is_ascii_digit() || matches!(b, b's' | b'm' | b'h' | b'd')),
        "accepted a duration with other characters: {text:?}"
    );
    let seconds = duration.as_secs();
    assert_eq!(duration.subsec_nanos(), 0);
    assert_eq!(parse_duration(&seconds.to_string()), Ok(duration));
    assert_eq!(parse_duration(&format!("{seconds}s")), Ok(duration));
}

fn check_profile(text: &str) {
    let Ok(name) = validate_profile(text) else {
        return;
    };
    assert_eq!(name, text);
    assert!((1..=64).contains(&name.len()), "profile name of {} bytes", name.len());
    assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')));
}

fn check_url(text: &str) {
    let Ok(url) = validate_url("issuer URI", text) else {
        return;
    };
    assert!(!url.ends_with('/'), "trailing slash kept: {url:?}");
    assert!(!url.contains(['?', '#']), "query or fragment kept: {url:?}");
    assert!(!url.chars().any(|c| c.is_whitespace() || c.is_control()));

    let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("https") => {}
        Some("http") => {
            if let Ok(uri) = http::Uri::try_from(url.as_str()) {
                let host = uri.host().unwrap_or_default();
                assert!(is_loopback_name(host), "http crate reads host {host:?} from accepted {url:?}");
            }
            if let Ok(parsed) = url::Url::parse(&url) {
                let loopback = match parsed.host() {
                    Some(url::Host::Domain(name)) => is_loopback_name(name),
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                };
                assert!(loopback, "the URL Standard reads host {:?} from accepted {url:?}", parsed.host_str());
            }
        }
        other => panic!("accepted scheme {other:?} in {url:?}"),
    }
}

/// Tells whether a host as a parser returned it (IPv6 possibly in brackets) is loopback.
fn is_loopback_name(host: &str) -> bool {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
