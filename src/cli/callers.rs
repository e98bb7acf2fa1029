//! Options of the commands that serve other programs: the git and docker
//! credential-helper modes, `exec`, `setup` and `import-access-key`.

use super::LoginMode;
use clap::{Args, ValueEnum};
use std::ffi::OsString;
use std::time::Duration;
use time::OffsetDateTime;

/// Options of the git and docker modes and of `setup`.
#[derive(Args, Clone)]
pub struct CallerArgs {
    /// More servers that get the credential, besides the API base's host: `host`,
    /// `host:port` or a URL. Repeat the option or separate with commas.
    #[arg(long = "credential-host", env = "BIGANIMAL_CREDENTIAL_HOSTS", value_name = "HOST",
          value_delimiter = ',')]
    pub credential_hosts: Vec<String>,

    /// When a device login may start: `auto` only when stderr is a
    /// terminal (for git, also only when `GIT_TERMINAL_PROMPT` allows
    /// prompts), `never`, or `always`. Without a login, git gets no
    /// credential and exit code 0, so it moves on; docker gets exit code 1.
    #[arg(long, env = "BIGANIMAL_LOGIN", value_enum, default_value_t = LoginMode::Auto)]
    pub login: LoginMode,
}

/// Arguments of `git` (also run as `git-credential-biganimal`).
#[derive(Args, Clone)]
pub struct GitArgs {
    #[command(flatten)]
    pub caller: CallerArgs,

    /// The action git passes: `get`, `store`, `erase` or `capability`;
    /// others are ignored.
    pub action: String,
}

/// Arguments of `docker` (also run as `docker-credential-biganimal`).
#[derive(Args, Clone)]
pub struct DockerArgs {
    #[command(flatten)]
    pub caller: CallerArgs,

    /// The action docker passes: `get`, `store`, `erase`, `list` or
    /// `version`.
    pub action: String,
}

/// Arguments of `exec`.
#[derive(Args, Clone)]
pub struct ExecArgs {
    /// When a device login may start: `auto` only when stderr is a
    /// terminal, `never` fails fast with exit code 3, `always`.
    #[arg(long, env = "BIGANIMAL_LOGIN", value_enum, default_value_t = LoginMode::Auto)]
    pub login: LoginMode,

    /// The command to run and its arguments, after `--`.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// The programs `setup` writes configuration for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SetupTarget {
    /// A kubeconfig `users[].user.exec` entry.
    Kubectl,
    /// A `credential.helper` section for `~/.gitconfig`.
    Git,
    /// A `credHelpers` entry for `~/.docker/config.json`.
    Docker,
}

/// Arguments of `setup`.
#[derive(Args, Clone)]
pub struct SetupArgs {
    /// The program to configure.
    #[arg(value_enum)]
    pub target: SetupTarget,

    /// More servers git and docker should ask the helper for, as in
    /// `git --credential-host`.
    #[arg(long = "credential-host", env = "BIGANIMAL_CREDENTIAL_HOSTS", value_name = "HOST",
          value_delimiter = ',')]
    pub credential_hosts: Vec<String>,
}

/// Arguments of `import-access-key`.
#[derive(Args, Clone)]
pub struct ImportAccessKeyArgs {
    /// The key expires this long after now (`30d`, `12h`).
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_duration,
          conflicts_with = "expires_at")]
    pub expires_in: Option<Duration>,

    /// The key expires at this time (RFC 3339, such as
    /// `2027-01-31T00:00:00Z`).
    #[arg(long, value_name = "TIME", value_parser = crate::access_key::parse_expires_at)]
    pub expires_at: Option<OffsetDateTime>,

    /// Catches a key given on the command line, to reject it without
    /// printing it.
    #[arg(hide = true, value_name = "KEY")]
    pub key_argument: Option<String>,
}
