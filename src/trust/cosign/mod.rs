//! The Sigstore cosign [`Verifier`]: signatures stored next to the image in
//! its registry (classic `.sig` tag or Sigstore bundles), verified offline
//! against configured keys, or keyless against a local trusted root.
//!
//! Cosign signs digests, never tags; a tag is trusted when the digest the
//! registry serves for it now is signed, and a local image when the
//! RepoDigest it was pulled by is signed.

pub mod cert;
pub mod discover;
pub mod keys;
mod payload;
mod rejection;
pub mod rekor;
pub mod root;
pub mod signature;
pub mod verify;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::cache::TtlCache;
use super::{Invalid, NotSigned, RegistryLookup, Signed, TrustError, Unavailable, Verifier};
use crate::registry::{RegistryClient, RegistryError};
use crate::request::reference::Reference;
pub use cert::GithubClaims;
pub use rejection::{CosignFailure, Why};
pub use verify::{CosignPolicy, Identity, Pattern, Tlog};

pub struct CosignVerifier {
    policy: Arc<CosignPolicy>,
    registry: RegistryClient,
    /// Verified results by `repository@digest`.
    cache: TtlCache<String, Signed, TrustError>,
    ttl: Duration,
}

impl CosignVerifier {
    pub fn new(
        policy: CosignPolicy,
        registry: RegistryClient,
        ttl: Duration,
        capacity: usize,
    ) -> CosignVerifier {
        CosignVerifier {
            policy: Arc::new(policy),
            registry,
            cache: TtlCache::new(capacity),
            ttl,
        }
    }

    fn who(&self) -> String {
        let mut w: Vec<String> = self
            .policy
            .keys
            .iter()
            .map(|(n, _)| format!("key {n}"))
            .collect();
        w.extend(self.policy.identities.iter().map(|i| i.describe()));
        w.join(", ")
    }
}

fn unavailable(source: RegistryError) -> TrustError {
    Unavailable::Registry {
        what: RegistryLookup::CosignSignatures,
        source,
    }
    .into()
}

/// Verify `repo@digest` against `policy`.
pub async fn verify_digest(
    policy: &CosignPolicy,
    registry: &RegistryClient,
    repo: &Reference,
    digest: &str,
) -> Result<Signed, TrustError> {
    let name = repo.name();
    let found = discover::find(registry, &repo.domain, &repo.path, digest)
        .await
        .map_err(unavailable)?;
    let mut verified = Vec::new();
    let mut why: Vec<Why> = found
        .unreadable
        .iter()
        .cloned()
        .map(Why::Unreadable)
        .collect();
    for c in &found.candidates {
        match policy.verify_candidate(c, Some(repo), digest) {
            Ok(v) => verified.push(v),
            Err(rejection) => why.push(Why::Rejected {
                origin: c.origin.clone(),
                rejection,
            }),
        }
    }
    let authorities = verify::distinct_authorities(&verified);
    if authorities.len() >= policy.threshold.max(1) {
        let by: Vec<String> = authorities.iter().map(|a| policy.describe(*a)).collect();
        return Ok(Signed::new(
            digest.to_string(),
            format!("cosign, signed by {}", by.join(" and ")),
        ));
    }
    if found.candidates.is_empty() && found.unreadable.is_empty() {
        return Err(NotSigned::NoCosignSignature {
            repo: name,
            digest: digest.to_string(),
        }
        .into());
    }
    let mut failure = CosignFailure {
        repo: name,
        digest: digest.to_string(),
        signers: authorities.len(),
        need: policy.threshold.max(1),
        why,
    };
    // A bad signature is not an absent one: the hint differs. Decided over
    // every candidate, before the message keeps the first few.
    let invalid = failure.any_invalid();
    failure.why.truncate(CosignFailure::MAX_REASONS);
    Err(if invalid {
        Invalid::Cosign(failure).into()
    } else {
        NotSigned::Cosign(failure).into()
    })
}

#[async_trait]
impl Verifier for CosignVerifier {
    fn name(&self) -> &'static str {
        "cosign"
    }

    fn server(&self) -> String {
        "the registry holding the image's cosign signatures".into()
    }

    fn binds_tags(&self) -> bool {
        false
    }

    fn judges_served_digest(&self) -> bool {
        true
    }

    fn unsigned_hint(&self, image: &str) -> String {
        let how = match (
            self.policy.keys.is_empty(),
            self.policy.identities.is_empty(),
        ) {
            (false, true) => "cosign sign --key KEY IMAGE@DIGEST",
            (true, false) => "keyless: cosign sign IMAGE@DIGEST, as the identity",
            _ => "cosign sign --key KEY IMAGE@DIGEST, or keyless as the identity",
        };
        let need = match self.policy.threshold {
            0 | 1 => String::new(),
            n => format!(" ({n} distinct signers needed)"),
        };
        format!(
            "sign {image} with cosign ({how}) so that it verifies with {}{need}",
            self.who()
        )
    }

    fn unavailable_hint(&self) -> String {
        "make the image's registry reachable by the plugin and retry".into()
    }

    fn cache_figures(&self) -> Vec<crate::trust::cache::CacheStats> {
        vec![self.cache.figures("cosign")]
    }

    async fn signed_digest(&self, repo: &Reference, tag: &str) -> Result<Signed, TrustError> {
        let digest =
            super::registry_digest(&self.registry, repo, tag, RegistryLookup::CosignSignatures)
                .await?;
        self.digest_signed(repo, &digest).await
    }

    async fn digest_signed(&self, repo: &Reference, digest: &str) -> Result<Signed, TrustError> {
        let key = format!("{}@{digest}", repo.name());
        let (policy, registry, repo, digest, ttl) = (
            self.policy.clone(),
            self.registry.clone(),
            repo.clone(),
            digest.to_string(),
            self.ttl,
        );
        self.cache
            .get_or_fetch(key, move || async move {
                let s = verify_digest(&policy, &registry, &repo, &digest).await?;
                Ok((s, Instant::now() + ttl))
            })
            .await
    }
}
