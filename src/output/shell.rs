//! The `env` form: POSIX shell `export` lines for `eval "$(…)"`, and the
//! variables `exec` sets.
//!
//! A bearer token goes in `BA_BEARER_TOKEN`, which the BigAnimal Terraform
//! provider (EnterpriseDB/terraform-provider-biganimal) reads. An access key
//! goes in `BA_ACCESS_KEY`, which EDB's edb-terraform scripts read, and in
//! `EDB_TF_ACCESS_KEY`, which the Terraform provider reads and prefers over
//! `BA_BEARER_TOKEN`. `BA_API_URI` carries the API base for all of them.

use crate::access_key;
use crate::credential::ApiCredential;

/// The variable that carries a bearer token.
pub const BEARER_ENV: &str = "BA_BEARER_TOKEN";

/// The variable the Terraform provider reads an access key from.
pub const TERRAFORM_KEY_ENV: &str = "EDB_TF_ACCESS_KEY";

/// The variable that carries the API base.
pub const API_ENV: &str = "BA_API_URI";

/// Returns the variables a credential sets, in output order.
pub fn variables<'a>(credential: &'a ApiCredential, api_url: &'a str) -> Vec<(&'static str, &'a str)> {
    let mut variables = match credential {
        ApiCredential::Bearer(c) => vec![(BEARER_ENV, c.token.expose())],
        ApiCredential::AccessKey(key) => vec![(access_key::ENV, key.key.expose()), (TERRAFORM_KEY_ENV, key.key.expose())],
    };
    variables.push((API_ENV, api_url));
    variables
}

/// Returns the credential variables a credential does not set, which
/// `exec` removes so that a stale value cannot override the served one.
pub fn unused_variables(credential: &ApiCredential) -> &'static [&'static str] {
    match credential {
        ApiCredential::Bearer(_) => &[access_key::ENV, TERRAFORM_KEY_ENV],
        ApiCredential::AccessKey(_) => &[BEARER_ENV],
    }
}

/// Renders one `export NAME='value'` line per variable, then an `unset`
/// line for the credential variables that do not apply.
pub fn exports(credential: &ApiCredential, api_url: &str) -> String {
    let mut text: String = variables(credential, api_url)
        .iter()
        .map(|(name, value)| format!("export {name}={}\n", quote(value)))
        .collect();
    text.push_str(&format!("unset {}\n", unused_variables(credential).join(" ")));
    text
}

/// Quotes a value for a POSIX shell: inside single quotes every byte is
/// literal, and a single quote is written as `'\''`.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_key::{AccessKey, KeySource};
    use crate::secret::Secret;
    use crate::session::{Credential, Source};

    #[test]
    fn quote_handles_specials() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$HOME `x` \"y\" \\ \n"), "'$HOME `x` \"y\" \\ \n'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn exports_bearer_exact() {
        let credential = ApiCredential::Bearer(Credential {
            token: Secret::new("eyJ.a'b.c"),
            expires_at: time::macros::datetime!(2026-12-05 10:00:00 UTC),
            source: Source::Cache,
        });
        assert_eq!(
            exports(&credential, "https://portal.biganimal.com/api/v3"),
            "export BA_BEARER_TOKEN='eyJ.a'\\''b.c'\nexport BA_API_URI='https://portal.biganimal.com/api/v3'\n\
             unset BA_ACCESS_KEY EDB_TF_ACCESS_KEY\n"
        );
    }

    #[test]
    fn exports_access_key_exact() {
        let credential = ApiCredential::AccessKey(AccessKey {
            key: Secret::new("baak_abc0123456789"),
            expires_at: None,
            source: KeySource::Environment,
        });
        assert_eq!(
            exports(&credential, "http://127.0.0.1:8080/api/v3"),
            "export BA_ACCESS_KEY='baak_abc0123456789'\nexport EDB_TF_ACCESS_KEY='baak_abc0123456789'\n\
             export BA_API_URI='http://127.0.0.1:8080/api/v3'\nunset BA_BEARER_TOKEN\n"
        );
    }

    #[test]
    fn exports_survive_a_real_shell() {
        let credential = ApiCredential::Bearer(Credential {
            token: Secret::new("a'b\"c$d`e\\f g"),
            expires_at: time::macros::datetime!(2026-12-05 10:00:00 UTC),
            source: Source::Cache,
        });
        let script = format!("{}printf %s \"$BA_BEARER_TOKEN\"", exports(&credential, "https://x/api"));
        let output = std::process::Command::new("sh").arg("-c").arg(script).output().expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "a'b\"c$d`e\\f g");
    }
}
