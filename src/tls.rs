//! TLS trust for outgoing connections (Notary server, registries).

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
