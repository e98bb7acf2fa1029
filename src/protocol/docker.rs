//! docker's credential-helper protocol (docker-credential-helpers).
//!
//! docker runs `docker-credential-<name> ACTION` without a shell. `get` and
//! `erase` read the server URL on stdin, `store` reads a JSON object with
//! `ServerURL`, `Username` and `Secret`, and `list` ignores its input.
//! Responses go to stdout, and so do errors, with a non-zero exit status:
//! docker reads the captured stdout to tell a missing credential
//! ([`NOT_FOUND`]) from a failure.

use super::{read_capped, InvalidInput};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;

/// The exact message docker maps to "no credential": it then continues
/// without one (anonymous pull) instead of failing.
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// The message docker maps to its missing-server-URL error.
pub const NO_SERVER_URL: &str = "no credentials server URL";

/// The message docker maps to its missing-user-name error.
pub const NO_USERNAME: &str = "no credentials username";

/// The user name in responses. It must not be `<token>`, which would make
/// docker use the secret as an OAuth refresh token.
pub const USERNAME: &str = "biganimal";

/// The credential docker receives from `get`, in docker's field order.
#[derive(Serialize)]
struct Response<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a Secret,
}

/// The fields of a `store` request the helper checks; `Secret` is not
/// read, because the helper keeps only its own logins.
#[derive(Deserialize)]
struct StoreRequest {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username", default)]
    username: String,
}

/// Reads the server URL of `get` or `erase`: all of stdin, trimmed.
pub fn read_server_url(reader: &mut dyn Read) -> Result<String, InvalidInput> {
    let bytes = read_capped(reader)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| InvalidInput("the server URL is not valid UTF-8".to_string()))?;
    match text.trim() {
        "" => Err(InvalidInput(NO_SERVER_URL.to_string())),
        url if url.contains('\0') => Err(InvalidInput("the server URL contains a NUL byte".to_string())),
        url => Ok(url.to_string()),
    }
}

/// Reads a `store` request and returns its server URL.
pub fn read_store_request(reader: &mut dyn Read) -> Result<String, InvalidInput> {
    let bytes = read_capped(reader)?;
    let request: StoreRequest = serde_json::from_slice(&bytes).map_err(|e| {
        InvalidInput(format!(
            "invalid store request: expected a JSON object with `ServerURL`, `Username` and `Secret` (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if request.server_url.trim().is_empty() {
        return Err(InvalidInput(NO_SERVER_URL.to_string()));
    }
    if request.username.is_empty() {
        return Err(InvalidInput(NO_USERNAME.to_string()));
    }
    Ok(request.server_url.trim().to_string())
}

/// Renders the response to `get`, with a trailing newline.
pub fn render_response(server_url: &str, secret: &Secret) -> String {
    let response = Response {
        server_url,
        username: USERNAME,
        secret,
    };
    let text = serde_json::to_string(&response).expect("strings always serialize");
    format!("{text}\n")
}

/// Renders the response to `list`: each server URL mapped to its user name.
pub fn render_list(server_urls: &[String]) -> String {
    let map: BTreeMap<&str, &str> = server_urls.iter().map(|url| (url.as_str(), USERNAME)).collect();
    let text = serde_json::to_string(&map).expect("strings always serialize");
    format!("{text}\n")
}

/// Renders the response to `version`.
pub fn render_version(version: &str) -> String {
    format!("docker-credential-biganimal (biganimal-credential) {version}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_url_is_trimmed() {
        let url = read_server_url(&mut &b"https://portal.biganimal.com\n"[..]).unwrap();
        assert_eq!(url, "https://portal.biganimal.com");
    }

    #[test]
    fn empty_server_url_has_docker_message() {
        assert_eq!(read_server_url(&mut &b""[..]).unwrap_err().0, NO_SERVER_URL);
        assert_eq!(read_server_url(&mut &b" \r\n"[..]).unwrap_err().0, NO_SERVER_URL);
    }

    #[test]
    fn server_url_rejects_nul_and_oversize() {
        assert!(read_server_url(&mut &b"host\0x"[..]).is_err());
        let long = vec![b'a'; super::super::MAX_INPUT + 1];
        assert!(read_server_url(&mut long.as_slice()).unwrap_err().0.contains("64 KiB"));
    }

    #[test]
    fn store_request_fields() {
        let text = br#"{"ServerURL":"portal.biganimal.com","Username":"u","Secret":"s","Extra":1}"#;
        assert_eq!(read_store_request(&mut &text[..]).unwrap(), "portal.biganimal.com");
        let err = read_store_request(&mut &br#"{"Username":"u","Secret":"s"}"#[..]).unwrap_err();
        assert_eq!(err.0, NO_SERVER_URL);
        let err = read_store_request(&mut &br#"{"ServerURL":"h","Secret":"s"}"#[..]).unwrap_err();
        assert_eq!(err.0, NO_USERNAME);
    }

    #[test]
    fn store_request_error_hides_input() {
        let err = read_store_request(&mut &b"secret-looking garbage"[..]).unwrap_err();
        assert!(!err.0.contains("secret-looking"), "{err}");
        assert!(err.0.contains("line 1, column 1"), "{err}");
    }

    #[test]
    fn response_exact() {
        assert_eq!(
            render_response("portal.biganimal.com", &Secret::new("tok")),
            "{\"ServerURL\":\"portal.biganimal.com\",\"Username\":\"biganimal\",\"Secret\":\"tok\"}\n"
        );
    }

    #[test]
    fn list_exact() {
        assert_eq!(render_list(&[]), "{}\n");
        let urls = ["portal.biganimal.com".to_string(), "127.0.0.1:5000".to_string()];
        assert_eq!(
            render_list(&urls),
            "{\"127.0.0.1:5000\":\"biganimal\",\"portal.biganimal.com\":\"biganimal\"}\n"
        );
    }

    #[test]
    fn version_exact() {
        assert_eq!(render_version("0.1.0"), "docker-credential-biganimal (biganimal-credential) 0.1.0\n");
    }
}
