//! The registry client against stand-ins on loopback.

use std::sync::Mutex;
use std::time::Duration;

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

#[test]
fn only_same_repository_referrer_pages_are_followed() {
    let base = "referrers/sha256:ab";
    let next = |link: &str| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::LINK, link.parse().unwrap());
        next_page(&h, "reg:5000", "a/b", base)
    };
    let want = Some(format!("{base}?n=2&last=x"));
    assert_eq!(
        next(r#"</v2/a/b/referrers/sha256:ab?n=2&last=x>; rel="next""#),
        want
    );
    assert_eq!(
        next(r#"<https://reg:5000/v2/a/b/referrers/sha256:ab?n=2&last=x>; rel=next"#),
        want
    );
    assert_eq!(
        next(r#"</v2/a/b/referrers/sha256:ab?n=2&last=x>; rel="prev""#),
        None
    );
    assert_eq!(
        next(r#"<https://evil/v2/a/b/referrers/sha256:ab?n=2>; rel="next""#),
        None
    );
    assert_eq!(
        next(r#"</v2/a/c/referrers/sha256:ab?n=2>; rel="next""#),
        None
    );
    assert_eq!(
        next(r#"</v2/a/b/referrers/sha256:ab?n=2#x>; rel="next""#),
        None
    );
    assert_eq!(next(r#"</v2/a/b/referrers/sha256:ab>; rel="next""#), None);
}

/// An insecure registry that speaks only HTTP is asked over HTTP first
/// once that is known: one failed TLS handshake, not one per call (each
/// call made one before). The answers are the same.
/// Review 3: only a host with its port is remembered as plain HTTP;
/// before, `reg.internal` was too, so a blip of its port 443 sent the
/// plugin to port 80 for a minute while dockerd used 443 again.
#[test]
fn only_a_host_with_its_port_is_remembered_as_plain() {
    for (h, want) in [
        ("127.0.0.1:5000", true),
        ("reg.internal:5000", true),
        ("[::1]:5000", true),
        ("reg.internal", false),
        ("127.0.0.1", false),
        ("[::1]", false),
        ("reg.internal:", false),
    ] {
        assert_eq!(explicit_port(h), want, "{h}");
    }
}

#[tokio::test]
async fn a_plain_http_registry_is_not_offered_tls_on_every_call() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let digest = format!("sha256:{}", "c".repeat(64));
    let tls = Arc::new(AtomicUsize::new(0));
    let seen = tls.clone();
    let port = one_socket(
        move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
        },
        found(&digest),
        Arc::default(),
    );
    let client = client_trusting(None);
    let domain = format!("127.0.0.1:{port}");
    for _ in 0..3 {
        assert_eq!(
            client.manifest_digest(&domain, "r", "v1").await.unwrap(),
            digest
        );
    }
    assert_eq!(tls.load(Ordering::SeqCst), 1, "TLS offered more than once");
    // A host that may not be reached over HTTP learns nothing.
    assert!(!client.hosts.known_plain("registry.example"));
}

/// A registry stand-in on one loopback socket: a connection that opens
/// with a TLS ClientHello goes to `tls` (given the stream), any other is
/// read as plain HTTP and answered `plain_head` (status line and headers,
/// then an empty body); each plain request's header lines are recorded.
fn one_socket(
    tls: impl Fn(std::net::TcpStream) + Send + Sync + 'static,
    plain_head: String,
    plain_seen: Arc<Mutex<Vec<String>>>,
) -> u16 {
    use std::io::{BufRead as _, BufReader, Write as _};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let tls = Arc::new(tls);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let (tls, head_out, seen) = (tls.clone(), plain_head.clone(), plain_seen.clone());
            std::thread::spawn(move || {
                let mut first = [0u8; 1];
                if s.peek(&mut first).is_err() {
                    return;
                }
                if first[0] == 0x16 {
                    return tls(s);
                }
                let Ok(mut w) = s.try_clone() else { return };
                let mut r = BufReader::new(s);
                let mut head = String::new();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    head.push_str(&h);
                }
                seen.lock().unwrap().push(head);
                let _ = write!(
                    w,
                    "{head_out}Content-Length: 0\r\nConnection: close\r\n\r\n"
                );
            });
        }
    });
    port
}

/// A `200` naming `digest`, as a registry answers a manifest `HEAD`.
fn found(digest: &str) -> String {
    format!("HTTP/1.1 200 OK\r\nDocker-Content-Digest: {digest}\r\n")
}

fn client_trusting(ca_pem: Option<&str>) -> RegistryClient {
    let http = HttpClient::new(
        crate::metrics::Upstream::Registry,
        ca_pem,
        Arc::new(crate::credentials::Credentials::default()),
        Duration::from_secs(10),
    )
    .unwrap();
    RegistryClient::new(Arc::new(http), Vec::new())
}

/// A first call to an insecure registry not known to speak HTTP waited
/// for the failed TLS handshake before it sent its real request: the
/// stand-in holds the handshake until the plain request has arrived (at
/// most 10 s, a liveness bound) and records whether it did.
#[tokio::test]
async fn the_plain_request_does_not_wait_for_the_failed_handshake() {
    let digest = format!("sha256:{}", "d".repeat(64));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let overlapped = Arc::new(Mutex::new(None));
    let (s2, o2) = (seen.clone(), overlapped.clone());
    let port = one_socket(
        move |stream| {
            let t0 = std::time::Instant::now();
            while s2.lock().unwrap().is_empty() && t0.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(5));
            }
            *o2.lock().unwrap() = Some(!s2.lock().unwrap().is_empty());
            drop(stream);
        },
        found(&digest),
        seen.clone(),
    );
    let client = client_trusting(None);
    let domain = format!("127.0.0.1:{port}");
    assert_eq!(
        client.manifest_digest(&domain, "r", "v1").await.unwrap(),
        digest
    );
    assert_eq!(*overlapped.lock().unwrap(), Some(true));
    assert!(client.hosts.known_plain(&domain));
    for head in seen.lock().unwrap().iter() {
        assert!(
            !head.to_ascii_lowercase().contains("authorization"),
            "{head}"
        );
    }
}

/// The plain answer is only a stand-by: a registry that answers HTTPS on
/// the same socket is read over HTTPS (as dockerd would pull from it), and
/// once known so it is not asked over plain HTTP again.
#[tokio::test]
async fn an_insecure_registry_that_answers_https_is_read_over_https() {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap(),
    );
    let over_tls = format!("sha256:{}", "1".repeat(64));
    let over_plain = format!("sha256:{}", "2".repeat(64));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let d = over_tls.clone();
    let port = one_socket(
        move |stream| {
            use std::io::{BufRead as _, BufReader, Write as _};
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            {
                let mut r = BufReader::new(&mut tls);
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
            }
            let _ = write!(
                tls,
                "HTTP/1.1 200 OK\r\nDocker-Content-Digest: {d}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            tls.conn.send_close_notify();
            let _ = tls.flush();
        },
        found(&over_plain),
        seen.clone(),
    );
    let client = client_trusting(Some(&ca.pem()));
    let domain = format!("127.0.0.1:{port}");
    for _ in 0..3 {
        assert_eq!(
            client.manifest_digest(&domain, "r", "v1").await.unwrap(),
            over_tls
        );
    }
    assert!(!client.hosts.known_plain(&domain));
    assert!(
        seen.lock().unwrap().len() <= 1,
        "asked over plain HTTP after HTTPS answered: {:?}",
        seen.lock().unwrap()
    );
}

/// Review: the anonymous answer stands in only when it is a success; a
/// registry may answer an anonymous caller 403 or 404 for what a token
/// sees, so anything else is asked again by the full request (with the
/// auth round trip and a cached token, when there is one).
#[tokio::test]
async fn only_a_successful_anonymous_answer_is_used() {
    let plain = Arc::new(Mutex::new(Vec::new()));
    let port = one_socket(drop, "HTTP/1.1 404 Not Found\r\n".into(), plain.clone());
    let client = client_trusting(None);
    let e = client
        .manifest_digest(&format!("127.0.0.1:{port}"), "r", "v1")
        .await
        .unwrap_err();
    assert!(matches!(e, RegistryError::NotFound { .. }), "{e:?}");
    assert_eq!(
        plain.lock().unwrap().len(),
        2,
        "the 404 was not asked again"
    );
}

/// The TLS attempt of a first call runs as a task of its own; a caller
/// that stops waiting (a decision's deadline) must end it too, not leave
/// its connection open until the client's timeout (10 s here). The
/// stand-in holds the handshake and reports when the client hangs up.
#[tokio::test]
async fn a_call_given_up_ends_its_tls_attempt() {
    use std::io::Read as _;
    let digest = format!("sha256:{}", "e".repeat(64));
    let (tx, rx) = std::sync::mpsc::channel();
    let (held_tx, held) = tokio::sync::oneshot::channel::<()>();
    let (tx, held_tx) = (Mutex::new(tx), Mutex::new(Some(held_tx)));
    let port = one_socket(
        move |mut stream| {
            if let Some(h) = held_tx.lock().unwrap().take() {
                let _ = h.send(());
            }
            let mut buf = [0u8; 1024];
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            let _ = tx.lock().unwrap().send(());
        },
        found(&digest),
        Arc::default(),
    );
    let client = client_trusting(None);
    let domain = format!("127.0.0.1:{port}");
    // Given up once the stand-in holds the handshake (the plain answer
    // alone does not end the call: HTTPS comes first).
    let call = client.manifest_digest(&domain, "r", "v1");
    tokio::select! {
        r = call => panic!("the call ended while its handshake was held: {r:?}"),
        _ = held => {}
    }
    // Waited for off the runtime's thread: the aborted task is dropped
    // when the runtime next runs it.
    tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(5)))
        .await
        .unwrap()
        .expect("the TLS connection outlived the call");
}
