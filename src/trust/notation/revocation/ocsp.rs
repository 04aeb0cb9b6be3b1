//! OCSP (RFC 6960): the request for a certificate (no nonce) and the
//! verification of a responder's answer (signed by the issuer or a
//! responder it delegated, covering the certificate, fresh).

use x509_cert::der::asn1::{ObjectIdentifier, OctetString};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage};
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    TbsRequest, Version,
};

use super::{
    rfc3339, secs, verify_by, Answer, SourceError, Status, MAX_CACHE_SECS, MAX_SOURCES,
    NO_NEXT_UPDATE_SECS, SKEW,
};
use crate::trust::notation::chain::Cert;

const OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const EKU_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// The OCSP CertID of `cert` (SHA-256 hashes of the issuer's name and key).
pub(super) fn cert_id(cert: &Cert, issuer: &Cert) -> Result<CertId, SourceError> {
    let der = |e: x509_cert::der::Error| SourceError::Malformed(e.to_string());
    let name = cert.x509().tbs_certificate.issuer.to_der().map_err(der)?;
    let sha = |b: &[u8]| ring::digest::digest(&ring::digest::SHA256, b);
    let name_hash = OctetString::new(sha(&name).as_ref()).map_err(der)?;
    let key_hash = OctetString::new(sha(issuer.key_bytes()).as_ref()).map_err(der)?;
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: SHA256,
            parameters: None,
        },
        issuer_name_hash: name_hash,
        issuer_key_hash: key_hash,
        serial_number: cert.x509().tbs_certificate.serial_number.clone(),
    })
}

/// A DER OCSP request for `cert`. No nonce (answers are cached, and many
/// responders ignore it): replays are bounded by the freshness checks of
/// [`ocsp_answer`] instead.
pub fn ocsp_request(cert: &Cert, issuer: &Cert) -> Result<Vec<u8>, SourceError> {
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id(cert, issuer)?,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(|e| SourceError::Malformed(e.to_string()))
}

fn gtime(t: &x509_ocsp::OcspGeneralizedTime) -> i64 {
    secs(t.0.to_unix_duration())
}

/// Evaluate an OCSP response body for `cert` at time `at`.
pub fn ocsp_answer(body: &[u8], cert: &Cert, issuer: &Cert, at: i64) -> Answer {
    use SourceError::{Malformed, Stale, Unsigned};
    let resp = OcspResponse::from_der(body)
        .map_err(|e| Malformed(format!("not an OCSP response: {e}")))?;
    if resp.response_status != OcspResponseStatus::Successful {
        return Err(Malformed(format!(
            "the responder answered {:?}",
            resp.response_status
        )));
    }
    let rb = resp
        .response_bytes
        .ok_or_else(|| Malformed("the responder answered no response bytes".into()))?;
    if rb.response_type != OCSP_BASIC {
        return Err(SourceError::Unsupported(format!(
            "response type {} is not id-pkix-ocsp-basic",
            rb.response_type
        )));
    }
    let basic = BasicOcspResponse::from_der(rb.response.as_bytes())
        .map_err(|e| Malformed(format!("not a basic OCSP response: {e}")))?;
    let tbs = basic
        .tbs_response_data
        .to_der()
        .map_err(|e| Malformed(e.to_string()))?;
    let sig = basic
        .signature
        .as_bytes()
        .ok_or_else(|| Malformed("the response signature is not whole bytes".into()))?;
    let alg = &basic.signature_algorithm.oid;
    // Signed by the issuer itself, or by a responder the issuer delegated.
    if let Err(direct) = verify_by(issuer, alg, &tbs, sig) {
        let mut ok = false;
        let mut why = vec![format!("by the issuer: {direct}")];
        let not_delegated = |m: String| Unsigned(m);
        for c in basic.certs.iter().flatten().take(MAX_SOURCES) {
            let attempt = (|| -> Result<(), SourceError> {
                let der = c.to_der().map_err(|e| Malformed(e.to_string()))?;
                let r = Cert::parse(&der).map_err(|e| Malformed(e.to_string()))?;
                r.signed_by(issuer)
                    .map_err(|e| not_delegated(format!("responder {}: {e}", r.subject_text())))?;
                let eku = r
                    .x509()
                    .tbs_certificate
                    .extensions
                    .iter()
                    .flatten()
                    .find(|e| e.extn_id == EXT_KEY_USAGE)
                    .and_then(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok());
                if !eku.is_some_and(|k| k.0.contains(&EKU_OCSP_SIGNING)) {
                    return Err(not_delegated(format!(
                        "responder {} is not delegated (no extendedKeyUsage OCSPSigning)",
                        r.subject_text()
                    )));
                }
                // keyUsage, if present, must allow signing (RFC 5280 4.2.1.3).
                let mut kus = r
                    .x509()
                    .tbs_certificate
                    .extensions
                    .iter()
                    .flatten()
                    .filter(|e| e.extn_id == KEY_USAGE);
                if let Some(e) = kus.next() {
                    let ku = KeyUsage::from_der(e.extn_value.as_bytes()).map_err(|err| {
                        Malformed(format!("responder {}: keyUsage: {err}", r.subject_text()))
                    })?;
                    if kus.next().is_some() || !ku.digital_signature() {
                        return Err(not_delegated(format!(
                            "responder {} has keyUsage without digitalSignature (or twice)",
                            r.subject_text()
                        )));
                    }
                }
                if !r.valid_at(at) {
                    return Err(not_delegated(format!(
                        "responder {} is not valid now",
                        r.subject_text()
                    )));
                }
                verify_by(&r, alg, &tbs, sig)
            })();
            match attempt {
                Ok(()) => {
                    ok = true;
                    break;
                }
                Err(e) => why.push(e.to_string()),
            }
        }
        if !ok {
            return Err(Unsigned(format!(
                "the response is not signed by the issuer or a delegated responder ({})",
                why.join("; ")
            )));
        }
    }
    let want = cert_id(cert, issuer)?;
    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| {
            r.cert_id.serial_number == want.serial_number
                && r.cert_id.hash_algorithm.oid == SHA256
                && r.cert_id.issuer_name_hash == want.issuer_name_hash
                && r.cert_id.issuer_key_hash == want.issuer_key_hash
        })
        .ok_or(SourceError::NotCovered)?;
    let this = gtime(&single.this_update);
    if this > at + SKEW {
        return Err(Stale(format!(
            "the response is from the future (thisUpdate {})",
            rfc3339(this)
        )));
    }
    let until = match &single.next_update {
        Some(n) => {
            let n = gtime(n);
            if n <= at {
                return Err(Stale(format!(
                    "the response is stale (nextUpdate {})",
                    rfc3339(n)
                )));
            }
            n.min(at + MAX_CACHE_SECS)
        }
        // No nonce is sent: only a recent answer shows it is not a replay.
        None if at - this > NO_NEXT_UPDATE_SECS + SKEW => {
            return Err(Stale(format!(
                "the response has no nextUpdate and is too old to rule out a replay (thisUpdate {}, more than {} s ago)",
                rfc3339(this),
                NO_NEXT_UPDATE_SECS + SKEW
            )))
        }
        None => (at + NO_NEXT_UPDATE_SECS).min(this + NO_NEXT_UPDATE_SECS + SKEW),
    };
    match &single.cert_status {
        CertStatus::Good(_) => Ok((Status::Good(until), until)),
        CertStatus::Revoked(info) => Ok((
            Status::Revoked(rfc3339(gtime(&info.revocation_time))),
            until,
        )),
        CertStatus::Unknown(_) => Err(SourceError::Unknown),
    }
}
