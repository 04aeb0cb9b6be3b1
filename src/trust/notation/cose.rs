//! The COSE envelope (`application/cose`): `COSE_Sign1_Tagged` (tag 18)
//! whose protected header carries the same attributes as the JWS one
//! (times as CBOR tag-1 epoch values) and whose unprotected header carries
//! the chain (`x5chain`, label 33, an array of DER certificates). The
//! signature is over `Sig_structure` with the protected bytes as received.

use ciborium::value::Value;

use super::chain::Alg;
use super::jws::{
    check_headers, finish, EnvelopeError, HeaderView, Verified, AUTHENTIC_TIME, EXPIRY, PLUGIN,
    PLUGIN_MIN, SCHEME, SIGNING_TIME,
};

pub const MEDIA_TYPE: &str = "application/cose";
const X5CHAIN: i128 = 33;
const TIMESTAMP: &str = "io.cncf.notary.timestampSignature";
const AGENT: &str = "io.cncf.notary.signingAgent";

fn malformed(m: &str) -> EnvelopeError {
    EnvelopeError::Malformed(m.to_string())
}

/// One CBOR item, nothing after it.
fn decode(bytes: &[u8], what: &str) -> Result<Value, EnvelopeError> {
    let mut rest = bytes;
    let v: Value = ciborium::de::from_reader(&mut rest)
        .map_err(|e| EnvelopeError::Malformed(format!("{what} is not CBOR: {e}")))?;
    if !rest.is_empty() {
        return Err(EnvelopeError::Malformed(format!(
            "{what} has trailing bytes"
        )));
    }
    Ok(v)
}

/// A map's entries by label (integers in decimal); duplicates refused.
fn entries(v: Value, what: &str) -> Result<Vec<(String, Value)>, EnvelopeError> {
    let Value::Map(m) = v else {
        return Err(EnvelopeError::Malformed(format!("{what} is not a map")));
    };
    let mut out: Vec<(String, Value)> = Vec::with_capacity(m.len());
    for (k, v) in m {
        let label = match k {
            Value::Integer(i) => i128::from(i).to_string(),
            Value::Text(t) => t,
            _ => {
                return Err(EnvelopeError::Malformed(format!(
                    "{what} has a label that is neither integer nor text"
                )))
            }
        };
        if out.iter().any(|(l, _)| *l == label) {
            return Err(EnvelopeError::Malformed(format!(
                "{what} repeats label {label}"
            )));
        }
        out.push((label, v));
    }
    Ok(out)
}

fn alg(v: &Value) -> Result<Alg, EnvelopeError> {
    let n = match v {
        Value::Integer(i) => i128::from(*i),
        _ => return Err(EnvelopeError::Header("alg is not an integer".into())),
    };
    Ok(match n {
        -37 => Alg::Ps256,
        -38 => Alg::Ps384,
        -39 => Alg::Ps512,
        -7 => Alg::Es256,
        -35 => Alg::Es384,
        -36 => Alg::Es512,
        n => {
            return Err(EnvelopeError::Header(format!(
                "alg {n} is not one of PS256, PS384, PS512, ES256, ES384, ES512"
            )))
        }
    })
}

/// A CBOR tag-1 epoch time (integer seconds).
fn epoch(v: &Value, k: &str) -> Result<i64, EnvelopeError> {
    match v {
        Value::Tag(1, inner) => match inner.as_ref() {
            Value::Integer(i) => i64::try_from(i128::from(*i))
                .map_err(|_| EnvelopeError::Header(format!("{k} is out of range"))),
            _ => Err(EnvelopeError::Header(format!(
                "{k} is not an integer epoch time"
            ))),
        },
        _ => Err(EnvelopeError::Header(format!(
            "{k} is not a tag-1 epoch time"
        ))),
    }
}

fn view(protected: Vec<(String, Value)>) -> Result<HeaderView, EnvelopeError> {
    let mut h = HeaderView {
        labels: protected.iter().map(|(l, _)| l.clone()).collect(),
        ..HeaderView::default()
    };
    for (label, v) in &protected {
        match label.as_str() {
            "1" => h.alg = Some(alg(v)),
            "2" => {
                h.crit = match v {
                    Value::Array(a) => Some(
                        a.iter()
                            .map(|c| match c {
                                Value::Text(t) => t.clone(),
                                Value::Integer(i) => i128::from(*i).to_string(),
                                _ => "(not a label)".into(),
                            })
                            .collect(),
                    ),
                    _ => None,
                }
            }
            "3" => h.cty = v.as_text().map(String::from),
            SCHEME => h.scheme = v.as_text().map(String::from),
            SIGNING_TIME => h.signing_time = Some(epoch(v, SIGNING_TIME)?),
            AUTHENTIC_TIME => h.authentic_time = Some(epoch(v, AUTHENTIC_TIME)?),
            EXPIRY => h.expiry = Some(epoch(v, EXPIRY)?),
            PLUGIN | PLUGIN_MIN => {
                h.plugin = Some(v.as_text().unwrap_or(label).to_string());
            }
            _ => {}
        }
    }
    Ok(h)
}

/// Parse and verify the integrity of a COSE envelope.
pub fn verify(bytes: &[u8]) -> Result<Verified, EnvelopeError> {
    let Value::Tag(18, body) = decode(bytes, "the envelope")? else {
        return Err(malformed("not a COSE_Sign1_Tagged (CBOR tag 18) message"));
    };
    let Value::Array(parts) = *body else {
        return Err(malformed("COSE_Sign1 is not an array"));
    };
    let [protected, unprotected, payload, signature]: [Value; 4] = parts
        .try_into()
        .map_err(|_| malformed("COSE_Sign1 does not have 4 parts"))?;
    let (Value::Bytes(protected), Value::Bytes(payload), Value::Bytes(signature)) =
        (protected, payload, signature)
    else {
        return Err(malformed("COSE_Sign1's protected header, payload or signature is not a byte string (a detached payload is not accepted)"));
    };
    let header = entries(
        decode(&protected, "the protected header")?,
        "the protected header",
    )?;
    let (alg, scheme, signing_time, expiry) = check_headers(&view(header)?)?;
    let mut ders = Vec::new();
    let (mut timestamp, mut agent) = (None, None);
    for (label, v) in entries(unprotected, "the unprotected header")? {
        match (label.as_str(), v) {
            (l, Value::Array(certs)) if l == X5CHAIN.to_string() => {
                for c in certs {
                    match c {
                        Value::Bytes(b) => ders.push(b),
                        _ => return Err(malformed("x5chain holds a non-bytes entry")),
                    }
                }
            }
            (l, _) if l == X5CHAIN.to_string() => {
                return Err(malformed("x5chain is not an array of certificates"))
            }
            (TIMESTAMP, Value::Bytes(t)) => timestamp = Some(t),
            (TIMESTAMP, _) => {
                return Err(malformed("the timestamp signature is not a byte string"))
            }
            (AGENT, Value::Text(t)) => agent = Some(t),
            _ => {}
        }
    }
    let sig_structure = Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(protected),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.clone()),
    ]);
    let mut input = Vec::new();
    ciborium::ser::into_writer(&sig_structure, &mut input)
        .map_err(|e| EnvelopeError::Malformed(format!("Sig_structure: {e}")))?;
    finish(
        &ders,
        alg,
        &input,
        &signature,
        &payload,
        scheme,
        signing_time,
        expiry,
        timestamp,
        agent,
    )
}
