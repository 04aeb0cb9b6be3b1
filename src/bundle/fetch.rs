//! Resolve a bundle's tag, verify its signature, download and check its
//! blobs. Nothing is used before the manifest digest verifies against the
//! pinned signer; every blob is then checked against that manifest.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::evidence::{self, Evidence};
use super::format::{self, Bundle, MAX_CONFIG, MAX_LAYER, MAX_MANIFEST};
use super::{BundleError, BundleRef};
use crate::credentials::Credentials;
use crate::http::HttpClient;
use crate::metrics::Upstream;
use crate::registry::{RegistryClient, RegistryError};
use crate::trust::cosign::keys::PublicKey;
use crate::trust::cosign::{CosignPolicy, Tlog};
use crate::trust::notation::{
    self,
    policy::{Action, Check},
    NotationConfig,
};

/// Why the pinned bundle signer cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("{}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Key {
        path: std::path::PathBuf,
        source: crate::trust::keys::KeyError,
    },
    /// The Notation trust policy or store.
    #[error(transparent)]
    Notation(Box<crate::trust::notation::ConfigError>),
}

/// Why the bundle fetcher cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum FetcherError {
    /// `IMG_AUTHZ_DOCKER_CONFIG` (the loader's message).
    #[error(transparent)]
    Credentials(crate::credentials::LoadError),
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
}

/// Who must have signed a bundle.
#[derive(Clone)]
pub enum Signer {
    /// `cosign sign --key`: the public key, by name for messages.
    CosignKey(Arc<CosignPolicy>),
    /// `notation sign`: a Notation trust policy and trust store, as
    /// `notation verify` reads them; its statement for the bundle's
    /// repository must verify (level `skip` is refused).
    Notation(Arc<NotationConfig>),
}

impl Signer {
    /// The PEM public key in `path` (P-256, P-384, Ed25519, RSA).
    pub fn cosign_key(path: &Path) -> Result<Signer, SignerError> {
        let pem = std::fs::read_to_string(path).map_err(|source| SignerError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let key = PublicKey::from_pem(&pem).map_err(|source| SignerError::Key {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        Ok(Signer::CosignKey(Arc::new(CosignPolicy {
            keys: vec![(name, key)],
            identities: Vec::new(),
            threshold: 1,
            root: None,
            // Bundles are signed offline in CI as easily as online.
            tlog: Tlog::Ignore,
            // The digest is what is signed; the name under which the host
            // reads it (a mirror, another port) must not matter.
            match_reference: false,
        })))
    }

    pub fn notation(trust_policy: &Path, trust_store: &Path) -> Result<Signer, SignerError> {
        Ok(Signer::Notation(Arc::new(
            NotationConfig::load(trust_policy, trust_store)
                .map_err(|e| SignerError::Notation(Box::new(e)))?,
        )))
    }

    pub fn describe(&self) -> String {
        match self {
            Signer::Notation(c) => format!("notation trust policy {}", c.source.display()),
            Signer::CosignKey(p) => p
                .keys
                .iter()
                .map(|(n, _)| format!("cosign key {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// A bundle downloaded and verified, with the bytes it came as and the
/// signature it was verified on (kept with it on disk: a boot checks it
/// again, offline).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub digest: String,
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub bundle: Bundle,
    pub evidence: Evidence,
}

impl Fetched {
    /// Check the bytes of a bundle against each other (manifest → config
    /// and layer digests) and decode it. `digest` is the manifest's. The
    /// caller has verified `evidence` for that digest (online, or offline
    /// for the last known good).
    pub fn from_parts(
        manifest: Vec<u8>,
        config: Vec<u8>,
        layer: Vec<u8>,
        evidence: Evidence,
    ) -> Result<Fetched, BundleError> {
        let m = format::parse_manifest(&manifest)?;
        let [l] = m.layers.as_slice() else {
            return Err(BundleError::Malformed("one layer expected".into()));
        };
        format::check_blob(&m.config, &config)?;
        format::check_blob(l, &layer)?;
        let c = format::parse_config(&config)?;
        let bundle = Bundle::decode(&c, &layer)?;
        Ok(Fetched {
            digest: format::sha256(&manifest),
            manifest,
            config,
            layer,
            bundle,
            evidence,
        })
    }
}

pub struct Fetcher {
    registry: RegistryClient,
    signer: Signer,
    revocation: notation::revocation::Revocation,
}

/// A bundle decides what every image on the host may do, so the Notation
/// statement that covers it must *enforce* integrity, authenticity,
/// revocation and expiry: under `audit` (or an override that logs
/// authenticity) a signature by any key with an intact chain would pass,
/// under `skip` none is needed, and under `permissive` (or an override of
/// revocation or expiry) a revoked or expired signer would still pass.
/// `authenticTimestamp` may be logged.
pub(super) fn enforcing_statement(cfg: &NotationConfig, name: &str) -> Result<(), BundleError> {
    let refuse = |why: String| {
        Err(BundleError::Unsigned(format!(
            "the Notation trust policy {} {why} (a bundle is only taken from a signer the \
             policy authenticates: use level strict without overriding integrity, authenticity, revocation or expiry)",
            cfg.source.display()
        )))
    };
    match cfg.policy.select(name) {
        None => refuse(format!("has no statement for {name}")),
        Some(stmt) => {
            for check in [
                Check::Integrity,
                Check::Authenticity,
                Check::Revocation,
                Check::Expiry,
            ] {
                if stmt.action(check) != Action::Enforce {
                    return refuse(format!(
                        "does not enforce {} for {name} (level {})",
                        check.name(),
                        stmt.level.name()
                    ));
                }
            }
            Ok(())
        }
    }
}

fn registry_error(e: RegistryError) -> BundleError {
    match e {
        RegistryError::BadDigest { .. } => BundleError::Tampered(e.to_string()),
        RegistryError::NotFound { .. } => BundleError::Malformed(e.to_string()),
        e => BundleError::Unavailable(e.to_string()),
    }
}

impl Fetcher {
    /// `docker_config`: credentials for the registry; `insecure`: hosts
    /// reached over plain HTTP when HTTPS fails (loopback always is).
    pub fn new(
        signer: Signer,
        docker_config: Option<&Path>,
        insecure: Vec<String>,
    ) -> Result<Fetcher, FetcherError> {
        let creds = match docker_config {
            Some(p) => Credentials::load(p).map_err(FetcherError::Credentials)?,
            None => Credentials::default(),
        };
        let http = HttpClient::new(
            Upstream::Registry,
            None,
            Arc::new(creds),
            Duration::from_secs(30),
        )?;
        Ok(Fetcher {
            registry: RegistryClient::new(Arc::new(http), insecure),
            signer,
            revocation: notation::revocation::Revocation::new(),
        })
    }

    /// The digest the tag names now (a HEAD request).
    pub async fn head(&self, r: &BundleRef) -> Result<String, BundleError> {
        self.registry
            .manifest_digest(&r.domain, &r.path, &r.tag)
            .await
            .map_err(|e| match e {
                RegistryError::NotFound { .. } => {
                    BundleError::Unavailable(format!("{r} does not exist (yet): {e}"))
                }
                e => registry_error(e),
            })
    }

    /// Manifest `digest` of `r`'s repository: signature first, then blobs.
    pub async fn fetch(&self, r: &BundleRef, digest: &str) -> Result<Fetched, BundleError> {
        let (got, manifest) = self
            .registry
            .get_manifest_limited(&r.domain, &r.path, digest, MAX_MANIFEST)
            .await
            .map_err(registry_error)?
            .ok_or_else(|| BundleError::Unavailable(format!("{r}@{digest} is gone")))?;
        if got != digest {
            return Err(BundleError::Tampered(format!(
                "{r}@{digest}: the manifest hashes to {got}"
            )));
        }
        let m = format::parse_manifest(&manifest)?;
        let evidence = evidence::verify_online(
            &self.signer,
            &self.registry,
            &self.revocation,
            r,
            digest,
            &manifest,
        )
        .await?;
        let [l] = m.layers.as_slice() else {
            return Err(BundleError::Malformed("one layer expected".into()));
        };
        let config = self
            .registry
            .get_blob(&r.domain, &r.path, &m.config.digest, MAX_CONFIG)
            .await
            .map_err(registry_error)?;
        let layer = self
            .registry
            .get_blob(&r.domain, &r.path, &l.digest, MAX_LAYER)
            .await
            .map_err(registry_error)?;
        Fetched::from_parts(manifest.to_vec(), config.to_vec(), layer.to_vec(), evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::notation::policy::TrustPolicy;

    fn cfg(level: &str, overrides: &str) -> NotationConfig {
        // A skip statement names no stores or identities (the spec's rule).
        let trust = if level == "skip" {
            ""
        } else {
            r#","trustStores":["ca:fleet"],"trustedIdentities":["*"]"#
        };
        let doc = format!(
            r#"{{"version":"1.0","trustPolicies":[{{"name":"bundles",
            "registryScopes":["reg.example/fleet/policy"],
            "signatureVerification":{{"level":"{level}"{overrides}}}{trust}}}]}}"#
        );
        let policy = TrustPolicy::parse(doc.as_bytes()).unwrap();
        NotationConfig {
            policy,
            stores: std::collections::BTreeMap::new(),
            source: "/etc/img-authz/bundle-trustpolicy.json".into(),
        }
    }

    #[test]
    fn a_bundle_needs_a_statement_that_enforces_authenticity() {
        let name = "reg.example/fleet/policy";
        assert!(enforcing_statement(&cfg("strict", ""), name).is_ok());
        // authenticTimestamp only matters for expired certificates; logging it is allowed.
        assert!(enforcing_statement(
            &cfg("strict", r#","override":{"authenticTimestamp":"log"}"#),
            name
        )
        .is_ok());
        // audit only logs authenticity: any key with an intact chain would do;
        // permissive (or an override) only logs revocation and expiry: a
        // revoked or expired bundle signer would still pass.
        for (level, ov) in [
            ("audit", ""),
            ("skip", ""),
            ("permissive", ""),
            ("strict", r#","override":{"authenticity":"log"}"#),
            ("strict", r#","override":{"revocation":"skip"}"#),
            ("strict", r#","override":{"expiry":"log"}"#),
        ] {
            let e = enforcing_statement(&cfg(level, ov), name).unwrap_err();
            assert!(
                matches!(&e, BundleError::Unsigned(w) if w.contains("does not enforce")),
                "{level} {ov}: {e}"
            );
        }
        let e = enforcing_statement(&cfg("strict", ""), "reg.example/other").unwrap_err();
        assert!(e.to_string().contains("has no statement"), "{e}");
    }
}
