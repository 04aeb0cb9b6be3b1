//! Registry client: which manifest digest a registry serves for a tag now,
//! and the manifests, blobs and referrers that carry cosign signatures.

use std::sync::Arc;

use bytes::Bytes;
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::http::{Fetched, HttpClient, HttpError};
use crate::request::reference::validate_digest;

mod insecure;

use insecure::{explicit_port, is_loopback, AbortOnDrop, Hosts, Speaks};

/// Every manifest type dockerd pulls; schema 1 is not accepted.
pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

/// Manifests larger than this are refused (dockerd's own limit is 4 MiB).
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;

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

/// Cheap to clone: clones share connections, tokens and what was learnt
/// about plain-HTTP hosts.
#[derive(Clone)]
pub struct RegistryClient {
    https: Arc<HttpClient>,
    /// Hosts reached over plain HTTP when HTTPS fails, like dockerd's
    /// insecure registries (loopback is always insecure there).
    insecure: Vec<String>,
    /// What insecure hosts that name their port were found to speak.
    hosts: Hosts,
}

/// A manifest reference as its registry resolves it ([`RegistryClient::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Checked to be a digest (and a GET body's own hash).
    pub digest: String,
    /// `Content-Type`, when the registry sent one.
    pub media_type: Option<String>,
    /// `Content-Length` (a GET's body length), when the registry sent one.
    pub size: Option<u64>,
}

/// The API host of a registry domain (Docker Hub's API is elsewhere).
fn api_host(domain: &str) -> &str {
    if domain == "docker.io" {
        "registry-1.docker.io"
    } else {
        domain
    }
}

/// A 200, or the error for what the registry answered instead.
fn ok_status(status: StatusCode, domain: &str, what: &str) -> Result<(), RegistryError> {
    match status {
        StatusCode::OK => Ok(()),
        StatusCode::NOT_FOUND => Err(RegistryError::NotFound {
            registry: domain.to_string(),
            reference: what.to_string(),
        }),
        s => Err(RegistryError::Status {
            registry: domain.to_string(),
            reference: what.to_string(),
            status: s.as_u16(),
        }),
    }
}

/// A digest we cannot recompute is not fetched.
fn not_sha256(domain: &str, what: String) -> RegistryError {
    RegistryError::BadDigest {
        registry: domain.to_string(),
        reference: what,
        why: "only sha256 digests are checked".into(),
    }
}

fn sha256_of(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

impl RegistryClient {
    pub fn new(https: Arc<HttpClient>, insecure: Vec<String>) -> RegistryClient {
        RegistryClient {
            https,
            insecure,
            hosts: Hosts::default(),
        }
    }

    /// HTTPS, with an anonymous plain-HTTP request of the same resource
    /// sent at once beside it; the second result (the plain answer) is
    /// there only when HTTPS was unreachable.
    #[allow(
        clippy::too_many_arguments,
        reason = "the request's parts, passed through"
    )]
    async fn https_beside_plain(
        &self,
        method: Method,
        https: &str,
        plain: &str,
        accept: &[&str],
        scope: &str,
        domain: &str,
        limit: usize,
    ) -> (
        Result<Fetched, HttpError>,
        Option<Result<Fetched, HttpError>>,
    ) {
        // The TLS attempt is a task of its own, so that the other worker
        // can run it: polled inside this task, its set-up (a process's first
        // handshake: code and crypto brought in) shared a worker with the
        // plain request's connection task, which in traces waited until the
        // handshake had failed (first Notation pull 0.3-0.7 ms faster so).
        let tls = {
            let (client, method, url) =
                (Arc::clone(&self.https), method.clone(), https.to_string());
            let accept: Vec<String> = accept.iter().map(|a| a.to_string()).collect();
            let (scope, domain) = (scope.to_string(), domain.to_string());
            AbortOnDrop(tokio::spawn(async move {
                let accept: Vec<&str> = accept.iter().map(String::as_str).collect();
                client
                    .request(method, &url, &accept, &scope, &domain, limit)
                    .await
            }))
        };
        let anon = self.https.request_anonymous(method, plain, accept, limit);
        tokio::pin!(tls);
        tokio::pin!(anon);
        let mut early = None;
        let r = loop {
            tokio::select! {
                r = &mut tls => break r,
                p = &mut anon, if early.is_none() => early = Some(p),
            }
        };
        match r {
            Err(HttpError::Unreachable { .. }) => {
                let p = match early {
                    Some(p) => p,
                    None => anon.await,
                };
                (r, Some(p))
            }
            // Answered over HTTPS: the plain request, if still under way,
            // is dropped (and its connection with it).
            r => (r, None),
        }
    }

    fn insecure(&self, domain: &str) -> bool {
        is_loopback(domain) || self.insecure.iter().any(|h| h.eq_ignore_ascii_case(domain))
    }

    /// One call to `/v2/<path>/<what>`, over HTTPS, or HTTP when HTTPS is
    /// unreachable on an insecure registry (as dockerd does).
    async fn call(
        &self,
        method: Method,
        domain: &str,
        path: &str,
        what: &str,
        accept: &[&str],
        limit: usize,
    ) -> Result<Fetched, RegistryError> {
        let host = api_host(domain);
        let scope = format!("repository:{path}:pull");
        let http = || format!("http://{host}/v2/{path}/{what}");
        let insecure = self.insecure(domain);
        if insecure && self.hosts.known_plain(host) {
            match self
                .https
                .request(method.clone(), &http(), accept, &scope, domain, limit)
                .await
            {
                // HTTP gone, or a 400 as a TLS-only server gives a plain
                // request: HTTPS first again, as for an unknown host.
                Err(HttpError::Unreachable { .. }) => self.hosts.learn(host, None),
                Ok(r) if r.status == StatusCode::BAD_REQUEST => self.hosts.learn(host, None),
                r => return Ok(r?),
            }
        }
        let https = format!("https://{host}/v2/{path}/{what}");
        // An insecure registry that names its port answers HTTPS and HTTP
        // on one socket. Not yet known which: the plain request goes out at
        // once beside the TLS handshake, without credentials or token, and
        // its answer counts only when HTTPS is unreachable (dockerd's order:
        // HTTPS first). A first call then does not wait for the failed
        // handshake before its real request.
        let race = insecure && explicit_port(host) && self.hosts.speaks(host).is_none();
        let (tls, early) = if race {
            self.https_beside_plain(
                method.clone(),
                &https,
                &http(),
                accept,
                &scope,
                domain,
                limit,
            )
            .await
        } else {
            let r = self
                .https
                .request(method.clone(), &https, accept, &scope, domain, limit)
                .await;
            (r, None)
        };
        match tls {
            Ok(r) => {
                if insecure {
                    self.hosts.learn(host, Some(Speaks::Tls));
                }
                Ok(r)
            }
            Err(HttpError::Unreachable { .. }) if insecure => {
                let r = match early {
                    // Only a success stands for the full request: a 401
                    // needs the auth round trip, and a registry may answer
                    // an anonymous caller 403 or 404 for what a token sees.
                    Some(Ok(r)) if r.status.is_success() => r,
                    Some(Err(e)) => return Err(e.into()),
                    _ => {
                        self.https
                            .request(method, &http(), accept, &scope, domain, limit)
                            .await?
                    }
                };
                self.hosts.learn(host, Some(Speaks::Plain));
                Ok(r)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The digest `domain/path:reference` resolves to at the registry now.
    pub async fn manifest_digest(
        &self,
        domain: &str,
        path: &str,
        reference: &str,
    ) -> Result<String, RegistryError> {
        Ok(self.resolve(domain, path, reference).await?.digest)
    }

    /// What `domain/path:reference` resolves to at the registry now, asked
    /// as dockerd asks before a pull (a `HEAD` of the manifest; both image
    /// stores do) and as notation resolves a reference: the digest, and the
    /// media type and size the registry states for it.
    pub async fn resolve(
        &self,
        domain: &str,
        path: &str,
        reference: &str,
    ) -> Result<Resolved, RegistryError> {
        let what = format!("{domain}/{path}:{reference}");
        let resource = format!("manifests/{reference}");
        let mut resp = self
            .call(
                Method::HEAD,
                domain,
                path,
                &resource,
                MANIFEST_TYPES,
                MAX_MANIFEST,
            )
            .await?;
        if resp.status == StatusCode::METHOD_NOT_ALLOWED {
            // Some registries refuse HEAD; GET has the same semantics.
            resp = self
                .call(
                    Method::GET,
                    domain,
                    path,
                    &resource,
                    MANIFEST_TYPES,
                    MAX_MANIFEST,
                )
                .await?;
        }
        ok_status(resp.status, domain, &what)?;
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
            None => sha256_of(&resp.body),
        };
        validate_digest(&digest).map_err(|e| bad(e.to_string()))?;
        // A GET body must hash to the digest the registry claims.
        if !resp.body.is_empty() && digest.starts_with("sha256:") {
            let actual = sha256_of(&resp.body);
            if actual != digest {
                return Err(bad(format!(
                    "header says {digest}, body hashes to {actual}"
                )));
            }
        }
        let header = |name| resp.headers.get(name).and_then(|v| v.to_str().ok());
        // Without its parameters, lower case: as notation (oras) reads it.
        let media_type = header(reqwest::header::CONTENT_TYPE)
            .and_then(|t| t.split(';').next())
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty());
        let size = if resp.body.is_empty() {
            header(reqwest::header::CONTENT_LENGTH).and_then(|n| n.trim().parse::<u64>().ok())
        } else {
            Some(resp.body.len() as u64)
        };
        // dockerd would not read it: not a manifest to sign or pull.
        if size.is_some_and(|n| n > MAX_MANIFEST as u64) {
            return Err(bad(format!(
                "the registry states {} bytes, over the {MAX_MANIFEST}-byte manifest limit",
                size.unwrap_or_default()
            )));
        }
        Ok(Resolved {
            digest,
            media_type,
            size,
        })
    }

    /// A manifest by tag or digest, with its digest (checked against the
    /// body). `None` when the registry has none.
    pub async fn get_manifest(
        &self,
        domain: &str,
        path: &str,
        reference: &str,
    ) -> Result<Option<(String, Bytes)>, RegistryError> {
        self.get_manifest_limited(domain, path, reference, MAX_MANIFEST)
            .await
    }

    /// [`get_manifest`](Self::get_manifest), refusing more than `limit` bytes.
    pub async fn get_manifest_limited(
        &self,
        domain: &str,
        path: &str,
        reference: &str,
        limit: usize,
    ) -> Result<Option<(String, Bytes)>, RegistryError> {
        let what = format!("{domain}/{path}:{reference}");
        // A tag has no ':'; a digest we cannot recompute is not fetched.
        if reference.contains(':') && !reference.starts_with("sha256:") {
            return Err(not_sha256(domain, what));
        }
        let resp = self
            .call(
                Method::GET,
                domain,
                path,
                &format!("manifests/{reference}"),
                MANIFEST_TYPES,
                limit,
            )
            .await?;
        match resp.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            s => {
                return Err(RegistryError::Status {
                    registry: domain.to_string(),
                    reference: what,
                    status: s.as_u16(),
                })
            }
        }
        let digest = sha256_of(&resp.body);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(RegistryError::BadDigest {
                registry: domain.to_string(),
                reference: what,
                why: format!("the body hashes to {digest}"),
            });
        }
        Ok(Some((digest, resp.body)))
    }

    /// A blob, checked against its digest.
    pub async fn get_blob(
        &self,
        domain: &str,
        path: &str,
        digest: &str,
        limit: usize,
    ) -> Result<Bytes, RegistryError> {
        let what = format!("{domain}/{path}@{digest}");
        validate_digest(digest).map_err(|e| RegistryError::BadDigest {
            registry: domain.to_string(),
            reference: what.clone(),
            why: e.to_string(),
        })?;
        if !digest.starts_with("sha256:") {
            return Err(not_sha256(domain, what));
        }
        let resp = self
            .call(
                Method::GET,
                domain,
                path,
                &format!("blobs/{digest}"),
                &["*/*"],
                limit,
            )
            .await?;
        ok_status(resp.status, domain, &what)?;
        if sha256_of(&resp.body) != digest {
            return Err(RegistryError::BadDigest {
                registry: domain.to_string(),
                reference: what,
                why: "the blob does not hash to its digest".into(),
            });
        }
        Ok(resp.body)
    }

    /// The pages of the OCI 1.1 referrers index of `digest` (following
    /// `Link: <…>; rel="next"` up to [`MAX_REFERRER_PAGES`]), or `None` when
    /// the registry has no referrers API (404, or 400/405 from registries
    /// that do not route it) — callers then use the tag scheme.
    pub async fn referrers(
        &self,
        domain: &str,
        path: &str,
        digest: &str,
    ) -> Result<Option<Vec<Bytes>>, RegistryError> {
        let base = format!("referrers/{digest}");
        let mut what = base.clone();
        let mut pages = Vec::new();
        // Pages are held together: past MAX_MANIFEST bytes in all (a
        // hostile registry's worth), no further page is asked for.
        let mut total = 0;
        while pages.len() < MAX_REFERRER_PAGES && total < MAX_MANIFEST {
            let resp = self
                .call(
                    Method::GET,
                    domain,
                    path,
                    &what,
                    &["application/vnd.oci.image.index.v1+json"],
                    MAX_MANIFEST,
                )
                .await?;
            match resp.status {
                StatusCode::OK => {}
                // Only the first page tells whether the API exists.
                StatusCode::NOT_FOUND
                | StatusCode::BAD_REQUEST
                | StatusCode::METHOD_NOT_ALLOWED
                    if pages.is_empty() =>
                {
                    return Ok(None)
                }
                s => {
                    return Err(RegistryError::Status {
                        registry: domain.to_string(),
                        reference: format!("{domain}/{path} referrers of {digest}"),
                        status: s.as_u16(),
                    })
                }
            }
            total += resp.body.len();
            pages.push(resp.body);
            match next_page(&resp.headers, api_host(domain), path, &base) {
                Some(next) => what = next,
                None => break,
            }
        }
        Ok(Some(pages))
    }
}

/// Referrers pages read per image (and at most [`MAX_MANIFEST`] bytes of
/// them); a registry paginating further is cut off there (the signatures
/// on later pages are not seen).
pub const MAX_REFERRER_PAGES: usize = 8;

/// The next referrers page from a `Link: <url>; rel="next"` header, as the
/// `referrers/<digest>?<query>` resource of the same repository. A link to
/// another host, repository or resource is not followed.
fn next_page(
    headers: &reqwest::header::HeaderMap,
    host: &str,
    path: &str,
    base: &str,
) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let (url, params) = link.trim().split_once(';').unwrap_or((link.trim(), ""));
            let next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            });
            if !next {
                continue;
            }
            let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
            let rel = match url.split_once("://") {
                Some((scheme, rest)) if scheme == "https" || scheme == "http" => {
                    let (h, p) = rest.split_at(rest.find('/')?);
                    if !h.eq_ignore_ascii_case(host) {
                        return None;
                    }
                    p
                }
                Some(_) => return None,
                None => url,
            };
            let query = rel.strip_prefix(&format!("/v2/{path}/{base}?"))?;
            let plain = |c: char| c.is_ascii_alphanumeric() || "-._~%=&+:".contains(c);
            if query.is_empty() || !query.chars().all(plain) {
                return None;
            }
            return Some(format!("{base}?{query}"));
        }
    }
    None
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
