//! The cosign verifier against signatures made by an independent
//! implementation (tests/cosign/signer.mjs: Node's crypto and
//! @sigstore/mock's Fulcio, CT log and Rekor), stored by
//! tests/cosign/make-fixtures.sh. Keyless certificates there expired ten
//! minutes after they were made: they verify only because the log's signed
//! time is used, never the clock.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use img_authz::verify::cosign::{
    distinct_authorities, from_bundle, from_simple_layer, Authority, Candidate, CosignPolicy,
    Evidence, Identity, Pattern, PublicKey, Rejection, Tlog, TlogError, TrustedRoot, Verified,
};

const SUBJECT: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cosign")
}

fn digest() -> String {
    std::fs::read_to_string(dir().join("digest"))
        .unwrap()
        .trim()
        .to_string()
}

fn other_digest() -> String {
    format!("sha256:{}", "0".repeat(64))
}

fn case(name: &str) -> Vec<Candidate> {
    let text = std::fs::read(dir().join("cases").join(format!("{name}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    match v.get("payload").and_then(|p| p.as_str()) {
        Some(p) => {
            let payload = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
            let ann = v["annotations"].as_object().unwrap();
            vec![from_simple_layer(name.to_string(), payload, ann).unwrap()]
        }
        None => vec![from_bundle(name, &text).unwrap()],
    }
}

fn key(name: &str) -> (String, PublicKey) {
    let pem = std::fs::read_to_string(dir().join("keys").join(format!("{name}.pub"))).unwrap();
    (format!("{name}.pub"), PublicKey::from_pem(&pem).unwrap())
}

fn root(name: &str) -> Arc<TrustedRoot> {
    Arc::new(TrustedRoot::load(&dir().join(name)).unwrap())
}

fn keys(names: &[&str]) -> CosignPolicy {
    CosignPolicy {
        keys: names.iter().map(|n| key(n)).collect(),
        identities: Vec::new(),
        threshold: 1,
        root: Some(root("trusted_root.json")),
        tlog: Tlog::Ignore,
        match_reference: false,
    }
}

fn keyless(subject: &str, issuer: &str) -> CosignPolicy {
    CosignPolicy {
        keys: Vec::new(),
        identities: vec![Identity::new(issuer, subject)],
        threshold: 1,
        root: Some(root("trusted_root.json")),
        tlog: Tlog::Ignore,
        match_reference: false,
    }
}

/// The verdict on the first candidate of a case.
fn check(p: &CosignPolicy, name: &str) -> Result<Vec<Authority>, String> {
    let c = &case(name)[0];
    p.check(c, &digest())
        .map(|v| v.authorities.into_iter().collect())
        .map_err(|e| e.to_string())
}

fn denied(p: &CosignPolicy, name: &str, why: &str) {
    match check(p, name) {
        Ok(a) => panic!("{name} was accepted ({a:?}), expected: {why}"),
        Err(e) => assert!(e.contains(why), "{name}: {e:?} does not say {why:?}"),
    }
}

#[test]
fn every_key_type_verifies() {
    for k in ["p256", "p384", "ed25519", "rsa"] {
        assert_eq!(
            check(&keys(&[k]), &format!("simple-{k}")),
            Ok(vec![Authority::Key(0)]),
            "{k}"
        );
    }
    assert!(check(&keys(&["ed25519"]), "bundle-ed25519").is_ok());
    assert!(check(&keys(&["p256"]), "bundle-p256").is_ok());
}

#[test]
fn a_signature_by_another_key_does_not_count() {
    denied(
        &keys(&["p256"]),
        "simple-other",
        "does not verify with any trusted key",
    );
    denied(
        &keys(&["p256", "rsa"]),
        "simple-ed25519",
        "does not verify with any trusted key",
    );
    denied(
        &keys(&["other"]),
        "bundle-p256",
        "does not verify with any trusted key",
    );
    // Keys of one type never verify another's signature.
    denied(&keys(&["p384"]), "simple-p256", "does not verify");
    // With several keys, the one that signed is named.
    assert_eq!(
        check(&keys(&["other", "p256"]), "simple-p256"),
        Ok(vec![Authority::Key(1)])
    );
}

#[test]
fn a_tampered_signature_is_refused() {
    denied(
        &keys(&["p256"]),
        "simple-tampered-signature",
        "does not verify",
    );
    denied(
        &keyless(SUBJECT, ISSUER),
        "bundle-keyless-tampered-signature",
        "does not verify with its certificate",
    );
}

#[test]
fn the_payload_must_name_the_exact_digest() {
    denied(
        &keys(&["p256"]),
        "simple-wrong-digest",
        "its payload is for sha256:",
    );
    denied(
        &keyless(SUBJECT, ISSUER),
        "bundle-wrong-digest",
        "subject is not",
    );
    // A valid signature of this image says nothing about another one.
    let c = &case("simple-p256")[0];
    assert!(keys(&["p256"]).check(c, &other_digest()).is_err());
    let c = &case("bundle-keyless")[0];
    assert!(keyless(SUBJECT, ISSUER).check(c, &other_digest()).is_err());
}

#[test]
fn keyless_needs_the_trusted_identity() {
    assert_eq!(
        check(&keyless(SUBJECT, ISSUER), "simple-keyless"),
        Ok(vec![Authority::Identity(0)])
    );
    assert!(check(&keyless(SUBJECT, ISSUER), "bundle-keyless").is_ok());
    assert!(check(&keyless(SUBJECT, ISSUER), "simple-keyless-legacy-issuer").is_ok());
    // `*` stays inside one path segment: "acme/*" names a repository, not
    // every workflow of every acme repository at every ref.
    denied(
        &keyless("https://github.com/acme/*", ISSUER),
        "simple-keyless",
        "not a trusted identity",
    );
    let any_acme_main = "https://github.com/acme/*/.github/workflows/*@refs/heads/main";
    assert!(check(&keyless(any_acme_main, ISSUER), "simple-keyless").is_ok());
    denied(
        &keyless(any_acme_main, ISSUER),
        "simple-keyless-other",
        "not a trusted identity",
    );
    // The anchored regular-expression form.
    let re = |s: &str, i: &str| CosignPolicy {
        identities: vec![Identity {
            issuer: Pattern::regex(i).unwrap(),
            subject: Pattern::regex(s).unwrap(),
            github: Default::default(),
        }],
        ..keyless(SUBJECT, ISSUER)
    };
    let acme = r"https://github\.com/acme/[^/]+/\.github/workflows/[^/@]+@refs/heads/main";
    let gh = r"https://token\.actions\.githubusercontent\.com";
    assert!(check(&re(acme, gh), "simple-keyless").is_ok());
    denied(
        &re(acme, gh),
        "simple-keyless-other",
        "not a trusted identity",
    );
    // Anchored: a part of the subject or issuer is not enough.
    denied(&re("acme", gh), "simple-keyless", "not a trusted identity");
    denied(
        &re(acme, "token"),
        "simple-keyless",
        "not a trusted identity",
    );
    // GitHub workflow claims the certificate does not carry are not met.
    let mut p = keyless(SUBJECT, ISSUER);
    p.identities[0].github.repository = Some("acme/app".into());
    denied(&p, "simple-keyless", "not a trusted identity");
    denied(
        &keyless(SUBJECT, "https://accounts.google.com"),
        "simple-keyless",
        "not a trusted identity",
    );
    denied(
        &keyless("https://github.com/acme/app/*@refs/heads/dev", ISSUER),
        "simple-keyless",
        "not a trusted identity",
    );
}

#[test]
fn keyless_needs_a_chain_to_the_trusted_root() {
    // A whole rogue Sigstore instance (CA, CT log, Rekor) is not ours.
    denied(
        &keyless(SUBJECT, ISSUER),
        "simple-keyless-rogue-ca",
        "log the trusted root does not name",
    );
    let mut p = keyless(SUBJECT, ISSUER);
    p.root = Some(root("rogue_root.json"));
    assert!(check(&p, "simple-keyless-rogue-ca").is_ok());
    // Our log and CT log, but a certificate from another CA.
    let mut r = (*root("trusted_root.json")).clone();
    r.authorities = root("rogue_root.json").authorities.clone();
    p.root = Some(Arc::new(r));
    denied(&p, "simple-keyless", "does not chain to a trusted CA");
    p.root = None;
    denied(&p, "simple-keyless", "need a trusted root");
}

#[test]
fn keyless_needs_a_valid_set_bound_to_the_signature() {
    denied(
        &keyless(SUBJECT, ISSUER),
        "simple-keyless-tampered-set",
        "SET does not verify",
    );
    // Another signature's (valid) log entry does not vouch for this one.
    let mut c = case("simple-keyless")[0].clone();
    c.tlog = case("simple-keyless-legacy-issuer")[0].tlog.clone();
    let e = keyless(SUBJECT, ISSUER).check(&c, &digest()).unwrap_err();
    assert!(e.to_string().contains("Rekor entry is for"), "{e}");
    // No log entry: no trusted time for the short-lived certificate.
    let mut c = case("simple-keyless")[0].clone();
    c.tlog.clear();
    let e = keyless(SUBJECT, ISSUER).check(&c, &digest()).unwrap_err();
    assert!(e.to_string().contains("not in the transparency log"), "{e}");
    // An inclusion proof alone proves inclusion, not the time.
    let mut c = case("bundle-keyless")[0].clone();
    for t in &mut c.tlog {
        t.set = None;
    }
    let e = keyless(SUBJECT, ISSUER).check(&c, &digest()).unwrap_err();
    assert!(e.to_string().contains("no signed time"), "{e}");
}

#[test]
fn keyless_needs_an_sct_from_a_trusted_ct_log() {
    let mut r = (*root("trusted_root.json")).clone();
    r.ctlogs.clear();
    let mut p = keyless(SUBJECT, ISSUER);
    p.root = Some(Arc::new(r.clone()));
    denied(&p, "simple-keyless", "no CT log");
    r.ctlogs = root("rogue_root.json").ctlogs.clone();
    p.root = Some(Arc::new(r));
    denied(&p, "simple-keyless", "SCT");
}

/// Defect E: every rejected signature was reported as "not signed", so the
/// hint said "sign it" for a tampered one. Only a signature by nobody
/// trusted is as good as absent; failing evidence is `Invalid`.
#[test]
fn a_bad_signature_is_invalid_not_absent() {
    let kind = |p: &CosignPolicy, c: &Candidate| match p.verify_candidate(c, None, &digest()) {
        Ok(_) => panic!("accepted"),
        Err(Rejection::Untrusted(_)) => "untrusted",
        Err(Rejection::Invalid { .. }) => "invalid",
    };
    // The evidence that failed, as a type (the only one listed).
    let evidence = |p: &CosignPolicy, c: &Candidate| match p.verify_candidate(c, None, &digest()) {
        Err(Rejection::Invalid {
            mut evidence,
            untrusted: None,
        }) if evidence.len() == 1 => evidence.pop(),
        other => panic!("{other:?}"),
    };
    let first = |name: &str| case(name)[0].clone();
    // By someone else: absent as far as this policy goes.
    assert_eq!(kind(&keys(&["p256"]), &first("simple-other")), "untrusted");
    let other_identity = keyless("https://github.com/acme/*", ISSUER);
    assert_eq!(kind(&other_identity, &first("simple-keyless")), "untrusted");
    // A keyless signature its own certificate does not verify.
    let mut c = first("simple-keyless");
    if let Some(b) = c.signature.last_mut() {
        *b ^= 1;
    }
    assert_eq!(kind(&keyless(SUBJECT, ISSUER), &c), "invalid");
    assert!(matches!(
        evidence(&keyless(SUBJECT, ISSUER), &c),
        Some(Evidence::CertSignature)
    ));
    // A trusted key's signature the log required does not hold.
    let mut p = keys(&["p256"]);
    p.tlog = Tlog::Required;
    assert_eq!(kind(&p, &first("simple-p256")), "invalid");
    assert!(matches!(
        evidence(&p, &first("simple-p256")),
        Some(Evidence::KeyNotLogged {
            source: TlogError::NotLogged,
            ..
        })
    ));
    // A signature payload naming another image.
    let e = keys(&["p256"])
        .verify_candidate(&first("simple-p256"), None, &other_digest())
        .unwrap_err();
    assert!(
        matches!(&e, Rejection::Invalid { evidence, .. } if matches!(evidence.as_slice(), [Evidence::Payload(_)])),
        "{e:?}"
    );
}

#[test]
fn the_log_requirement_for_keys() {
    let mut p = keys(&["p256"]);
    p.tlog = Tlog::Required;
    denied(&p, "simple-p256", "not in the transparency log");
    assert!(check(&p, "simple-p256-tlog").is_ok());
    assert!(check(&p, "bundle-p256-tlog").is_ok());
    // The bundle's inclusion proof and signed checkpoint suffice for keys.
    let mut c = case("bundle-p256-tlog")[0].clone();
    for t in &mut c.tlog {
        t.set = None;
    }
    assert!(p.check(&c, &digest()).is_ok());
    // Only from a log key that is still current: the entry's time is not
    // signed on this path, so it cannot date the entry inside a retired
    // key's window.
    let mut retired = (*root("trusted_root.json")).clone();
    let logged = c.tlog[0].integrated_time;
    for l in &mut retired.tlogs {
        l.valid_until = time::OffsetDateTime::from_unix_timestamp(logged + 1).ok();
    }
    let mut q = p.clone();
    q.root = Some(Arc::new(retired));
    let e = q.check(&c, &digest()).unwrap_err();
    assert!(e.to_string().contains("no longer current"), "{e}");
    // A proof for another entry does not.
    let mut c2 = c.clone();
    let other = case("bundle-keyless")[0].tlog[0].proof.clone();
    c2.tlog[0].proof = other;
    assert!(p.check(&c2, &digest()).is_err());
    // A log the trusted root does not name does not count.
    p.root = Some(root("rogue_root.json"));
    denied(&p, "simple-p256-tlog", "log the trusted root does not name");
}

#[test]
fn a_threshold_counts_distinct_signers() {
    let p = CosignPolicy {
        threshold: 2,
        ..keys(&["p256", "ed25519"])
    };
    let verified = |names: &[&str]| -> Vec<Verified> {
        names
            .iter()
            .map(|n| p.check(&case(n)[0], &digest()).unwrap())
            .collect()
    };
    let two = distinct_authorities(&verified(&[
        "simple-p256",
        "simple-ed25519",
        "simple-p256-tlog",
    ]));
    assert_eq!(two.len(), 2);
    // The same key twice is still one signer.
    assert_eq!(
        distinct_authorities(&verified(&["simple-p256", "simple-p256-tlog"])).len(),
        1
    );
    // One certificate matching two trusted identities is one signer too.
    let both = CosignPolicy {
        keys: Vec::new(),
        identities: vec![
            Identity::new(ISSUER, SUBJECT),
            Identity::new(
                ISSUER,
                "https://github.com/*/*/.github/workflows/*@refs/heads/*",
            ),
        ],
        threshold: 2,
        root: Some(root("trusted_root.json")),
        tlog: Tlog::Ignore,
        match_reference: false,
    };
    let v = both.check(&case("simple-keyless")[0], &digest()).unwrap();
    assert_eq!(v.authorities.len(), 2);
    assert_eq!(distinct_authorities(&[v.clone(), v.clone()]).len(), 1);
    // The same identity signing again (a fresh certificate and key each
    // time, as keyless signing does) is still one signer.
    let again: Vec<Verified> = ["simple-keyless-legacy-issuer", "bundle-keyless"]
        .iter()
        .map(|n| both.check(&case(n)[0], &digest()).unwrap())
        .collect();
    assert!(again.iter().all(|w| w.signer == v.signer));
    let mut same = again.clone();
    same.push(v.clone());
    assert_eq!(distinct_authorities(&same).len(), 1);
    // Another identity is another signer: it takes the broad identity,
    // the first one the exact one.
    let w = both
        .check(&case("simple-keyless-other")[0], &digest())
        .unwrap();
    assert_eq!(w.authorities.len(), 1);
    assert_ne!(v.signer, w.signer);
    assert_eq!(distinct_authorities(&[v, w]).len(), 2);
}

#[test]
fn trusted_roots_and_keys_are_validated() {
    assert!(TrustedRoot::parse(b"{}").is_ok_and(|r| r.tlogs.is_empty()));
    assert!(TrustedRoot::parse(b"not json").is_err());
    assert!(TrustedRoot::parse(br#"{"tlogs":[{"publicKey":{"rawBytes":"AAAA"}}]}"#).is_err());
    assert!(
        PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
            .is_err()
    );
    assert!(PublicKey::from_pem("").is_err());
}
