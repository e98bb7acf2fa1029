//! One binary, several names. Started as `git-credential-biganimal` the
//! binary speaks git's credential protocol, and as
//! `docker-credential-biganimal` docker's; `make install` puts links with
//! those names next to it.
//!
//! [`command_line`] rewrites such an invocation into the equivalent
//! `biganimal-credential git …` or `biganimal-credential docker …`, so clap
//! parses every form alike. git passes the options written in
//! `credential.helper` before the action (`--profile prod get`), and they
//! keep working.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// The file-name prefix that selects git mode.
pub const GIT_PREFIX: &str = "git-credential-";

/// The file-name prefix that selects docker mode.
pub const DOCKER_PREFIX: &str = "docker-credential-";

/// Returns the command line to parse: `args` unchanged, or with the mode
/// inserted after the program name when the program's file name selects
/// one.
pub fn command_line(args: Vec<OsString>) -> Vec<OsString> {
    let mut args = args.into_iter();
    let Some(program) = args.next() else {
        return Vec::new();
    };
    let rest: Vec<OsString> = args.collect();
    let mut line = vec![program.clone()];
    match mode_of(&program) {
        Some("docker") => {
            line.push("docker".into());
            line.extend(docker_arguments(rest));
        }
        Some(mode) => {
            line.push(mode.into());
            line.extend(rest);
        }
        None => line.extend(rest),
    }
    line
}

/// Returns `git` or `docker` when the program's file name starts with
/// their prefix (an `.exe` suffix is ignored).
fn mode_of(program: &OsStr) -> Option<&'static str> {
    let name = Path::new(program).file_name()?.to_str()?;
    let name = name.strip_suffix(".exe").unwrap_or(name);
    if name.starts_with(GIT_PREFIX) {
        Some("git")
    } else if name.starts_with(DOCKER_PREFIX) {
        Some("docker")
    } else {
        None
    }
}

/// Maps docker's `--version` and `-v`, accepted in place of the `version`
/// action, to `version`.
fn docker_arguments(rest: Vec<OsString>) -> Vec<OsString> {
    match rest.as_slice() {
        [only] if only == "--version" || only == "-v" => vec!["version".into()],
        _ => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(OsString::from).collect();
        command_line(args).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn main_name_is_unchanged() {
        assert_eq!(line(&["/usr/bin/biganimal-credential", "get"]), ["/usr/bin/biganimal-credential", "get"]);
    }

    #[test]
    fn git_name_inserts_git() {
        assert_eq!(
            line(&["/opt/bin/git-credential-biganimal", "--profile", "prod", "get"]),
            ["/opt/bin/git-credential-biganimal", "git", "--profile", "prod", "get"]
        );
        assert_eq!(line(&["git-credential-biganimal.exe", "erase"])[1], "git");
    }

    #[test]
    fn docker_name_inserts_docker() {
        assert_eq!(
            line(&["docker-credential-biganimal", "list"]),
            ["docker-credential-biganimal", "docker", "list"]
        );
    }

    #[test]
    fn docker_version_flags_map_to_action() {
        for flag in ["--version", "-v"] {
            assert_eq!(line(&["docker-credential-biganimal", flag])[2], "version");
        }
        assert_eq!(line(&["docker-credential-biganimal", "-v", "get"])[2], "-v");
    }

    #[test]
    fn empty_args_stay_empty() {
        assert!(command_line(Vec::new()).is_empty());
    }
}
