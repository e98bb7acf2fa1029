//! Shell completions and man pages generated from the clap definitions,
//! and `make install-files` putting them where shells and man look.

mod common;

use common::{binary, root};
use std::path::Path;
use std::process::Command;

fn generate(args: &[&str]) -> String {
    let output = Command::new(binary()).arg("generate").args(args).output().expect("the helper runs");
    assert!(output.status.success(), "generate {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn completions_cover_commands_and_options() {
    for shell in ["bash", "zsh", "fish"] {
        let script = generate(&["completion", shell]);
        // fish writes long options without their dashes (`-l ca-file`).
        for word in ["status", "import-access-key", "ca-file", "browser", "json", "exec-credential"] {
            assert!(script.contains(word), "{shell} completion lacks `{word}`");
        }
    }
    assert!(generate(&["completion", "zsh"]).starts_with("#compdef biganimal-credential"));
    assert!(generate(&["completion", "fish"]).contains("complete -c biganimal-credential"));
}

#[test]
fn bash_completion_loads_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("biganimal-credential");
    std::fs::write(&file, generate(&["completion", "bash"])).unwrap();
    // Ask the completion function what follows `biganimal-credential sta`.
    let script = format!(
        "source '{}'; COMP_WORDS=(biganimal-credential sta); COMP_CWORD=1; \
         _biganimal__credential biganimal-credential sta biganimal-credential; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let output = Command::new("bash").args(["--norc", "-c", &script]).output().expect("bash runs");
    let replies = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(replies.trim(), "status", "{replies}");
}

#[test]
fn man_page_lists_options_and_variables() {
    let page = generate(&["man"]);
    assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{}", &page[..80.min(page.len())]);
    assert!(page.contains(".TH biganimal-credential 1"), "the title line");
    assert!(page.contains("BIGANIMAL_CA_FILE"), "environment variables are listed");
    assert!(page.contains("130 device login cancelled"), "the exit codes are listed");
    assert!(!page.contains("generate"), "the hidden command stays out of the page");
}

#[test]
fn install_files_places_completions_and_man_pages() {
    let dest = tempfile::tempdir().unwrap();
    let output = Command::new("make")
        .current_dir(root())
        .arg("--no-print-directory")
        .arg("install-files")
        .arg(format!("DESTDIR={}", dest.path().display()))
        .arg("PREFIX=/usr/local")
        .arg(format!("BINARY={}", binary().display()))
        .output()
        .expect("make runs");
    assert!(output.status.success(), "make install-files: {}", String::from_utf8_lossy(&output.stderr));

    let prefix = dest.path().join("usr/local");
    let installed = |path: &str| {
        let file = prefix.join(path);
        let meta = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(meta.len() > 100, "{} is nearly empty", file.display());
        mode(&file)
    };
    assert_eq!(installed("bin/biganimal-credential"), 0o755);
    for link in ["git-credential-biganimal", "docker-credential-biganimal"] {
        let target = std::fs::read_link(prefix.join("bin").join(link)).unwrap();
        assert_eq!(target, Path::new("biganimal-credential"));
    }
    for path in [
        "share/bash-completion/completions/biganimal-credential",
        "share/zsh/site-functions/_biganimal-credential",
        "share/fish/vendor_completions.d/biganimal-credential.fish",
        "share/man/man1/biganimal-credential.1",
        "share/man/man1/biganimal-credential-get.1",
        "share/man/man1/biganimal-credential-status.1",
    ] {
        assert_eq!(installed(path), 0o644, "{path}");
    }
    assert!(!prefix.join("share/man/man1/biganimal-credential-generate.1").exists());
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode(_path: &Path) -> u32 {
    0o644
}
