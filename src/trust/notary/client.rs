//! Fetching Notary metadata over HTTPS, with the server's token auth.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::{Method, StatusCode};

use crate::http::{HttpClient, HttpError};

use super::{TufError, Unreachable};

/// Where role files come from. Implemented over HTTP for real servers and
/// in memory for tests.
#[async_trait]
pub trait Fetch: Send + Sync {
    /// `file` is e.g. `timestamp.json`, `snapshot.<hex>.json`,
    /// `2.root.json`. `None` when the server has no such file. At most
    /// `limit` bytes are read.
    async fn fetch(&self, gun: &str, file: &str, limit: usize) -> Result<Option<Bytes>, TufError>;

    /// The server, for messages.
    fn server(&self) -> String {
        "the notary server".to_string()
    }
}

/// A Notary server over HTTPS.
pub struct HttpFetch {
    base: String,
    host: String,
    http: Arc<HttpClient>,
}

impl HttpFetch {
    /// `base`: the server URL, e.g. `https://notary.example.com:4443`.
    pub fn new(base: &str, http: Arc<HttpClient>) -> HttpFetch {
        let host = base
            .split_once("://")
            .map_or(base, |(_, r)| r)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        HttpFetch {
            base: base.trim_end_matches('/').to_string(),
            host,
            http,
        }
    }
}

#[async_trait]
impl Fetch for HttpFetch {
    fn server(&self) -> String {
        self.base.clone()
    }

    async fn fetch(&self, gun: &str, file: &str, limit: usize) -> Result<Option<Bytes>, TufError> {
        let url = format!("{}/v2/{gun}/_trust/tuf/{file}", self.base);
        // Docker asks the notary server for `repository:<GUN>:pull`, the
        // host included; credentials are those of the notary host, else of
        // the image's registry.
        let scope = format!("repository:{gun}:pull");
        let cred_host = gun.split('/').next().unwrap_or_default();
        let cred_host = if self.http_has_creds(&self.host) {
            &self.host
        } else {
            cred_host
        };
        let r = self
            .http
            .request(
                Method::GET,
                &url,
                &["application/json"],
                &scope,
                cred_host,
                limit,
            )
            .await
            .map_err(|e| match e {
                HttpError::TooLarge { .. } => {
                    TufError::TooLarge(format!("{file} is larger than {limit} bytes"))
                }
                e => TufError::Unavailable(e.into()),
            })?;
        match r.status {
            StatusCode::OK => Ok(Some(r.body)),
            StatusCode::NOT_FOUND => Ok(None),
            status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                Err(TufError::Unavailable(Unreachable::Refused {
                    server: self.base.clone(),
                    gun: gun.to_string(),
                    status,
                }))
            }
            status => Err(TufError::Unavailable(Unreachable::Status {
                server: self.base.clone(),
                file: file.to_string(),
                status,
            })),
        }
    }
}

impl HttpFetch {
    fn http_has_creds(&self, host: &str) -> bool {
        self.http.has_credentials(host)
    }
}
