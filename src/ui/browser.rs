//! Opening the verification page in a web browser (`--browser`).
//!
//! The command comes from `BROWSER`, a list of commands separated by `:`
//! that are tried in order until one starts. `%s` in a command is replaced
//! by the URL, which is otherwise appended as the last argument. Without
//! `BROWSER` the helper runs `xdg-open` (`open` on macOS). No shell is
//! involved, so the URL, which comes from the issuer, is never parsed by
//! one.
//!
//! The launcher must not disturb the login: it gets no stdin, and its
//! stdout and stderr are discarded, so nothing of it reaches stdout, the
//! protocol channel. With `-v` they go through a pipe that a thread copies
//! to stderr as detail messages; the launcher never holds the helper's own
//! stderr, because a browser it starts may run for hours, and a caller
//! that reads stderr to its end (docker does) would wait that long. It
//! runs in its own process group, so Ctrl-C at the login does not end a
//! browser it started, and it is not waited for.

use crate::log;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Starts a browser on `url` and returns the program that was started.
/// The error lists, for each command tried, why it did not start.
pub fn open(url: &str) -> Result<String, String> {
    if !is_web_url(url) {
        return Err(format!("the issuer's verification URL `{url}` is not an http(s) URL"));
    }
    let browser_env = crate::config::non_empty_env("BROWSER");
    let mut failures = Vec::new();
    for argv in commands(browser_env.as_deref(), url) {
        match spawn(&argv) {
            Ok(()) => return Ok(argv[0].clone()),
            Err(e) => failures.push(format!("`{}`: {e}", argv[0])),
        }
    }
    Err(failures.join("; "))
}

/// Lists the command lines to try for `url`, given the `BROWSER` value.
pub fn commands(browser_env: Option<&str>, url: &str) -> Vec<Vec<String>> {
    let Some(list) = browser_env else {
        return vec![default_command(url)];
    };
    list.split(':')
        .filter_map(|entry| {
            let words: Vec<&str> = entry.split_whitespace().collect();
            if words.is_empty() {
                return None;
            }
            let mut has_placeholder = false;
            let mut argv: Vec<String> = words
                .iter()
                .map(|word| {
                    has_placeholder |= word.contains("%s");
                    word.replace("%s", url).replace("%%", "%")
                })
                .collect();
            if !has_placeholder {
                argv.push(url.to_string());
            }
            Some(argv)
        })
        .collect()
}

#[cfg(target_os = "macos")]
fn default_command(url: &str) -> Vec<String> {
    vec!["open".to_string(), url.to_string()]
}

#[cfg(windows)]
fn default_command(url: &str) -> Vec<String> {
    vec!["rundll32".to_string(), "url.dll,FileProtocolHandler".to_string(), url.to_string()]
}

#[cfg(not(any(target_os = "macos", windows)))]
fn default_command(url: &str) -> Vec<String> {
    vec!["xdg-open".to_string(), url.to_string()]
}

/// Starts one command without waiting for it; a thread reaps it.
fn spawn(argv: &[String]) -> std::io::Result<()> {
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).stdin(Stdio::null());

    let output = if log::verbose() {
        let (reader, writer) = std::io::pipe()?;
        command.stdout(writer.try_clone()?).stderr(writer);
        Some(reader)
    } else {
        command.stdout(Stdio::null()).stderr(Stdio::null());
        None
    };

    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn()?;
    // Dropping the command closes this process's copies of the pipe's write
    // ends, so the reader sees the end of the output when the launcher exits.
    drop(command);

    if let Some(reader) = output {
        let program = argv[0].clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                let shown: String = line.chars().filter(|c| !c.is_control()).collect();
                log::info(&format!("{program}: {shown}"));
            }
        });
    }
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

/// Accepts only `http://` and `https://` URLs without spaces or control
/// characters, so a hostile issuer cannot pass a `file:` URL or an option.
fn is_web_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://auth.example/activate?user_code=ABCD-EFGH";

    #[test]
    fn browser_list_is_tried_in_order() {
        let argv = commands(Some("missing-browser:firefox --new-window"), URL);
        assert_eq!(argv, [vec!["missing-browser", URL], vec!["firefox", "--new-window", URL]]);
    }

    #[test]
    fn placeholder_takes_the_url() {
        let argv = commands(Some("chromium --app=%s --x=100%%"), URL);
        assert_eq!(argv, [vec!["chromium".to_string(), format!("--app={URL}"), "--x=100%".to_string()]]);
    }

    #[test]
    fn empty_entries_are_skipped() {
        assert_eq!(commands(Some("::w3m:"), URL), [vec!["w3m", URL]]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn xdg_open_without_browser() {
        assert_eq!(commands(None, URL), [vec!["xdg-open", URL]]);
    }

    #[test]
    fn only_web_urls_are_opened() {
        assert!(is_web_url(URL));
        assert!(is_web_url("http://127.0.0.1:8080/activate"));
        assert!(!is_web_url("file:///etc/passwd"));
        assert!(!is_web_url("--help"));
        assert!(!is_web_url("https://a.example/x y"));
        assert!(open("javascript:alert(1)").is_err());
    }
}
