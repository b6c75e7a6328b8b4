//! TLS for registries given CA files (`--ca-cert`, `MANIFOLD_CA_CERTS`): the system's roots and
//! the certificates of those files, verified in full as usual — and a certificate of those files
//! that a server presents as its own accepted as exactly that one (pinned), even when it is a
//! self-signed `CA:TRUE` certificate, which full verification refuses as an end-entity
//! certificate (`openssl req -x509`, as Docker's documentation makes them).
//!
//! Owns the process's crypto provider (rustls on ring; reqwest and sqlx are built without one of
//! their own, so every HTTP client comes from [`http_builder`]), reading the CA files and the
//! rustls configuration; `transport` builds the reqwest client with it. It knows no registry
//! state.

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
/// `certs` as a server certificate; HTTP/2 and HTTP/1.1 offered.
pub(crate) fn client_config(
    certs: Vec<CertificateDer<'static>>,
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
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
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
