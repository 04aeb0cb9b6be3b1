//! The Notary v1 [`Verifier`]: cached, verified repository metadata.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::client::Fetch;
use super::root::RootPolicy;
use super::state::StateStore;
use super::update::{update, RepoTrust, RELEASES};
use super::TufError;
use crate::request::reference::Reference;
use crate::trust::cache::TtlCache;
use crate::trust::pattern::{most_specific, PrefixPattern};
use crate::trust::{Invalid, NotSigned, ShutdownNote, Signed, TrustError, Unavailable, Verifier};

/// Signer roles required for repositories matching a pattern (raw-prefix
/// grammar, [`PrefixPattern`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerRule {
    pub pattern: PrefixPattern,
    /// Delegation roles, e.g. `targets/alice`, that must all sign the digest.
    pub roles: Vec<String>,
}

/// Docker's own Notary v1 server: Docker ended Docker Content Trust and shuts
/// it down on 2026-12-08 (Docker's "Docker Content Trust Retirement" notice).
pub const DOCKER_HUB_NOTARY: &str = "notary.docker.io";

/// Said in every deny that names notary.docker.io; right before and after
/// the date.
pub const DOCKER_HUB_SHUTDOWN: &str =
    "notary.docker.io is shut down on 2026-12-08 (Docker ended Docker Content Trust; \
     Docker Official Images carry no signature any more)";

/// What to do instead of Docker Content Trust on notary.docker.io.
pub const DOCKER_HUB_INSTEAD: &str = "do not rely on notary.docker.io: give these repositories a \
     policy-file rule instead (IMG_AUTHZ_POLICY): verifier = \"cosign\" with the publisher's keys \
     (Docker Hardened Images on dhi.io: examples/docker-hub.toml), digests = [\"sha256:…\"] pins \
     for unsigned images such as Docker Official Images, or a self-hosted Notary server \
     (NOTARY, or server in [rules.notary]); see docs/trust.md \"After Docker Content Trust\"";

/// Whether a Notary URL (`https://host[:port][/path]`) is notary.docker.io.
pub fn is_docker_hub_notary(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|c| c.is_ascii_digit()))
        .map_or(authority, |(h, _)| h);
    host.trim_end_matches('.')
        .eq_ignore_ascii_case(DOCKER_HUB_NOTARY)
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
    /// The server is notary.docker.io: messages say it is shut down.
    docker_hub: bool,
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
            docker_hub: is_docker_hub_notary(&fetch.server()),
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

    #[cfg(test)]
    pub fn cache(&self) -> &TtlCache<String, Arc<RepoTrust>, TufError> {
        &self.cache
    }

    fn required_roles(&self, gun: &str) -> Vec<String> {
        // The most specific rule, then the first: the rules' precedence.
        most_specific(
            self.signers
                .iter()
                .filter(|r| r.pattern.matches(gun))
                .map(|r| (r.pattern.specificity(), r)),
        )
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
            .map_err(|e| to_trust_error(gun, e, ShutdownNote(self.docker_hub)))
    }
}

fn to_trust_error(gun: &str, e: TufError, note: ShutdownNote) -> TrustError {
    let gun = gun.to_string();
    match e {
        TufError::Missing(_) => NotSigned::NoTrustData { gun, note }.into(),
        TufError::Unavailable(source) => Unavailable::Notary { source, note }.into(),
        source => Invalid::Notary { gun, source, note }.into(),
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

    fn unsigned_hint(&self, image: &str) -> String {
        if self.docker_hub {
            return DOCKER_HUB_INSTEAD.to_string();
        }
        format!("sign it (docker trust sign {image}) on {}", self.server())
    }

    fn unavailable_hint(&self) -> String {
        if self.docker_hub {
            return DOCKER_HUB_INSTEAD.to_string();
        }
        format!(
            "make {} reachable (NOTARY, NOTARY_ROOT_CA) and retry",
            self.server()
        )
    }

    fn invalid_hint(&self) -> String {
        if self.docker_hub {
            return DOCKER_HUB_INSTEAD.to_string();
        }
        "the trust data failed verification; the repository's publisher must re-sign it".into()
    }

    fn cache_figures(&self) -> Vec<crate::trust::cache::CacheStats> {
        vec![self.cache.figures("notary")]
    }

    async fn signed_digest(&self, repo: &Reference, tag: &str) -> Result<Signed, TrustError> {
        let gun = repo.name();
        let trust = self.repo(&gun).await?;
        let Some((role, target)) = trust.resolve(tag) else {
            return Err(NotSigned::UnsignedTag {
                gun,
                tag: tag.to_string(),
            }
            .into());
        };
        let digest = target.digest.clone().ok_or_else(|| NotSigned::NoSha256 {
            gun: gun.clone(),
            tag: tag.to_string(),
        })?;
        for r in self.required_roles(&gun) {
            let ok = trust
                .roles
                .get(&r)
                .and_then(|m| m.get(tag))
                .is_some_and(|t| t.digest.as_deref() == Some(digest.as_str()));
            if !ok {
                return Err(NotSigned::MissingSigner {
                    image: format!("{gun}:{tag}"),
                    role: r,
                }
                .into());
            }
        }
        Ok(Signed::new(digest, format!("notary {role}")))
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
            return Err(NotSigned::DigestNotTarget {
                gun,
                digest: digest.to_string(),
            }
            .into());
        };
        for r in self.required_roles(&gun) {
            if trust.signs_digest(&r, digest).is_none() {
                return Err(NotSigned::MissingSigner {
                    image: format!("{gun}@{digest}"),
                    role: r,
                }
                .into());
            }
        }
        Ok(Signed::new(
            digest.to_string(),
            format!("notary {role} (tag {tag})"),
        ))
    }
}

#[cfg(test)]
mod docker_hub_tests {
    use super::*;
    use crate::trust::notary::client::Fetch;
    use crate::trust::notary::root::RootPolicy;
    use bytes::Bytes;

    /// A server that cannot be reached, as notary.docker.io after its shutdown.
    struct Down(&'static str);

    #[async_trait]
    impl Fetch for Down {
        async fn fetch(&self, _: &str, _: &str, _: usize) -> Result<Option<Bytes>, TufError> {
            Err(TufError::Unavailable(
                crate::http::HttpError::Unreachable {
                    url: self.0.to_string(),
                    why: "connection refused".into(),
                }
                .into(),
            ))
        }
        fn server(&self) -> String {
            self.0.to_string()
        }
    }

    fn verifier(url: &'static str) -> NotaryVerifier {
        NotaryVerifier::new(
            Arc::new(Down(url)),
            RootPolicy {
                pins: Vec::new(),
                tofu: true,
            },
            Arc::new(StateStore::new(None).unwrap()),
            Vec::new(),
            Duration::from_secs(60),
            16,
        )
    }

    #[test]
    fn recognises_docker_hub_notary_urls() {
        for u in [
            "https://notary.docker.io",
            "https://Notary.Docker.IO:443/",
            "notary.docker.io",
            "https://notary.docker.io./",
        ] {
            assert!(is_docker_hub_notary(u), "{u}");
        }
        for u in [
            "https://notary.example.com",
            "https://notary.docker.io.example.com",
            "https://mynotary.docker.io",
        ] {
            assert!(!is_docker_hub_notary(u), "{u}");
        }
    }

    #[tokio::test]
    async fn denies_naming_notary_docker_io_explain_its_shutdown() {
        let v = verifier("https://notary.docker.io");
        let repo = Reference::parse_normalized("busybox").unwrap();
        let e = v.signed_digest(&repo, "latest").await.unwrap_err();
        let TrustError::Unavailable(Unavailable::Notary { .. }) = &e else {
            panic!("{e:?}")
        };
        let m = e.to_string();
        assert!(
            m.contains("notary.docker.io is shut down on 2026-12-08"),
            "{m}"
        );
        for hint in [
            v.unavailable_hint(),
            v.unsigned_hint("docker.io/library/busybox:latest"),
            v.invalid_hint(),
        ] {
            assert!(!hint.contains("reachable"), "{hint}");
            assert!(!hint.contains("docker trust sign"), "{hint}");
            for option in ["cosign", "digests = [", "self-hosted Notary"] {
                assert!(hint.contains(option), "{option}: {hint}");
            }
        }
        // Another server keeps its own advice.
        let other = verifier("https://notary.example.com");
        let e = other.signed_digest(&repo, "latest").await.unwrap_err();
        assert!(!e.to_string().contains("shut down"), "{e}");
        assert!(other
            .unavailable_hint()
            .contains("make the notary server https://notary.example.com reachable"));
    }
}
