//! Digest pins as a [`Verifier`]: for images that carry no signature to
//! verify (Docker Official Images), a rule lists the exact manifest (or
//! index) digests it allows. A pinned digest is then a verifier outcome like
//! a signed one, so pulls by tag and local images are bound to content by
//! the same code as signatures (`policy::binding`).

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::{NotSigned, RegistryLookup, Signed, TrustError, Verifier};
use crate::registry::RegistryClient;
use crate::request::reference::Reference;

pub struct Pinned {
    digests: BTreeSet<String>,
    registry: RegistryClient,
}

impl Pinned {
    /// `digests` are validated `sha256:<64 lower-case hex>` (policy loader).
    pub fn new(digests: impl IntoIterator<Item = String>, registry: RegistryClient) -> Pinned {
        Pinned {
            digests: digests.into_iter().collect(),
            registry,
        }
    }

    fn pinned(&self, repo: &Reference, digest: &str) -> Result<Signed, TrustError> {
        if self.digests.contains(digest) {
            Ok(Signed::new(digest.to_string(), "pinned digest".into()))
        } else {
            Err(NotSigned::NotPinned {
                repo: repo.name(),
                digest: digest.to_string(),
            }
            .into())
        }
    }
}

#[async_trait]
impl Verifier for Pinned {
    fn name(&self) -> &'static str {
        "digests"
    }

    fn server(&self) -> String {
        "the rule's pinned digests".into()
    }

    /// A pin names content, never a tag: a tag is allowed while the registry
    /// serves a pinned digest for it.
    fn binds_tags(&self) -> bool {
        false
    }

    fn judges_served_digest(&self) -> bool {
        true
    }

    fn unsigned_hint(&self, image: &str) -> String {
        format!(
            "add the image's digest to the rule's digests (or digests_file) after reviewing it; \
             `img-authz check {image}` prints the digest the registry serves now"
        )
    }

    fn unavailable_hint(&self) -> String {
        "make the image's registry reachable by the plugin and retry, or pull by a pinned digest"
            .into()
    }

    async fn signed_digest(&self, repo: &Reference, tag: &str) -> Result<Signed, TrustError> {
        let what = RegistryLookup::ServedDigest {
            image: format!("{}:{tag}", repo.name()),
        };
        let digest = super::registry_digest(&self.registry, repo, tag, what).await?;
        self.pinned(repo, &digest)
    }

    async fn digest_signed(&self, repo: &Reference, digest: &str) -> Result<Signed, TrustError> {
        self.pinned(repo, digest)
    }
}

/// A pinnable digest: `sha256:` and 64 lower-case hex digits (what
/// registries and dockerd print).
pub fn check_digest(d: &str) -> Result<(), NotADigest> {
    match d.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(())
        }
        _ => Err(NotADigest(d.to_string())),
    }
}

/// A pin that is not a `sha256:` digest; carries the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a digest (sha256: and 64 lower-case hex digits)")]
pub struct NotADigest(pub String);

/// The digests of a pin file: one a line; `#` starts a comment; blank lines
/// are skipped. Errors carry the file's line number.
pub fn parse_digest_file(text: &str) -> Result<Vec<String>, Vec<(usize, NotADigest)>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let d = line.split('#').next().unwrap_or_default().trim();
        if d.is_empty() {
            continue;
        }
        match check_digest(d) {
            Ok(()) => out.push(d.to_string()),
            Err(e) => errors.push((i + 1, e)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Credentials;
    use crate::http::HttpClient;
    use crate::metrics::Upstream;
    use std::sync::Arc;
    use std::time::Duration;

    fn pinned(ds: &[&str]) -> Pinned {
        let http = HttpClient::new(
            Upstream::Registry,
            None,
            Arc::new(Credentials::default()),
            Duration::from_secs(1),
        )
        .unwrap();
        Pinned::new(
            ds.iter().map(|s| s.to_string()),
            RegistryClient::new(Arc::new(http), Vec::new()),
        )
    }

    #[tokio::test]
    async fn only_pinned_digests_are_vouched_for() {
        let (a, b) = (
            format!("sha256:{}", "a".repeat(64)),
            format!("sha256:{}", "b".repeat(64)),
        );
        let v = pinned(&[&a]);
        let repo = Reference::parse_normalized("busybox").unwrap();
        let s = v.digest_signed(&repo, &a).await.unwrap();
        assert_eq!(
            (s.digest.as_str(), s.signer.as_str()),
            (a.as_str(), "pinned digest")
        );
        match v.digest_signed(&repo, &b).await {
            Err(TrustError::NotSigned(m @ NotSigned::NotPinned { .. })) => {
                assert!(
                    m.to_string()
                        .contains("docker.io/library/busybox@sha256:bbbb"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(!v.binds_tags());
        assert!(v
            .unsigned_hint("docker.io/library/busybox:latest")
            .contains("img-authz check docker.io/library/busybox:latest"));
    }

    #[test]
    fn digest_files_have_comments_and_line_numbers() {
        let a = format!("sha256:{}", "a".repeat(64));
        let text =
            format!("# busybox 1.37\n\n{a}  # amd64+arm64 index\n   \nsha256:ABC\nbusybox@{a}\n");
        assert_eq!(
            parse_digest_file(&format!("{a}\n# x\n")),
            Ok(vec![a.clone()])
        );
        let errs = parse_digest_file(&text).unwrap_err();
        assert_eq!(errs.iter().map(|e| e.0).collect::<Vec<_>>(), vec![5, 6]);
        assert!(check_digest(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(check_digest(&format!("sha512:{}", "a".repeat(64))).is_err());
        assert!(check_digest(&format!("sha256:{}", "a".repeat(63))).is_err());
    }
}
