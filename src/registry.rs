//! Registry client: which manifest digest a registry serves for a tag now.

use std::net::IpAddr;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::http::{HttpClient, HttpError};
use crate::request::reference::validate_digest;

/// Every manifest type dockerd pulls; schema 1 is not accepted.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

/// Manifests larger than this are refused (dockerd's own limit is 4 MiB).
const MAX_MANIFEST: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("registry {registry} has no manifest for {reference}")]
    NotFound { registry: String, reference: String },
    #[error("registry {registry} answered {status} for {reference}")]
    Status {
        registry: String,
        reference: String,
        status: u16,
    },
    #[error("registry {registry} served an unusable digest for {reference}: {why}")]
    BadDigest {
        registry: String,
        reference: String,
        why: String,
    },
}

/// Cheap to clone: clones share connections and tokens.
#[derive(Clone)]
pub struct RegistryClient {
    https: Arc<HttpClient>,
    /// Hosts reached over plain HTTP when HTTPS fails, like dockerd's
    /// insecure registries (loopback is always insecure there).
    insecure: Vec<String>,
}

/// The API host of a registry domain (Docker Hub's API is elsewhere).
fn api_host(domain: &str) -> &str {
    if domain == "docker.io" {
        "registry-1.docker.io"
    } else {
        domain
    }
}

/// dockerd treats 127.0.0.0/8 and `localhost` as insecure registries.
fn is_loopback(domain: &str) -> bool {
    let host = match domain.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|c| c.is_ascii_digit()) => h,
        _ => domain,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl RegistryClient {
    pub fn new(https: Arc<HttpClient>, insecure: Vec<String>) -> RegistryClient {
        RegistryClient { https, insecure }
    }

    fn insecure(&self, domain: &str) -> bool {
        is_loopback(domain) || self.insecure.iter().any(|h| h.eq_ignore_ascii_case(domain))
    }

    /// The digest `domain/path:reference` resolves to at the registry now.
    pub async fn manifest_digest(
        &self,
        domain: &str,
        path: &str,
        reference: &str,
    ) -> Result<String, RegistryError> {
        let host = api_host(domain);
        let scope = format!("repository:{path}:pull");
        let what = format!("{domain}/{path}:{reference}");
        let https = format!("https://{host}/v2/{path}/manifests/{reference}");
        let fetch = |url: String, method: Method| {
            let scope = scope.clone();
            async move {
                self.https
                    .request(method, &url, MANIFEST_TYPES, &scope, domain, MAX_MANIFEST)
                    .await
            }
        };
        let (resp, url) = match fetch(https.clone(), Method::HEAD).await {
            Ok(r) => (r, https),
            Err(HttpError::Unreachable { .. }) if self.insecure(domain) => {
                let http = format!("http://{host}/v2/{path}/manifests/{reference}");
                (fetch(http.clone(), Method::HEAD).await?, http)
            }
            Err(e) => return Err(e.into()),
        };
        let resp = match resp.status {
            StatusCode::OK => resp,
            StatusCode::NOT_FOUND => {
                return Err(RegistryError::NotFound {
                    registry: domain.to_string(),
                    reference: what,
                })
            }
            // Some registries refuse HEAD; GET has the same semantics.
            StatusCode::METHOD_NOT_ALLOWED => fetch(url, Method::GET).await?,
            s => {
                return Err(RegistryError::Status {
                    registry: domain.to_string(),
                    reference: what,
                    status: s.as_u16(),
                })
            }
        };
        let bad = |why: String| RegistryError::BadDigest {
            registry: domain.to_string(),
            reference: what.clone(),
            why,
        };
        let digest = match resp
            .headers
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
        {
            Some(d) => d.trim().to_string(),
            None if resp.body.is_empty() => {
                return Err(bad("no Docker-Content-Digest header".into()))
            }
            None => format!("sha256:{:x}", Sha256::digest(&resp.body)),
        };
        validate_digest(&digest).map_err(|e| bad(e.to_string()))?;
        // A GET body must hash to the digest the registry claims.
        if !resp.body.is_empty() && digest.starts_with("sha256:") {
            let actual = format!("sha256:{:x}", Sha256::digest(&resp.body));
            if actual != digest {
                return Err(bad(format!(
                    "header says {digest}, body hashes to {actual}"
                )));
            }
        }
        Ok(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_insecure_like_dockerd() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.1.2.3"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("reg.local:5000"));
        assert!(!is_loopback("10.0.0.1:5000"));
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
    }
}
