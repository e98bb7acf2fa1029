//! `--browser`: the verification page opens through `BROWSER`, and the
//! launcher neither writes to stdout nor holds up the login.

mod common;

use common::{assert_no_leak, Emulator, Helper};
use std::time::{Duration, Instant};

/// Writes a stand-in browser that records its arguments, prints to both
/// streams and then keeps running, as a real browser does.
fn fake_browser(dir: &std::path::Path) -> std::path::PathBuf {
    let script = dir.join("fake-browser");
    let record = dir.join("opened.txt");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\necho browser-stdout-noise\necho browser-stderr-noise >&2\nexec sleep 30\n",
            record.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    script
}

#[test]
fn browser_opens_complete_url_without_touching_stdout() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.5"]);
    let helper = Helper::new(&emulator, "file");
    let browser = fake_browser(helper.dir.path());

    let started = Instant::now();
    let run = helper.run_with(&["get", "--login", "always", "--browser"], &[("BROWSER", &browser.to_string_lossy())]);
    let elapsed = started.elapsed();

    let token = run.exec_token();
    assert!(!run.stdout.contains("noise"), "the browser's output reached stdout: {}", run.stdout);
    assert!(run.stderr.contains("opened the page with"), "{}", run.stderr);
    assert!(elapsed < Duration::from_secs(20), "the login waited for the browser: {elapsed:?}");
    let opened = common::read(&helper.dir.path().join("opened.txt"));
    assert!(opened.starts_with(&format!("{}/activate?user_code=", emulator.url)), "one argument, the complete URL: {opened}");
    assert_eq!(opened.lines().count(), 1, "{opened}");
    assert_no_leak(&run, &emulator.secrets(), Some(&token));
}

#[test]
fn missing_browser_is_reported_and_login_goes_on() {
    let emulator = Emulator::start(&["--auto-approve", "--interval", "0.1"]);
    let helper = Helper::new(&emulator, "file");

    let run = helper.run_with(
        &["get", "--login", "always"],
        &[("BIGANIMAL_BROWSER", "1"), ("BROWSER", "no-such-browser-here:also-missing %s")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("could not open a browser"), "{}", run.stderr);
    assert!(run.stderr.contains("`no-such-browser-here`"), "{}", run.stderr);
    assert!(run.stderr.contains("`also-missing`"), "{}", run.stderr);
}
