//! Everything the helper writes to stdout, the protocol channel.
//!
//! Each form is a pure function from a credential to text, so tests check
//! exact output; [`write_stdout`] is the one place that prints it.

pub mod exec_credential;

use crate::clock::rfc3339;
use crate::session::Credential;
use std::io::Write;

/// The `get --output` forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A Kubernetes `ExecCredential` JSON object, for kubectl exec plugins.
    ExecCredential,
    /// The bare token, for `$(…)` in scripts.
    Token,
    /// `{"token_type", "token", "expiration_timestamp"}` as JSON.
    Json,
}

/// Renders the bare token; a newline is added only for a terminal, so
/// `$(biganimal-credential get --output token)` and pipes get the token alone.
pub fn token(credential: &Credential, stdout_is_terminal: bool) -> String {
    let mut text = credential.token.expose().to_string();
    if stdout_is_terminal {
        text.push('\n');
    }
    text
}

/// Renders the `json` form.
pub fn json(credential: &Credential) -> String {
    let value = serde_json::json!({
        "token_type": "Bearer",
        "token": credential.token.expose(),
        "expiration_timestamp": rfc3339(credential.expires_at),
    });
    format!("{value}\n")
}

/// Writes protocol output to stdout in one write and flushes it.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::session::Source;

    fn credential() -> Credential {
        Credential {
            token: Secret::new("tok"),
            expires_at: time::macros::datetime!(2026-12-05 10:00:00 UTC),
            source: Source::Cache,
        }
    }

    #[test]
    fn token_newline_only_on_terminal() {
        assert_eq!(token(&credential(), false), "tok");
        assert_eq!(token(&credential(), true), "tok\n");
    }

    #[test]
    fn json_form_exact() {
        assert_eq!(
            json(&credential()),
            "{\"expiration_timestamp\":\"2026-12-05T10:00:00Z\",\"token\":\"tok\",\"token_type\":\"Bearer\"}\n"
        );
    }
}
