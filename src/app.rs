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
//! | 130 | the device login was cancelled with Ctrl-C (see `ui::interrupt`) |

use crate::cli::{Cli, Command, GetArgs, GlobalArgs};
use crate::clock::{rfc3339, SystemClock};
use crate::config::Dirs;
use crate::http::Http;
use crate::identity::DiscoveryCache;
use crate::log;
use crate::oauth::client::HttpAuthServer;
use crate::oauth::device::DeviceLoginError;
use crate::output::{self, exec_credential, OutputFormat};
use crate::session::{Session, SessionError, Settings};
use crate::store::{select, CredentialStore};
use crate::ui::StderrPrompt;
use std::io::IsTerminal;

mod access;
mod docker;
mod exec;
mod generate;
mod git;
mod serve;
mod setup;
mod status;

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
    /// `--browser`: open the verification page when a login starts.
    open_browser: bool,
}

impl Context {
    fn new(global: &GlobalArgs) -> Result<Context, Failure> {
        let dirs = Dirs::from_env().map_err(|e| Failure::usage(e.to_string()))?;
        let store = select::open_credential_store(global.store, &dirs.state, &dirs.locks, global.keychain_timeout)
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
                login_command: global.login_command(),
            },
            store,
            discovery: DiscoveryCache::new(dirs.cache),
            server: HttpAuthServer::new(Http::new(global.http_timeout, global.ca_file.clone())),
            clock: SystemClock,
            open_browser: global.browser,
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
        Command::Status(args) => status::run(&cli.global, &args).map(|()| 0),
        Command::Git(args) => git::run(&cli.global, &args),
        Command::Docker(args) => docker::run(&cli.global, &args),
        Command::Exec(args) => exec::run(&cli.global, &args),
        Command::Setup(args) => setup::run(&cli.global, &args),
        Command::ImportAccessKey(args) => access::import(&cli.global, &args),
        Command::Generate(args) => generate::run(&args),
    }
}

/// Builds the login screen's settings. Only the terminal check runs here;
/// the browser and terminal-size lookups wait until a login is shown.
fn stderr_prompt(open_browser: bool) -> StderrPrompt {
    let terminal = std::io::stderr().is_terminal();
    let color = terminal && crate::ui::color_allowed();
    StderrPrompt::new(crate::ui::PromptOptions {
        terminal,
        color,
        open_browser,
    })
}

fn get(global: &GlobalArgs, args: &GetArgs) -> Result<(), Failure> {
    // Check the caller's request before any work, so bad input fails fast.
    let api_version = match args.output {
        OutputFormat::ExecCredential => {
            let exec_info = match std::env::var("KUBERNETES_EXEC_INFO") {
                Ok(text) => Some(text),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(Failure::usage("invalid `KUBERNETES_EXEC_INFO`: it is not valid UTF-8; unset it or let kubectl set it"));
                }
            };
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
    let credential = context.session().login(&mut stderr_prompt(global.browser))?;
    let identity = context.session().identity()?;
    let refresh = context.store.load_refresh(&identity.key()).ok().flatten();
    let who = refresh
        .as_ref()
        .and_then(|r| r.email.as_ref())
        .map(|e| format!(" as {e}"))
        .unwrap_or_default();
    // The refresh token renews the token without a browser until the
    // login's absolute lifetime ends.
    let renewal = match &refresh {
        Some(record) => format!(
            "; renewed without a browser until {}",
            rfc3339(crate::clock::from_unix(record.login_at) + crate::session::REFRESH_TOKEN_LIFETIME)
        ),
        None => "; the issuer sent no refresh token, so a new login is needed when it expires".to_string(),
    };
    log::notice(&format!(
        "logged in{who} (profile `{}`); token valid until {}{renewal}",
        identity.profile,
        rfc3339(credential.expires_at)
    ));
    Ok(())
}

fn logout(global: &GlobalArgs) -> Result<(), Failure> {
    let context = Context::new(global)?;
    access::forget_stored_key(&context)?;
    let removed = context.session().logout()?;
    let profile = &context.settings.profile;
    if removed {
        log::notice(&format!("logged out of profile `{profile}`"));
    } else {
        log::notice(&format!(
            "profile `{profile}` has no stored login in the {} store for `{}`; nothing to log out",
            context.store.name(),
            context.settings.api_url
        ));
    }
    Ok(())
}
