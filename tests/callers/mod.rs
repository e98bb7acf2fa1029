//! Support for the tests that run real callers (git, the `docker` Python
//! package) against the helper: the helper's other names as links, the
//! git HTTP server, an isolated git, and the Python that has `docker`.
//!
//! Every server here listens on 127.0.0.1 only.

#![allow(dead_code)]

use crate::common::{binary, root, Helper};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The git the machine image ships (2.47, new enough for `capability[]=authtype`).
pub const GIT: &str = "/usr/local/bin/git";

/// The `docker` package version that .ci/run installs.
pub const DOCKER_PY_VERSION: &str = "7.1.0";

/// A directory with `git-credential-biganimal` and
/// `docker-credential-biganimal` linking to the helper binary.
pub struct Links {
    pub dir: tempfile::TempDir,
}

impl Links {
    pub fn new() -> Links {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for name in ["git-credential-biganimal", "docker-credential-biganimal"] {
            std::os::unix::fs::symlink(binary(), dir.path().join(name)).expect("a symbolic link");
        }
        Links { dir }
    }

    /// `PATH` with the link directory first.
    pub fn path_env(&self) -> OsString {
        let mut paths = vec![self.dir.path().to_path_buf()];
        paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        std::env::join_paths(paths).expect("paths without separators")
    }

    /// Returns the absolute path of one link.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Writes `input` to the child's stdin and closes it. A child may exit
/// before it reads everything (a rejected option, input over the size cap),
/// so a broken pipe is not an error.
pub fn feed_stdin(child: &mut Child, input: &[u8]) {
    let mut stdin = child.stdin.take().expect("stdin is piped");
    if let Err(e) = stdin.write_all(input) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing the child's stdin failed: {e}");
    }
}

/// Sets the helper's environment (state directory, API base, store) on a
/// command that will start the helper indirectly, as git or docker do.
pub fn helper_env(command: &mut Command, helper: &Helper) {
    command
        .env("BIGANIMAL_CREDENTIAL_DIR", helper.dir.path())
        .env("BA_API_URI", &helper.api)
        .env("BIGANIMAL_CREDENTIAL_STORE", &helper.store)
        .env("BIGANIMAL_VERBOSE", "1");
    if let Ok(bus) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        command.env("DBUS_SESSION_BUS_ADDRESS", bus);
    }
}

/// Tells whether the machine's git is present; in CI it must be.
pub fn git_present(test: &str) -> bool {
    let present = Path::new(GIT).exists();
    if !present {
        assert!(std::env::var("CI").is_err(), "{test}: CI machines have {GIT}");
        eprintln!("{test}: skipped, {GIT} is missing");
    }
    present
}

/// A git whose configuration is only `home/gitconfig`: HOME, the global
/// file and the system file all point away from the user's.
pub struct IsolatedGit {
    pub home: tempfile::TempDir,
}

impl IsolatedGit {
    /// Creates the home with `config` as the global configuration.
    pub fn new(config: &str) -> IsolatedGit {
        let home = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(home.path().join("gitconfig"), config).expect("the git configuration is written");
        IsolatedGit { home }
    }

    /// Builds a git command with a clean environment and prompts off.
    pub fn command(&self, links: &Links, args: &[&str]) -> Command {
        let mut command = Command::new(GIT);
        command
            .args(args)
            .env_clear()
            .env("PATH", links.path_env())
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_GLOBAL", self.home.path().join("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

/// Makes `root/NAME.git`, a bare repository with one commit, ready for
/// dumb HTTP; returns the commit id.
pub fn bare_repository(git: &IsolatedGit, links: &Links, root: &Path, name: &str) -> String {
    let work = git.home.path().join(format!("{name}-work"));
    let bare = root.join(format!("{name}.git"));
    let run = |args: &[&str]| {
        let output = git.command(links, args).stdin(Stdio::null()).output().expect("git runs");
        assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    let work_text = work.to_string_lossy().into_owned();
    let bare_text = bare.to_string_lossy().into_owned();
    run(&["init", "-q", "-b", "main", &work_text]);
    run(&["-C", &work_text, "-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "-q", "--allow-empty", "-m", "first"]);
    run(&["clone", "-q", "--bare", &work_text, &bare_text]);
    run(&["-C", &bare_text, "update-server-info"]);
    run(&["-C", &work_text, "rev-parse", "HEAD"])
}

/// The git HTTP server of tests/support/git_http.py (smart HTTP through
/// `git http-backend`, dumb HTTP for plain files), stopped on drop.
pub struct GitServer {
    child: Child,
    /// Base URL, such as `http://127.0.0.1:41234`.
    pub url: String,
}

impl GitServer {
    pub fn start(emulator_url: &str, root: &Path) -> GitServer {
        let mut child = Command::new("python3")
            .arg(crate::common::root().join("tests/support/git_http.py"))
            .args(["--emulator", emulator_url, "--git", GIT, "--port", "0", "--root"])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the git server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("the git server prints its URL");
        let url = line.trim().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "unexpected first line {url:?}");
        GitServer { child, url }
    }

    /// `host:port`, as git's `host` attribute carries it.
    pub fn host(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }

    /// Returns the server's counters.
    pub fn stats(&self) -> serde_json::Value {
        let mut response = ureq::get(format!("{}/_stats", self.url)).call().expect("the stats answer");
        let text = response.body_mut().read_to_string().expect("a text body");
        serde_json::from_str(&text).expect("JSON stats")
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns a Python interpreter that imports the `docker` package: the
/// virtual environment .ci/run makes under target/, else `python3`. Outside
/// CI a missing package skips the test; in CI it fails it.
pub fn docker_python(test: &str) -> Option<PathBuf> {
    let venv = root().join("target/python-venv/bin/python3");
    let candidates = [venv, PathBuf::from("python3")];
    for python in candidates {
        let imports = Command::new(&python)
            .args(["-c", "import docker"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if imports {
            return Some(python);
        }
    }
    assert!(
        std::env::var("CI").is_err(),
        "{test}: the `docker` Python package is missing; .ci/run installs docker=={DOCKER_PY_VERSION} into target/python-venv"
    );
    eprintln!(
        "{test}: skipped, no Python with the `docker` package; run \
         `python3 -m venv target/python-venv && target/python-venv/bin/pip install docker=={DOCKER_PY_VERSION}`"
    );
    None
}
