//! The answers of one source, verified without the network: CRLs and
//! OCSP responses (signature, delegation, coverage, freshness).

use super::*;

#[test]
fn crl_answers_are_verified_and_fresh() {
    let ca = ca();
    let p = ca.leaf(7, None, Some("http://127.0.0.1:1/ca.crl"));
    let (leaf, root) = parsed(&p);
    let at = now();
    let good = ca.crl(&[3, 9], at - 60, at + 600);
    assert_eq!(
        crl_answer(&good, &leaf, &root, at).unwrap(),
        (Status::Good(at + 600), at + 600)
    );
    let revoked = ca.crl(&[3, 7], at - 60, at + 600);
    assert!(matches!(
        crl_answer(&revoked, &leaf, &root, at).unwrap().0,
        Status::Revoked(_)
    ));
    let stale = ca.crl(&[], at - 7200, at - 3600);
    assert!(crl_answer(&stale, &leaf, &root, at)
        .unwrap_err()
        .to_string()
        .contains("stale"));
    let future = ca.crl(&[], at + 3600, at + 7200);
    assert!(crl_answer(&future, &leaf, &root, at)
        .unwrap_err()
        .to_string()
        .contains("future"));
    // Another CA of the same name signs a CRL: its signature does not verify.
    let forger = self::ca();
    let forged = forger.crl(&[], at - 60, at + 600);
    assert!(crl_answer(&forged, &leaf, &root, at)
        .unwrap_err()
        .to_string()
        .contains("does not verify"));
    // A partitioned CRL (critical issuingDistributionPoint) is not
    // supported: undetermined, never "good".
    let idp = rcgen::CrlIssuingDistributionPoint {
        distribution_point: CrlDistributionPoint {
            uris: vec!["http://127.0.0.1:1/ca.crl".into()],
        },
        scope: Some(rcgen::CrlScope::UserCertsOnly),
    };
    let partitioned = ca.crl_idp(&[], at - 60, at + 600, Some(idp));
    assert!(crl_answer(&partitioned, &leaf, &root, at)
        .unwrap_err()
        .to_string()
        .contains("critical extension 2.5.29.28"));
    assert!(crl_answer(b"garbage", &leaf, &root, at)
        .unwrap_err()
        .to_string()
        .contains("not a DER CRL"));
}

#[test]
fn ocsp_answers_are_verified_and_fresh() {
    let ca = ca();
    let p = ca.leaf(11, Some("http://127.0.0.1:1/ocsp"), None);
    let (leaf, root) = parsed(&p);
    let at = now();
    let good = ocsp(
        &leaf,
        &root,
        CertStatus::good(),
        Some(at + 600),
        &ca.key,
        None,
    );
    assert_eq!(
        ocsp_answer(&good, &leaf, &root, at).unwrap().0,
        Status::Good(at + 600)
    );
    let revoked = ocsp(
        &leaf,
        &root,
        CertStatus::revoked(RevokedInfo {
            revocation_time: gt(at - 100),
            revocation_reason: None,
        }),
        Some(at + 600),
        &ca.key,
        None,
    );
    assert!(matches!(
        ocsp_answer(&revoked, &leaf, &root, at).unwrap().0,
        Status::Revoked(_)
    ));
    let unknown = ocsp(
        &leaf,
        &root,
        CertStatus::Unknown(Null),
        Some(at + 600),
        &ca.key,
        None,
    );
    assert!(ocsp_answer(&unknown, &leaf, &root, at)
        .unwrap_err()
        .to_string()
        .contains("does not know"));
    let stale = ocsp(
        &leaf,
        &root,
        CertStatus::good(),
        Some(at - 10),
        &ca.key,
        None,
    );
    assert!(ocsp_answer(&stale, &leaf, &root, at)
        .unwrap_err()
        .to_string()
        .contains("stale"));
    // Signed by a key the issuer never delegated.
    let stranger = KeyPair::generate().unwrap();
    let forged = ocsp(
        &leaf,
        &root,
        CertStatus::good(),
        Some(at + 600),
        &stranger,
        None,
    );
    assert!(ocsp_answer(&forged, &leaf, &root, at)
        .unwrap_err()
        .to_string()
        .contains("not signed by the issuer"));
    // About another certificate of the CA.
    let other = ca.leaf(12, Some("http://127.0.0.1:1/ocsp"), None);
    let (other, _) = parsed(&other);
    let elsewhere = ocsp(
        &other,
        &root,
        CertStatus::good(),
        Some(at + 600),
        &ca.key,
        None,
    );
    assert!(ocsp_answer(&elsewhere, &leaf, &root, at)
        .unwrap_err()
        .to_string()
        .contains("does not cover"));
    assert!(
        ocsp_answer(&[0x30, 0x03, 0x0a, 0x01, 0x03], &leaf, &root, at)
            .unwrap_err()
            .to_string()
            .contains("answered")
    );
}

#[test]
fn a_delegated_responder_needs_the_ocsp_signing_eku() {
    let ca = ca();
    let p = ca.leaf(21, Some("http://127.0.0.1:1/ocsp"), None);
    let (leaf, root) = parsed(&p);
    let at = now();
    let (key, cert) = responder(&ca, true);
    let good = ocsp(
        &leaf,
        &root,
        CertStatus::good(),
        Some(at + 600),
        &key,
        Some(vec![cert]),
    );
    assert!(matches!(
        ocsp_answer(&good, &leaf, &root, at).unwrap().0,
        Status::Good(_)
    ));
    let (key, cert) = responder(&ca, false);
    let undelegated = ocsp(
        &leaf,
        &root,
        CertStatus::good(),
        Some(at + 600),
        &key,
        Some(vec![cert]),
    );
    assert!(ocsp_answer(&undelegated, &leaf, &root, at)
        .unwrap_err()
        .to_string()
        .contains("not delegated"));
}

#[test]
fn an_answer_without_next_update_cannot_be_replayed() {
    let ca = ca();
    let p = ca.leaf(91, Some("http://127.0.0.1:1/ocsp"), None);
    let (leaf, root) = parsed(&p);
    let at = now();
    // A fresh "good" without nextUpdate is accepted ...
    let fresh = ocsp_from(
        &leaf,
        &root,
        CertStatus::good(),
        at - 60,
        None,
        &ca.key,
        None,
    );
    assert!(matches!(
        ocsp_answer(&fresh, &leaf, &root, at).unwrap().0,
        Status::Good(_)
    ));
    // ... one captured 30 days ago (before a revocation) is not.
    let old = at - 30 * 24 * 3600;
    let replayed = ocsp_from(&leaf, &root, CertStatus::good(), old, None, &ca.key, None);
    let e = ocsp_answer(&replayed, &leaf, &root, at).unwrap_err();
    assert!(matches!(e, SourceError::Stale(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("no nextUpdate") && e.contains("too old"), "{e}");
    // A CRL without nextUpdate (RFC 5280 requires one) is undetermined,
    // however recent, and then never "good".
    let crl = ca.crl(&[], at - 60, at + 600);
    let e = crl_answer(&resign(&crl, &ca.key, true), &leaf, &root, at).unwrap_err();
    assert!(matches!(e, SourceError::Stale(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("no nextUpdate"), "{e}");
    // The re-signing itself is sound: keeping nextUpdate, it is good.
    assert!(matches!(
        crl_answer(&resign(&crl, &ca.key, false), &leaf, &root, at)
            .unwrap()
            .0,
        Status::Good(_)
    ));
}

#[test]
fn a_delegated_responder_needs_digital_signature_key_usage() {
    let ca = ca();
    let p = ca.leaf(92, Some("http://127.0.0.1:1/ocsp"), None);
    let (leaf, root) = parsed(&p);
    let at = now();
    let (key, cert) = responder_ku(&ca, true, vec![KeyUsagePurpose::CrlSign]);
    let answer = ocsp(
        &leaf,
        &root,
        CertStatus::good(),
        Some(at + 600),
        &key,
        Some(vec![cert]),
    );
    let e = ocsp_answer(&answer, &leaf, &root, at).unwrap_err();
    assert!(matches!(e, SourceError::Unsigned(_)), "{e:?}");
    let e = e.to_string();
    assert!(
        e.contains("keyUsage") && e.contains("digitalSignature"),
        "{e}"
    );
    // No keyUsage at all: the EKU alone delegates (RFC 6960).
    let (key, cert) = responder_ku(&ca, true, vec![]);
    let answer = ocsp(
        &leaf,
        &root,
        CertStatus::good(),
        Some(at + 600),
        &key,
        Some(vec![cert]),
    );
    assert!(matches!(
        ocsp_answer(&answer, &leaf, &root, at).unwrap().0,
        Status::Good(_)
    ));
}
