//! Content binding: pull decisions, the pull cache, RepoDigests.

use super::*;
use crate::daemon::ImageDescriptor;
use crate::trust::error::fixtures::{self, unreachable};
use crate::trust::Signed;

fn image(id: &str, descriptor: Option<&str>, repo_digests: &[&str]) -> ImageInfo {
    ImageInfo {
        id: id.into(),
        repo_tags: None,
        repo_digests: Some(repo_digests.iter().map(|s| s.to_string()).collect()),
        descriptor: descriptor.map(|d| ImageDescriptor { digest: d.into() }),
    }
}

/// Signs every tag with one digest, or fails as told.
struct Fixed(Result<Signed, TrustError>);

#[async_trait::async_trait]
impl Verifier for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }
    fn server(&self) -> String {
        "nowhere".into()
    }
    async fn signed_digest(&self, _: &Reference, _: &str) -> Result<Signed, TrustError> {
        self.0.clone()
    }
    async fn digest_signed(&self, _: &Reference, _: &str) -> Result<Signed, TrustError> {
        self.0.clone()
    }
}

/// Defect A: the cache chose what to keep by the deny's wording, so a
/// registry outage ("cannot learn which manifest…") was kept as a deny.
#[tokio::test]
async fn pull_cache_keeps_no_outage_and_keeps_real_denies() {
    let image = Reference::parse_normalized("r.io/app:1").unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    let signed = Fixed(Ok(Signed::for_test(&digest, "test")));
    let served = |r: Result<String, RegistryError>| async move { r };

    let outage = decide_pull(
        &signed,
        served(Err(unreachable("connection refused"))),
        &image,
    );
    let outage = outage.await;
    assert!(!outage.allowed());
    assert_eq!(outage.cause, Some(DenyCause::Unavailable));
    assert!(!reusable(&outage), "a registry outage must not be cached");

    let trust_down = Fixed(Err(fixtures::down()));
    let d = decide_pull(&trust_down, served(Ok(digest.clone())), &image).await;
    assert_eq!(d.cause, Some(DenyCause::Unavailable));
    assert!(!reusable(&d));

    let unsigned = Fixed(Err(fixtures::unsigned(&digest)));
    let d = decide_pull(&unsigned, served(Ok(digest.clone())), &image).await;
    assert_eq!(d.cause, Some(DenyCause::NotSigned));
    assert!(reusable(&d));

    let bad = Fixed(Err(fixtures::invalid()));
    let d = decide_pull(&bad, served(Ok(digest.clone())), &image).await;
    assert_eq!(d.cause, Some(DenyCause::Invalid));
    assert!(reusable(&d));

    let moved = decide_pull(
        &signed,
        served(Ok(format!("sha256:{}", "b".repeat(64)))),
        &image,
    )
    .await;
    assert_eq!(moved.cause, Some(DenyCause::Policy));
    assert!(reusable(&moved));

    let ok = decide_pull(&signed, served(Ok(digest)), &image).await;
    assert!(ok.allowed() && ok.cause.is_none() && reusable(&ok));
}

/// [`Fixed`] that says it reads the tag from the registry itself.
struct Served(Result<Signed, TrustError>);

#[async_trait::async_trait]
impl Verifier for Served {
    fn name(&self) -> &'static str {
        "served"
    }
    fn server(&self) -> String {
        "the registry".into()
    }
    fn judges_served_digest(&self) -> bool {
        true
    }
    async fn signed_digest(&self, _: &Reference, _: &str) -> Result<Signed, TrustError> {
        self.0.clone()
    }
    async fn digest_signed(&self, _: &Reference, _: &str) -> Result<Signed, TrustError> {
        self.0.clone()
    }
}

/// A first pull of a cosign- or Notation-signed tag asked the registry
/// for the tag twice at once (the verifier, then the binding check);
/// the second look-up is made only where it can disagree (Notary) or
/// for a deny's pin hint.
#[tokio::test]
async fn a_verifier_that_reads_the_registry_is_not_second_guessed() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let image = Reference::parse_normalized("r.io/app:1").unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    let asked = AtomicUsize::new(0);
    let served = |d: String| {
        let asked = &asked;
        async move {
            asked.fetch_add(1, Ordering::SeqCst);
            Ok::<_, RegistryError>(d)
        }
    };

    let signed = Served(Ok(Signed::for_test(&digest, "test")));
    let ok = decide_pull(
        &signed,
        served(format!("sha256:{}", "b".repeat(64))),
        &image,
    )
    .await;
    assert!(ok.allowed(), "{ok:?}");
    assert_eq!(ok.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(asked.load(Ordering::SeqCst), 0);

    // Not signed: the served digest is offered as a pin, as before.
    let unsigned = Served(Err(fixtures::unsigned(&digest)));
    let d = decide_pull(&unsigned, served(digest.clone()), &image).await;
    assert_eq!(d.cause, Some(DenyCause::NotSigned));
    assert!(
        d.hint.contains(&format!("digests = [\"{digest}\"]")),
        "{}",
        d.hint
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);

    // An outage is not waited for twice.
    let down = Served(Err(fixtures::down()));
    let d = decide_pull(&down, served(digest.clone()), &image).await;
    assert_eq!(d.cause, Some(DenyCause::Unavailable));
    assert_eq!(asked.load(Ordering::SeqCst), 1);

    // A verifier whose tags are signed elsewhere is still checked
    // against what the registry serves.
    let notary = Fixed(Ok(Signed::for_test(&digest, "test")));
    let moved = decide_pull(
        &notary,
        served(format!("sha256:{}", "b".repeat(64))),
        &image,
    )
    .await;
    assert!(
        !moved.allowed() && moved.reason.contains("the tag moved"),
        "{moved:?}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 2);
}

#[test]
fn on_the_containerd_store_only_the_target_digest_counts() {
    let (signed, evil) = (
        format!("sha256:{}", "a".repeat(64)),
        format!("sha256:{}", "e".repeat(64)),
    );
    // `docker load` of a tar naming r.io/app@<signed> for other content:
    // the record is listed, its ID is the loaded content's.
    let loaded = image(&evil, Some(&evil), &[&format!("r.io/app@{signed}")]);
    assert!(repo_digests(&loaded, true).is_empty());
    let pulled = image(&signed, Some(&signed), &[&format!("r.io/app@{signed}")]);
    assert_eq!(
        repo_digests(&pulled, true),
        vec![("r.io/app".to_string(), signed.clone())]
    );
    // The classic store: the ID is the config digest, RepoDigests come
    // from pulls only.
    let classic = image(&evil, None, &[&format!("r.io/app@{signed}"), "not a ref"]);
    assert_eq!(
        repo_digests(&classic, false),
        vec![("r.io/app".to_string(), signed)]
    );
}
