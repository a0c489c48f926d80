//! The HTTPS server: serving certificate from files or generated at start, client certificates verified
//! against the request-header CA, and each connection's verified identity handed to the router.

use super::auth::PeerIdentity;
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("--tls-cert-file {path}: {message}")]
    CertFile { path: PathBuf, message: String },
    #[error("--tls-private-key-file {path}: {message}")]
    KeyFile { path: PathBuf, message: String },
    #[error("requestheader-client-ca-file: {0}")]
    ClientCa(String),
    #[error("generating a self-signed serving certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Where the serving certificate comes from.
#[derive(Clone, Debug)]
pub enum ServingCert {
    /// PEM files, typically a mounted Secret whose CA is the APIService's `caBundle`.
    Files { cert: PathBuf, key: PathBuf },
    /// A fresh self-signed certificate for these DNS names; the APIService must then skip TLS verification.
    SelfSigned { dns_names: Vec<String> },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the serving certificate and key as the server will, so bad files fail the start before anything
/// else is contacted.
pub fn check(cert: &ServingCert) -> Result<(), TlsError> {
    load(cert).map(|_| ())
}

fn load(cert: &ServingCert) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    match cert {
        ServingCert::Files { cert, key } => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| TlsError::CertFile {
                    path: cert.clone(),
                    message: e.to_string(),
                })?;
            if chain.is_empty() {
                return Err(TlsError::CertFile {
                    path: cert.clone(),
                    message: "no certificate in file".into(),
                });
            }
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::KeyFile {
                path: key.clone(),
                message: e.to_string(),
            })?;
            Ok((chain, key_der))
        }
        ServingCert::SelfSigned { dns_names } => {
            let generated = rcgen::generate_simple_self_signed(dns_names.clone())?;
            let key_der = PrivateKeyDer::try_from(generated.signing_key.serialize_der())
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            Ok((vec![generated.cert.der().clone()], key_der))
        }
    }
}

/// A server config that asks for, but does not require, a client certificate chaining to `client_ca_pem`:
/// health probes come without one, and the router refuses `/apis` to connections that lack it.
pub fn server_config(cert: &ServingCert, client_ca_pem: &str) -> Result<Arc<ServerConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
        let ca = ca.map_err(|e| TlsError::ClientCa(e.to_string()))?;
        roots.add(ca).map_err(|e| TlsError::ClientCa(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(TlsError::ClientCa("no certificate in the bundle".into()));
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::ClientCa(e.to_string()))?;
    let (chain, key) = load(cert)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The common name of a verified client certificate.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let name = parsed
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    Some(name)
}

/// Accepts TLS connections forever, each served on its own task so one slow client cannot stall others.
pub async fn serve(listener: TcpListener, config: Arc<ServerConfig>, router: Router) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(%remote, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            // rustls only keeps peer certificates that passed verification against the client CA.
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(common_name);
            let router = match peer {
                Some(common_name) => router.layer(Extension(PeerIdentity { common_name })),
                None => router,
            };
            let service = TowerToHyperService::new(router);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // As for the handshake: a client that never finishes its headers does not keep its task forever.
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10));
            if let Err(error) = builder.serve_connection(TokioIo::new(tls), service).await {
                tracing::debug!(%remote, %error, "connection ended with an error");
            }
        });
    }
}
