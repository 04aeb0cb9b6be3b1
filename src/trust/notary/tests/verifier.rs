//! The cached verifier over whole repositories.

use super::*;

// ------------------------------------------------------------ the verifier

fn verifier(fetch: &Arc<MemFetch>, signers: &[&str]) -> NotaryVerifier {
    let fetch: Arc<dyn Fetch> = fetch.clone();
    let rules = vec![SignerRule {
        pattern: "registry.example.com:5000/team/*".into(),
        roles: signers.iter().map(|s| s.to_string()).collect(),
    }];
    NotaryVerifier::new(
        fetch,
        RootPolicy {
            pins: Vec::new(),
            tofu: true,
        },
        Arc::new(StateStore::new(None).unwrap()),
        rules,
        Duration::from_secs(60),
        16,
    )
}

fn gun_ref() -> Reference {
    Reference::parse_normalized(GUN).unwrap()
}

fn signed(digest_manifest: &str, signer: &str) -> Signed {
    Signed::new(digest_of(digest_manifest), signer.to_string())
}

#[tokio::test]
async fn verifier_resolves_tags_and_digests_and_caches() {
    let fetch = MemFetch::new();
    repo().publish(&fetch);
    let v = verifier(&fetch, &[]);
    let repo_ref = gun_ref();
    assert_eq!(
        v.signed_digest(&repo_ref, "latest").await.unwrap(),
        signed("manifest-releases-latest", "notary targets/releases")
    );
    assert_eq!(
        v.signed_digest(&repo_ref, "v1").await.unwrap(),
        signed("manifest-targets-v1", "notary targets")
    );
    assert!(
        matches!(v.signed_digest(&repo_ref, "v2").await, Err(TrustError::NotSigned(m @ NotSigned::UnsignedTag { .. })) if m.to_string().contains("not signed"))
    );
    assert_eq!(
        v.digest_signed(&repo_ref, &digest_of("manifest-targets-v1"))
            .await
            .unwrap(),
        signed("manifest-targets-v1", "notary targets (tag v1)")
    );
    assert!(matches!(
        v.digest_signed(&repo_ref, &digest_of("unsigned")).await,
        Err(TrustError::NotSigned(_))
    ));
    // All of that from one update.
    assert_eq!(
        fetch
            .requests()
            .iter()
            .filter(|r| r.ends_with("timestamp.json"))
            .count(),
        1
    );
}

#[tokio::test]
async fn verifier_requires_every_required_signer_to_sign_the_same_digest() {
    let fetch = MemFetch::new();
    let mut r = repo();
    r.add_delegation("targets/alice", TestKey::p256("alice"));
    r.add_delegation("targets/bob", TestKey::p256("bob"));
    r.tag("targets/alice", "latest", "manifest-releases-latest")
        .tag("targets/bob", "latest", "manifest-something-else");
    r.publish(&fetch);
    let repo_ref = gun_ref();
    let latest = digest_of("manifest-releases-latest");

    let v = verifier(&fetch, &["targets/alice"]);
    assert_eq!(
        v.signed_digest(&repo_ref, "latest").await.unwrap(),
        signed("manifest-releases-latest", "notary targets/releases")
    );
    assert!(v.digest_signed(&repo_ref, &latest).await.is_ok());

    for (required, why) in [
        (vec!["targets/alice", "targets/bob"], "targets/bob"),
        (vec!["targets/carol"], "targets/carol"),
    ] {
        let v = verifier(&fetch, &required);
        let needle = format!("not signed by the required signer {why}");
        match v.signed_digest(&repo_ref, "latest").await {
            Err(TrustError::NotSigned(m @ NotSigned::MissingSigner { .. })) => {
                assert!(m.to_string().contains(&needle), "{m}")
            }
            other => panic!("{required:?}: {other:?}"),
        }
        match v.digest_signed(&repo_ref, &latest).await {
            Err(TrustError::NotSigned(m @ NotSigned::MissingSigner { .. })) => {
                assert!(m.to_string().contains(&needle), "{m}")
            }
            other => panic!("{required:?}: {other:?}"),
        }
    }

    // A required signer whose delegation is invalid did not sign.
    let mut r2 = r.clone();
    r2.delegation("targets/alice").role.signers = Some(vec![TestKey::p256("intruder")]);
    let fetch2 = MemFetch::new();
    r2.publish(&fetch2);
    let v = verifier(&fetch2, &["targets/alice"]);
    assert!(matches!(
        v.signed_digest(&repo_ref, "latest").await,
        Err(TrustError::NotSigned(_))
    ));
}

#[tokio::test]
async fn verifier_error_kinds() {
    let repo_ref = gun_ref();
    // No trust data at all: not signed.
    let fetch = MemFetch::new();
    let v = verifier(&fetch, &[]);
    assert!(
        matches!(v.signed_digest(&repo_ref, "latest").await, Err(TrustError::NotSigned(m @ NotSigned::NoTrustData { .. })) if m.to_string().contains("no trust data"))
    );
    // Failures are returned again for a moment without asking the server.
    let asked = fetch.requests().len();
    assert!(v.signed_digest(&repo_ref, "latest").await.is_err());
    assert_eq!(fetch.requests().len(), asked, "a cached failure");
    v.cache().clear();
    // Server down: unavailable.
    fetch.set_down(true);
    assert!(matches!(
        v.signed_digest(&repo_ref, "latest").await,
        Err(TrustError::Unavailable(Unavailable::Notary { .. }))
    ));
    // Bad metadata: invalid.
    fetch.set_down(false);
    v.cache().clear();
    let mut r = repo();
    r.timestamp.expires = day(-1);
    r.publish(&fetch);
    match v.signed_digest(&repo_ref, "latest").await {
        Err(TrustError::Invalid(
            m @ Invalid::Notary {
                source: TufError::Expired(_),
                ..
            },
        )) => assert!(m.to_string().contains("timestamp expired"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A fixed server is used once the failure is no longer cached.
    r.timestamp.expires = day(14);
    r.timestamp.version = 2;
    r.publish(&fetch);
    assert!(v.signed_digest(&repo_ref, "latest").await.is_err());
    v.cache().clear();
    assert!(v.signed_digest(&repo_ref, "latest").await.is_ok());
}
