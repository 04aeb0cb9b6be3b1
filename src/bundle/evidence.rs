//! The signature a bundle was taken on, kept with the last known good
//! (`current/signature.json`), so that a boot re-runs the same in-process
//! check over stored bytes, offline, against the host's pin.
//!
//! Online, the signatures of the manifest digest are found by the
//! verifiers' own discovery ([`cosign::discover::find`],
//! [`notation::find`]) and each is judged by the verifiers' own check
//! ([`CosignPolicy::verify_candidate`], [`notation::evaluate_online`]);
//! the first that verifies is the evidence. Offline, the stored evidence
//! goes through the same check ([`notation::evaluate`] without its
//! revocation step, which needs the network) against the digest of the
//! stored manifest, whose config and layer digests bind the other files.
//!
//! What is stored is what the check reads: for a cosign key pin the signed
//! content and the signature (a key pin reads no certificate and, with the
//! transparency log ignored for bundles, no Rekor entry); for Notation the
//! envelope as served (its certificate chain and timestamps inside).

use serde::{Deserialize, Serialize};

use super::fetch::Signer;
use super::{BundleError, BundleRef};
use crate::registry::RegistryClient;
use crate::trust::cosign::signature::{Candidate, Content};
use crate::trust::cosign::{self, CosignPolicy};
use crate::trust::notation::{self, NotationConfig};

/// Bytes as standard base64 in JSON.
mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let t = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .map_err(serde::de::Error::custom)
    }
}

/// What a cosign signature covers ([`Content`], storable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Signed {
    Simple {
        #[serde(with = "b64")]
        payload: Vec<u8>,
    },
    Dsse {
        payload_type: String,
        #[serde(with = "b64")]
        payload: Vec<u8>,
    },
    Digest {
        #[serde(with = "b64")]
        sha256: Vec<u8>,
    },
}

/// The signature a bundle was verified on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verifier", rename_all = "lowercase", deny_unknown_fields)]
pub enum Evidence {
    Cosign {
        origin: String,
        content: Signed,
        #[serde(with = "b64")]
        signature: Vec<u8>,
    },
    Notation {
        origin: String,
        media_type: String,
        #[serde(with = "b64")]
        envelope: Vec<u8>,
    },
}

/// Largest `signature.json` read back (a Notation envelope is < 256 KiB).
pub const MAX_EVIDENCE: usize = 512 * 1024;

impl Evidence {
    fn from_cosign(c: &Candidate) -> Evidence {
        let content = match &c.content {
            Content::Simple(p) => Signed::Simple { payload: p.clone() },
            Content::Dsse {
                payload_type,
                payload,
            } => Signed::Dsse {
                payload_type: payload_type.clone(),
                payload: payload.clone(),
            },
            Content::Digest(d) => Signed::Digest { sha256: d.clone() },
        };
        Evidence::Cosign {
            origin: c.origin.clone(),
            content,
            signature: c.signature.clone(),
        }
    }

    pub fn to_json(&self) -> Result<Vec<u8>, BundleError> {
        serde_json::to_vec(self).map_err(|e| BundleError::Io(e.to_string()))
    }

    pub fn from_json(bytes: &[u8]) -> Result<Evidence, BundleError> {
        if bytes.len() > MAX_EVIDENCE {
            return Err(BundleError::Malformed(
                "the stored signature is too large".into(),
            ));
        }
        serde_json::from_slice(bytes)
            .map_err(|e| BundleError::Malformed(format!("the stored signature: {e}")))
    }
}

/// The descriptor a Notation signature of the bundle binds: the manifest
/// as stored (`parse_manifest` admits only the OCI image manifest type).
fn target(digest: &str, manifest: &[u8]) -> notation::Descriptor {
    notation::Descriptor {
        media_type: super::format::MANIFEST_TYPE.to_string(),
        digest: digest.to_string(),
        size: manifest.len() as u64,
    }
}

fn cosign_who(policy: &CosignPolicy) -> String {
    policy
        .keys
        .iter()
        .map(|(n, _)| format!("key {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement of the pinned Notation policy for the bundle's
/// repository, which must enforce (see [`super::fetch`]).
fn statement<'a>(
    cfg: &'a NotationConfig,
    r: &BundleRef,
) -> Result<&'a notation::policy::PolicyStatement, BundleError> {
    let name = r.repo().name();
    super::fetch::enforcing_statement(cfg, &name)?;
    cfg.policy
        .select(&name)
        .ok_or_else(|| BundleError::Unsigned(format!("no statement for {name}")))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Find and verify the signatures of `r`'s manifest `digest` (whose bytes
/// are `manifest`) against `signer`; the one that verifies is returned.
pub async fn verify_online(
    signer: &Signer,
    registry: &RegistryClient,
    revocation: &notation::revocation::Revocation,
    r: &BundleRef,
    digest: &str,
    manifest: &[u8],
) -> Result<Evidence, BundleError> {
    let repo = r.repo();
    let name = repo.name();
    match signer {
        Signer::CosignKey(policy) => {
            let found = cosign::discover::find(registry, &repo.domain, &repo.path, digest)
                .await
                .map_err(|e| {
                    BundleError::Unavailable(format!("cannot read cosign signatures: {e}"))
                })?;
            let mut why: Vec<String> = found.unreadable.iter().map(|u| u.to_string()).collect();
            for c in &found.candidates {
                match policy.verify_candidate(c, Some(&repo), digest) {
                    Ok(_) => return Ok(Evidence::from_cosign(c)),
                    Err(e) => why.push(format!("{}: {e}", c.origin)),
                }
            }
            if why.is_empty() {
                return Err(BundleError::Unsigned(format!(
                    "{name}@{digest} has no cosign signature (tag {}.sig, nor a Sigstore bundle or cosign signature among its referrers)",
                    digest.replacen(':', "-", 1)
                )));
            }
            why.truncate(8);
            Err(BundleError::Unsigned(format!(
                "no cosign signature of {name}@{digest} verifies with {}: {}",
                cosign_who(policy),
                why.join("; ")
            )))
        }
        Signer::Notation(cfg) => {
            let stmt = statement(cfg, r)?;
            let found = notation::find(registry, &repo.domain, &repo.path, digest)
                .await
                .map_err(|e| {
                    BundleError::Unavailable(format!("cannot read Notation signatures: {e}"))
                })?;
            let target = target(digest, manifest);
            let mut why: Vec<String> = found.unreadable.iter().map(|u| u.to_string()).collect();
            let at = now();
            for c in &found.candidates {
                match notation::evaluate_online(cfg, stmt, revocation, c, &target, at).await {
                    Ok(_) => {
                        return Ok(Evidence::Notation {
                            origin: c.origin.clone(),
                            media_type: c.media_type.clone(),
                            envelope: c.bytes.to_vec(),
                        })
                    }
                    Err(e) => why.push(format!("{}: {e}", c.origin)),
                }
            }
            if why.is_empty() {
                return Err(BundleError::Unsigned(format!(
                    "{name}@{digest} has no Notation signature (none among its referrers or in tag {})",
                    crate::trust::discovery::referrer_tag(digest)
                )));
            }
            why.truncate(8);
            Err(BundleError::Unsigned(format!(
                "no Notation signature of {name}@{digest} verifies under trust policy {:?}: {}",
                stmt.name,
                why.join("; ")
            )))
        }
    }
}

/// Re-run the check over stored `evidence` for the stored manifest
/// (`digest`, `manifest`), with no network: the Notation revocation step
/// is not repeated (it ran when the bundle was fetched).
pub fn verify_offline(
    signer: &Signer,
    r: &BundleRef,
    digest: &str,
    manifest: &[u8],
    evidence: &Evidence,
) -> Result<(), BundleError> {
    let refuse = |why: String| {
        BundleError::Unsigned(format!(
            "the last known good {digest}: its stored signature does not verify against {} ({why})",
            signer.describe()
        ))
    };
    match (signer, evidence) {
        (
            Signer::CosignKey(policy),
            Evidence::Cosign {
                origin,
                content,
                signature,
            },
        ) => {
            let content = match content {
                Signed::Simple { payload } => Content::Simple(payload.clone()),
                Signed::Dsse {
                    payload_type,
                    payload,
                } => Content::Dsse {
                    payload_type: payload_type.clone(),
                    payload: payload.clone(),
                },
                Signed::Digest { sha256 } => Content::Digest(sha256.clone()),
            };
            let c = Candidate {
                origin: origin.clone(),
                content,
                signature: signature.clone(),
                cert: None,
                tlog: Vec::new(),
            };
            policy
                .verify_candidate(&c, Some(&r.repo()), digest)
                .map(|_| ())
                .map_err(|e| refuse(format!("{origin}: {e}")))
        }
        (
            Signer::Notation(cfg),
            Evidence::Notation {
                origin,
                media_type,
                envelope,
            },
        ) => {
            let stmt = statement(cfg, r)?;
            notation::evaluate(
                cfg,
                stmt,
                media_type,
                envelope,
                &target(digest, manifest),
                now(),
            )
            .map(|_| ())
            .map_err(|e| refuse(format!("{origin}: {e}")))
        }
        (_, Evidence::Cosign { .. }) => Err(refuse("it is a cosign signature".into())),
        (_, Evidence::Notation { .. }) => Err(refuse("it is a Notation signature".into())),
    }
}

/// Signing in tests: a P-256 key from a seed, as a pin and as a signer.
#[cfg(test)]
pub mod testkit {
    use std::sync::Arc;

    use super::*;
    use crate::trust::cosign::keys::PublicKey;
    use crate::trust::cosign::Tlog;

    pub fn key(seed: u8) -> p256::ecdsa::SigningKey {
        let mut b = [7u8; 32];
        b[0] = seed;
        p256::ecdsa::SigningKey::from_bytes(&b.into()).unwrap()
    }

    /// The pin of `key(seed)`, as `Signer::cosign_key` builds it.
    pub fn pin(seed: u8) -> Signer {
        Signer::CosignKey(Arc::new(CosignPolicy {
            keys: vec![(
                format!("k{seed}.pub"),
                PublicKey::P256(*key(seed).verifying_key()),
            )],
            identities: Vec::new(),
            threshold: 1,
            root: None,
            tlog: Tlog::Ignore,
            match_reference: false,
        }))
    }

    /// A cosign simple-signing signature of `digest` by `key(seed)`.
    pub fn sign(seed: u8, digest: &str) -> Evidence {
        use p256::ecdsa::signature::Signer as _;
        let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"reg.example.com/platform/img-authz"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        )
        .into_bytes();
        let sig: p256::ecdsa::Signature = key(seed).sign(&payload);
        Evidence::Cosign {
            origin: "test".into(),
            content: Signed::Simple { payload },
            signature: sig.to_der().as_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;

    const R: &str = "oci://reg.example.com/platform/img-authz:prod";

    #[test]
    fn stored_cosign_evidence_verifies_offline_only_for_its_digest_and_key() {
        let r = BundleRef::parse(R).unwrap();
        let d = format!("sha256:{}", "a".repeat(64));
        let other = format!("sha256:{}", "b".repeat(64));
        let e = sign(1, &d);
        // Through its stored form, as a boot reads it.
        let e = Evidence::from_json(&e.to_json().unwrap()).unwrap();
        verify_offline(&pin(1), &r, &d, b"", &e).unwrap();
        for (signer, digest) in [(pin(2), &d), (pin(1), &other)] {
            let err = verify_offline(&signer, &r, digest, b"", &e).unwrap_err();
            assert!(matches!(err, BundleError::Unsigned(_)), "{err}");
        }
        // A flipped bit of the stored signature or payload.
        let Evidence::Cosign {
            origin,
            content: Signed::Simple { payload },
            signature,
        } = e
        else {
            panic!("cosign evidence expected")
        };
        let mut bad = signature.clone();
        bad[10] ^= 1;
        let mut p2 = payload.clone();
        p2[3] ^= 1;
        for e in [
            Evidence::Cosign {
                origin: origin.clone(),
                content: Signed::Simple {
                    payload: payload.clone(),
                },
                signature: bad,
            },
            Evidence::Cosign {
                origin,
                content: Signed::Simple { payload: p2 },
                signature,
            },
        ] {
            assert!(verify_offline(&pin(1), &r, &d, b"", &e).is_err());
        }
    }

    #[test]
    fn stored_evidence_of_the_wrong_verifier_or_shape_is_refused() {
        let r = BundleRef::parse(R).unwrap();
        let d = format!("sha256:{}", "a".repeat(64));
        let n = Evidence::Notation {
            origin: "x".into(),
            media_type: "application/jose+json".into(),
            envelope: b"{}".to_vec(),
        };
        assert!(verify_offline(&pin(1), &r, &d, b"", &n).is_err());
        for bad in [
            &b"{"[..],
            br#"{"verifier":"cosign","origin":"o","content":{"kind":"simple","payload":"!"},"signature":""}"#,
            br#"{"verifier":"gpg"}"#,
        ] {
            assert!(matches!(
                Evidence::from_json(bad),
                Err(BundleError::Malformed(_))
            ));
        }
    }

    /// A Notation signature by a leaf under the pinned store's root, kept
    /// as its envelope: verified offline for the stored manifest only, and
    /// only under the host's trust policy.
    #[test]
    fn stored_notation_evidence_verifies_offline_under_the_pinned_policy() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        use base64::Engine as _;
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

        let r = BundleRef::parse(R).unwrap();
        let ca = |o: &str| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(DnType::OrganizationName, o);
            p.distinguished_name.push(DnType::CommonName, "root");
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
            let cert = p.self_signed(&key).unwrap();
            (key, cert)
        };
        let (root_key, root) = ca("fleet");
        let leaf_key = KeyPair::generate().unwrap();
        let mut lp = CertificateParams::new(Vec::<String>::new()).unwrap();
        lp.distinguished_name
            .push(DnType::OrganizationName, "fleet");
        lp.distinguished_name.push(DnType::CommonName, "signer");
        lp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        lp.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
        let leaf = lp.signed_by(&leaf_key, &root, &root_key).unwrap();
        let manifest = br#"{"schemaVersion":2}"#;
        let digest = super::super::format::sha256(manifest);
        let h = serde_json::json!({
            "alg": "ES256",
            "cty": "application/vnd.cncf.notary.payload.v1+json",
            "crit": ["io.cncf.notary.signingScheme"],
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": "2026-12-05T20:00:00Z",
        });
        let t = target(&digest, manifest);
        let payload = serde_json::json!({"targetArtifact": {
            "mediaType": t.media_type, "digest": t.digest, "size": t.size}});
        let ph = URL_SAFE_NO_PAD.encode(h.to_string());
        let pl = URL_SAFE_NO_PAD.encode(payload.to_string());
        let rng = ring::rand::SystemRandom::new();
        let k = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &leaf_key.serialize_der(),
            &rng,
        )
        .unwrap();
        let sig = k.sign(&rng, format!("{ph}.{pl}").as_bytes()).unwrap();
        let envelope = serde_json::json!({
            "payload": pl, "protected": ph,
            "header": {"x5c": [STANDARD.encode(leaf.der()), STANDARD.encode(root.der())]},
            "signature": URL_SAFE_NO_PAD.encode(sig.as_ref()),
        })
        .to_string()
        .into_bytes();
        let e = Evidence::Notation {
            origin: "signature sha256:x".into(),
            media_type: "application/jose+json".into(),
            envelope,
        };
        let e = Evidence::from_json(&e.to_json().unwrap()).unwrap();
        // The pin: a strict statement for the bundle's repository over a
        // store holding `root_der`.
        let notation_pin = |root_der: &[u8]| {
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("truststore/x509/ca/fleet");
            std::fs::create_dir_all(&store).unwrap();
            std::fs::write(store.join("root.crt"), root_der).unwrap();
            let policy = dir.path().join("trustpolicy.json");
            let doc = serde_json::json!({"version": "1.0", "trustPolicies": [{
                "name": "bundles", "registryScopes": [r.repo().name()],
                "signatureVerification": {"level": "strict"},
                "trustStores": ["ca:fleet"], "trustedIdentities": ["*"]}]});
            std::fs::write(&policy, doc.to_string()).unwrap();
            let s = Signer::notation(&policy, &dir.path().join("truststore")).unwrap();
            (dir, s)
        };
        let (_d, good) = notation_pin(root.der());
        verify_offline(&good, &r, &digest, manifest, &e).unwrap();
        // Another manifest (digest and size), or a cosign pin: refused.
        let other = br#"{"schemaVersion":2} "#;
        let od = super::super::format::sha256(other);
        assert!(verify_offline(&good, &r, &od, other, &e).is_err());
        assert!(verify_offline(&pin(1), &r, &digest, manifest, &e).is_err());
        // A store holding another root: the signer is not authenticated.
        let (_k, other_root) = ca("other");
        let (_d2, bad) = notation_pin(other_root.der());
        let err = verify_offline(&bad, &r, &digest, manifest, &e).unwrap_err();
        assert!(err.to_string().contains("authenticity"), "{err}");
    }
}
