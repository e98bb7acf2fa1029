//! The Kubernetes `ExecCredential` answer for kubectl and other client-go
//! or kube-rs tools.
//!
//! client-go passes its request in `KUBERNETES_EXEC_INFO` and rejects an
//! answer whose `apiVersion` differs from the one configured in the
//! kubeconfig, so the version is echoed from the request. A missing or
//! empty variable means an old client, which gets `v1beta1`.

use crate::clock::rfc3339;
use crate::session::Credential;

/// The exec credential versions client-go accepts (v1alpha1 was removed
/// in Kubernetes 1.24).
pub const SUPPORTED_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// The version used when the request names none.
pub const DEFAULT_VERSION: &str = "client.authentication.k8s.io/v1beta1";

/// Reads the `apiVersion` to reply with from `KUBERNETES_EXEC_INFO`.
pub fn requested_version(exec_info: Option<&str>) -> Result<&'static str, String> {
    let Some(text) = exec_info.filter(|t| !t.trim().is_empty()) else {
        return Ok(DEFAULT_VERSION);
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "invalid `KUBERNETES_EXEC_INFO`: not a JSON object (line {}, column {}); \
             unset it or let kubectl set it",
            e.line(),
            e.column()
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err("invalid `KUBERNETES_EXEC_INFO`: expected a JSON object".to_string());
    };
    match object.get("apiVersion") {
        None => Ok(DEFAULT_VERSION),
        Some(serde_json::Value::String(version)) => SUPPORTED_VERSIONS
            .iter()
            .find(|supported| *supported == version)
            .copied()
            .ok_or_else(|| {
                let shown: String = version.chars().filter(|c| !c.is_control()).take(80).collect();
                format!(
                    "unsupported `apiVersion` `{shown}` in `KUBERNETES_EXEC_INFO`: \
                     use `client.authentication.k8s.io/v1` or `client.authentication.k8s.io/v1beta1` \
                     in the kubeconfig's `exec.apiVersion`"
                )
            }),
        Some(_) => Err("invalid `KUBERNETES_EXEC_INFO`: `apiVersion` is not a string".to_string()),
    }
}

/// Renders the `ExecCredential` object, with a trailing newline.
pub fn render(api_version: &str, credential: &Credential) -> String {
    let value = serde_json::json!({
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "spec": {},
        "status": {
            "expirationTimestamp": rfc3339(credential.expires_at),
            "token": credential.token.expose(),
        },
    });
    format!("{value}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::session::Source;

    #[test]
    fn version_echoed_for_v1_and_v1beta1() {
        let v1 = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;
        assert_eq!(requested_version(Some(v1)), Ok("client.authentication.k8s.io/v1"));
        let beta = r#"{"apiVersion":"client.authentication.k8s.io/v1beta1"}"#;
        assert_eq!(requested_version(Some(beta)), Ok("client.authentication.k8s.io/v1beta1"));
    }

    #[test]
    fn version_defaults_when_missing_or_empty() {
        assert_eq!(requested_version(None), Ok(DEFAULT_VERSION));
        assert_eq!(requested_version(Some("")), Ok(DEFAULT_VERSION));
        assert_eq!(requested_version(Some("  ")), Ok(DEFAULT_VERSION));
        assert_eq!(requested_version(Some("{}")), Ok(DEFAULT_VERSION));
    }

    #[test]
    fn version_rejects_bad_input() {
        let err = requested_version(Some("{not json")).unwrap_err();
        assert!(err.contains("not a JSON object"), "{err}");
        let err = requested_version(Some(r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#)).unwrap_err();
        assert!(err.contains("v1alpha1"), "{err}");
        let err = requested_version(Some(r#"{"apiVersion":1}"#)).unwrap_err();
        assert!(err.contains("not a string"), "{err}");
        assert!(requested_version(Some("[]")).is_err());
    }

    #[test]
    fn render_exact() {
        let credential = Credential {
            token: Secret::new("tok"),
            expires_at: time::macros::datetime!(2026-12-05 10:00:00.5 UTC),
            source: Source::Cache,
        };
        assert_eq!(
            render("client.authentication.k8s.io/v1", &credential),
            "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"spec\":{},\
             \"status\":{\"expirationTimestamp\":\"2026-12-05T10:00:00Z\",\"token\":\"tok\"}}\n"
        );
    }
}
