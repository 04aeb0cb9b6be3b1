//! HTTP plumbing shared by the Notary and registry clients: TLS trust,
//! timeouts, size limits, and the Docker token (Bearer) and Basic auth flows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, ACCEPT, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use crate::credentials::{Credential, Credentials};
use crate::metrics::{Upstream, METRICS};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("cannot reach {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("{url} answered more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("authentication to {url} failed: {why}")]
    Auth { url: String, why: String },
    #[error("TLS setup: {0}")]
    Tls(String),
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An HTTP client with one trust store, credentials and a token cache.
pub struct HttpClient {
    client: reqwest::Client,
    /// What this client talks to, for metrics.
    upstream: Upstream,
    creds: Arc<Credentials>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

/// A `WWW-Authenticate: Bearer realm=…,service=…,scope=…` challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Challenge {
    pub scheme: String,
    pub realm: String,
    pub service: String,
    pub scope: String,
}

/// Parse an auth challenge (`Bearer k="v",k2="v2"`).
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    let mut c = Challenge {
        scheme: scheme.to_ascii_lowercase(),
        ..Default::default()
    };
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (k, after) = rest.split_once('=')?;
        let after = after.trim_start();
        let (v, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], q[end + 1..].trim_start())
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "realm" => c.realm = v.to_string(),
            "service" => c.service = v.to_string(),
            "scope" => c.scope = v.to_string(),
            _ => {}
        }
        rest = next.trim_start_matches(',').trim_start();
    }
    Some(c)
}

impl HttpClient {
    /// `ca_pem`: trust exactly these CAs; `None`: the system roots.
    pub fn new(
        upstream: Upstream,
        ca_pem: Option<&str>,
        creds: Arc<Credentials>,
        timeout: Duration,
    ) -> Result<HttpClient, HttpError> {
        let tls = crate::tls::client_config(ca_pem).map_err(|e| HttpError::Tls(e.to_string()))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("img-authz/", env!("CARGO_PKG_VERSION")))
            .hickory_dns(true)
            .build()
            .map_err(|e| HttpError::Tls(e.to_string()))?;
        Ok(HttpClient {
            client,
            upstream,
            creds,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the docker config has credentials for `host`.
    pub fn has_credentials(&self, host: &str) -> bool {
        self.creds.get(host).is_some()
    }

    fn cached_token(&self, key: &str) -> Option<String> {
        let guard = self.tokens.lock().ok()?;
        match guard.get(key) {
            Some((t, exp)) if *exp > Instant::now() => Some(t.clone()),
            _ => None,
        }
    }

    /// One request with Docker-style auth: a cached token is sent up front;
    /// a 401 with a Bearer challenge fetches a token for `scope` and retries
    /// once. Like Docker's clients, we ask for the scope we need, not the one
    /// the challenge names (notary-server's `/v2/` names the catalog).
    /// `cred_host` selects credentials from the docker config.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        accept: &[&str],
        scope: &str,
        cred_host: &str,
        limit: usize,
    ) -> Result<Fetched, HttpError> {
        let origin = origin(url);
        let token_key = format!("{origin} {scope}");
        let token = self.cached_token(&token_key);
        let first = self
            .send(
                method.clone(),
                url,
                accept,
                token.as_deref().map(Auth::Bearer),
                limit,
            )
            .await?;
        if first.status != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let Some(ch) = first
            .headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge)
        else {
            return Ok(first);
        };
        let cred = self.creds.get(cred_host);
        match ch.scheme.as_str() {
            "bearer" => {
                let scope = if scope.is_empty() {
                    ch.scope.as_str()
                } else {
                    scope
                };
                let (tok, ttl) = self.fetch_token(url, &ch, scope, cred).await?;
                if let Ok(mut g) = self.tokens.lock() {
                    // A token is reused until shortly before it expires.
                    g.insert(
                        token_key,
                        (
                            tok.clone(),
                            Instant::now() + ttl.saturating_sub(Duration::from_secs(5)),
                        ),
                    );
                }
                self.send(method, url, accept, Some(Auth::Bearer(&tok)), limit)
                    .await
            }
            "basic" => match cred {
                Some(c) => {
                    self.send(method, url, accept, Some(Auth::Basic(c)), limit)
                        .await
                }
                None => Ok(first),
            },
            _ => Ok(first),
        }
    }

    /// One request without credentials or a token and without the auth
    /// round trip: what may go out over plain HTTP before it is known
    /// whether the registry answers HTTPS ([`crate::registry`]).
    pub async fn request_anonymous(
        &self,
        method: Method,
        url: &str,
        accept: &[&str],
        limit: usize,
    ) -> Result<Fetched, HttpError> {
        self.send(method, url, accept, None, limit).await
    }

    async fn fetch_token(
        &self,
        url: &str,
        ch: &Challenge,
        scope: &str,
        cred: Option<&Credential>,
    ) -> Result<(String, Duration), HttpError> {
        let auth_err = |why: String| HttpError::Auth {
            url: url.to_string(),
            why,
        };
        if ch.realm.is_empty() {
            return Err(auth_err("the Bearer challenge names no realm".into()));
        }
        let mut req = self.client.get(&ch.realm);
        let mut q: Vec<(&str, &str)> = Vec::new();
        if !ch.service.is_empty() {
            q.push(("service", &ch.service));
        }
        if !scope.is_empty() {
            q.push(("scope", scope));
        }
        q.push(("client_id", "img-authz"));
        req = req.query(&q);
        if let Some(c) = cred {
            req = req.basic_auth(&c.username, Some(&c.password));
        }
        let resp = req.send().await.map_err(|e| auth_err(e.to_string()))?;
        let status = resp.status();
        let body = read_limited(resp, 64 * 1024, &ch.realm).await?;
        if !status.is_success() {
            return Err(auth_err(format!(
                "token server {} answered {status}",
                ch.realm
            )));
        }
        #[derive(serde::Deserialize)]
        struct Tok {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
            #[serde(default)]
            expires_in: u64,
        }
        let t: Tok = serde_json::from_slice(&body)
            .map_err(|e| auth_err(format!("bad token response: {e}")))?;
        let tok = if t.token.is_empty() {
            t.access_token
        } else {
            t.token
        };
        if tok.is_empty() {
            return Err(auth_err("the token server returned no token".into()));
        }
        // The distribution spec's default lifetime is 60 s.
        let ttl = Duration::from_secs(if t.expires_in == 0 {
            60
        } else {
            t.expires_in.min(3600)
        });
        Ok((tok, ttl))
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        accept: &[&str],
        auth: Option<Auth<'_>>,
        limit: usize,
    ) -> Result<Fetched, HttpError> {
        let mut req = self.client.request(method, url);
        for a in accept {
            req = req.header(ACCEPT, *a);
        }
        req = match auth {
            Some(Auth::Bearer(t)) => req.bearer_auth(t),
            Some(Auth::Basic(c)) => req.basic_auth(&c.username, Some(&c.password)),
            None => req,
        };
        let start = std::time::Instant::now();
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                METRICS.upstream(self.upstream, false, start.elapsed());
                return Err(HttpError::Unreachable {
                    url: url.to_string(),
                    why: error_chain(&e),
                });
            }
        };
        let status = resp.status();
        METRICS.upstream(self.upstream, !status.is_server_error(), start.elapsed());
        let headers = resp.headers().clone();
        let body = read_limited(resp, limit, url).await?;
        Ok(Fetched {
            status,
            headers,
            body,
        })
    }
}

enum Auth<'a> {
    Bearer(&'a str),
    Basic(&'a Credential),
}

/// `scheme://host[:port]` of a URL, for keying tokens.
fn origin(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    match url[after..].find('/') {
        Some(i) => &url[..after + i],
        None => url,
    }
}

/// Read a body, refusing more than `limit` bytes (the Content-Length is not
/// trusted: the stream is cut as soon as it passes the limit).
async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
    url: &str,
) -> Result<Bytes, HttpError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(HttpError::TooLarge {
            url: url.to_string(),
            limit,
        });
    }
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if buf.len() + c.len() > limit {
                    return Err(HttpError::TooLarge {
                        url: url.to_string(),
                        limit,
                    });
                }
                buf.extend_from_slice(&c);
            }
            Ok(None) => return Ok(Bytes::from(buf)),
            Err(e) => {
                return Err(HttpError::Unreachable {
                    url: url.to_string(),
                    why: error_chain(&e),
                })
            }
        }
    }
}

/// An error with its causes ("connection refused" is usually three levels down).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(r#"Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a/b:pull,push""#)
            .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.realm, "https://auth.io/token");
        assert_eq!(c.service, "registry.io");
        assert_eq!(c.scope, "repository:a/b:pull,push");
        let c = parse_challenge(r#"Basic realm="x""#).unwrap();
        assert_eq!((c.scheme.as_str(), c.realm.as_str()), ("basic", "x"));
        assert_eq!(origin("https://h:1/v2/x"), "https://h:1");
    }
}
