//! Signatures as cosign stores them, parsed into one shape: what was
//! signed, the signature, the signing certificate if any, and the Rekor
//! entries that log it. Nothing here is trusted yet.

use serde::Deserialize;
use serde_json::Value;

use super::rekor::{InclusionProof, TlogEntry};

pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
pub const INTOTO: &str = "application/vnd.in-toto+json";
pub const SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

pub const ANN_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
pub const ANN_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
pub const ANN_BUNDLE: &str = "dev.sigstore.cosign/bundle";

/// Rekor entries read per signature. Sigstore writes one; a bound keeps a
/// hostile bundle from multiplying the work of every check.
pub const MAX_TLOG_ENTRIES: usize = 4;

/// What the signature is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A simple-signing payload, signed as is.
    Simple(Vec<u8>),
    /// A DSSE envelope's payload, signed through PAE.
    Dsse {
        payload_type: String,
        payload: Vec<u8>,
    },
    /// A bundle's messageSignature: a signature over a SHA-256 digest.
    Digest(Vec<u8>),
}

impl Content {
    /// The bytes the signature covers (for a digest: the digest).
    pub fn signed_bytes(&self) -> Vec<u8> {
        match self {
            Content::Simple(p) => p.clone(),
            Content::Dsse {
                payload_type,
                payload,
            } => pae(payload_type, payload),
            Content::Digest(d) => d.clone(),
        }
    }
}

/// DSSE's pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// One signature found for an image, unverified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Where it was found, for messages.
    pub origin: String,
    pub content: Content,
    pub signature: Vec<u8>,
    /// The signing certificate (DER), keyless or BYO PKI.
    pub cert: Option<Vec<u8>>,
    pub tlog: Vec<TlogEntry>,
}

/// Why a signature layer or bundle cannot be read; the discovery layer
/// lists it as unreadable with this text (unchanged from the String days).
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("{0} is not base64")]
    NotBase64(&'static str),
    #[error("the certificate annotation is not PEM: {0}")]
    CertNotPem(std::io::Error),
    #[error("the certificate annotation holds no certificate")]
    NoCert,
    #[error("{0} is not an integer")]
    NotInteger(&'static str),
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("the layer has no signature annotation")]
    NoSignatureAnnotation,
    #[error("the Rekor bundle annotation: {0}")]
    BadBundleAnnotation(serde_json::Error),
    #[error("the Rekor logID is not hex")]
    LogIdNotHex,
    #[error("negative {0}")]
    Negative(&'static str),
    #[error("not a Sigstore bundle: {0}")]
    NotBundle(serde_json::Error),
    #[error("unknown bundle media type {0:?}")]
    UnknownMediaType(String),
    #[error("the bundle lists {0} Rekor entries (at most {MAX_TLOG_ENTRIES} are read)")]
    TooManyEntries(usize),
    #[error("a bundle's DSSE envelope must hold exactly one signature, not {0}")]
    DsseSignatureCount(usize),
    #[error("unsupported message digest {0:?}")]
    UnsupportedDigest(String),
    #[error("a bundle must hold exactly one of dsseEnvelope or messageSignature")]
    NotOneContent,
}

fn b64(s: &str, what: &'static str) -> Result<Vec<u8>, SignatureError> {
    crate::trust::encoding::b64_decode_trimmed(s).map_err(|_| SignatureError::NotBase64(what))
}

/// The first certificate of a PEM text, as DER.
fn pem_cert(pem: &str) -> Result<Vec<u8>, SignatureError> {
    match rustls_pemfile::certs(&mut pem.as_bytes()).next() {
        Some(item) => item.map(|c| c.to_vec()).map_err(SignatureError::CertNotPem),
        None => Err(SignatureError::NoCert),
    }
}

/// An int64 that protobuf JSON writes as a string (numbers accepted too).
fn int(v: &Value, what: &'static str) -> Result<i64, SignatureError> {
    match v {
        Value::String(s) => s.parse().map_err(|_| SignatureError::NotInteger(what)),
        Value::Number(n) => n.as_i64().ok_or(SignatureError::NotInteger(what)),
        _ => Err(SignatureError::Missing(what)),
    }
}

/// A simple-signing layer: its payload blob and its annotations.
pub fn from_simple_layer(
    origin: String,
    payload: Vec<u8>,
    annotations: &serde_json::Map<String, Value>,
) -> Result<Candidate, SignatureError> {
    let ann = |k: &str| annotations.get(k).and_then(Value::as_str);
    let signature = b64(
        ann(ANN_SIGNATURE).ok_or(SignatureError::NoSignatureAnnotation)?,
        "the signature annotation",
    )?;
    let cert = match ann(ANN_CERTIFICATE) {
        Some(p) if !p.trim().is_empty() => Some(pem_cert(p)?),
        _ => None,
    };
    let mut tlog = Vec::new();
    if let Some(b) = ann(ANN_BUNDLE) {
        tlog.push(legacy_bundle(b)?);
    }
    Ok(Candidate {
        origin,
        content: Content::Simple(payload),
        signature,
        cert,
        tlog,
    })
}

/// cosign's `dev.sigstore.cosign/bundle` annotation: a Rekor SET.
fn legacy_bundle(text: &str) -> Result<TlogEntry, SignatureError> {
    #[derive(Deserialize)]
    struct Ann {
        #[serde(rename = "SignedEntryTimestamp")]
        set: String,
        #[serde(rename = "Payload")]
        payload: Payload,
    }
    #[derive(Deserialize)]
    struct Payload {
        body: String,
        #[serde(rename = "integratedTime")]
        integrated_time: Value,
        #[serde(rename = "logIndex")]
        log_index: Value,
        #[serde(rename = "logID")]
        log_id: String,
    }
    let a: Ann = serde_json::from_str(text).map_err(SignatureError::BadBundleAnnotation)?;
    let log_id = (0..a.payload.log_id.len())
        .step_by(2)
        .map(|i| {
            a.payload
                .log_id
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or(SignatureError::LogIdNotHex)?;
    Ok(TlogEntry {
        body: b64(&a.payload.body, "the Rekor entry body")?,
        integrated_time: int(&a.payload.integrated_time, "integratedTime")?,
        log_index: int(&a.payload.log_index, "logIndex")?,
        log_id,
        set: Some(b64(&a.set, "the SignedEntryTimestamp")?),
        proof: None,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    verification_material: Material,
    #[serde(default)]
    dsse_envelope: Option<Envelope>,
    #[serde(default)]
    message_signature: Option<MessageSignature>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    #[serde(default)]
    certificate: Option<RawBytes>,
    #[serde(default)]
    x509_certificate_chain: Option<Chain>,
    #[serde(default)]
    tlog_entries: Vec<TlogJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogJson {
    log_index: Value,
    log_id: LogId,
    integrated_time: Value,
    #[serde(default)]
    inclusion_promise: Option<Promise>,
    #[serde(default)]
    inclusion_proof: Option<ProofJson>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Promise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofJson {
    log_index: Value,
    root_hash: String,
    tree_size: Value,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Checkpoint,
}

#[derive(Deserialize)]
struct Checkpoint {
    envelope: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<DsseSig>,
}

#[derive(Deserialize)]
struct DsseSig {
    sig: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageSignature {
    message_digest: MessageDigest,
    signature: String,
}

#[derive(Deserialize)]
struct MessageDigest {
    algorithm: String,
    digest: String,
}

fn tlog_entry(t: &TlogJson) -> Result<TlogEntry, SignatureError> {
    let proof = match &t.inclusion_proof {
        None => None,
        Some(p) => Some(InclusionProof {
            log_index: u64::try_from(int(&p.log_index, "inclusionProof.logIndex")?)
                .map_err(|_| SignatureError::Negative("inclusionProof.logIndex"))?,
            tree_size: u64::try_from(int(&p.tree_size, "inclusionProof.treeSize")?)
                .map_err(|_| SignatureError::Negative("inclusionProof.treeSize"))?,
            root_hash: b64(&p.root_hash, "inclusionProof.rootHash")?,
            hashes: p
                .hashes
                .iter()
                .map(|h| b64(h, "inclusionProof.hashes"))
                .collect::<Result<_, _>>()?,
            checkpoint: p.checkpoint.envelope.clone(),
        }),
    };
    Ok(TlogEntry {
        body: b64(&t.canonicalized_body, "canonicalizedBody")?,
        integrated_time: int(&t.integrated_time, "integratedTime")?,
        log_index: int(&t.log_index, "logIndex")?,
        log_id: b64(&t.log_id.key_id, "logId.keyId")?,
        set: t
            .inclusion_promise
            .as_ref()
            .map(|p| b64(&p.signed_entry_timestamp, "signedEntryTimestamp"))
            .transpose()?,
        proof,
    })
}

/// A Sigstore bundle: the one signature it carries.
pub fn from_bundle(origin: &str, bytes: &[u8]) -> Result<Candidate, SignatureError> {
    let b: Bundle = serde_json::from_slice(bytes).map_err(SignatureError::NotBundle)?;
    if !b.media_type.starts_with(BUNDLE_PREFIX) {
        return Err(SignatureError::UnknownMediaType(b.media_type.clone()));
    }
    let m = &b.verification_material;
    let cert = match (&m.certificate, &m.x509_certificate_chain) {
        (Some(c), _) => Some(b64(&c.raw_bytes, "the bundle's certificate")?),
        (None, Some(ch)) => match ch.certificates.first() {
            Some(c) => Some(b64(&c.raw_bytes, "the bundle's certificate")?),
            None => None,
        },
        (None, None) => None,
    };
    if m.tlog_entries.len() > MAX_TLOG_ENTRIES {
        return Err(SignatureError::TooManyEntries(m.tlog_entries.len()));
    }
    let tlog = m
        .tlog_entries
        .iter()
        .map(tlog_entry)
        .collect::<Result<Vec<_>, _>>()?;
    match (&b.dsse_envelope, &b.message_signature) {
        (Some(env), None) => {
            // The bundle spec allows exactly one signature per envelope (the
            // verification material is for one signer); more would also let
            // one blob multiply its payload into many candidates.
            let [s] = env.signatures.as_slice() else {
                return Err(SignatureError::DsseSignatureCount(env.signatures.len()));
            };
            Ok(Candidate {
                origin: origin.to_string(),
                content: Content::Dsse {
                    payload_type: env.payload_type.clone(),
                    payload: b64(&env.payload, "the DSSE payload")?,
                },
                signature: b64(&s.sig, "the DSSE signature")?,
                cert,
                tlog,
            })
        }
        (None, Some(ms)) => {
            if ms.message_digest.algorithm != "SHA2_256" {
                return Err(SignatureError::UnsupportedDigest(
                    ms.message_digest.algorithm.clone(),
                ));
            }
            Ok(Candidate {
                origin: origin.to_string(),
                content: Content::Digest(b64(&ms.message_digest.digest, "the message digest")?),
                signature: b64(&ms.signature, "the message signature")?,
                cert,
                tlog,
            })
        }
        _ => Err(SignatureError::NotOneContent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"hello"),
            b"DSSEv1 28 application/vnd.in-toto+json 5 hello".to_vec()
        );
    }

    #[test]
    fn bundles_need_one_content() {
        let both = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},
            "dsseEnvelope":{"payload":"","payloadType":"x","signatures":[]},
            "messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":""},"signature":""}}"#;
        assert!(from_bundle("t", both).is_err());
        let none = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}}"#;
        assert!(from_bundle("t", none).is_err());
        let other = br#"{"mediaType":"application/json","verificationMaterial":{},"dsseEnvelope":{"payload":"","payloadType":"x","signatures":[]}}"#;
        assert!(from_bundle("t", other).is_err());
        let sha1 = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},
            "messageSignature":{"messageDigest":{"algorithm":"SHA1","digest":""},"signature":""}}"#;
        assert!(from_bundle("t", sha1).is_err());
    }

    #[test]
    fn bundles_are_bounded() {
        let env = |sigs: &str| {
            format!(
                r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{{}},
                "dsseEnvelope":{{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{sigs}]}}}}"#
            )
        };
        let one = from_bundle("t", env(r#"{"sig":"AA=="}"#).as_bytes()).unwrap();
        assert_eq!(one.signature, vec![0u8]);
        assert!(from_bundle("t", env("").as_bytes()).is_err());
        assert!(from_bundle("t", env(r#"{"sig":"AA=="},{"sig":"AQ=="}"#).as_bytes()).is_err());
        let entry = r#"{"logIndex":"1","logId":{"keyId":"AA=="},"integratedTime":"1","canonicalizedBody":"e30="}"#;
        let tlog = |n: usize| {
            format!(
                r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{{"tlogEntries":[{}]}},
                "messageSignature":{{"messageDigest":{{"algorithm":"SHA2_256","digest":"AA=="}},"signature":"AA=="}}}}"#,
                vec![entry; n].join(",")
            )
        };
        assert_eq!(
            from_bundle("t", tlog(MAX_TLOG_ENTRIES).as_bytes())
                .unwrap()
                .tlog
                .len(),
            MAX_TLOG_ENTRIES
        );
        assert!(from_bundle("t", tlog(MAX_TLOG_ENTRIES + 1).as_bytes()).is_err());
    }
}
