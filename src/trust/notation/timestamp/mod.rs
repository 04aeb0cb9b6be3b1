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
use der::{Decode, Encode};
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::chain::{Cert, ProfileError};
use super::keys::Hash;

mod tsa;
mod tst;
pub(super) use tsa::check_tsa_profile;
use tsa::verify_signer;
use tst::{accuracy_micros, attribute, malformed, tst_info, SigningCertificateV2};

const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const SIGNING_CERT_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
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
pub(super) mod tests;
