//! Running as a service: the listening socket (bound, or passed by systemd
//! socket activation), signals, the metrics listener, and the unix-socket
//! request `img-authz status` makes.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use crate::metrics::METRICS;
use crate::plugin::Plugin;
use crate::protocol;

/// The plugin's listener: the socket systemd passed (`LISTEN_FDS`), or a
/// fresh one at `path`. The flag says which.
pub fn listener(path: &Path) -> std::io::Result<(UnixListener, bool)> {
    let mut fds = listenfd::ListenFd::from_env();
    if let Some(std_listener) = fds.take_unix_listener(0)? {
        std_listener.set_nonblocking(true)?;
        return Ok((UnixListener::from_std(std_listener)?, true));
    }
    Ok((protocol::bind(path)?, false))
}

/// SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers we still serve; the process can be killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Reload the policy file on SIGHUP and whenever it changes. A file that
/// fails validation is refused, with an error logged, and the policy in
/// force stays: never a silent fall to allow-all or deny-all.
pub fn spawn_reloader(plugin: Arc<Plugin>, cfg: crate::config::Config, path: std::path::PathBuf) {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let mut hup = signal(SignalKind::hangup()).ok();
        let mut seen = fingerprint(&path);
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            let by_signal = tokio::select! {
                _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => true,
                _ = tick.tick() => false,
            };
            let now = fingerprint(&path);
            if !by_signal && now == seen {
                continue;
            }
            seen = now;
            reload(
                &plugin,
                &cfg,
                &path,
                if by_signal { "SIGHUP" } else { "file change" },
            );
        }
    });
}

/// What identifies a version of the file: its content.
fn fingerprint(path: &Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

/// Load, validate and put in force the policy at `path`; on any error keep
/// the current one. Returns whether the new policy is in force.
pub fn reload(plugin: &Plugin, cfg: &crate::config::Config, path: &Path, why: &str) -> bool {
    let file = match crate::policy::file::load(path) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(policy = %path.display(), trigger = why, errors = %e, "policy reload refused; the running policy stays");
            RELOADS.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
    };
    match crate::policy::Policy::new(cfg.clone(), Some(file)) {
        Ok(p) => {
            plugin.replace_policy(p);
            RELOADS.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(policy = %path.display(), trigger = why, "policy reloaded");
            true
        }
        Err(e) => {
            tracing::error!(policy = %path.display(), trigger = why, error = %e, "policy reload refused; the running policy stays");
            RELOADS.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            false
        }
    }
}

/// Reloads done and refused.
pub static RELOADS: (std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64) = (
    std::sync::atomic::AtomicU64::new(0),
    std::sync::atomic::AtomicU64::new(0),
);

/// Serve `GET /metrics` on `addr` (`HOST:PORT` or `unix:PATH`) in the background.
pub async fn spawn_metrics(addr: &str, plugin: Arc<Plugin>) -> std::io::Result<()> {
    enum L {
        Tcp(tokio::net::TcpListener),
        Unix(UnixListener),
    }
    let l = match addr.strip_prefix("unix:") {
        Some(p) => L::Unix(protocol::bind(Path::new(p))?),
        None => L::Tcp(tokio::net::TcpListener::bind(addr).await?),
    };
    tracing::info!(addr, "serving metrics");
    tokio::spawn(async move {
        loop {
            let plugin = plugin.clone();
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let plugin = plugin.clone();
                async move {
                    let (status, body) =
                        if req.method() == Method::GET && req.uri().path() == "/metrics" {
                            (
                                StatusCode::OK,
                                METRICS.render(&plugin.cache_figures())
                                    + &crate::bundle::serve::metrics_text(),
                            )
                        } else {
                            (StatusCode::NOT_FOUND, "see /metrics\n".to_string())
                        };
                    let mut r = Response::new(Full::new(Bytes::from(body)));
                    *r.status_mut() = status;
                    r.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
                    );
                    Ok::<_, Infallible>(r)
                }
            });
            let conn = match &l {
                L::Tcp(t) => t.accept().await.map(|(s, _)| {
                    tokio::spawn(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(s), svc),
                    )
                }),
                L::Unix(u) => u.accept().await.map(|(s, _)| {
                    tokio::spawn(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(s), svc),
                    )
                }),
            };
            if let Err(e) = conn {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    Ok(())
}

/// Why a request over a unix socket failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnixRequestError {
    #[error("cannot connect to {}: {why}", socket.display())]
    Connect {
        socket: std::path::PathBuf,
        why: String,
    },
    /// Connected; the request or the answer failed.
    #[error("{0}")]
    Exchange(String),
}

/// One request over a unix socket.
pub async fn unix_request(
    socket: &Path,
    method: Method,
    path: &str,
) -> Result<(StatusCode, Bytes), UnixRequestError> {
    use crate::unix_http::{request, Endpoint, Http1Error};
    request(
        &Endpoint::unix(socket),
        method,
        path,
        &[(hyper::header::HOST, "plugin")],
        None,
    )
    .await
    .map_err(|e| match e {
        Http1Error::Connect(why) => UnixRequestError::Connect {
            socket: socket.to_path_buf(),
            why,
        },
        Http1Error::Exchange(e) => UnixRequestError::Exchange(e),
    })
}
