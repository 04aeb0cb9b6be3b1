//! The plugin server over a real unix socket: protocol endpoints, concurrency,
//! and fail-closed handling of panics, stalls and malformed calls.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use img_authz::protocol::{self, Authorize, AuthzRequest, AuthzResponse, Phase, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Allows everything except the URIs it is told to misbehave on.
struct Scripted;

impl Authorize for Scripted {
    async fn authorize(&self, _phase: Phase, req: AuthzRequest) -> AuthzResponse {
        match req.request_uri.as_str() {
            "/panic" => panic!("scripted panic"),
            "/stall" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                AuthzResponse::allow()
            }
            "/slow" => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                AuthzResponse::allow()
            }
            _ => AuthzResponse::allow(),
        }
    }
}

async fn post(sock: &Path, path: &str, body: &str) -> (u16, String) {
    let mut s = UnixStream::connect(sock).await.unwrap();
    let msg = format!(
        "POST {path} HTTP/1.1\r\nHost: plugin\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(msg.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn authz(uri: &str) -> String {
    serde_json::json!({"RequestMethod":"GET","RequestUri":uri}).to_string()
}

async fn start(
    dir: &Path,
) -> (
    std::path::PathBuf,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let sock = dir.join("p.sock");
    let listener = protocol::bind(&sock).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // Long enough that a panic's backtrace (RUST_BACKTRACE=1, debug build,
    // busy CI machine) is printed before it: the panic must be reported as a
    // panic, not as a missed deadline.
    let opts = ServerOptions {
        deadline: Duration::from_millis(2500),
    };
    let h = tokio::spawn(async move {
        protocol::serve(listener, Arc::new(Scripted), opts, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (sock, tx, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_endpoints_and_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, stop, handle) = start(dir.path()).await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o660
    );

    let (st, body) = post(&sock, "/Plugin.Activate", "").await;
    assert_eq!((st, body.as_str()), (200, r#"{"Implements":["authz"]}"#));

    let (st, body) = post(&sock, "/AuthZPlugin.AuthZReq", &authz("/ok")).await;
    assert_eq!(st, 200);
    let r: AuthzResponse = serde_json::from_str(&body).unwrap();
    assert!(r.allow);

    // A panic inside a decision is a deny with a message, and the server lives on.
    let (_, body) = post(&sock, "/AuthZPlugin.AuthZReq", &authz("/panic")).await;
    let r: AuthzResponse = serde_json::from_str(&body).unwrap();
    assert!(!r.allow && r.msg.contains("panic"), "{r:?}");

    // A stall is cut at the deadline and denied.
    let t = Instant::now();
    let (_, body) = post(&sock, "/AuthZPlugin.AuthZReq", &authz("/stall")).await;
    let r: AuthzResponse = serde_json::from_str(&body).unwrap();
    assert!(!r.allow && r.msg.contains("deadline"), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(5));

    // Malformed calls are denied, not errors.
    for bad in ["", "{", r#"{"RequestBody":"!!notbase64"}"#, "[]"] {
        let (st, body) = post(&sock, "/AuthZPlugin.AuthZReq", bad).await;
        let r: AuthzResponse = serde_json::from_str(&body).unwrap();
        assert!(
            st == 200 && !r.allow && !r.msg.is_empty(),
            "{bad:?}: {body}"
        );
    }
    let (st, _) = post(&sock, "/Nope", "").await;
    assert_eq!(st, 404);

    // Calls are served concurrently: ten 200 ms decisions take far less than 2 s.
    let t = Instant::now();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let sock = sock.clone();
            tokio::spawn(async move { post(&sock, "/AuthZPlugin.AuthZReq", &authz("/slow")).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().0, 200);
    }
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        t.elapsed()
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn refuses_to_replace_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("not-a-socket");
    std::fs::write(&p, "data").unwrap();
    assert!(protocol::bind(&p).is_err());
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "data");
}
