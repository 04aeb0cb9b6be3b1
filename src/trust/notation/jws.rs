//! The JWS envelope (`application/jose+json`, flattened JSON, no extra
//! fields): parsed, its signature verified over the received
//! `protected.payload` strings, its critical headers checked both ways,
//! and only then its payload read.

use std::collections::BTreeMap;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::Deserialize;

use super::chain::{verify_chain, Alg, Cert, CertError, ChainError, NoAlgorithm, SignatureError};

pub const MEDIA_TYPE: &str = "application/jose+json";
pub const PAYLOAD_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
pub(super) const SCHEME: &str = "io.cncf.notary.signingScheme";
pub(super) const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
pub(super) const AUTHENTIC_TIME: &str = "io.cncf.notary.authenticSigningTime";
pub(super) const EXPIRY: &str = "io.cncf.notary.expiry";
pub(super) const PLUGIN: &str = "io.cncf.notary.verificationPlugin";
pub(super) const PLUGIN_MIN: &str = "io.cncf.notary.verificationPluginMinVersion";

/// Why an envelope does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the envelope is malformed: {0}")]
    Malformed(String),
    #[error("the envelope's protected header is invalid: {0}")]
    Header(String),
    #[error("the signature needs a verification plugin ({0}), which img-authz does not run")]
    Plugin(String),
    #[error("unsupported: {0}")]
    Unsupported(#[from] NoAlgorithm),
    #[error("the certificate chain is invalid: {0}")]
    Chain(#[from] ChainError),
    #[error("the certificate chain is invalid: the signing certificate: {0}")]
    Leaf(CertError),
    #[error("{0}")]
    Signature(SignatureError),
    #[error("the payload is invalid: {0}")]
    Payload(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    payload: String,
    protected: String,
    header: Unprotected,
    signature: String,
}

#[derive(Debug, Deserialize)]
struct Unprotected {
    x5c: Vec<String>,
    #[serde(rename = "io.cncf.notary.timestampSignature", default)]
    timestamp: Option<String>,
    #[serde(rename = "io.cncf.notary.signingAgent", default)]
    signing_agent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    X509,
    SigningAuthority,
}

/// The descriptor a signature is for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    target_artifact: Target,
}

/// What an envelope whose integrity holds says.
#[derive(Debug, Clone)]
pub struct Verified {
    pub chain: Vec<Cert>,
    pub scheme: Scheme,
    /// Unix seconds; `notary.x509` signing time is informational.
    pub signing_time: Option<i64>,
    pub expiry: Option<i64>,
    /// The RFC 3161 countersignature (a DER TimeStampToken), if attached.
    pub timestamp: Option<Vec<u8>>,
    /// The primitive signature value (what a timestamp's imprint covers).
    pub signature: Vec<u8>,
    pub signing_agent: Option<String>,
    pub target: Target,
}

fn rfc3339(v: &serde_json::Value, k: &str) -> Result<i64, EnvelopeError> {
    let s = v
        .as_str()
        .ok_or_else(|| EnvelopeError::Header(format!("{k} is not a string")))?;
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| EnvelopeError::Header(format!("{k} {s:?} is not an RFC 3339 time: {e}")))
}

/// A protected header, whatever the envelope: what the checks need.
#[derive(Debug, Default)]
pub(super) struct HeaderView {
    /// The algorithm, or why it is not one of the table's.
    pub alg: Option<Result<Alg, EnvelopeError>>,
    pub cty: Option<String>,
    /// `None`: absent or not a list of text labels.
    pub crit: Option<Vec<String>>,
    /// Every label present (integers in decimal).
    pub labels: Vec<String>,
    pub scheme: Option<String>,
    pub signing_time: Option<i64>,
    pub authentic_time: Option<i64>,
    pub expiry: Option<i64>,
    pub plugin: Option<String>,
}

/// Checks both envelopes share; returns the scheme and times.
pub(super) fn check_headers(
    h: &HeaderView,
) -> Result<(Alg, Scheme, Option<i64>, Option<i64>), EnvelopeError> {
    // Plugins first: their headers are critical and we would refuse them
    // anyway, but this says why.
    if let Some(p) = &h.plugin {
        return Err(EnvelopeError::Plugin(p.clone()));
    }
    let alg = match &h.alg {
        None => return Err(EnvelopeError::Header("alg is missing".into())),
        Some(Err(e)) => return Err(e.clone()),
        Some(Ok(a)) => *a,
    };
    match h.cty.as_deref() {
        Some(PAYLOAD_TYPE) => {}
        other => {
            return Err(EnvelopeError::Header(format!(
                "cty is {other:?}, not {PAYLOAD_TYPE:?}"
            )))
        }
    }
    let crit = match &h.crit {
        Some(c) if !c.is_empty() => c,
        _ => return Err(EnvelopeError::Header("crit is missing or empty".into())),
    };
    let has = |k: &str| h.labels.iter().any(|l| l == k);
    // Every critical header is one we understand and is present ...
    for c in crit {
        if ![SCHEME, AUTHENTIC_TIME, EXPIRY].contains(&c.as_str()) {
            return Err(EnvelopeError::Header(format!(
                "critical header {c:?} is not understood"
            )));
        }
        if !has(c) {
            return Err(EnvelopeError::Header(format!(
                "critical header {c:?} is listed but absent"
            )));
        }
    }
    // ... and every header that must be critical is listed.
    let scheme = match h.scheme.as_deref() {
        Some("notary.x509") => Scheme::X509,
        Some("notary.x509.signingAuthority") => Scheme::SigningAuthority,
        other => {
            return Err(EnvelopeError::Header(format!(
                "{SCHEME} is {other:?}, not notary.x509 or notary.x509.signingAuthority"
            )))
        }
    };
    let mut must = vec![SCHEME];
    if has(EXPIRY) {
        must.push(EXPIRY);
    }
    if scheme == Scheme::SigningAuthority || has(AUTHENTIC_TIME) {
        must.push(AUTHENTIC_TIME);
    }
    for m in must {
        if !crit.iter().any(|c| c == m) {
            return Err(EnvelopeError::Header(format!("{m} must be listed in crit")));
        }
    }
    let signing_time = match (scheme, h.signing_time, h.authentic_time) {
        (Scheme::X509, Some(t), None) => Some(t),
        (Scheme::X509, None, _) => {
            return Err(EnvelopeError::Header(format!("{SIGNING_TIME} is missing")))
        }
        (Scheme::X509, Some(_), Some(_)) => {
            return Err(EnvelopeError::Header(format!(
                "{AUTHENTIC_TIME} is only for the signingAuthority scheme"
            )))
        }
        (Scheme::SigningAuthority, _, Some(t)) => Some(t),
        (Scheme::SigningAuthority, _, None) => {
            return Err(EnvelopeError::Header(format!(
                "{AUTHENTIC_TIME} is missing"
            )))
        }
    };
    Ok((alg, scheme, signing_time, h.expiry))
}

/// The JWS protected header as a [`HeaderView`].
fn jws_view(header: &BTreeMap<String, serde_json::Value>) -> Result<HeaderView, EnvelopeError> {
    let time = |k: &str| header.get(k).map(|v| rfc3339(v, k)).transpose();
    Ok(HeaderView {
        alg: header.get("alg").map(|v| {
            let name = v.as_str().unwrap_or("(not a string)");
            Alg::from_jws(name).ok_or_else(|| {
                EnvelopeError::Header(format!(
                    "alg {name:?} is not one of PS256, PS384, PS512, ES256, ES384, ES512"
                ))
            })
        }),
        cty: header.get("cty").and_then(|v| v.as_str()).map(String::from),
        crit: match header.get("crit") {
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<_>>>(),
            _ => None,
        },
        labels: header.keys().cloned().collect(),
        scheme: header
            .get(SCHEME)
            .and_then(|v| v.as_str())
            .map(String::from),
        signing_time: time(SIGNING_TIME)?,
        authentic_time: time(AUTHENTIC_TIME)?,
        expiry: time(EXPIRY)?,
        plugin: [PLUGIN, PLUGIN_MIN]
            .iter()
            .find_map(|k| header.get(*k).map(|v| v.as_str().unwrap_or(k).to_string())),
    })
}

/// What both envelopes end with: the leaf's algorithm, the signature over
/// `input`, the chain, and the payload.
#[expect(
    clippy::too_many_arguments,
    reason = "the shared tail of both envelopes takes each checked part"
)]
pub(super) fn finish(
    ders: &[Vec<u8>],
    alg: Alg,
    input: &[u8],
    signature: &[u8],
    payload_bytes: &[u8],
    scheme: Scheme,
    signing_time: Option<i64>,
    expiry: Option<i64>,
    timestamp: Option<Vec<u8>>,
    signing_agent: Option<String>,
) -> Result<Verified, EnvelopeError> {
    let leaf = ders
        .first()
        .ok_or(EnvelopeError::Chain(ChainError::Empty))
        .and_then(|d| Cert::parse(d).map_err(EnvelopeError::Leaf))?;
    let want = leaf.key.alg()?;
    if want != alg {
        return Err(EnvelopeError::Header(format!(
            "alg is {} but the signing key needs {}",
            alg.jws(),
            want.jws()
        )));
    }
    leaf.verify_signature(alg, input, signature)
        .map_err(EnvelopeError::Signature)?;
    let chain = verify_chain(ders)?;
    let payload: Payload = serde_json::from_slice(payload_bytes)
        .map_err(|e| EnvelopeError::Payload(format!("no targetArtifact descriptor: {e}")))?;
    Ok(Verified {
        chain,
        scheme,
        signing_time,
        expiry,
        timestamp,
        signature: signature.to_vec(),
        signing_agent,
        target: payload.target_artifact,
    })
}

/// Parse and verify the integrity of a JWS envelope.
pub fn verify(bytes: &[u8]) -> Result<Verified, EnvelopeError> {
    let raw: Raw = serde_json::from_slice(bytes)
        .map_err(|e| EnvelopeError::Malformed(format!("not a flattened JWS JSON object: {e}")))?;
    let b64url = |what: &str, s: &str| {
        URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|e| EnvelopeError::Malformed(format!("{what} is not unpadded base64url: {e}")))
    };
    let protected_bytes = b64url("protected", &raw.protected)?;
    let payload_bytes = b64url("payload", &raw.payload)?;
    let signature = b64url("signature", &raw.signature)?;
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&protected_bytes)
        .map_err(|e| EnvelopeError::Header(format!("not a JSON object: {e}")))?;
    let (alg, scheme, signing_time, expiry) = check_headers(&jws_view(&header)?)?;
    let ders: Vec<Vec<u8>> = raw
        .header
        .x5c
        .iter()
        .map(|c| {
            STANDARD
                .decode(c)
                .map_err(|e| EnvelopeError::Malformed(format!("x5c holds invalid base64: {e}")))
        })
        .collect::<Result<_, _>>()?;
    // Go's []byte JSON encoding: standard base64 with padding.
    let timestamp = raw
        .header
        .timestamp
        .as_deref()
        .map(|t| {
            STANDARD.decode(t).map_err(|e| {
                EnvelopeError::Malformed(format!(
                    "io.cncf.notary.timestampSignature holds invalid base64: {e}"
                ))
            })
        })
        .transpose()?;
    // The received strings, never re-encoded.
    let mut input = Vec::with_capacity(raw.protected.len() + raw.payload.len() + 1);
    input.extend_from_slice(raw.protected.as_bytes());
    input.push(b'.');
    input.extend_from_slice(raw.payload.as_bytes());
    finish(
        &ders,
        alg,
        &input,
        &signature,
        &payload_bytes,
        scheme,
        signing_time,
        expiry,
        timestamp,
        raw.header.signing_agent,
    )
}
