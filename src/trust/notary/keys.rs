//! Notary v1 keys, key IDs and signature methods.
//!
//! Key types: `ed25519` (raw 32 bytes), `ecdsa` and `rsa` (DER
//! SubjectPublicKeyInfo), `ecdsa-x509` and `rsa-x509` (a PEM certificate
//! chain, leaf first, whose leaf key is used). Methods, all over SHA-256 of
//! the canonical bytes: `eddsa`, `ecdsa` (raw r‖s, not DER; SHA-256 even on
//! P-384), `rsapss` (salt 32) and its alias `pycrypto-pkcs#1 pss`, and
//! `rsapkcs1v15`.

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use x509_cert::der::{Decode, Encode};

use super::canonical::canonical;
use super::TufError;

/// Notary's keys are the shared SPKI keys; its `ed25519` keys are raw.
pub use crate::trust::keys::PublicKey as Verifier;

/// An X.509 certificate as Notary uses it.
#[derive(Debug, Clone)]
pub struct Cert {
    pub der: Vec<u8>,
    pub spki_der: Vec<u8>,
    pub common_name: String,
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The certificate is signed with SHA-1.
    pub sha1_signed: bool,
    pub is_ca: bool,
}

/// A public key from TUF metadata.
#[derive(Debug, Clone)]
pub struct Key {
    pub keytype: String,
    /// The `keyval.public` text, as in the metadata.
    pub public: String,
    /// TUF key ID: sha256 of the canonical key object.
    pub id: String,
    pub verifier: Verifier,
    /// For `*-x509` keys: the chain, leaf first.
    pub certs: Vec<Cert>,
}

fn b64(s: &str) -> Result<Vec<u8>, TufError> {
    crate::trust::encoding::b64_decode_trimmed(s)
        .map_err(|_| TufError::Key("public key is not base64".into()))
}

/// TUF key ID of `{"keytype":t,"keyval":{"private":null,"public":p}}`.
pub fn tuf_key_id(keytype: &str, public: &str) -> Result<String, TufError> {
    let obj = json!({"keytype": keytype, "keyval": {"private": Value::Null, "public": public}});
    Ok(hex(&Sha256::digest(canonical(&obj)?)))
}

pub use crate::trust::encoding::hex;

/// A key from an SPKI in DER: P-256, P-384 or RSA (Notary's `ecdsa` and
/// `rsa` key types; its Ed25519 keys are raw bytes, never SPKI).
pub fn verifier_from_spki(der: &[u8]) -> Result<Verifier, TufError> {
    match Verifier::from_spki(der) {
        Ok(Verifier::Ed25519(_)) | Err(crate::trust::keys::KeyError::Unsupported) => Err(
            TufError::Key("unsupported public key (P-256, P-384 and RSA are)".into()),
        ),
        Ok(v) => Ok(v),
        Err(e) => Err(TufError::Key(e.to_string())),
    }
}

/// Notary's "canonical" ID of an x509 key (`X509PublicKeyID`): the TUF ID
/// of the certificate's SPKI written as a plain `ecdsa`/`rsa` key. This is
/// the ID notary's CLI prints and `trust_pinning.certs` lists.
pub fn canonical_key_id(cert: &Cert) -> Result<String, TufError> {
    let kt = match verifier_from_spki(&cert.spki_der)? {
        Verifier::Rsa(_) => "rsa",
        _ => "ecdsa",
    };
    tuf_key_id(kt, &crate::trust::encoding::b64_encode(&cert.spki_der))
}

const OID_CN: x509_cert::der::asn1::ObjectIdentifier =
    x509_cert::der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_SHA1_RSA: &str = "1.2.840.113549.1.1.5";
const OID_SHA1_ECDSA: &str = "1.2.840.10045.4.1";
const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";

fn time_secs(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// Parse one DER certificate.
pub fn parse_cert(der: &[u8]) -> Result<Cert, TufError> {
    let c = x509_cert::Certificate::from_der(der)
        .map_err(|e| TufError::Key(format!("bad certificate: {e}")))?;
    let tbs = &c.tbs_certificate;
    let mut common_name = String::new();
    for rdn in tbs.subject.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid == OID_CN {
                let v = &atv.value;
                common_name = v
                    .decode_as::<x509_cert::der::asn1::Utf8StringRef<'_>>()
                    .map(|s| s.as_str().to_string())
                    .or_else(|_| {
                        v.decode_as::<x509_cert::der::asn1::PrintableStringRef<'_>>()
                            .map(|s| s.as_str().to_string())
                    })
                    .or_else(|_| {
                        v.decode_as::<x509_cert::der::asn1::Ia5StringRef<'_>>()
                            .map(|s| s.as_str().to_string())
                    })
                    .unwrap_or_default();
            }
        }
    }
    let alg = c.signature_algorithm.oid.to_string();
    let is_ca = tbs
        .extensions
        .as_ref()
        .and_then(|exts| {
            exts.iter()
                .find(|e| e.extn_id.to_string() == OID_BASIC_CONSTRAINTS)
        })
        .and_then(|e| {
            x509_cert::ext::pkix::BasicConstraints::from_der(e.extn_value.as_bytes()).ok()
        })
        .is_some_and(|bc| bc.ca);
    Ok(Cert {
        der: der.to_vec(),
        spki_der: tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| TufError::Key(format!("bad certificate key: {e}")))?,
        common_name,
        not_before: time_secs(&tbs.validity.not_before),
        not_after: time_secs(&tbs.validity.not_after),
        sha1_signed: alg == OID_SHA1_RSA || alg == OID_SHA1_ECDSA,
        is_ca,
    })
}

/// Parse a metadata key object `{"keytype":…,"keyval":{"public":…}}`.
pub fn parse_key(v: &Value) -> Result<Key, TufError> {
    let keytype = v
        .get("keytype")
        .and_then(Value::as_str)
        .ok_or_else(|| TufError::Key("key without keytype".into()))?;
    let public = v
        .get("keyval")
        .and_then(|kv| kv.get("public"))
        .and_then(Value::as_str)
        .ok_or_else(|| TufError::Key("key without keyval.public".into()))?;
    let private = v
        .get("keyval")
        .and_then(|kv| kv.get("private"))
        .is_some_and(|p| !p.is_null());
    key_from_parts(keytype, public, private)
}

/// A key from its `keytype` and `keyval.public`; `private`: the key object
/// carries a non-null `keyval.private`.
pub fn key_from_parts(keytype: &str, public: &str, private: bool) -> Result<Key, TufError> {
    if private {
        return Err(TufError::Key("metadata carries a private key".into()));
    }
    let raw = b64(public)?;
    let (verifier, certs) = match keytype {
        "ed25519" => {
            let bytes: [u8; 32] = raw
                .as_slice()
                .try_into()
                .map_err(|_| TufError::Key("ed25519 key is not 32 bytes".into()))?;
            let k = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map_err(|_| TufError::Key("invalid ed25519 key".into()))?;
            (Verifier::Ed25519(k), Vec::new())
        }
        "ecdsa" => match verifier_from_spki(&raw)? {
            v @ (Verifier::P256(_) | Verifier::P384(_)) => (v, Vec::new()),
            _ => return Err(TufError::Key("ecdsa key is not an EC key".into())),
        },
        "rsa" => match verifier_from_spki(&raw)? {
            v @ Verifier::Rsa(_) => (v, Vec::new()),
            _ => return Err(TufError::Key("rsa key is not an RSA key".into())),
        },
        "ecdsa-x509" | "rsa-x509" => {
            let ders = x509_cert::Certificate::load_pem_chain(&raw)
                .map_err(|e| TufError::Key(format!("bad certificate PEM: {e}")))?;
            let mut certs = Vec::new();
            for c in ders {
                let der = c.to_der().map_err(|e| TufError::Key(e.to_string()))?;
                certs.push(parse_cert(&der)?);
            }
            let leaf = certs
                .first()
                .ok_or_else(|| TufError::Key("empty certificate chain".into()))?;
            let v = verifier_from_spki(&leaf.spki_der)?;
            let matches = matches!(
                (keytype, &v),
                ("rsa-x509", Verifier::Rsa(_))
                    | ("ecdsa-x509", Verifier::P256(_) | Verifier::P384(_))
            );
            if !matches {
                return Err(TufError::Key(format!(
                    "{keytype} certificate holds another kind of key"
                )));
            }
            (v, certs)
        }
        other => return Err(TufError::Key(format!("unsupported key type {other:?}"))),
    };
    Ok(Key {
        keytype: keytype.to_string(),
        public: public.to_string(),
        id: tuf_key_id(keytype, public)?,
        verifier,
        certs,
    })
}

impl Key {
    /// Verify `sig` by `method` over `msg` (canonical bytes).
    pub fn verify(&self, method: &str, msg: &[u8], sig: &[u8]) -> Result<(), TufError> {
        let bad = |why: &str| TufError::Signature(format!("key {}: {why}", short(&self.id)));
        match (method, &self.verifier) {
            ("eddsa", Verifier::Ed25519(k)) => {
                let s = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| bad("malformed ed25519 signature"))?;
                k.verify_strict(msg, &s)
                    .map_err(|_| bad("ed25519 signature does not verify"))
            }
            ("ecdsa", Verifier::P256(k)) => {
                use p256::ecdsa::signature::hazmat::PrehashVerifier;
                if sig.len() != 64 {
                    return Err(bad("P-256 signature is not 64 bytes of r‖s"));
                }
                let s = p256::ecdsa::Signature::from_slice(sig)
                    .map_err(|_| bad("malformed ecdsa signature"))?;
                k.verify_prehash(&Sha256::digest(msg), &s)
                    .map_err(|_| bad("ecdsa signature does not verify"))
            }
            ("ecdsa", Verifier::P384(k)) => {
                use p384::ecdsa::signature::hazmat::PrehashVerifier;
                if sig.len() != 96 {
                    return Err(bad("P-384 signature is not 96 bytes of r‖s"));
                }
                let s = p384::ecdsa::Signature::from_slice(sig)
                    .map_err(|_| bad("malformed ecdsa signature"))?;
                k.verify_prehash(&Sha256::digest(msg), &s)
                    .map_err(|_| bad("ecdsa signature does not verify"))
            }
            ("rsapss" | "pycrypto-pkcs#1 pss", Verifier::Rsa(k)) => {
                use rsa::signature::Verifier as _;
                let vk = rsa::pss::VerifyingKey::<Sha256>::new(k.clone());
                let s = rsa::pss::Signature::try_from(sig)
                    .map_err(|_| bad("malformed RSA-PSS signature"))?;
                vk.verify(msg, &s)
                    .map_err(|_| bad("RSA-PSS signature does not verify"))
            }
            ("rsapkcs1v15", Verifier::Rsa(k)) => {
                use rsa::signature::Verifier as _;
                let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(k.clone());
                let s = rsa::pkcs1v15::Signature::try_from(sig)
                    .map_err(|_| bad("malformed PKCS#1 signature"))?;
                vk.verify(msg, &s)
                    .map_err(|_| bad("PKCS#1 v1.5 signature does not verify"))
            }
            (m, _) => Err(bad(&format!(
                "method {m:?} does not fit a {} key",
                self.keytype
            ))),
        }
    }

    /// The leaf certificate of an x509 key.
    pub fn leaf(&self) -> Option<&Cert> {
        self.certs.first()
    }
}

/// The first 12 hex digits of an ID, for messages.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
