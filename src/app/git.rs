//! git mode: `biganimal-credential git ACTION`, also run as
//! `git-credential-biganimal ACTION`.
//!
//! | action | what the helper does |
//! |---|---|
//! | `get` | responds with the BigAnimal token for a served host; with nothing for other hosts, an incomplete request, or when a login is needed but cannot be shown |
//! | `store` | reads and checks the request, stores nothing: the helper keeps its own logins |
//! | `erase` | deletes the cached BigAnimal token when it is the one git presents; the refresh token stays, so the next `get` refreshes |
//! | `capability` | prints `version 0` and `capability authtype` |
//! | anything else | nothing, exit 0, as gitcredentials(7) asks of helpers |
//!
//! git moves on to its next helper or its own prompt after an empty response,
//! whatever the exit status, so "no credential" is an empty stdout with
//! exit 0 and the reason goes to stderr.

use super::serve::{bearer_only, login_policy, CredentialSource, LazySource};
use super::Failure;
use crate::cli::{GitArgs, GlobalArgs};
use crate::credential::ApiCredential;
use crate::log;
use crate::output;
use crate::protocol::git::{self, Request};
use crate::protocol::server::ServedHosts;
use crate::session::LoginPolicy;
use std::io::{BufRead, IsTerminal};

/// The inputs of git mode besides the request.
pub(super) struct GitSettings {
    /// The servers that get a credential.
    pub hosts: ServedHosts,
    /// Whether `get` may start a device login.
    pub policy: LoginPolicy,
}

/// Runs git mode with the process's stdin, stdout and environment.
pub(super) fn run(global: &GlobalArgs, args: &GitArgs) -> Result<u8, Failure> {
    let hosts = ServedHosts::new(&global.api_url, &args.caller.credential_hosts).map_err(Failure::usage)?;
    let prompt_allowed = terminal_prompt_allowed(std::env::var("GIT_TERMINAL_PROMPT").ok().as_deref());
    let can_show_login = prompt_allowed && std::io::stderr().is_terminal();
    let settings = GitSettings {
        hosts,
        policy: login_policy(args.caller.login, can_show_login),
    };
    let mut response = Vec::new();
    serve(&args.action, &settings, &mut std::io::stdin().lock(), &mut response, &LazySource::new(global))?;
    let text = String::from_utf8(response).expect("responses are built from strings");
    output::write_stdout(&text).map_err(|e| Failure::general(format!("could not write to stdout: {e}")))?;
    Ok(0)
}

/// Tells whether `GIT_TERMINAL_PROMPT` allows prompts. git reads it as a
/// boolean: unset means yes; empty, `0`, `false`, `no` and `off` mean no.
pub(super) fn terminal_prompt_allowed(value: Option<&str>) -> bool {
    match value {
        None => true,
        Some(text) => !matches!(text.trim().to_ascii_lowercase().as_str(), "" | "0" | "false" | "no" | "off"),
    }
}

/// Runs one git action: reads the request from `input` and appends the
/// response to `response`.
pub(super) fn serve(
    action: &str,
    settings: &GitSettings,
    input: &mut dyn BufRead,
    response: &mut Vec<u8>,
    source: &dyn CredentialSource,
) -> Result<(), Failure> {
    match action {
        "get" => get(settings, &parse(input)?, response, source),
        "store" => parse(input).map(|_| ()),
        "erase" => erase(settings, &parse(input)?, source),
        "capability" => {
            response.extend_from_slice(git::CAPABILITIES.as_bytes());
            Ok(())
        }
        other => {
            log::info(&format!("ignoring the git credential action `{other}`"));
            Ok(())
        }
    }
}

fn parse(input: &mut dyn BufRead) -> Result<Request, Failure> {
    git::parse(input).map_err(|e| Failure::usage(e.to_string()))
}

fn get(settings: &GitSettings, request: &Request, response: &mut Vec<u8>, source: &dyn CredentialSource) -> Result<(), Failure> {
    if !served(settings, request) {
        return Ok(());
    }
    let credential = match source.credential(settings.policy) {
        Ok(credential) => credential,
        Err(failure) if failure.code == 3 => {
            log::notice(&failure.message);
            return Ok(());
        }
        Err(failure) => return Err(failure),
    };
    if let Some(failure) = bearer_only("git", &credential, source.profile()) {
        return Err(failure);
    }
    let ApiCredential::Bearer(bearer) = credential else {
        unreachable!("bearer_only returned no failure, so this is a bearer token");
    };
    let bearer_capable = request.has_capability("authtype");
    let text = git::render_response(&bearer.token, bearer.expires_at.unix_timestamp(), bearer_capable)
        .map_err(|e| Failure::general(e.to_string()))?;
    response.extend_from_slice(text.as_bytes());
    Ok(())
}

fn erase(settings: &GitSettings, request: &Request, source: &dyn CredentialSource) -> Result<(), Failure> {
    let Some(presented) = request.presented_token() else {
        return Ok(());
    };
    if served(settings, request) && source.forget_token(Some(presented))? {
        log::info("git rejected the cached token; forgot it and kept the refresh token");
    }
    Ok(())
}

/// Tells whether the request names a served host over an allowed scheme.
fn served(settings: &GitSettings, request: &Request) -> bool {
    match request.target() {
        Some((scheme, server)) if settings.hosts.serves(&scheme, &server) => true,
        Some((scheme, server)) => {
            log::info(&format!("no credential for `{scheme}://{server}`: not a served host"));
            false
        }
        None => {
            log::info("no credential: the request names no protocol and host");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_key::{AccessKey, KeySource};
    use crate::secret::Secret;
    use crate::session::{Credential, Source};
    use std::cell::RefCell;

    /// A source with a fixed result that records the calls of git mode.
    struct FakeSource {
        response: fn() -> Result<ApiCredential, Failure>,
        policies: RefCell<Vec<LoginPolicy>>,
        forgotten: RefCell<Vec<String>>,
    }

    impl FakeSource {
        fn new(response: fn() -> Result<ApiCredential, Failure>) -> Self {
            FakeSource {
                response,
                policies: RefCell::new(Vec::new()),
                forgotten: RefCell::new(Vec::new()),
            }
        }
    }

    impl CredentialSource for FakeSource {
        fn profile(&self) -> &str {
            "default"
        }
        fn credential(&self, policy: LoginPolicy) -> Result<ApiCredential, Failure> {
            self.policies.borrow_mut().push(policy);
            (self.response)()
        }
        fn forget_token(&self, presented: Option<&Secret>) -> Result<bool, Failure> {
            let matches = presented.is_none_or(|p| p.expose() == "tok");
            if matches {
                self.forgotten.borrow_mut().push("tok".to_string());
            }
            Ok(matches)
        }
        fn has_login(&self) -> Result<bool, Failure> {
            Ok(true)
        }
    }

    fn bearer() -> Result<ApiCredential, Failure> {
        Ok(ApiCredential::Bearer(Credential {
            token: Secret::new("tok"),
            expires_at: time::macros::datetime!(2026-01-01 00:00:00 UTC),
            source: Source::Cache,
        }))
    }

    fn settings() -> GitSettings {
        GitSettings {
            hosts: ServedHosts::new("https://portal.biganimal.com/api/v3", &["http://127.0.0.1:9000".to_string()]).unwrap(),
            policy: LoginPolicy::Never,
        }
    }

    fn run_action(action: &str, input: &str, source: &FakeSource) -> Result<String, Failure> {
        let mut response = Vec::new();
        serve(action, &settings(), &mut input.as_bytes(), &mut response, source)?;
        Ok(String::from_utf8(response).unwrap())
    }

    #[test]
    fn get_with_authtype_answers_bearer() {
        let source = FakeSource::new(bearer);
        let input = "capability[]=authtype\nprotocol=https\nhost=portal.biganimal.com\n\n";
        assert_eq!(
            run_action("get", input, &source).ok().unwrap(),
            "capability[]=authtype\nauthtype=Bearer\ncredential=tok\npassword_expiry_utc=1767225600\n"
        );
        assert_eq!(*source.policies.borrow(), [LoginPolicy::Never]);
    }

    #[test]
    fn get_without_authtype_answers_password() {
        let source = FakeSource::new(bearer);
        let input = "protocol=http\r\nhost=127.0.0.1:9000\r\n\r\n";
        assert_eq!(
            run_action("get", input, &source).ok().unwrap(),
            "username=biganimal\npassword=tok\npassword_expiry_utc=1767225600\n"
        );
    }

    #[test]
    fn get_for_other_host_is_empty() {
        let source = FakeSource::new(bearer);
        for input in [
            "protocol=https\nhost=github.com\n",
            "protocol=http\nhost=portal.biganimal.com\n",
            "protocol=https\nhost=portal.biganimal.com:8443\n",
            "host=portal.biganimal.com\n",
            "",
        ] {
            assert_eq!(run_action("get", input, &source).ok().unwrap(), "", "{input:?}");
        }
        assert!(source.policies.borrow().is_empty(), "no credential was requested");
    }

    #[test]
    fn get_when_login_required_is_empty_and_succeeds() {
        let source = FakeSource::new(|| {
            Err(Failure {
                code: 3,
                message: "login required".to_string(),
            })
        });
        assert_eq!(run_action("get", "protocol=https\nhost=portal.biganimal.com\n", &source).ok().unwrap(), "");
    }

    #[test]
    fn get_with_access_key_fails_with_usage_code() {
        let source = FakeSource::new(|| {
            Ok(ApiCredential::AccessKey(AccessKey {
                key: Secret::new("baak_0123456789abc"),
                expires_at: None,
                source: KeySource::Environment,
            }))
        });
        let failure = run_action("get", "protocol=https\nhost=portal.biganimal.com\n", &source).err().unwrap();
        assert_eq!(failure.code, 2);
        assert!(failure.message.starts_with("git can carry only a bearer token"), "{}", failure.message);
        assert!(!failure.message.contains("0123456789abc"));
    }

    #[test]
    fn get_rejects_bad_input() {
        let source = FakeSource::new(bearer);
        for input in ["protocol=https\nhost=portal.biganimal.com\0\n", "protocol=https\nno-equals\n"] {
            let failure = run_action("get", input, &source).err().unwrap();
            assert_eq!(failure.code, 2, "{input:?}");
        }
    }

    #[test]
    fn store_is_silent_no_op() {
        let source = FakeSource::new(bearer);
        let input = "protocol=https\nhost=portal.biganimal.com\nauthtype=Bearer\ncredential=tok\n\n";
        assert_eq!(run_action("store", input, &source).ok().unwrap(), "");
        assert!(source.policies.borrow().is_empty());
        assert!(source.forgotten.borrow().is_empty());
    }

    #[test]
    fn erase_forgets_only_presented_token() {
        let source = FakeSource::new(bearer);
        let other = "protocol=https\nhost=portal.biganimal.com\nauthtype=Bearer\ncredential=other\n";
        assert_eq!(run_action("erase", other, &source).ok().unwrap(), "");
        assert!(source.forgotten.borrow().is_empty());

        let same = "protocol=https\nhost=portal.biganimal.com\nusername=biganimal\npassword=tok\n";
        run_action("erase", same, &source).ok().unwrap();
        assert_eq!(*source.forgotten.borrow(), ["tok"]);
    }

    #[test]
    fn erase_ignores_other_hosts() {
        let source = FakeSource::new(bearer);
        run_action("erase", "protocol=https\nhost=github.com\npassword=tok\n", &source).ok().unwrap();
        assert!(source.forgotten.borrow().is_empty());
    }

    #[test]
    fn capability_and_unknown_actions() {
        let source = FakeSource::new(bearer);
        assert_eq!(run_action("capability", "", &source).ok().unwrap(), "version 0\ncapability authtype\n");
        assert_eq!(run_action("approve-later", "protocol=https\n", &source).ok().unwrap(), "");
    }

    #[test]
    fn terminal_prompt_values() {
        assert!(terminal_prompt_allowed(None));
        assert!(terminal_prompt_allowed(Some("1")));
        assert!(terminal_prompt_allowed(Some("true")));
        for off in ["0", "false", "No", "OFF", ""] {
            assert!(!terminal_prompt_allowed(Some(off)), "{off:?}");
        }
    }
}
