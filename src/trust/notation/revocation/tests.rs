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
use x509_cert::der::Encode;
use x509_cert::ext::pkix::AccessDescription;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{BasicOcspResponse, CertStatus, OcspResponse, Version};
use x509_ocsp::{OcspGeneralizedTime, ResponderId, ResponseData, RevokedInfo, SingleResponse};

use super::ocsp::cert_id;
use super::*;
use crate::trust::notation::tests::{config, dn, envelope, target, Pki};
use crate::trust::notation::{evaluate_online, jws, Candidate, Failure, NotationConfig, Rejected};

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

fn cfg_with(
    level: &str,
    extra: serde_json::Value,
    root: &[u8],
) -> (tempfile::TempDir, NotationConfig) {
    config(&[root], level, extra)
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

mod answers;
mod checks;
