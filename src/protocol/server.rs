//! The plugin's HTTP/1.1 server on a unix socket.
//!
//! dockerd POSTs `/Plugin.Activate`, `/AuthZPlugin.AuthZReq` and
//! `/AuthZPlugin.AuthZRes`. Every authorization call runs in its own task
//! under a deadline, so that a panic or a stall becomes a deny with a message
//! instead of a hung or failed daemon request.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;

use super::wire::{AuthzRequest, AuthzResponse, ACTIVATE_REPLY, PLUGIN_CONTENT_TYPE};

/// Largest call we accept: a 4 MiB request body and a response body, both
/// base64-encoded, plus headers.
pub const MAX_CALL_BYTES: usize = 16 * 1024 * 1024;

/// Which of the two authorization calls is being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Request,
    Response,
}

/// Something that decides authorization calls. Implementations must not
/// panic on purpose, but the server turns a panic into a deny anyway.
pub trait Authorize: Send + Sync + 'static {
    fn authorize(
        &self,
        phase: Phase,
        req: AuthzRequest,
    ) -> impl Future<Output = AuthzResponse> + Send;

    /// Called when a call could not be decided (bad envelope, deadline,
    /// panic), so that it reaches the decision log like any other deny.
    fn undecided(&self, phase: Phase, reason: &str) -> AuthzResponse {
        let _ = phase;
        AuthzResponse::deny(reason)
    }

    /// Whether the response phase's call (the daemon's answer) is needed;
    /// otherwise it is drained unread and allowed.
    fn wants_responses(&self) -> bool {
        false
    }

    /// What `GET /img-authz/status` reports (for `img-authz status`).
    fn status(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// Path of the status endpoint, beside the protocol's.
pub const STATUS_PATH: &str = "/img-authz/status";

/// How long one authorization decision may take before it is denied; the
/// default of `IMG_AUTHZ_DEADLINE_MS` (`config::DEFAULT_DEADLINE`).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Deadline for one authorization decision.
    pub deadline: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            deadline: DEFAULT_DEADLINE,
        }
    }
}

/// Bind the plugin socket: create its directory, replace a stale socket and
/// restrict it to owner and group (0660).
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
            std::fs::remove_file(path)?
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; refusing to replace it",
                    path.display()
                ),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// Serve until `shutdown` completes, then let in-flight calls finish (up to
/// the deadline) before returning.
pub async fn serve<A: Authorize>(
    listener: UnixListener,
    auth: Arc<A>,
    opts: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let auth = auth.clone();
                let opts = opts.clone();
                let svc = service_fn(move |req| handle(auth.clone(), opts.clone(), req));
                let conn = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let deadline = opts.deadline + Duration::from_secs(1);
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("calls still in flight at shutdown were abandoned");
    }
    Ok(())
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(PLUGIN_CONTENT_TYPE),
    );
    r
}

fn json_reply(resp: &AuthzResponse) -> Response<Full<Bytes>> {
    match serde_json::to_vec(resp) {
        Ok(b) => reply(StatusCode::OK, b),
        // Unreachable for this plain struct; still never answer "allow".
        Err(_) => reply(
            StatusCode::OK,
            r#"{"Allow":false,"Msg":"img-authz: internal error","Err":""}"#,
        ),
    }
}

async fn handle<A: Authorize>(
    auth: Arc<A>,
    opts: ServerOptions,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let phase = match (req.method(), req.uri().path()) {
        (&Method::POST, "/Plugin.Activate") => return Ok(reply(StatusCode::OK, ACTIVATE_REPLY)),
        (&Method::POST, "/AuthZPlugin.AuthZReq") => Phase::Request,
        (&Method::POST, "/AuthZPlugin.AuthZRes") => Phase::Response,
        (&Method::GET, STATUS_PATH) => {
            let body = serde_json::to_vec(&auth.status()).unwrap_or_default();
            let mut r = reply(StatusCode::OK, body);
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            return Ok(r);
        }
        _ => {
            return Ok(reply(
                StatusCode::NOT_FOUND,
                r#"{"Err":"unknown plugin method"}"#,
            ))
        }
    };
    if phase == Phase::Response && !auth.wants_responses() {
        // Every check is made on the request; the response call carries the
        // daemon's whole JSON response, which may be large and is not needed.
        // Drain it without keeping it.
        let mut body = req.into_body();
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
        let resp = Box::pin(auth.authorize(phase, AuthzRequest::default())).await;
        return Ok(json_reply(&resp));
    }
    let body = match Limited::new(req.into_body(), MAX_CALL_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        // A response call too large to read is no create's (their answer
        // is an ID); it carries nothing to record.
        Err(_) if phase == Phase::Response => {
            let resp = Box::pin(auth.authorize(phase, AuthzRequest::default())).await;
            return Ok(json_reply(&resp));
        }
        Err(e) => {
            let msg =
                format!("img-authz denied the request: could not read the call from dockerd ({e})");
            return Ok(json_reply(&auth.undecided(phase, &msg)));
        }
    };
    // serde would also accept a struct written as an array; dockerd only
    // ever sends an object.
    let is_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let parsed = if is_object {
        serde_json::from_slice::<AuthzRequest>(&body).map_err(|e| e.to_string())
    } else {
        Err("not a JSON object".to_string())
    };
    let call: AuthzRequest = match parsed {
        Ok(c) => c,
        Err(e) => {
            let msg =
                format!("img-authz denied the request: the call from dockerd is not valid ({e})");
            return Ok(json_reply(&auth.undecided(phase, &msg)));
        }
    };
    // A decision's future holds every branch of the policy (some 15 KiB):
    // boxed once here, it is not copied by value through `spawn` and hyper's
    // dispatcher on every call (that copying was 16 % of the plugin's CPU on
    // the hot path; see BENCHMARKS.md).
    let task = {
        let auth = auth.clone();
        tokio::spawn(async move { Box::pin(auth.authorize(phase, call)).await })
    };
    let abort = task.abort_handle();
    let resp = match tokio::time::timeout(opts.deadline, task).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            let what = if e.is_panic() {
                "an internal error (panic)"
            } else {
                "cancellation"
            };
            tracing::error!(error = %e, "authorization task failed");
            auth.undecided(
                phase,
                &format!("img-authz denied the request: the decision failed with {what}; this is a bug, please report it"),
            )
        }
        Err(_) => {
            abort.abort();
            auth.undecided(
                phase,
                &format!(
                    "img-authz denied the request: no decision within the {} ms deadline (IMG_AUTHZ_DEADLINE_MS); an upstream service may be down",
                    opts.deadline.as_millis()
                ),
            )
        }
    };
    Ok(json_reply(&resp))
}
