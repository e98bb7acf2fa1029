//! The servers that git and docker modes serve a credential to.
//!
//! The helper hands a BigAnimal credential only to the host of the API base
//! (`portal.biganimal.com` by default) and to the hosts named with
//! `--credential-host`. A request for any other host gets no credential, so
//! a helper configured too broadly never sends the token elsewhere. Plain
//! `http` is served only for loopback hosts, as for the API base itself.

use crate::config::is_loopback;
use std::fmt;

/// A host with an optional port, as git's `host` attribute and docker's
/// server URLs carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerName {
    /// The host name in lower case, or an IP address (IPv6 without brackets).
    pub host: String,
    /// The port, when one was given.
    pub port: Option<u16>,
}

/// A server name with the scheme it was given with, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https` in lower case, when the text had a scheme.
    pub scheme: Option<String>,
    /// The host and port.
    pub server: ServerName,
}

impl Target {
    /// Parses `host`, `host:port`, `[v6]:port`, each optionally with an
    /// `http://` or `https://` scheme and a path, query or fragment, which
    /// are ignored. User information (`user@`) is rejected.
    pub fn parse(text: &str) -> Result<Target, String> {
        let text = text.trim();
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, text),
        };
        if let Some(scheme) = scheme.as_deref().filter(|s| !matches!(*s, "http" | "https")) {
            return Err(format!("unsupported scheme `{scheme}`: use https"));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let server = ServerName::parse(authority)?;
        Ok(Target { scheme, server })
    }
}

impl ServerName {
    /// Parses an authority without scheme: `host`, `host:port` or `[v6]:port`.
    pub fn parse(authority: &str) -> Result<ServerName, String> {
        let invalid = |why: &str| format!("invalid server `{}`: {why}", printable(authority));
        if authority.contains('@') {
            return Err(invalid("remove the user name"));
        }
        let (host, port) = split_port(authority).map_err(invalid)?;
        // The trailing dot of a fully qualified name is dropped before the
        // emptiness check, so that `.` alone is not read as an empty host.
        let host = host.trim_end_matches('.');
        let valid_host = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
        if !valid_host {
            return Err(invalid("expected a host name or IP address"));
        }
        Ok(ServerName {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Returns the port, or the default port of `scheme` when none was given.
    fn port_for(&self, scheme: &str) -> u16 {
        self.port.unwrap_or(if scheme == "http" { 80 } else { 443 })
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => write!(f, "{host}:{port}"),
            None => f.write_str(&host),
        }
    }
}

/// Splits `host:port` or `[v6]:port` into the host and the port.
fn split_port(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("an IPv6 address lacks its `]`")?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or("unexpected text after `]`")?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    match port {
        None => Ok((host, None)),
        // `u16::from_str` would also take a leading `+`, which no URL has.
        Some(port) if !port.bytes().all(|b| b.is_ascii_digit()) => Err("the port is not a number from 0 to 65535"),
        Some(port) => port.parse().map(|p| (host, Some(p))).map_err(|_| "the port is not a number from 0 to 65535"),
    }
}

/// Returns `text` without control characters, shortened for messages.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// The servers that get a credential.
#[derive(Debug, Clone)]
pub struct ServedHosts {
    servers: Vec<ServerName>,
}

impl ServedHosts {
    /// Serves the host of `api_url` and each of `extra`, given as
    /// `host[:port]` or as a URL.
    pub fn new(api_url: &str, extra: &[String]) -> Result<ServedHosts, String> {
        let mut servers = vec![Target::parse(api_url)?.server];
        for text in extra {
            let target = Target::parse(text).map_err(|e| format!("invalid `--credential-host`: {e}"))?;
            let server = target.server;
            // `Target::parse` accepts only http and https.
            if target.scheme.as_deref() == Some("http") && !is_loopback(&server.host) {
                return Err(format!(
                    "invalid `--credential-host` `{}`: plain http is served only for loopback hosts, \
                     because the token would cross the network unencrypted; use `https://{server}`",
                    text.trim()
                ));
            }
            if !servers.contains(&server) {
                servers.push(server);
            }
        }
        Ok(ServedHosts { servers })
    }

    /// Tells whether a request for `server` over `scheme` gets a credential:
    /// the host must be served, on the same port (a missing port is the
    /// scheme's default), and plain `http` only on a loopback host.
    pub fn serves(&self, scheme: &str, server: &ServerName) -> bool {
        let secure = match scheme {
            "https" => true,
            "http" => is_loopback(&server.host),
            _ => false,
        };
        secure
            && self
                .servers
                .iter()
                .any(|s| s.host == server.host && s.port_for(scheme) == server.port_for(scheme))
    }

    /// Returns the served servers, the API host first.
    pub fn servers(&self) -> &[ServerName] {
        &self.servers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(host: &str, port: Option<u16>) -> ServerName {
        ServerName {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn credential_host_schemes() {
        let api = "https://portal.biganimal.com/api/v3";
        for accepted in ["git.example.com", "https://git.example.com", "http://127.0.0.1:9000", "http://[::1]/"] {
            assert!(ServedHosts::new(api, &[accepted.to_string()]).is_ok(), "{accepted}");
        }
        let err = ServedHosts::new(api, &["http://git.example.com".to_string()]).err().unwrap();
        assert!(err.contains("`http://git.example.com`"), "{err}");
        assert!(err.contains("use `https://git.example.com`"), "{err}");
        let err = ServedHosts::new(api, &["ssh://git.example.com".to_string()]).err().unwrap();
        assert!(err.contains("unsupported scheme `ssh`"), "{err}");
    }

    #[test]
    fn parse_forms() {
        let cases = [
            ("portal.biganimal.com", None, name("portal.biganimal.com", None)),
            ("Portal.BigAnimal.com:8443", None, name("portal.biganimal.com", Some(8443))),
            ("https://portal.biganimal.com/api/v3", Some("https"), name("portal.biganimal.com", None)),
            ("http://127.0.0.1:9000/v2/repo?x#y", Some("http"), name("127.0.0.1", Some(9000))),
            ("[::1]:5000", None, name("::1", Some(5000))),
            ("https://[::1]/", Some("https"), name("::1", None)),
            ("  registry.example  \n", None, name("registry.example", None)),
        ];
        for (text, scheme, server) in cases {
            let target = Target::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(target.scheme.as_deref(), scheme, "{text}");
            assert_eq!(target.server, server, "{text}");
        }
    }

    #[test]
    fn parse_rejects_bad_input() {
        for bad in ["", "ftp://host", "user@host", "https://user:pw@host/", "host:99999", "host:x", "[::1", "a b", "https:///x"] {
            assert!(Target::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn parse_rejects_dots_only_host() {
        for bad in [".", "...", ".:443", "https://./api"] {
            assert!(Target::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(ServerName::parse("Portal.BigAnimal.com.").unwrap().host, "portal.biganimal.com");
    }

    #[test]
    fn error_hides_password() {
        let err = Target::parse("https://user:hunter2@host/").unwrap_err();
        assert!(err.contains("remove the user name"), "{err}");
    }

    #[test]
    fn display_round_trips() {
        assert_eq!(name("::1", Some(5000)).to_string(), "[::1]:5000");
        assert_eq!(name("portal.biganimal.com", None).to_string(), "portal.biganimal.com");
    }

    #[test]
    fn serves_api_host_with_default_port() {
        let hosts = ServedHosts::new("https://portal.biganimal.com/api/v3", &[]).unwrap();
        assert!(hosts.serves("https", &name("portal.biganimal.com", None)));
        assert!(hosts.serves("https", &name("portal.biganimal.com", Some(443))));
        assert!(!hosts.serves("https", &name("portal.biganimal.com", Some(8443))));
        assert!(!hosts.serves("http", &name("portal.biganimal.com", None)));
        assert!(!hosts.serves("https", &name("github.com", None)));
        assert!(!hosts.serves("ssh", &name("portal.biganimal.com", None)));
    }

    #[test]
    fn serves_extra_hosts() {
        let extra = vec!["git.example.com".to_string(), "http://127.0.0.1:9418".to_string()];
        let hosts = ServedHosts::new("https://portal.biganimal.com/api/v3", &extra).unwrap();
        assert!(hosts.serves("https", &name("git.example.com", None)));
        assert!(hosts.serves("http", &name("127.0.0.1", Some(9418))));
        assert!(!hosts.serves("http", &name("127.0.0.1", Some(9419))));
        assert_eq!(hosts.servers().len(), 3);
    }

    #[test]
    fn loopback_api_over_http() {
        let hosts = ServedHosts::new("http://127.0.0.1:8080/api/v3", &[]).unwrap();
        assert!(hosts.serves("http", &name("127.0.0.1", Some(8080))));
        assert!(!hosts.serves("http", &name("127.0.0.1", None)));
    }

    #[test]
    fn bad_extra_host_is_named() {
        let err = ServedHosts::new("https://p/api", &["ftp://x".to_string()]).unwrap_err();
        assert!(err.contains("--credential-host"), "{err}");
    }
}
