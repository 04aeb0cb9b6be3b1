//! Signatures bound to content: what the registry serves for a pull, and
//! what the daemon will run for a container, must be a signed digest.
//!
//! The policy selects the rule and passes it down (`&CompiledRule`); this
//! layer never asks the policy anything back. Its clients are built once by
//! `super::build`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::image_ref::{id_hex, is_lower_hex, short_id};
use super::{Check, CompiledRule, Decision, DenyCause, ImageRef};
use crate::daemon::{DaemonClient, ImageInfo};
use crate::registry::{RegistryClient, RegistryError};
use crate::request::action::Pull;
use crate::request::reference::{Reference, DEFAULT_TAG};
use crate::trust::cache::TtlCache;
use crate::trust::{TrustError, Verifier};

/// Timeout of each call to a registry, notary server or the daemon; the
/// decision as a whole is bounded by the plugin's deadline.
pub(super) const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

/// A local image as dockerd resolved a reference: its record, and the
/// `(repository, digest)` RepoDigests that show where it came from.
pub struct LocalImage {
    info: ImageInfo,
    digests: Vec<(String, String)>,
}

impl LocalImage {
    /// The RepoDigests, `(repository, digest)`.
    pub fn digests(&self) -> &[(String, String)] {
        &self.digests
    }

    /// dockerd resolved `named` (spelled `image`) by image-ID prefix rather
    /// than by a tag of that name.
    pub fn resolved_by_id(&self, image: &str, named: &Reference) -> bool {
        resolved_by_id(image, named, &self.info)
    }
}

/// The clients and caches of content binding, shared by the rules; built
/// once by `super::build`.
pub struct Trust {
    pub(super) registry: RegistryClient,
    pub(super) daemon: DaemonClient,
    /// Pull decisions by rule and image reference.
    pub(super) pulls: TtlCache<String, Decision, Decision>,
    /// How long a pull decision is reused; zero: never.
    pub(super) pull_ttl: Duration,
    /// Every verifier the rules use, for their cache figures.
    pub(super) verifiers: Vec<Arc<dyn Verifier>>,
}

impl Trust {
    /// Figures of the verifiers' caches and of the pull-decision cache.
    pub fn cache_figures(&self) -> Vec<crate::metrics::CacheFigures> {
        // Totals per kind of verifier; notary is always listed.
        let mut kinds = vec![crate::metrics::CacheFigures {
            name: "notary",
            ..Default::default()
        }];
        for v in &self.verifiers {
            for f in v.cache_figures() {
                match kinds.iter_mut().find(|k| k.name == f.name) {
                    Some(k) => {
                        k.entries += f.entries;
                        k.hits += f.hits;
                        k.misses += f.misses;
                    }
                    None => kinds.push(f),
                }
            }
        }
        kinds.push(self.pulls.figures("pull"));
        kinds
    }

    /// A pull from a repository under a verifying rule: by digest, the
    /// digest must be signed; by tag, the tag's signed digest must be what
    /// the registry serves for it now.
    pub async fn pull(&self, p: &Pull, verifier: &Arc<dyn Verifier>, rule: &str) -> Decision {
        let image = &p.image;
        if p.all_tags() {
            return Decision::deny(
                Check::Signature,
                "pulling every tag of a repository cannot be verified tag by tag",
                "pull one tag or one digest",
            )
            .with_image(image);
        }
        if self.pull_ttl.is_zero() {
            // Boxed: its registry exchange would make every pull's future,
            // cached ones included, some 10 KiB to allocate and copy.
            return Box::pin(decide_pull(
                verifier.as_ref(),
                self.registry_digest(image),
                image,
            ))
            .await;
        }
        let key = format!("{rule}\u{0}{image}");
        // Built only on a miss: a hit (nearly every pull) clones nothing
        // but the cached decision.
        let run = || {
            let verifier = verifier.clone();
            let registry_call = self.registry_digest(image);
            let ttl = self.pull_ttl;
            let image = image.clone();
            async move {
                let d = decide_pull(verifier.as_ref(), registry_call, &image).await;
                if reusable(&d) {
                    Ok((d, Instant::now() + ttl))
                } else {
                    Err(d)
                }
            }
        };
        match self.pulls.get_or_fetch(key, run).await {
            Ok(d) | Err(d) => d,
        }
    }

    fn registry_digest(
        &self,
        image: &Reference,
    ) -> impl std::future::Future<Output = Result<String, RegistryError>> + Send + 'static {
        let registry = self.registry.clone();
        let (domain, path, tag) = (
            image.domain.clone(),
            image.path.clone(),
            image.tag.clone().unwrap_or_else(|| DEFAULT_TAG.to_string()),
        );
        async move { registry.manifest_digest(&domain, &path, &tag).await }
    }

    /// The image dockerd resolves `image` to and the registry digests that
    /// show where it came from; `Err` is the decision when there is none to
    /// bind (absent, or dockerd could not be asked). The policy then picks
    /// the rule ([`Trust::named_local`] or [`Trust::by_id`]).
    pub async fn local_image(
        &self,
        image: &str,
        parsed: &ImageRef,
        what: &str,
    ) -> Result<LocalImage, Decision> {
        let info = match self.daemon.inspect_image(image).await {
            Ok(Some(i)) => i,
            Ok(None) if matches!(parsed, ImageRef::Id(_)) => {
                // dockerd never pulls an ID: allowing would only leave a
                // window for an image of that ID to appear unchecked.
                return Err(Decision::deny(
                    Check::ContentBinding,
                    format!("{what} {image} is not present locally"),
                    "pull the image by its name first",
                ));
            }
            Ok(None) => {
                // dockerd answers 404; the client then pulls (which is
                // checked) and asks again.
                return Err(Decision::allow(
                    Check::ContentBinding,
                    format!("{what} {image} is not present locally"),
                ));
            }
            Err(e) => {
                return Err(Decision::deny(
                    Check::ContentBinding,
                    format!("cannot ask dockerd which image {image} is: {e}"),
                    "make dockerd's API reachable by the plugin (DOCKER_HOST)",
                ))
            }
        };
        // On the containerd image store a RepoDigest is a name record that
        // `docker load` can point at any content: only the one naming the
        // image's own target digest shows where it came from.
        let containerd = match &info.descriptor {
            Some(_) => Ok(true),
            None => self.daemon.containerd_store().await,
        };
        let digests = match containerd {
            Ok(c) => repo_digests(&info, c),
            Err(e) => {
                return Err(Decision::deny(
                    Check::ContentBinding,
                    format!("cannot ask dockerd which image store it uses: {e}"),
                    "make dockerd's API reachable by the plugin (DOCKER_HOST)",
                ))
            }
        };
        Ok(LocalImage { info, digests })
    }

    /// A local image referred to by name, under `rule` (its repository's):
    /// a RepoDigest in that repository must be signed.
    pub async fn named_local(
        &self,
        image: &str,
        local: &LocalImage,
        named: &Reference,
        rule: &CompiledRule,
    ) -> Decision {
        let LocalImage { info, digests } = local;
        let repo = named.repository();
        let Some(verifier) = &rule.verifier else {
            return Decision::allow(
                Check::RegistryAllowlist,
                format!("{} allows unsigned images", rule.name),
            )
            .with_image(named)
            .by_rule(rule);
        };
        if named.digest.is_none() && !verifier.binds_tags() {
            let d = self
                .pulled_as(image, info, digests, &repo, named, verifier.as_ref())
                .await;
            return d.by_rule(rule);
        }
        let (want, signed) = match &named.digest {
            Some(d) => match verifier.digest_signed(&repo, d).await {
                Ok(s) => (d.clone(), s),
                Err(e) => {
                    return trust_deny(verifier.as_ref(), &e, &named.to_string()).by_rule(rule)
                }
            },
            None => {
                let tag = named.tag.clone().unwrap_or_else(|| DEFAULT_TAG.to_string());
                match verifier.signed_digest(&repo, &tag).await {
                    Ok(s) => (s.digest().to_owned(), s),
                    Err(e) => {
                        return (trust_deny(
                            verifier.as_ref(),
                            &e,
                            &format!("{}:{tag}", repo.name()),
                        ))
                        .by_rule(rule)
                    }
                }
            }
        };
        let d = if digests.iter().any(|(n, d)| *n == repo.name() && *d == want) {
            Decision::allow(
                Check::ContentBinding,
                format!("{named} is the signed {want} ({})", signed.signer()),
            )
            .with_image(named)
            .with_digest(want)
        } else {
            Decision::deny(
                Check::ContentBinding,
                format!(
                    "the local image {image} ({}) is not the signed {}@{want}; its registry digests are [{}]",
                    short_id(&info.id),
                    repo.name(),
                    list(digests)
                ),
                format!("pull {named} from the registry so that the signed content is what runs"),
            )
            .with_image(named)
        };
        d.by_rule(rule)
    }

    /// A local image by tag, under a verifier that signs digests only
    /// (cosign): a digest it was pulled by from this repository must be
    /// signed. The tag itself is local and vouches for nothing.
    async fn pulled_as(
        &self,
        image: &str,
        info: &ImageInfo,
        digests: &[(String, String)],
        repo: &Reference,
        named: &Reference,
        verifier: &dyn Verifier,
    ) -> Decision {
        let name = repo.name();
        let mut failure = None;
        for (_, d) in digests.iter().filter(|(n, _)| *n == name) {
            match verifier.digest_signed(repo, d).await {
                Ok(s) => {
                    return Decision::allow(
                        Check::ContentBinding,
                        format!("{named} was pulled as {name}@{d}, signed ({})", s.signer()),
                    )
                    .with_image(named)
                    .with_digest(d.clone())
                }
                Err(e) => {
                    // An unreachable registry is worth reporting over "not signed".
                    if failure.is_none() || matches!(e, TrustError::Unavailable(_)) {
                        failure = Some(trust_deny(verifier, &e, &format!("{name}@{d}")));
                    }
                }
            }
        }
        failure.unwrap_or_else(|| {
            Decision::deny(
                Check::ContentBinding,
                format!(
                    "the local image {image} ({}) was not pulled from {name}, so no signature can vouch for it; its registry digests are [{}]",
                    short_id(&info.id),
                    list(digests)
                ),
                format!("pull {named} from the registry so that the signed content is what runs"),
            )
            .with_image(named)
        })
    }

    /// By image ID (or a name dockerd read as an ID prefix): any RepoDigest
    /// in a repository under a rule whose digest is signed for it (or whose
    /// rule needs no signature). `under_rules` are the RepoDigests the policy
    /// found a rule for, in the image's order.
    pub async fn by_id(
        &self,
        image: &str,
        local: &LocalImage,
        what: &str,
        under_rules: &[(Reference, &str, &str, &CompiledRule)],
    ) -> Decision {
        let LocalImage { info, digests } = local;
        let mut unavailable = None;
        for &(ref repo, name, d, rule) in under_rules {
            let Some(verifier) = &rule.verifier else {
                let d = Decision::allow(
                    Check::RegistryAllowlist,
                    format!(
                        "{what} {} was pulled as {name}@{d}; {} allows unsigned images",
                        short_id(&info.id),
                        rule.name
                    ),
                )
                .with_image(format!("{name}@{d}"));
                return d.by_rule(rule);
            };
            match verifier.digest_signed(repo, d).await {
                Ok(s) => {
                    let dec = Decision::allow(
                        Check::ContentBinding,
                        format!(
                            "{what} {} was pulled as {name}@{d}, signed ({})",
                            short_id(&info.id),
                            s.signer()
                        ),
                    )
                    .with_image(format!("{name}@{d}"))
                    .with_digest(d.to_string());
                    return dec.by_rule(rule);
                }
                Err(e @ TrustError::Unavailable(_)) => {
                    unavailable = Some(
                        trust_deny(verifier.as_ref(), &e, &format!("{name}@{d}")).by_rule(rule),
                    )
                }
                Err(_) => {}
            }
        }
        if let Some(d) = unavailable {
            return d;
        }
        Decision::deny(
            Check::ContentBinding,
            format!(
                "{what} {image} ({}) has no registry digest from an authorized repository whose signature verifies \
                 (loaded, imported, built, committed or retagged images have none); its registry digests are [{}]",
                short_id(&info.id),
                list(digests)
            ),
            "pull a signed image from an authorized registry and run it by that name",
        )
    }

    /// On the containerd image store a container's image ID is the digest
    /// of the content it was created from (manifest or index): whether
    /// that digest is signed for `named`'s repository. Keeps containers
    /// startable after a re-pull moved their tag (the old image then has
    /// no name, hence no RepoDigest). `None` on the classic store, or when
    /// it is not signed.
    pub async fn container_digest(
        &self,
        verifier: &dyn Verifier,
        named: &Reference,
        image_id: &str,
        what: &str,
    ) -> Option<Decision> {
        if !matches!(self.daemon.containerd_store().await, Ok(true)) {
            return None;
        }
        let repo = named.repository();
        let s = verifier.digest_signed(&repo, image_id).await.ok()?;
        Some(
            Decision::allow(
                Check::ContentBinding,
                format!(
                    "{what} is {}@{image_id}, signed ({})",
                    repo.name(),
                    s.signer()
                ),
            )
            .with_image(format!("{}@{image_id}", repo.name()))
            .with_digest(image_id.to_string()),
        )
    }

    /// A service image: pinned by digest (the swarm agent pulls it later,
    /// where no authorization call sees it), and that digest signed.
    pub async fn service_image(&self, verifier: &dyn Verifier, named: &Reference) -> Decision {
        let Some(d) = &named.digest else {
            return Decision::deny(
                Check::ContentBinding,
                format!("the service image {named} is not pinned by digest; the swarm would resolve the tag later, unchecked"),
                "let docker service create/update resolve the digest (the default), or give image@sha256:…",
            )
            .with_image(named);
        };
        match verifier.digest_signed(&named.repository(), d).await {
            Ok(s) => Decision::allow(Check::Signature, format!("{d} is signed ({})", s.signer()))
                .with_image(named)
                .with_digest(d.clone()),
            Err(e) => trust_deny(verifier, &e, &named.to_string()),
        }
    }

    /// Docker Content Trust's local tag `repo@D` → `repo:T`: allowed when D
    /// is the digest signed for T. `None` when the request is not of that shape.
    pub async fn signed_retag(
        &self,
        verifier: &dyn Verifier,
        source: &str,
        target: &Reference,
    ) -> Option<Decision> {
        let src = Reference::parse_normalized(source).ok()?;
        let d = src.digest.as_deref()?;
        if src.name() != target.name() {
            return None;
        }
        let tag = target.tag.as_deref().unwrap_or(DEFAULT_TAG);
        match verifier.signed_digest(&target.repository(), tag).await {
            Ok(s) if s.digest() == d => Some(
                Decision::allow(
                    Check::Tag,
                    format!("{d} is the signed digest of {target} ({})", s.signer()),
                )
                .with_image(target)
                .with_digest(d),
            ),
            _ => None,
        }
    }
}

/// Pull decisions are reused briefly, denies included; a failure to reach
/// a server is not (the next pull asks again).
fn reusable(d: &Decision) -> bool {
    d.cause != Some(DenyCause::Unavailable)
}

/// A deny for a verification failure.
fn trust_deny(verifier: &dyn Verifier, e: &TrustError, image: &str) -> Decision {
    let (reason, hint, cause) = match e {
        TrustError::NotSigned(m) => (
            m.to_string(),
            verifier.unsigned_hint(image),
            DenyCause::NotSigned,
        ),
        TrustError::Invalid(m) => (m.to_string(), verifier.invalid_hint(), DenyCause::Invalid),
        TrustError::Unavailable(m) => (
            format!("the signature could not be checked: {m}"),
            verifier.unavailable_hint(),
            DenyCause::Unavailable,
        ),
    };
    Decision::deny(Check::Signature, reason, hint)
        .with_cause(cause)
        .with_image(image)
}

async fn decide_pull(
    verifier: &dyn Verifier,
    registry: impl std::future::Future<Output = Result<String, RegistryError>>,
    image: &Reference,
) -> Decision {
    let repo = image.repository();
    // `name:tag@digest` pulls by digest: the digest decides.
    if let Some(d) = &image.digest {
        return match verifier.digest_signed(&repo, d).await {
            Ok(s) => Decision::allow(Check::Signature, format!("{d} is signed ({})", s.signer()))
                .with_image(image)
                .with_digest(d.clone()),
            Err(e) => trust_deny(verifier, &e, &image.to_string()),
        };
    }
    let tag = image.tag.clone().unwrap_or_else(|| DEFAULT_TAG.to_string());
    let (signed, served) = if verifier.judges_served_digest() {
        // The verifier read the tag from the registry itself: the digest it
        // judged is the one served, and asking again would only cost a
        // first pull one more round trip. The registry is asked once more
        // for a deny's pin hint, and only when it just answered (not signed).
        match verifier.signed_digest(&repo, &tag).await {
            Ok(s) => {
                let served = Ok(s.digest().to_string());
                (Ok(s), served)
            }
            Err(e @ TrustError::NotSigned(_)) => (Err(e), registry.await),
            Err(e) => return trust_deny(verifier, &e, &image.to_string()),
        }
    } else {
        tokio::join!(verifier.signed_digest(&repo, &tag), registry)
    };
    let signed = match signed {
        Ok(s) => s,
        Err(e) => {
            let mut d = trust_deny(verifier, &e, &image.to_string());
            // What a digest pin for this tag would name, reviewed by a
            // person; never offered over trust data that failed to verify.
            if let (Ok(now), false) = (&served, matches!(e, TrustError::Invalid(_))) {
                d.hint = format!(
                    "{}; to pin what the registry serves for it now: digests = [\"{now}\"]",
                    d.hint
                );
            }
            return d;
        }
    };
    let served = match served {
        Ok(d) => d,
        Err(m) => {
            return Decision::deny(
                Check::ContentBinding,
                format!("cannot learn which manifest the registry serves for {image}: {m}"),
                "make the registry reachable by the plugin",
            )
            .with_cause(DenyCause::Unavailable)
            .with_image(image)
        }
    };
    if served == signed.digest() {
        Decision::allow(
            Check::ContentBinding,
            format!(
                "the registry serves the signed {served} ({})",
                signed.signer()
            ),
        )
        .with_image(image)
        .with_digest(served)
    } else {
        Decision::deny(
            Check::ContentBinding,
            format!(
                "the registry serves {served} for {image}, but the signed digest is {} ({}): the tag moved",
                signed.digest(), signed.signer()
            ),
            format!(
                "pull the signed digest ({}@{}) or have the publisher sign the new content",
                repo.name(),
                signed.digest()
            ),
        )
        .with_image(image)
    }
}

/// `(repository, digest)` of every RepoDigest, normalised.
/// The (repository, digest) pairs an image was pulled as. On the containerd
/// store only those equal to the image's target (its ID there) count.
fn repo_digests(info: &ImageInfo, containerd: bool) -> Vec<(String, String)> {
    let target = info
        .descriptor
        .as_ref()
        .map(|d| d.digest.as_str())
        .unwrap_or(info.id.as_str());
    info.repo_digests
        .iter()
        .flatten()
        .filter_map(|rd| {
            let r = Reference::parse_normalized(rd).ok()?;
            let d = r.digest.clone()?;
            (!containerd || (d == info.id && d == target)).then(|| (r.name(), d))
        })
        .collect()
}

/// dockerd resolved a name-looking reference by image-ID prefix (`abc123`
/// or `sha256:abc123`) rather than by a tag of that name.
fn resolved_by_id(image: &str, named: &Reference, info: &ImageInfo) -> bool {
    let hex = id_hex(image);
    if hex.is_empty() || !is_lower_hex(hex) || named.digest.is_some() {
        return false;
    }
    let id_hex = id_hex(&info.id);
    let tagged = named.clone().tag_name_only();
    let has_tag = info
        .repo_tags
        .iter()
        .flatten()
        .filter_map(|t| Reference::parse_normalized(t).ok())
        .any(|t| t == tagged);
    id_hex.starts_with(hex) && !has_tag
}

fn list(digests: &[(String, String)]) -> String {
    digests
        .iter()
        .map(|(n, d)| format!("{n}@{d}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "binding_tests.rs"]
mod tests;
