//! Why cosign signatures do not vouch for an image, typed: for one
//! candidate ([`Rejection`]: made by nobody trusted, or its evidence fails,
//! wrapping the modules' own errors) and for the image ([`CosignFailure`]:
//! each candidate's reason, in the order found). The verifier files a
//! failure as "not signed" only when no candidate's evidence failed.
//! Display is the deny message's text, unchanged from the String days.

use std::fmt;
use std::sync::Arc;

use super::cert::CertError;
use super::discover::Unreadable;
use super::payload::PayloadError;
use super::verify::TlogError;

/// Why a candidate signature does not count. `Untrusted` ones are as good
/// as absent ("not signed"); `Invalid` ones mean the trust data failed
/// verification, which re-signing (not signing) fixes.
#[derive(Debug, Clone)]
pub enum Rejection {
    /// Made by no trusted key or identity.
    Untrusted(Untrusted),
    /// Its evidence fails: a trusted key's signature the log does not
    /// hold, a certificate that does not verify or chain, a payload naming
    /// another image. `untrusted`: the keyless reason said after them, when
    /// the certificate merely names another identity.
    Invalid {
        evidence: Vec<Evidence>,
        untrusted: Option<Untrusted>,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Untrusted(u) => u.fmt(f),
            Rejection::Invalid {
                evidence,
                untrusted,
            } => {
                let mut sep = "";
                for e in evidence {
                    write!(f, "{sep}{e}")?;
                    sep = "; ";
                }
                match untrusted {
                    Some(u) => write!(f, "{sep}{u}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for Rejection {}

impl From<Evidence> for Rejection {
    fn from(e: Evidence) -> Rejection {
        Rejection::Invalid {
            evidence: vec![e],
            untrusted: None,
        }
    }
}

/// A signature made by nobody the policy trusts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Untrusted {
    #[error("it does not verify with any trusted key")]
    NoTrustedKey,
    #[error("its certificate names none of the trusted identities")]
    NoTrustedIdentity,
    /// A valid keyless certificate for someone else (`github`: its GitHub
    /// claims as described, or empty).
    #[error("its certificate is for {} from issuer {issuer:?}{}, not a trusted identity", .subjects.join(", "), github_note(.github))]
    OtherIdentity {
        subjects: Vec<String>,
        issuer: String,
        github: String,
    },
}

fn github_note(g: &str) -> String {
    if g.is_empty() {
        String::new()
    } else {
        format!(" (GitHub {g})")
    }
}

/// Evidence of a signature that fails verification.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Evidence {
    /// The payload names another digest or repository, or is malformed.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// A trusted key signed it, but the transparency log does not vouch.
    #[error("signed with key {key}, but {source}")]
    KeyNotLogged {
        key: String,
        #[source]
        source: TlogError,
    },
    #[error("keyless signatures need a trusted root (trusted_root)")]
    NoTrustedRoot,
    /// The signing certificate cannot be read.
    #[error(transparent)]
    Cert(Arc<CertError>),
    #[error("its signature does not verify with its certificate")]
    CertSignature,
    /// No Rekor entry vouches for the keyless signature.
    #[error(transparent)]
    Tlog(#[from] TlogError),
    #[error("its Rekor entry has no signed time (SET), so the certificate cannot be dated")]
    NoSignedTime,
    #[error("its certificate was not valid when the signature was logged")]
    CertNotValidWhenLogged,
    #[error("its certificate is not trusted: {0}")]
    Chain(Arc<CertError>),
    #[error("the trusted root names no CT log to check the certificate's SCT")]
    NoCtLog,
    #[error("its certificate's SCT: {0}")]
    Sct(Arc<CertError>),
}

/// Why one signature (or signature material) of an image did not count.
#[derive(Debug, Clone)]
pub enum Why {
    /// Material that could not be read.
    Unreadable(Unreadable),
    /// A signature that was read and does not count.
    Rejected {
        origin: String,
        rejection: Rejection,
    },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Unreadable(u) => u.fmt(f),
            Why::Rejected { origin, rejection } => write!(f, "{origin}: {rejection}"),
        }
    }
}

/// Signatures of `repo@digest` exist, and too few distinct trusted signers
/// verify: `signers` of the `need` the policy asks. `why`: the first
/// [`CosignFailure::MAX_REASONS`] reasons, in the order found.
#[derive(Debug, Clone)]
pub struct CosignFailure {
    pub repo: String,
    pub digest: String,
    pub signers: usize,
    pub need: usize,
    pub why: Vec<Why>,
}

impl CosignFailure {
    /// Reasons kept for the message.
    pub const MAX_REASONS: usize = 8;

    /// Whether any signature failed verification (rather than being made
    /// by someone untrusted): the hint is then "re-sign", not "sign".
    pub fn any_invalid(&self) -> bool {
        self.why.iter().any(|w| {
            matches!(
                w,
                Why::Rejected {
                    rejection: Rejection::Invalid { .. },
                    ..
                }
            )
        })
    }
}

impl fmt::Display for CosignFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (repo, digest) = (&self.repo, &self.digest);
        if self.signers == 0 {
            write!(f, "no cosign signature of {repo}@{digest} verifies: ")?;
        } else {
            write!(
                f,
                "{repo}@{digest} is signed by {} of the {} trusted signers it needs: ",
                self.signers, self.need
            )?;
        }
        let mut sep = "";
        for w in &self.why {
            write!(f, "{sep}{w}")?;
            sep = "; ";
        }
        Ok(())
    }
}

impl std::error::Error for CosignFailure {}
