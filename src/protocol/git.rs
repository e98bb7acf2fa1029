//! git's credential-helper protocol (gitcredentials(7), git-credential(1)).
//!
//! git writes `key=value` lines to the helper's stdin and ends them with a
//! blank line or end of input. Keys the helper does not know are skipped,
//! `capability[]` collects a list (an empty value clears it), and a later
//! line for the same single-valued key wins. Values carry no quoting, so a
//! NUL byte, or a carriage return or line feed inside a value, is rejected
//! on input and refused on output. A CRLF line ending counts as a line
//! ending.

use super::server::{ServerName, Target};
use super::{too_long, InvalidInput, MAX_INPUT};
use crate::secret::Secret;
use std::io::{BufRead, Read};

/// The user name sent with the token when git does not announce
/// `capability[]=authtype`. A server that accepts a BigAnimal token as a
/// password has to ignore the user name.
pub const USERNAME: &str = "biganimal";

/// The response to the `capability` action: protocol version 0, `authtype`.
pub const CAPABILITIES: &str = "version 0\ncapability authtype\n";

/// The attributes of one request that the helper uses.
#[derive(Default)]
pub struct Request {
    /// `protocol`, such as `https`.
    pub protocol: Option<String>,
    /// `host`, with `:port` when the URL had one.
    pub host: Option<String>,
    /// `authtype` of a credential git presents to `store` or `erase`.
    pub authtype: Option<String>,
    /// `credential`, the pre-encoded value that goes with `authtype`.
    pub credential: Option<Secret>,
    /// `password`.
    pub password: Option<Secret>,
    /// `capability[]` values, in order.
    pub capabilities: Vec<String>,
}

impl Request {
    /// Tells whether git announced a capability, such as `authtype`.
    pub fn has_capability(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c == name)
    }

    /// Returns the scheme and server the request is for, from `protocol`
    /// and `host`; `None` when either is missing.
    pub fn target(&self) -> Option<(String, ServerName)> {
        let server = ServerName::parse(self.host.as_deref()?).ok()?;
        Some((self.protocol.as_deref()?.to_ascii_lowercase(), server))
    }

    /// Returns the secret git presents: `credential` for `authtype=Bearer`,
    /// else `password`.
    pub fn presented_token(&self) -> Option<&Secret> {
        let bearer = self.authtype.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
        match (&self.credential, bearer) {
            (Some(credential), true) => Some(credential),
            _ => self.password.as_ref(),
        }
    }

    /// Applies `url=` as git does: it clears every attribute read before it
    /// (capabilities included) and sets `protocol` and `host` from the URL.
    /// Later lines override them again. A URL without a scheme or host
    /// leaves neither set.
    fn set_url(&mut self, value: &str) {
        *self = Request::default();
        let target = Target::parse(value).ok();
        self.protocol = target.as_ref().and_then(|t| t.scheme.clone());
        self.host = target.filter(|t| t.scheme.is_some()).map(|t| t.server.to_string());
    }

    fn set(&mut self, key: &str, value: &str) {
        match key {
            "protocol" => self.protocol = Some(value.to_string()),
            "host" => self.host = Some(value.to_string()),
            "url" => self.set_url(value),
            "authtype" => self.authtype = Some(value.to_string()),
            "credential" => self.credential = Some(Secret::new(value)),
            "password" => self.password = Some(Secret::new(value)),
            "capability[]" if value.is_empty() => self.capabilities.clear(),
            "capability[]" => self.capabilities.push(value.to_string()),
            _ => {}
        }
    }
}

/// Reads one request: lines until a blank line or the end of input, at
/// most [`MAX_INPUT`] bytes in all.
pub fn parse(reader: &mut dyn BufRead) -> Result<Request, InvalidInput> {
    let mut limited = reader.take(MAX_INPUT as u64 + 1);
    let mut request = Request::default();
    let mut total = 0;
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = limited
            .read_until(b'\n', &mut line)
            .map_err(|e| InvalidInput(format!("could not read stdin: {e}")))?;
        total += read;
        if total > MAX_INPUT {
            return Err(too_long());
        }
        let text = line_text(&line, number)?;
        if text.is_empty() {
            break;
        }
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| InvalidInput(format!("invalid credential line {number}: it has no `=`")))?;
        request.set(key, value);
    }
    Ok(request)
}

/// Returns a line without its LF or CRLF ending, rejecting NUL, a CR inside
/// the line, and invalid UTF-8.
fn line_text(line: &[u8], number: usize) -> Result<&str, InvalidInput> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let invalid = |why: &str| InvalidInput(format!("invalid credential line {number}: {why}"));
    if line.contains(&0) {
        return Err(invalid("it contains a NUL byte"));
    }
    if line.contains(&b'\r') {
        return Err(invalid("it contains a carriage return inside its value"));
    }
    std::str::from_utf8(line).map_err(|_| invalid("it is not valid UTF-8"))
}

/// Renders the response to `get`. With `bearer` (git announced
/// `capability[]=authtype`) the token goes in `credential` with
/// `authtype=Bearer`; otherwise it is the password of [`USERNAME`].
/// `expires_at` is in Unix seconds.
pub fn render_response(token: &Secret, expires_at: i64, bearer: bool) -> Result<String, InvalidInput> {
    let expiry = expires_at.to_string();
    let lines: Vec<(&str, &str)> = if bearer {
        vec![
            ("capability[]", "authtype"),
            ("authtype", "Bearer"),
            ("credential", token.expose()),
            ("password_expiry_utc", &expiry),
        ]
    } else {
        vec![
            ("username", USERNAME),
            ("password", token.expose()),
            ("password_expiry_utc", &expiry),
        ]
    };
    let mut text = String::new();
    for (key, value) in lines {
        if value.contains(['\0', '\r', '\n']) {
            return Err(InvalidInput(format!(
                "cannot send `{key}` to git: the value contains a NUL, carriage return or line feed"
            )));
        }
        text.push_str(&format!("{key}={value}\n"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &[u8]) -> Result<Request, InvalidInput> {
        parse(&mut &text[..])
    }

    #[test]
    fn parse_typical_request() {
        let request = parse_text(
            b"capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=portal.biganimal.com\nwwwauth[]=Bearer realm=\"x\"\n\n",
        )
        .unwrap();
        assert_eq!(request.protocol.as_deref(), Some("https"));
        assert_eq!(request.host.as_deref(), Some("portal.biganimal.com"));
        assert_eq!(request.capabilities, ["authtype", "state"]);
        assert!(request.has_capability("authtype"));
    }

    #[test]
    fn parse_stops_at_blank_line() {
        let request = parse_text(b"protocol=https\n\nhost=after.example\n").unwrap();
        assert_eq!(request.host, None);
    }

    #[test]
    fn parse_empty_input() {
        let request = parse_text(b"").unwrap();
        assert!(request.target().is_none());
    }

    #[test]
    fn parse_accepts_crlf_and_missing_final_newline() {
        let request = parse_text(b"protocol=https\r\nhost=portal.biganimal.com\r\n\r\n").unwrap();
        assert_eq!(request.host.as_deref(), Some("portal.biganimal.com"));
        let request = parse_text(b"protocol=https\nhost=h").unwrap();
        assert_eq!(request.host.as_deref(), Some("h"));
    }

    #[test]
    fn parse_ignores_unknown_keys_and_keeps_last_value() {
        let request = parse_text(b"future-key=1\nstate[]=other:x\n=empty\nhost=a\nhost=b\n").unwrap();
        assert_eq!(request.host.as_deref(), Some("b"));
    }

    #[test]
    fn empty_capability_clears_list() {
        let request = parse_text(b"capability[]=authtype\ncapability[]=\ncapability[]=state\n").unwrap();
        assert_eq!(request.capabilities, ["state"]);
    }

    #[test]
    fn parse_rejects_nul_and_inner_cr() {
        let err = parse_text(b"protocol=https\nhost=a\0b\n").err().unwrap();
        assert_eq!(err.0, "invalid credential line 2: it contains a NUL byte");
        let err = parse_text(b"password=se\rcret\n").err().unwrap();
        assert_eq!(err.0, "invalid credential line 1: it contains a carriage return inside its value");
        assert!(!err.0.contains("cret"));
    }

    #[test]
    fn parse_rejects_line_without_equals() {
        let err = parse_text(b"protocol=https\nsecret-looking\n").err().unwrap();
        assert_eq!(err.0, "invalid credential line 2: it has no `=`");
    }

    #[test]
    fn parse_rejects_invalid_utf8() {
        assert!(parse_text(b"host=\xff\n").is_err());
    }

    #[test]
    fn parse_caps_input_size() {
        let mut long = b"host=".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_INPUT));
        long.push(b'\n');
        let err = parse_text(&long).err().unwrap();
        assert!(err.0.contains("longer than 64 KiB"), "{err}");

        let mut many = Vec::new();
        while many.len() <= MAX_INPUT {
            many.extend_from_slice(b"unknown=0123456789\n");
        }
        assert!(parse_text(&many).is_err());
    }

    #[test]
    fn target_from_parts_or_url() {
        let request = parse_text(b"protocol=HTTPS\nhost=Portal.example:8443\n").unwrap();
        let (scheme, server) = request.target().unwrap();
        assert_eq!(scheme, "https");
        assert_eq!(server.to_string(), "portal.example:8443");
        let request = parse_text(b"url=https://portal.example/repo.git\n").unwrap();
        assert_eq!(request.target().unwrap().1.to_string(), "portal.example");
        assert!(parse_text(b"protocol=https\n").unwrap().target().is_none());
        assert!(parse_text(b"url=portal.example\n").unwrap().target().is_none());
    }

    #[test]
    fn later_lines_override_url() {
        let request = parse_text(b"url=https://a.example/x\nhost=b.example\n").unwrap();
        assert_eq!(request.target().unwrap().1.to_string(), "b.example");

        let request = parse_text(b"host=b.example\nurl=https://a.example:8443/x\n").unwrap();
        assert_eq!(request.target().unwrap().1.to_string(), "a.example:8443");

        let request = parse_text(b"protocol=https\nhost=b.example\nurl=a.example\n").unwrap();
        assert!(request.target().is_none(), "a URL without a scheme clears both parts");

        let request = parse_text(b"capability[]=authtype\nurl=https://a.example/\n").unwrap();
        assert!(!request.has_capability("authtype"), "url= clears capabilities, as in git");
    }

    #[test]
    fn presented_token_prefers_bearer_credential() {
        let request = parse_text(b"authtype=Bearer\ncredential=tok\npassword=pw\n").unwrap();
        assert_eq!(request.presented_token().unwrap().expose(), "tok");
        let request = parse_text(b"username=biganimal\npassword=pw\n").unwrap();
        assert_eq!(request.presented_token().unwrap().expose(), "pw");
        let request = parse_text(b"authtype=Basic\ncredential=abc\n").unwrap();
        assert!(request.presented_token().is_none());
    }

    #[test]
    fn render_bearer_exact() {
        let text = render_response(&Secret::new("tok"), 1_767_225_600, true).unwrap();
        assert_eq!(
            text,
            "capability[]=authtype\nauthtype=Bearer\ncredential=tok\npassword_expiry_utc=1767225600\n"
        );
    }

    #[test]
    fn render_password_exact() {
        let text = render_response(&Secret::new("tok"), 1_767_225_600, false).unwrap();
        assert_eq!(text, "username=biganimal\npassword=tok\npassword_expiry_utc=1767225600\n");
    }

    #[test]
    fn render_refuses_line_breaks_and_nul() {
        for bad in ["se\ncret", "se\rcret", "se\0cret"] {
            let err = render_response(&Secret::new(bad), 1, true).unwrap_err();
            assert!(err.0.contains("`credential`"), "{err}");
            assert!(!err.0.contains("cret"), "the value stays out of the message: {err}");
        }
    }
}
