//! Signature verification behind one interface, with caching.
//!
//! A [`Verifier`] answers two questions about a repository: which digest is
//! signed for a tag, and whether a digest is signed at all. The policy binds
//! those answers to what the registry serves and what the daemon runs.
//!
//! Layout: one directory per format ([`notary`], [`cosign`], [`notation`]),
//! each with its verifier; [`combined`] and [`pinned`] compose them. Shared
//! by the formats: [`keys`] (SPKI public keys, the RSA floor), [`encoding`]
//! (hex, base64), [`discovery`] (signatures stored next to an image: the
//! lenient OCI types, referrers API or tag scheme, the subject check) and
//! [`cache`] (TTL cache and its [`cache::CacheStats`], which `metrics`
//! renders; `trust` depends on nothing above it). Every verifier answers a
//! failure with a [`TrustError`]: its kind (not signed, invalid,
//! unavailable) decides the hint and the caching, its typed cause the text.

pub mod cache;
pub mod combined;
pub mod cosign;
pub mod discovery;
pub mod encoding;
pub(crate) mod error;
pub use error::{
    Invalid, NotSigned, RegistryLookup, Several, ShutdownNote, TrustError, Unavailable,
};
pub mod keys;
pub mod notary;
pub mod notation;
pub mod pattern;
pub mod pinned;
pub mod spki;

use async_trait::async_trait;

use crate::request::reference::Reference;

/// What a signature vouches for: the proof that a verifier in `trust`
/// checked it (as rustls' `ServerCertVerified`). Only `trust` can make one,
/// so the policy cannot allow an image on a value it built itself:
///
/// ```compile_fail,E0451
/// let _ = img_authz::verify::Signed { digest: "sha256:…".into(), signer: "me".into() };
/// ```
/// ```compile_fail,E0624
/// let _ = img_authz::verify::Signed::new("sha256:…".into(), "me".into());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `sha256:…` of the manifest.
    digest: String,
    /// Who signed it, e.g. `notary targets/releases`.
    signer: String,
}

impl Signed {
    /// A verified result; only the verifiers (and their composers) call it.
    pub(in crate::trust) fn new(digest: String, signer: String) -> Self {
        Self { digest, signer }
    }

    /// A result for policy tests that stub a [`Verifier`].
    #[cfg(test)]
    pub(crate) fn for_test(digest: &str, signer: &str) -> Self {
        Self::new(digest.to_owned(), signer.to_owned())
    }

    /// `sha256:…` of the signed manifest.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Who signed it, e.g. `notary targets/releases`.
    pub fn signer(&self) -> &str {
        &self.signer
    }

    /// The signed digest, consuming the proof.
    pub fn into_digest(self) -> String {
        self.digest
    }
}

/// A signature verifier (Notary v1, cosign, ...).
#[async_trait]
pub trait Verifier: Send + Sync {
    /// A short name for messages (`notary`).
    fn name(&self) -> &'static str;

    /// Where the signatures live, for messages (`notary server https://…`).
    fn server(&self) -> String;

    /// The digest signed for `repo:tag` (`repo` without tag or digest).
    async fn signed_digest(&self, repo: &Reference, tag: &str) -> Result<Signed, TrustError>;

    /// Whether `digest` is signed for `repo`, under any tag.
    async fn digest_signed(&self, repo: &Reference, digest: &str) -> Result<Signed, TrustError>;

    /// Whether the verifier signs tags (Notary) rather than only digests
    /// (cosign). A local image by tag is then checked by the signed tag's
    /// digest, else by the digest it was pulled by.
    fn binds_tags(&self) -> bool {
        true
    }

    /// Whether [`signed_digest`](Self::signed_digest) judges exactly the
    /// digest the registry serves for the tag now, asked as the pull's own
    /// look-up asks it (a `HEAD` of the tag, as dockerd asks: cosign,
    /// Notation, digest pins): a pull then needs no second look-up of the
    /// same tag to bind the decision to what dockerd will fetch. Never true
    /// for a verifier whose tags are signed elsewhere (Notary), nor for a
    /// rule that combines one.
    fn judges_served_digest(&self) -> bool {
        false
    }

    /// How to get `image` signed, for deny messages.
    fn unsigned_hint(&self, image: &str) -> String {
        format!("sign it (docker trust sign {image}) on {}", self.server())
    }

    /// How to fix an unreachable trust source, for deny messages.
    fn unavailable_hint(&self) -> String {
        format!(
            "make {} reachable (NOTARY, NOTARY_ROOT_CA) and retry",
            self.server()
        )
    }

    /// What to do about trust data that failed verification, for deny messages.
    fn invalid_hint(&self) -> String {
        "the trust data failed verification; the repository's publisher must re-sign it".into()
    }

    /// Figures of the verifier's caches, for status and metrics.
    fn cache_figures(&self) -> Vec<crate::trust::cache::CacheStats> {
        Vec::new()
    }
}

/// What [`registry_digest`] makes of a registry failure.
fn lookup_error(
    e: crate::registry::RegistryError,
    repo: &Reference,
    tag: &str,
    what: RegistryLookup,
) -> TrustError {
    match e {
        crate::registry::RegistryError::NotFound { .. } => NotSigned::NotInRegistry {
            image: format!("{}:{tag}", repo.name()),
        }
        .into(),
        source => Unavailable::Registry { what, source }.into(),
    }
}

/// `repo:tag` as the registry resolves it now (the pull's own look-up:
/// digest, and the media type and size it states), for a verifier that
/// needs the descriptor too. Errors as [`registry_digest`].
pub(crate) async fn registry_resolve(
    registry: &crate::registry::RegistryClient,
    repo: &Reference,
    tag: &str,
    what: RegistryLookup,
) -> Result<crate::registry::Resolved, TrustError> {
    registry
        .resolve(&repo.domain, &repo.path, tag)
        .await
        .map_err(|e| lookup_error(e, repo, tag, what))
}

/// The digest the registry serves now for `repo:tag`, for verifiers that
/// judge digests: a tag not in its registry is not signed, any other
/// failure is [`Unavailable::Registry`] asking `what`.
pub(crate) async fn registry_digest(
    registry: &crate::registry::RegistryClient,
    repo: &Reference,
    tag: &str,
    what: RegistryLookup,
) -> Result<String, TrustError> {
    Ok(registry_resolve(registry, repo, tag, what).await?.digest)
}
