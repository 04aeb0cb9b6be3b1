//! cosign's signature encodings over the shared PEM SubjectPublicKeyInfo
//! keys (`trust::keys`): ECDSA in ASN.1 DER, Ed25519, RSA PKCS#1 v1.5 or PSS,
//! all over SHA-256 of the payload (cosign's default for every key type).

use sha2::{Digest as _, Sha256, Sha384, Sha512};

/// cosign's keys are the shared SPKI keys; this module adds cosign's
/// signature encodings to them.
pub use crate::trust::keys::PublicKey;

impl PublicKey {
    /// Verify `sig` over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::P256(k) => {
                use p256::ecdsa::signature::hazmat::PrehashVerifier;
                let Ok(s) = p256::ecdsa::Signature::from_der(sig) else {
                    return false;
                };
                k.verify_prehash(&Sha256::digest(msg), &s).is_ok()
            }
            PublicKey::P384(k) => {
                use p384::ecdsa::signature::hazmat::PrehashVerifier;
                let Ok(s) = p384::ecdsa::Signature::from_der(sig) else {
                    return false;
                };
                // cosign signs with SHA-256 by default; P-384 keys made
                // elsewhere often pair with SHA-384.
                k.verify_prehash(&Sha256::digest(msg), &s).is_ok()
                    || k.verify_prehash(&Sha384::digest(msg), &s).is_ok()
            }
            PublicKey::Ed25519(k) => {
                let Ok(s) = ed25519_dalek::Signature::from_slice(sig) else {
                    return false;
                };
                // cosign 3 signs with Ed25519ph (SHA-512 prehash, no
                // context) for Ed25519 keys; other tools sign pure Ed25519.
                // The two are domain-separated: neither yields the other.
                k.verify_strict(msg, &s).is_ok()
                    || k.verify_prehashed_strict(Sha512::new_with_prefix(msg), None, &s)
                        .is_ok()
            }
            PublicKey::Rsa(k) => {
                use rsa::signature::Verifier as _;
                let pkcs1 = rsa::pkcs1v15::Signature::try_from(sig).is_ok_and(|s| {
                    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k.clone())
                        .verify(msg, &s)
                        .is_ok()
                });
                pkcs1
                    || rsa::pss::Signature::try_from(sig).is_ok_and(|s| {
                        rsa::pss::VerifyingKey::<Sha256>::new(k.clone())
                            .verify(msg, &s)
                            .is_ok()
                    })
            }
        }
    }

    /// Verify `sig` over a message known only by its SHA-256 digest
    /// (Sigstore bundles' messageSignature).
    pub fn verify_prehashed_sha256(&self, digest: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::P256(k) => {
                use p256::ecdsa::signature::hazmat::PrehashVerifier;
                p256::ecdsa::Signature::from_der(sig)
                    .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok())
            }
            PublicKey::P384(k) => {
                use p384::ecdsa::signature::hazmat::PrehashVerifier;
                p384::ecdsa::Signature::from_der(sig)
                    .is_ok_and(|s| k.verify_prehash(digest, &s).is_ok())
            }
            PublicKey::Rsa(k) => {
                let scheme = rsa::Pkcs1v15Sign::new::<Sha256>();
                k.verify(scheme, digest, sig).is_ok()
            }
            // Ed25519 signs messages, not digests.
            PublicKey::Ed25519(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::cosign::signature::{pae, INTOTO};
    use base64::Engine as _;

    /// Issue 16: a DSSE bundle written by `cosign sign --key` (cosign 3.1.1)
    /// with an imported Ed25519 key is signed with Ed25519ph; it failed to
    /// verify before Ed25519ph was accepted.
    #[test]
    fn cosign3_ed25519_signatures_are_ed25519ph() {
        let key = PublicKey::from_pem(
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAyIQGMncof+cauyTKwoo8ht1HHR+omTfQ+lBWZu1Z+6o=\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        let payload = b64("eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEiLCJzdWJqZWN0IjpbeyJkaWdlc3QiOnsic2hhMjU2IjoiZjIwYzQzMTYxZDczODQ4NDA4ZWYyNDdmMGVjNzExMWIxOWZlNThmZmViYzBjYmNhYTBkMmM4YmRhNDk2NzI2OCJ9LCJhbm5vdGF0aW9ucyI6e319XSwicHJlZGljYXRlVHlwZSI6Imh0dHBzOi8vc2lnc3RvcmUuZGV2L2Nvc2lnbi9zaWduL3YxIiwicHJlZGljYXRlIjp7fX0=");
        let sig = b64("SLgdWNRSs5Ursuw50ja5v0m27Ot+oqEsez1fUIWa0DuTpF2Pr9wHIm8SYperQ9k/8GO9mn9Ezi3vj+jbY5JzAA==");
        let msg = pae(INTOTO, &payload);
        assert!(key.verify(&msg, &sig));
        let mut other = msg.clone();
        other.push(b' ');
        assert!(!key.verify(&other, &sig));
    }
}
