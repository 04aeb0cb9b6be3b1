//! Peak memory of the real plugin under a hostile Notary server: a bound
//! on resources, not a timing.
//!
//! The test serves, on 127.0.0.1, a Notary server (HTTPS, its CA given as
//! `NOTARY_ROOT_CA`) and a registry, starts the `img-authz` binary against
//! them, and asks it (over its unix socket, as dockerd does) to allow pulls
//! of repositories whose metadata are the worst the server can choose:
//! a validly signed timestamp listing a snapshot far larger than any real
//! one; snapshots at the size limit, signed by the server's key, made of
//! the smallest JSON values (most memory per byte once parsed); a huge
//! first-use root; and many such repositories at once. Every pull must be
//! denied, and the plugin's peak resident memory (`VmHWM`) must stay under
//! [`CEILING`].

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// The documented ceiling of the plugin's peak resident memory (docs/trust.md,
/// "Notary v1": bounded against a hostile server).
const CEILING: u64 = 128 * 1024 * 1024;

/// The default largest role file (`IMG_AUTHZ_NOTARY_MAX_ROLE_BYTES`).
const MAX_ROLE: usize = 4 * 1024 * 1024;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Canonical JSON of metadata with ASCII strings and integers: serde_json's
/// compact form of a `Value`, whose objects keep their keys sorted.
fn canonical(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// One key signing every role of a repository: an ecdsa-x509 root
/// certificate naming the repository.
struct RepoKey {
    id: String,
    key: Value,
    signer: p256::ecdsa::SigningKey,
}

impl RepoKey {
    fn new(gun: &str) -> RepoKey {
        let kp = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut params = params;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, gun);
        let pem = params.self_signed(&kp).unwrap().pem();
        let key = json!({"keytype": "ecdsa-x509", "keyval": {"private": null, "public": b64(pem.as_bytes())}});
        let id = hex(&Sha256::digest(canonical(&key)));
        let signer = p256::ecdsa::SigningKey::from_pkcs8_der(&kp.serialize_der()).unwrap();
        RepoKey { id, key, signer }
    }

    fn envelope(&self, signed: &Value) -> Vec<u8> {
        let sig: p256::ecdsa::Signature = self.signer.sign(&canonical(signed));
        serde_json::to_vec(&json!({
            "signed": signed,
            "signatures": [{"keyid": self.id, "method": "ecdsa", "sig": b64(&sig.to_bytes())}],
        }))
        .unwrap()
    }

    fn root(&self) -> Vec<u8> {
        let role = json!({"keyids": [self.id], "threshold": 1});
        self.envelope(&json!({
            "_type": "Root", "consistent_snapshot": false, "expires": "2100-01-01T00:00:00Z",
            "version": 1, "keys": {self.id.clone(): self.key},
            "roles": {"root": role, "targets": role, "snapshot": role, "timestamp": role},
        }))
    }

    fn timestamp(&self, snapshot: &[u8]) -> Vec<u8> {
        self.envelope(&json!({
            "_type": "Timestamp", "expires": "2100-01-01T00:00:00Z", "version": 1,
            "meta": {"snapshot": {"length": snapshot.len(),
                "hashes": {"sha256": b64(&Sha256::digest(snapshot))}}},
        }))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `{"000000":0,"000001":0,…}` of about `bytes` bytes: many members per
/// byte, keys in canonical order. Written as text: building these as
/// `Value`s would cost the test what it measures in the plugin.
fn small_members(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 16);
    out.push('{');
    let mut n = 0u32;
    while out.len() + 12 < bytes {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"{n:06x}\":0"));
        n += 1;
    }
    out.push('}');
    out
}

/// `[0,0,…]` of about `bytes` bytes.
fn small_items(bytes: usize) -> String {
    let mut out = "[0".to_string();
    out.push_str(&",0".repeat(bytes.saturating_sub(3) / 2));
    out.push(']');
    out
}

/// Snapshot `meta` with as many plausible entries as fit in `bytes`.
fn many_meta(bytes: usize) -> String {
    let hash = b64(&[7u8; 32]);
    let mut out = String::with_capacity(bytes + 128);
    out.push('{');
    let mut n = 0u32;
    while out.len() + 100 < bytes {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "\"targets/r{n:06}\":{{\"hashes\":{{\"sha256\":\"{hash}\"}},\"length\":1}}"
        ));
        n += 1;
    }
    out.push('}');
    out
}

/// Files the hostile Notary server serves, by URL path.
type Files = Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>;

/// A snapshot (canonical text) whose field `field` is `fill(n)`, the
/// whole file at most `budget` bytes.
fn snapshot_with(
    key: &RepoKey,
    field: &str,
    fill: fn(usize) -> String,
    signed: bool,
    budget: usize,
) -> Vec<u8> {
    let value = fill(budget - 1024);
    // Keys in canonical order: "_type" < "expires" < "junk" < "meta" < "version".
    let text = match field {
        "meta" => format!(
            r#"{{"_type":"Snapshot","expires":"2100-01-01T00:00:00Z","meta":{value},"version":1}}"#
        ),
        _ => format!(
            r#"{{"_type":"Snapshot","expires":"2100-01-01T00:00:00Z","{field}":{value},"meta":{{}},"version":1}}"#
        ),
    };
    let sigs = if signed {
        let sig: p256::ecdsa::Signature = key.signer.sign(text.as_bytes());
        format!(
            r#"[{{"keyid":"{}","method":"ecdsa","sig":"{}"}}]"#,
            key.id,
            b64(&sig.to_bytes())
        )
    } else {
        "[]".to_string()
    };
    let body = format!(r#"{{"signatures":{sigs},"signed":{text}}}"#).into_bytes();
    assert!(body.len() <= budget, "{} > {budget}", body.len());
    body
}

/// The hostile repositories, by name below the registry.
fn hostile(files: &Files, reg: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut f = files.lock().unwrap();
    let mut publish = |name: &str, root: Vec<u8>, snapshot: Option<Vec<u8>>, key: &RepoKey| {
        let gun = format!("{reg}/{name}");
        let base = format!("/v2/{gun}/_trust/tuf");
        f.insert(format!("{base}/root.json"), Arc::new(root));
        if let Some(s) = snapshot {
            f.insert(
                format!("{base}/timestamp.json"),
                Arc::new(key.timestamp(&s)),
            );
            let h = hex(&Sha256::digest(&s));
            f.insert(format!("{base}/snapshot.{h}.json"), Arc::new(s));
        }
        names.push(name.to_string());
    };
    let margin = MAX_ROLE - 64 * 1024;

    // A 16 MiB unsigned snapshot listed by a signed timestamp.
    let gun = format!("{reg}/huge");
    let k = RepoKey::new(&gun);
    let s = snapshot_with(&k, "junk", small_items, false, 16 << 20);
    publish("huge", k.root(), Some(s), &k);

    // Snapshots just under the limit, unsigned and signed, of the smallest values.
    for (name, signed, junk) in [
        (
            "members-unsigned",
            false,
            small_members as fn(usize) -> String,
        ),
        ("items-unsigned", false, small_items),
        ("members-signed", true, small_members),
    ] {
        let k = RepoKey::new(&format!("{reg}/{name}"));
        let s = snapshot_with(&k, "junk", junk, signed, margin);
        publish(name, k.root(), Some(s), &k);
    }
    // A signed snapshot listing as many roles as fit.
    let name = "many-roles";
    let k = RepoKey::new(&format!("{reg}/{name}"));
    let s = snapshot_with(&k, "meta", many_meta, true, margin);
    publish(name, k.root(), Some(s), &k);

    // A first-use root of 1 MiB of small members (unsigned).
    let name = "huge-root";
    let k = RepoKey::new(&format!("{reg}/{name}"));
    let root = format!(
        r#"{{"signatures":[],"signed":{}}}"#,
        small_members(1000 * 1024)
    )
    .into_bytes();
    assert!(root.len() < 1024 * 1024);
    publish(name, root, None, &k);

    // Many repositories at once, each with a signed snapshot at the limit.
    for i in 0..12 {
        let name = format!("crowd{i}");
        let k = RepoKey::new(&format!("{reg}/{name}"));
        let s = snapshot_with(&k, "junk", small_members, true, margin);
        publish(&name, k.root(), Some(s), &k);
    }

    // A server-signed snapshot listing targets and targets/releases files
    // at the limit (fetched together, unsigned).
    let name = "targets-at-limit";
    let k = RepoKey::new(&format!("{reg}/{name}"));
    let junk = format!(
        r#"{{"signatures":[],"signed":{}}}"#,
        small_members(margin - 64)
    )
    .into_bytes();
    let entry = format!(
        r#"{{"hashes":{{"sha256":"{}"}},"length":{}}}"#,
        b64(&Sha256::digest(&junk)),
        junk.len()
    );
    let text = format!(
        r#"{{"_type":"Snapshot","expires":"2100-01-01T00:00:00Z","meta":{{"targets":{entry},"targets/releases":{entry}}},"version":1}}"#
    );
    let sig: p256::ecdsa::Signature = k.signer.sign(text.as_bytes());
    let snapshot = format!(
        r#"{{"signatures":[{{"keyid":"{}","method":"ecdsa","sig":"{}"}}],"signed":{text}}}"#,
        k.id,
        b64(&sig.to_bytes())
    )
    .into_bytes();
    publish(name, k.root(), Some(snapshot), &k);
    let h = hex(&Sha256::digest(&junk));
    let junk = Arc::new(junk);
    for role in ["targets", "targets/releases"] {
        f.insert(
            format!("/v2/{reg}/{name}/_trust/tuf/{role}.{h}.json"),
            junk.clone(),
        );
    }
    names
}

// ------------------------------------------------------------- the servers

/// The request path of one HTTP/1.1 request, its headers consumed.
fn read_path(r: &mut impl BufRead) -> Option<String> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    Some(path)
}

fn respond(w: &mut impl Write, body: Option<&[u8]>) {
    let (status, body) = match body {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", &b"{}"[..]),
    };
    let _ = write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = w.write_all(body);
    let _ = w.flush();
}

/// The Notary server over TLS; returns its port and the CA PEM.
fn notary_server(files: Files, served: Arc<Mutex<Vec<String>>>) -> (u16, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hostile notary CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (config, files, served) = (config.clone(), files.clone(), served.clone());
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let Some(path) = read_path(&mut BufReader::new(&mut tls)) else {
                    return;
                };
                let body = files.lock().unwrap().get(&path).cloned();
                served.lock().unwrap().push(path);
                respond(&mut tls, body.as_deref().map(Vec::as_slice));
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (port, ca.pem())
}

/// A registry that knows no image.
fn registry_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let Ok(clone) = stream.try_clone() else {
                    return;
                };
                if read_path(&mut BufReader::new(clone)).is_some() {
                    respond(&mut stream, None);
                }
            });
        }
    });
    port
}

// ------------------------------------------------------------- the plugin

struct Plugin(Child);

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn vm_hwm(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb * 1024
}

/// POST an AuthZReq for a pull of `image` and return (allow, msg).
fn pull(sock: &Path, image: &str) -> (bool, String) {
    let uri = format!("/v1.41/images/create?fromImage={image}&tag=v1");
    let body =
        json!({"RequestMethod": "POST", "RequestUri": uri, "User": "", "RequestHeaders": {}})
            .to_string();
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    write!(
        s,
        "POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {out}"));
    (
        v["Allow"].as_bool().unwrap_or(false),
        v["Msg"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn hostile_notary_metadata_stays_under_the_memory_ceiling() {
    let files: Files = Arc::default();
    let served = Arc::new(Mutex::new(Vec::new()));
    let (notary_port, ca_pem) = notary_server(files.clone(), served.clone());
    let reg_port = registry_server();
    let reg = format!("127.0.0.1:{reg_port}");
    let names = hostile(&files, &reg);

    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("plugin.sock");
    let child = Command::new(env!("CARGO_BIN_EXE_img-authz"))
        .arg("serve")
        .env_clear()
        .env("REGISTRY", &reg)
        .env("NOTARY", format!("https://127.0.0.1:{notary_port}"))
        .env("NOTARY_ROOT_CA", &ca_pem)
        .env("IMG_AUTHZ_SOCKET", &sock)
        .env("IMG_AUTHZ_STATE_DIR", dir.path().join("state"))
        .env("IMG_AUTHZ_DEADLINE_MS", "120000")
        .env("IMG_AUTHZ_PULL_CACHE_SECS", "0")
        .env(
            "DOCKER_HOST",
            format!("unix://{}", dir.path().join("no-docker.sock").display()),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let plugin = Plugin(child);
    let pid = plugin.0.id();
    let t = Instant::now();
    while !sock.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the plugin did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let idle = vm_hwm(pid);

    // All at once, as many dockerd requests would arrive.
    let results: Vec<(String, bool, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| {
                let (sock, image) = (&sock, format!("{reg}/{n}"));
                s.spawn(move || {
                    let (allow, msg) = pull(sock, &image);
                    (n.clone(), allow, msg)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let peak = vm_hwm(pid);
    drop(plugin);

    for (n, allow, msg) in &results {
        assert!(!allow, "{n}: a hostile repository was allowed");
        assert!(!msg.is_empty(), "{n}: a deny without a message");
        eprintln!("{n}: {msg}");
    }
    // The server-signed snapshots were verified, and so parsed past their
    // signatures: the worst case for the plugin.
    for (n, _, msg) in &results {
        if n.starts_with("crowd")
            || ["members-signed", "many-roles", "targets-at-limit"].contains(&n.as_str())
        {
            assert!(
                !msg.contains("snapshot: 0 valid") && !msg.contains("timestamp: 0 valid"),
                "{n}: {msg}"
            );
        }
    }
    // Both files at the limit were fetched.
    {
        let served = served.lock().unwrap();
        for role in ["targets.", "targets/releases."] {
            assert!(
                served
                    .iter()
                    .any(|p| p.contains(&format!("/targets-at-limit/_trust/tuf/{role}"))),
                "{role}: not fetched ({served:?})"
            );
        }
    }
    // The hostile metadata was actually reached.
    let served = served.lock().unwrap();
    for n in ["huge", "members-signed", "crowd0"] {
        assert!(
            served
                .iter()
                .any(|p| p.contains(&format!("/{n}/_trust/tuf/timestamp.json"))),
            "{n}: the plugin never asked the notary server ({served:?})"
        );
    }
    eprintln!(
        "peak RSS {} MiB (idle {} MiB), ceiling {} MiB",
        peak >> 20,
        idle >> 20,
        CEILING >> 20
    );
    assert!(
        peak < CEILING,
        "peak RSS {} MiB is above the {} MiB ceiling",
        peak >> 20,
        CEILING >> 20
    );
}
