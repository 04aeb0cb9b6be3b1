//! Signatures bound to content: what the registry serves for a pull, and
//! what the daemon will run for a container, must be a signed digest.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Decision, ImageRef, Rule};
use crate::config::{Config, ConfigError};
use crate::credentials::Credentials;
use crate::daemon::{DaemonClient, ImageInfo};
use crate::http::HttpClient;
use crate::metrics::Upstream;
use crate::registry::RegistryClient;
use crate::request::action::Pull;
use crate::request::reference::{Reference, DEFAULT_TAG};
use crate::trust::cache::TtlCache;
use crate::trust::notary::client::HttpFetch;
use crate::trust::notary::root::RootPolicy;
use crate::trust::notary::state::StateStore;
use crate::trust::notary_verifier::NotaryVerifier;
use crate::trust::{TrustError, Verifier};

/// Timeout of each call to a registry, notary server or the daemon; the
/// decision as a whole is bounded by the plugin's deadline.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

/// Verification and its clients.
pub struct Trust {
    verifier: Arc<dyn Verifier>,
    registry: RegistryClient,
    daemon: DaemonClient,
    /// Pull decisions by image reference.
    pulls: TtlCache<String, Decision, Decision>,
    /// How long a pull decision is reused; zero: never.
    pull_ttl: Duration,
    notary_url: String,
}

impl Trust {
    pub fn new(cfg: &Config) -> Result<Trust, ConfigError> {
        let t = &cfg.trust;
        let creds = match &t.docker_config {
            Some(p) => Credentials::load(p).map_err(|why| ConfigError::Invalid {
                name: "IMG_AUTHZ_DOCKER_CONFIG",
                why,
            })?,
            None => Credentials::default(),
        };
        let creds = Arc::new(creds);
        let tls_err = |why: String| ConfigError::RootCa(why);
        let notary_http = HttpClient::new(
            Upstream::Notary,
            cfg.notary.root_ca_pem.as_deref(),
            creds.clone(),
            UPSTREAM_TIMEOUT,
        )
        .map_err(|e| tls_err(e.to_string()))?;
        let registry_http = HttpClient::new(Upstream::Registry, None, creds, UPSTREAM_TIMEOUT)
            .map_err(|e| tls_err(e.to_string()))?;
        let store = StateStore::new(Some(&t.state_dir)).map_err(|e| ConfigError::Invalid {
            name: "IMG_AUTHZ_STATE_DIR",
            why: e.to_string(),
        })?;
        let verifier = NotaryVerifier::new(
            Arc::new(HttpFetch::new(&cfg.notary.url, Arc::new(notary_http))),
            RootPolicy {
                pins: t.root_pins.clone(),
                tofu: t.tofu,
            },
            Arc::new(store),
            t.signers.clone(),
            t.cache_ttl,
            4096,
        );
        let daemon = DaemonClient::new(&t.docker_host, UPSTREAM_TIMEOUT).map_err(|e| {
            ConfigError::Invalid {
                name: "DOCKER_HOST",
                why: e.to_string(),
            }
        })?;
        Ok(Trust::from_parts(
            Arc::new(verifier),
            RegistryClient::new(Arc::new(registry_http), t.insecure_registries.clone()),
            daemon,
            t.pull_cache_ttl,
            cfg.notary.url.clone(),
        ))
    }

    pub fn from_parts(
        verifier: Arc<dyn Verifier>,
        registry: RegistryClient,
        daemon: DaemonClient,
        pull_ttl: Duration,
        notary_url: String,
    ) -> Trust {
        Trust {
            verifier,
            registry,
            daemon,
            pulls: TtlCache::new(4096),
            pull_ttl,
            notary_url,
        }
    }

    /// Figures of the verifier's caches and of the pull-decision cache.
    pub fn cache_figures(&self) -> Vec<crate::metrics::CacheFigures> {
        use std::sync::atomic::Ordering;
        let mut v = self.verifier.cache_figures();
        v.push(crate::metrics::CacheFigures {
            name: "pull",
            entries: self.pulls.len(),
            hits: self.pulls.stats.hits.load(Ordering::Relaxed),
            misses: self.pulls.stats.misses.load(Ordering::Relaxed),
        });
        v
    }

    /// A deny for a verification failure.
    fn trust_deny(&self, e: &TrustError, image: &str) -> Decision {
        let (reason, hint) = match e {
            TrustError::NotSigned(m) => (
                m.clone(),
                format!(
                    "sign it (docker trust sign {image}) on the notary server {}",
                    self.notary_url
                ),
            ),
            TrustError::Invalid(m) => (
                m.clone(),
                "the trust data failed verification; the repository's publisher must re-sign it"
                    .to_string(),
            ),
            TrustError::Unavailable(m) => (
                format!("the signature could not be checked: {m}"),
                format!(
                    "make the notary server {} reachable (NOTARY, NOTARY_ROOT_CA) and retry",
                    self.notary_url
                ),
            ),
        };
        Decision::deny(Rule::Signature, reason, hint).with_image(image)
    }

    /// A pull from an authorized registry: by digest, the digest must be
    /// signed; by tag, the tag's signed digest must be what the registry
    /// serves for it now.
    pub async fn pull(&self, p: &Pull) -> Decision {
        let image = p.image.clone();
        if p.all_tags() {
            return Decision::deny(
                Rule::Signature,
                "pulling every tag of a repository cannot be verified tag by tag",
                "pull one tag or one digest",
            )
            .with_image(&image);
        }
        if self.pull_ttl.is_zero() {
            let registry_call = self.registry_digest_future(&image);
            return decide_pull(
                self.verifier.as_ref(),
                registry_call,
                &image,
                &self.notary_url,
            )
            .await;
        }
        let key = image.to_string();
        let run = {
            let verifier = self.verifier.clone();
            let registry_call = self.registry_digest_future(&image);
            let notary_url = self.notary_url.clone();
            let ttl = self.pull_ttl;
            async move {
                let d = decide_pull(verifier.as_ref(), registry_call, &image, &notary_url).await;
                // Denies are cached too, briefly, so a retry storm costs
                // nothing; errors reaching a server are not.
                if d.allow
                    || d.rule != Rule::Signature
                    || !d.reason.contains("could not be checked")
                {
                    Ok((d, Instant::now() + ttl))
                } else {
                    Err(d)
                }
            }
        };
        match self.pulls.get_or_fetch(key, move || run).await {
            Ok(d) | Err(d) => d,
        }
    }

    fn registry_digest_future(
        &self,
        image: &Reference,
    ) -> impl std::future::Future<Output = Result<String, String>> + Send + 'static {
        let registry = self.registry.clone();
        let (domain, path, tag) = (
            image.domain.clone(),
            image.path.clone(),
            image.tag.clone().unwrap_or_else(|| DEFAULT_TAG.to_string()),
        );
        async move {
            registry
                .manifest_digest(&domain, &path, &tag)
                .await
                .map_err(|e| e.to_string())
        }
    }

    /// Local images: the image dockerd resolves `image` to must carry a
    /// RepoDigest, in the repository it is referred to by (or, by ID, in an
    /// authorized one), whose digest is signed.
    pub async fn local_image(
        &self,
        cfg: &Config,
        image: &str,
        r: &ImageRef,
        what: &str,
    ) -> Decision {
        let info = match self.daemon.inspect_image(image).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                // dockerd answers 404; the client then pulls (which is
                // checked) and asks again.
                return Decision::allow(
                    Rule::ContentBinding,
                    format!("{what} {image} is not present locally"),
                );
            }
            Err(e) => {
                return Decision::deny(
                    Rule::ContentBinding,
                    format!("cannot ask dockerd which image {image} is: {e}"),
                    "make dockerd's API reachable by the plugin (DOCKER_HOST)",
                )
            }
        };
        let digests = repo_digests(&info);
        match r {
            ImageRef::Named(named) if resolved_by_id(image, named, &info) => {
                self.by_id(cfg, image, &info, &digests, what).await
            }
            ImageRef::Named(named) => {
                let repo = bare(named);
                let (want, signed) = match &named.digest {
                    Some(d) => match self.verifier.digest_signed(&repo, d).await {
                        Ok(s) => (d.clone(), s),
                        Err(e) => return self.trust_deny(&e, &named.to_string()),
                    },
                    None => {
                        let tag = named.tag.clone().unwrap_or_else(|| DEFAULT_TAG.to_string());
                        match self.verifier.signed_digest(&repo, &tag).await {
                            Ok(s) => (s.digest.clone(), s),
                            Err(e) => {
                                return self.trust_deny(&e, &format!("{}:{tag}", repo.name()))
                            }
                        }
                    }
                };
                if digests.iter().any(|(n, d)| *n == repo.name() && *d == want) {
                    Decision::allow(
                        Rule::ContentBinding,
                        format!("{} is the signed {want} ({})", named, signed.signer),
                    )
                    .with_image(named)
                    .with_digest(want)
                } else {
                    Decision::deny(
                        Rule::ContentBinding,
                        format!(
                            "the local image {image} ({}) is not the signed {}@{want}; its registry digests are [{}]",
                            short_id(&info.id),
                            repo.name(),
                            list(&digests)
                        ),
                        format!("pull {named} from the registry so that the signed content is what runs"),
                    )
                    .with_image(named)
                }
            }
            ImageRef::Id(_) => self.by_id(cfg, image, &info, &digests, what).await,
        }
    }

    /// By image ID: any RepoDigest in an authorized registry whose digest is
    /// signed for its repository.
    async fn by_id(
        &self,
        cfg: &Config,
        image: &str,
        info: &ImageInfo,
        digests: &[(String, String)],
        what: &str,
    ) -> Decision {
        let mut last = None;
        for (name, d) in digests {
            let Ok(repo) = Reference::parse_normalized(name) else {
                continue;
            };
            if !cfg.registry_allowed(&repo.domain) {
                continue;
            }
            match self.verifier.digest_signed(&repo, d).await {
                Ok(s) => {
                    return Decision::allow(
                        Rule::ContentBinding,
                        format!(
                            "{what} {} was pulled as {name}@{d}, signed ({})",
                            short_id(&info.id),
                            s.signer
                        ),
                    )
                    .with_image(format!("{name}@{d}"))
                    .with_digest(d.clone())
                }
                Err(e) => last = Some((e, format!("{name}@{d}"))),
            }
        }
        if let Some((TrustError::Unavailable(_), img)) = &last {
            if let Some((e, _)) = &last {
                return self.trust_deny(e, img);
            }
        }
        Decision::deny(
            Rule::ContentBinding,
            format!(
                "{what} {image} ({}) has no registry digest from an authorized registry whose signature verifies \
                 (loaded, imported, built, committed or retagged images have none); its registry digests are [{}]",
                short_id(&info.id),
                list(digests)
            ),
            "pull a signed image from an authorized registry and run it by that name",
        )
    }

    /// A service image: pinned by digest (the swarm agent pulls it later,
    /// where no authorization call sees it), and that digest signed.
    pub async fn service_image(&self, image: &str) -> Decision {
        let Ok(named) = Reference::parse_normalized(image) else {
            return Decision::deny(
                Rule::RequestDecoding,
                format!("{image:?} is not a valid image reference"),
                "",
            );
        };
        let Some(d) = &named.digest else {
            return Decision::deny(
                Rule::ContentBinding,
                format!("the service image {named} is not pinned by digest; the swarm would resolve the tag later, unchecked"),
                "let docker service create/update resolve the digest (the default), or give image@sha256:…",
            )
            .with_image(&named);
        };
        match self.verifier.digest_signed(&bare(&named), d).await {
            Ok(s) => Decision::allow(Rule::Signature, format!("{d} is signed ({})", s.signer))
                .with_image(&named)
                .with_digest(d.clone()),
            Err(e) => self.trust_deny(&e, &named.to_string()),
        }
    }

    /// Docker Content Trust's local tag `repo@D` → `repo:T`: allowed when D
    /// is the digest signed for T. `None` when the request is not of that shape.
    pub async fn signed_retag(&self, source: &str, target: &Reference) -> Option<Decision> {
        let src = Reference::parse_normalized(source).ok()?;
        let d = src.digest.as_deref()?;
        if src.name() != target.name() {
            return None;
        }
        let tag = target.tag.as_deref().unwrap_or(DEFAULT_TAG);
        match self.verifier.signed_digest(&bare(target), tag).await {
            Ok(s) if s.digest == d => Some(
                Decision::allow(
                    Rule::Tag,
                    format!("{d} is the signed digest of {target} ({})", s.signer),
                )
                .with_image(target)
                .with_digest(d),
            ),
            _ => None,
        }
    }
}

async fn decide_pull(
    verifier: &dyn Verifier,
    registry: impl std::future::Future<Output = Result<String, String>>,
    image: &Reference,
    notary_url: &str,
) -> Decision {
    let repo = bare(image);
    let unavailable = |m: String| {
        Decision::deny(
            Rule::Signature,
            format!("the signature could not be checked: {m}"),
            format!(
                "make the notary server {notary_url} reachable (NOTARY, NOTARY_ROOT_CA) and retry"
            ),
        )
        .with_image(image)
    };
    let not_trusted = |e: TrustError| match e {
        TrustError::Unavailable(m) => unavailable(m),
        TrustError::NotSigned(m) => Decision::deny(
            Rule::Signature,
            m,
            format!("sign it (docker trust sign {image}) on the notary server {notary_url}"),
        )
        .with_image(image),
        TrustError::Invalid(m) => Decision::deny(
            Rule::Signature,
            m,
            "the trust data failed verification; the repository's publisher must re-sign it",
        )
        .with_image(image),
    };
    // `name:tag@digest` pulls by digest: the digest decides.
    if let Some(d) = &image.digest {
        return match verifier.digest_signed(&repo, d).await {
            Ok(s) => Decision::allow(Rule::Signature, format!("{d} is signed ({})", s.signer))
                .with_image(image)
                .with_digest(d.clone()),
            Err(e) => not_trusted(e),
        };
    }
    let tag = image.tag.clone().unwrap_or_else(|| DEFAULT_TAG.to_string());
    let (signed, served) = tokio::join!(verifier.signed_digest(&repo, &tag), registry);
    let signed = match signed {
        Ok(s) => s,
        Err(e) => return not_trusted(e),
    };
    let served = match served {
        Ok(d) => d,
        Err(m) => {
            return Decision::deny(
                Rule::ContentBinding,
                format!("cannot learn which manifest the registry serves for {image}: {m}"),
                "make the registry reachable by the plugin",
            )
            .with_image(image)
        }
    };
    if served == signed.digest {
        Decision::allow(
            Rule::ContentBinding,
            format!(
                "the registry serves the signed {served} ({})",
                signed.signer
            ),
        )
        .with_image(image)
        .with_digest(served)
    } else {
        Decision::deny(
            Rule::ContentBinding,
            format!(
                "the registry serves {served} for {image}, but the signed digest is {} ({}): the tag moved",
                signed.digest, signed.signer
            ),
            format!("pull the signed digest ({}@{}) or have the publisher sign the new content", repo.name(), signed.digest),
        )
        .with_image(image)
    }
}

/// The repository alone.
fn bare(r: &Reference) -> Reference {
    Reference {
        domain: r.domain.clone(),
        path: r.path.clone(),
        tag: None,
        digest: None,
    }
}

/// `(repository, digest)` of every RepoDigest, normalised.
fn repo_digests(info: &ImageInfo) -> Vec<(String, String)> {
    info.repo_digests
        .iter()
        .flatten()
        .filter_map(|rd| {
            let r = Reference::parse_normalized(rd).ok()?;
            let d = r.digest.clone()?;
            Some((r.name(), d))
        })
        .collect()
}

/// dockerd resolved a name-looking reference by image-ID prefix (`abc123`
/// or `sha256:abc123`) rather than by a tag of that name.
fn resolved_by_id(image: &str, named: &Reference, info: &ImageInfo) -> bool {
    let hex = image.strip_prefix("sha256:").unwrap_or(image);
    let is_hex = hex.len() >= 4 && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if !is_hex || named.digest.is_some() {
        return false;
    }
    let id_hex = info.id.strip_prefix("sha256:").unwrap_or(&info.id);
    let tagged = named.clone().tag_name_only();
    let has_tag = info
        .repo_tags
        .iter()
        .flatten()
        .filter_map(|t| Reference::parse_normalized(t).ok())
        .any(|t| t == tagged);
    id_hex.starts_with(hex) && !has_tag
}

fn short_id(id: &str) -> &str {
    let h = id.strip_prefix("sha256:").unwrap_or(id);
    h.get(..12).unwrap_or(h)
}

fn list(digests: &[(String, String)]) -> String {
    digests
        .iter()
        .map(|(n, d)| format!("{n}@{d}"))
        .collect::<Vec<_>>()
        .join(", ")
}
