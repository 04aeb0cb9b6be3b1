//! Signed policy bundles: one OCI artifact holding the policy file and
//! every file it names, pulled by every host of a fleet from a registry
//! (issue 20; operator's page: docs/fleet.md).
//!
//! Format (artifact type `application/vnd.img-authz.bundle.v1`):
//! - an OCI image manifest (`application/vnd.oci.image.manifest.v1+json`)
//!   with `artifactType` `application/vnd.img-authz.bundle.v1`;
//! - its config blob, `application/vnd.img-authz.bundle.config.v1+json`:
//!   `{"revision": u64, "created": RFC 3339, "policy": "policy.toml",
//!   "scope": [STRING], "expires": RFC 3339}`, every field required;
//!   the revision is monotonic: a host never goes back to a lower one, nor
//!   to other content under the revision it has (rollback); `scope` lists
//!   the `oci://HOST/PATH:TAG` references and channel names the bundle was
//!   published for (a host refuses it unless its `IMG_AUTHZ_BUNDLE`, or its
//!   `IMG_AUTHZ_BUNDLE_CHANNEL`, is listed: a retag or a copy to another
//!   repository does not carry it elsewhere); after `expires` a host
//!   refuses it, and stops enforcing it if it is in force (freeze attack);
//! - exactly one layer, `application/vnd.img-authz.bundle.files.v1+json`:
//!   `{"files": [{"path": "policy.toml", "data": base64}, …]}`. Paths are
//!   relative, `/`-separated and normalised (no `..`, `.`, empty segment,
//!   absolute path, backslash); there are no symlinks, modes or owners. The
//!   policy file's relative paths (keys, trusted roots, Notation files,
//!   pins) resolve inside the unpacked bundle, and must stay there
//!   (absolute paths and `..` are refused). Limits: 64 KiB manifest and
//!   config, 8 MiB layer, 4 MiB of files, 512 files, depth 8.
//!
//! The manifest digest is signed like any image (cosign with a key, or
//! Notation; the signature lives next to it in the registry) and verified
//! in-process by the verifiers' own checks against the signer the host
//! pins (`IMG_AUTHZ_BUNDLE_KEY`, or a Notation trust policy and store)
//! before any blob is used; every blob is checked against its digest. The
//! signature is kept with the last known good and verified again, offline,
//! at boot. Modules: [`format`] (bytes ⇄ bundle), [`push`]
//! (`img-authz bundle push`), [`fetch`] (resolve, verify, download),
//! [`evidence`] (the signature checked, online and offline), [`state`]
//! (revision ratchet, last known good on disk), [`serve`] (polling, hot
//! swap, status and metrics).

pub mod evidence;
pub mod fetch;
pub mod format;
pub mod push;
pub mod serve;
pub mod state;

pub use format::Bundle;

/// Why a bundle was not used. The policy in force stays in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The registry could not be asked.
    #[error("registry unreachable: {0}")]
    Unavailable(String),
    /// No signature by the pinned signer.
    #[error("not signed by the pinned bundle signer: {0}")]
    Unsigned(String),
    /// Not a bundle, or one breaking the format's rules.
    #[error("malformed bundle: {0}")]
    Malformed(String),
    /// A blob that does not match its digest.
    #[error("tampered bundle: {0}")]
    Tampered(String),
    /// An older revision, or other content under the revision in force.
    #[error("rollback refused: {0}")]
    Rollback(String),
    /// Signed for another reference or channel than the host follows.
    #[error("bundle out of scope: {0}")]
    OutOfScope(String),
    /// Past its signed expiry, or below the host's minimum revision.
    #[error("bundle expired: {0}")]
    Expired(String),
    /// The policy file inside does not load.
    #[error("invalid policy in the bundle: {0}")]
    Policy(String),
    #[error("{0}")]
    Io(String),
}

/// Why a bundle reference (`IMG_AUTHZ_BUNDLE`, a scope entry, a CLI
/// argument) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("{input:?} is not a registry reference: {cause}")]
    NotAReference {
        input: String,
        cause: crate::request::reference::RefError,
    },
    #[error("{0:?}: name a tag, not a digest: hosts follow the tag and the revision decides")]
    Digest(String),
    #[error("{0:?}: name the registry (oci://registry.example.com/policy/bundle:prod)")]
    NoRegistry(String),
}

/// `oci://HOST[:PORT]/PATH:TAG` (the `oci://` prefix optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleRef {
    pub domain: String,
    pub path: String,
    pub tag: String,
}

impl BundleRef {
    pub fn parse(s: &str) -> Result<BundleRef, RefError> {
        let rest = s.trim().strip_prefix("oci://").unwrap_or(s.trim());
        let r = crate::request::reference::Reference::parse_normalized(rest).map_err(|cause| {
            RefError::NotAReference {
                input: s.to_string(),
                cause,
            }
        })?;
        if r.digest.is_some() {
            return Err(RefError::Digest(s.to_string()));
        }
        // A bundle reference names its registry: no Docker Hub default.
        let explicit = rest
            .split_once('/')
            .is_some_and(|(h, _)| h.contains('.') || h.contains(':') || h == "localhost");
        if !explicit {
            return Err(RefError::NoRegistry(s.to_string()));
        }
        Ok(BundleRef {
            domain: r.domain,
            path: r.path,
            tag: r.tag.unwrap_or_else(|| "latest".into()),
        })
    }

    /// The repository, as the verifiers take it.
    pub fn repo(&self) -> crate::request::reference::Reference {
        crate::request::reference::Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }
}

impl std::fmt::Display for BundleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci://{}/{}:{}", self.domain, self.path, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_references() {
        let r = BundleRef::parse("oci://127.0.0.1:5000/policy/fleet:prod").unwrap();
        assert_eq!(
            (r.domain.as_str(), r.path.as_str(), r.tag.as_str()),
            ("127.0.0.1:5000", "policy/fleet", "prod")
        );
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/policy/fleet:prod");
        let r = BundleRef::parse("registry.example.com/p").unwrap();
        assert_eq!(r.tag, "latest");
        assert!(BundleRef::parse("policy/fleet:prod").is_err());
        assert!(BundleRef::parse(&format!("r.example.com/p@sha256:{}", "a".repeat(64))).is_err());
        assert!(BundleRef::parse("oci://").is_err());
    }
}
