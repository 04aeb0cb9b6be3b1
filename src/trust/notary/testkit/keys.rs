//! Test keys derived from labels, and test certificates and CAs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256, Sha512};
use time::OffsetDateTime;

use crate::trust::notary::keys::{hex, tuf_key_id};

use super::*;

/// `n` pseudo-random bytes determined by `label`.
fn derive(label: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut counter = 0u64;
    while out.len() < n {
        let mut h = Sha512::new();
        h.update(label.as_bytes());
        h.update(counter.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(n);
    out
}

/// A deterministic RNG (SHA-512 in counter mode) for RSA key generation
/// and PSS salts.
struct LabelRng {
    label: String,
    counter: u64,
}

impl rsa::rand_core::RngCore for LabelRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.counter += 1;
        let bytes = derive(&format!("{}#{}", self.label, self.counter), dest.len());
        dest.copy_from_slice(&bytes);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for LabelRng {}

fn rsa_key(label: &str) -> rsa::RsaPrivateKey {
    static CACHE: OnceLock<Mutex<HashMap<String, rsa::RsaPrivateKey>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    cache
        .entry(label.to_string())
        .or_insert_with(|| {
            let mut rng = LabelRng {
                label: format!("rsa:{label}"),
                counter: 0,
            };
            rsa::RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation")
        })
        .clone()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Ed25519,
    P256,
    P384,
    Rsa,
}

#[derive(Clone)]
enum Secret {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// A signing key and the public key object metadata lists for it.
#[derive(Clone)]
pub(crate) struct TestKey {
    secret: Secret,
    /// `ed25519`, `ecdsa`, `rsa`, `ecdsa-x509` or `rsa-x509`.
    pub keytype: String,
    /// `keyval.public`.
    pub public: String,
    /// The signature method used by [`TestKey::sign`].
    pub method: String,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TestKey({} {} {})",
            self.keytype,
            self.method,
            &self.id()[..12]
        )
    }
}

impl TestKey {
    /// A key of `kind` derived from `label`, as a plain (non-x509) key.
    pub fn new(kind: KeyKind, label: &str) -> TestKey {
        let (secret, keytype, method) = match kind {
            KeyKind::Ed25519 => {
                let seed: [u8; 32] = derive(&format!("ed25519:{label}"), 32).try_into().unwrap();
                (
                    Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)),
                    "ed25519",
                    "eddsa",
                )
            }
            KeyKind::P256 => (
                Secret::P256(
                    p256::ecdsa::SigningKey::from_slice(&derive(&format!("p256:{label}"), 32))
                        .unwrap(),
                ),
                "ecdsa",
                "ecdsa",
            ),
            KeyKind::P384 => (
                Secret::P384(
                    p384::ecdsa::SigningKey::from_slice(&derive(&format!("p384:{label}"), 48))
                        .unwrap(),
                ),
                "ecdsa",
                "ecdsa",
            ),
            KeyKind::Rsa => (Secret::Rsa(Box::new(rsa_key(label))), "rsa", "rsapss"),
        };
        let mut k = TestKey {
            secret,
            keytype: keytype.to_string(),
            public: String::new(),
            method: method.to_string(),
        };
        k.public = match &k.secret {
            Secret::Ed25519(s) => b64(s.verifying_key().as_bytes()),
            _ => b64(&k.spki_der()),
        };
        k
    }

    pub fn ed25519(label: &str) -> TestKey {
        TestKey::new(KeyKind::Ed25519, label)
    }
    pub fn p256(label: &str) -> TestKey {
        TestKey::new(KeyKind::P256, label)
    }
    pub fn p384(label: &str) -> TestKey {
        TestKey::new(KeyKind::P384, label)
    }
    pub fn rsa(label: &str) -> TestKey {
        TestKey::new(KeyKind::Rsa, label)
    }

    /// The same key signing with another method (`rsapkcs1v15`, ...).
    pub fn with_method(mut self, method: &str) -> TestKey {
        self.method = method.to_string();
        self
    }

    /// The TUF key ID.
    pub fn id(&self) -> String {
        tuf_key_id(&self.keytype, &self.public).unwrap()
    }

    /// The key object as metadata lists it.
    pub fn json(&self) -> Value {
        json!({"keytype": self.keytype, "keyval": {"private": null, "public": self.public}})
    }

    /// SubjectPublicKeyInfo, DER (not for ed25519, whose metadata form is raw).
    pub fn spki_der(&self) -> Vec<u8> {
        use p256::pkcs8::EncodePublicKey;
        match &self.secret {
            Secret::Ed25519(s) => s.verifying_key().to_public_key_der().unwrap().to_vec(),
            Secret::P256(s) => s.verifying_key().to_public_key_der().unwrap().to_vec(),
            Secret::P384(s) => s.verifying_key().to_public_key_der().unwrap().to_vec(),
            Secret::Rsa(s) => rsa::pkcs8::EncodePublicKey::to_public_key_der(&s.to_public_key())
                .unwrap()
                .to_vec(),
        }
    }

    /// Notary's canonical ID (of the plain `ecdsa`/`rsa` key), as
    /// `notary key list` prints it and `trust_pinning.certs` lists it.
    pub fn canonical_id(&self) -> String {
        let kt = match self.secret {
            Secret::Rsa(_) => "rsa",
            Secret::Ed25519(_) => "ed25519",
            _ => "ecdsa",
        };
        tuf_key_id(kt, &b64(&self.spki_der())).unwrap()
    }

    /// Sign `msg` (the canonical bytes) with `self.method`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match (&self.secret, self.method.as_str()) {
            (Secret::Ed25519(s), _) => {
                use ed25519_dalek::Signer;
                s.sign(msg).to_bytes().to_vec()
            }
            (Secret::P256(s), _) => {
                use p256::ecdsa::signature::hazmat::PrehashSigner;
                let sig: p256::ecdsa::Signature = s.sign_prehash(&Sha256::digest(msg)).unwrap();
                sig.to_bytes().to_vec()
            }
            (Secret::P384(s), _) => {
                use p384::ecdsa::signature::hazmat::PrehashSigner;
                let sig: p384::ecdsa::Signature = s.sign_prehash(&Sha256::digest(msg)).unwrap();
                sig.to_bytes().to_vec()
            }
            (Secret::Rsa(s), "rsapkcs1v15") => {
                use rsa::signature::{SignatureEncoding, Signer};
                rsa::pkcs1v15::SigningKey::<Sha256>::new((**s).clone())
                    .sign(msg)
                    .to_vec()
            }
            (Secret::Rsa(s), _) => {
                use rsa::signature::{RandomizedSigner, SignatureEncoding};
                let mut rng = LabelRng {
                    label: format!("pss:{}", hex(&Sha256::digest(msg))),
                    counter: 0,
                };
                rsa::pss::SigningKey::<Sha256>::new((**s).clone())
                    .sign_with_rng(&mut rng, msg)
                    .to_vec()
            }
        }
    }

    /// A DER signature (not notary's raw r‖s), for negative tests.
    pub fn sign_ecdsa_der(&self, msg: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let Secret::P256(s) = &self.secret else {
            panic!("not a P-256 key")
        };
        let sig: p256::ecdsa::Signature = s.sign_prehash(&Sha256::digest(msg)).unwrap();
        sig.to_der().as_bytes().to_vec()
    }

    fn rcgen_key(&self) -> rcgen::KeyPair {
        use p256::pkcs8::EncodePrivateKey;
        let der = match &self.secret {
            Secret::Ed25519(s) => s.to_pkcs8_der().unwrap(),
            Secret::P256(s) => s.to_pkcs8_der().unwrap(),
            Secret::P384(s) => s.to_pkcs8_der().unwrap(),
            Secret::Rsa(s) => rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(&**s).unwrap(),
        };
        rcgen::KeyPair::try_from(der.as_bytes()).expect("rcgen accepts the key")
    }

    /// This key as an x509 root key: a certificate by `spec`, self-signed,
    /// or issued by `spec.issuer` (the chain then follows the leaf).
    pub fn certified(&self, spec: &CertSpec) -> TestKey {
        let kp = self.rcgen_key();
        let params = spec.params();
        let mut pem = match &spec.issuer {
            None => params.self_signed(&kp).unwrap().pem(),
            Some(ca) => params.signed_by(&kp, &ca.cert, &ca.kp).unwrap().pem(),
        };
        if let Some(ca) = &spec.issuer {
            pem.push_str(&ca.chain_pem);
        }
        let keytype = match self.secret {
            Secret::Rsa(_) => "rsa-x509",
            Secret::P256(_) | Secret::P384(_) => "ecdsa-x509",
            Secret::Ed25519(_) => panic!("notary has no ed25519 certificates"),
        };
        TestKey {
            secret: self.secret.clone(),
            keytype: keytype.to_string(),
            public: b64(pem.as_bytes()),
            method: self.method.clone(),
        }
    }

    /// A P-256 root key with a self-signed certificate for `cn`.
    pub fn root_cert(label: &str, cn: &str) -> TestKey {
        TestKey::p256(label).certified(&CertSpec::new(cn))
    }
}

/// What goes into a root certificate.
#[derive(Clone)]
pub(crate) struct CertSpec {
    pub cn: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub issuer: Option<Arc<TestCa>>,
    /// A CA certificate (CA:TRUE), which is no root key.
    pub ca: bool,
}

impl CertSpec {
    /// Notary's defaults: CN = GUN, valid 10 years (from a day ago).
    pub fn new(cn: &str) -> CertSpec {
        CertSpec {
            cn: cn.to_string(),
            not_before: day(-1),
            not_after: day(3650),
            issuer: None,
            ca: false,
        }
    }

    /// NotBefore and NotAfter.
    pub fn valid(mut self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> CertSpec {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// Issued by `ca` instead of self-signed; the key's PEM bundle then
    /// carries `ca`'s intermediates after the leaf.
    pub fn issued_by(mut self, ca: &Arc<TestCa>) -> CertSpec {
        self.issuer = Some(ca.clone());
        self
    }

    /// Mark the certificate CA:TRUE (with keyCertSign): no valid root key.
    pub fn ca_certificate(mut self) -> CertSpec {
        self.ca = true;
        self
    }

    fn params(&self) -> rcgen::CertificateParams {
        let mut p = rcgen::CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, self.cn.as_str());
        p.not_before = self.not_before;
        p.not_after = self.not_after;
        p.is_ca = rcgen::IsCa::ExplicitNoCa;
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
        if self.ca {
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            p.key_usages.push(rcgen::KeyUsagePurpose::KeyCertSign);
        }
        p
    }
}

/// A certificate authority issuing root certificates (for CA pinning).
pub(crate) struct TestCa {
    kp: rcgen::KeyPair,
    cert: rcgen::Certificate,
    /// Certificates to send after a leaf it issues: itself, if it is an
    /// intermediate, and its own chain; nothing for a root CA.
    chain_pem: String,
}

impl TestCa {
    fn ca_params(name: &str) -> rcgen::CertificateParams {
        let mut p = rcgen::CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.not_before = day(-30);
        p.not_after = day(3650);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        p
    }

    /// A self-signed CA.
    pub fn root(label: &str) -> Arc<TestCa> {
        let kp = TestKey::p256(&format!("ca:{label}")).rcgen_key();
        let cert = TestCa::ca_params(&format!("Test CA {label}"))
            .self_signed(&kp)
            .unwrap();
        Arc::new(TestCa {
            kp,
            cert,
            chain_pem: String::new(),
        })
    }

    /// An intermediate CA issued by `self`.
    pub fn intermediate(self: &Arc<TestCa>, label: &str) -> Arc<TestCa> {
        let kp = TestKey::p256(&format!("ca:{label}")).rcgen_key();
        let cert = TestCa::ca_params(&format!("Test intermediate {label}"))
            .signed_by(&kp, &self.cert, &self.kp)
            .unwrap();
        let chain_pem = format!("{}{}", cert.pem(), self.chain_pem);
        Arc::new(TestCa {
            kp,
            cert,
            chain_pem,
        })
    }

    /// The CA certificate, as a pin bundle holds it.
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
}
