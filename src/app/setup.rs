//! `setup kubectl|git|docker`: prints the configuration to paste, naming
//! the binary by its absolute path and carrying `--profile` and `--api-url`
//! when they differ from the defaults.
//!
//! docker finds helpers only by name on `PATH` and passes them no options.
//! So for docker a note on stderr names where `docker-credential-biganimal`
//! must be and which variables select a non-default profile or API base.

use super::Failure;
use crate::cli::{GlobalArgs, SetupArgs, SetupTarget};
use crate::config::DEFAULT_API_URL;
use crate::dispatch::DOCKER_PREFIX;
use crate::log;
use crate::output::{self, shell};
use crate::protocol::server::{ServedHosts, Target};
use std::path::{Path, PathBuf};

/// The command line the configured program starts the helper with.
pub(super) struct Invocation {
    /// The helper's absolute path.
    pub binary: PathBuf,
    /// Options that select the profile and API base, when not the defaults.
    pub options: Vec<String>,
}

/// Prints the snippet for `args.target` on stdout.
pub(super) fn run(global: &GlobalArgs, args: &SetupArgs) -> Result<u8, Failure> {
    let binary = std::env::current_exe()
        .map_err(|e| Failure::general(format!("could not find the path of this binary: {e}")))?;
    let invocation = Invocation {
        binary,
        options: selection_options(&global.profile, &global.api_url),
    };
    let text = match args.target {
        SetupTarget::Kubectl => kubectl(&invocation),
        SetupTarget::Git => {
            // The helper in git mode checks the hosts the same way, so a
            // snippet that passes here is one it serves.
            ServedHosts::new(&global.api_url, &args.credential_hosts).map_err(Failure::usage)?;
            git(&invocation, &global.api_url, &args.credential_hosts)?
        }
        SetupTarget::Docker => {
            let hosts = ServedHosts::new(&global.api_url, &args.credential_hosts).map_err(Failure::usage)?;
            log::notice(&docker_note(&invocation.binary, global));
            docker(&hosts)
        }
    };
    output::write_stdout(&text).map_err(|e| Failure::general(format!("could not write to stdout: {e}")))?;
    Ok(0)
}

/// Returns `--profile` and `--api-url` options for non-default values.
fn selection_options(profile: &str, api_url: &str) -> Vec<String> {
    let mut options = Vec::new();
    if profile != "default" {
        options.extend(["--profile".to_string(), profile.to_string()]);
    }
    if api_url != DEFAULT_API_URL {
        options.extend(["--api-url".to_string(), api_url.to_string()]);
    }
    options
}

/// Quotes a YAML scalar as a JSON string, which YAML reads unchanged.
fn yaml_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// Renders a kubeconfig `users` entry.
pub(super) fn kubectl(invocation: &Invocation) -> String {
    let mut text = String::from(
        "# Add to the `users` list of your kubeconfig, then set `user: biganimal`\n\
         # in the context that uses it.\n\
         users:\n- name: biganimal\n  user:\n    exec:\n      \
         apiVersion: client.authentication.k8s.io/v1\n",
    );
    text.push_str(&format!("      command: {}\n      args:\n      - get\n", yaml_string(&invocation.binary.to_string_lossy())));
    for option in &invocation.options {
        text.push_str(&format!("      - {}\n", yaml_string(option)));
    }
    text.push_str("      interactiveMode: IfAvailable\n");
    text
}

/// Renders `credential` sections for `~/.gitconfig`, one per served host.
/// The empty `helper =` line drops helpers configured before, so git runs
/// only this helper for these hosts.
pub(super) fn git(invocation: &Invocation, api_url: &str, extra_hosts: &[String]) -> Result<String, Failure> {
    let mut command = vec![shell_word(&invocation.binary.to_string_lossy()), "git".to_string()];
    command.extend(invocation.options.iter().map(|o| shell_word(o)));
    for host in extra_hosts {
        command.extend(["--credential-host".to_string(), shell_word(host)]);
    }
    let mut helper = command.join(" ");
    if !helper.starts_with('/') {
        // git runs a value that starts with `!` as a shell command. It would
        // take any other value that does not start with `/` as a helper name.
        helper.insert(0, '!');
    }

    let mut text = String::from("# Add to ~/.gitconfig (or run the equivalent `git config --global` commands).\n");
    for url in served_urls(api_url, extra_hosts)? {
        text.push_str(&format!("[credential \"{url}\"]\n\thelper =\n\thelper = {}\n", git_config_value(&helper)));
    }
    Ok(text)
}

/// Returns `scheme://host[:port]` for the API host and each extra host;
/// an extra host without a scheme gets `https`.
fn served_urls(api_url: &str, extra_hosts: &[String]) -> Result<Vec<String>, Failure> {
    let mut urls = Vec::new();
    for text in std::iter::once(api_url).chain(extra_hosts.iter().map(String::as_str)) {
        let target = Target::parse(text).map_err(Failure::usage)?;
        let url = format!("{}://{}", target.scheme.as_deref().unwrap_or("https"), target.server);
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    Ok(urls)
}

/// Returns `word` unchanged when the shell reads it as one plain word,
/// else single-quoted.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:+=,@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        shell::quote(word)
    }
}

/// Quotes a git config value: double quotes, with `\` and `"` escaped.
fn git_config_value(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Renders a `credHelpers` entry for `~/.docker/config.json`.
pub(super) fn docker(hosts: &ServedHosts) -> String {
    let entries: serde_json::Map<String, serde_json::Value> = hosts
        .servers()
        .iter()
        .map(|server| (server.to_string(), serde_json::Value::from("biganimal")))
        .collect();
    let config = serde_json::json!({ "credHelpers": entries });
    let text = serde_json::to_string_pretty(&config).expect("a JSON value always serializes");
    format!("{text}\n")
}

/// Returns the note on where docker must find the helper and how to
/// select a profile.
fn docker_note(binary: &Path, global: &GlobalArgs) -> String {
    let link = binary.with_file_name(format!("{DOCKER_PREFIX}biganimal"));
    let mut note = if link.exists() {
        format!("docker runs `{}` found on PATH; it exists at `{}`", link.file_name().unwrap_or_default().to_string_lossy(), link.display())
    } else {
        format!(
            "docker runs `{DOCKER_PREFIX}biganimal` found on PATH; create it with `ln -s {} ~/.local/bin/{DOCKER_PREFIX}biganimal` \
             (or `make install`), with ~/.local/bin on PATH",
            binary.display()
        )
    };
    if global.profile != "default" || global.api_url != DEFAULT_API_URL {
        note.push_str(&format!(
            "; docker passes no options, so set `BIGANIMAL_PROFILE={}` and `BA_API_URI={}` in docker's environment",
            global.profile, global.api_url
        ));
    }
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(options: &[&str]) -> Invocation {
        Invocation {
            binary: PathBuf::from("/usr/local/bin/biganimal-credential"),
            options: options.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn options_only_for_non_defaults() {
        assert!(selection_options("default", DEFAULT_API_URL).is_empty());
        assert_eq!(
            selection_options("prod", "https://eu.example/api/v3"),
            ["--profile", "prod", "--api-url", "https://eu.example/api/v3"]
        );
    }

    #[test]
    fn kubectl_exact() {
        assert_eq!(
            kubectl(&invocation(&["--profile", "prod"])),
            "# Add to the `users` list of your kubeconfig, then set `user: biganimal`\n\
             # in the context that uses it.\n\
             users:\n\
             - name: biganimal\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      \
             command: \"/usr/local/bin/biganimal-credential\"\n      args:\n      - get\n      - \"--profile\"\n      - \"prod\"\n      \
             interactiveMode: IfAvailable\n"
        );
    }

    #[test]
    fn git_exact() {
        let text = git(&invocation(&[]), DEFAULT_API_URL, &["git.example.com:8443".to_string()]).ok().unwrap();
        assert_eq!(
            text,
            "# Add to ~/.gitconfig (or run the equivalent `git config --global` commands).\n\
             [credential \"https://portal.biganimal.com\"]\n\thelper =\n\
             \thelper = \"/usr/local/bin/biganimal-credential git --credential-host git.example.com:8443\"\n\
             [credential \"https://git.example.com:8443\"]\n\thelper =\n\
             \thelper = \"/usr/local/bin/biganimal-credential git --credential-host git.example.com:8443\"\n"
        );
    }

    #[test]
    fn git_quotes_unusual_path() {
        let odd = Invocation {
            binary: PathBuf::from("/opt/my tools/biganimal-credential"),
            options: Vec::new(),
        };
        let text = git(&odd, DEFAULT_API_URL, &[]).ok().unwrap();
        assert!(text.contains("\thelper = \"!'/opt/my tools/biganimal-credential' git\"\n"), "{text}");
    }

    #[test]
    fn docker_exact() {
        let hosts = ServedHosts::new(DEFAULT_API_URL, &["127.0.0.1:5000".to_string()]).unwrap();
        assert_eq!(
            docker(&hosts),
            "{\n  \"credHelpers\": {\n    \"127.0.0.1:5000\": \"biganimal\",\n    \"portal.biganimal.com\": \"biganimal\"\n  }\n}\n"
        );
    }
}
