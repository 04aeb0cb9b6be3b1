//! CRLs (RFC 5280): a direct CRL of the certificate's issuer, signed by
//! it, fresh, with no critical extension we do not understand.

use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};

use super::{rfc3339, secs, verify_by, Answer, SourceError, Status, MAX_CACHE_SECS, SKEW};
use crate::trust::notation::chain::Cert;

/// CRL extensions we understand (CRL number, authority key identifier).
const CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
const AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
/// CRL entry extensions we understand (reason code, invalidity date).
const REASON: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.21");
const INVALIDITY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.24");

/// Evaluate a DER CRL for `cert` at time `at` (a direct CRL of its issuer).
pub fn crl_answer(body: &[u8], cert: &Cert, issuer: &Cert, at: i64) -> Answer {
    use SourceError::{Malformed, Stale, Unsupported};
    let crl = x509_cert::crl::CertificateList::from_der(body)
        .map_err(|e| Malformed(format!("not a DER CRL: {e}")))?;
    let tbs = &crl.tbs_cert_list;
    if tbs.issuer != cert.x509().tbs_certificate.issuer {
        return Err(Unsupported(format!(
            "the CRL is issued by {}, not by the certificate's issuer (indirect CRLs are not supported)",
            tbs.issuer
        )));
    }
    let raw = tbs.to_der().map_err(|e| Malformed(e.to_string()))?;
    let sig = crl
        .signature
        .as_bytes()
        .ok_or_else(|| Malformed("the CRL signature is not whole bytes".into()))?;
    verify_by(issuer, &crl.signature_algorithm.oid, &raw, sig).map_err(|e| e.about("the CRL: "))?;
    for e in tbs.crl_extensions.iter().flatten() {
        if e.critical && e.extn_id != CRL_NUMBER && e.extn_id != AKI {
            return Err(Unsupported(format!(
                "the CRL has critical extension {} which img-authz does not support (delta or partitioned CRL)",
                e.extn_id
            )));
        }
    }
    let this = secs(tbs.this_update.to_unix_duration());
    if this > at + SKEW {
        return Err(Stale(format!(
            "the CRL is from the future (thisUpdate {})",
            rfc3339(this)
        )));
    }
    let until = match &tbs.next_update {
        Some(n) => {
            let n = secs(n.to_unix_duration());
            if n <= at {
                return Err(Stale(format!(
                    "the CRL is stale (nextUpdate {})",
                    rfc3339(n)
                )));
            }
            n.min(at + MAX_CACHE_SECS)
        }
        // RFC 5280 5.1.2.5 requires nextUpdate; without it an old CRL
        // could be replayed forever.
        None => return Err(Stale(
            "the CRL has no nextUpdate (RFC 5280 requires one), so its freshness cannot be judged"
                .into(),
        )),
    };
    let serial = &cert.x509().tbs_certificate.serial_number;
    for r in tbs.revoked_certificates.iter().flatten() {
        for e in r.crl_entry_extensions.iter().flatten() {
            if e.critical && e.extn_id != REASON && e.extn_id != INVALIDITY {
                return Err(Unsupported(format!(
                    "a CRL entry has critical extension {} which img-authz does not support",
                    e.extn_id
                )));
            }
        }
        if &r.serial_number == serial {
            let when = rfc3339(secs(r.revocation_date.to_unix_duration()));
            return Ok((Status::Revoked(when), until));
        }
    }
    Ok((Status::Good(until), until))
}
