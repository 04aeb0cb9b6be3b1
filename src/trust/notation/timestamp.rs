//! RFC 3161 timestamp countersignatures of a Notation signature
//! (`io.cncf.notary.timestampSignature`, JWS and COSE unprotected header):
//! a DER CMS SignedData `TimeStampToken` verified as notation-go (tspclient-go
//! and notation-core-go) does: the `TSTInfo` imprint is the hash of the
//! envelope's primitive signature value; one signer, found in the token's
//! certificates, bound by the `signing-certificate-v2` attribute (RFC 5035,
//! required), with matching `content-type` and `message-digest` attributes
//! and a valid signature over them; its chain built through the token's
//! certificates to a certificate of the policy's `tsa` stores, every
//! certificate valid at `genTime`, and the TSA certificate profile (leaf:
//! keyUsage digitalSignature only, extendedKeyUsage exactly `timeStamping`
//! and critical; CAs: cA=true, pathLen, keyCertSign). The result is the
//! interval `genTime ± accuracy` (1 s for the RFC 3628 baseline policy
//! without accuracy, as tspclient-go).

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use ring::signature as sig;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier};
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::chain::{Cert, ChainKind, KeyKind, ProfileError};
use super::keys::{ecdsa_verify, Hash};

const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const SIGNING_CERT_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
/// ETSI baseline time-stamp policy (RFC 3628): accuracy 1 s when unstated.
const BASELINE_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.2023.1.1");
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
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const EKU_TIMESTAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// A token's chain is short; a longer one is refused rather than walked.
const MAX_CHAIN: usize = 8;

/// Why a timestamp countersignature does not vouch for the signing time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("the timestamp token is malformed: {0}")]
    Malformed(String),
    #[error("the timestamp is not over this signature: {0}")]
    Imprint(String),
    #[error("the timestamp token's signature is invalid: {0}")]
    Signature(String),
    #[error("the timestamping authority is not trusted: {0}")]
    Untrusted(String),
    #[error("the timestamping certificate chain is invalid: {0}")]
    Profile(#[from] ProfileError),
    #[error("the timestamping certificate chain is invalid: certificate {subject} was not valid at the timestamp's time {time}")]
    NotValidAt { subject: String, time: String },
    #[error("the timestamping certificate chain is invalid: the TSA chain does not end with a self-signed root")]
    NoSelfSignedRoot,
}

/// Why the authentic-timestamp step fails: the time the signing chain
/// must be valid at is not established, or the chain is not valid then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("the signature has no authenticSigningTime")]
    NoAuthenticSigningTime,
    #[error("certificate {subject} was not valid when the signature was produced at {at} (its authenticSigningTime)")]
    NotValidAtSigningTime { subject: String, at: String },
    /// Without a timestamp the chain must be valid now; `no_tsa`: the
    /// policy names no tsa store that could have vouched instead.
    #[error("certificate {subject} is not valid now (valid {from} to {to}){}", if *no_tsa { "; a timestamp could vouch for the signing time only if the trust policy named a tsa trust store" } else { "" })]
    NotValidNow {
        subject: String,
        from: String,
        to: String,
        no_tsa: bool,
    },
    /// `always`: verifyTimestamp is "always" (else a certificate expired).
    #[error("the signature has no RFC 3161 timestamp countersignature, which trust policy {policy:?} requires (it names tsa store {stores}{})", if *always { " and verifyTimestamp is \"always\"" } else { " and a certificate of the signature has expired" })]
    Missing {
        policy: String,
        stores: String,
        always: bool,
    },
    /// The token does not verify; `stores` named when the TSA is untrusted.
    #[error("{source}{}", stores.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
    Token {
        source: TimestampError,
        stores: Option<String>,
    },
    #[error("the timestamp ({time}) may be before certificate {subject} became valid ({bound})")]
    BeforeValidity {
        time: String,
        subject: String,
        bound: String,
    },
    #[error("the timestamp ({time}) may be after certificate {subject} expired ({bound})")]
    AfterExpiry {
        time: String,
        subject: String,
        bound: String,
    },
    #[error("the revocation status of timestamping certificate {0} cannot be determined: it names an OCSP responder or CRL, which img-authz does not query for TSA certificates")]
    TsaRevocationUndetermined(String),
}

/// A verified timestamp: the signature existed within
/// `[earliest, latest]` (Unix microseconds).
#[derive(Debug, Clone)]
pub struct Timestamp {
    pub earliest: i64,
    pub latest: i64,
    /// The TSA's certificate chain, its signing certificate first.
    pub chain: Vec<Cert>,
}

impl Timestamp {
    /// Does the whole interval fall inside `c`'s validity?
    pub fn within(&self, c: &Cert) -> Result<(), TimeError> {
        let (nb, na) = (
            c.not_before.saturating_mul(1_000_000),
            c.not_after.saturating_mul(1_000_000),
        );
        if self.earliest < nb {
            return Err(TimeError::BeforeValidity {
                time: rfc3339(self.earliest),
                subject: c.subject_text(),
                bound: rfc3339(nb),
            });
        }
        if self.latest > na {
            return Err(TimeError::AfterExpiry {
                time: rfc3339(self.latest),
                subject: c.subject_text(),
                bound: rfc3339(na),
            });
        }
        Ok(())
    }

    pub fn subject(&self) -> String {
        self.chain
            .first()
            .map(Cert::subject_text)
            .unwrap_or_default()
    }
}

fn rfc3339(micros: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| micros.to_string())
}

/// ESSCertIDv2 (RFC 5035); hashAlgorithm DEFAULT sha256.
#[derive(Debug, Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

#[derive(Debug, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

fn malformed(m: impl Into<String>) -> TimestampError {
    TimestampError::Malformed(m.into())
}

/// `YYYYMMDDHHMMSS[.f*]Z` (GeneralizedTime as RFC 3161 requires) in Unix
/// microseconds. Fractions are allowed, which `der`'s own type refuses.
fn generalized_time(any: &Any) -> Result<i64, TimestampError> {
    if any.tag() != Tag::GeneralizedTime {
        return Err(malformed("genTime is not a GeneralizedTime"));
    }
    let s = std::str::from_utf8(any.value()).map_err(|_| malformed("genTime is not ASCII"))?;
    let bad = || malformed(format!("genTime {s:?} is not YYYYMMDDHHMMSS[.fff]Z"));
    let body = s.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (body.contains('.') && frac.is_empty()) {
        return Err(bad());
    }
    let n = |r: std::ops::Range<usize>| -> Result<u32, TimestampError> {
        whole.get(r).and_then(|d| d.parse().ok()).ok_or_else(bad)
    };
    let month =
        time::Month::try_from(u8::try_from(n(4..6)?).map_err(|_| bad())?).map_err(|_| bad())?;
    let year = i32::try_from(n(0..4)?).map_err(|_| bad())?;
    let date =
        time::Date::from_calendar_date(year, month, u8::try_from(n(6..8)?).map_err(|_| bad())?)
            .map_err(|_| bad())?;
    let t = time::Time::from_hms(
        u8::try_from(n(8..10)?).map_err(|_| bad())?,
        u8::try_from(n(10..12)?).map_err(|_| bad())?,
        u8::try_from(n(12..14)?).map_err(|_| bad())?,
    )
    .map_err(|_| bad())?;
    let secs = time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp();
    // Microseconds from the first six fraction digits.
    let mut micros = 0i64;
    for i in 0..6 {
        let d = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
        micros = micros * 10 + d;
    }
    Ok(secs.saturating_mul(1_000_000).saturating_add(micros))
}

/// TSTInfo's fields in order; only what verification needs is decoded
/// (a SEQUENCE of elements, so trailing optional fields need no schema).
struct TstInfo {
    policy: ObjectIdentifier,
    imprint: x509_tsp::MessageImprint,
    gen_time: i64,
    accuracy: Option<x509_tsp::Accuracy>,
}

fn tst_info(bytes: &[u8]) -> Result<TstInfo, TimestampError> {
    let parts: Vec<Any> =
        Vec::from_der(bytes).map_err(|e| malformed(format!("TSTInfo is not a sequence: {e}")))?;
    let part = |i: usize| {
        parts
            .get(i)
            .ok_or_else(|| malformed("TSTInfo is too short"))
    };
    let version: u8 = part(0)?
        .decode_as()
        .map_err(|e| malformed(format!("TSTInfo version: {e}")))?;
    if version != 1 {
        return Err(malformed(format!("TSTInfo version is {version}, not 1")));
    }
    let policy = part(1)?
        .decode_as()
        .map_err(|e| malformed(format!("TSTInfo policy: {e}")))?;
    let imprint = part(2)?
        .decode_as()
        .map_err(|e| malformed(format!("TSTInfo messageImprint: {e}")))?;
    let gen_time = generalized_time(part(4)?)?;
    let accuracy = match parts.get(5) {
        Some(a) if a.tag() == Tag::Sequence => Some(
            a.decode_as::<x509_tsp::Accuracy>()
                .map_err(|e| malformed(format!("TSTInfo accuracy: {e}")))?,
        ),
        _ => None,
    };
    Ok(TstInfo {
        policy,
        imprint,
        gen_time,
        accuracy,
    })
}

fn accuracy_micros(info: &TstInfo) -> i64 {
    match &info.accuracy {
        Some(a) => {
            let s = i64::try_from(a.seconds.unwrap_or(0)).unwrap_or(i64::MAX);
            s.saturating_mul(1_000_000)
                .saturating_add(i64::from(a.millis.unwrap_or(0)).saturating_mul(1000))
                .saturating_add(i64::from(a.micros.unwrap_or(0)))
        }
        None if info.policy == BASELINE_POLICY => 1_000_000,
        None => 0,
    }
}

/// The single value of signed attribute `oid`.
fn attribute<'a>(
    attrs: &'a x509_cert::attr::Attributes,
    oid: ObjectIdentifier,
    name: &str,
) -> Result<&'a Any, TimestampError> {
    let mut found = attrs.iter().filter(|a| a.oid == oid);
    let (Some(a), None) = (found.next(), found.next()) else {
        return Err(TimestampError::Signature(format!(
            "the signed attribute {name} is missing or repeated"
        )));
    };
    let mut values = a.values.iter();
    match (values.next(), values.next()) {
        (Some(v), None) => Ok(v),
        _ => Err(TimestampError::Signature(format!(
            "the signed attribute {name} must have exactly one value"
        ))),
    }
}

/// Verify the CMS signer's signature over `msg` with `cert`'s key.
fn verify_signer(
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
pub(super) fn check_tsa_profile(chain: &[Cert]) -> Result<(), ProfileError> {
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

/// Does `sid` name `c`?
fn identifies(sid: &SignerIdentifier, c: &Cert) -> bool {
    let x = c.x509();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(i) => {
            i.issuer == x.tbs_certificate.issuer
                && i.serial_number == x.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => matches!(
            c.ext::<SubjectKeyIdentifier>(SUBJECT_KEY_ID),
            Ok(Some((_, s))) if s == *ski
        ),
    }
}

/// Verify `token` as a countersignature of `signature` (the envelope's
/// primitive signature value) by a TSA chaining to one of `roots`.
pub fn verify(
    token: &[u8],
    signature: &[u8],
    roots: &[&Cert],
) -> Result<Timestamp, TimestampError> {
    let ci = ContentInfo::from_der(token)
        .map_err(|e| malformed(format!("not a DER CMS ContentInfo: {e}")))?;
    if ci.content_type != SIGNED_DATA {
        return Err(malformed(format!(
            "content type {} is not SignedData",
            ci.content_type
        )));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| malformed(format!("not a CMS SignedData: {e}")))?;
    if sd.encap_content_info.econtent_type != TST_INFO {
        return Err(malformed(format!(
            "the signed content type {} is not id-ct-TSTInfo",
            sd.encap_content_info.econtent_type
        )));
    }
    let content: OctetString = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("the TSTInfo is absent"))?
        .decode_as()
        .map_err(|e| malformed(format!("the TSTInfo is not an OCTET STRING: {e}")))?;
    let info = tst_info(content.as_bytes())?;
    // The imprint: the hash of the envelope's signature value.
    let imprint_hash = Hash::from_oid(&info.imprint.hash_algorithm.oid).ok_or_else(|| {
        TimestampError::Imprint(format!(
            "hash algorithm {} is not SHA-256, SHA-384 or SHA-512",
            info.imprint.hash_algorithm.oid
        ))
    })?;
    if info.imprint.hashed_message.as_bytes() != imprint_hash.digest(signature).as_slice() {
        return Err(TimestampError::Imprint(
            "its message imprint is not the hash of the signature value".into(),
        ));
    }
    // One signer (RFC 3161: the TSA's signature only).
    let mut signers = sd.signer_infos.0.iter();
    let (Some(si), None) = (signers.next(), signers.next()) else {
        return Err(malformed("the token must have exactly one signer"));
    };
    let mut pool = Vec::new();
    for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
        if let CertificateChoices::Certificate(c) = c {
            let der = c
                .to_der()
                .map_err(|e| malformed(format!("a certificate of the token: {e}")))?;
            pool.push(
                Cert::parse(&der)
                    .map_err(|e| malformed(format!("a certificate of the token: {e}")))?,
            );
        }
    }
    let signer = pool
        .iter()
        .find(|c| identifies(&si.sid, c))
        .cloned()
        .ok_or_else(|| malformed("the TSA's certificate is not in the token"))?;
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| TimestampError::Signature("it has no signed attributes".into()))?;
    let ct: ObjectIdentifier = attribute(attrs, CONTENT_TYPE, "content-type")?
        .decode_as()
        .map_err(|e| TimestampError::Signature(format!("content-type: {e}")))?;
    if ct != TST_INFO {
        return Err(TimestampError::Signature(format!(
            "the content-type attribute is {ct}, not id-ct-TSTInfo"
        )));
    }
    let digest = Hash::from_oid(&si.digest_alg.oid).ok_or_else(|| {
        TimestampError::Signature(format!(
            "digest algorithm {} is not SHA-256, SHA-384 or SHA-512",
            si.digest_alg.oid
        ))
    })?;
    let md: OctetString = attribute(attrs, MESSAGE_DIGEST, "message-digest")?
        .decode_as()
        .map_err(|e| TimestampError::Signature(format!("message-digest: {e}")))?;
    if md.as_bytes() != digest.digest(content.as_bytes()).as_slice() {
        return Err(TimestampError::Signature(
            "the message-digest attribute is not the hash of the TSTInfo".into(),
        ));
    }
    // signing-certificate-v2 binds the signature to the TSA certificate.
    let scv2: SigningCertificateV2 = attribute(attrs, SIGNING_CERT_V2, "signing-certificate-v2")?
        .decode_as()
        .map_err(|e| TimestampError::Signature(format!("signing-certificate-v2: {e}")))?;
    let first = scv2.certs.first().ok_or_else(|| {
        TimestampError::Signature("signing-certificate-v2 names no certificate".into())
    })?;
    let cert_hash = match &first.hash_algorithm {
        None => Hash::Sha256,
        Some(a) => Hash::from_oid(&a.oid).ok_or_else(|| {
            TimestampError::Signature(format!(
                "signing-certificate-v2 hash algorithm {} is not supported",
                a.oid
            ))
        })?,
    };
    if first.cert_hash.as_bytes() != cert_hash.digest(&signer.der).as_slice() {
        return Err(TimestampError::Signature(
            "signing-certificate-v2 does not name the certificate that signed".into(),
        ));
    }
    let signed = attrs
        .to_der()
        .map_err(|e| TimestampError::Signature(format!("signed attributes: {e}")))?;
    verify_signer(
        &signer,
        digest,
        &si.signature_algorithm.oid,
        &signed,
        si.signature.as_bytes(),
    )?;
    // The chain, from the TSA certificate to a trusted root.
    let chain = tsa_chain(signer, &pool, roots)?;
    for c in &chain {
        if !c.valid_at(info.gen_time.div_euclid(1_000_000)) {
            return Err(TimestampError::NotValidAt {
                subject: c.subject_text(),
                time: rfc3339(info.gen_time),
            });
        }
    }
    check_tsa_profile(&chain)?;
    let acc = accuracy_micros(&info);
    Ok(Timestamp {
        earliest: info.gen_time.saturating_sub(acc),
        latest: info.gen_time.saturating_add(acc),
        chain,
    })
}

/// From the TSA certificate up through `pool` to a certificate of `roots`
/// (byte-identical), ending self-signed.
fn tsa_chain(signer: Cert, pool: &[Cert], roots: &[&Cert]) -> Result<Vec<Cert>, TimestampError> {
    let trusted = |c: &Cert| roots.iter().any(|r| r.der == c.der);
    let mut chain = vec![signer];
    loop {
        let Some(cur) = chain.last() else {
            return Err(malformed("empty chain"));
        };
        if trusted(cur) {
            break;
        }
        if chain.len() >= MAX_CHAIN {
            return Err(TimestampError::Untrusted(format!(
                "its chain is longer than {MAX_CHAIN} certificates"
            )));
        }
        let issued = |c: &&Cert| c.der != cur.der && cur.same_name(c) && cur.signed_by(c).is_ok();
        let issuer = roots
            .iter()
            .copied()
            .find(issued)
            .or_else(|| pool.iter().find(issued))
            .cloned();
        match issuer {
            Some(i) => chain.push(i),
            None => {
                return Err(TimestampError::Untrusted(format!(
                    "{} does not chain to a certificate of the policy's tsa trust stores",
                    chain.first().map(Cert::subject_text).unwrap_or_default()
                )))
            }
        }
    }
    // notation-core-go: the chain ends with a self-signed root.
    match chain.last() {
        Some(root) if root.self_signed() => Ok(chain),
        _ => Err(TimestampError::NoSelfSignedRoot),
    }
}

/// The specification's "authentic timestamp" step (notation-go
/// `verifyAuthenticTimestamp`): the time at which the signing chain must
/// be valid. `signingAuthority`: the signed `authenticSigningTime`.
/// `notary.x509`: a countersignature is verified when the policy names a
/// `tsa` store and `verifyTimestamp` is `always` (or `afterCertExpiry` and
/// a certificate has expired); it must then be present and the interval
/// it proves must fall inside every certificate's validity. Otherwise the
/// chain must be valid at `now`. Returns the verified timestamp, if one was.
pub fn authentic_time(
    cfg: &super::NotationConfig,
    stmt: &super::policy::PolicyStatement,
    v: &super::jws::Verified,
    now: i64,
) -> Result<Option<Timestamp>, TimeError> {
    use super::jws::Scheme;
    use super::policy::{Action, Check, StoreType, VerifyTimestamp};
    let when = |s: i64| rfc3339(s.saturating_mul(1_000_000));
    if v.scheme == Scheme::SigningAuthority {
        let at = v.signing_time.ok_or(TimeError::NoAuthenticSigningTime)?;
        return match v.chain.iter().find(|c| !c.valid_at(at)) {
            Some(c) => Err(TimeError::NotValidAtSigningTime {
                subject: c.subject_text(),
                at: when(at),
            }),
            None => Ok(None),
        };
    }
    let tsa: Vec<_> = stmt.stores_of(StoreType::Tsa).collect();
    let expired = v.chain.iter().any(|c| now > c.not_after);
    let perform = !tsa.is_empty() && (stmt.verify_timestamp == VerifyTimestamp::Always || expired);
    if !perform {
        return match v.chain.iter().find(|c| !c.valid_at(now)) {
            None => Ok(None),
            Some(c) => Err(TimeError::NotValidNow {
                subject: c.subject_text(),
                from: when(c.not_before),
                to: when(c.not_after),
                no_tsa: tsa.is_empty(),
            }),
        };
    }
    let stores = || {
        tsa.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(token) = &v.timestamp else {
        return Err(TimeError::Missing {
            policy: stmt.name.clone(),
            stores: stores(),
            always: stmt.verify_timestamp == VerifyTimestamp::Always,
        });
    };
    let roots: Vec<&Cert> = tsa
        .iter()
        .filter_map(|r| cfg.stores.get(*r))
        .flat_map(|s| s.certs.iter())
        .collect();
    // An untrusted TSA: say which stores it had to chain to.
    let ts = verify(token, &v.signature, &roots).map_err(|source| TimeError::Token {
        stores: matches!(source, TimestampError::Untrusted(_)).then(stores),
        source,
    })?;
    for c in &v.chain {
        ts.within(c)?;
    }
    // We query no OCSP responder or CRL for the TSA chain: a certificate
    // naming one has an undetermined status, a failure by the specification.
    if stmt.action(Check::Revocation) != Action::Skip {
        if let Some(c) = ts.chain.iter().find(|c| c.names_revocation_source()) {
            return Err(TimeError::TsaRevocationUndetermined(c.subject_text()));
        }
    }
    Ok(Some(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt(s: &str) -> Result<i64, TimestampError> {
        let any = Any::new(Tag::GeneralizedTime, s.as_bytes().to_vec())
            .map_err(|e| malformed(e.to_string()))?;
        generalized_time(&any)
    }

    #[test]
    fn generalized_times_with_fractions_parse() {
        assert_eq!(gt("20261205215633Z").unwrap(), 1_796_507_793_000_000);
        assert_eq!(gt("20261205215633.5Z").unwrap(), 1_796_507_793_500_000);
        assert_eq!(
            gt("20261205215633.1234567Z").unwrap(),
            1_796_507_793_123_456
        );
        for bad in [
            "20261205215633",
            "20261205215633.Z",
            "2026120521563Z",
            "20261305215633Z",
            "2026120521563aZ",
            "20261205215633+0100",
        ] {
            assert!(gt(bad).is_err(), "{bad}");
        }
    }
}
