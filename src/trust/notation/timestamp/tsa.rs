//! The TSA's signature over the signed attributes, and the TSA
//! certificate profile (its leaf; the CAs share [`Cert::check_ca`]).

use der::asn1::ObjectIdentifier;
use ring::signature as sig;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use super::TimestampError;
use crate::trust::notation::chain::{Cert, ChainKind, KeyKind, ProfileError};
use crate::trust::notation::keys::{ecdsa_verify, Hash};

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const EKU_TIMESTAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// Verify the CMS signer's signature over `msg` with `cert`'s key.
pub(super) fn verify_signer(
    cert: &Cert,
    digest: Hash,
    sig_alg: &ObjectIdentifier,
    msg: &[u8],
    signature: &[u8],
) -> Result<(), TimestampError> {
    let bad = |m: &str| TimestampError::Signature(m.to_string());
    let key = cert.key_bytes();
    match (cert.key, *sig_alg) {
        (KeyKind::Rsa(_), RSA_ENCRYPTION | SHA256_RSA | SHA384_RSA | SHA512_RSA) => {
            let hash = match *sig_alg {
                SHA256_RSA => Hash::Sha256,
                SHA384_RSA => Hash::Sha384,
                SHA512_RSA => Hash::Sha512,
                _ => digest,
            };
            if hash != digest {
                return Err(bad("the signature and digest algorithms disagree"));
            }
            let alg: &dyn sig::VerificationAlgorithm = match hash {
                Hash::Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
                Hash::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
                Hash::Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            };
            sig::UnparsedPublicKey::new(alg, key)
                .verify(msg, signature)
                .map_err(|_| bad("it does not verify with the TSA certificate's key"))
        }
        (
            KeyKind::P256 | KeyKind::P384 | KeyKind::P521,
            EC_PUBLIC_KEY | ECDSA_SHA256 | ECDSA_SHA384 | ECDSA_SHA512,
        ) => {
            let hash = match *sig_alg {
                ECDSA_SHA256 => Hash::Sha256,
                ECDSA_SHA384 => Hash::Sha384,
                ECDSA_SHA512 => Hash::Sha512,
                _ => digest,
            };
            ecdsa_verify(cert.key, key, hash, msg, signature, true)
                .map_err(|_| bad("it does not verify with the TSA certificate's key"))
        }
        (k, a) => Err(TimestampError::Signature(format!(
            "signature algorithm {a} with a {k:?} key is not supported (RSA PKCS#1 v1.5 or ECDSA)"
        ))),
    }
}

/// The TSA certificate profile (notation-core-go
/// `ValidateTimestampingCertChain`): leaf first. The CAs follow the CA
/// profile both chains share ([`Cert::check_ca`]).
pub(in crate::trust::notation) fn check_tsa_profile(chain: &[Cert]) -> Result<(), ProfileError> {
    for (i, c) in chain.iter().enumerate() {
        match i {
            0 => check_tsa_leaf(c)?,
            _ => c.check_ca(i - 1, ChainKind::Timestamping)?,
        }
    }
    Ok(())
}

/// The TSA's own certificate: not a CA, keyUsage digitalSignature only,
/// extendedKeyUsage exactly timeStamping and critical.
fn check_tsa_leaf(c: &Cert) -> Result<(), ProfileError> {
    let name = c.subject_text();
    c.check_key_size(ChainKind::Timestamping)?;
    let bc = c.ext::<BasicConstraints>(BASIC_CONSTRAINTS)?;
    let Some((_, ku)) = c.ext::<KeyUsage>(KEY_USAGE)? else {
        return Err(ProfileError::NoKeyUsage(name));
    };
    if matches!(bc, Some((_, ref b)) if b.ca) {
        return Err(ProfileError::TsaIsCa(name));
    }
    if !ku.digital_signature()
        || ku.key_encipherment()
        || ku.data_encipherment()
        || ku.key_agreement()
        || ku.key_cert_sign()
        || ku.crl_sign()
        || ku.encipher_only()
        || ku.decipher_only()
    {
        return Err(ProfileError::TsaKeyUsage(name));
    }
    match c.ext::<ExtendedKeyUsage>(EXT_KEY_USAGE)? {
        Some((true, eku)) if eku.0 == [EKU_TIMESTAMPING] => Ok(()),
        Some((false, eku)) if eku.0 == [EKU_TIMESTAMPING] => {
            Err(ProfileError::TsaEkuNotCritical(name))
        }
        _ => Err(ProfileError::TsaEku(name)),
    }
}
