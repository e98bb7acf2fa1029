//! Everything the helper writes to stdout, the protocol channel.
//!
//! Each form is a pure function from a credential to text, so tests check
//! exact output; [`write_stdout`] is the one place that prints it.

pub mod exec_credential;
pub mod shell;

use crate::access_key::{AccessKey, HEADER};
use crate::clock::rfc3339;
use crate::credential::ApiCredential;
use crate::session::Credential;
use std::io::Write;

/// The `get --output` forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A Kubernetes `ExecCredential` JSON object, for kubectl exec plugins.
    ExecCredential,
    /// The bare token, for `$(…)` in scripts.
    Token,
    /// One HTTP header line: `Authorization: Bearer …`, or `x-access-key: …`
    /// for an access key.
    Header,
    /// Shell `export` lines for `BA_BEARER_TOKEN` (or `BA_ACCESS_KEY` and
    /// `EDB_TF_ACCESS_KEY`) and `BA_API_URI`, for `eval`.
    Env,
    /// `{"token_type", "token", "expiration_timestamp"}` as JSON;
    /// `token_type` is `access_key` for an access key.
    Json,
}

/// The inputs of the forms besides the credential.
pub struct RenderContext<'a> {
    /// The API base, for `env`.
    pub api_url: &'a str,
    /// Whether stdout is a terminal, for `token`.
    pub stdout_is_terminal: bool,
    /// The `apiVersion` for `exec-credential`.
    pub exec_api_version: &'a str,
}

/// The reason a credential cannot be rendered in a form.
#[derive(Debug, PartialEq, Eq)]
pub enum RenderError {
    /// The form carries only a bearer token and the profile uses an access
    /// key; the value names the form for the message.
    BearerOnly(&'static str),
    /// The credential contains a character the form cannot carry.
    InvalidValue(String),
}

/// Renders a credential in one of the `--output` forms.
pub fn render(format: OutputFormat, credential: &ApiCredential, context: &RenderContext) -> Result<String, RenderError> {
    match (format, credential) {
        (OutputFormat::ExecCredential, ApiCredential::Bearer(c)) => Ok(exec_credential::render(context.exec_api_version, c)),
        (OutputFormat::ExecCredential, ApiCredential::AccessKey(_)) => Err(RenderError::BearerOnly("`--output exec-credential`")),
        (OutputFormat::Token, ApiCredential::Bearer(c)) => Ok(token(c, context.stdout_is_terminal)),
        (OutputFormat::Token, ApiCredential::AccessKey(_)) => Err(RenderError::BearerOnly("`--output token`")),
        (OutputFormat::Header, credential) => header(credential),
        (OutputFormat::Env, credential) => Ok(shell::exports(credential, context.api_url)),
        (OutputFormat::Json, ApiCredential::Bearer(c)) => Ok(json(c)),
        (OutputFormat::Json, ApiCredential::AccessKey(key)) => Ok(json_access_key(key)),
    }
}

/// Renders the `header` form: one header line with a CRLF-free value.
pub fn header(credential: &ApiCredential) -> Result<String, RenderError> {
    let (name, value) = match credential {
        ApiCredential::Bearer(c) => ("Authorization", format!("Bearer {}", c.token.expose())),
        ApiCredential::AccessKey(key) => (HEADER, key.key.expose().to_string()),
    };
    if value.contains(['\0', '\r', '\n']) {
        return Err(RenderError::InvalidValue(format!(
            "cannot render the `{name}` header: the credential contains a line break or NUL"
        )));
    }
    Ok(format!("{name}: {value}\n"))
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

/// Renders the `json` form of an access key; `expiration_timestamp` is
/// `null` when no expiry is known.
pub fn json_access_key(key: &AccessKey) -> String {
    let value = serde_json::json!({
        "token_type": "access_key",
        "token": key.key.expose(),
        "expiration_timestamp": key.expires_at.map(rfc3339),
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

    fn access_key(expires_at: Option<time::OffsetDateTime>) -> AccessKey {
        AccessKey {
            key: Secret::new("baak_key0123456789"),
            expires_at,
            source: crate::access_key::KeySource::Store,
        }
    }

    fn context() -> RenderContext<'static> {
        RenderContext {
            api_url: "https://portal.biganimal.com/api/v3",
            stdout_is_terminal: false,
            exec_api_version: "client.authentication.k8s.io/v1",
        }
    }

    #[test]
    fn header_form_exact() {
        let bearer = ApiCredential::Bearer(credential());
        assert_eq!(header(&bearer).unwrap(), "Authorization: Bearer tok\n");
        let key = ApiCredential::AccessKey(access_key(None));
        assert_eq!(header(&key).unwrap(), "x-access-key: baak_key0123456789\n");
    }

    #[test]
    fn header_refuses_line_break() {
        let mut broken = credential();
        broken.token = Secret::new("tok\r\nX-Injected: 1");
        let err = header(&ApiCredential::Bearer(broken)).unwrap_err();
        assert!(matches!(err, RenderError::InvalidValue(_)), "{err:?}");
    }

    #[test]
    fn json_access_key_exact() {
        let at = time::macros::datetime!(2027-01-31 00:00:00 UTC);
        assert_eq!(
            json_access_key(&access_key(Some(at))),
            "{\"expiration_timestamp\":\"2027-01-31T00:00:00Z\",\"token\":\"baak_key0123456789\",\"token_type\":\"access_key\"}\n"
        );
        assert_eq!(
            json_access_key(&access_key(None)),
            "{\"expiration_timestamp\":null,\"token\":\"baak_key0123456789\",\"token_type\":\"access_key\"}\n"
        );
    }

    #[test]
    fn bearer_only_forms_reject_access_key() {
        let key = ApiCredential::AccessKey(access_key(None));
        for (format, name) in [
            (OutputFormat::ExecCredential, "`--output exec-credential`"),
            (OutputFormat::Token, "`--output token`"),
        ] {
            assert_eq!(render(format, &key, &context()), Err(RenderError::BearerOnly(name)));
        }
        for format in [OutputFormat::Header, OutputFormat::Env, OutputFormat::Json] {
            assert!(render(format, &key, &context()).is_ok(), "{format:?}");
        }
    }

    #[test]
    fn json_form_exact() {
        assert_eq!(
            json(&credential()),
            "{\"expiration_timestamp\":\"2026-12-05T10:00:00Z\",\"token\":\"tok\",\"token_type\":\"Bearer\"}\n"
        );
    }
}
