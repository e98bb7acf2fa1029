//! Fuzzes the reader of git's credential-helper requests, `protocol::git::parse`,
//! and the server-name parser it hands `host` and `url` to.
//!
//! The input is what git writes to the helper's stdin. Checks: an error
//! message has one of the fixed forms, so it never quotes a value, which
//! may be a password. Parsed values contain no line break or NUL. A server
//! name prints back to itself. A token that `render_response` writes reads
//! back unchanged.

#![no_main]

use biganimal_credential::protocol::git::{self, Request};
use biganimal_credential::protocol::server::ServerName;
use biganimal_credential::protocol::{too_long, InvalidInput};
use libfuzzer_sys::fuzz_target;

/// The reasons `parse` gives after `invalid credential line N: `.
const LINE_REASONS: [&str; 4] = [
    "it has no `=`",
    "it contains a NUL byte",
    "it contains a carriage return inside its value",
    "it is not valid UTF-8",
];

fuzz_target!(|data: &[u8]| {
    match git::parse(&mut &data[..]) {
        Ok(request) => check_request(&request),
        Err(error) => check_error(&error),
    }
});

fn check_request(request: &Request) {
    let values = [&request.protocol, &request.host, &request.url, &request.authtype];
    for value in values.into_iter().flatten().chain(&request.capabilities) {
        assert!(!value.contains(['\n', '\r', '\0']), "line break or NUL kept in {value:?}");
    }
    assert!(!request.capabilities.iter().any(String::is_empty), "an empty capability is kept");

    if let Some((scheme, server)) = request.target() {
        assert_eq!(scheme, scheme.to_ascii_lowercase());
        check_server(&server);
    }
    if let Some(host) = &request.host {
        if let Ok(server) = ServerName::parse(host) {
            check_server(&server);
        }
    }

    if let Some(token) = request.presented_token() {
        for bearer in [false, true] {
            let Ok(response) = git::render_response(token, 1_767_225_600, bearer) else {
                continue;
            };
            let read_back = git::parse(&mut response.as_bytes()).expect("a rendered response parses");
            let returned = if bearer { read_back.credential.as_ref() } else { read_back.password.as_ref() };
            assert_eq!(returned.map(|t| t.expose()), Some(token.expose()), "the token changed on the way");
        }
    }
}

/// Asserts that a parsed server name is normalised and prints back to itself.
fn check_server(server: &ServerName) {
    assert!(!server.host.is_empty());
    assert!(!server.host.contains('@'), "user information kept in {:?}", server.host);
    assert_eq!(server.host, server.host.to_ascii_lowercase());
    let printed = server.to_string();
    let again = ServerName::parse(&printed).expect("a printed server name parses");
    assert_eq!(&again, server, "{printed:?} does not read back");
}

/// Asserts that `error` is one of the fixed forms `parse` produces.
fn check_error(error: &InvalidInput) {
    let message = &error.0;
    if *error == too_long() || message.starts_with("could not read stdin: ") {
        return;
    }
    let reason = message
        .strip_prefix("invalid credential line ")
        .and_then(|rest| rest.split_once(": "))
        .filter(|(number, _)| number.bytes().all(|b| b.is_ascii_digit()))
        .map(|(_, reason)| reason);
    assert!(
        reason.is_some_and(|reason| LINE_REASONS.contains(&reason)),
        "unexpected error form: {message:?}"
    );
}
