//! One HTTP/1 client for local APIs: dockerd's socket (or its `tcp://`
//! address) and the plugin's own socket (`img-authz status`). One request
//! per fresh connection: these calls are rare next to the requests they
//! serve, and a fresh unix connection costs microseconds.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::HeaderName;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

impl Endpoint {
    pub fn unix(path: &Path) -> Endpoint {
        Endpoint::Unix(path.to_path_buf())
    }
}

/// Why an exchange failed; each carries the underlying error's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Http1Error {
    /// No connection could be made.
    #[error("{0}")]
    Connect(String),
    /// The connection was made but the request or the answer failed
    /// (including an answer body over the limit).
    #[error("{0}")]
    Exchange(String),
}

/// One request, and the whole answer: status and body (at most
/// `body_limit` bytes when given).
pub async fn request(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    headers: &[(HeaderName, &str)],
    body_limit: Option<usize>,
) -> Result<(StatusCode, Bytes), Http1Error> {
    let exchange = |e: String| Http1Error::Exchange(e);
    let mut req = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(name, *value);
    }
    let req = req
        .body(Full::new(Bytes::new()))
        .map_err(|e| exchange(e.to_string()))?;
    let resp = match endpoint {
        Endpoint::Unix(p) => {
            let s = tokio::net::UnixStream::connect(p)
                .await
                .map_err(|e| Http1Error::Connect(e.to_string()))?;
            send(TokioIo::new(s), req).await
        }
        Endpoint::Tcp(h) => {
            let s = tokio::net::TcpStream::connect(h)
                .await
                .map_err(|e| Http1Error::Connect(e.to_string()))?;
            send(TokioIo::new(s), req).await
        }
    }
    .map_err(|e| exchange(e.to_string()))?;
    let status = resp.status();
    let body = match body_limit {
        Some(limit) => Limited::new(resp.into_body(), limit)
            .collect()
            .await
            .map_err(|e| exchange(e.to_string()))?
            .to_bytes(),
        None => resp
            .into_body()
            .collect()
            .await
            .map_err(|e| exchange(e.to_string()))?
            .to_bytes(),
    };
    Ok((status, body))
}

async fn send<T>(
    io: T,
    req: Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    T: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await
}
