//! The Notary v1 [`Verifier`]: cached, verified repository metadata.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::cache::TtlCache;
use super::notary::client::Fetch;
use super::notary::root::RootPolicy;
use super::notary::state::StateStore;
use super::notary::update::{update, RepoTrust, RELEASES};
use super::notary::TufError;
use super::{Signed, TrustError, Verifier};
use crate::request::reference::Reference;

/// Signer roles required for repositories matching a pattern (an exact
/// repository, or a prefix ending in `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerRule {
    pub pattern: String,
    /// Delegation roles, e.g. `targets/alice`, that must all sign the digest.
    pub roles: Vec<String>,
}

/// How long a failed update is returned again without asking the server
/// (never longer than verified metadata is reused).
pub const NEGATIVE_TTL: Duration = Duration::from_secs(5);

pub struct NotaryVerifier {
    fetch: Arc<dyn Fetch>,
    roots: Arc<RootPolicy>,
    store: Arc<StateStore>,
    signers: Vec<SignerRule>,
    cache: TtlCache<String, Arc<RepoTrust>, TufError>,
    /// Upper bound on how long verified metadata is reused.
    ttl: Duration,
}

impl NotaryVerifier {
    pub fn new(
        fetch: Arc<dyn Fetch>,
        roots: RootPolicy,
        store: Arc<StateStore>,
        signers: Vec<SignerRule>,
        ttl: Duration,
        capacity: usize,
    ) -> NotaryVerifier {
        NotaryVerifier {
            fetch,
            roots: Arc::new(roots),
            store,
            signers,
            // A repository whose update failed is not updated again (its
            // server asked, its files parsed) by every request.
            cache: TtlCache::new(capacity).with_negative_ttl(NEGATIVE_TTL.min(ttl)),
            ttl,
        }
    }

    pub fn cache(&self) -> &TtlCache<String, Arc<RepoTrust>, TufError> {
        &self.cache
    }

    fn required_roles(&self, gun: &str) -> Vec<String> {
        self.signers
            .iter()
            .filter(|r| super::notary::root::gun_matches(&r.pattern, gun))
            .max_by_key(|r| (!r.pattern.ends_with('*'), r.pattern.len()))
            .map(|r| r.roles.clone())
            .unwrap_or_default()
    }

    /// Verified metadata of `gun`, from the cache or the server.
    pub async fn repo(&self, gun: &str) -> Result<Arc<RepoTrust>, TrustError> {
        let (fetch, roots, store, ttl) = (
            self.fetch.clone(),
            self.roots.clone(),
            self.store.clone(),
            self.ttl,
        );
        let extra = self.required_roles(gun);
        let key = gun.to_string();
        let g = gun.to_string();
        self.cache
            .get_or_fetch(key, move || async move {
                let now = OffsetDateTime::now_utc();
                let t = update(fetch.as_ref(), &g, &roots, &store, &extra, now).await?;
                // Never past the earliest metadata expiry.
                let left = (t.expires - now).try_into().unwrap_or(Duration::ZERO);
                Ok((Arc::new(t), Instant::now() + ttl.min(left)))
            })
            .await
            .map_err(|e| to_trust_error(gun, e))
    }
}

fn to_trust_error(gun: &str, e: TufError) -> TrustError {
    match e {
        TufError::Missing(_) => {
            TrustError::NotSigned(format!("the notary server has no trust data for {gun}"))
        }
        TufError::Unavailable(m) => TrustError::Unavailable(m),
        e => TrustError::Invalid(format!("trust data for {gun} rejected: {e}")),
    }
}

#[async_trait]
impl Verifier for NotaryVerifier {
    fn name(&self) -> &'static str {
        "notary"
    }

    fn server(&self) -> String {
        format!("the notary server {}", self.fetch.server())
    }

    fn cache_figures(&self) -> Vec<crate::metrics::CacheFigures> {
        use std::sync::atomic::Ordering;
        vec![crate::metrics::CacheFigures {
            name: "notary",
            entries: self.cache.len(),
            hits: self.cache.stats.hits.load(Ordering::Relaxed),
            misses: self.cache.stats.misses.load(Ordering::Relaxed),
        }]
    }

    async fn signed_digest(&self, repo: &Reference, tag: &str) -> Result<Signed, TrustError> {
        let gun = repo.name();
        let trust = self.repo(&gun).await?;
        let Some((role, target)) = trust.resolve(tag) else {
            return Err(TrustError::NotSigned(format!(
                "tag {tag:?} of {gun} is not signed (it is in neither {RELEASES} nor targets)"
            )));
        };
        let digest = target.digest.clone().ok_or_else(|| {
            TrustError::NotSigned(format!("the signed target {gun}:{tag} carries no sha256"))
        })?;
        for r in self.required_roles(&gun) {
            let ok = trust
                .roles
                .get(&r)
                .and_then(|m| m.get(tag))
                .is_some_and(|t| t.digest.as_deref() == Some(digest.as_str()));
            if !ok {
                return Err(TrustError::NotSigned(format!(
                    "{gun}:{tag} is not signed by the required signer {r}"
                )));
            }
        }
        Ok(Signed {
            digest,
            signer: format!("notary {role}"),
        })
    }

    async fn digest_signed(&self, repo: &Reference, digest: &str) -> Result<Signed, TrustError> {
        let gun = repo.name();
        let trust = self.repo(&gun).await?;
        let found = [RELEASES, "targets"].iter().find_map(|role| {
            trust
                .signs_digest(role, digest)
                .map(|tag| (*role, tag.to_string()))
        });
        let Some((role, tag)) = found else {
            return Err(TrustError::NotSigned(format!(
                "{digest} is not a signed target of {gun}"
            )));
        };
        for r in self.required_roles(&gun) {
            if trust.signs_digest(&r, digest).is_none() {
                return Err(TrustError::NotSigned(format!(
                    "{gun}@{digest} is not signed by the required signer {r}"
                )));
            }
        }
        Ok(Signed {
            digest: digest.to_string(),
            signer: format!("notary {role} (tag {tag})"),
        })
    }
}
