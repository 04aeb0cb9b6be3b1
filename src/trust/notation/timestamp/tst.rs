//! The token's ASN.1 that `cms` and `x509-tsp` leave to us: `TSTInfo`
//! (decoded element by element), GeneralizedTime with fractions, the
//! accuracy, ESS `signing-certificate-v2` and single-valued attributes.

use der::asn1::{ObjectIdentifier, OctetString};
use der::{Any, Decode, Sequence, Tag, Tagged};
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::TimestampError;

/// ETSI baseline time-stamp policy (RFC 3628): accuracy 1 s when unstated.
const BASELINE_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.2023.1.1");

/// ESSCertIDv2 (RFC 5035); hashAlgorithm DEFAULT sha256.
#[derive(Debug, Sequence)]
pub(super) struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub(super) hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub(super) cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

#[derive(Debug, Sequence)]
pub(super) struct SigningCertificateV2 {
    pub(super) certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

pub(super) fn malformed(m: impl Into<String>) -> TimestampError {
    TimestampError::Malformed(m.into())
}

/// `YYYYMMDDHHMMSS[.f*]Z` (GeneralizedTime as RFC 3161 requires) in Unix
/// microseconds. Fractions are allowed, which `der`'s own type refuses.
pub(super) fn generalized_time(any: &Any) -> Result<i64, TimestampError> {
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
pub(super) struct TstInfo {
    pub(super) policy: ObjectIdentifier,
    pub(super) imprint: x509_tsp::MessageImprint,
    pub(super) gen_time: i64,
    pub(super) accuracy: Option<x509_tsp::Accuracy>,
}

pub(super) fn tst_info(bytes: &[u8]) -> Result<TstInfo, TimestampError> {
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

pub(super) fn accuracy_micros(info: &TstInfo) -> i64 {
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
pub(super) fn attribute<'a>(
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
