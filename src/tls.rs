//! TLS trust for outgoing connections (Notary servers, registries).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use x509_cert::der::Decode;

/// Why a CA bundle or a TLS client configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("invalid PEM: {0}")]
    Pem(std::io::Error),
    #[error("a CERTIFICATE block is not a valid X.509 certificate: {0}")]
    Certificate(x509_cert::der::Error),
    #[error("unusable CA certificate: {0}")]
    Unusable(rustls::Error),
    /// The protocol versions rustls's provider offers.
    #[error("{0}")]
    Config(rustls::Error),
}

/// Every `CERTIFICATE` block of a PEM text, each checked to be X.509 DER.
pub fn parse_pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut out = Vec::new();
    for item in rustls_pemfile::certs(&mut &pem[..]) {
        let der = item.map_err(TlsError::Pem)?;
        x509_cert::Certificate::from_der(der.as_ref()).map_err(TlsError::Certificate)?;
        out.push(der);
    }
    Ok(out)
}

/// Root store: exactly `ca_pem` when given (the prior plugin's
/// `NOTARY_ROOT_CA`), else the system roots, else the bundled Mozilla roots
/// (a managed plugin's rootfs has no system store).
pub fn root_store(ca_pem: Option<&str>) -> Result<rustls::RootCertStore, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        for c in parse_pem_certificates(pem.as_bytes())? {
            store.add(c).map_err(TlsError::Unusable)?;
        }
        return Ok(store);
    }
    let native = rustls_native_certs::load_native_certs();
    for c in native.certs {
        // A system certificate rustls cannot use is skipped, as curl does.
        let _ = store.add(c);
    }
    if store.is_empty() {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Ok(store)
}

/// A client TLS configuration trusting `ca_pem` (or the system roots).
pub fn client_config(ca_pem: Option<&str>) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(root_store(ca_pem)?)
        .with_no_client_auth();
    Ok(cfg)
}
