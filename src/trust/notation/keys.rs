//! Signature primitives `ring` lacks: ECDSA on P-521 (ES512) and ECDSA
//! with a hash other than the curve's own (a certificate or a timestamp
//! signed `ecdsa-with-SHA512` by a P-256 key), verified over a prehash with
//! the RustCrypto curves.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::Digest as _;

use super::chain::KeyKind;

/// The digests Notation and RFC 3161 tokens use (SHA-1 is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => sha2::Sha256::digest(msg).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(msg).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(msg).to_vec(),
        }
    }

    /// From an AlgorithmIdentifier OID (NIST hash OIDs).
    pub fn from_oid(oid: &der::asn1::ObjectIdentifier) -> Option<Hash> {
        match oid.to_string().as_str() {
            "2.16.840.1.101.3.4.2.1" => Some(Hash::Sha256),
            "2.16.840.1.101.3.4.2.2" => Some(Hash::Sha384),
            "2.16.840.1.101.3.4.2.3" => Some(Hash::Sha512),
            _ => None,
        }
    }
}

/// An ECDSA signature (`asn1`: DER `Ecdsa-Sig-Value`, else fixed `r||s`)
/// over `msg` hashed with `hash`, by the EC key `point` of kind `kind`.
pub fn ecdsa_verify(
    kind: KeyKind,
    point: &[u8],
    hash: Hash,
    msg: &[u8],
    sig: &[u8],
    asn1: bool,
) -> Result<(), String> {
    let prehash = hash.digest(msg);
    let bad = |_| "the ECDSA signature does not verify".to_string();
    let form = |_| "the ECDSA signature is malformed".to_string();
    let key = |_| "the EC public key is invalid".to_string();
    macro_rules! curve {
        ($c:ident) => {{
            let k = $c::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(key)?;
            let s = if asn1 {
                $c::ecdsa::Signature::from_der(sig).map_err(form)?
            } else {
                $c::ecdsa::Signature::from_slice(sig).map_err(form)?
            };
            k.verify_prehash(&prehash, &s).map_err(bad)
        }};
    }
    match kind {
        KeyKind::P256 => curve!(p256),
        KeyKind::P384 => curve!(p384),
        KeyKind::P521 => curve!(p521),
        KeyKind::Rsa(_) => Err("an RSA key cannot verify an ECDSA signature".into()),
    }
}
