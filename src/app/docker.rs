//! docker mode: `biganimal-credential docker ACTION`, also run as
//! `docker-credential-biganimal ACTION`.
//!
//! | action | what the helper does |
//! |---|---|
//! | `get` | responds with `{"ServerURL","Username","Secret"}` with the BigAnimal token for a served server; `credentials not found in native keychain` for any other server, or when a login is needed but cannot be shown |
//! | `store` | accepts a served server without storing anything, because the helper keeps its own logins; rejects other servers, so their credential is not silently lost |
//! | `erase` | deletes the cached BigAnimal token of a served server; the refresh token stays |
//! | `list` | maps every served server to the user name while a login is stored, else `{}` |
//! | `version` | prints the version line |
//!
//! Errors go to stdout with exit code 1, where docker reads them. The one
//! exception is a profile with an access key, which docker cannot send:
//! exit code 2, as for every output that carries only bearer tokens.

use super::serve::{bearer_only, login_policy, CredentialSource, LazySource};
use super::Failure;
use crate::cli::{DockerArgs, GlobalArgs};
use crate::credential::ApiCredential;
use crate::log;
use crate::output;
use crate::protocol::docker::{self, NOT_FOUND};
use crate::protocol::server::{ServedHosts, Target};
use crate::session::LoginPolicy;
use std::io::{IsTerminal, Read};

/// The inputs of docker mode besides the request.
pub(super) struct DockerSettings {
    /// The servers that get a credential.
    pub hosts: ServedHosts,
    /// Whether `get` may start a device login.
    pub policy: LoginPolicy,
}

/// Runs docker mode with the process's stdin, stdout and environment.
pub(super) fn run(global: &GlobalArgs, args: &DockerArgs) -> Result<u8, Failure> {
    let hosts = ServedHosts::new(&global.api_url, &args.caller.credential_hosts).map_err(Failure::usage)?;
    let settings = DockerSettings {
        hosts,
        policy: login_policy(args.caller.login, std::io::stderr().is_terminal()),
    };
    let mut response = String::new();
    let code = serve(&args.action, &settings, &mut std::io::stdin().lock(), &mut response, &LazySource::new(global));
    output::write_stdout(&response).map_err(|e| Failure::general(format!("could not write to stdout: {e}")))?;
    Ok(code)
}

/// Runs one docker action: reads the request from `input`, appends the
/// response or the error to `response` and returns the exit code.
pub(super) fn serve(
    action: &str,
    settings: &DockerSettings,
    input: &mut dyn Read,
    response: &mut String,
    source: &dyn CredentialSource,
) -> u8 {
    let result = match action {
        "get" => get(settings, input, source),
        "store" => store(settings, input),
        "erase" => erase(settings, input, source),
        "list" => list(settings, source),
        "version" => Ok(docker::render_version(env!("CARGO_PKG_VERSION"))),
        other => Err(Failure::general(format!(
            "unknown action `{}`: use get, store, erase, list or version",
            other.chars().filter(|c| !c.is_control()).take(40).collect::<String>()
        ))),
    };
    match result {
        Ok(text) => {
            response.push_str(&text);
            0
        }
        Err(failure) => {
            response.push_str(&failure.message);
            response.push('\n');
            if failure.code == 2 {
                2
            } else {
                1
            }
        }
    }
}

fn not_found() -> Failure {
    Failure::general(NOT_FOUND)
}

/// Reads the server URL and returns it with whether it is served.
fn served_url(settings: &DockerSettings, input: &mut dyn Read) -> Result<(String, bool), Failure> {
    let url = docker::read_server_url(input).map_err(|e| Failure::general(e.to_string()))?;
    let served = match Target::parse(&url) {
        Ok(target) => {
            let scheme = target.scheme.as_deref().unwrap_or("https");
            settings.hosts.serves(scheme, &target.server)
        }
        Err(_) => false,
    };
    if !served {
        log::info("no credential: the server is not a served host");
    }
    Ok((url, served))
}

fn get(settings: &DockerSettings, input: &mut dyn Read, source: &dyn CredentialSource) -> Result<String, Failure> {
    let (url, served) = served_url(settings, input)?;
    if !served {
        return Err(not_found());
    }
    let credential = match source.credential(settings.policy) {
        Ok(credential) => credential,
        Err(failure) if failure.code == 3 => {
            log::notice(&failure.message);
            return Err(not_found());
        }
        Err(failure) => return Err(failure),
    };
    if let Some(failure) = bearer_only("docker", &credential, source.profile()) {
        return Err(failure);
    }
    let ApiCredential::Bearer(bearer) = credential else {
        unreachable!("bearer_only returned no failure, so this is a bearer token");
    };
    Ok(docker::render_response(&url, &bearer.token))
}

fn store(settings: &DockerSettings, input: &mut dyn Read) -> Result<String, Failure> {
    let url = docker::read_store_request(input).map_err(|e| Failure::general(e.to_string()))?;
    let served = served_url(settings, &mut url.as_bytes())?.1;
    if !served {
        return Err(Failure::general(
            "biganimal-credential keeps only BigAnimal logins and did not store this credential; \
             list the server under `credHelpers` with another helper instead of using `credsStore`",
        ));
    }
    log::info("docker store: nothing to keep, the helper serves its own login");
    Ok(String::new())
}

fn erase(settings: &DockerSettings, input: &mut dyn Read, source: &dyn CredentialSource) -> Result<String, Failure> {
    if !served_url(settings, input)?.1 {
        return Err(not_found());
    }
    if source.forget_token(None)? {
        log::notice(&format!(
            "forgot the cached token of profile `{}`; the login stays, `biganimal-credential logout` removes it",
            source.profile()
        ));
    }
    Ok(String::new())
}

fn list(settings: &DockerSettings, source: &dyn CredentialSource) -> Result<String, Failure> {
    let servers: Vec<String> = if source.has_login()? {
        settings.hosts.servers().iter().map(ToString::to_string).collect()
    } else {
        Vec::new()
    };
    Ok(docker::render_list(&servers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_key::{AccessKey, KeySource};
    use crate::secret::Secret;
    use crate::session::{Credential, Source};
    use std::cell::Cell;

    struct FakeSource {
        response: fn() -> Result<ApiCredential, Failure>,
        logged_in: bool,
        forgotten: Cell<u32>,
    }

    impl CredentialSource for FakeSource {
        fn profile(&self) -> &str {
            "default"
        }
        fn credential(&self, _: LoginPolicy) -> Result<ApiCredential, Failure> {
            (self.response)()
        }
        fn forget_token(&self, presented: Option<&Secret>) -> Result<bool, Failure> {
            assert!(presented.is_none(), "docker presents no token");
            self.forgotten.set(self.forgotten.get() + 1);
            Ok(true)
        }
        fn has_login(&self) -> Result<bool, Failure> {
            Ok(self.logged_in)
        }
    }

    fn bearer() -> Result<ApiCredential, Failure> {
        Ok(ApiCredential::Bearer(Credential {
            token: Secret::new("tok"),
            expires_at: time::macros::datetime!(2026-01-01 00:00:00 UTC),
            source: Source::Cache,
        }))
    }

    fn source(response: fn() -> Result<ApiCredential, Failure>) -> FakeSource {
        FakeSource {
            response,
            logged_in: true,
            forgotten: Cell::new(0),
        }
    }

    fn run_action(action: &str, input: &str, source: &FakeSource) -> (u8, String) {
        let settings = DockerSettings {
            hosts: ServedHosts::new("https://portal.biganimal.com/api/v3", &["127.0.0.1:5000".to_string()]).unwrap(),
            policy: LoginPolicy::Never,
        };
        let mut response = String::new();
        let code = serve(action, &settings, &mut input.as_bytes(), &mut response, source);
        (code, response)
    }

    #[test]
    fn get_accepts_url_and_host_forms() {
        for url in ["portal.biganimal.com", "https://portal.biganimal.com", "https://portal.biganimal.com/v2/", "127.0.0.1:5000"] {
            let (code, response) = run_action("get", &format!("{url}\n"), &source(bearer));
            assert_eq!(code, 0, "{url}: {response}");
            assert_eq!(response, format!("{{\"ServerURL\":\"{url}\",\"Username\":\"biganimal\",\"Secret\":\"tok\"}}\n"));
        }
    }

    #[test]
    fn get_other_server_is_not_found() {
        for url in ["index.docker.io", "https://index.docker.io/v1/", "http://portal.biganimal.com", "ftp://x", "a b"] {
            assert_eq!(
                run_action("get", url, &source(bearer)),
                (1, "credentials not found in native keychain\n".to_string()),
                "{url}"
            );
        }
    }

    #[test]
    fn get_login_required_is_not_found() {
        let fake = source(|| {
            Err(Failure {
                code: 3,
                message: "login required".to_string(),
            })
        });
        assert_eq!(run_action("get", "portal.biganimal.com", &fake), (1, format!("{NOT_FOUND}\n")));
    }

    #[test]
    fn get_other_failure_exits_1_on_stdout() {
        let fake = source(|| Err(Failure::general("could not reach the issuer")));
        assert_eq!(run_action("get", "portal.biganimal.com", &fake), (1, "could not reach the issuer\n".to_string()));
    }

    #[test]
    fn get_with_access_key_exits_2() {
        let fake = source(|| {
            Ok(ApiCredential::AccessKey(AccessKey {
                key: Secret::new("baak_0123456789abc"),
                expires_at: None,
                source: KeySource::Store,
            }))
        });
        let (code, response) = run_action("get", "portal.biganimal.com", &fake);
        assert_eq!(code, 2);
        assert!(response.starts_with("docker can carry only a bearer token"), "{response}");
    }

    #[test]
    fn get_empty_input_names_missing_url() {
        assert_eq!(run_action("get", "", &source(bearer)), (1, "no credentials server URL\n".to_string()));
    }

    #[test]
    fn store_accepts_served_and_rejects_others() {
        let served = r#"{"ServerURL":"portal.biganimal.com","Username":"biganimal","Secret":"x"}"#;
        assert_eq!(run_action("store", served, &source(bearer)), (0, String::new()));
        let other = r#"{"ServerURL":"index.docker.io","Username":"me","Secret":"x"}"#;
        let (code, response) = run_action("store", other, &source(bearer));
        assert_eq!(code, 1);
        assert!(response.contains("did not store"), "{response}");
    }

    #[test]
    fn erase_forgets_cached_token_for_served_server() {
        let fake = source(bearer);
        assert_eq!(run_action("erase", "https://portal.biganimal.com", &fake), (0, String::new()));
        assert_eq!(fake.forgotten.get(), 1);
        assert_eq!(run_action("erase", "index.docker.io", &fake), (1, format!("{NOT_FOUND}\n")));
        assert_eq!(fake.forgotten.get(), 1);
    }

    #[test]
    fn list_exact() {
        assert_eq!(
            run_action("list", "unused", &source(bearer)),
            (0, "{\"127.0.0.1:5000\":\"biganimal\",\"portal.biganimal.com\":\"biganimal\"}\n".to_string())
        );
        let mut fake = source(bearer);
        fake.logged_in = false;
        assert_eq!(run_action("list", "", &fake), (0, "{}\n".to_string()));
    }

    #[test]
    fn version_and_unknown_action() {
        let (code, response) = run_action("version", "", &source(bearer));
        assert_eq!(code, 0);
        assert_eq!(response, format!("docker-credential-biganimal (biganimal-credential) {}\n", env!("CARGO_PKG_VERSION")));
        let (code, response) = run_action("fetch", "", &source(bearer));
        assert_eq!(code, 1);
        assert_eq!(response, "unknown action `fetch`: use get, store, erase, list or version\n");
    }
}
