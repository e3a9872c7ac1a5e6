//! TLS for every gRPC link: rustls with the `ring` provider only (aws-lc does not build for
//! MIPS), ALPN `h2`, TLS 1.3 (1.2 only when asked), and mutual authentication both ways:
//! the server requires a client certificate from the configured CA, the client presents one.
//!
//! Loading checks what an operator gets wrong: missing or unreadable files, PEM without a
//! certificate or key, a key that does not belong to the certificate, a CA file without a CA.
//! Each error names the file.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The three PEM files of one side of a link.
#[derive(Clone, Copy, Debug)]
pub struct TlsFiles<'a> {
    /// CA that signs the peer's certificate.
    pub ca: &'a Path,
    /// Our certificate chain.
    pub cert: &'a Path,
    /// Our private key.
    pub key: &'a Path,
}

/// Why a TLS configuration could not be built.
#[derive(Debug)]
pub enum TlsError {
    /// A PEM file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        error: std::io::Error,
    },
    /// The file holds no certificate.
    NoCertificate(PathBuf),
    /// The file holds no private key.
    NoKey(PathBuf),
    /// The file is not valid PEM.
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        error: String,
    },
    /// The CA file holds a certificate rustls refuses as a trust anchor.
    BadCa {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        error: String,
    },
    /// The key is not the certificate's.
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// A key of a kind rustls (ring) cannot use.
    UnsupportedKey {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        error: String,
    },
    /// rustls refused the configuration.
    Config(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { path, error } => write!(f, "{}: {error}", path.display()),
            TlsError::NoCertificate(p) => {
                write!(f, "{}: no PEM certificate in the file", p.display())
            }
            TlsError::NoKey(p) => write!(f, "{}: no PEM private key in the file", p.display()),
            TlsError::Pem { path, error } => write!(f, "{}: bad PEM: {error}", path.display()),
            TlsError::BadCa { path, error } => {
                write!(
                    f,
                    "{}: not a usable CA certificate: {error}",
                    path.display()
                )
            }
            TlsError::KeyMismatch { cert, key } => write!(
                f,
                "{} does not belong to the certificate in {}",
                key.display(),
                cert.display()
            ),
            TlsError::UnsupportedKey { path, error } => {
                write!(f, "{}: unsupported private key: {error}", path.display())
            }
            TlsError::Config(e) => write!(f, "TLS configuration: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// The only crypto provider we use.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];

fn versions(allow_tls12: bool) -> &'static [&'static SupportedProtocolVersion] {
    if allow_tls12 {
        rustls::ALL_VERSIONS
    } else {
        &TLS13_ONLY
    }
}

/// The server side: requires client certificates signed by `files.ca`.
pub fn server_config(files: TlsFiles, allow_tls12: bool) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let roots = load_roots(files.ca)?;
    let (chain, key) = load_identity(files, &provider)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::BadCa {
            path: files.ca.to_path_buf(),
            error: e.to_string(),
        })?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions(allow_tls12))
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The client side: trusts servers signed by `files.ca` and presents our certificate.
pub fn client_config(files: TlsFiles, allow_tls12: bool) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let roots = load_roots(files.ca)?;
    let (chain, key) = load_identity(files, &provider)?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions(allow_tls12))
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        path: path.to_path_buf(),
        error,
    })
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_path_buf(),
            error: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

/// The trust anchors. rustls would take any certificate; a leaf here is an operator's mistake
/// (the server's own certificate instead of the CA, say) that would refuse every peer later.
fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        let bad = |error: String| TlsError::BadCa {
            path: path.to_path_buf(),
            error,
        };
        match crate::grpc::transport::x509::is_ca(&cert) {
            Ok(true) => {}
            Ok(false) => {
                let who = crate::grpc::transport::x509::identities(&cert)
                    .map(|ids| ids.to_string())
                    .unwrap_or_default();
                return Err(bad(format!(
                    "certificate {who} is not a CA (no basicConstraints CA:TRUE)"
                )));
            }
            Err(e) => return Err(bad(e.to_string())),
        }
        roots.add(cert).map_err(|e| TlsError::BadCa {
            path: path.to_path_buf(),
            error: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// Our chain and key, checked to belong together.
fn load_identity(
    files: TlsFiles,
    provider: &CryptoProvider,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let chain = load_certs(files.cert)?;
    let pem = read(files.key)?;
    let key = match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(key) => key,
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey(files.key.to_path_buf()))
        }
        Err(e) => {
            return Err(TlsError::Pem {
                path: files.key.to_path_buf(),
                error: e.to_string(),
            })
        }
    };
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| TlsError::UnsupportedKey {
            path: files.key.to_path_buf(),
            error: e.to_string(),
        })?;
    CertifiedKey::new(chain.clone(), signing_key)
        .keys_match()
        .map_err(|_| TlsError::KeyMismatch {
            cert: files.cert.to_path_buf(),
            key: files.key.to_path_buf(),
        })?;
    Ok((chain, key))
}

/// A throw-away PKI made once per test process by `tests/gen-certs.sh`.
#[cfg(test)]
pub(crate) fn test_certs() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("oa-certs-{}", std::process::id()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gen-certs.sh");
        let st = std::process::Command::new("sh")
            .arg(script)
            .arg(&dir)
            .status()
            .expect("sh runs");
        assert!(st.success(), "tests/gen-certs.sh failed");
        dir
    })
    .clone()
}

/// Server and client (`client.pem`) configurations from the test PKI.
#[cfg(test)]
pub(crate) fn test_configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let d = test_certs();
    let files = |name: &str| (d.join(format!("{name}.pem")), d.join(format!("{name}.key")));
    let ca = d.join("ca.pem");
    let (cert, key) = files("server");
    let server = server_config(
        TlsFiles {
            ca: &ca,
            cert: &cert,
            key: &key,
        },
        false,
    )
    .expect("test server TLS");
    let (cert, key) = files("client");
    let client = client_config(
        TlsFiles {
            ca: &ca,
            cert: &cert,
            key: &key,
        },
        false,
    )
    .expect("test client TLS");
    (server, client)
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
