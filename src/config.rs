//! Settings shared by every command: API base, profile, store choice,
//! minimum remaining lifetime, and the directories the helper writes to.
//!
//! Values come from command-line options, then environment variables, then
//! defaults (clap applies that order). This module checks them and resolves
//! the per-user directories.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The BigAnimal API base used when neither `--api-url` nor `BA_API_URI` is set.
pub const DEFAULT_API_URL: &str = "https://portal.biganimal.com/api/v3";

/// An error in a setting: which one, the value, and what is accepted.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Maximum duration accepted for any option, about ten years: enough for
/// any real setting, and small enough that adding it to the current time
/// cannot overflow.
const MAX_DURATION_SECONDS: u64 = 3650 * 86_400;

/// Parses a duration such as `90s`, `5m`, `1h`, `1h30m` or a bare number of
/// seconds, at most 3650 days.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let invalid = || {
        format!("invalid duration `{text}`: use a number with a unit, such as `90s`, `5m` or `1h`")
    };
    if trimmed.is_empty() {
        return Err(invalid());
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: u64 = trimmed.parse().map_err(|_| invalid())?;
        if seconds > MAX_DURATION_SECONDS {
            return Err(format!("invalid duration `{text}`: the maximum is 3650d"));
        }
        return Ok(Duration::from_secs(seconds));
    }

    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(invalid()),
        };
        if digits.is_empty() {
            return Err(invalid());
        }
        let value: u64 = digits.parse().map_err(|_| invalid())?;
        total = value
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(invalid)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(invalid());
    }
    if total > MAX_DURATION_SECONDS {
        return Err(format!("invalid duration `{text}`: the maximum is 3650d"));
    }
    Ok(Duration::from_secs(total))
}

/// Checks a profile name: 1 to 64 characters from `A-Z a-z 0-9 . _ -`.
pub fn validate_profile(name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(name.to_string())
    } else {
        Err(format!(
            "invalid profile name `{name}`: use 1 to 64 letters, digits, `.`, `_` or `-`"
        ))
    }
}

/// Checks an HTTP(S) URL and returns it without a trailing slash.
///
/// `https://` is accepted for any host; plain `http://` only for loopback
/// hosts (`localhost`, `127.0.0.0/8`, `[::1]`), because a token sent in
/// clear text off the machine can be read on the way. `what` names the
/// setting in the error message.
pub fn validate_url(what: &str, url: &str) -> Result<String, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!("invalid {what} `{url}`: expected an absolute URL such as `{DEFAULT_API_URL}`")
    })?;
    // The URL Standard ends the authority of an http(s) URL at `\` as at
    // `/`, so `http://evil.example\@127.0.0.1/` names the host `evil.example`.
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    let host = host_of(authority);
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("invalid {what} `{url}`: the host is missing or the URL contains spaces"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if is_loopback(host) => {}
        "http" => {
            return Err(format!(
                "insecure {what} `{url}`: plain http is accepted only for loopback hosts; use https"
            ))
        }
        _ => return Err(format!("invalid {what} `{url}`: the scheme must be https")),
    }
    if rest.contains(['?', '#']) {
        return Err(format!("invalid {what} `{url}`: remove the query or fragment"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Returns the host part of `user@host:port` or `[v6]:port`.
fn host_of(authority: &str) -> &str {
    let without_user = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = without_user.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    without_user.split(':').next().unwrap_or_default()
}

/// Tells whether a host name or address is on the loopback interface.
pub fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

/// The per-user directories the helper writes to.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// Provider discovery results; safe to delete at any time.
    pub cache: PathBuf,
    /// The file store and one-time notices.
    pub state: PathBuf,
    /// Lock files, one per identity.
    pub locks: PathBuf,
}

impl Dirs {
    /// Resolves the directories from the environment.
    ///
    /// `BIGANIMAL_CREDENTIAL_DIR` puts all three under one directory (for
    /// containers and tests). Otherwise the XDG base directories are used:
    /// `$XDG_CACHE_HOME` (default `~/.cache`), `$XDG_STATE_HOME` (default
    /// `~/.local/state`) and `$XDG_RUNTIME_DIR` for locks (default: the
    /// state directory), each with a `biganimal-credential` subdirectory.
    pub fn from_env() -> Result<Dirs, ConfigError> {
        const APP: &str = "biganimal-credential";
        if let Some(root) = non_empty_env("BIGANIMAL_CREDENTIAL_DIR") {
            let root = PathBuf::from(root);
            if root.is_relative() {
                return Err(ConfigError(format!(
                    "invalid `BIGANIMAL_CREDENTIAL_DIR` `{}`: use an absolute path",
                    root.display()
                )));
            }
            return Ok(Dirs {
                cache: root.join("cache"),
                state: root.join("state"),
                locks: root.join("locks"),
            });
        }

        let home = non_empty_env("HOME")
            .or_else(|| non_empty_env("USERPROFILE"))
            .map(PathBuf::from);
        let base = |xdg: &str, fallback: &[&str]| -> Result<PathBuf, ConfigError> {
            // The XDG base directory specification requires ignoring relative paths.
            if let Some(dir) = non_empty_env(xdg).map(PathBuf::from).filter(|d| d.is_absolute()) {
                return Ok(dir.join(APP));
            }
            let home = home.clone().ok_or_else(|| {
                ConfigError(format!(
                    "cannot find a directory for state: neither `{xdg}` nor `HOME` is set; \
                     set `BIGANIMAL_CREDENTIAL_DIR` to a private directory"
                ))
            })?;
            let mut dir = home;
            for part in fallback {
                dir.push(part);
            }
            Ok(dir.join(APP))
        };

        let cache = base("XDG_CACHE_HOME", &[".cache"])?;
        let state = base("XDG_STATE_HOME", &[".local", "state"])?;
        let locks = match non_empty_env("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|d| d.is_absolute()) {
            Some(dir) => dir.join(APP),
            None => state.join("locks"),
        };
        Ok(Dirs { cache, state, locks })
    }
}

/// Reads an environment variable, treating empty as unset.
pub fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("120"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn duration_rejects_bad_input() {
        for bad in ["", "m", "5x", "5m3", "-5m", "1.5h", "99999999999999999999h", "3651d", "18446744073709551615s", "999999999999"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn profile_names() {
        assert!(validate_profile("default").is_ok());
        assert!(validate_profile("prod.eu-1_a").is_ok());
        assert!(validate_profile("").is_err());
        assert!(validate_profile("a/b").is_err());
        assert!(validate_profile(&"x".repeat(65)).is_err());
    }

    #[test]
    fn url_https_any_host() {
        assert_eq!(
            validate_url("API URL", "https://portal.biganimal.com/api/v3/"),
            Ok("https://portal.biganimal.com/api/v3".to_string())
        );
    }

    #[test]
    fn url_http_only_loopback() {
        assert!(validate_url("API URL", "http://127.0.0.1:8080/api/v3").is_ok());
        assert!(validate_url("API URL", "http://127.9.9.9/api/v3").is_ok());
        assert!(validate_url("API URL", "http://localhost/api/v3").is_ok());
        assert!(validate_url("API URL", "http://[::1]:9/api/v3").is_ok());
        let err = validate_url("API URL", "http://portal.biganimal.com/api/v3").unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        assert!(validate_url("API URL", "http://127.0.0.1.evil.example/api").is_err());
        assert!(validate_url("API URL", "http://127.0.0.1@evil.example/api").is_err());
    }

    #[test]
    fn url_backslash_ends_host() {
        let err = validate_url("API URL", "http://evil.example\\@127.0.0.1/api").unwrap_err();
        assert!(err.contains("loopback"), "{err}");
    }

    #[test]
    fn url_rejects_malformed() {
        assert!(validate_url("API URL", "portal.biganimal.com").is_err());
        assert!(validate_url("API URL", "ftp://portal.biganimal.com").is_err());
        assert!(validate_url("API URL", "https:///api").is_err());
        assert!(validate_url("API URL", "https://a b/api").is_err());
        assert!(validate_url("API URL", "https://host/api?x=1").is_err());
    }
}
