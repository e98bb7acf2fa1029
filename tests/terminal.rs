//! The device-login screen as a person reads it: the helper runs in a real
//! terminal (tmux, 120x50) against the emulator, without auto-approval,
//! and `tmux capture-pane` records the screen. The helper's stdout goes to
//! a file, so the screen shows only what it wrote to stderr.
//!
//! Outside CI these tests skip when tmux is missing; `.ci/run` installs it.

mod common;

use common::{Emulator, Helper};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Longest wait for something to appear on the screen.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(20);

/// Tells whether tmux runs here; in CI it must.
fn tmux_available(test: &str) -> bool {
    let present = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    if !present {
        assert!(std::env::var("CI").is_err(), "{test}: CI must have tmux (.ci/run installs it)");
        eprintln!("{test}: skipped, tmux is not installed");
    }
    present
}

/// A tmux server of its own, on a socket in a temporary directory, running
/// one session; the server is killed on drop.
struct Terminal {
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Terminal {
    /// Runs the helper with `args` in a new 120x50 session. `extra_env`
    /// adds variables; stdout goes to `stdout.txt` and the exit code to
    /// `exit-code.txt`. Ctrl-C reaches the helper with SIGINT's default
    /// action. The script around it catches SIGINT with a trap, which
    /// children do not inherit, so it lives on to record the exit code.
    fn start(helper: &Helper, args: &[&str], extra_env: &[(&str, &str)]) -> Terminal {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let socket = dir.path().join("tmux.sock");
        let mut env = vec![
            ("PATH".to_string(), std::env::var("PATH").unwrap_or_default()),
            ("TERM".to_string(), "tmux-256color".to_string()),
            ("HOME".to_string(), helper.dir.path().to_string_lossy().into_owned()),
            ("BIGANIMAL_CREDENTIAL_DIR".to_string(), helper.dir.path().to_string_lossy().into_owned()),
            ("BA_API_URI".to_string(), helper.api.clone()),
            ("BIGANIMAL_CREDENTIAL_STORE".to_string(), helper.store.clone()),
        ];
        env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let assignments: Vec<String> = env.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
        let arguments: Vec<String> = args.iter().map(|a| quote(a)).collect();
        let script = format!(
            "#!/bin/sh\ntrap : INT\nenv -i {} {} {} > {}\necho $? > {}\nexec sleep 600\n",
            assignments.join(" "),
            quote(&common::binary().to_string_lossy()),
            arguments.join(" "),
            quote(&dir.path().join("stdout.txt").to_string_lossy()),
            quote(&dir.path().join("exit-code.txt").to_string_lossy()),
        );
        let script_path = dir.path().join("run.sh");
        std::fs::write(&script_path, script).expect("the script is written");

        let terminal = Terminal { dir, socket };
        let status = terminal
            .tmux(&["-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "50", "-s", "login", "sh"])
            .arg(&script_path)
            .status()
            .expect("tmux starts");
        assert!(status.success(), "tmux new-session failed");
        terminal
    }

    fn tmux(&self, args: &[&str]) -> Command {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(&self.socket).args(args);
        command
    }

    /// Returns the visible screen; `escapes` keeps colour and bold as SGR sequences.
    fn capture(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-t", "login"];
        if escapes {
            args.push("-e");
        }
        let output = self.tmux(&args).output().expect("tmux capture-pane runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Polls the screen until `ready` holds, for at most [`SCREEN_TIMEOUT`].
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            let screen = self.capture(false);
            if ready(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "no {what} on the screen within {SCREEN_TIMEOUT:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the helper to exit and returns its exit code.
    fn exit_code(&self) -> i32 {
        let path = self.dir.path().join("exit-code.txt");
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            if let Some(code) = std::fs::read_to_string(&path).ok().and_then(|text| text.trim().parse().ok()) {
                return code;
            }
            assert!(Instant::now() < deadline, "the helper did not exit; screen:\n{}", self.capture(false));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stdout(&self) -> String {
        common::read(&self.dir.path().join("stdout.txt"))
    }

    fn send_keys(&self, keys: &str) {
        self.tmux(&["send-keys", "-t", "login", keys]).status().expect("tmux send-keys runs");
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).output();
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Returns the seconds the countdown line shows, such as `14m 59s` → 899.
fn countdown_seconds(screen: &str) -> Option<u64> {
    let line = screen.lines().find(|l| l.starts_with("Waiting for approval"))?;
    let left = line.split("… ").nth(1)?.split(" left").next()?;
    let mut total = 0;
    for part in left.split(' ') {
        let (number, unit) = part.split_at(part.len().checked_sub(1)?);
        let number: u64 = number.parse().ok()?;
        total += number
            * match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => return None,
            };
    }
    Some(total)
}

fn has_countdown(screen: &str) -> bool {
    countdown_seconds(screen).is_some()
}

/// Returns the lines drawn with QR half blocks.
fn qr_lines(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .filter(|l| !l.trim().is_empty() && l.trim().chars().all(|c| "█▀▄ ".contains(c)))
        .collect()
}

/// Files of the store and their contents, to compare before and after.
fn store_snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir.join("state/store"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| (e.path(), std::fs::read(e.path()).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn login_screen_as_seen_in_terminal() {
    if !tmux_available("login_screen_as_seen_in_terminal") {
        return;
    }
    let emulator = Emulator::start(&["--interval", "0.5"]);
    let helper = Helper::new(&emulator, "file");
    let terminal = Terminal::start(&helper, &["get", "--login", "always", "-o", "token"], &[]);

    let screen = terminal.wait_for("countdown", has_countdown);
    let user_code = emulator.pending().into_iter().next().expect("a code is pending");
    let lines: Vec<&str> = screen.lines().collect();
    assert!(lines.contains(&format!("    {}/activate", emulator.url).as_str()), "the page URL:\n{screen}");
    assert!(lines.contains(&format!("and enter this code:   {user_code}").as_str()), "the code:\n{screen}");
    assert!(
        lines.contains(&format!("    {}/activate?user_code={user_code}", emulator.url).as_str()),
        "the complete link:\n{screen}"
    );
    let qr = qr_lines(&screen);
    assert!(qr.len() >= 15, "a QR code of at least 15 lines:\n{screen}");
    assert!(qr.iter().any(|l| l.contains('▀')) && qr.iter().any(|l| l.contains('▄')), "half blocks:\n{screen}");
    assert!(screen.contains("(Ctrl-C to cancel)"), "{screen}");

    // The countdown runs while the helper waits between polls.
    let first = countdown_seconds(&screen).unwrap();
    assert!((890..=900).contains(&first), "the code lives 900 s: {first}\n{screen}");
    let later = terminal.wait_for("a lower countdown", |s| countdown_seconds(s).is_some_and(|left| left < first));
    assert!(countdown_seconds(&later).unwrap() < first);

    let colored = terminal.capture(true);
    assert!(colored.contains("\x1b["), "colour and bold on a terminal without NO_COLOR");

    emulator.approve(&user_code);
    assert_eq!(terminal.exit_code(), 0, "screen:\n{}", terminal.capture(false));
    let token = terminal.stdout();
    assert!(emulator.accepts_token(&token), "stdout holds the token and nothing else: {token:?}");
    let after = terminal.wait_for("the login notice", |s| s.contains("biganimal-credential: logged in"));
    assert!(!after.contains("Waiting for approval"), "the countdown line is erased:\n{after}");
    assert!(!after.contains(&token), "the token never reaches the screen");
}

#[test]
fn no_color_removes_escape_sequences() {
    if !tmux_available("no_color_removes_escape_sequences") {
        return;
    }
    let emulator = Emulator::start(&["--interval", "0.5"]);
    let helper = Helper::new(&emulator, "file");
    let terminal = Terminal::start(&helper, &["login"], &[("NO_COLOR", "1")]);

    let screen = terminal.wait_for("countdown", has_countdown);
    assert!(qr_lines(&screen).len() >= 15, "the QR code stays:\n{screen}");
    let raw = terminal.capture(true);
    assert!(!raw.contains('\x1b'), "no escape sequence with NO_COLOR:\n{raw:?}");

    terminal.send_keys("C-c");
    assert_eq!(terminal.exit_code(), 130);
}

#[test]
fn ctrl_c_cancels_and_leaves_store() {
    if !tmux_available("ctrl_c_cancels_and_leaves_store") {
        return;
    }
    let emulator = Emulator::start(&["--interval", "0.5"]);
    let helper = Helper::new(&emulator, "file");
    let first = helper.spawn(&["get", "--login", "always"]);
    emulator.approve(&emulator.wait_for_pending());
    let first = common::Run::from(first.wait_with_output().unwrap());
    let token = first.exec_token();
    let before = store_snapshot(helper.dir.path());
    assert_eq!(before.len(), 2, "a token and a refresh token are stored");

    let terminal = Terminal::start(&helper, &["login"], &[]);
    terminal.wait_for("countdown", has_countdown);
    terminal.send_keys("C-c");
    assert_eq!(terminal.exit_code(), 130);

    let screen = terminal.wait_for("the cancel notice", |s| s.contains("device login cancelled"));
    assert!(!screen.contains("Waiting for approval"), "the countdown line is erased:\n{screen}");
    assert!(!screen.contains("^C"), "the echoed ^C is erased with the line:\n{screen}");
    assert!(terminal.stdout().is_empty());
    assert_eq!(store_snapshot(helper.dir.path()), before, "the store is untouched");

    // The lock was released: a refresh of the same profile takes it at once.
    let refreshed = helper.run(&["get", "--login", "never", "--min-ttl", "48h", "--lock-timeout", "2s"]);
    assert_eq!(refreshed.code, 0, "{}", refreshed.stderr);
    assert_ne!(refreshed.exec_token(), token);
}
