//! Certificates of a Notation signature: the key and its algorithm, the
//! subject DN, the Notary Project certificate profile (basic constraints,
//! key usage, EKU, key sizes, no SHA-1), and the chain's own signatures
//! (each certificate signed by the next, the last self-signed).

use std::collections::BTreeMap;

use ring::signature as sig;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode, Tag, Tagged};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use super::dn::Dn;
use super::keys::{ecdsa_verify, pss_hash, Hash, KeyError};

const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const SHA1_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
const SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const ECDSA_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const CRL_DP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
const AIA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");
/// id-ad-ocsp, DER content octets (looked for inside the AIA extension).
const OCSP_ACCESS: &[u8] = &[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
const EKU_ANY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");
const EKU_SERVER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const EKU_CLIENT: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
const EKU_EMAIL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");
const EKU_TIMESTAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// Why a certificate cannot be read (its DER, key, subject, extensions).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("not an X.509 certificate: {0}")]
    Der(String),
    #[error("not an X.509 certificate: bad DER framing")]
    Framing,
    #[error("the public key is not a whole number of bytes")]
    KeyBits,
    #[error("the RSA key: {0}")]
    RsaKey(String),
    #[error("an EC key on a curve other than P-256, P-384 or P-521")]
    Curve,
    #[error("key algorithm {0} is not RSA or EC")]
    KeyAlgorithm(ObjectIdentifier),
    #[error("the subject has a multi-valued RDN")]
    MultiValuedRdn,
    #[error("subject attribute {0} is not UTF-8")]
    AttributeUtf8(String),
    #[error("subject attribute {key} has unsupported type {tag}")]
    AttributeType { key: String, tag: Tag },
    #[error("the subject repeats attribute {0}")]
    RepeatedAttribute(String),
    #[error("the certificate repeats extension {0}")]
    RepeatedExtension(ObjectIdentifier),
    #[error("extension {oid}: {why}")]
    Extension { oid: ObjectIdentifier, why: String },
}

/// Why a signature by a certificate's key does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("it is signed with SHA-1, which Notation forbids")]
    Sha1,
    #[error(transparent)]
    Parameters(KeyError),
    #[error("the certificate signature is not whole bytes")]
    NotWholeBytes,
    #[error("its signature does not verify with the issuer's key")]
    Mismatch,
    #[error("signature algorithm {alg} does not fit the issuer's {key:?} key")]
    Unfit { alg: ObjectIdentifier, key: KeyKind },
    /// The envelope's own signature (JWS or COSE) by the leaf.
    #[error("the signature does not verify with the signing certificate's key")]
    Envelope,
}

/// The two chains the Notary Project certificate profile covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainKind {
    /// The signing chain (`notary.x509` and signing-authority).
    Signing,
    /// A timestamping authority's chain (RFC 3161 countersignature).
    Timestamping,
}

/// Why a certificate does not fit the certificate profile of its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Cert(#[from] CertError),
    /// An RSA key below 2048 bits (`subject` named on the TSA chain).
    #[error("{}its RSA key has {bits} bits, below 2048", subject.as_ref().map(|s| format!("{s:?}: ")).unwrap_or_default())]
    RsaBits {
        bits: usize,
        subject: Option<String>,
    },
    #[error("the signing certificate is a CA (basicConstraints cA=true)")]
    LeafIsCa,
    #[error("the signing certificate has no keyUsage extension")]
    LeafNoKeyUsage,
    #[error("the signing certificate's keyUsage is not critical")]
    LeafKeyUsageNotCritical,
    #[error("the signing certificate's keyUsage lacks digitalSignature")]
    LeafNoDigitalSignature,
    #[error("the signing certificate's keyUsage allows more than signing")]
    LeafKeyUsageTooBroad,
    #[error("the signing certificate's extendedKeyUsage has {0}, which Notation forbids")]
    LeafForbiddenEku(ObjectIdentifier),
    #[error("the TSA certificate {0:?} is a CA")]
    TsaIsCa(String),
    #[error("the TSA certificate {0:?} must have keyUsage digitalSignature only")]
    TsaKeyUsage(String),
    #[error("the TSA certificate {0:?} has a non-critical extendedKeyUsage; it must be critical")]
    TsaEkuNotCritical(String),
    #[error("the TSA certificate {0:?} must have extendedKeyUsage timeStamping and nothing else")]
    TsaEku(String),
    /// A TSA chain certificate without keyUsage.
    #[error("{0:?} has no keyUsage extension")]
    NoKeyUsage(String),
    #[error("{}", match chain {
        ChainKind::Signing => format!("{subject:?} issues a certificate of the chain but has no critical basicConstraints cA=true"),
        ChainKind::Timestamping => format!("{subject:?} issues a certificate of the TSA chain but is not a CA"),
    })]
    NotCa { subject: String, chain: ChainKind },
    #[error("CA {subject:?} allows {allowed} CA certificates below it, the chain has {below}")]
    PathLen {
        subject: String,
        allowed: u8,
        below: usize,
    },
    #[error("{}", match chain {
        ChainKind::Signing => format!("CA {subject:?} has no critical keyUsage with keyCertSign"),
        ChainKind::Timestamping => format!("CA {subject:?} lacks keyUsage keyCertSign"),
    })]
    NoKeyCertSign { subject: String, chain: ChainKind },
}

/// Why a signing chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("the envelope carries no certificate")]
    Empty,
    #[error("the certificate chain has {0} certificates (at most 10)")]
    TooLong(usize),
    #[error("certificate {index} of the chain: {source}")]
    Parse { index: usize, source: CertError },
    #[error("certificate {index} of the chain ({subject}): {source}")]
    Profile {
        index: usize,
        subject: String,
        source: ProfileError,
    },
    #[error("certificate {index} ({subject}) is not issued by the next one ({issuer}): the chain is out of order or incomplete (the root must be included)")]
    Order {
        index: usize,
        subject: String,
        issuer: String,
    },
    #[error("certificate {index} ({subject}): {source}")]
    Signature {
        index: usize,
        subject: String,
        source: SignatureError,
    },
}

/// A key size the envelope algorithm table has no entry for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an RSA key of {0} bits has no Notation algorithm (2048, 3072 or 4096)")]
pub struct NoAlgorithm(pub usize);

/// A signing key, as the Notation algorithm table knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa(usize),
    P256,
    P384,
    P521,
}

/// The envelope algorithms of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    Es512,
}

impl Alg {
    pub fn from_jws(s: &str) -> Option<Alg> {
        Some(match s {
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "ES512" => Alg::Es512,
            _ => return None,
        })
    }

    pub fn jws(self) -> &'static str {
        match self {
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
        }
    }
}

impl KeyKind {
    /// The one algorithm a key of this kind signs with.
    pub fn alg(self) -> Result<Alg, NoAlgorithm> {
        Ok(match self {
            KeyKind::Rsa(2048) => Alg::Ps256,
            KeyKind::Rsa(3072) => Alg::Ps384,
            KeyKind::Rsa(4096) => Alg::Ps512,
            KeyKind::Rsa(n) => return Err(NoAlgorithm(n)),
            KeyKind::P256 => Alg::Es256,
            KeyKind::P384 => Alg::Es384,
            KeyKind::P521 => Alg::Es512,
        })
    }
}

/// A parsed certificate with what the checks need.
#[derive(Debug, Clone)]
pub struct Cert {
    pub der: Vec<u8>,
    tbs: Vec<u8>,
    cert: x509_cert::Certificate,
    pub key: KeyKind,
    /// The subjectPublicKey bits (PKCS#1 for RSA, the point for EC).
    key_bytes: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
}

fn secs(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// One DER TLV at the start of `b`: (header length, total length).
fn tlv(b: &[u8]) -> Option<(usize, usize)> {
    let first = *b.get(1)?;
    let (hl, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (2 + n, len)
    };
    let total = hl.checked_add(len)?;
    (total <= b.len()).then_some((hl, total))
}

/// The TBSCertificate bytes exactly as received.
fn raw_tbs(der: &[u8]) -> Option<&[u8]> {
    let (hl, _) = tlv(der)?;
    let inner = der.get(hl..)?;
    let (_, total) = tlv(inner)?;
    inner.get(..total)
}

fn name_dn(name: &x509_cert::name::Name) -> Result<Dn, CertError> {
    let mut map = BTreeMap::new();
    for rdn in &name.0 {
        if rdn.0.len() != 1 {
            return Err(CertError::MultiValuedRdn);
        }
        for atv in rdn.0.iter() {
            let key = match atv.oid.to_string().as_str() {
                "2.5.4.6" => "C".to_string(),
                "2.5.4.8" => "ST".into(),
                "2.5.4.7" => "L".into(),
                "2.5.4.10" => "O".into(),
                "2.5.4.11" => "OU".into(),
                "2.5.4.3" => "CN".into(),
                "2.5.4.5" => "SERIALNUMBER".into(),
                "2.5.4.9" => "STREET".into(),
                "2.5.4.17" => "POSTALCODE".into(),
                o => o.to_string(),
            };
            let v = match atv.value.tag() {
                Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
                    std::str::from_utf8(atv.value.value())
                        .map_err(|_| CertError::AttributeUtf8(key.clone()))?
                        .to_string()
                }
                Tag::TeletexString if atv.value.value().is_ascii() => {
                    String::from_utf8_lossy(atv.value.value()).into_owned()
                }
                tag => return Err(CertError::AttributeType { key, tag }),
            };
            if map.insert(key.clone(), v).is_some() {
                return Err(CertError::RepeatedAttribute(key));
            }
        }
    }
    Ok(Dn(map))
}

impl Cert {
    pub fn parse(der: &[u8]) -> Result<Cert, CertError> {
        let cert =
            x509_cert::Certificate::from_der(der).map_err(|e| CertError::Der(e.to_string()))?;
        let tbs = raw_tbs(der).ok_or(CertError::Framing)?.to_vec();
        let spki = &cert.tbs_certificate.subject_public_key_info;
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or(CertError::KeyBits)?
            .to_vec();
        let key = if spki.algorithm.oid == RSA {
            use rsa::pkcs1::DecodeRsaPublicKey;
            use rsa::traits::PublicKeyParts;
            let k = rsa::RsaPublicKey::from_pkcs1_der(&key_bytes)
                .map_err(|e| CertError::RsaKey(e.to_string()))?;
            KeyKind::Rsa(k.n().bits())
        } else if spki.algorithm.oid == EC {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            match curve {
                Some(P256) => KeyKind::P256,
                Some(P384) => KeyKind::P384,
                Some(P521) => KeyKind::P521,
                _ => return Err(CertError::Curve),
            }
        } else {
            return Err(CertError::KeyAlgorithm(spki.algorithm.oid));
        };
        let v = &cert.tbs_certificate.validity;
        Ok(Cert {
            der: der.to_vec(),
            tbs,
            key,
            key_bytes,
            not_before: secs(&v.not_before),
            not_after: secs(&v.not_after),
            cert,
        })
    }

    pub fn subject(&self) -> Result<Dn, CertError> {
        name_dn(&self.cert.tbs_certificate.subject)
    }

    pub fn subject_text(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }

    pub(super) fn ext<T: for<'a> Decode<'a>>(
        &self,
        oid: ObjectIdentifier,
    ) -> Result<Option<(bool, T)>, CertError> {
        let mut found = None;
        for e in self.cert.tbs_certificate.extensions.iter().flatten() {
            if e.extn_id == oid {
                if found.is_some() {
                    return Err(CertError::RepeatedExtension(oid));
                }
                let v =
                    T::from_der(e.extn_value.as_bytes()).map_err(|err| CertError::Extension {
                        oid,
                        why: err.to_string(),
                    })?;
                found = Some((e.critical, v));
            }
        }
        Ok(found)
    }

    pub fn is_ca(&self) -> bool {
        matches!(self.ext::<BasicConstraints>(BASIC_CONSTRAINTS), Ok(Some((_, b))) if b.ca)
    }

    pub(super) fn same_name(&self, issuer: &Cert) -> bool {
        match (
            self.cert.tbs_certificate.issuer.to_der(),
            issuer.cert.tbs_certificate.subject.to_der(),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }

    pub fn self_signed(&self) -> bool {
        self.same_name(self) && self.signed_by(self).is_ok()
    }

    /// Does `issuer`'s key verify this certificate's signature?
    pub fn signed_by(&self, issuer: &Cert) -> Result<(), SignatureError> {
        let alg = &self.cert.signature_algorithm.oid;
        let verify: &dyn sig::VerificationAlgorithm = match (*alg, issuer.key) {
            (SHA1_RSA | ECDSA_SHA1, _) => return Err(SignatureError::Sha1),
            (RSA_PSS, KeyKind::Rsa(_)) => {
                match pss_hash(self.cert.signature_algorithm.parameters.as_ref())
                    .map_err(SignatureError::Parameters)?
                {
                    Hash::Sha256 => &sig::RSA_PSS_2048_8192_SHA256,
                    Hash::Sha384 => &sig::RSA_PSS_2048_8192_SHA384,
                    Hash::Sha512 => &sig::RSA_PSS_2048_8192_SHA512,
                }
            }
            (SHA256_RSA, KeyKind::Rsa(_)) => &sig::RSA_PKCS1_2048_8192_SHA256,
            (SHA384_RSA, KeyKind::Rsa(_)) => &sig::RSA_PKCS1_2048_8192_SHA384,
            (SHA512_RSA, KeyKind::Rsa(_)) => &sig::RSA_PKCS1_2048_8192_SHA512,
            (ECDSA_SHA256, KeyKind::P256) => &sig::ECDSA_P256_SHA256_ASN1,
            (ECDSA_SHA384, KeyKind::P256) => &sig::ECDSA_P256_SHA384_ASN1,
            (ECDSA_SHA256, KeyKind::P384) => &sig::ECDSA_P384_SHA256_ASN1,
            (ECDSA_SHA384, KeyKind::P384) => &sig::ECDSA_P384_SHA384_ASN1,
            // ring has neither P-521 nor ECDSA with SHA-512.
            (
                ECDSA_SHA256 | ECDSA_SHA384 | ECDSA_SHA512,
                KeyKind::P256 | KeyKind::P384 | KeyKind::P521,
            ) => {
                let hash = match *alg {
                    ECDSA_SHA256 => Hash::Sha256,
                    ECDSA_SHA384 => Hash::Sha384,
                    _ => Hash::Sha512,
                };
                let s = self
                    .cert
                    .signature
                    .as_bytes()
                    .ok_or(SignatureError::NotWholeBytes)?;
                return ecdsa_verify(issuer.key, &issuer.key_bytes, hash, &self.tbs, s, true)
                    .map_err(|_| SignatureError::Mismatch);
            }
            (alg, key) => return Err(SignatureError::Unfit { alg, key }),
        };
        let s = self
            .cert
            .signature
            .as_bytes()
            .ok_or(SignatureError::NotWholeBytes)?;
        sig::UnparsedPublicKey::new(verify, &issuer.key_bytes)
            .verify(&self.tbs, s)
            .map_err(|_| SignatureError::Mismatch)
    }

    /// A primitive signature (JWS form: raw r||s for ECDSA) over `msg`.
    pub fn verify_signature(
        &self,
        alg: Alg,
        msg: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let verify: &dyn sig::VerificationAlgorithm = match alg {
            Alg::Ps256 => &sig::RSA_PSS_2048_8192_SHA256,
            Alg::Ps384 => &sig::RSA_PSS_2048_8192_SHA384,
            Alg::Ps512 => &sig::RSA_PSS_2048_8192_SHA512,
            Alg::Es256 => &sig::ECDSA_P256_SHA256_FIXED,
            Alg::Es384 => &sig::ECDSA_P384_SHA384_FIXED,
            Alg::Es512 => {
                return ecdsa_verify(
                    self.key,
                    &self.key_bytes,
                    Hash::Sha512,
                    msg,
                    signature,
                    false,
                )
                .map_err(|_| SignatureError::Envelope)
            }
        };
        sig::UnparsedPublicKey::new(verify, &self.key_bytes)
            .verify(msg, signature)
            .map_err(|_| SignatureError::Envelope)
    }

    /// Does the certificate name an OCSP responder or a CRL?
    pub fn names_revocation_source(&self) -> bool {
        self.cert
            .tbs_certificate
            .extensions
            .iter()
            .flatten()
            .any(|e| {
                e.extn_id == CRL_DP
                    || (e.extn_id == AIA
                        && e.extn_value
                            .as_bytes()
                            .windows(OCSP_ACCESS.len())
                            .any(|w| w == OCSP_ACCESS))
            })
    }

    /// No RSA key below 2048 bits, at any position of either chain.
    pub(super) fn check_key_size(&self, chain: ChainKind) -> Result<(), ProfileError> {
        match self.key {
            KeyKind::Rsa(bits) if bits < 2048 => Err(ProfileError::RsaBits {
                bits,
                subject: (chain == ChainKind::Timestamping).then(|| self.subject_text()),
            }),
            _ => Ok(()),
        }
    }

    /// The Notary Project certificate profile of a code-signing leaf (or
    /// of a lone self-signed certificate).
    pub fn check_signing_leaf(&self) -> Result<(), ProfileError> {
        self.check_key_size(ChainKind::Signing)?;
        let bc = self.ext::<BasicConstraints>(BASIC_CONSTRAINTS)?;
        let ku = self.ext::<KeyUsage>(KEY_USAGE)?;
        let eku = self.ext::<ExtendedKeyUsage>(EXT_KEY_USAGE)?;
        if matches!(bc, Some((_, ref b)) if b.ca) {
            return Err(ProfileError::LeafIsCa);
        }
        let Some((critical, ku)) = ku else {
            return Err(ProfileError::LeafNoKeyUsage);
        };
        if !critical {
            return Err(ProfileError::LeafKeyUsageNotCritical);
        }
        if !ku.digital_signature() {
            return Err(ProfileError::LeafNoDigitalSignature);
        }
        if ku.key_encipherment()
            || ku.data_encipherment()
            || ku.key_agreement()
            || ku.key_cert_sign()
            || ku.crl_sign()
            || ku.encipher_only()
            || ku.decipher_only()
        {
            return Err(ProfileError::LeafKeyUsageTooBroad);
        }
        if let Some((_, eku)) = eku {
            for bad in [EKU_ANY, EKU_SERVER, EKU_CLIENT, EKU_EMAIL, EKU_TIMESTAMPING] {
                if eku.0.contains(&bad) {
                    return Err(ProfileError::LeafForbiddenEku(bad));
                }
            }
        }
        Ok(())
    }

    /// The CA profile of both chains (`below`: CA certificates under this
    /// one): basicConstraints cA=true whose pathLen allows `below`, and
    /// keyUsage keyCertSign. The signing chain (Notary Project profile)
    /// wants both extensions critical and a well-formed extendedKeyUsage;
    /// the TSA chain (notation-core-go `ValidateTimestampingCertChain`)
    /// checks the values only and names a missing keyUsage first.
    pub fn check_ca(&self, below: usize, chain: ChainKind) -> Result<(), ProfileError> {
        self.check_key_size(chain)?;
        let bc = self.ext::<BasicConstraints>(BASIC_CONSTRAINTS)?;
        let ku = self.ext::<KeyUsage>(KEY_USAGE)?;
        let strict = chain == ChainKind::Signing;
        if strict {
            self.ext::<ExtendedKeyUsage>(EXT_KEY_USAGE)?;
        } else if ku.is_none() {
            return Err(ProfileError::NoKeyUsage(self.subject_text()));
        }
        match bc {
            Some((critical, b)) if b.ca && (critical || !strict) => {
                if let Some(allowed) = b.path_len_constraint {
                    if below > usize::from(allowed) {
                        return Err(ProfileError::PathLen {
                            subject: self.subject_text(),
                            allowed,
                            below,
                        });
                    }
                }
            }
            _ => {
                return Err(ProfileError::NotCa {
                    subject: self.subject_text(),
                    chain,
                })
            }
        }
        match ku {
            Some((critical, ku)) if ku.key_cert_sign() && (critical || !strict) => Ok(()),
            _ => Err(ProfileError::NoKeyCertSign {
                subject: self.subject_text(),
                chain,
            }),
        }
    }

    pub fn valid_at(&self, t: i64) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// The parsed certificate (revocation reads its extensions and serial).
    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.cert
    }

    /// The subjectPublicKey bits (responses to verify, OCSP key hash).
    pub fn key_bytes(&self) -> &[u8] {
        &self.key_bytes
    }
}

/// Check a signing chain (leaf first, root last and included): profile,
/// names and signatures. Returns the parsed certificates.
pub fn verify_chain(ders: &[Vec<u8>]) -> Result<Vec<Cert>, ChainError> {
    if ders.is_empty() {
        return Err(ChainError::Empty);
    }
    if ders.len() > 10 {
        return Err(ChainError::TooLong(ders.len()));
    }
    let certs: Vec<Cert> = ders
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Cert::parse(d).map_err(|source| ChainError::Parse {
                index: i + 1,
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    for (i, c) in certs.iter().enumerate() {
        // A lone self-signed certificate follows the leaf rules.
        let profile = if i == 0 || certs.len() == 1 {
            c.check_signing_leaf()
        } else {
            c.check_ca(i.saturating_sub(1), ChainKind::Signing)
        };
        profile.map_err(|source| ChainError::Profile {
            index: i + 1,
            subject: c.subject_text(),
            source,
        })?;
        let issuer = certs.get(i + 1).unwrap_or(c);
        if !c.same_name(issuer) {
            return Err(ChainError::Order {
                index: i + 1,
                subject: c.subject_text(),
                issuer: issuer.subject_text(),
            });
        }
        c.signed_by(issuer)
            .map_err(|source| ChainError::Signature {
                index: i + 1,
                subject: c.subject_text(),
                source,
            })?;
    }
    Ok(certs)
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
