//! The Notation (Notary Project) [`Verifier`], configured with Notation's
//! own trust policy and trust store so that an existing `notation verify`
//! setup works unchanged.
//!
//! Implemented: the OCI trust policy (version 1.0) with its validation,
//! scope selection, levels and overrides; trust stores; discovery through
//! the referrers API or the referrers tag scheme (both signature-manifest
//! forms, subject checked, bounded); JWS and COSE envelopes with
//! PS256/384/512 and ES256/384/512 (`keys`: P-521 and ECDSA-SHA-512 through
//! the RustCrypto curves); the certificate profile; `targetArtifact`;
//! authenticity and trusted identities; expiry; the `notary.x509` and
//! `notary.x509.signingAuthority` signing schemes (the latter anchored in
//! `signingAuthority` stores only, its chain valid at the signed
//! `authenticSigningTime`); RFC 3161 timestamp countersignatures under
//! `verifyTimestamp` (`timestamp`: CMS token, imprint over the signature
//! value, TSA chain to the policy's `tsa` stores, TSA profile, validity of
//! the signing chain over `genTime ± accuracy`). Revocation (OCSP, then
//! CRL) is checked by [`revocation`] after the other steps
//! ([`evaluate_online`]). Refused with a clear reason (a failure wherever the
//! policy enforces the step): a TSA certificate naming a revocation source
//! (its status is not queried yet), and RSASSA-PSS certificate signatures
//! other than SHA-2 with MGF1 of the same hash and a digest-long salt.
//! Plugin-requiring signatures are refused.

pub mod chain;
pub mod cose;
pub mod dn;
mod error;
pub mod jws;
pub mod keys;
pub mod policy;
pub mod revocation;
pub mod store;
pub mod timestamp;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;

use super::cache::TtlCache;
use super::discovery::{
    self, is_subject, object, referrer_indexes, referrer_tag, soft, Bounded, Index, Lenient, Obj,
};
use super::{Signed, TrustError, Verifier};
use crate::registry::{RegistryClient, RegistryError};
use crate::request::reference::Reference;
use policy::{Action, Check, Identities, Level, PolicyStatement, StoreRef, StoreType, TrustPolicy};
use store::Store;

pub use error::{ConfigError, Error, Failure, Reason, Rejected, Unreadable};

pub const ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
/// Signatures looked at per image (notation's `--max-signatures` is 100).
pub const MAX_SIGNATURES: usize = 32;
const MAX_SIGNATURE_MANIFEST: usize = 64 * 1024;
/// An envelope with a three-certificate chain and a timestamp is < 16 KiB.
const MAX_ENVELOPE: usize = 256 * 1024;

/// A trust policy with the stores it references, loaded.
#[derive(Debug, Clone)]
pub struct NotationConfig {
    pub policy: TrustPolicy,
    pub stores: BTreeMap<StoreRef, Store>,
    pub source: PathBuf,
}

impl NotationConfig {
    /// Load and validate `trust_policy` and every store it references under
    /// `trust_store` (Notation's `truststore` directory).
    pub fn load(trust_policy: &Path, trust_store: &Path) -> Result<NotationConfig, ConfigError> {
        let path = || trust_policy.display().to_string();
        let bytes = std::fs::read(trust_policy).map_err(|e| ConfigError::Read {
            path: path(),
            why: e.to_string(),
        })?;
        let policy = TrustPolicy::parse(&bytes).map_err(|source| ConfigError::Policy {
            path: path(),
            source,
        })?;
        let mut stores = BTreeMap::new();
        for r in policy.referenced_stores() {
            let s = Store::load(trust_store, &r)?;
            stores.insert(r, s);
        }
        Ok(NotationConfig {
            policy,
            stores,
            source: trust_policy.to_path_buf(),
        })
    }
}

/// The descriptor of the image being verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// One signature's verdict: who signed, and what the policy only logs.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub signer: String,
    pub logged: Vec<String>,
    /// The verified signing chain, leaf first (for the revocation step).
    pub chain: Vec<chain::Cert>,
    /// Authenticity held (not merely logged).
    pub authentic: bool,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Apply `stmt`'s action for the failure's step.
fn step(
    stmt: &PolicyStatement,
    failure: Option<Failure>,
    logged: &mut Vec<String>,
) -> Result<(), Rejected> {
    let Some(why) = failure else { return Ok(()) };
    let check = why.check();
    match stmt.action(check) {
        Action::Enforce => Err(Rejected::Enforced { failure: why }),
        Action::Log => {
            logged.push(format!(
                "{} (logged only, level {}): {why}",
                check.name(),
                stmt.level.name()
            ));
            Ok(())
        }
        Action::Skip => Ok(()),
    }
}

/// Verify one envelope (`media_type`, `bytes`) for `target` under `stmt`.
pub fn evaluate(
    cfg: &NotationConfig,
    stmt: &PolicyStatement,
    media_type: &str,
    bytes: &[u8],
    target: &Descriptor,
    at: i64,
) -> Result<Outcome, Rejected> {
    // Integrity: always enforced (level skip never gets here).
    let v = match media_type {
        jws::MEDIA_TYPE => jws::verify(bytes)?,
        cose::MEDIA_TYPE => cose::verify(bytes)?,
        t => return Err(Rejected::EnvelopeType(t.to_string())),
    };
    let t = &v.target;
    if t.media_type != target.media_type || t.digest != target.digest || t.size != target.size {
        return Err(Rejected::OtherTarget {
            signed: t.clone(),
            image: target.clone(),
        });
    }
    let mut logged = Vec::new();
    let Some(leaf) = v.chain.first() else {
        return Err(Rejected::NoChain);
    };
    let subject = leaf.subject().map_err(Rejected::Subject)?;
    // Authenticity: some certificate of the chain is in a referenced store
    // of the scheme's type (signingAuthority stores only for that scheme,
    // so that a CA-issued signer cannot pose as a signing authority), and
    // the leaf is a trusted identity.
    let kind = match v.scheme {
        jws::Scheme::X509 => StoreType::Ca,
        jws::Scheme::SigningAuthority => StoreType::SigningAuthority,
    };
    let anchored = stmt.stores_of(kind).any(|r| {
        cfg.stores.get(r).is_some_and(|s| {
            s.certs
                .iter()
                .any(|c| v.chain.iter().any(|x| x.der == c.der))
        })
    });
    let names: Vec<String> = stmt.stores_of(kind).map(|r| r.to_string()).collect();
    let authenticity = if !anchored {
        Some(Failure::NotAnchored {
            subject: leaf.subject_text(),
            stores: if names.is_empty() {
                format!("(none of type {})", kind.dir())
            } else {
                names.join(", ")
            },
        })
    } else {
        match &stmt.identities {
            Identities::Any => None,
            Identities::Subjects(ids) if ids.iter().any(|d| d.is_subset_of(&subject)) => None,
            Identities::Subjects(ids) => Some(Failure::UntrustedIdentity {
                signer: subject.display(),
                trusted: ids
                    .iter()
                    .map(|d| format!("{:?}", d.display()))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    };
    let authentic = authenticity.is_none();
    step(stmt, authenticity, &mut logged)?;
    // Expiry of the signature.
    let expired = v.expiry.filter(|e| at >= *e).map(|e| {
        let when = time::OffsetDateTime::from_unix_timestamp(e)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| e.to_string());
        Failure::Expired(when)
    });
    step(stmt, expired, &mut logged)?;
    // Authentic timestamp: the time the signing chain must be valid at.
    let timestamp = timestamp::authentic_time(cfg, stmt, &v, at)
        .err()
        .map(Failure::Time);
    step(stmt, timestamp, &mut logged)?;
    // Revocation needs the network: the caller runs it (`revocation`).
    Ok(Outcome {
        signer: format!(
            "notation, signed by {} (trust policy {:?}, level {})",
            subject.display(),
            stmt.name,
            stmt.level.name()
        ),
        logged,
        chain: v.chain,
        authentic,
    })
}

/// [`evaluate`], then the revocation step (root to leaf, OCSP then CRL).
pub async fn evaluate_online(
    cfg: &NotationConfig,
    stmt: &PolicyStatement,
    revocation: &revocation::Revocation,
    candidate: &Candidate,
    target: &Descriptor,
    at: i64,
) -> Result<Outcome, Rejected> {
    let mut o = evaluate(
        cfg,
        stmt,
        &candidate.media_type,
        &candidate.bytes,
        target,
        at,
    )?;
    if stmt.action(Check::Revocation) == Action::Skip {
        return Ok(o);
    }
    if !o.authentic {
        // Authenticity failed and was only logged (audit, or an override):
        // the chain is anyone's, so its OCSP/CRL URLs are not fetched (no
        // requests to addresses an untrusted signer chose). A chain naming
        // a source has an undetermined status, which the action decides.
        let failure = o
            .chain
            .iter()
            .find(|c| c.names_revocation_source())
            .map(|c| Failure::UntrustedChain(c.subject_text()));
        step(stmt, failure, &mut o.logged)?;
    } else {
        let failure = revocation
            .check(&o.chain, at)
            .await
            .err()
            .map(Failure::Revocation);
        step(stmt, failure, &mut o.logged)?;
    }
    Ok(o)
}

// --- discovery (the shared layer: `trust::discovery`) ---

/// A signature manifest, in either of Notation's two forms.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigManifest {
    #[serde(default)]
    media_type: Lenient,
    #[serde(default)]
    artifact_type: Lenient,
    #[serde(default)]
    config: Obj<discovery::Descriptor>,
    #[serde(default)]
    layers: Bounded<Obj<discovery::Descriptor>>,
    #[serde(default)]
    subject: Obj<discovery::Descriptor>,
}

/// An envelope found for the image.
#[derive(Debug)]
pub struct Candidate {
    pub origin: String,
    pub media_type: String,
    pub bytes: bytes::Bytes,
}

#[derive(Debug, Default)]
pub struct Found {
    pub candidates: Vec<Candidate>,
    pub unreadable: Vec<Unreadable>,
}

/// Which of the two signature-manifest forms this is, if any.
fn is_signature_manifest(m: &SigManifest) -> bool {
    let config = m.config.0.as_ref().and_then(|c| c.media_type.0.as_deref());
    m.media_type.0.as_deref() == Some("application/vnd.oci.image.manifest.v1+json")
        && match m.artifact_type.0.as_deref() {
            Some(ARTIFACT_TYPE) => config == Some(EMPTY_CONFIG),
            None => config == Some(ARTIFACT_TYPE),
            Some(_) => false,
        }
}

/// The Notation signatures of `domain/path@digest`: the referrers API,
/// else the referrers tag scheme. The round trips that do not depend on
/// each other overlap (a first pull pays each sequential one): the tag is
/// asked for together with the referrers API (its answer is used only
/// when the registry has no referrers API), and every listed signature's
/// manifest-then-envelope chain runs at once, results taken in list order.
pub async fn find(
    registry: &RegistryClient,
    domain: &str,
    path: &str,
    digest: &str,
) -> Result<Found, RegistryError> {
    let mut found = Found::default();
    let pages = referrer_indexes(registry, domain, path, digest).await?;
    // Entries carry the artifact type (or, for the OCI 1.0 form, the
    // config type in that field): filter before bounding.
    let mut listed: Vec<String> = Vec::new();
    for (where_, page) in &pages {
        let index = match Index::parse(page) {
            None => {
                found
                    .unreadable
                    .push(Unreadable::NotIndex(where_.to_string()));
                continue;
            }
            // An image under the tag scheme's tag refers to nothing.
            Some(index) if !index.is_referrers_index() => continue,
            Some(index) => index,
        };
        listed.extend(
            index
                .manifests
                .0
                .iter()
                .filter_map(|d| d.0.as_ref())
                .filter(|d| d.artifact_type.0.as_deref() == Some(ARTIFACT_TYPE))
                .filter_map(|d| d.digest.0.clone()),
        );
    }
    let each = futures_util::future::join_all(
        listed
            .iter()
            .take(MAX_SIGNATURES)
            .map(|md| signature(registry, domain, path, digest, md)),
    )
    .await;
    for r in each {
        match r? {
            Ok(c) => found.candidates.push(c),
            Err(why) => found.unreadable.push(why),
        }
    }
    Ok(found)
}

/// The envelope of signature manifest `md` of `digest`, or why it is
/// unusable; `Err` only when the registry is unreachable.
async fn signature(
    registry: &RegistryClient,
    domain: &str,
    path: &str,
    digest: &str,
    md: &str,
) -> Result<Result<Candidate, Unreadable>, RegistryError> {
    let origin = format!("signature {md}");
    let bytes = match soft(
        registry
            .get_manifest_limited(domain, path, md, MAX_SIGNATURE_MANIFEST)
            .await,
    )? {
        Ok(Some((_, b))) => b,
        Ok(None) => return Ok(Err(Unreadable::Missing(origin))),
        Err(why) => return Ok(Err(Unreadable::Registry { origin, why })),
    };
    let Some(m) = object::<SigManifest>(&bytes) else {
        return Ok(Err(Unreadable::NotManifest(origin)));
    };
    if !is_signature_manifest(&m) {
        return Ok(Err(Unreadable::NotSignatureManifest(origin)));
    }
    if !is_subject(&m.subject, digest) {
        return Ok(Err(Unreadable::OtherSubject(origin)));
    }
    let layers: Vec<&discovery::Descriptor> =
        m.layers.0.iter().filter_map(|l| l.0.as_ref()).collect();
    let (Some(layer), 1) = (layers.first(), m.layers.0.len()) else {
        return Ok(Err(Unreadable::LayerCount(origin)));
    };
    let (Some(lt), Some(ld)) = (layer.media_type.0.as_deref(), layer.digest.0.as_deref()) else {
        return Ok(Err(Unreadable::LayerFields(origin)));
    };
    Ok(
        match soft(registry.get_blob(domain, path, ld, MAX_ENVELOPE).await)? {
            Ok(b) => Ok(Candidate {
                origin,
                media_type: lt.to_string(),
                bytes: b,
            }),
            Err(why) => Err(Unreadable::Registry { origin, why }),
        },
    )
}

// --- the verifier ---

pub struct NotationVerifier {
    cfg: Arc<NotationConfig>,
    registry: RegistryClient,
    revocation: Arc<revocation::Revocation>,
    cache: TtlCache<String, Signed, TrustError>,
    ttl: Duration,
}

/// The descriptor of `repo@digest` as its registry serves it.
async fn descriptor(
    registry: &RegistryClient,
    repo: &Reference,
    digest: &str,
) -> Result<Descriptor, Error> {
    let (d, body) = registry
        .get_manifest(&repo.domain, &repo.path, digest)
        .await?
        .ok_or_else(|| Error::NotInRegistry(format!("{}@{digest}", repo.name())))?;
    descriptor_of(repo, d, &body)
}

/// The descriptor of a manifest read from the registry: `digest` is the
/// body's own hash, the media type the body's `mediaType`.
fn descriptor_of(repo: &Reference, digest: String, body: &[u8]) -> Result<Descriptor, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Typed {
        #[serde(default)]
        media_type: Lenient,
    }
    let media_type = object::<Typed>(body)
        .and_then(|t| t.media_type.0)
        .ok_or_else(|| Error::NoMediaType(format!("{}@{digest}", repo.name())))?;
    Ok(Descriptor {
        media_type,
        digest,
        size: body.len() as u64,
    })
}

/// Verify `repo@digest` against the trust policy. `known`: the image's
/// descriptor when the caller has just read its manifest (a pull by tag),
/// else it is read here alongside the signatures.
pub async fn verify_image(
    cfg: &NotationConfig,
    registry: &RegistryClient,
    revocation: &revocation::Revocation,
    repo: &Reference,
    digest: &str,
    known: Option<Result<Descriptor, Error>>,
) -> Result<Signed, Error> {
    let name = repo.name();
    let Some(stmt) = cfg.policy.select(&name) else {
        return Err(Error::NoStatement {
            policy: cfg.source.display().to_string(),
            image: name,
        });
    };
    if stmt.level == Level::Skip {
        return Ok(Signed::new(
            digest.to_string(),
            format!(
                "notation trust policy {:?} (level skip: not verified)",
                stmt.name
            ),
        ));
    }
    // Independent round trips: overlapped (a first pull waits for each).
    let target = async {
        match known {
            Some(d) => d,
            None => descriptor(registry, repo, digest).await,
        }
    };
    let (target, found) = tokio::join!(target, find(registry, &repo.domain, &repo.path, digest));
    let target = target?;
    let found = found?;
    let mut why: Vec<Reason> = found.unreadable.iter().cloned().map(Reason::from).collect();
    let at = now();
    for c in &found.candidates {
        match evaluate_online(cfg, stmt, revocation, c, &target, at).await {
            Ok(o) => {
                for l in &o.logged {
                    tracing::warn!(image = %format!("{name}@{digest}"), signature = %c.origin, "notation: {l}");
                }
                return Ok(Signed::new(digest.to_string(), o.signer));
            }
            Err(error) => why.push(Reason::Rejected {
                origin: c.origin.clone(),
                error,
            }),
        }
    }
    if found.candidates.is_empty() && found.unreadable.is_empty() {
        return Err(Error::NoSignature {
            image: format!("{name}@{digest}"),
            tag: referrer_tag(digest),
        });
    }
    why.truncate(8);
    Err(Error::NoneVerifies {
        image: format!("{name}@{digest}"),
        policy: stmt.name.clone(),
        level: stmt.level,
        reasons: why,
    })
}

impl NotationVerifier {
    pub fn new(
        cfg: NotationConfig,
        registry: RegistryClient,
        ttl: Duration,
        capacity: usize,
    ) -> NotationVerifier {
        NotationVerifier {
            cfg: Arc::new(cfg),
            registry,
            revocation: Arc::new(revocation::Revocation::new()),
            cache: TtlCache::new(capacity),
            ttl,
        }
    }
}

#[async_trait]
impl Verifier for NotationVerifier {
    fn name(&self) -> &'static str {
        "notation"
    }

    fn server(&self) -> String {
        "the registry holding the image's Notation signatures".into()
    }

    fn binds_tags(&self) -> bool {
        false
    }

    fn unsigned_hint(&self, image: &str) -> String {
        format!(
            "sign {image} by digest with notation (notation sign IMAGE@DIGEST) with a key whose certificate chains to a trust store and identity of {}",
            self.cfg.source.display()
        )
    }

    fn unavailable_hint(&self) -> String {
        "make the image's registry reachable by the plugin and retry".into()
    }

    fn cache_figures(&self) -> Vec<crate::trust::cache::CacheStats> {
        vec![self.cache.figures("notation")]
    }

    /// The tag is resolved as dockerd resolves it before a pull (`HEAD`),
    /// so the digest judged is the one dockerd will fetch.
    fn judges_served_digest(&self) -> bool {
        true
    }

    async fn signed_digest(&self, repo: &Reference, tag: &str) -> Result<Signed, TrustError> {
        // One `HEAD`, as dockerd and notation resolve a tag: the digest, and
        // the media type and size the signature's `targetArtifact` must name
        // (notation takes them from the same headers). A registry that does
        // not state them: the manifest is read by digest beside the
        // signatures.
        let r = super::registry_resolve(
            &self.registry,
            repo,
            tag,
            crate::trust::RegistryLookup::NotationSignatures,
        )
        .await?;
        let target = match (r.media_type, r.size) {
            (Some(media_type), Some(size)) => Some(Ok(Descriptor {
                media_type,
                digest: r.digest.clone(),
                size,
            })),
            _ => None,
        };
        self.verified(repo, &r.digest, target).await
    }

    async fn digest_signed(&self, repo: &Reference, digest: &str) -> Result<Signed, TrustError> {
        self.verified(repo, digest, None).await
    }
}

impl NotationVerifier {
    /// [`Verifier::digest_signed`], cached; `target`: the descriptor (or why
    /// there is none) when the manifest was just read.
    async fn verified(
        &self,
        repo: &Reference,
        digest: &str,
        target: Option<Result<Descriptor, Error>>,
    ) -> Result<Signed, TrustError> {
        // The descriptor the signature must name is part of what was
        // verified: a pull by tag states it in the registry's headers, one
        // by digest reads it from the manifest, and neither answer stands
        // for the other.
        let key = match &target {
            Some(Ok(d)) => format!(
                "{}@{digest}\u{0}{}\u{0}{}",
                repo.name(),
                d.media_type,
                d.size
            ),
            _ => format!("{}@{digest}", repo.name()),
        };
        let (cfg, registry, revocation, repo, digest, ttl) = (
            self.cfg.clone(),
            self.registry.clone(),
            self.revocation.clone(),
            repo.clone(),
            digest.to_string(),
            self.ttl,
        );
        self.cache
            .get_or_fetch(key, move || async move {
                let s = verify_image(&cfg, &registry, &revocation, &repo, &digest, target).await?;
                Ok((s, Instant::now() + ttl))
            })
            .await
    }
}

#[cfg(test)]
#[path = "schemes_tests.rs"]
mod schemes;
#[cfg(test)]
mod tests;
#[cfg(test)]
#[path = "vectors_tests.rs"]
mod vectors;
