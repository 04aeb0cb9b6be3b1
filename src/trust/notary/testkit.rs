//! Test-time Notary v1 repositories, written from the format description
//! (not from notary's fixtures, whose root certificate has expired).
//!
//! A [`Repo`] describes one GUN's roles — keys, thresholds, versions,
//! expiries, who actually signs, tags, delegations — and [`Repo::build`]
//! turns it into role files as notary-server serves them:
//!
//! - `{"signed":<canonical JSON>,"signatures":[{"keyid","method","sig"}]}`;
//! - root keys are `ecdsa-x509`/`rsa-x509` certificates (CN = GUN, CA:FALSE,
//!   KU digitalSignature + keyEncipherment, EKU codeSigning), self-signed or
//!   issued by a [`TestCa`];
//! - timestamp and snapshot are `ed25519` (`eddsa`), targets and delegations
//!   `ecdsa` (raw r‖s over SHA-256), unless a test says otherwise;
//! - hashes in `meta` and `targets` are base64.
//!
//! [`Repo::publish`] puts the files into a [`MemFetch`] under `<role>.json`,
//! `<role>.<sha256hex>.json` and `<version>.<role>.json`, keeping the files
//! of earlier publications (as the server keeps files by hash), so tests can
//! replay old metadata.
//!
//! Keys are derived from labels through SHA-2, so every run signs with the
//! same keys; RSA keys (slow to generate) are cached per label. Certificates
//! are made by rcgen, whose ECDSA signatures are randomised: a root key's ID
//! is stable within one [`Repo`] (cloned with it), not across runs.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256, Sha512};
use time::{Duration, OffsetDateTime};

use super::canonical::canonical;
use super::client::Fetch;
use super::keys::{hex, tuf_key_id};
use super::TufError;

/// The repository most tests use: a registry with a port, as Docker names it.
pub(crate) const GUN: &str = "registry.example.com:5000/team/app";

pub(crate) use crate::trust::encoding::b64_encode as b64;

/// The instant every test repository is made at (the wall clock at first
/// use, whole seconds). Expiries are relative to it, so tests inject
/// `base_time() + n days` as `now`.
pub(crate) fn base_time() -> OffsetDateTime {
    static BASE: OnceLock<OffsetDateTime> = OnceLock::new();
    *BASE.get_or_init(|| {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    })
}

/// `base_time()` plus `n` days (negative: before).
pub(crate) fn day(n: i64) -> OffsetDateTime {
    base_time() + Duration::days(n)
}

/// `sha256:<hex>` of a manifest's bytes.
pub(crate) fn digest_of(manifest: &str) -> String {
    format!("sha256:{}", hex(&Sha256::digest(manifest.as_bytes())))
}

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

/// One role's keys, threshold, version, expiry, and who actually signs.
#[derive(Clone, Debug)]
pub(crate) struct RoleSpec {
    pub keys: Vec<TestKey>,
    pub threshold: u64,
    pub version: u64,
    pub expires: OffsetDateTime,
    /// Sign with these instead of `keys` (wrong keys, too few, duplicates).
    pub signers: Option<Vec<TestKey>>,
}

impl RoleSpec {
    pub fn new(key: TestKey, expires: OffsetDateTime) -> RoleSpec {
        RoleSpec {
            keys: vec![key],
            threshold: 1,
            version: 1,
            expires,
            signers: None,
        }
    }

    fn signers(&self) -> &[TestKey] {
        self.signers.as_deref().unwrap_or(&self.keys)
    }

    fn keyids(&self) -> Vec<String> {
        self.keys.iter().map(TestKey::id).collect()
    }
}

/// A signed tag: the manifest digest and its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TestTarget {
    pub sha256: [u8; 32],
    pub length: u64,
}

impl TestTarget {
    pub fn of(manifest: &str) -> TestTarget {
        TestTarget {
            sha256: Sha256::digest(manifest.as_bytes()).into(),
            length: manifest.len() as u64,
        }
    }
}

/// A delegation declared in top-level targets, and its own file.
#[derive(Clone, Debug)]
pub(crate) struct Delegation {
    /// `targets/releases`, `targets/<signer>`.
    pub name: String,
    pub role: RoleSpec,
    pub paths: Vec<String>,
    pub tags: BTreeMap<String, TestTarget>,
    /// Listed in targets' `delegations` (false: only its file exists).
    pub declared: bool,
}

type Edit = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// A Notary repository under construction.
#[derive(Clone)]
pub(crate) struct Repo {
    pub gun: String,
    pub root: RoleSpec,
    pub targets: RoleSpec,
    pub snapshot: RoleSpec,
    pub timestamp: RoleSpec,
    /// Tags signed directly by `targets`.
    pub tags: BTreeMap<String, TestTarget>,
    pub delegations: Vec<Delegation>,
    /// Changes applied to a role's `signed` object before signing.
    edits: Vec<(String, Edit)>,
    /// Role files used as-is instead of generated ones (snapshot and
    /// timestamp then list these bytes).
    pub replace: BTreeMap<String, Vec<u8>>,
}

/// Expiry in notary's form: RFC 3339, nanoseconds, a non-UTC offset.
pub(crate) fn expires_str(t: OffsetDateTime) -> String {
    let t = (t + Duration::nanoseconds(123_456_789)).to_offset(time::macros::offset!(-5));
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn meta_entry(bytes: &[u8]) -> Value {
    json!({
        "hashes": {"sha256": b64(&Sha256::digest(bytes)), "sha512": b64(&Sha512::digest(bytes))},
        "length": bytes.len(),
    })
}

fn targets_map(tags: &BTreeMap<String, TestTarget>) -> Value {
    tags.iter()
        .map(|(tag, t)| {
            (
                tag.clone(),
                json!({"hashes": {"sha256": b64(&t.sha256)}, "length": t.length}),
            )
        })
        .collect::<Map<_, _>>()
        .into()
}

/// The signature object of `key` over `canonical` bytes.
pub(crate) fn signature(key: &TestKey, canonical_bytes: &[u8]) -> Value {
    json!({"keyid": key.id(), "method": key.method, "sig": b64(&key.sign(canonical_bytes))})
}

/// A role file as notary serves it: the canonical `signed` and `sigs`.
pub(crate) fn envelope(signed: &Value, sigs: &[Value]) -> Vec<u8> {
    let mut out = b"{\"signed\":".to_vec();
    out.extend(canonical(signed).unwrap());
    out.extend(b",\"signatures\":");
    out.extend(serde_json::to_vec(sigs).unwrap());
    out.push(b'}');
    out
}

/// A role file of `signed`, signed by each of `keys` (in order).
pub(crate) fn sign_envelope(signed: &Value, keys: &[TestKey]) -> Vec<u8> {
    let c = canonical(signed).unwrap();
    let sigs: Vec<Value> = keys.iter().map(|k| signature(k, &c)).collect();
    envelope(signed, &sigs)
}

/// The same file with one bit of every signature flipped.
pub(crate) fn corrupt_signatures(file: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(file).unwrap();
    let sigs: Vec<Value> = v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut raw = crate::trust::encoding::b64_decode(s["sig"].as_str().unwrap()).unwrap();
            let mid = raw.len() / 2;
            raw[mid] ^= 0x01;
            let mut s = s.clone();
            s["sig"] = b64(&raw).into();
            s
        })
        .collect();
    envelope(&v["signed"], &sigs)
}

/// The role files of one build.
#[derive(Clone, Debug)]
pub(crate) struct Built {
    /// By role name: `root`, `targets`, `targets/releases`, `snapshot`, `timestamp`.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The version each file was published as.
    pub versions: BTreeMap<String, u64>,
}

impl Built {
    pub fn file(&self, role: &str) -> &[u8] {
        self.files
            .get(role)
            .unwrap_or_else(|| panic!("no {role} in this build"))
    }

    /// `<role>.<sha256hex>.json`, the name a parent's meta fetches.
    pub fn hashed_name(&self, role: &str) -> String {
        format!("{role}.{}.json", hex(&Sha256::digest(self.file(role))))
    }
}

impl Repo {
    /// A repository for `gun` with keys derived from `gun`.
    pub fn new(gun: &str) -> Repo {
        Repo::with_seed(gun, gun)
    }

    /// A repository for `gun` with keys derived from `seed`: notary's
    /// defaults (root P-256 certificate, targets P-256, snapshot and
    /// timestamp Ed25519, a `targets/releases` delegation for all paths),
    /// no tags, every role at version 1.
    pub fn with_seed(gun: &str, seed: &str) -> Repo {
        let k = |role: &str| format!("{seed}#{role}");
        Repo {
            gun: gun.to_string(),
            root: RoleSpec::new(TestKey::root_cert(&k("root"), gun), day(3650)),
            targets: RoleSpec::new(TestKey::p256(&k("targets")), day(1095)),
            snapshot: RoleSpec::new(TestKey::ed25519(&k("snapshot")), day(1095)),
            timestamp: RoleSpec::new(TestKey::ed25519(&k("timestamp")), day(14)),
            tags: BTreeMap::new(),
            delegations: vec![Delegation {
                name: super::update::RELEASES.to_string(),
                role: RoleSpec::new(TestKey::p256(&k("releases")), day(1095)),
                paths: vec![String::new()],
                tags: BTreeMap::new(),
                declared: true,
            }],
            edits: Vec::new(),
            replace: BTreeMap::new(),
        }
    }

    /// Add a delegation `name` with one fresh key, for all paths.
    pub fn add_delegation(&mut self, name: &str, key: TestKey) -> &mut Delegation {
        self.delegations.retain(|d| d.name != name);
        self.delegations.push(Delegation {
            name: name.to_string(),
            role: RoleSpec::new(key, day(1095)),
            paths: vec![String::new()],
            tags: BTreeMap::new(),
            declared: true,
        });
        self.delegations.last_mut().unwrap()
    }

    pub fn delegation(&mut self, name: &str) -> &mut Delegation {
        self.delegations
            .iter_mut()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("no delegation {name}"))
    }

    /// The spec of any role, delegations included.
    pub fn role(&mut self, name: &str) -> &mut RoleSpec {
        match name {
            "root" => &mut self.root,
            "targets" => &mut self.targets,
            "snapshot" => &mut self.snapshot,
            "timestamp" => &mut self.timestamp,
            d => &mut self.delegation(d).role,
        }
    }

    /// Sign `tag` as `manifest`'s digest in `role` (`targets` or a delegation).
    pub fn tag(&mut self, role: &str, tag: &str, manifest: &str) -> &mut Repo {
        let t = TestTarget::of(manifest);
        if role == "targets" {
            self.tags.insert(tag.to_string(), t);
        } else {
            self.delegation(role).tags.insert(tag.to_string(), t);
        }
        self
    }

    /// Change `role`'s `signed` object before it is signed.
    pub fn edit(
        &mut self,
        role: &str,
        f: impl Fn(&mut Value) + Send + Sync + 'static,
    ) -> &mut Repo {
        self.edits.push((role.to_string(), Arc::new(f)));
        self
    }

    /// Bump the version of every role but root (a new publication).
    pub fn bump(&mut self) -> &mut Repo {
        for r in [&mut self.targets, &mut self.snapshot, &mut self.timestamp] {
            r.version += 1;
        }
        for d in &mut self.delegations {
            d.role.version += 1;
        }
        self
    }

    fn all_keys<'a>(specs: impl IntoIterator<Item = &'a RoleSpec>) -> Map<String, Value> {
        specs
            .into_iter()
            .flat_map(|s| s.keys.iter())
            .map(|k| (k.id(), k.json()))
            .collect()
    }

    pub fn root_signed(&self) -> Value {
        let role = |r: &RoleSpec| json!({"keyids": r.keyids(), "threshold": r.threshold});
        json!({
            "_type": "Root",
            "consistent_snapshot": false,
            "expires": expires_str(self.root.expires),
            "keys": Repo::all_keys([&self.root, &self.targets, &self.snapshot, &self.timestamp]),
            "roles": {
                "root": role(&self.root),
                "targets": role(&self.targets),
                "snapshot": role(&self.snapshot),
                "timestamp": role(&self.timestamp),
            },
            "version": self.root.version,
        })
    }

    pub fn targets_signed(&self) -> Value {
        let declared: Vec<&Delegation> = self.delegations.iter().filter(|d| d.declared).collect();
        let roles: Vec<Value> = declared
            .iter()
            .map(|d| {
                json!({
                    "keyids": d.role.keyids(),
                    "name": d.name,
                    "paths": d.paths,
                    "threshold": d.role.threshold,
                })
            })
            .collect();
        json!({
            "_type": "Targets",
            "delegations": {"keys": Repo::all_keys(declared.iter().map(|d| &d.role)), "roles": roles},
            "expires": expires_str(self.targets.expires),
            "targets": targets_map(&self.tags),
            "version": self.targets.version,
        })
    }

    fn delegation_signed(d: &Delegation) -> Value {
        json!({
            "_type": "Targets",
            "delegations": {"keys": {}, "roles": []},
            "expires": expires_str(d.role.expires),
            "targets": targets_map(&d.tags),
            "version": d.role.version,
        })
    }

    /// Sign `signed` as `role`, after this repository's edits, unless the
    /// file is replaced.
    fn file(&self, role: &str, spec: &RoleSpec, mut signed: Value) -> Vec<u8> {
        if let Some(b) = self.replace.get(role) {
            return b.clone();
        }
        for (r, f) in &self.edits {
            if r == role {
                f(&mut signed);
            }
        }
        sign_envelope(&signed, spec.signers())
    }

    /// The root file alone (cheaper than a whole build).
    pub fn root_file(&self) -> Vec<u8> {
        self.file("root", &self.root, self.root_signed())
    }

    /// Every role file, consistent with each other.
    pub fn build(&self) -> Built {
        let mut files = BTreeMap::new();
        let mut versions = BTreeMap::new();
        let mut put = |role: &str, version: u64, bytes: Vec<u8>| {
            files.insert(role.to_string(), bytes);
            versions.insert(role.to_string(), version);
        };
        let root = self.root_file();
        let targets = self.file("targets", &self.targets, self.targets_signed());
        let mut meta = Map::new();
        meta.insert("root".into(), meta_entry(&root));
        meta.insert("targets".into(), meta_entry(&targets));
        for d in &self.delegations {
            let b = self.file(&d.name, &d.role, Repo::delegation_signed(d));
            meta.insert(d.name.clone(), meta_entry(&b));
            put(&d.name, d.role.version, b);
        }
        let snapshot_signed = json!({
            "_type": "Snapshot",
            "expires": expires_str(self.snapshot.expires),
            "meta": meta,
            "version": self.snapshot.version,
        });
        let snapshot = self.file("snapshot", &self.snapshot, snapshot_signed);
        let timestamp_signed = json!({
            "_type": "Timestamp",
            "expires": expires_str(self.timestamp.expires),
            "meta": {"snapshot": meta_entry(&snapshot)},
            "version": self.timestamp.version,
        });
        let timestamp = self.file("timestamp", &self.timestamp, timestamp_signed);
        put("root", self.root.version, root);
        put("targets", self.targets.version, targets);
        put("snapshot", self.snapshot.version, snapshot);
        put("timestamp", self.timestamp.version, timestamp);
        Built { files, versions }
    }

    /// Build and serve every file as notary-server does.
    pub fn publish(&self, fetch: &MemFetch) -> Built {
        let built = self.build();
        fetch.serve(&self.gun, &built);
        built
    }
}

/// A notary server in memory: `gun` → file name → bytes. Tests change it
/// between updates to play a server that re-signs, replays or misbehaves.
#[derive(Default)]
pub(crate) struct MemFetch {
    files: Mutex<HashMap<(String, String), Bytes>>,
    log: Mutex<Vec<String>>,
    down: AtomicBool,
}

impl MemFetch {
    pub fn new() -> Arc<MemFetch> {
        Arc::new(MemFetch::default())
    }

    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Bytes>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn put(&self, gun: &str, file: &str, bytes: impl Into<Vec<u8>>) {
        self.files().insert(
            (gun.to_string(), file.to_string()),
            Bytes::from(bytes.into()),
        );
    }

    pub fn get(&self, gun: &str, file: &str) -> Option<Bytes> {
        self.files()
            .get(&(gun.to_string(), file.to_string()))
            .cloned()
    }

    pub fn remove(&self, gun: &str, file: &str) {
        self.files().remove(&(gun.to_string(), file.to_string()));
    }

    /// Forget everything served for `gun`.
    pub fn clear(&self, gun: &str) {
        self.files().retain(|(g, _), _| g != gun);
    }

    /// Serve `role`'s file as `<role>.json`, `<role>.<hex>.json` and
    /// `<version>.<role>.json`.
    pub fn serve_role(&self, gun: &str, role: &str, version: u64, bytes: &[u8]) {
        self.put(gun, &format!("{role}.json"), bytes);
        self.put(
            gun,
            &format!("{role}.{}.json", hex(&Sha256::digest(bytes))),
            bytes,
        );
        self.put(gun, &format!("{version}.{role}.json"), bytes);
    }

    pub fn serve(&self, gun: &str, built: &Built) {
        for (role, bytes) in &built.files {
            self.serve_role(gun, role, built.versions[role], bytes);
        }
    }

    /// Make every fetch fail as an unreachable server would.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Files requested so far (`<gun>/<file>`).
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn clear_requests(&self) {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[async_trait]
impl Fetch for MemFetch {
    async fn fetch(&self, gun: &str, file: &str, limit: usize) -> Result<Option<Bytes>, TufError> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{gun}/{file}"));
        if self.down.load(Ordering::SeqCst) {
            return Err(TufError::Unavailable("test server is down".into()));
        }
        match self.get(gun, file) {
            // As HttpFetch: a body over the limit is refused, not truncated.
            Some(b) if b.len() > limit => Err(TufError::TooLarge(format!(
                "{file} is larger than {limit} bytes"
            ))),
            other => Ok(other),
        }
    }
}
