//! TLS trust for outgoing connections (Notary servers, registries).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use x509_cert::der::Decode;

/// Every `CERTIFICATE` block of a PEM text, each checked to be X.509 DER.
pub fn parse_pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut out = Vec::new();
    for item in rustls_pemfile::certs(&mut &pem[..]) {
        let der = item.map_err(|e| format!("invalid PEM: {e}"))?;
        x509_cert::Certificate::from_der(der.as_ref())
            .map_err(|e| format!("a CERTIFICATE block is not a valid X.509 certificate: {e}"))?;
        out.push(der);
    }
    Ok(out)
}

/// Root store: exactly `ca_pem` when given (the prior plugin's
/// `NOTARY_ROOT_CA`), else the system roots, else the bundled Mozilla roots
/// (a managed plugin's rootfs has no system store).
pub fn root_store(ca_pem: Option<&str>) -> Result<rustls::RootCertStore, String> {
    let mut store = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        for c in parse_pem_certificates(pem.as_bytes())? {
            store
                .add(c)
                .map_err(|e| format!("unusable CA certificate: {e}"))?;
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
pub fn client_config(ca_pem: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(root_store(ca_pem)?)
        .with_no_client_auth();
    Ok(cfg)
}
