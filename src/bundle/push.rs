//! `img-authz bundle push`: upload a bundle with the registry HTTP API
//! (blob uploads, then the manifest under the tag). HTTPS, or plain HTTP
//! for loopback and `--insecure` registries. Credentials: a docker
//! config's `auths` entry for the registry, sent as Basic, or exchanged for
//! a Bearer token when the registry asks for one (Docker's token flow).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use reqwest::{header, Method, StatusCode};

use super::format::{sha256, Encoded, MANIFEST_TYPE};
use super::{BundleError, BundleRef};
use crate::credentials::{Credential, Credentials};

pub struct Pusher {
    client: reqwest::Client,
    base: String,
    scope: String,
    cred: Option<Credential>,
    /// The `Authorization` header that worked, reused for later calls.
    auth: std::sync::Mutex<Option<String>>,
}

fn loopback(domain: &str) -> bool {
    let host = match domain.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|c| c.is_ascii_digit()) => h,
        _ => domain,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|i| i.is_loopback())
}

fn unavailable(e: impl std::fmt::Display) -> BundleError {
    BundleError::Unavailable(e.to_string())
}

impl Pusher {
    pub fn new(
        r: &BundleRef,
        insecure: bool,
        docker_config: Option<&Path>,
    ) -> Result<Pusher, BundleError> {
        let tls = crate::tls::client_config(None).map_err(|e| BundleError::Io(e.to_string()))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("img-authz/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(unavailable)?;
        let cred = match docker_config {
            Some(p) => Credentials::load(p)
                .map_err(|e| BundleError::Io(e.to_string()))?
                .get(&r.domain)
                .cloned(),
            None => None,
        };
        let scheme = if insecure || loopback(&r.domain) {
            "http"
        } else {
            "https"
        };
        Ok(Pusher {
            client,
            base: format!("{scheme}://{}/v2/{}", r.domain, r.path),
            scope: format!("repository:{}:pull,push", r.path),
            cred,
            auth: std::sync::Mutex::new(None),
        })
    }

    fn basic(&self) -> Option<String> {
        self.cred.as_ref().map(|c| {
            let raw = format!("{}:{}", c.username, c.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        })
    }

    /// A Bearer token for our scope from the challenge's realm.
    async fn token(&self, challenge: &str) -> Result<Option<String>, BundleError> {
        let Some(c) = crate::http::parse_challenge(challenge) else {
            return Ok(None);
        };
        if c.scheme == "basic" {
            return Ok(self.basic());
        }
        if c.scheme != "bearer" || c.realm.is_empty() {
            return Ok(None);
        }
        let mut req = self
            .client
            .get(&c.realm)
            .query(&[("service", c.service.as_str()), ("scope", &self.scope)]);
        if let Some(b) = self.basic() {
            req = req.header(header::AUTHORIZATION, b);
        }
        let resp = req.send().await.map_err(unavailable)?;
        if !resp.status().is_success() {
            return Err(BundleError::Unavailable(format!(
                "token server {} answered {}",
                c.realm,
                resp.status()
            )));
        }
        let v: serde_json::Value = resp.json().await.map_err(unavailable)?;
        Ok(v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .map(|t| format!("Bearer {t}")))
    }

    /// One call; on a 401 authenticate once and retry.
    async fn call(
        &self,
        method: Method,
        url: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<reqwest::Response, BundleError> {
        let mut retried = false;
        loop {
            let mut req = self.client.request(method.clone(), url);
            if let Some(ct) = content_type {
                req = req.header(header::CONTENT_TYPE, ct);
            }
            if let Some(b) = body {
                req = req.body(b.to_vec());
            }
            let auth = self.auth.lock().ok().and_then(|a| a.clone());
            if let Some(a) = auth {
                req = req.header(header::AUTHORIZATION, a);
            }
            let resp = req.send().await.map_err(unavailable)?;
            if resp.status() != StatusCode::UNAUTHORIZED || retried {
                return Ok(resp);
            }
            retried = true;
            let challenge = resp
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            match self.token(&challenge).await? {
                Some(a) => {
                    if let Ok(mut slot) = self.auth.lock() {
                        *slot = Some(a);
                    }
                }
                None => return Ok(resp),
            }
        }
    }

    async fn blob(&self, data: &[u8]) -> Result<(), BundleError> {
        let digest = sha256(data);
        let head = self
            .call(
                Method::HEAD,
                &format!("{}/blobs/{digest}", self.base),
                None,
                None,
            )
            .await?;
        if head.status() == StatusCode::OK {
            return Ok(());
        }
        let start = self
            .call(
                Method::POST,
                &format!("{}/blobs/uploads/", self.base),
                None,
                None,
            )
            .await?;
        if start.status() != StatusCode::ACCEPTED {
            return Err(refused("starting a blob upload", start).await);
        }
        let location = start
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| BundleError::Unavailable("upload without a Location".into()))?;
        let mut url = if location.starts_with('/') {
            let origin = self.base.split("/v2/").next().unwrap_or_default();
            format!("{origin}{location}")
        } else {
            location.to_string()
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        let put = self
            .call(
                Method::PUT,
                &url,
                Some("application/octet-stream"),
                Some(data),
            )
            .await?;
        if put.status() != StatusCode::CREATED {
            return Err(refused(&format!("uploading blob {digest}"), put).await);
        }
        Ok(())
    }

    /// Upload the blobs and the manifest under `tag`; the manifest digest.
    pub async fn push(&self, tag: &str, e: &Encoded) -> Result<String, BundleError> {
        self.blob(&e.config).await?;
        self.blob(&e.layer).await?;
        let put = self
            .call(
                Method::PUT,
                &format!("{}/manifests/{tag}", self.base),
                Some(MANIFEST_TYPE),
                Some(&e.manifest),
            )
            .await?;
        if put.status() != StatusCode::CREATED {
            return Err(refused("storing the manifest", put).await);
        }
        Ok(sha256(&e.manifest))
    }
}

async fn refused(what: &str, resp: reqwest::Response) -> BundleError {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(300).collect();
    BundleError::Unavailable(format!("{what}: the registry answered {status}: {body}"))
}
