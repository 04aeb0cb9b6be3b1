//! Notation discovery through the shared layer (`trust::discovery`),
//! against a stand-in registry without a referrers API (as distribution
//! 2.8), and how a pull by tag resolves the tag.

use super::super::*;
use crate::trust::cosign::discover::tests::stand_in;

/// A Notation signature under the tag `sha256-<hex>` in `listing`.
fn registry(listing: impl Fn(&str) -> Vec<u8>) -> (stand_in::Reg, String) {
    let mut reg = stand_in::Reg::default();
    let image = reg.blob(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#);
    let sig = stand_in::referrer(
        &mut reg,
        &image,
        ARTIFACT_TYPE,
        jws::MEDIA_TYPE,
        b"{}",
        serde_json::json!({}),
    );
    let tag = format!("manifests/{}", referrer_tag(&image));
    reg.put(&tag, &listing(&sig));
    (reg, image)
}

async fn found(reg: stand_in::Reg, image: &str) -> Result<Found, RegistryError> {
    let port = reg.serve();
    find(
        &stand_in::client(),
        &format!("127.0.0.1:{port}"),
        "r",
        image,
    )
    .await
}

#[tokio::test]
async fn the_tag_scheme_index_lists_the_signature() {
    let (reg, image) = registry(|sig| stand_in::index(&[(sig, ARTIFACT_TYPE)]));
    let f = found(reg, &image).await.unwrap();
    assert_eq!(f.candidates.len(), 1, "{f:?}");
    assert_eq!(f.candidates[0].media_type, jws::MEDIA_TYPE);
}

/// A Docker manifest list (an image) under the tag is no referrers
/// index, whatever its entries say.
#[tokio::test]
async fn a_manifest_list_under_the_tag_refers_to_nothing() {
    let (reg, image) = registry(|sig| {
        let mut v: serde_json::Value =
            serde_json::from_slice(&stand_in::index(&[(sig, ARTIFACT_TYPE)])).unwrap();
        v["mediaType"] = "application/vnd.docker.distribution.manifest.list.v2+json".into();
        v.to_string().into_bytes()
    });
    let f = found(reg, &image).await.unwrap();
    assert!(f.candidates.is_empty() && f.unreadable.is_empty(), "{f:?}");
}

/// The tag scheme's index exists but cannot be read: the lookup fails
/// (the verdict is "unavailable"), it is not one bad signature.
#[tokio::test]
async fn an_unreadable_tag_scheme_index_fails_the_lookup() {
    let (mut reg, image) = registry(|_| Vec::new());
    let tag = format!("manifests/{}", referrer_tag(&image));
    reg.0.insert(tag, (403, String::new(), Vec::new()));
    assert!(found(reg, &image).await.is_err());
}

/// A JWS signature of `target` by `p`, listed under `image`'s
/// `sha256-<hex>` tag; the signature manifest's digest.
fn signed_by_tag_scheme(
    reg: &mut stand_in::Reg,
    p: &super::Pki,
    image: &str,
    target: &Descriptor,
) -> String {
    let sig = stand_in::referrer(
        reg,
        image,
        ARTIFACT_TYPE,
        jws::MEDIA_TYPE,
        &super::envelope(p, serde_json::json!({}), target),
        serde_json::json!({}),
    );
    reg.put(
        &format!("manifests/{}", referrer_tag(image)),
        &stand_in::index(&[(&sig, ARTIFACT_TYPE)]),
    );
    sig
}

/// A signed tag whose registry states the signed descriptor in its
/// headers, and whose manifest says another media type, and the
/// verifier asked for the tag and then for `repo@digest`, and for tags
/// stating a size over dockerd's 4 MiB manifest limit.
fn stated(content_type: &str, length: Option<usize>) -> (stand_in::Reg, String, Vec<u8>) {
    use super::pki;
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
    let (mut reg, image) = registry(|_| Vec::new());
    let body = match length {
        Some(n) => vec![b' '; n],
        None => manifest.to_vec(),
    };
    reg.0.insert(
        "manifests/v1".into(),
        (
            200,
            format!("Docker-Content-Digest: {image}\r\nContent-Type: {content_type}\r\n"),
            body,
        ),
    );
    let target = Descriptor {
        media_type: content_type.into(),
        digest: image.clone(),
        size: manifest.len() as u64,
    };
    let p = pki("acme", |_| {});
    signed_by_tag_scheme(&mut reg, &p, &image, &target);
    (reg, image, p.root_der.clone())
}

/// `reg` served, and a strict verifier trusting `root` for its repository
/// `r` (the directory holding its configuration, the verifier, the repository).
fn verifier_of(
    reg: stand_in::Reg,
    root: &[u8],
) -> (tempfile::TempDir, NotationVerifier, Reference) {
    let scope = format!("127.0.0.1:{}/r", reg.serve());
    let (dir, cfg) = super::config(
        &[root],
        "strict",
        serde_json::json!({"registryScopes": [scope]}),
    );
    let v = NotationVerifier::new(cfg, stand_in::client(), Duration::from_secs(60), 8);
    let repo = Reference::parse_normalized(&scope).unwrap();
    (dir, v, repo)
}

/// Review: the cache of verifications is keyed by the descriptor the
/// signature had to name too. One naming the type the registry's
/// headers state verifies a pull by tag; a pull by digest compares it
/// with the manifest's own type, which differs, and must not be
/// answered from the tag's success (it was before).
#[tokio::test]
async fn a_pull_by_digest_is_not_answered_by_the_tag_s_verification() {
    let docker = "application/vnd.docker.distribution.manifest.v2+json";
    let (reg, image, root) = stated(docker, None);
    let (_dir, v, repo) = verifier_of(reg, &root);
    assert_eq!(v.signed_digest(&repo, "v1").await.unwrap().digest(), image);
    let e = v.digest_signed(&repo, &image).await.unwrap_err();
    assert!(
        matches!(e, TrustError::NotSigned(_) | TrustError::Invalid(_)),
        "{e}"
    );
}

/// Review: a size stated over dockerd's manifest limit is refused (a
/// `HEAD` has no body for the client's read limit to cut).
#[tokio::test]
async fn a_tag_stating_a_size_over_the_manifest_limit_is_refused() {
    let oci = "application/vnd.oci.image.manifest.v1+json";
    let (reg, _image, root) = stated(oci, Some(crate::registry::MAX_MANIFEST + 1));
    let (_dir, v, repo) = verifier_of(reg, &root);
    let e = v.signed_digest(&repo, "v1").await.unwrap_err();
    assert!(e.to_string().contains("manifest limit"), "{e}");
}

/// A pull by tag resolves the tag once, as dockerd does before it pulls
/// (`HEAD`), and takes the descriptor the signature must name from that
/// answer's headers, as notation does: no `GET` of the tag (which
/// dockerd never reads) and no second look-up by the pull. A registry
/// that does not state the type or size has the manifest read by digest
/// beside the signatures; a signature naming another size fails.
#[tokio::test]
async fn a_pull_by_tag_resolves_the_tag_once_as_dockerd_does() {
    use super::{config, pki};
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
    let oci = "application/vnd.oci.image.manifest.v1+json";
    let p = pki("acme", |_| {});
    // (Content-Type sent, size the signature names, verifies, read by digest)
    let cases = [
        (Some(oci.to_string()), manifest.len(), true, false),
        (
            Some(format!("{}; charset=utf-8", oci.to_uppercase())),
            manifest.len(),
            true,
            false,
        ),
        (None, manifest.len(), true, true),
        (Some(oci.to_string()), manifest.len() + 1, false, false),
    ];
    for (content_type, signed_size, verifies, by_digest) in cases {
        let what = format!("{content_type:?}, size {signed_size}");
        let (mut reg, image) = registry(|_| Vec::new());
        let typed = content_type
            .as_ref()
            .map(|t| format!("Content-Type: {t}\r\n"))
            .unwrap_or_default();
        reg.0.insert(
            "manifests/v1".into(),
            (
                200,
                format!("Docker-Content-Digest: {image}\r\n{typed}"),
                manifest.to_vec(),
            ),
        );
        let target = Descriptor {
            media_type: oci.into(),
            digest: image.clone(),
            size: signed_size as u64,
        };
        let sig = signed_by_tag_scheme(&mut reg, &p, &image, &target);
        let asked = reg.1.clone();
        let port = reg.serve();
        let scope = format!("127.0.0.1:{port}/r");
        let (_dir, cfg) = config(
            &[&p.root_der],
            "strict",
            serde_json::json!({"registryScopes": [scope]}),
        );
        let v = NotationVerifier::new(cfg, stand_in::client(), Duration::from_secs(60), 8);
        assert!(v.judges_served_digest());
        let repo = Reference::parse_normalized(&scope).unwrap();
        match v.signed_digest(&repo, "v1").await {
            Ok(signed) => {
                assert!(verifies, "{what}: verified");
                assert_eq!(signed.digest(), image);
            }
            Err(e) => assert!(!verifies, "{what}: {e}"),
        }
        let mut asked = asked.lock().unwrap().clone();
        asked.sort();
        let mut want = vec![
            "HEAD manifests/v1".to_string(),
            format!("GET referrers/{image}"),
            format!("GET manifests/{}", referrer_tag(&image)),
            format!("GET manifests/{sig}"),
        ];
        if by_digest {
            want.push(format!("GET manifests/{image}"));
        }
        want.sort();
        let blobs: Vec<_> = asked
            .iter()
            .filter(|a| a.starts_with("GET blobs/"))
            .cloned()
            .collect();
        asked.retain(|a| !a.starts_with("GET blobs/"));
        assert_eq!(
            asked, want,
            "{what}: the envelope aside, these and no others"
        );
        assert_eq!(blobs.len(), 1, "{what}: {blobs:?}");
        if verifies {
            // By digest, the descriptor is read alongside the signatures.
            let (_dir2, cfg) = config(
                &[&p.root_der],
                "strict",
                serde_json::json!({"registryScopes": [scope]}),
            );
            let v2 = NotationVerifier::new(cfg, stand_in::client(), Duration::from_secs(60), 8);
            assert!(v2.digest_signed(&repo, &image).await.is_ok(), "{what}");
        }
    }
}
