//! Revocation against material our tests make: an rcgen CA, its CRLs
//! (rcgen) and OCSP responses (x509-ocsp structures signed with ring),
//! served by a loopback HTTP server of the test.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    CustomExtension, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use x509_cert::der::asn1::{BitString, GeneralizedTime, Ia5String, Null};
use x509_cert::ext::pkix::AccessDescription;
use x509_ocsp::{OcspGeneralizedTime, ResponderId, ResponseData, RevokedInfo, SingleResponse};

use super::super::tests::{config, dn, envelope, target, Pki};
use super::super::{evaluate_online, jws, Candidate, Failure, NotationConfig, Rejected};
use super::*;

fn now() -> i64 {
    super::super::now()
}

/// A CA that signs CRLs and OCSP responses, and leaves naming `ocsp`/`crl`.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    dn(&mut p, "acme", "root");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = p.self_signed(&key).unwrap();
    Ca { cert, key }
}

fn aia(url: &str) -> CustomExtension {
    let v = AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: AD_OCSP,
        access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(url).unwrap()),
    }]);
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], v.to_der().unwrap())
}

impl Ca {
    fn leaf(&self, serial: u64, ocsp: Option<&str>, crl: Option<&str>) -> Pki {
        let leaf_key = KeyPair::generate().unwrap();
        let mut lp = CertificateParams::new(Vec::<String>::new()).unwrap();
        dn(&mut lp, "acme", "signer");
        lp.serial_number = Some(SerialNumber::from(serial));
        lp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        if let Some(u) = ocsp {
            lp.custom_extensions.push(aia(u));
        }
        if let Some(u) = crl {
            lp.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![u.to_string()],
            }];
        }
        let leaf = lp.signed_by(&leaf_key, &self.cert, &self.key).unwrap();
        Pki {
            root_der: self.cert.der().to_vec(),
            leaf_der: leaf.der().to_vec(),
            leaf_key,
        }
    }

    /// A CRL revoking `serials`, valid from `this` to `next` (unix seconds).
    fn crl(&self, serials: &[u64], this: i64, next: i64) -> Vec<u8> {
        self.crl_idp(serials, this, next, None)
    }

    fn crl_idp(
        &self,
        serials: &[u64],
        this: i64,
        next: i64,
        idp: Option<rcgen::CrlIssuingDistributionPoint>,
    ) -> Vec<u8> {
        let t = |s: i64| time::OffsetDateTime::from_unix_timestamp(s).unwrap();
        CertificateRevocationListParams {
            this_update: t(this),
            next_update: t(next),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: idp,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: t(this - 60),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.cert, &self.key)
        .unwrap()
        .der()
        .to_vec()
    }
}

fn gt(t: i64) -> OcspGeneralizedTime {
    OcspGeneralizedTime(
        GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(t as u64)).unwrap(),
    )
}

/// An OCSP response about `leaf`, signed by `signer_key` (the CA's, or a
/// delegated responder's carried in `certs`).
fn ocsp(
    leaf: &Cert,
    issuer: &Cert,
    status: CertStatus,
    next: Option<i64>,
    signer_key: &KeyPair,
    certs: Option<Vec<x509_cert::Certificate>>,
) -> Vec<u8> {
    let this = now() - 60;
    ocsp_from(leaf, issuer, status, this, next, signer_key, certs)
}

/// [`ocsp`] with thisUpdate `this`.
fn ocsp_from(
    leaf: &Cert,
    issuer: &Cert,
    status: CertStatus,
    this: i64,
    next: Option<i64>,
    signer_key: &KeyPair,
    certs: Option<Vec<x509_cert::Certificate>>,
) -> Vec<u8> {
    let at = now();
    let tbs = ResponseData {
        version: Version::V1,
        responder_id: ResponderId::ByName(issuer.x509().tbs_certificate.subject.clone()),
        produced_at: gt(at),
        responses: vec![SingleResponse {
            cert_id: cert_id(leaf, issuer).unwrap(),
            cert_status: status,
            this_update: gt(this),
            next_update: next.map(gt),
            single_extensions: None,
        }],
        response_extensions: None,
    };
    let rng = SystemRandom::new();
    let k = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        &signer_key.serialize_der(),
        &rng,
    )
    .unwrap();
    let sig = k.sign(&rng, &tbs.to_der().unwrap()).unwrap();
    let basic = BasicOcspResponse {
        tbs_response_data: tbs,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: ECDSA_SHA256,
            parameters: None,
        },
        signature: BitString::from_bytes(sig.as_ref()).unwrap(),
        certs,
    };
    OcspResponse::successful(basic).unwrap().to_der().unwrap()
}

fn parsed(p: &Pki) -> (Cert, Cert) {
    (
        Cert::parse(&p.leaf_der).unwrap(),
        Cert::parse(&p.root_der).unwrap(),
    )
}

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

fn responder(ca: &Ca, eku: bool) -> (KeyPair, x509_cert::Certificate) {
    responder_ku(ca, eku, vec![KeyUsagePurpose::DigitalSignature])
}

fn responder_ku(ca: &Ca, eku: bool, ku: Vec<KeyUsagePurpose>) -> (KeyPair, x509_cert::Certificate) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    dn(&mut p, "acme", "ocsp responder");
    p.key_usages = ku;
    if eku {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    }
    let c = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (key, x509_cert::Certificate::from_der(c.der()).unwrap())
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

/// A loopback HTTP server answering each path with a body the test sets;
/// a path with no body gets a 404, a path set with `moved` a 302. Counts
/// requests.
struct Server {
    base: String,
    bodies: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    moved: Arc<Mutex<HashMap<String, String>>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

async fn server() -> Server {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let bodies: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let moved: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let hits = Arc::new(AtomicUsize::new(0));
    let (b, m, h) = (bodies.clone(), moved.clone(), hits.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            h.fetch_add(1, Ordering::SeqCst);
            let (b, m) = (b.clone(), m.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers, then Content-Length bytes of body.
                let (head_end, len) = loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let line = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let body = b.lock().unwrap().get(&path).cloned();
                let to = m.lock().unwrap().get(&path).cloned();
                let resp = match (to, body) {
                    (Some(to), _) => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes(),
                    (None, body) => match body {
                    Some(body) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&body);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                    },
                };
                let _ = s.write_all(&resp).await;
            });
        }
    });
    Server {
        base,
        bodies,
        moved,
        hits,
        task,
    }
}

impl Server {
    fn set(&self, path: &str, body: Vec<u8>) {
        self.bodies.lock().unwrap().insert(path.to_string(), body);
    }

    fn redirect(&self, path: &str, to: &str) {
        self.moved
            .lock()
            .unwrap()
            .insert(path.to_string(), to.to_string());
    }
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

#[tokio::test]
async fn ocsp_is_preferred_crl_is_the_fallback_and_results_are_cached() {
    let ca = ca();
    let srv = server().await;
    let at = now();
    let r = Revocation::new();
    // OCSP says revoked: the chain fails, the CRL is not consulted.
    let p = ca.leaf(
        31,
        Some(&format!("{}/ocsp", srv.base)),
        Some(&format!("{}/ca.crl", srv.base)),
    );
    let (leaf, root) = parsed(&p);
    srv.set(
        "/ocsp",
        ocsp(
            &leaf,
            &root,
            CertStatus::revoked(RevokedInfo {
                revocation_time: gt(at - 100),
                revocation_reason: None,
            }),
            Some(at + 600),
            &ca.key,
            None,
        ),
    );
    srv.set("/ca.crl", ca.crl(&[], at - 60, at + 600));
    let e = r
        .check(&[leaf.clone(), root.clone()], at)
        .await
        .unwrap_err();
    assert!(matches!(e, RevocationError::Revoked { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("is revoked") && text.contains("serial 1f") && text.contains("/ocsp"),
        "{text}"
    );
    // The responder down: the CRL decides (here: revoked too, by CRL).
    let p = ca.leaf(
        32,
        Some(&format!("{}/ocsp", closed_port())),
        Some(&format!("{}/ca.crl", srv.base)),
    );
    let (leaf, root) = parsed(&p);
    srv.set("/ca.crl", ca.crl(&[32], at - 60, at + 600));
    let e = r
        .check(&[leaf, root.clone()], at)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("is revoked") && e.contains("CRL"), "{e}");
    // Good by CRL, then cached: the server may go away.
    let p = ca.leaf(33, None, Some(&format!("{}/ca.crl", srv.base)));
    let (leaf, root) = parsed(&p);
    r.check(&[leaf.clone(), root.clone()], at).await.unwrap();
    let before = srv.hits.load(Ordering::SeqCst);
    srv.task.abort();
    r.check(&[leaf.clone(), root.clone()], at).await.unwrap();
    assert_eq!(
        srv.hits.load(Ordering::SeqCst),
        before,
        "the cached status was not reused"
    );
    // ... until the CRL's nextUpdate.
    let e = r.check(&[leaf, root], at + 601).await.unwrap_err();
    assert!(matches!(e, RevocationError::Undetermined { .. }), "{e}");
}

#[tokio::test]
async fn nothing_answering_is_undetermined_and_no_source_is_not_revoked() {
    let ca = ca();
    let srv = server().await;
    let at = now();
    let r = Revocation::new();
    // No pointers: not revoked, nothing asked.
    let p = ca.leaf(41, None, None);
    let (leaf, root) = parsed(&p);
    r.check(&[leaf, root], at).await.unwrap();
    // Both down / answering 404.
    let p = ca.leaf(
        42,
        Some(&format!("{}/ocsp", closed_port())),
        Some(&format!("{}/missing.crl", srv.base)),
    );
    let (leaf, root) = parsed(&p);
    let e = r.check(&[leaf, root], at).await.unwrap_err().to_string();
    assert!(
        e.contains("cannot be determined")
            && e.contains("OCSP responder")
            && e.contains("HTTP 404"),
        "{e}"
    );
    assert!(e.contains("\"revocation\": \"log\""), "{e}");
    // A responder that never answers is bounded by the OCSP timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/ocsp", silent.local_addr().unwrap());
    let p = ca.leaf(43, Some(&url), None);
    let (leaf, root) = parsed(&p);
    let t = std::time::Instant::now();
    let e = r.check(&[leaf, root], at).await.unwrap_err().to_string();
    assert!(e.contains("no answer within 2 s"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    drop(silent);
}

fn cfg_with(
    level: &str,
    extra: serde_json::Value,
    root: &[u8],
) -> (tempfile::TempDir, NotationConfig) {
    config(&[root], level, extra)
}

#[tokio::test]
async fn the_levels_decide_what_a_revoked_signer_means() {
    let ca = ca();
    let srv = server().await;
    let at = now();
    let p = ca.leaf(51, None, Some(&format!("{}/ca.crl", srv.base)));
    srv.set("/ca.crl", ca.crl(&[51], at - 60, at + 600));
    let cand = Candidate {
        origin: "signature x".into(),
        media_type: jws::MEDIA_TYPE.into(),
        bytes: envelope(&p, serde_json::json!({}), &target()).into(),
    };
    let run = |level: &'static str, extra: serde_json::Value| {
        let (d, cfg) = cfg_with(level, extra, &p.root_der);
        let cand = &cand;
        async move {
            let r = Revocation::new();
            let stmt = cfg.policy.select("r.io/app").unwrap();
            let out = evaluate_online(&cfg, stmt, &r, cand, &target(), at).await;
            drop(d);
            out
        }
    };
    let e = run("strict", serde_json::json!({})).await.unwrap_err();
    // The variant decides: the revocation step, enforced, for a revoked signer.
    assert!(
        matches!(
            &e,
            Rejected::Enforced {
                failure: Failure::Revocation(RevocationError::Revoked { .. })
            }
        ),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(
        e.starts_with("revocation check failed") && e.contains("is revoked"),
        "{e}"
    );
    for level in ["permissive", "audit"] {
        let o = run(level, serde_json::json!({})).await.unwrap();
        assert!(
            o.logged
                .iter()
                .any(|l| l.starts_with("revocation") && l.contains("is revoked")),
            "{level}: {:?}",
            o.logged
        );
    }
    let over = serde_json::json!({"signatureVerification": {"level": "permissive", "override": {"revocation": "enforce"}}});
    assert!(run("permissive", over).await.is_err());
    // skip: the CRL is not even fetched.
    let before = srv.hits.load(Ordering::SeqCst);
    let skip = serde_json::json!({"signatureVerification": {"level": "strict", "override": {"revocation": "skip"}}});
    run("strict", skip).await.unwrap();
    assert_eq!(srv.hits.load(Ordering::SeqCst), before);
    // Not revoked: strict passes.
    srv.set("/ca.crl", ca.crl(&[], at - 60, at + 600));
    run("strict", serde_json::json!({})).await.unwrap();
}

#[tokio::test]
async fn a_revoked_intermediate_fails_the_chain() {
    let root = ca();
    let srv = server().await;
    let at = now();
    let ikey = KeyPair::generate().unwrap();
    let mut ip = CertificateParams::new(Vec::<String>::new()).unwrap();
    dn(&mut ip, "acme", "intermediate");
    ip.serial_number = Some(SerialNumber::from(61u64));
    ip.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ip.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ip.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![format!("{}/root.crl", srv.base)],
    }];
    let icert = ip.signed_by(&ikey, &root.cert, &root.key).unwrap();
    let inter = Ca {
        cert: icert,
        key: ikey,
    };
    let p = inter.leaf(62, None, None);
    let chain = vec![
        Cert::parse(&p.leaf_der).unwrap(),
        Cert::parse(inter.cert.der()).unwrap(),
        Cert::parse(root.cert.der()).unwrap(),
    ];
    srv.set("/root.crl", root.crl(&[61], at - 60, at + 600));
    let e = Revocation::new()
        .check(&chain, at)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("CN=intermediate") && e.contains("is revoked"),
        "{e}"
    );
    srv.set("/root.crl", root.crl(&[], at - 60, at + 600));
    Revocation::new().check(&chain, at).await.unwrap();
}

#[tokio::test]
async fn an_expired_cached_crl_is_fetched_again() {
    let ca = ca();
    let srv = server().await;
    let at = now();
    let r = Revocation::new();
    let p = ca.leaf(71, None, Some(&format!("{}/ca.crl", srv.base)));
    let (leaf, root) = parsed(&p);
    let chain = [leaf, root];
    srv.set("/ca.crl", ca.crl(&[], at - 60, at + 600));
    r.check(&chain, at).await.unwrap();
    // The CA revokes the leaf; the cached CRL is good until its nextUpdate.
    srv.set("/ca.crl", ca.crl(&[71], at + 500, at + 1800));
    r.check(&chain, at + 300).await.unwrap();
    let e = r.check(&chain, at + 700).await.unwrap_err();
    assert!(matches!(e, RevocationError::Revoked { .. }), "{e}");
}

#[tokio::test]
async fn an_untrusted_chain_s_responders_are_never_queried() {
    let ca = ca();
    let srv = server().await;
    let at = now();
    let p = ca.leaf(81, None, Some(&format!("{}/ca.crl", srv.base)));
    srv.set("/ca.crl", ca.crl(&[], at - 60, at + 600));
    let cand = Candidate {
        origin: "signature x".into(),
        media_type: jws::MEDIA_TYPE.into(),
        bytes: envelope(&p, serde_json::json!({}), &target()).into(),
    };
    // A store holding another CA: authenticity fails, audit only logs it.
    let other = self::ca();
    let (_d, cfg) = cfg_with("audit", serde_json::json!({}), other.cert.der());
    let stmt = cfg.policy.select("r.io/app").unwrap();
    let r = Revocation::new();
    let o = evaluate_online(&cfg, stmt, &r, &cand, &target(), at)
        .await
        .unwrap();
    assert!(
        o.logged
            .iter()
            .any(|l| l.starts_with("revocation") && l.contains("not queried")),
        "{:?}",
        o.logged
    );
    // Revocation enforced by override: undetermined, so denied.
    let over = serde_json::json!({"signatureVerification": {"level": "audit", "override": {"revocation": "enforce"}}});
    let (_d, cfg) = cfg_with("audit", over, other.cert.der());
    let stmt = cfg.policy.select("r.io/app").unwrap();
    let e = evaluate_online(&cfg, stmt, &r, &cand, &target(), at)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Rejected::Enforced {
                failure: Failure::UntrustedChain(_)
            }
        ),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(e.contains("not queried"), "{e}");
    assert_eq!(
        srv.hits.load(Ordering::SeqCst),
        0,
        "an untrusted chain's CRL was fetched"
    );
}

/// `crl` re-signed by `key`, without its nextUpdate if `drop_next` (rcgen
/// always sets one).
fn resign(crl: &[u8], key: &KeyPair, drop_next: bool) -> Vec<u8> {
    let mut c = x509_cert::crl::CertificateList::from_der(crl).unwrap();
    if drop_next {
        c.tbs_cert_list.next_update = None;
    }
    let rng = SystemRandom::new();
    let k = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der(), &rng)
        .unwrap();
    let sig = k.sign(&rng, &c.tbs_cert_list.to_der().unwrap()).unwrap();
    c.signature = BitString::from_bytes(sig.as_ref()).unwrap();
    c.to_der().unwrap()
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

#[tokio::test]
async fn revocation_fetches_do_not_follow_redirects() {
    let ca = ca();
    let (front, inner) = (server().await, server().await);
    let at = now();
    let p = ca.leaf(93, None, Some(&format!("{}/ca.crl", front.base)));
    let (leaf, root) = parsed(&p);
    // The CRL host sends us to another (here: loopback) service, which
    // would even answer with a valid CRL.
    inner.set("/ca.crl", ca.crl(&[], at - 60, at + 600));
    front.redirect("/ca.crl", &format!("{}/ca.crl", inner.base));
    let e = Revocation::new()
        .check(&[leaf, root], at)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot be determined") && e.contains("302"),
        "{e}"
    );
    assert_eq!(front.hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        inner.hits.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

/// A listener that accepts connections, counts them, and never answers.
async fn silent() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    (base, hits, task)
}

#[tokio::test]
async fn a_silent_responder_is_asked_once_and_remembered_as_undetermined() {
    let ca = ca();
    let (base, hits, task) = silent().await;
    let at = now();
    let p = ca.leaf(94, Some(&format!("{base}/ocsp")), None);
    let (leaf, root) = parsed(&p);
    let chain = [leaf, root];
    let r = Revocation::new();
    // Two verifications at once share one request.
    let (a, b) = tokio::join!(r.check(&chain, at), r.check(&chain, at));
    for e in [a.unwrap_err(), b.unwrap_err()] {
        assert!(matches!(e, RevocationError::Undetermined { .. }), "{e}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "concurrent checks each asked"
    );
    // Within the negative-cache time: no request, still undetermined
    // (never "good"), and at once.
    let t = std::time::Instant::now();
    let e = r.check(&chain, at).await.unwrap_err();
    assert!(matches!(e, RevocationError::Undetermined { .. }), "{e}");
    assert!(e.to_string().contains("no answer within 2 s"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the failure was not remembered"
    );
    task.abort();
}

#[tokio::test]
async fn a_chain_s_revocation_check_stays_within_its_budget() {
    let ca = ca();
    let (base, _hits, task) = silent().await;
    let at = now();
    // Four silent responders and four silent CRLs: 4 × 2 s + 4 × 5 s
    // without a budget, above the plugin's 10 s decision deadline.
    let key = KeyPair::generate().unwrap();
    let mut lp = CertificateParams::new(Vec::<String>::new()).unwrap();
    dn(&mut lp, "acme", "signer");
    lp.serial_number = Some(SerialNumber::from(95u64));
    lp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let many = AuthorityInfoAccessSyntax(
        (0..4)
            .map(|i| AccessDescription {
                access_method: AD_OCSP,
                access_location: GeneralName::UniformResourceIdentifier(
                    Ia5String::new(&format!("{base}/ocsp{i}")).unwrap(),
                ),
            })
            .collect(),
    );
    lp.custom_extensions.push(CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 5, 5, 7, 1, 1],
        many.to_der().unwrap(),
    ));
    lp.crl_distribution_points = vec![CrlDistributionPoint {
        uris: (0..4).map(|i| format!("{base}/{i}.crl")).collect(),
    }];
    let leaf = lp.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let chain = [
        Cert::parse(leaf.der()).unwrap(),
        Cert::parse(ca.cert.der()).unwrap(),
    ];
    let t = std::time::Instant::now();
    let e = Revocation::new().check(&chain, at).await.unwrap_err();
    assert!(matches!(e, RevocationError::Undetermined { .. }), "{e}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(9),
        "took {:?}: {e}",
        t.elapsed()
    );
    task.abort();
}
