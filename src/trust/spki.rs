//! The SPKI of a PEM public key or certificate, for Notary root pins
//! (`key:` pins of the environment and `root_pin = { key = ... }` of a
//! policy file). Moved from `config` so that configuration reads no keys;
//! a candidate for the shared key-encoding module (`trust::keys`).

/// The SPKI (DER) of a PEM `PUBLIC KEY`, or of a PEM certificate's key.
pub fn public_key_spki(pem: &str) -> Result<Vec<u8>, String> {
    use x509_cert::der::{Decode, Encode};
    for item in rustls_pemfile::read_all(&mut pem.as_bytes()) {
        match item.map_err(|e| format!("invalid PEM: {e}"))? {
            rustls_pemfile::Item::SubjectPublicKeyInfo(spki) => {
                crate::trust::notary::keys::verifier_from_spki(spki.as_ref())
                    .map_err(|e| e.to_string())?;
                return Ok(spki.as_ref().to_vec());
            }
            rustls_pemfile::Item::X509Certificate(der) => {
                let c =
                    x509_cert::Certificate::from_der(der.as_ref()).map_err(|e| e.to_string())?;
                return c
                    .tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .map_err(|e| e.to_string());
            }
            _ => {}
        }
    }
    Err("no PUBLIC KEY or CERTIFICATE block".into())
}
