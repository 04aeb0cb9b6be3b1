//! Public keys as SubjectPublicKeyInfo (SPKI), shared by Notary v1 and
//! cosign: one decoder and one RSA floor. Each format keeps its own
//! signature encodings next to its parser (`notary::keys`, `cosign::keys`);
//! this module only says which keys exist and how they are read.

use p256::pkcs8::{DecodePublicKey, EncodePublicKey};

/// RSA keys below this size are refused (notary and cosign agree).
pub const MIN_RSA_BITS: usize = 2048;

/// A verification key of one of the supported kinds.
#[derive(Debug, Clone)]
pub enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(rsa::RsaPublicKey),
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki() == other.spki()
    }
}

/// Why bytes are not an acceptable public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("RSA key of {0} bits is below {MIN_RSA_BITS}")]
    RsaTooSmall(usize),
    #[error("not a P-256, P-384, Ed25519 or RSA public key")]
    Unsupported,
    #[error("invalid PEM: {0}")]
    Pem(String),
    #[error("no PUBLIC KEY block")]
    NoPublicKeyBlock,
}

impl PublicKey {
    /// From SubjectPublicKeyInfo DER.
    pub fn from_spki(der: &[u8]) -> Result<PublicKey, KeyError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::P256(k));
        }
        if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::P384(k));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Ok(PublicKey::Ed25519(k));
        }
        if let Ok(k) = rsa::RsaPublicKey::from_public_key_der(der) {
            use rsa::traits::PublicKeyParts;
            let bits = k.size() * 8;
            if bits < MIN_RSA_BITS {
                return Err(KeyError::RsaTooSmall(bits));
            }
            return Ok(PublicKey::Rsa(k));
        }
        Err(KeyError::Unsupported)
    }

    /// From the first PEM `PUBLIC KEY` block of `pem`.
    pub fn from_pem(pem: &str) -> Result<PublicKey, KeyError> {
        for item in rustls_pemfile::read_all(&mut pem.as_bytes()) {
            if let rustls_pemfile::Item::SubjectPublicKeyInfo(spki) =
                item.map_err(|e| KeyError::Pem(e.to_string()))?
            {
                return PublicKey::from_spki(spki.as_ref());
            }
        }
        Err(KeyError::NoPublicKeyBlock)
    }

    /// SubjectPublicKeyInfo DER, for comparisons.
    pub fn spki(&self) -> Vec<u8> {
        let der = match self {
            PublicKey::P256(k) => k.to_public_key_der(),
            PublicKey::P384(k) => k.to_public_key_der(),
            PublicKey::Ed25519(k) => k.to_public_key_der(),
            PublicKey::Rsa(k) => k.to_public_key_der(),
        };
        der.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// The public key itself, one encoding per key whatever wrapped it
    /// (SPKI, compressed point or not, a certificate of any kind): what
    /// Notary's thresholds count, so that one key listed under two key IDs
    /// is one signer.
    pub fn identity(&self) -> Vec<u8> {
        match self {
            PublicKey::Ed25519(k) => [b"ed25519:".as_slice(), k.as_bytes()].concat(),
            PublicKey::P256(k) => {
                [b"p256:".as_slice(), k.to_encoded_point(false).as_bytes()].concat()
            }
            PublicKey::P384(k) => {
                [b"p384:".as_slice(), k.to_encoded_point(false).as_bytes()].concat()
            }
            PublicKey::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                let n = k.n().to_bytes_be();
                let len = u32::try_from(n.len()).unwrap_or(u32::MAX).to_be_bytes();
                [b"rsa:".as_slice(), &len, &n, &k.e().to_bytes_be()].concat()
            }
        }
    }
}
