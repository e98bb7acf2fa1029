//! Which proxy, if any, a request goes through, chosen per request URL
//! from the environment the way curl chooses it.
//!
//! - An `https://` URL uses `https_proxy` or `HTTPS_PROXY`, else
//!   `all_proxy` or `ALL_PROXY`. An `http://` URL (loopback only, see
//!   `config::validate_url`) uses `http_proxy` or `HTTP_PROXY`, else the
//!   `all_proxy` pair. The lowercase name wins; empty values count as unset.
//! - `no_proxy` or `NO_PROXY` lists hosts that are reached directly,
//!   separated by commas or spaces. An entry is `*` for every host, a
//!   domain such as `example.com` or `.example.com` (which also matches its
//!   subdomains), or an IP address or CIDR block (`10.0.0.0/8`, `::1`).
//!   Each may end in `:PORT` to match only that port.
//!
//! ureq 3.5 reads the same variables itself, but takes `ALL_PROXY` before
//! `HTTPS_PROXY`, applies `HTTP_PROXY` to https URLs, and matches
//! `NO_PROXY` entries only as written (no subdomains of a bare domain, no
//! CIDR, no spaces after commas, no ports). So the helper makes the choice
//! and hands ureq one proxy per agent.

use std::net::IpAddr;

/// The proxy variables for each scheme, in the order they are read.
const HTTPS_VARIABLES: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];
const HTTP_VARIABLES: [&str; 4] = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"];
const NO_PROXY_VARIABLES: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// A proxy setting and the variable it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySetting {
    /// The variable, for messages; its value may hold a password and is
    /// never printed.
    pub variable: &'static str,
    /// The proxy URL.
    pub url: String,
}

/// The host part of a request URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`, lowercase.
    pub scheme: String,
    /// The host, lowercase, without brackets around an IPv6 address.
    pub host: String,
    /// The port, or the scheme's default.
    pub port: u16,
}

impl Target {
    /// Parses `scheme://[user@]host[:port]/…`; `None` when that shape is missing.
    pub fn parse(url: &str) -> Option<Target> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let authority = rest.split(['/', '\\', '?', '#']).next()?;
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_host_port(host_port)?;
        let port = match port {
            Some(port) => port,
            None if scheme == "https" => 443,
            None => 80,
        };
        Some(Target {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// The proxy settings read from the environment.
#[derive(Debug, Default)]
pub struct ProxyEnv {
    https: Option<ProxySetting>,
    http: Option<ProxySetting>,
    no_proxy: NoProxy,
}

impl ProxyEnv {
    /// Reads the variables listed in the module documentation.
    pub fn from_env() -> ProxyEnv {
        ProxyEnv::from_lookup(crate::config::non_empty_env)
    }

    /// Reads the variables through `lookup`, which returns `None` for unset
    /// or empty ones.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        let first = |names: &[&'static str]| {
            names.iter().find_map(|name| {
                lookup(name).map(|url| ProxySetting {
                    variable: name,
                    url,
                })
            })
        };
        let no_proxy = NO_PROXY_VARIABLES
            .iter()
            .find_map(|name| lookup(name))
            .map(|value| NoProxy::parse(&value))
            .unwrap_or_default();
        ProxyEnv {
            https: first(&HTTPS_VARIABLES),
            http: first(&HTTP_VARIABLES),
            no_proxy,
        }
    }

    /// Returns the proxy for a request to `target`, or `None` to connect directly.
    pub fn proxy_for(&self, target: &Target) -> Option<&ProxySetting> {
        let setting = match target.scheme.as_str() {
            "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        }?;
        if self.no_proxy.matches(target) {
            return None;
        }
        Some(setting)
    }
}

/// The parsed `NO_PROXY` list.
#[derive(Debug, Default)]
struct NoProxy {
    everything: bool,
    entries: Vec<Entry>,
}

#[derive(Debug)]
enum Pattern {
    /// A domain and its subdomains, lowercase, without a leading dot.
    Domain(String),
    /// An address block: network address and prefix length.
    Network(IpAddr, u8),
}

#[derive(Debug)]
struct Entry {
    pattern: Pattern,
    port: Option<u16>,
}

impl NoProxy {
    fn parse(value: &str) -> NoProxy {
        let mut list = NoProxy::default();
        for item in value.split([',', ' ', '\t']).filter(|item| !item.is_empty()) {
            if item == "*" {
                list.everything = true;
            } else if let Some(entry) = Entry::parse(item) {
                list.entries.push(entry);
            }
        }
        list
    }

    fn matches(&self, target: &Target) -> bool {
        self.everything || self.entries.iter().any(|entry| entry.matches(target))
    }
}

impl Entry {
    /// Parses one entry; `None` for one that cannot match anything.
    fn parse(item: &str) -> Option<Entry> {
        let item = item.trim_start_matches('*').trim_start_matches('.');
        if let Some((network, prefix)) = item.split_once('/') {
            let address: IpAddr = network.trim_matches(['[', ']']).parse().ok()?;
            let max = if address.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = prefix.parse().ok().filter(|p| *p <= max)?;
            return Some(Entry {
                pattern: Pattern::Network(address, prefix),
                port: None,
            });
        }
        if let Ok(address) = item.parse::<IpAddr>() {
            // A bare IPv6 address: its colons are not a port separator.
            return Some(Entry {
                pattern: Pattern::Network(address, if address.is_ipv4() { 32 } else { 128 }),
                port: None,
            });
        }
        let (host, port) = split_host_port(item)?;
        let pattern = match host.parse::<IpAddr>() {
            Ok(address) => Pattern::Network(address, if address.is_ipv4() { 32 } else { 128 }),
            Err(_) => Pattern::Domain(host.trim_end_matches('.').to_ascii_lowercase()),
        };
        Some(Entry { pattern, port })
    }

    fn matches(&self, target: &Target) -> bool {
        if self.port.is_some_and(|port| port != target.port) {
            return false;
        }
        match &self.pattern {
            Pattern::Domain(domain) => {
                let host = target.host.trim_end_matches('.');
                host == domain || host.strip_suffix(domain.as_str()).is_some_and(|rest| rest.ends_with('.'))
            }
            Pattern::Network(network, prefix) => target
                .host
                .parse::<IpAddr>()
                .is_ok_and(|address| in_network(address, *network, *prefix)),
        }
    }
}

/// Splits `host[:port]` or `[v6][:port]`; `None` for an empty host or a
/// port that is not a number.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        (host, rest.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(port) => Some(port.parse().ok()?),
        None => None,
    };
    Some((host, port))
}

/// Tells whether `address` lies in `network/prefix`; families never mix.
fn in_network(address: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy_env(pairs: &[(&str, &str)]) -> ProxyEnv {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ProxyEnv::from_lookup(move |name| {
            pairs.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone())
        })
    }

    fn proxy_variable(env: &ProxyEnv, url: &str) -> Option<&'static str> {
        env.proxy_for(&Target::parse(url).unwrap()).map(|setting| setting.variable)
    }

    #[test]
    fn target_parts() {
        let target = Target::parse("https://User@Portal.Example:8443/api/v3").unwrap();
        assert_eq!((target.scheme.as_str(), target.host.as_str(), target.port), ("https", "portal.example", 8443));
        assert_eq!(Target::parse("http://[::1]/x").unwrap().host, "::1");
        assert_eq!(Target::parse("http://127.0.0.1/x").unwrap().port, 80);
        assert_eq!(Target::parse("https://h").unwrap().port, 443);
        assert!(Target::parse("no-scheme").is_none());
    }

    #[test]
    fn scheme_picks_variable() {
        let env = proxy_env(&[("HTTPS_PROXY", "http://p:1"), ("HTTP_PROXY", "http://p:2")]);
        assert_eq!(proxy_variable(&env, "https://a.example/"), Some("HTTPS_PROXY"));
        assert_eq!(proxy_variable(&env, "http://127.0.0.1/"), Some("HTTP_PROXY"));
    }

    #[test]
    fn http_proxy_is_not_used_for_https() {
        let env = proxy_env(&[("HTTP_PROXY", "http://p:2")]);
        assert_eq!(proxy_variable(&env, "https://a.example/"), None);
    }

    #[test]
    fn scheme_variable_beats_all_proxy() {
        let both = proxy_env(&[("ALL_PROXY", "http://p:3"), ("HTTPS_PROXY", "http://p:1")]);
        assert_eq!(proxy_variable(&both, "https://a.example/"), Some("HTTPS_PROXY"));
        let all_only = proxy_env(&[("ALL_PROXY", "http://p:3")]);
        assert_eq!(proxy_variable(&all_only, "https://a.example/"), Some("ALL_PROXY"));
    }

    #[test]
    fn lowercase_name_wins_and_empty_is_unset() {
        let env = proxy_env(&[("https_proxy", "http://lower:1"), ("HTTPS_PROXY", "http://upper:1")]);
        assert_eq!(proxy_variable(&env, "https://a.example/"), Some("https_proxy"));
        let env = proxy_env(&[("https_proxy", ""), ("HTTPS_PROXY", "http://upper:1")]);
        assert_eq!(proxy_variable(&env, "https://a.example/"), Some("HTTPS_PROXY"));
    }

    #[test]
    fn no_proxy_domains_match_subdomains() {
        let env = proxy_env(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "example.com, .corp.test,*.other.test")]);
        assert_eq!(proxy_variable(&env, "https://example.com/"), None);
        assert_eq!(proxy_variable(&env, "https://api.example.com/"), None);
        assert_eq!(proxy_variable(&env, "https://a.corp.test/"), None);
        assert_eq!(proxy_variable(&env, "https://corp.test/"), None);
        assert_eq!(proxy_variable(&env, "https://x.other.test/"), None);
        assert_eq!(proxy_variable(&env, "https://notexample.com/"), Some("HTTPS_PROXY"));
        assert_eq!(proxy_variable(&env, "https://example.com.evil.test/"), Some("HTTPS_PROXY"));
    }

    #[test]
    fn no_proxy_addresses_and_networks() {
        let env = proxy_env(&[("https_proxy", "http://p:1"), ("no_proxy", "127.0.0.1 10.0.0.0/8 ::1 [fd00::]/8")]);
        assert_eq!(proxy_variable(&env, "https://127.0.0.1:8443/"), None);
        assert_eq!(proxy_variable(&env, "https://10.20.30.40/"), None);
        assert_eq!(proxy_variable(&env, "https://[::1]:9/"), None);
        assert_eq!(proxy_variable(&env, "https://[fd12::1]/"), None);
        assert_eq!(proxy_variable(&env, "https://11.0.0.1/"), Some("https_proxy"));
        assert_eq!(proxy_variable(&env, "https://127.0.0.2/"), Some("https_proxy"));
    }

    #[test]
    fn no_proxy_port_limits_entry() {
        let env = proxy_env(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "example.com:8443,127.0.0.1:9")]);
        assert_eq!(proxy_variable(&env, "https://example.com:8443/"), None);
        assert_eq!(proxy_variable(&env, "https://example.com/"), Some("HTTPS_PROXY"));
        assert_eq!(proxy_variable(&env, "https://127.0.0.1:9/"), None);
        assert_eq!(proxy_variable(&env, "https://127.0.0.1:10/"), Some("HTTPS_PROXY"));
    }

    #[test]
    fn no_proxy_star_matches_everything() {
        let env = proxy_env(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "*")]);
        assert_eq!(proxy_variable(&env, "https://anything.example/"), None);
    }

    #[test]
    fn no_proxy_ignores_malformed_entries() {
        let env = proxy_env(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "host:notaport,1.2.3.4/99,,good.test")]);
        assert_eq!(proxy_variable(&env, "https://host/"), Some("HTTPS_PROXY"));
        assert_eq!(proxy_variable(&env, "https://1.2.3.4/"), Some("HTTPS_PROXY"));
        assert_eq!(proxy_variable(&env, "https://good.test/"), None);
    }
}
