//! The certificate authorities HTTPS connections trust.
//!
//! The base is the operating system's CA bundle: the first file of
//! [`SYSTEM_BUNDLES`] that exists. Where none exists (a scratch container,
//! Windows), the base is Mozilla's root list compiled into the binary. On
//! top of that base come the certificates of `SSL_CERT_FILE` and of
//! `--ca-file` (`BIGANIMAL_CA_FILE`), so a private or corporate CA is added
//! without losing the public roots. OpenSSL reads `SSL_CERT_FILE` in place
//! of its bundle; this helper adds it instead.
//!
//! Everything here runs on the first HTTPS request, never on a cached `get`.

use crate::log;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// CA bundles of common systems, in the order they are tried.
pub const SYSTEM_BUNDLES: &[&str] = &[
    // Debian, Ubuntu, Arch, Gentoo, Alpine
    "/etc/ssl/certs/ca-certificates.crt",
    // Fedora, RHEL, CentOS
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    // openSUSE
    "/etc/ssl/ca-bundle.pem",
    // macOS, OpenBSD, FreeBSD
    "/etc/ssl/cert.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
];

/// The environment variable that names one more CA file, as for OpenSSL.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// A CA file added on top of the base, with the setting that named it.
pub struct ExtraCa {
    /// The file, PEM encoded.
    pub path: PathBuf,
    /// The option or variable that named it, for messages.
    pub origin: &'static str,
}

/// Lists the extra CA files: `SSL_CERT_FILE`, then `--ca-file`.
pub fn extra_cas(ca_file: Option<&Path>) -> Vec<ExtraCa> {
    let mut extras = Vec::new();
    if let Some(path) = crate::config::non_empty_env(SSL_CERT_FILE) {
        extras.push(ExtraCa {
            path: PathBuf::from(path),
            origin: "`SSL_CERT_FILE`",
        });
    }
    if let Some(path) = ca_file {
        extras.push(ExtraCa {
            path: path.to_path_buf(),
            origin: "`--ca-file` or `BIGANIMAL_CA_FILE`",
        });
    }
    extras
}

/// Builds the TLS settings with the roots described in the module
/// documentation. The error names the file that could not be used.
pub fn tls_config(ca_file: Option<&Path>) -> Result<TlsConfig, String> {
    install_crypto_provider();

    let bundles: Vec<&Path> = SYSTEM_BUNDLES.iter().map(Path::new).collect();
    let roots = load_roots(&bundles, &extra_cas(ca_file))?;
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .build())
}

/// Installs ring as the process's rustls provider; a second call finds it
/// installed. ureq is built without its own provider choice, and ring is the
/// one its `rustls` feature picks.
// rustls 0.23.48 deprecates ring's provider because ring lacks post-quantum
// key exchange. The alternative, aws-lc-rs, needs cmake and a larger binary;
// the helper used ring before this change too.
#[allow(deprecated)]
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Collects the base roots (the first readable bundle of `bundles`, else
/// the compiled-in list) and every certificate of `extras`.
pub fn load_roots(bundles: &[&Path], extras: &[ExtraCa]) -> Result<Vec<Certificate<'static>>, String> {
    let (bundle_path, mut roots) = match system_bundle(bundles) {
        Some((path, certs)) => {
            log::info(&format!("trusting {} CA certificates from `{}`", certs.len(), path.display()));
            (Some(path), certs)
        }
        None => {
            log::info("no system CA bundle found; trusting the Mozilla roots built into the binary");
            let builtin = webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|der| Certificate::from_der(der.as_ref()))
                .collect();
            (None, builtin)
        }
    };
    for extra in extras {
        // Distributions often set `SSL_CERT_FILE` to the system bundle itself.
        if bundle_path.as_deref().is_some_and(|bundle| same_file(bundle, &extra.path)) {
            continue;
        }
        let certs = read_extra(extra)?;
        log::info(&format!(
            "also trusting {} CA certificates from `{}` ({})",
            certs.len(),
            extra.path.display(),
            extra.origin
        ));
        roots.extend(certs);
    }
    Ok(roots)
}

/// Tells whether two paths name the same file, following symbolic links.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Returns the first bundle that can be read and contains certificates.
fn system_bundle(bundles: &[&Path]) -> Option<(PathBuf, Vec<Certificate<'static>>)> {
    bundles.iter().find_map(|path| {
        let bytes = std::fs::read(path).ok()?;
        let certs = pem_certificates(&bytes).ok().filter(|certs| !certs.is_empty())?;
        Some((path.to_path_buf(), certs))
    })
}

/// Reads an extra CA file; it must contain at least one PEM certificate.
fn read_extra(extra: &ExtraCa) -> Result<Vec<Certificate<'static>>, String> {
    let path = extra.path.display();
    let bytes = std::fs::read(&extra.path)
        .map_err(|e| format!("could not read the CA file `{path}` named by {}: {e}", extra.origin))?;
    let certs = pem_certificates(&bytes).map_err(|e| {
        format!(
            "invalid CA file `{path}` named by {}: a PEM section is damaged ({e}); \
             every section must be intact, so fix or remove the damaged one",
            extra.origin
        )
    })?;
    if certs.is_empty() {
        return Err(format!(
            "invalid CA file `{path}` named by {}: it contains no PEM certificate \
             (`-----BEGIN CERTIFICATE-----`)",
            extra.origin
        ));
    }
    Ok(certs)
}

/// Returns the certificates of a PEM file, skipping keys and other sections.
fn pem_certificates(bytes: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(bytes) {
        if let PemItem::Certificate(cert) = item.map_err(|e| e.to_string())? {
            certs.push(cert);
        }
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA certificate (P-256, CN=test-ca), made with openssl.
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBeDCCAR+gAwIBAgIUQfI0XBNo+Y8nKKG4k5MkeS+gRfEwCgYIKoZIzj0EAwIw
EjEQMA4GA1UEAwwHdGVzdC1jYTAeFw0yNjEyMDQyMjA0NDVaFw0zNjEyMDEyMjA0
NDVaMBIxEDAOBgNVBAMMB3Rlc3QtY2EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAS45cAqiHhwYcaZQtWT6VpEei1quZFIpHCvzYK/ptjynvVHkmu4fTFMi1LWXIdw
0tqoVxhzQM8DNnrtTxyNob9Do1MwUTAdBgNVHQ4EFgQUeRnwuIU45/7imB6qFTx4
nGcq0gcwHwYDVR0jBBgwFoAUeRnwuIU45/7imB6qFTx4nGcq0gcwDwYDVR0TAQH/
BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiA8N9wRDbKyAHfYyilHqy8WM7emUfi6
eaqhPXhAiXuzaQIgZ1hKlkmB87olZJkQ4apA7WE2wFN5URbmRsjrOJLOTXs=
-----END CERTIFICATE-----
";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn extra_ca_adds_to_system_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = write(dir.path(), "bundle.pem", &TEST_CA.repeat(3));
        let extra = write(dir.path(), "extra.pem", TEST_CA);
        let extras = [ExtraCa { path: extra, origin: "`--ca-file`" }];

        let roots = load_roots(&[Path::new("/nonexistent/bundle.pem"), &bundle], &extras).unwrap();
        assert_eq!(roots.len(), 4, "three from the bundle, one added");
    }

    #[test]
    fn extra_naming_the_bundle_is_not_added_twice() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = write(dir.path(), "bundle.pem", &TEST_CA.repeat(3));
        let extras = [ExtraCa { path: bundle.clone(), origin: "`SSL_CERT_FILE`" }];

        let roots = load_roots(&[&bundle], &extras).unwrap();
        assert_eq!(roots.len(), 3);
    }

    #[test]
    fn missing_bundle_falls_back_to_builtin_roots() {
        let dir = tempfile::tempdir().unwrap();
        let extra = write(dir.path(), "extra.pem", TEST_CA);
        let extras = [ExtraCa { path: extra, origin: "`SSL_CERT_FILE`" }];

        let roots = load_roots(&[Path::new("/nonexistent/bundle.pem")], &extras).unwrap();
        assert_eq!(roots.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() + 1);
    }

    #[test]
    fn real_system_bundle_is_read_when_present() {
        let bundles: Vec<&Path> = SYSTEM_BUNDLES.iter().map(Path::new).collect();
        let Some((path, certs)) = system_bundle(&bundles) else {
            eprintln!("real_system_bundle_is_read_when_present: skipped, no system CA bundle on this machine");
            return;
        };
        assert!(certs.len() > 10, "{} holds only {} certificates", path.display(), certs.len());
    }

    #[test]
    fn unreadable_extra_names_file_and_setting() {
        let extras = [ExtraCa {
            path: PathBuf::from("/nonexistent/ca.pem"),
            origin: "`--ca-file` or `BIGANIMAL_CA_FILE`",
        }];
        let err = load_roots(&[], &extras).err().unwrap();
        assert!(err.contains("`/nonexistent/ca.pem`"), "{err}");
        assert!(err.contains("`--ca-file`"), "{err}");
    }

    #[test]
    fn extra_without_certificate_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let empty = write(dir.path(), "key-only.pem", "not a certificate\n");
        let extras = [ExtraCa { path: empty, origin: "`SSL_CERT_FILE`" }];
        let err = load_roots(&[], &extras).err().unwrap();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn damaged_section_names_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let damaged = format!("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n{TEST_CA}");
        let file = write(dir.path(), "damaged.pem", &damaged);
        let extras = [ExtraCa { path: file, origin: "`--ca-file`" }];
        let err = load_roots(&[], &extras).err().unwrap();
        assert!(err.contains("a PEM section is damaged"), "{err}");
        assert!(err.contains("fix or remove the damaged one"), "{err}");
    }
}
