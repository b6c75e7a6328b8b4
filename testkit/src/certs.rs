//! Certificates and keys for tests, made with the `openssl` CLI in temporary directories: a
//! [`TestCa`] that issues TLS server certificates ([`ServerCert`]) for a registry served over
//! HTTPS, and a [`TokenSigner`] (an RSA 2048 key with a self-signed certificate: the registry's
//! `auth.token.rootcertbundle`) that signs RS256 JWTs carrying the certificate in `x5c`; and a
//! [`SelfSignedCert`] made the way Docker's documentation makes one.
//!
//! This module owns the openssl invocations (with configuration files of its own, so the
//! system's `openssl.cnf` does not matter), PEM decoding and JWT signing (ring).

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use tempfile::TempDir;

/// Environment variable naming the openssl binary (default: `openssl` on `PATH`).
pub const OPENSSL_BIN_ENV: &str = "MANIFOLD_TEST_OPENSSL_BIN";

/// Distinguished-name section shared by every request; the subject is given with `-subj`.
const REQ_CONFIG: &str = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n\
[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign,digitalSignature\n\
subjectKeyIdentifier = hash\n\
[v3_signer]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
subjectKeyIdentifier = hash\n";

/// A certificate authority of its own (EC P-256), living in a temporary directory.
#[derive(Debug)]
pub struct TestCa {
    dir: TempDir,
    ca_key: PathBuf,
    ca_cert: PathBuf,
    serial: AtomicU32,
}

/// A server certificate issued by a [`TestCa`]: PEM files in the CA's directory (they live as
/// long as the CA; a [`crate::TestRegistry`] copies what it needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCert {
    /// The certificate (PEM), signed by the CA.
    pub cert_path: PathBuf,
    /// Its private key (PEM, PKCS#8, EC P-256).
    pub key_path: PathBuf,
    /// The issuing CA's certificate (PEM), for clients to trust.
    pub ca_cert_path: PathBuf,
    /// `subjectAltName` DNS entries.
    pub dns_names: Vec<String>,
    /// `subjectAltName` IP entries.
    pub ips: Vec<IpAddr>,
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// A fresh CA; panics when openssl fails.
    pub fn new() -> TestCa {
        Self::try_new().unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// A fresh CA (`CN=manifold-testkit CA <random>`, EC P-256, ten years). The random part
    /// keeps two CAs apart: clients look issuers up by name.
    pub fn try_new() -> anyhow::Result<TestCa> {
        let dir = tempfile::Builder::new()
            .prefix("manifold-ca-")
            .tempdir()
            .context("create CA temp dir")?;
        let config = dir.path().join("openssl.cnf");
        fs::write(&config, REQ_CONFIG).context("write openssl.cnf")?;
        let ca_key = dir.path().join("ca.key");
        let ca_cert = dir.path().join("ca.crt");
        let mut cmd = openssl();
        cmd.args(["req", "-x509", "-new", "-nodes", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-sha256"])
            .args(["-days", "3650", "-subj"])
            .arg(format!("/CN=manifold-testkit CA {}", random_hex()))
            .args(["-extensions", "v3_ca", "-config"])
            .arg(&config)
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca_cert);
        run(cmd)?;
        Ok(TestCa {
            dir,
            ca_key,
            ca_cert,
            serial: AtomicU32::new(1),
        })
    }

    /// The CA certificate (PEM) to hand to clients as a trusted root.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_cert
    }

    /// The CA certificate's PEM text.
    pub fn ca_cert_pem(&self) -> anyhow::Result<Vec<u8>> {
        fs::read(&self.ca_cert).context("read CA certificate")
    }

    /// A server certificate for these names and addresses; panics when openssl fails.
    pub fn issue_server_cert(&self, dns_names: &[&str], ips: &[IpAddr]) -> ServerCert {
        self.try_issue_server_cert(dns_names, ips)
            .unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// A certificate for `localhost` and `127.0.0.1` (panics when openssl fails).
    pub fn localhost_cert(&self) -> ServerCert {
        self.issue_server_cert(&["localhost"], &[IpAddr::from([127, 0, 0, 1])])
    }

    /// A server certificate (EC P-256, `extendedKeyUsage=serverAuth`) whose `subjectAltName`
    /// lists `dns_names` and `ips`; the common name is the first of them.
    pub fn try_issue_server_cert(
        &self,
        dns_names: &[&str],
        ips: &[IpAddr],
    ) -> anyhow::Result<ServerCert> {
        let mut alt_names: Vec<String> = dns_names.iter().map(|d| format!("DNS:{d}")).collect();
        alt_names.extend(ips.iter().map(|ip| format!("IP:{ip}")));
        if alt_names.is_empty() {
            bail!("a server certificate needs at least one DNS name or IP address");
        }
        let common_name = dns_names
            .first()
            .map(|d| d.to_string())
            .or_else(|| ips.first().map(IpAddr::to_string))
            .unwrap_or_default();
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        let base = self.dir.path().join(format!("server-{serial}"));
        let key_path = base.with_extension("key");
        let csr_path = base.with_extension("csr");
        let cert_path = base.with_extension("crt");
        let ext_path = base.with_extension("ext");
        fs::write(
            &ext_path,
            format!(
                "basicConstraints = critical,CA:FALSE\n\
                 keyUsage = critical,digitalSignature,keyEncipherment\n\
                 extendedKeyUsage = serverAuth\n\
                 subjectKeyIdentifier = hash\n\
                 authorityKeyIdentifier = keyid\n\
                 subjectAltName = {}\n",
                alt_names.join(",")
            ),
        )
        .context("write extension file")?;

        let mut req = openssl();
        req.args(["req", "-new", "-nodes", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-sha256"])
            .arg("-subj")
            .arg(format!("/CN={common_name}"))
            .arg("-config")
            .arg(self.dir.path().join("openssl.cnf"))
            .arg("-keyout")
            .arg(&key_path)
            .arg("-out")
            .arg(&csr_path);
        run(req)?;
        let mut sign = openssl();
        sign.args(["x509", "-req", "-sha256", "-days", "825"])
            .arg("-set_serial")
            .arg(serial.to_string())
            .arg("-in")
            .arg(&csr_path)
            .arg("-CA")
            .arg(&self.ca_cert)
            .arg("-CAkey")
            .arg(&self.ca_key)
            .arg("-extfile")
            .arg(&ext_path)
            .arg("-out")
            .arg(&cert_path);
        run(sign)?;
        Ok(ServerCert {
            cert_path,
            key_path,
            ca_cert_path: self.ca_cert.clone(),
            dns_names: dns_names.iter().map(|d| d.to_string()).collect(),
            ips: ips.to_vec(),
        })
    }
}

/// A self-signed server certificate made exactly as Docker's documentation for a registry tells
/// ("Use self-signed certificates"): `openssl req -newkey rsa:4096 -nodes -sha256 -keyout
/// domain.key -addext "subjectAltName = IP:<ip>" -x509 -days 365 -out domain.crt`, with the
/// system's openssl configuration — so `CA:TRUE`, the certificate its own issuer. Only `-subj` is
/// added, in place of the questions openssl would ask.
#[derive(Debug)]
pub struct SelfSignedCert {
    dir: TempDir,
    /// `domain.crt`: the server's certificate, and what clients are given to trust.
    pub cert_path: PathBuf,
    /// `domain.key`: its private key.
    pub key_path: PathBuf,
}

impl SelfSignedCert {
    /// A certificate for `ip` as Docker's documentation makes it; panics when openssl fails.
    pub fn docker_docs(ip: IpAddr) -> SelfSignedCert {
        Self::try_docker_docs(ip).unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// A certificate for `ip` as Docker's documentation makes it.
    pub fn try_docker_docs(ip: IpAddr) -> anyhow::Result<SelfSignedCert> {
        let dir = tempfile::Builder::new()
            .prefix("manifold-self-signed-")
            .tempdir()
            .context("create cert temp dir")?;
        let key_path = dir.path().join("domain.key");
        let cert_path = dir.path().join("domain.crt");
        let mut cmd = openssl();
        cmd.current_dir(dir.path())
            .args(["req", "-newkey", "rsa:4096", "-nodes", "-sha256"])
            .args(["-keyout", "domain.key", "-addext"])
            .arg(format!("subjectAltName = IP:{ip}"))
            .args(["-x509", "-days", "365", "-out", "domain.crt", "-subj"])
            .arg(format!("/CN={ip}"));
        run(cmd)?;
        Ok(SelfSignedCert {
            dir,
            cert_path,
            key_path,
        })
    }

    /// The certificate as `openssl x509 -text` shows it.
    pub fn text(&self) -> anyhow::Result<String> {
        let mut cmd = openssl();
        cmd.current_dir(self.dir.path())
            .args(["x509", "-noout", "-text", "-in", "domain.crt"]);
        let output = cmd.output().context("cannot run openssl")?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// The key that signs registry tokens: RSA 2048 with a self-signed certificate, which is both
/// the registry's `rootcertbundle` and the single `x5c` entry of every token's header.
pub struct TokenSigner {
    _dir: TempDir,
    key_path: PathBuf,
    cert_path: PathBuf,
    cert_der: Vec<u8>,
    key: RsaKeyPair,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A fresh RSA 2048 key and self-signed certificate (`CN=manifold-testkit token signer
    /// <random>`).
    pub fn new() -> anyhow::Result<TokenSigner> {
        let dir = tempfile::Builder::new()
            .prefix("manifold-token-signer-")
            .tempdir()
            .context("create signer temp dir")?;
        let config = dir.path().join("openssl.cnf");
        fs::write(&config, REQ_CONFIG).context("write openssl.cnf")?;
        let key_path = dir.path().join("token.key");
        let cert_path = dir.path().join("token.crt");
        let mut cmd = openssl();
        cmd.args([
            "req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256",
        ])
        .args(["-days", "3650", "-subj"])
        .arg(format!(
            "/CN=manifold-testkit token signer {}",
            random_hex()
        ))
        .args(["-extensions", "v3_signer", "-config"])
        .arg(&config)
        .arg("-keyout")
        .arg(&key_path)
        .arg("-out")
        .arg(&cert_path);
        run(cmd)?;
        let key_der = pem_to_der(&fs::read_to_string(&key_path)?, "PRIVATE KEY")?;
        let cert_der = pem_to_der(&fs::read_to_string(&cert_path)?, "CERTIFICATE")?;
        let key = RsaKeyPair::from_pkcs8(&key_der)
            .map_err(|err| anyhow::anyhow!("openssl's RSA key is not PKCS#8: {err}"))?;
        Ok(TokenSigner {
            _dir: dir,
            key_path,
            cert_path,
            cert_der,
            key,
        })
    }

    /// The certificate (PEM): what the registry's `auth.token.rootcertbundle` points at.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The private key (PEM, PKCS#8).
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// The RSA key pair alone (for tokens of other shapes, e.g. an OIDC issuer's); the files
    /// go.
    pub fn into_key_pair(self) -> RsaKeyPair {
        self.key
    }

    /// The certificate in DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The `x5c` header value: the DER certificate in standard (not URL-safe) base64.
    pub fn x5c(&self) -> Vec<String> {
        vec![STANDARD.encode(&self.cert_der)]
    }

    /// A compact JWS: header `{"typ":"JWT","alg":"RS256","x5c":[…]}`, these claims, signed
    /// with RSASSA-PKCS1-v1_5 SHA-256.
    pub fn sign(&self, claims: &serde_json::Value) -> anyhow::Result<String> {
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": self.x5c()});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// The decoded header and claims of a compact JWT (the signature is not checked).
pub fn decode_jwt(token: &str) -> anyhow::Result<(serde_json::Value, serde_json::Value)> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        bail!("not a compact JWT: {} parts", token.split('.').count());
    };
    let decode = |part: &str| -> anyhow::Result<serde_json::Value> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .context("JWT part is not base64url")?;
        serde_json::from_slice(&bytes).context("JWT part is not JSON")
    };
    Ok((decode(header)?, decode(claims)?))
}

/// The DER bytes of the first PEM block labelled `label`.
pub fn pem_to_der(pem: &str, label: &str) -> anyhow::Result<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .with_context(|| format!("no {begin} block"))?
        + begin.len();
    let stop = start
        + pem[start..]
            .find(&end)
            .with_context(|| format!("no {end}"))?;
    let body: String = pem[start..stop].split_whitespace().collect();
    STANDARD.decode(body).context("PEM body is not base64")
}

/// Six random bytes in hex, to tell names apart.
fn random_hex() -> String {
    let mut bytes = [0u8; 6];
    let _ = crate::random_fill(&mut bytes);
    hex::encode(bytes)
}

/// A `Command` for the openssl binary.
fn openssl() -> Command {
    let bin = std::env::var_os(OPENSSL_BIN_ENV).unwrap_or_else(|| "openssl".into());
    let mut cmd = Command::new(bin);
    cmd.env_remove("OPENSSL_CONF")
        .stdin(std::process::Stdio::null());
    cmd
}

/// Runs an openssl command; an error with its stderr when it fails.
fn run(mut cmd: Command) -> anyhow::Result<()> {
    let output = cmd
        .output()
        .context("cannot run openssl (apt-get install openssl)")?;
    if !output.status.success() {
        bail!(
            "openssl {:?} failed ({}): {}",
            cmd.get_args().collect::<Vec<_>>(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
