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

/// Why a primitive signature check or its parameters fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the ECDSA signature does not verify")]
    Mismatch,
    #[error("the ECDSA signature is malformed")]
    MalformedSignature,
    #[error("the EC public key is invalid")]
    InvalidKey,
    #[error("an RSA key cannot verify an ECDSA signature")]
    NotEc,
    #[error("RSASSA-PSS parameters: {0}")]
    Pss(PssError),
}

/// Why RSASSA-PSS parameters are not ones `ring` verifies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PssError {
    #[error("absent")]
    Absent,
    #[error("{0}")]
    Undecodable(String),
    #[error("the hash is not SHA-256, SHA-384 or SHA-512")]
    Hash,
    #[error("the mask generation is not MGF1 with the same hash")]
    Mgf,
    #[error("the salt length is not the digest length")]
    Salt,
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
) -> Result<(), KeyError> {
    let prehash = hash.digest(msg);
    let bad = |_| KeyError::Mismatch;
    let form = |_| KeyError::MalformedSignature;
    let key = |_| KeyError::InvalidKey;
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
        KeyKind::Rsa(_) => Err(KeyError::NotEc),
    }
}

/// RSASSA-PSS-params (RFC 4055); absent fields mean SHA-1, refused.
#[derive(Debug, der::Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<x509_cert::spki::AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mgf: Option<x509_cert::spki::AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer: Option<u32>,
}

const MGF1: &str = "1.2.840.113549.1.1.8";

/// The hash of an RSASSA-PSS certificate signature whose parameters are
/// the ones `ring` verifies: SHA-2 hash, MGF1 with the same hash, salt as
/// long as the digest, the standard trailer.
pub fn pss_hash(params: Option<&der::Any>) -> Result<Hash, KeyError> {
    let bad = KeyError::Pss;
    let p: PssParams = params
        .ok_or(bad(PssError::Absent))?
        .decode_as()
        .map_err(|e| bad(PssError::Undecodable(e.to_string())))?;
    let hash = p
        .hash
        .as_ref()
        .and_then(|h| Hash::from_oid(&h.oid))
        .ok_or(bad(PssError::Hash))?;
    let mgf_hash = p
        .mgf
        .as_ref()
        .filter(|m| m.oid.to_string() == MGF1)
        .and_then(|m| m.parameters.as_ref())
        .and_then(|a| {
            a.decode_as::<x509_cert::spki::AlgorithmIdentifierOwned>()
                .ok()
        })
        .and_then(|a| Hash::from_oid(&a.oid));
    if mgf_hash != Some(hash) {
        return Err(bad(PssError::Mgf));
    }
    let len = match hash {
        Hash::Sha256 => 32,
        Hash::Sha384 => 48,
        Hash::Sha512 => 64,
    };
    if p.salt != Some(len) || p.trailer.is_some_and(|t| t != 1) {
        return Err(bad(PssError::Salt));
    }
    Ok(hash)
}
