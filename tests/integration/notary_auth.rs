//! Token authentication against a real notary-server configured with
//! `auth.type = token`: the plugin's Notary client finds the Bearer
//! challenge, asks a token server for `repository:<GUN>:pull` with the
//! credentials of its docker config, and verifies the repository.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use img_authz::upstream::{Credentials, HttpClient, Upstream};
use img_authz::verify::notary::{update, HttpFetch, RootPolicy, StateStore};
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey;

use crate::stack::{stack, unique};

const USER: &str = "reader";
const PASS: &str = "s3cret";

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A token server as docker/distribution's token auth expects: ES256 JWTs
/// with an x5c header, granting the requested repository actions to
/// callers with the right Basic credentials and nothing to others.
struct TokenServer {
    url: String,
    cert_pem: String,
    requests: Arc<Mutex<Vec<String>>>,
}

fn token_server() -> TokenServer {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "token signer");
    let cert = params.self_signed(&kp).expect("cert");
    let signing = p256::ecdsa::SigningKey::from_pkcs8_der(&kp.serialize_der()).expect("p256 key");
    let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/token", listener.local_addr().expect("addr"));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let mut authorized = false;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                let expected = format!(
                    "basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"))
                );
                if h.to_ascii_lowercase().starts_with("authorization:")
                    && h.split_once(':')
                        .map(|(_, v)| v.trim().to_ascii_lowercase())
                        == Some(expected.to_ascii_lowercase())
                {
                    authorized = true;
                }
            }
            let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.lock()
                .expect("lock")
                .push(format!("{target} authorized={authorized}"));
            let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
            let param = |k: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .map(|v| {
                        percent_encoding::percent_decode_str(v)
                            .decode_utf8_lossy()
                            .into_owned()
                    })
                    .unwrap_or_default()
            };
            // `type:name:actions`, where the name (a GUN) may hold a port.
            let scope = param("scope");
            let grant = scope.split_once(':').and_then(|(ty, rest)| {
                rest.rsplit_once(':').map(|(name, acts)| {
                    serde_json::json!({"type": ty, "name": name, "actions": acts.split(',').collect::<Vec<_>>()})
                })
            });
            let access = match grant {
                Some(g) if authorized => serde_json::json!([g]),
                _ => serde_json::json!([]),
            };
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "x5c": [x5c]});
            let claims = serde_json::json!({
                "iss": "test-issuer", "sub": USER, "aud": param("service"), "exp": now + 300,
                "nbf": now - 10, "iat": now, "jti": unique("jti"), "access": access,
            });
            let input = format!(
                "{}.{}",
                b64url(header.to_string().as_bytes()),
                b64url(claims.to_string().as_bytes())
            );
            let sig: p256::ecdsa::Signature = signing.sign(input.as_bytes());
            let body = serde_json::json!({"token": format!("{input}.{}", b64url(&sig.to_bytes())), "expires_in": 300})
                .to_string();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    TokenServer {
        url,
        cert_pem: cert.pem(),
        requests,
    }
}

/// A notary-server under `timeout`, stopped by PID when dropped: SIGTERM to
/// `timeout`, which passes it on (a SIGKILL would end `timeout` alone and
/// leave notary-server running).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

fn notary_server(dir: &Path, tok: &TokenServer, port: u16) -> Server {
    let s = stack();
    let tls = s.dir.join("tls");
    std::fs::write(dir.join("tokbundle.crt"), &tok.cert_pem).expect("bundle");
    let cfg = serde_json::json!({
        "server": {"http_addr": format!("127.0.0.1:{port}"),
                   "tls_key_file": tls.join("server.key"), "tls_cert_file": tls.join("server.crt")},
        "trust_service": {"type": "local"},
        "storage": {"backend": "memory"},
        "logging": {"level": "info"},
        "auth": {"type": "token", "options": {"realm": tok.url, "service": "notary-test",
                 "issuer": "test-issuer", "rootcertbundle": dir.join("tokbundle.crt")}},
    });
    std::fs::write(dir.join("server.json"), cfg.to_string()).expect("config");
    let log = std::fs::File::create(dir.join("notary-server.log")).expect("log");
    // `timeout` bounds its life even if this test process dies.
    let child = Command::new("timeout")
        .args(["--kill-after=5", "300", "notary-server", "-config"])
        .arg(dir.join("server.json"))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("notary-server starts");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = Command::new("curl")
            .args(["-fsS", "--cacert"])
            .arg(tls.join("ca.crt"))
            .arg(format!("https://127.0.0.1:{port}/_notary_server/health"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "the token-auth notary-server did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn notary_cli(dir: &Path, url: &str, args: &[&str]) {
    let out = Command::new("notary")
        .args(["-s", url, "--tlscacert"])
        .arg(stack().dir.join("tls/ca.crt"))
        .arg("-d")
        .arg(dir.join("cli"))
        .args(args)
        .env(
            "NOTARY_AUTH",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}")),
        )
        .env("NOTARY_ROOT_PASSPHRASE", "pw")
        .env("NOTARY_TARGETS_PASSPHRASE", "pw")
        .env("NOTARY_SNAPSHOT_PASSPHRASE", "pw")
        .stdin(Stdio::null())
        .output()
        .expect("notary CLI");
    assert!(
        out.status.success(),
        "notary {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn token_auth_with_docker_config_credentials() {
    let s = stack();
    let dir = tempfile::tempdir().expect("tempdir");
    let tok = token_server();
    let port = free_port();
    let _server = notary_server(dir.path(), &tok, port);
    let url = format!("https://127.0.0.1:{port}");
    let gun = format!("{}/auth/{}", s.registry, unique("app"));
    let digest = "e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";
    notary_cli(dir.path(), &url, &["init", &gun]);
    notary_cli(
        dir.path(),
        &url,
        &["addhash", &gun, "v1", "527", "--sha256", digest],
    );
    notary_cli(dir.path(), &url, &["publish", &gun]);

    let ca = std::fs::read_to_string(s.dir.join("tls/ca.crt")).expect("ca");
    let fetch_with = |creds: Credentials| {
        let http = HttpClient::new(
            Upstream::Notary,
            Some(&ca),
            Arc::new(creds),
            Duration::from_secs(5),
        )
        .expect("client");
        HttpFetch::new(&url, Arc::new(http))
    };
    let roots = RootPolicy {
        pins: vec![],
        tofu: true,
    };
    let now = time::OffsetDateTime::now_utc();

    // Without credentials the server refuses, and says so.
    let anonymous = fetch_with(Credentials::default());
    let store = StateStore::new(None).expect("store");
    let err = update(&anonymous, &gun, &roots, &store, &[], now)
        .await
        .expect_err("anonymous is refused");
    assert!(err.to_string().contains("refused access"), "{err}");

    // With the docker config's credentials for the notary host it verifies.
    let config = format!(
        r#"{{"auths":{{"127.0.0.1:{port}":{{"auth":"{}"}}}}}}"#,
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"))
    );
    let fetch = fetch_with(Credentials::parse(config.as_bytes()).expect("config"));
    let trust = update(&fetch, &gun, &roots, &store, &[], now)
        .await
        .expect("verified with a token");
    let (role, target) = trust.resolve("v1").expect("v1 is signed");
    assert_eq!(role, "targets");
    assert_eq!(
        target.digest.as_deref(),
        Some(format!("sha256:{digest}").as_str())
    );

    // The token server was asked for exactly the repository's pull scope,
    // with the credentials, and one token served every metadata file.
    let reqs = tok.requests.lock().expect("lock").clone();
    let ours: Vec<&String> = reqs
        .iter()
        .filter(|r| {
            r.contains(&format!(
                "scope=repository%3A{}%3Apull&",
                gun.replace(':', "%3A").replace('/', "%2F")
            ))
        })
        .collect();
    assert!(
        ours.iter().any(|r| r.ends_with("authorized=true")),
        "{reqs:#?}"
    );
    assert!(
        ours.iter().all(|r| r.contains("service=notary-test")),
        "{reqs:#?}"
    );
    assert!(
        ours.iter()
            .filter(|r| r.ends_with("authorized=true"))
            .count()
            <= 2,
        "tokens are reused: {reqs:#?}"
    );
}
