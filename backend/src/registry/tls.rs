//! TLS for registries given CA files (`--ca-cert`, `MANIFOLD_CA_CERTS`, and those `SSL_CERT_FILE`
//! and `SSL_CERT_DIR` name): the system's roots and the certificates of those files, verified in
//! full as usual — and a certificate of those files that a server presents as its own accepted as
//! exactly that one (pinned), even when it is a self-signed `CA:TRUE` certificate, which full
//! verification refuses as an end-entity certificate (`openssl req -x509`, as Docker's
//! documentation makes them).
//!
//! Owns the process's crypto provider (rustls on ring; reqwest and sqlx are built without one of
//! their own, so every HTTP client comes from [`http_builder`]), reading the CA files and the
//! rustls configuration; `transport` builds the reqwest client with it. It knows no registry
//! state.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::error::RegistryError;

/// The certificates of the CA files, in order; an unreadable file, one that is not PEM or one
/// that holds no certificate is an error naming it.
pub(crate) fn read_certificates(
    paths: &[PathBuf],
) -> Result<Vec<CertificateDer<'static>>, RegistryError> {
    let mut out = Vec::new();
    for path in paths {
        let pem = std::fs::read(path).map_err(|e| {
            RegistryError::Config(format!("cannot read CA bundle {}: {e}", path.display()))
        })?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                RegistryError::Config(format!("CA bundle {} is not PEM: {e}", path.display()))
            })?;
        if certs.is_empty() {
            return Err(RegistryError::Config(format!(
                "CA bundle {} holds no certificate (no BEGIN CERTIFICATE block)",
                path.display()
            )));
        }
        out.extend(certs);
    }
    Ok(out)
}

/// The certificates `SSL_CERT_FILE` and `SSL_CERT_DIR` name (as OpenSSL, Go and so
/// manifest-tool and skopeo read them), trusted as the `--ca-cert` files are: also pinned, so
/// that a self-signed `CA:TRUE` certificate there is accepted as the server's own.
pub(crate) fn environment_certificates() -> Result<Vec<CertificateDer<'static>>, RegistryError> {
    certificates_named(
        std::env::var_os("SSL_CERT_FILE").as_deref(),
        std::env::var_os("SSL_CERT_DIR").as_deref(),
    )
}

/// The certificates of `file` (which must hold some, as a `--ca-cert` file must) and of every
/// file in the directories `dirs` lists (colon-separated, as OpenSSL takes it) that holds a PEM
/// certificate — the others there (OpenSSL's hash links to CRLs, READMEs) skipped, as OpenSSL
/// skips them, and so is a directory that is not there.
fn certificates_named(
    file: Option<&OsStr>,
    dirs: Option<&OsStr>,
) -> Result<Vec<CertificateDer<'static>>, RegistryError> {
    let mut certs = match file.filter(|f| !f.is_empty()) {
        Some(file) => read_certificates(&[PathBuf::from(file)])
            .map_err(|e| RegistryError::Config(format!("SSL_CERT_FILE: {e}")))?,
        None => Vec::new(),
    };
    let dirs = dirs.map(std::env::split_paths).into_iter().flatten();
    for dir in dirs.filter(|d| !d.as_os_str().is_empty()) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files.iter().filter(|p| p.is_file()) {
            if let Ok(found) = read_certificates(std::slice::from_ref(path)) {
                certs.extend(found);
            }
        }
    }
    Ok(certs)
}

/// The process's rustls crypto provider: ring, installed as the process default on first use
/// (one installed before, by an embedding program, is kept).
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    if let Some(provider) = rustls::crypto::CryptoProvider::get_default() {
        return provider.clone();
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// A reqwest client builder, the crypto provider installed first (reqwest has none of its own).
pub fn http_builder() -> reqwest::ClientBuilder {
    crypto_provider();
    reqwest::Client::builder()
}

/// A rustls client configuration that trusts the system's roots and `certs`, and pins each of
/// `certs` as a server certificate; HTTP/2 and HTTP/1.1 offered, or HTTP/1.1 only (`http1_only`).
pub(crate) fn client_config(
    certs: Vec<CertificateDer<'static>>,
    http1_only: bool,
) -> Result<rustls::ClientConfig, RegistryError> {
    let provider = crypto_provider();
    let full = rustls_platform_verifier::Verifier::new_with_extra_roots(
        certs.iter().cloned(),
        provider.clone(),
    )
    .map_err(|e| RegistryError::Config(format!("cannot set up TLS verification: {e}")))?;
    let verifier = PinnedOrVerified {
        full: Arc::new(full),
        pinned: certs,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Config(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = if http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// Full verification first; where it refuses, a server certificate that is byte for byte one of
/// the configured certificates and names the host asked is accepted.
#[derive(Debug)]
struct PinnedOrVerified {
    full: Arc<dyn ServerCertVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinnedOrVerified {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refused = match self.full.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(refused) => refused,
        };
        if !self
            .pinned
            .iter()
            .any(|pin| pin.as_ref() == end_entity.as_ref())
        {
            return Err(refused);
        }
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_name(&parsed, server_name)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.full.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.full.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.full.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_cert_file_and_every_certificate_in_ssl_cert_dir_are_read_and_the_rest_skipped() {
        let ca = manifold_testkit::TestCa::new().ca_cert_pem().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (file, certs, other) = (
            dir.path().join("bundle.pem"),
            dir.path().join("certs"),
            dir.path().join("other"),
        );
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(&file, &ca).unwrap();
        std::fs::write(certs.join("a.pem"), &ca).unwrap();
        std::fs::write(certs.join("README"), "not a certificate").unwrap();
        std::fs::write(other.join("b.0"), &ca).unwrap();
        let both = std::env::join_paths([&certs, &other, &dir.path().join("gone")]).unwrap();

        let from_file = certificates_named(Some(file.as_os_str()), None).unwrap();
        let from_dirs = certificates_named(None, Some(&both)).unwrap();
        let none = certificates_named(None, None).unwrap();
        let missing = certificates_named(Some(dir.path().join("x.pem").as_os_str()), None);

        assert_eq!(from_file.len(), 1);
        assert_eq!(from_dirs.len(), 2, "a.pem and b.0; README skipped");
        assert!(none.is_empty());
        let err = missing.unwrap_err().to_string();
        assert!(
            err.contains("SSL_CERT_FILE") && err.contains("x.pem"),
            "{err}"
        );
    }

    #[test]
    fn a_file_without_a_certificate_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = read_certificates(&[path]).unwrap_err().to_string();
        assert!(
            err.contains("empty.pem") && err.contains("no certificate"),
            "{err}"
        );
        let missing = read_certificates(&[dir.path().join("gone.pem")])
            .unwrap_err()
            .to_string();
        assert!(missing.contains("gone.pem"), "{missing}");
    }
}
