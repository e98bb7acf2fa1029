//! Real git (the machine's `/usr/local/bin/git`) with the helper as its
//! credential helper. The tests run `git credential fill`, `approve` and
//! `reject`, and `ls-remote` and a clone over HTTP from a server that
//! accepts only BigAnimal bearer tokens. They also run the helper's git mode
//! directly on protocol edge cases.

mod callers;
mod common;

use callers::{bare_repository, feed_stdin, git_present, helper_env, GitServer, IsolatedGit, Links};
use common::{assert_no_leak, Emulator, Helper, Run};
use std::process::Command;

/// A gitconfig whose only helper is `git-credential-biganimal` (found on PATH).
const HELPER_CONFIG: &str = "[credential]\n\thelper =\n\thelper = biganimal\n";

fn logged_in() -> (Emulator, Helper) {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let login = helper.run(&["get", "--login", "always", "-o", "token"]);
    assert_eq!(login.code, 0, "{}", login.stderr);
    (emulator, helper)
}

/// Runs a git command with the helper's environment and `input` on stdin.
fn git(git: &IsolatedGit, links: &Links, helper: &Helper, args: &[&str], input: &str, extra_env: &[(&str, &str)]) -> Run {
    let mut command = git.command(links, args);
    helper_env(&mut command, helper);
    for (name, value) in extra_env {
        command.env(name, value);
    }
    run_with_input(command, input)
}

fn run_with_input(mut command: Command, input: &str) -> Run {
    let mut child = command.spawn().expect("the command starts");
    feed_stdin(&mut child, input.as_bytes());
    Run::from(child.wait_with_output().expect("the command ends"))
}

/// Runs the helper's git mode directly with `input` on stdin.
fn helper_git(helper: &Helper, action: &str, input: &[u8], extra_env: &[(&str, &str)]) -> Run {
    let mut command = helper.command(&["git", action]);
    command.stdin(std::process::Stdio::piped());
    for (name, value) in extra_env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the helper starts");
    feed_stdin(&mut child, input);
    Run::from(child.wait_with_output().expect("the helper ends"))
}

fn token_of(helper: &Helper) -> String {
    let run = helper.run(&["get", "--login", "never", "-o", "token"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

/// Returns the emulator's `host:port`, the host git mode serves by default.
fn api_host(emulator: &Emulator) -> String {
    emulator.url.trim_start_matches("http://").to_string()
}

#[test]
fn fill_with_authtype_answers_bearer() {
    if !git_present("fill_with_authtype_answers_bearer") {
        return;
    }
    let (emulator, helper) = logged_in();
    let (links, isolated) = (Links::new(), IsolatedGit::new(HELPER_CONFIG));
    let token = token_of(&helper);
    let input = format!("capability[]=authtype\nprotocol=http\nhost={}\n\n", api_host(&emulator));

    let run = git(&isolated, &links, &helper, &["credential", "fill"], &input, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("capability[]=authtype\nauthtype=Bearer\n"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("\ncredential={token}\n")), "{}", run.stdout);
    assert!(run.stdout.contains("\npassword_expiry_utc="), "{}", run.stdout);
    assert!(!run.stdout.contains("password="), "{}", run.stdout);
    assert_no_leak(&run, &emulator.secrets(), Some(&token));
}

#[test]
fn fill_without_authtype_answers_password() {
    if !git_present("fill_without_authtype_answers_password") {
        return;
    }
    let (emulator, helper) = logged_in();
    let (links, isolated) = (Links::new(), IsolatedGit::new(HELPER_CONFIG));
    let token = token_of(&helper);
    let input = format!("protocol=http\nhost={}\n\n", api_host(&emulator));

    let run = git(&isolated, &links, &helper, &["credential", "fill"], &input, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("\nusername=biganimal\n"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("\npassword={token}\n")), "{}", run.stdout);
    assert!(!run.stdout.contains("authtype"), "{}", run.stdout);

    let expiry: i64 = run
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("password_expiry_utc="))
        .expect("git passes password_expiry_utc on")
        .parse()
        .expect("Unix seconds");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(expiry > now + 300, "the token has at least the minimum lifetime left");
    assert_no_leak(&run, &emulator.secrets(), Some(&token));
}

#[test]
fn clone_over_http_sends_bearer() {
    if !git_present("clone_over_http_sends_bearer") {
        return;
    }
    let (emulator, helper) = logged_in();
    let (links, isolated) = (Links::new(), IsolatedGit::new(HELPER_CONFIG));
    let served = tempfile::tempdir().unwrap();
    let commit = bare_repository(&isolated, &links, served.path(), "repo");
    let server = GitServer::start(&emulator.url, served.path());
    let url = format!("{}/repo.git", server.url);
    let hosts = [("BIGANIMAL_CREDENTIAL_HOSTS", server.host())];
    let hosts: Vec<(&str, &str)> = hosts.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let listed = git(&isolated, &links, &helper, &["ls-remote", &url], "", &hosts);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.contains(&format!("{commit}\trefs/heads/main")), "{}", listed.stdout);

    // Dumb HTTP: git reads `info/refs` as a plain file.
    let dumb_env = [hosts[0], ("GIT_SMART_HTTP", "0")];
    let dumb = git(&isolated, &links, &helper, &["ls-remote", &url], "", &dumb_env);
    assert_eq!(dumb.code, 0, "{}", dumb.stderr);
    assert!(dumb.stdout.contains(&format!("{commit}\trefs/heads/main")), "{}", dumb.stdout);

    let target = isolated.home.path().join("clone").to_string_lossy().into_owned();
    let cloned = git(&isolated, &links, &helper, &["clone", "-q", &url, &target], "", &hosts);
    assert_eq!(cloned.code, 0, "{}", cloned.stderr);
    let head = std::fs::read_to_string(isolated.home.path().join("clone/.git/refs/heads/main")).unwrap_or_default();
    assert_eq!(head.trim(), commit);

    let stats = server.stats();
    assert!(stats["accepted"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(stats["basic"], 0, "git sent the token as Bearer, never as Basic: {stats}");
    for run in [&listed, &dumb, &cloned] {
        assert_no_leak(run, &emulator.secrets(), None);
    }
}

#[test]
fn clone_rejected_for_unserved_host() {
    if !git_present("clone_rejected_for_unserved_host") {
        return;
    }
    let (emulator, helper) = logged_in();
    let (links, isolated) = (Links::new(), IsolatedGit::new(HELPER_CONFIG));
    let served = tempfile::tempdir().unwrap();
    bare_repository(&isolated, &links, served.path(), "repo");
    let server = GitServer::start(&emulator.url, served.path());

    let run = git(&isolated, &links, &helper, &["ls-remote", &format!("{}/repo.git", server.url)], "", &[]);
    assert_ne!(run.code, 0, "without --credential-host the helper gives git nothing");
    assert_eq!(server.stats()["accepted"], 0);
    assert_no_leak(&run, &emulator.secrets(), None);
}

#[test]
fn fill_without_login_moves_on() {
    if !git_present("fill_without_login_moves_on") {
        return;
    }
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");
    let (links, isolated) = (Links::new(), IsolatedGit::new(HELPER_CONFIG));
    let input = format!("capability[]=authtype\nprotocol=http\nhost={}\n\n", api_host(&emulator));

    let direct = helper_git(&helper, "get", input.as_bytes(), &[("GIT_TERMINAL_PROMPT", "0")]);
    assert_eq!(direct.code, 0, "{}", direct.stderr);
    assert_eq!(direct.stdout, "", "nothing on stdout, so git moves on");
    assert!(direct.stderr.contains("run `biganimal-credential login"), "{}", direct.stderr);

    let run = git(&isolated, &links, &helper, &["credential", "fill"], &input, &[("BIGANIMAL_LOGIN", "auto")]);
    assert_ne!(run.code, 0, "git has no credential and may not prompt");
    assert!(run.stderr.contains("terminal prompts disabled"), "{}", run.stderr);
    assert_eq!(emulator.stat("device_code"), 0, "no device login started");
}

#[test]
fn reject_erases_only_presented_token() {
    if !git_present("reject_erases_only_presented_token") {
        return;
    }
    let (emulator, helper) = logged_in();
    let (links, isolated) = (Links::new(), IsolatedGit::new(HELPER_CONFIG));
    let token = token_of(&helper);
    let host = api_host(&emulator);

    let other = format!("capability[]=authtype\nprotocol=http\nhost={host}\nauthtype=Bearer\ncredential=some-other-token\n\n");
    let run = git(&isolated, &links, &helper, &["credential", "reject"], &other, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(token_of(&helper), token, "a token git did not present stays cached");

    emulator.reset_stats();
    let same = format!("capability[]=authtype\nprotocol=http\nhost={host}\nauthtype=Bearer\ncredential={token}\n\n");
    let run = git(&isolated, &links, &helper, &["credential", "reject"], &same, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let renewed = token_of(&helper);
    assert_ne!(renewed, token, "the rejected token was forgotten");
    assert_eq!(emulator.stat("token_refresh"), 1, "the refresh token was kept and used");
    assert_eq!(emulator.stat("device_code"), 0);
}

#[test]
fn approve_stores_nothing() {
    if !git_present("approve_stores_nothing") {
        return;
    }
    let (emulator, helper) = logged_in();
    let (links, isolated) = (Links::new(), IsolatedGit::new(HELPER_CONFIG));
    let token = token_of(&helper);
    let input = format!("protocol=http\nhost={}\nusername=someone\npassword=other-secret\n\n", api_host(&emulator));

    let run = git(&isolated, &links, &helper, &["credential", "approve"], &input, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(token_of(&helper), token);
}

#[test]
fn setup_snippet_works_in_git() {
    if !git_present("setup_snippet_works_in_git") {
        return;
    }
    let (emulator, helper) = logged_in();
    let links = Links::new();
    let snippet = helper.run(&["setup", "git", "--credential-host", "127.0.0.1:9"]);
    assert_eq!(snippet.code, 0, "{}", snippet.stderr);
    assert!(snippet.stdout.contains(&format!("[credential \"{}\"]", emulator.url)), "{}", snippet.stdout);
    assert!(snippet.stdout.contains("[credential \"https://127.0.0.1:9\"]"), "{}", snippet.stdout);
    let plain = helper.run(&["setup", "git", "--credential-host", "http://git.example.com"]);
    assert_eq!(plain.code, 2, "plain http off loopback is rejected: {}", plain.stderr);
    assert!(plain.stdout.is_empty(), "{}", plain.stdout);

    let isolated = IsolatedGit::new(&snippet.stdout);
    let input = format!("capability[]=authtype\nprotocol=http\nhost={}\n\n", api_host(&emulator));
    let run = git(&isolated, &links, &helper, &["credential", "fill"], &input, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("credential={}\n", token_of(&helper))), "{}", run.stdout);
}

#[test]
fn access_key_profile_gives_git_nothing() {
    if !git_present("access_key_profile_gives_git_nothing") {
        return;
    }
    let (emulator, helper) = logged_in();
    let (links, isolated) = (Links::new(), IsolatedGit::new(HELPER_CONFIG));
    let input = format!("protocol=http\nhost={}\n\n", api_host(&emulator));
    let key = [("BA_ACCESS_KEY", "baak_gitkey0123456789")];

    let direct = helper_git(&helper, "get", input.as_bytes(), &key);
    assert_eq!(direct.code, 2, "{}", direct.stderr);
    assert_eq!(direct.stdout, "");
    assert!(direct.stderr.contains("git can carry only a bearer token"), "{}", direct.stderr);
    assert!(!direct.stderr.contains("gitkey0123456789"));

    let run = git(&isolated, &links, &helper, &["credential", "fill"], &input, &key);
    assert_ne!(run.code, 0);
    assert!(!run.stdout.contains("password="), "{}", run.stdout);
}

/// One request to git mode and what must come back.
struct Case<'a> {
    name: &'static str,
    input: Vec<u8>,
    code: i32,
    /// The first response lines, or `None` for an empty stdout.
    answer: Option<&'a Vec<String>>,
    /// Text stderr must contain.
    message: &'static str,
}

impl<'a> Case<'a> {
    fn new(name: &'static str, input: impl Into<Vec<u8>>, code: i32, answer: Option<&'a Vec<String>>, message: &'static str) -> Self {
        Case {
            name,
            input: input.into(),
            code,
            answer,
            message,
        }
    }
}

#[test]
fn git_mode_edge_cases() {
    let (emulator, helper) = logged_in();
    let host = api_host(&emulator);
    let token = token_of(&helper);
    let mut long_line = format!("protocol=http\nhost={host}\nwwwauth[]=").into_bytes();
    long_line.extend(std::iter::repeat_n(b'x', 70 * 1024));
    long_line.push(b'\n');

    let answer = vec!["username=biganimal".to_string(), format!("password={token}")];
    let cases = [
        Case::new("empty stdin", Vec::new(), 0, None, ""),
        Case::new("CRLF line ends", format!("protocol=http\r\nhost={host}\r\n\r\n"), 0, Some(&answer), ""),
        Case::new("unknown keys", format!("future=1\nprotocol=http\nstate[]=x:y\nhost={host}\n\n"), 0, Some(&answer), ""),
        Case::new("another host", "protocol=https\nhost=github.com\n\n", 0, None, ""),
        Case::new("plain http off loopback", "protocol=http\nhost=portal.biganimal.com\n\n", 0, None, ""),
        Case::new("very long line", long_line, 2, None, "longer than 64 KiB"),
        Case::new("NUL byte", format!("protocol=http\nhost={host}\0\n\n"), 2, None, "NUL byte"),
        Case::new("CR inside a value", format!("protocol=http\nhost={host}\rx\n\n"), 2, None, "carriage return"),
        Case::new("line without =", "protocol=http\nnonsense\n\n", 2, None, "has no `=`"),
    ];
    for case in cases {
        let name = case.name;
        let run = helper_git(&helper, "get", &case.input, &[]);
        assert_eq!(run.code, case.code, "{name}: {}", run.stderr);
        match case.answer {
            Some(lines) => assert_eq!(run.stdout.lines().take(2).collect::<Vec<_>>(), *lines, "{name}"),
            None => assert_eq!(run.stdout, "", "{name}: nothing on stdout"),
        }
        assert!(run.stderr.contains(case.message), "{name}: {}", run.stderr);
        assert_no_leak(&run, &emulator.secrets(), Some(&token));
    }

    let unknown = helper_git(&helper, "frobnicate", b"protocol=http\n\n", &[]);
    assert_eq!((unknown.code, unknown.stdout.as_str()), (0, ""), "unknown actions are ignored");
    let capability = helper_git(&helper, "capability", b"", &[]);
    assert_eq!(capability.stdout, "version 0\ncapability authtype\n");
}

#[test]
fn git_name_selects_git_mode() {
    let (emulator, helper) = logged_in();
    let links = Links::new();
    let mut command = Command::new(links.path("git-credential-biganimal"));
    command
        .args(["--profile", "default", "get"])
        .env_clear()
        .env("PATH", links.path_env())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    helper_env(&mut command, &helper);
    let run = run_with_input(command, &format!("protocol=http\nhost={}\n", api_host(&emulator)));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("username=biganimal\npassword="), "{}", run.stdout);
}
