//! Command-line definitions: commands, options, their environment
//! variables and defaults.

mod callers;
mod generate;

pub use callers::{CallerArgs, DockerArgs, ExecArgs, GitArgs, ImportAccessKeyArgs, SetupArgs, SetupTarget};
pub use generate::{CompletionShell, GenerateArgs, GenerateTarget};

use crate::output::OutputFormat;
use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Hands out EDB BigAnimal API tokens to kubectl, scripts and people:
/// from the OS keychain when cached, refreshed before expiry, or through
/// an OAuth device login.
#[derive(Parser)]
#[command(name = "biganimal-credential", version, max_term_width = 100)]
#[command(after_help = "Exit codes: 0 success, 1 failure, 2 invalid usage or input, \
    3 login required, 4 device login denied or expired, 130 device login cancelled with Ctrl-C; \
    `exec` exits with its command's status.")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The command; `get` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses a command line (program name first).
    ///
    /// `get`, which every kubectl, git and docker call runs, is first tried
    /// with [`GetCommandLine`]: the same option definitions without the
    /// other commands, which clap would otherwise build and fill with the
    /// global options on every call. Anything that parser rejects (help,
    /// errors, other commands) goes to the full parser, so messages and
    /// behaviour stay those of the full command line.
    pub fn parse_command_line(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
        let is_get = match args.get(1) {
            None => true,
            Some(first) => first == "get",
        };
        if is_get {
            let rest = args.iter().skip(2).cloned();
            let short = std::iter::once(std::ffi::OsString::from("biganimal-credential get")).chain(rest);
            if let Ok(parsed) = GetCommandLine::try_parse_from(short) {
                return Ok(Cli {
                    global: parsed.global,
                    command: Some(Command::Get(parsed.get)),
                });
            }
        }
        Cli::try_parse_from(args)
    }
}

/// The `get` command on its own, for [`Cli::parse_command_line`].
#[derive(Parser)]
#[command(name = "biganimal-credential get", disable_help_flag = true, disable_version_flag = true)]
pub struct GetCommandLine {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(flatten)]
    get: GetArgs,
}

impl GlobalArgs {
    /// Returns the `login` command with every setting that differs from
    /// its default, so that a hint shown to a person logs in to the same
    /// account, API and store that the failing caller uses.
    pub fn login_command(&self) -> String {
        let mut command = String::from("biganimal-credential login");
        if self.profile != "default" {
            command.push_str(&format!(" --profile {}", self.profile));
        }
        if self.api_url != crate::config::DEFAULT_API_URL {
            command.push_str(&format!(" --api-url {}", self.api_url));
        }
        if self.store != StoreKind::Auto {
            if let Some(value) = self.store.to_possible_value() {
                command.push_str(&format!(" --store {}", value.get_name()));
            }
        }
        if self.free_trial {
            command.push_str(" --free-trial");
        }
        command
    }
}

/// Options every command accepts.
#[derive(Args, Clone)]
pub struct GlobalArgs {
    /// BigAnimal API base URL; plain http only for loopback hosts.
    #[arg(long, global = true, env = "BA_API_URI", value_name = "URL",
          default_value = crate::config::DEFAULT_API_URL, value_parser = parse_api_url)]
    pub api_url: String,

    /// Profile name; each profile is an independent login.
    #[arg(long, global = true, env = "BIGANIMAL_PROFILE", default_value = "default",
          value_parser = crate::config::validate_profile)]
    pub profile: String,

    /// Where credentials are kept. `auto` uses the OS keychain (Secret
    /// Service on Linux) and falls back to `file` when none responds.
    #[arg(long, global = true, env = "BIGANIMAL_CREDENTIAL_STORE", value_enum, default_value_t = StoreKind::Auto)]
    pub store: StoreKind,

    /// Renew the token when less than this is left (`90s`, `5m`, `1h`).
    #[arg(long, global = true, env = "BIGANIMAL_MIN_TTL", value_name = "DURATION",
          default_value = "5m", value_parser = crate::config::parse_duration)]
    pub min_ttl: Duration,

    /// Log in with the portal's free-trial client id (`freetrialClientId`).
    #[arg(long, global = true, env = "BIGANIMAL_FREE_TRIAL", value_parser = BoolishValueParser::new())]
    pub free_trial: bool,

    /// Maximum wait for another process's refresh or login of the same
    /// profile (`30s`, `5m`).
    #[arg(long, global = true, env = "BIGANIMAL_LOCK_TIMEOUT", value_name = "DURATION",
          default_value = "5m", value_parser = crate::config::parse_duration)]
    pub lock_timeout: Duration,

    /// Maximum wait for one keychain call (`5s`); a locked keyring can
    /// otherwise wait forever for a password prompt.
    #[arg(long, global = true, env = "BIGANIMAL_KEYCHAIN_TIMEOUT", value_name = "DURATION",
          default_value = "5s", value_parser = crate::config::parse_duration)]
    pub keychain_timeout: Duration,

    /// Maximum time for one HTTP request, from connect to the last byte
    /// (`30s`); connecting alone gets at most 10 s of it.
    #[arg(long, global = true, env = "BIGANIMAL_HTTP_TIMEOUT", value_name = "DURATION",
          default_value = "30s", value_parser = parse_http_timeout)]
    pub http_timeout: Duration,

    /// Also trust the CA certificates in this PEM file, on top of the
    /// system's CA bundle and `SSL_CERT_FILE`.
    #[arg(long, global = true, env = "BIGANIMAL_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// Open the verification page in a web browser when a device login
    /// starts: the command in `BROWSER`, else `xdg-open` (`open` on macOS).
    #[arg(long, global = true, env = "BIGANIMAL_BROWSER", value_parser = BoolishValueParser::new())]
    pub browser: bool,

    /// Print what the helper does on stderr; secrets are never printed.
    #[arg(short, long, global = true, env = "BIGANIMAL_VERBOSE", value_parser = BoolishValueParser::new())]
    pub verbose: bool,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Print a valid token: cached, refreshed, or after a device login.
    Get(GetArgs),
    /// Run a device login now, replacing any stored login of the profile.
    Login,
    /// Revoke the stored refresh token at the issuer and delete local state,
    /// including a stored access key.
    Logout,
    /// Show the profile, account, token expiry, refresh-token age and
    /// access key; never a secret. Exits with 3 when no login is usable.
    Status(StatusArgs),
    /// Speak git's credential-helper protocol (as `git-credential-biganimal`).
    Git(GitArgs),
    /// Speak docker's credential-helper protocol (as `docker-credential-biganimal`).
    Docker(DockerArgs),
    /// Run a command with the credential in `BA_BEARER_TOKEN` (or
    /// `BA_ACCESS_KEY` and `EDB_TF_ACCESS_KEY`) and `BA_API_URI`, and pass
    /// its exit status on.
    Exec(ExecArgs),
    /// Print the configuration to paste for kubectl, git or docker.
    Setup(SetupArgs),
    /// Store a BigAnimal access key (`baak_…`) read from stdin or a hidden
    /// prompt, for this profile and API base.
    ImportAccessKey(ImportAccessKeyArgs),
    /// Print shell completions or man pages generated from these
    /// definitions (used by `make install`).
    #[command(hide = true)]
    Generate(GenerateArgs),
}

/// Options of `status`.
#[derive(Args, Clone)]
pub struct StatusArgs {
    /// Print one JSON object for scripts instead of the report (fields in
    /// docs/configuration.md).
    #[arg(long)]
    pub json: bool,
}

/// Options of `get`.
#[derive(Args, Clone)]
pub struct GetArgs {
    /// Output form on stdout.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::ExecCredential)]
    pub output: OutputFormat,

    /// When a device login may start: `auto` only when stderr is a
    /// terminal, `never` fails fast with exit code 3, `always` even without
    /// a terminal.
    #[arg(long, env = "BIGANIMAL_LOGIN", value_enum, default_value_t = LoginMode::Auto)]
    pub login: LoginMode,
}

impl Default for GetArgs {
    fn default() -> Self {
        GetArgs {
            output: OutputFormat::ExecCredential,
            login: LoginMode::Auto,
        }
    }
}

/// Values of `--store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// The OS keychain, else `file`.
    Auto,
    /// The OS keychain (Secret Service on Linux); fail when it does not respond.
    Keychain,
    /// The Linux kernel keyring (user keyring); gone at reboot.
    Keyutils,
    /// Private files under the state directory.
    File,
}

/// Values of `get --login`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoginMode {
    /// Only when stderr is a terminal.
    Auto,
    /// Never; fail at once with a hint to run `login`.
    Never,
    /// Whenever needed.
    Always,
}

fn parse_http_timeout(text: &str) -> Result<Duration, String> {
    match crate::config::parse_duration(text)? {
        Duration::ZERO => Err(format!("invalid HTTP timeout `{text}`: it must be at least 1s")),
        timeout => Ok(timeout),
    }
}

fn parse_api_url(text: &str) -> Result<String, String> {
    crate::config::validate_url("API URL", text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
        GetCommandLine::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let mut line = vec![std::ffi::OsString::from("biganimal-credential")];
        line.extend(args.iter().map(std::ffi::OsString::from));
        Cli::parse_command_line(line)
    }

    #[test]
    fn get_shortcut_matches_full_parser() {
        let cases: [&[&str]; 5] = [
            &[],
            &["get"],
            &["get", "-o", "token", "--min-ttl", "90s"],
            &["get", "--profile", "prod", "--login", "never", "--store", "file"],
            &["--profile", "prod", "get"],
        ];
        for args in cases {
            let quick = parse(args).unwrap();
            let mut full_line = vec!["biganimal-credential"];
            full_line.extend_from_slice(args);
            let full = Cli::try_parse_from(full_line).unwrap();
            assert_eq!(quick.global.profile, full.global.profile, "{args:?}");
            assert_eq!(quick.global.min_ttl, full.global.min_ttl, "{args:?}");
            assert_eq!(quick.global.store, full.global.store, "{args:?}");
            let output = |cli: &Cli| match &cli.command {
                Some(Command::Get(get)) => Some((get.output, get.login)),
                None => Some((OutputFormat::ExecCredential, LoginMode::Auto)),
                _ => None,
            };
            assert_eq!(output(&quick), output(&full), "{args:?}");
        }
    }

    #[test]
    fn get_shortcut_leaves_errors_to_full_parser() {
        let err = parse(&["get", "--store", "vault"]).err().unwrap();
        assert!(err.to_string().contains("vault"), "{err}");
        let help = parse(&["get", "--help"]).err().unwrap();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        assert!(help.to_string().contains("Usage: biganimal-credential get"), "{help}");
    }
}
