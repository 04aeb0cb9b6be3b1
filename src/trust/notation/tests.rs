//! Verification of envelopes our tests build: certificates from rcgen,
//! signatures from ring (never copied fixtures).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use ciborium::value::Value;

use super::*;

pub(super) struct Pki {
    pub(super) root_der: Vec<u8>,
    pub(super) leaf_der: Vec<u8>,
    pub(super) leaf_key: KeyPair,
}

pub(super) fn dn(p: &mut CertificateParams, o: &str, cn: &str) {
    p.distinguished_name.push(DnType::CountryName, "US");
    p.distinguished_name.push(DnType::StateOrProvinceName, "WA");
    p.distinguished_name.push(DnType::OrganizationName, o);
    p.distinguished_name.push(DnType::CommonName, cn);
}

/// A root CA and a code-signing leaf of organisation `o`.
pub(super) fn pki(o: &str, tweak: impl FnOnce(&mut CertificateParams)) -> Pki {
    let root_key = KeyPair::generate().unwrap();
    let mut rp = CertificateParams::new(Vec::<String>::new()).unwrap();
    dn(&mut rp, o, "root");
    rp.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    rp.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let root = rp.self_signed(&root_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut lp = CertificateParams::new(Vec::<String>::new()).unwrap();
    dn(&mut lp, o, "signer");
    lp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    tweak(&mut lp);
    let leaf = lp.signed_by(&leaf_key, &root, &root_key).unwrap();
    Pki {
        root_der: root.der().to_vec(),
        leaf_der: leaf.der().to_vec(),
        leaf_key,
    }
}

pub(super) fn target() -> Descriptor {
    Descriptor {
        media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
        digest: format!("sha256:{}", "a".repeat(64)),
        size: 528,
    }
}

/// A JWS envelope over `target()` with protected header `header` (merged
/// over the defaults), signed by the PKI's leaf.
pub(super) fn envelope(p: &Pki, header: serde_json::Value, payload_target: &Descriptor) -> Vec<u8> {
    let mut h = serde_json::json!({
        "alg": "ES256",
        "cty": jws::PAYLOAD_TYPE,
        "crit": ["io.cncf.notary.signingScheme"],
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": "2026-12-05T20:00:00Z",
    });
    for (k, v) in header.as_object().unwrap() {
        if v.is_null() {
            h.as_object_mut().unwrap().remove(k);
        } else {
            h[k] = v.clone();
        }
    }
    let payload = serde_json::json!({"targetArtifact": {
        "mediaType": payload_target.media_type, "digest": payload_target.digest, "size": payload_target.size,
    }});
    let ph = URL_SAFE_NO_PAD.encode(h.to_string());
    let pl = URL_SAFE_NO_PAD.encode(payload.to_string());
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &p.leaf_key.serialize_der(),
        &rng,
    )
    .unwrap();
    let sig = key.sign(&rng, format!("{ph}.{pl}").as_bytes()).unwrap();
    serde_json::json!({
        "payload": pl, "protected": ph,
        "header": {"x5c": [STANDARD.encode(&p.leaf_der), STANDARD.encode(&p.root_der)],
                   "io.cncf.notary.signingAgent": "test"},
        "signature": URL_SAFE_NO_PAD.encode(sig.as_ref()),
    })
    .to_string()
    .into_bytes()
}

/// A trust store holding `roots` as `ca:acme`, and a policy over it.
pub(super) fn config(
    roots: &[&[u8]],
    level: &str,
    extra: serde_json::Value,
) -> (tempfile::TempDir, NotationConfig) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("truststore/x509/ca/acme");
    std::fs::create_dir_all(&store).unwrap();
    for (i, r) in roots.iter().enumerate() {
        std::fs::write(store.join(format!("root{i}.crt")), r).unwrap();
    }
    let mut st = serde_json::json!({
        "name": "acme", "registryScopes": ["r.io/app"],
        "signatureVerification": {"level": level},
        "trustStores": ["ca:acme"],
        "trustedIdentities": ["x509.subject: C=US, ST=WA, O=acme"],
    });
    for (k, v) in extra.as_object().unwrap() {
        st[k] = v.clone();
    }
    let policy = dir.path().join("trustpolicy.json");
    std::fs::write(
        &policy,
        serde_json::json!({"version": "1.0", "trustPolicies": [st]}).to_string(),
    )
    .unwrap();
    let cfg = NotationConfig::load(&policy, &dir.path().join("truststore")).unwrap();
    (dir, cfg)
}

fn check(cfg: &NotationConfig, env: &[u8]) -> Result<Outcome, String> {
    let stmt = cfg.policy.select("r.io/app").unwrap();
    evaluate(cfg, stmt, jws::MEDIA_TYPE, env, &target(), now()).map_err(|e| e.to_string())
}

#[test]
fn a_good_signature_verifies() {
    let p = pki("acme", |_| {});
    let (_d, cfg) = config(&[&p.root_der], "strict", serde_json::json!({}));
    let o = check(&cfg, &envelope(&p, serde_json::json!({}), &target())).unwrap();
    assert!(o.signer.contains("O=acme"), "{}", o.signer);
    assert!(o.logged.is_empty());
    // A later expiry is fine.
    let env = envelope(
        &p,
        serde_json::json!({"io.cncf.notary.expiry": "2999-01-01T00:00:00Z",
            "crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"]}),
        &target(),
    );
    check(&cfg, &env).unwrap();
}

#[test]
fn integrity_failures_are_refused_at_every_level() {
    let p = pki("acme", |_| {});
    for level in ["strict", "permissive", "audit"] {
        let (_d, cfg) = config(&[&p.root_der], level, serde_json::json!({}));
        // Another digest, size or media type.
        for t in [
            Descriptor {
                digest: format!("sha256:{}", "b".repeat(64)),
                ..target()
            },
            Descriptor {
                size: 1,
                ..target()
            },
            Descriptor {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                ..target()
            },
        ] {
            let e = check(&cfg, &envelope(&p, serde_json::json!({}), &t)).unwrap_err();
            assert!(e.contains("the signature is for"), "{level}: {e}");
        }
        // A tampered payload.
        let mut env: serde_json::Value =
            serde_json::from_slice(&envelope(&p, serde_json::json!({}), &target())).unwrap();
        let other = envelope(
            &p,
            serde_json::json!({}),
            &Descriptor {
                size: 9,
                ..target()
            },
        );
        let other: serde_json::Value = serde_json::from_slice(&other).unwrap();
        env["payload"] = other["payload"].clone();
        let e = check(&cfg, env.to_string().as_bytes()).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
    }
}

#[test]
fn headers_are_checked_both_ways() {
    let p = pki("acme", |_| {});
    let (_d, cfg) = config(&[&p.root_der], "strict", serde_json::json!({}));
    let cases = [
        (
            serde_json::json!({"alg": "ES384"}),
            "signing key needs ES256",
        ),
        (serde_json::json!({"alg": "none"}), "is not one of"),
        (serde_json::json!({"alg": "HS256"}), "is not one of"),
        (serde_json::json!({"cty": "application/json"}), "cty is"),
        (serde_json::json!({"crit": null}), "crit is missing"),
        (
            serde_json::json!({"crit": ["io.cncf.notary.signingScheme", "x-acme"], "x-acme": 1}),
            "not understood",
        ),
        (
            serde_json::json!({"crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"]}),
            "listed but absent",
        ),
        (
            serde_json::json!({"io.cncf.notary.expiry": "2999-01-01T00:00:00Z"}),
            "must be listed in crit",
        ),
        (
            serde_json::json!({"crit": ["io.cncf.notary.expiry"], "io.cncf.notary.expiry": "2999-01-01T00:00:00Z"}),
            "signingScheme must be listed",
        ),
        (
            serde_json::json!({"io.cncf.notary.signingTime": null}),
            "signingTime is missing",
        ),
        (
            serde_json::json!({"io.cncf.notary.verificationPlugin": "com.acme.plugin"}),
            "verification plugin",
        ),
    ];
    for (h, want) in cases {
        let e = check(&cfg, &envelope(&p, h.clone(), &target())).unwrap_err();
        assert!(e.contains(want), "{h}: {e}");
    }
    // Extra top-level fields are refused; unknown non-critical headers are not.
    let mut env: serde_json::Value = serde_json::from_slice(&envelope(
        &p,
        serde_json::json!({"x-note": "hi"}),
        &target(),
    ))
    .unwrap();
    check(&cfg, env.to_string().as_bytes()).unwrap();
    env["signatures"] = serde_json::json!([]);
    assert!(check(&cfg, env.to_string().as_bytes())
        .unwrap_err()
        .contains("malformed"));
    // Junk as COSE is refused.
    let stmt = cfg.policy.select("r.io/app").unwrap();
    let e = evaluate(&cfg, stmt, cose::MEDIA_TYPE, b"\xd2", &target(), now()).unwrap_err();
    assert!(matches!(e, Rejected::Integrity(_)), "{e:?}");
    let e = e.to_string();
    assert!(e.contains("integrity check failed"), "{e}");
}

/// A COSE_Sign1_Tagged envelope over `t`, with extra protected entries.
pub(super) fn cose_envelope(
    p: &Pki,
    extra: Vec<(Value, Value)>,
    t: &Descriptor,
    tamper: bool,
) -> Vec<u8> {
    let text = |s: &str| Value::Text(s.into());
    let mut protected = vec![
        (Value::Integer((-7).into()), Value::Integer((-7).into())),
        (
            Value::Integer(2.into()),
            Value::Array(vec![text("io.cncf.notary.signingScheme")]),
        ),
        (Value::Integer(3.into()), text(jws::PAYLOAD_TYPE)),
        (text("io.cncf.notary.signingScheme"), text("notary.x509")),
        (
            text("io.cncf.notary.signingTime"),
            Value::Tag(1, Box::new(Value::Integer(1_765_000_000.into()))),
        ),
    ];
    // Label 1 (alg) = ES256.
    protected[0].0 = Value::Integer(1.into());
    protected.extend(extra);
    let mut pbytes = Vec::new();
    ciborium::ser::into_writer(&Value::Map(protected), &mut pbytes).unwrap();
    let payload = serde_json::json!({"targetArtifact": {
        "mediaType": t.media_type, "digest": t.digest, "size": t.size}})
    .to_string()
    .into_bytes();
    let mut tbs = Vec::new();
    ciborium::ser::into_writer(
        &Value::Array(vec![
            text("Signature1"),
            Value::Bytes(pbytes.clone()),
            Value::Bytes(vec![]),
            Value::Bytes(payload.clone()),
        ]),
        &mut tbs,
    )
    .unwrap();
    let rng = SystemRandom::new();
    let key = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &p.leaf_key.serialize_der(),
        &rng,
    )
    .unwrap();
    let sig = key.sign(&rng, &tbs).unwrap().as_ref().to_vec();
    let mut payload = payload;
    if tamper {
        payload[0] = b' ';
    }
    let msg = Value::Tag(
        18,
        Box::new(Value::Array(vec![
            Value::Bytes(pbytes),
            Value::Map(vec![(
                Value::Integer(33.into()),
                Value::Array(vec![
                    Value::Bytes(p.leaf_der.clone()),
                    Value::Bytes(p.root_der.clone()),
                ]),
            )]),
            Value::Bytes(payload),
            Value::Bytes(sig),
        ])),
    );
    let mut out = Vec::new();
    ciborium::ser::into_writer(&msg, &mut out).unwrap();
    out
}

#[test]
fn cose_envelopes_verify_like_jws_ones() {
    let p = pki("acme", |_| {});
    let (_d, cfg) = config(&[&p.root_der], "strict", serde_json::json!({}));
    let stmt = cfg.policy.select("r.io/app").unwrap();
    let run = |env: &[u8], t: &Descriptor| {
        evaluate(&cfg, stmt, cose::MEDIA_TYPE, env, t, now()).map_err(|e| e.to_string())
    };
    let o = run(&cose_envelope(&p, vec![], &target(), false), &target()).unwrap();
    assert!(o.signer.contains("O=acme"), "{}", o.signer);
    let e = run(&cose_envelope(&p, vec![], &target(), true), &target()).unwrap_err();
    assert!(e.contains("does not verify"), "{e}");
    let other = Descriptor {
        size: 2,
        ..target()
    };
    let e = run(&cose_envelope(&p, vec![], &other, false), &target()).unwrap_err();
    assert!(e.contains("the signature is for"), "{e}");
    // Expiry present but not critical; bytes after the message.
    let expiry = (
        Value::Text("io.cncf.notary.expiry".into()),
        Value::Tag(1, Box::new(Value::Integer(4_000_000_000i64.into()))),
    );
    let e = run(
        &cose_envelope(&p, vec![expiry], &target(), false),
        &target(),
    )
    .unwrap_err();
    assert!(e.contains("must be listed in crit"), "{e}");
    let mut env = cose_envelope(&p, vec![], &target(), false);
    env.push(0);
    assert!(run(&env, &target()).unwrap_err().contains("trailing bytes"));
}

#[test]
fn authenticity_and_identity_follow_the_level() {
    let p = pki("acme", |_| {});
    let other = pki("acme", |_| {});
    let env = envelope(&p, serde_json::json!({}), &target());
    // Another CA (same names, other key) in the store.
    let (_d, cfg) = config(&[&other.root_der], "strict", serde_json::json!({}));
    let e = check(&cfg, &env).unwrap_err();
    assert!(
        e.contains("authenticity check failed") && e.contains("ca:acme"),
        "{e}"
    );
    let (_d, cfg) = config(&[&other.root_der], "permissive", serde_json::json!({}));
    assert!(check(&cfg, &env).is_err());
    let (_d, cfg) = config(&[&other.root_der], "audit", serde_json::json!({}));
    let o = check(&cfg, &env).unwrap();
    assert!(
        o.logged[0].contains("authenticity (logged only"),
        "{:?}",
        o.logged
    );
    // Identity mismatch.
    let ids = serde_json::json!({"trustedIdentities": ["x509.subject: C=US, ST=WA, O=wabbit"]});
    let (_d, cfg) = config(&[&p.root_der], "strict", ids.clone());
    let e = check(&cfg, &env).unwrap_err();
    assert!(e.contains("is not a trusted identity"), "{e}");
    // Subset match, and the wildcard.
    for ids in [
        serde_json::json!({"trustedIdentities": ["x509.subject: C=US, S=WA, O=acme, CN=signer"]}),
        serde_json::json!({"trustedIdentities": ["*"]}),
    ] {
        let (_d, cfg) = config(&[&p.root_der], "strict", ids);
        check(&cfg, &env).unwrap();
    }
}

#[test]
fn expiry_and_validity_follow_the_level() {
    let p = pki("acme", |_| {});
    let expired = envelope(
        &p,
        serde_json::json!({"io.cncf.notary.expiry": "2020-01-01T00:00:00Z",
            "crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"]}),
        &target(),
    );
    let (_d, cfg) = config(&[&p.root_der], "strict", serde_json::json!({}));
    assert!(check(&cfg, &expired)
        .unwrap_err()
        .contains("expired at 2020-01-01"));
    let (_d, cfg) = config(&[&p.root_der], "permissive", serde_json::json!({}));
    assert!(check(&cfg, &expired).unwrap().logged[0].starts_with("expiry"));
    let over = serde_json::json!({"signatureVerification": {"level": "permissive", "override": {"expiry": "enforce"}}});
    let (_d, cfg) = config(&[&p.root_der], "permissive", over);
    assert!(check(&cfg, &expired).is_err());
    // An expired signing certificate, with no timestamp.
    let old = pki("acme", |l| {
        l.not_before = rcgen::date_time_ymd(2020, 1, 1);
        l.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let (_d, cfg) = config(&[&old.root_der], "strict", serde_json::json!({}));
    let e = check(&cfg, &envelope(&old, serde_json::json!({}), &target())).unwrap_err();
    assert!(
        e.contains("authenticTimestamp check failed") && e.contains("not valid now"),
        "{e}"
    );
    // Revocation: revocation/tests/ (it needs the network).
}

#[test]
fn the_certificate_profile_is_enforced() {
    let bad_ku = pki("acme", |l| {
        l.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
    });
    let (_d, cfg) = config(&[&bad_ku.root_der], "audit", serde_json::json!({}));
    let e = check(&cfg, &envelope(&bad_ku, serde_json::json!({}), &target())).unwrap_err();
    assert!(e.contains("allows more than signing"), "{e}");
    let server = pki("acme", |l| {
        l.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let (_d, cfg) = config(&[&server.root_der], "audit", serde_json::json!({}));
    let e = check(&cfg, &envelope(&server, serde_json::json!({}), &target())).unwrap_err();
    assert!(e.contains("extendedKeyUsage"), "{e}");
    // A chain without its root.
    let p = pki("acme", |_| {});
    let mut env: serde_json::Value =
        serde_json::from_slice(&envelope(&p, serde_json::json!({}), &target())).unwrap();
    env["header"]["x5c"] = serde_json::json!([STANDARD.encode(&p.leaf_der)]);
    let (_d, cfg) = config(&[&p.root_der], "strict", serde_json::json!({}));
    let e = check(&cfg, env.to_string().as_bytes()).unwrap_err();
    assert!(e.contains("root must be included"), "{e}");
}

#[test]
fn a_lone_self_signed_leaf_works_like_notation_generate_test() {
    let key = KeyPair::generate().unwrap();
    let mut lp = CertificateParams::new(Vec::<String>::new()).unwrap();
    dn(&mut lp, "acme", "test");
    lp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    let der = lp.self_signed(&key).unwrap().der().to_vec();
    let p = Pki {
        root_der: der.clone(),
        leaf_der: der.clone(),
        leaf_key: key,
    };
    let mut env: serde_json::Value =
        serde_json::from_slice(&envelope(&p, serde_json::json!({}), &target())).unwrap();
    env["header"]["x5c"] = serde_json::json!([STANDARD.encode(&der)]);
    let (_d, cfg) = config(&[&der], "strict", serde_json::json!({}));
    check(&cfg, env.to_string().as_bytes()).unwrap();
}

#[test]
fn trust_stores_reject_links_and_leaves() {
    let p = pki("acme", |_| {});
    let dir = tempfile::tempdir().unwrap();
    let r = StoreRef {
        kind: StoreType::Ca,
        name: "acme".into(),
    };
    let store = dir.path().join("x509/ca/acme");
    std::fs::create_dir_all(store.join("sub")).unwrap();
    std::fs::write(store.join("sub/ignored.txt"), b"junk").unwrap();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(&p.root_der)
    );
    std::fs::write(store.join("root.pem"), pem).unwrap();
    assert_eq!(Store::load(dir.path(), &r).unwrap().certs.len(), 1);
    std::os::unix::fs::symlink(store.join("root.pem"), store.join("link.pem")).unwrap();
    let e = Store::load(dir.path(), &r).unwrap_err();
    assert!(
        matches!(
            &e,
            store::StoreError::In {
                problem: store::FileError::Symlink(_),
                ..
            }
        ),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(e.contains("symbolic link"), "{e}");
    std::fs::remove_file(store.join("link.pem")).unwrap();
    std::fs::write(store.join("leaf.cer"), &p.leaf_der).unwrap();
    let e = Store::load(dir.path(), &r).unwrap_err().to_string();
    assert!(e.contains("neither a CA nor self-signed"), "{e}");
    std::fs::remove_file(store.join("leaf.cer")).unwrap();
    // A linked store directory.
    std::fs::create_dir_all(dir.path().join("x509/ca")).unwrap();
    std::os::unix::fs::symlink(&store, dir.path().join("x509/ca/linked")).unwrap();
    let linked = StoreRef {
        kind: StoreType::Ca,
        name: "linked".into(),
    };
    assert!(Store::load(dir.path(), &linked)
        .unwrap_err()
        .to_string()
        .contains("symbolic link"));
    let missing = StoreRef {
        kind: StoreType::Ca,
        name: "nope".into(),
    };
    assert!(Store::load(dir.path(), &missing).is_err());
}

/// Discovery through the shared layer (`trust::discovery`), against a
/// stand-in registry without a referrers API (as distribution 2.8).
#[path = "discovery_tests.rs"]
mod discovery;
