//! The commands: each builds the session from settings and runs one action.
//!
//! Exit codes (also in `--help` and docs/troubleshooting.md):
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | failure: network, issuer, portal, store or lock |
//! | 2 | invalid usage or input: an option value, `KUBERNETES_EXEC_INFO` |
//! | 3 | login required: no valid login and no device login allowed here |
//! | 4 | the device login was denied or its code expired |

use crate::cli::{Cli, Command, GetArgs, GlobalArgs};
use crate::clock::{from_unix, human_duration, rfc3339, Clock, SystemClock};
use crate::config::Dirs;
use crate::http::Http;
use crate::identity::DiscoveryCache;
use crate::log;
use crate::oauth::client::HttpAuthServer;
use crate::oauth::device::DeviceLoginError;
use crate::oauth::AuthServer;
use crate::output::{self, exec_credential, OutputFormat};
use crate::session::{Session, SessionError, Settings, REFRESH_TOKEN_LIFETIME};
use crate::store::{select, CredentialStore};
use crate::ui::StderrPrompt;
use std::io::IsTerminal;

mod access;
mod docker;
mod exec;
mod git;
mod serve;
mod setup;

use serve::CredentialSource;

/// A command's failure with its exit code.
pub struct Failure {
    /// The process exit code.
    pub code: u8,
    /// The message for stderr.
    pub message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure { code: 2, message: message.into() }
    }

    fn general(message: impl Into<String>) -> Self {
        Failure { code: 1, message: message.into() }
    }
}

impl From<SessionError> for Failure {
    fn from(e: SessionError) -> Self {
        let code = match &e {
            SessionError::LoginRequired { .. } => 3,
            SessionError::Login(DeviceLoginError::Denied | DeviceLoginError::Expired) => 4,
            SessionError::Config(_) => 2,
            _ => 1,
        };
        Failure { code, message: e.to_string() }
    }
}

/// Everything a command needs, built once.
struct Context {
    settings: Settings,
    store: CredentialStore,
    discovery: DiscoveryCache,
    server: HttpAuthServer,
    clock: SystemClock,
}

impl Context {
    fn new(global: &GlobalArgs) -> Result<Context, Failure> {
        let dirs = Dirs::from_env().map_err(|e| Failure::usage(e.to_string()))?;
        let store = select::open_credential_store(global.store, &dirs.state, global.keychain_timeout)
            .map_err(|e| Failure::general(e.to_string()))?;
        Ok(Context {
            settings: Settings {
                profile: global.profile.clone(),
                api_url: global.api_url.clone(),
                free_trial: global.free_trial,
                min_ttl: global.min_ttl,
                lock_timeout: global.lock_timeout,
                lock_dir: dirs.locks,
                state_dir: dirs.state,
            },
            store,
            discovery: DiscoveryCache::new(dirs.cache),
            server: HttpAuthServer::new(Http::new(global.http_timeout)),
            clock: SystemClock,
        })
    }

    fn session(&self) -> Session<'_> {
        Session::new(&self.settings, &self.server, &self.store, &self.discovery, &self.clock)
    }
}

/// Runs the command line and returns the exit code: 0, or the status of
/// the command that `exec` ran.
pub fn run(cli: Cli) -> Result<u8, Failure> {
    log::set_verbose(cli.global.verbose);
    match cli.command.unwrap_or(Command::Get(GetArgs::default())) {
        Command::Get(args) => get(&cli.global, &args).map(|()| 0),
        Command::Login => login(&cli.global).map(|()| 0),
        Command::Logout => logout(&cli.global).map(|()| 0),
        Command::Status => status(&cli.global).map(|()| 0),
        Command::Git(args) => git::run(&cli.global, &args),
        Command::Docker(args) => docker::run(&cli.global, &args),
        Command::Exec(args) => exec::run(&cli.global, &args),
        Command::Setup(args) => setup::run(&cli.global, &args),
        Command::ImportAccessKey(args) => access::import(&cli.global, &args),
    }
}

fn stderr_prompt() -> StderrPrompt {
    let terminal = std::io::stderr().is_terminal();
    let color = terminal && crate::config::non_empty_env("NO_COLOR").is_none();
    StderrPrompt::new(terminal, color)
}

fn get(global: &GlobalArgs, args: &GetArgs) -> Result<(), Failure> {
    // Check the caller's request before any work, so bad input fails fast.
    let api_version = match args.output {
        OutputFormat::ExecCredential => {
            let exec_info = std::env::var("KUBERNETES_EXEC_INFO").ok();
            exec_credential::requested_version(exec_info.as_deref()).map_err(Failure::usage)?
        }
        _ => exec_credential::DEFAULT_VERSION,
    };
    let policy = serve::login_policy(args.login, std::io::stderr().is_terminal());
    let credential = serve::LazySource::new(global).credential(policy)?;

    let render_context = output::RenderContext {
        api_url: &global.api_url,
        stdout_is_terminal: std::io::stdout().is_terminal(),
        exec_api_version: api_version,
    };
    let text = output::render(args.output, &credential, &render_context)
        .map_err(|e| serve::render_failure(e, &credential, &global.profile))?;
    output::write_stdout(&text).map_err(|e| Failure::general(format!("could not write to stdout: {e}")))
}

fn login(global: &GlobalArgs) -> Result<(), Failure> {
    let context = Context::new(global)?;
    let credential = context.session().login(&mut stderr_prompt())?;
    let identity = context.session().identity()?;
    let email = context
        .store
        .load_refresh(&identity.key())
        .ok()
        .flatten()
        .and_then(|r| r.email);
    let who = email.map(|e| format!(" as {e}")).unwrap_or_default();
    log::notice(&format!(
        "logged in{who} (profile `{}`); token valid until {}",
        identity.profile,
        rfc3339(credential.expires_at)
    ));
    Ok(())
}

fn logout(global: &GlobalArgs) -> Result<(), Failure> {
    let context = Context::new(global)?;
    access::forget_stored_key(&context)?;
    let session = context.session();
    let Some(provider) = context.discovery.load(&context.settings.api_url) else {
        log::notice(&format!("profile `{}` has no stored login", context.settings.profile));
        return Ok(());
    };
    let identity = crate::identity::Identity::new(
        &context.settings.profile,
        &context.settings.api_url,
        &provider,
        context.settings.free_trial,
    )
    .map_err(Failure::usage)?;
    let key = identity.key();
    let _ = session;

    if let Some(refresh) = context.store.load_refresh(&key).map_err(|e| Failure::general(e.to_string()))? {
        match context.server.revoke(&refresh.issuer, &refresh.client_id, &refresh.refresh_token) {
            Ok(()) => log::info("revoked the refresh token at the issuer"),
            Err(e) => log::notice(&format!(
                "could not revoke the refresh token at the issuer ({e}); deleting it locally anyway"
            )),
        }
    }
    context.store.delete_refresh(&key).map_err(|e| Failure::general(e.to_string()))?;
    context.store.delete_token(&key).map_err(|e| Failure::general(e.to_string()))?;
    let _ = std::fs::remove_file(context.settings.state_dir.join(format!("login-failed-{}", identity.lock_name())));
    crate::store::lock::remove_unheld(&context.settings.lock_dir, &identity.lock_name());
    log::notice(&format!("logged out of profile `{}`", identity.profile));
    Ok(())
}

fn status(global: &GlobalArgs) -> Result<(), Failure> {
    let context = Context::new(global)?;
    let settings = &context.settings;
    let now = context.clock.now();
    let mut lines = vec![
        format!("profile:        {}", settings.profile),
        format!("API:            {}", settings.api_url),
        format!("store:          {}", context.store.name()),
    ];

    let identity = context.discovery.load(&settings.api_url).and_then(|provider| {
        crate::identity::Identity::new(&settings.profile, &settings.api_url, &provider, settings.free_trial).ok()
    });
    let (token, refresh) = match &identity {
        Some(identity) => {
            let key = identity.key();
            let token = context.store.load_token(&key).map_err(|e| Failure::general(e.to_string()))?;
            let refresh = context.store.load_refresh(&key).map_err(|e| Failure::general(e.to_string()))?;
            (token, refresh)
        }
        None => (None, None),
    };

    let account = refresh.as_ref().and_then(|r| r.email.clone()).unwrap_or_else(|| "unknown".to_string());
    lines.push(format!("account:        {account}"));
    let token_valid = match &token {
        Some(record) => {
            let left = record.expires_at - now.unix_timestamp();
            let state = if left > 0 {
                format!("valid until {} ({} left)", rfc3339(from_unix(record.expires_at)), human_duration(left))
            } else {
                format!("expired at {}", rfc3339(from_unix(record.expires_at)))
            };
            lines.push(format!("token:          {state}"));
            left > 0
        }
        None => {
            lines.push("token:          none".to_string());
            false
        }
    };
    let refresh_usable = match &refresh {
        Some(record) => {
            let age = now.unix_timestamp() - record.login_at;
            let left = REFRESH_TOKEN_LIFETIME.as_secs() as i64 - age;
            let usable = if left > 0 {
                format!("usable for {} more", human_duration(left))
            } else {
                "past its lifetime; a new login is needed".to_string()
            };
            lines.push(format!(
                "refresh token:  from a login {} ago, last rotated {} ago, {usable}",
                human_duration(age),
                human_duration(now.unix_timestamp() - record.rotated_at),
            ));
            left > 0
        }
        None => {
            lines.push("refresh token:  none".to_string());
            false
        }
    };

    let key_status = access::key_status(&context)?;
    lines.push(key_status.line);

    let mut text = lines.join("\n");
    text.push('\n');
    output::write_stdout(&text).map_err(|e| Failure::general(format!("could not write to stdout: {e}")))?;
    match (key_status.usable, key_status.problem) {
        (Some(true), _) => return Ok(()),
        (Some(false), Some(message)) => return Err(Failure { code: 3, message }),
        _ => {}
    }
    if token_valid || refresh_usable {
        Ok(())
    } else {
        Err(Failure {
            code: 3,
            message: format!(
                "login required: profile `{}` has no usable login; run `biganimal-credential login{}`",
                settings.profile,
                if settings.profile == "default" { String::new() } else { format!(" --profile {}", settings.profile) }
            ),
        })
    }
}
