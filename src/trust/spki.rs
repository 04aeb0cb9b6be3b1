//! The SPKI of a PEM public key or certificate, for Notary root pins
//! (`key:` pins of the environment and `root_pin = { key = ... }` of a
//! policy file). Moved from `config` so that configuration reads no keys;
//! a candidate for the shared key-encoding module (`trust::keys`).

/// Why a pin file yields no usable public key.
#[derive(Debug, thiserror::Error)]
pub enum SpkiError {
    #[error("invalid PEM: {0}")]
    Pem(std::io::Error),
    /// A `PUBLIC KEY` Notary cannot verify with.
    #[error("{0}")]
    Key(crate::trust::notary::TufError),
    /// A `CERTIFICATE` that is not X.509 DER (or whose key re-encodes badly).
    #[error("{0}")]
    Certificate(x509_cert::der::Error),
    #[error("no PUBLIC KEY or CERTIFICATE block")]
    NoKey,
}

/// The SPKI (DER) of a PEM `PUBLIC KEY`, or of a PEM certificate's key.
pub fn public_key_spki(pem: &str) -> Result<Vec<u8>, SpkiError> {
    use x509_cert::der::{Decode, Encode};
    for item in rustls_pemfile::read_all(&mut pem.as_bytes()) {
        match item.map_err(SpkiError::Pem)? {
            rustls_pemfile::Item::SubjectPublicKeyInfo(spki) => {
                crate::trust::notary::keys::verifier_from_spki(spki.as_ref())
                    .map_err(SpkiError::Key)?;
                return Ok(spki.as_ref().to_vec());
            }
            rustls_pemfile::Item::X509Certificate(der) => {
                let c = x509_cert::Certificate::from_der(der.as_ref())
                    .map_err(SpkiError::Certificate)?;
                return c
                    .tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .map_err(SpkiError::Certificate);
            }
            _ => {}
        }
    }
    Err(SpkiError::NoKey)
}
