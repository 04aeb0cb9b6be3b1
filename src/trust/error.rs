//! Why an image is not trusted: one of three kinds the policy acts on (the
//! hint it gives, whether a deny is cached), each with a typed cause that
//! says what exactly failed (as rustls' `Error` wraps `CertificateError`).
//!
//! The kind is the variant of [`TrustError`]; the cause is an enum per kind,
//! so Notary's and the registry's causes cannot be filed under the wrong
//! kind: a registry outage is an [`Unavailable`], never a [`NotSigned`].
//! cosign's and Notation's verdicts are one type each, sorted into a kind by
//! their one mapping (`cosign/mod.rs`, `notation/error.rs`, both tested);
//! nothing else builds those variants. The causes wrap the formats' own
//! error types ([`TufError`], cosign's [`CosignFailure`], [`RegistryError`])
//! as `#[source]`s. Display is the deny message's text; code matches on the
//! variants, never on the text.

use crate::registry::RegistryError;
use crate::trust::cosign::CosignFailure;
use crate::trust::notary::update::RELEASES;
use crate::trust::notary::{TufError, Unreachable};

/// Why an image is not trusted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrustError {
    /// The trust data is fine and does not vouch for this image.
    #[error(transparent)]
    NotSigned(#[from] NotSigned),
    /// The trust data cannot be trusted (bad signature, expired, rollback, ...).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The trust server (or the registry) could not be asked.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// Nothing trusted vouches for the image: signing it fixes this.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotSigned {
    /// Notary has no trust data (no root) for the repository.
    #[error("the notary server has no trust data for {gun}{note}")]
    NoTrustData { gun: String, note: ShutdownNote },
    /// Notary: the tag is in no release role.
    #[error(
        "tag {tag:?} of {gun} is not signed (it is in neither {} nor targets)",
        RELEASES
    )]
    UnsignedTag { gun: String, tag: String },
    /// Notary: the signed target has no sha256 to bind.
    #[error("the signed target {gun}:{tag} carries no sha256")]
    NoSha256 { gun: String, tag: String },
    /// Notary: the digest is no signed target of the repository.
    #[error("{digest} is not a signed target of {gun}")]
    DigestNotTarget { gun: String, digest: String },
    /// Notary: a signer role the rule requires did not sign it (`image` is
    /// `repo:tag` or `repo@digest`).
    #[error("{image} is not signed by the required signer {role}")]
    MissingSigner { image: String, role: String },
    /// The registry does not have the image (`repo:tag` or `repo@digest`).
    #[error("{image} is not in its registry")]
    NotInRegistry { image: String },
    /// A digest rule's pins do not list the digest.
    #[error("{repo}@{digest} is not one of the rule's pinned digests")]
    NotPinned { repo: String, digest: String },
    /// No cosign signature is stored next to the image at all.
    #[error(
        "{repo}@{digest} has no cosign signature (tag {}.sig, nor a Sigstore bundle or cosign signature among its referrers)",
        .digest.replacen(':', "-", 1)
    )]
    NoCosignSignature { repo: String, digest: String },
    /// Cosign signatures exist, but none (or too few) by a trusted signer;
    /// none of them failed verification.
    #[error(transparent)]
    Cosign(CosignFailure),
    /// Notation: no statement covers the image, no signature, or none verifies.
    #[error(transparent)]
    Notation(crate::trust::notation::Error),
    /// A combined rule with no verifier.
    #[error("the rule names no verifier")]
    NoVerifier,
    /// Two tag-signing verifiers sign the tag as different digests.
    #[error("{image} is signed as {first_digest} by {first} but as {other_digest} by {other}")]
    Disagree {
        image: String,
        first: &'static str,
        first_digest: String,
        other: &'static str,
        other_digest: String,
    },
    /// Several verifiers' answers, none of them `Invalid` or `Unavailable`.
    #[error(transparent)]
    Several(Several),
}

/// The trust data failed verification: its publisher must re-sign.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Invalid {
    /// Notary metadata of the repository was rejected.
    #[error("trust data for {gun} rejected: {source}{note}")]
    Notary {
        gun: String,
        #[source]
        source: TufError,
        note: ShutdownNote,
    },
    /// A cosign signature of the image failed verification (bad signature,
    /// certificate, transparency log, payload naming another image).
    #[error(transparent)]
    Cosign(CosignFailure),
    /// Notation: what the signatures bind cannot be read from the image.
    #[error(transparent)]
    Notation(crate::trust::notation::Error),
    /// Several verifiers' answers, one at least `Invalid`, none `Unavailable`.
    #[error(transparent)]
    Several(Several),
}

/// A server that holds the answer could not be asked: retrying may help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unavailable {
    /// The Notary server (or the local update gate).
    #[error("{source}{note}")]
    Notary {
        #[source]
        source: Unreachable,
        note: ShutdownNote,
    },
    /// The image's registry, asked for `what`.
    #[error("{what}: {source}")]
    Registry {
        what: RegistryLookup,
        #[source]
        source: RegistryError,
    },
    /// Several verifiers' answers, one at least `Unavailable`.
    #[error(transparent)]
    Several(Several),
}

/// What the registry was asked when it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryLookup {
    #[error("cannot read cosign signatures")]
    CosignSignatures,
    #[error("cannot read Notation signatures")]
    NotationSignatures,
    /// For a digest rule: the digest a tag points at now.
    #[error("cannot learn which digest the registry serves for {image}")]
    ServedDigest { image: String },
}

/// Said after a Notary message about notary.docker.io (shut down on
/// 2026-12-08): the server is gone, not briefly down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShutdownNote(pub bool);

impl std::fmt::Display for ShutdownNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 {
            write!(
                f,
                "; {}",
                crate::trust::notary::verifier::DOCKER_HUB_SHUTDOWN
            )
        } else {
            Ok(())
        }
    }
}

/// The answers of several verifiers of one rule, by verifier name, in the
/// rule's order (`notary: …; cosign: …`).
#[derive(Debug, Clone)]
pub struct Several(pub Vec<(&'static str, TrustError)>);

impl std::fmt::Display for Several {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (n, e)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{n}: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Several {}

impl Several {
    /// One error for several: unreachable servers win (retrying may help),
    /// then invalid trust data, then "not signed".
    pub fn merge(errors: Vec<(&'static str, TrustError)>) -> TrustError {
        let any = |f: fn(&TrustError) -> bool| errors.iter().any(|(_, e)| f(e));
        if any(|e| matches!(e, TrustError::Unavailable(_))) {
            Unavailable::Several(Several(errors)).into()
        } else if any(|e| matches!(e, TrustError::Invalid(_))) {
            Invalid::Several(Several(errors)).into()
        } else {
            NotSigned::Several(Several(errors)).into()
        }
    }
}

/// Causes of each kind for tests of the code that acts on them.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::http::HttpError;

    /// A registry that did not answer in time (`why`).
    pub fn unreachable(why: &str) -> RegistryError {
        RegistryError::Http(HttpError::Unreachable {
            url: "https://r.io/v2/".into(),
            why: why.into(),
        })
    }

    /// The registry holding the signatures did not answer in time.
    pub fn down() -> TrustError {
        Unavailable::Registry {
            what: RegistryLookup::CosignSignatures,
            source: unreachable("operation timed out"),
        }
        .into()
    }

    /// `digest` of `r.io/app` is signed by nobody trusted.
    pub fn unsigned(digest: &str) -> TrustError {
        NotSigned::DigestNotTarget {
            gun: "r.io/app".into(),
            digest: digest.into(),
        }
        .into()
    }

    /// The trust data of `r.io/app` carries a bad signature.
    pub fn invalid() -> TrustError {
        Invalid::Notary {
            gun: "r.io/app".into(),
            source: TufError::Signature("targets".into()),
            note: ShutdownNote(false),
        }
        .into()
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
