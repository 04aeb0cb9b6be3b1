//! Issue 13: peak memory under hostile input is a tested bound. The real
//! img-authz binary runs with a cosign rule over a registry this test serves
//! on 127.0.0.1 (plain HTTP: loopback registries are insecure to the plugin,
//! as to dockerd). The registry answers with the worst signature material
//! anyone who can push next to an image can leave there: a 4 MiB `.sig`
//! manifest and 4 MiB referrers indexes of tiny objects (API and tag
//! scheme). Then the largest, deepest and widest request bodies dockerd
//! forwards are sent. The plugin must deny, and its peak resident set
//! (VmHWM in /proc/PID/status) must stay under [`CEILING`]: a bound on
//! resources, never a timing. No dockerd is needed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The documented ceiling on the plugin's peak RSS (docs/trust.md, "cosign":
/// bounded). The old discovery code went to several hundred MiB here.
const CEILING_KIB: u64 = 128 * 1024;
/// The tighter ceiling for hostile signature material alone (the plugin
/// idles near 20 MiB; signature discovery holds one 4 MiB index at a time).
const SIGNATURE_CEILING_KIB: u64 = 64 * 1024;

/// dockerd's own manifest limit: the most a registry can make us read.
const FOUR_MIB: usize = 4 * 1024 * 1024;

/// `{"x":0}` elements filling `n` bytes: each a separate map to a
/// `serde_json::Value` parser (hundreds of bytes each), seven bytes here.
fn tiny_objects(n: usize) -> String {
    let one = r#"{"x":0}"#;
    let mut s = String::with_capacity(n + 8);
    while s.len() + one.len() + 1 < n {
        if !s.is_empty() {
            s.push(',');
        }
        s.push_str(one);
    }
    s
}

/// A 4 MiB JSON document `{"<field>":[{..},{..},...]}`.
fn junk(field: &str) -> Vec<u8> {
    let head = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","{field}":["#
    );
    let mut s = head.clone();
    s.push_str(&tiny_objects(FOUR_MIB - head.len() - 4));
    s.push_str("]}");
    s.into_bytes()
}

struct Hostile {
    image: Vec<u8>,
    digest: String,
    sig: Vec<u8>,
    index: Vec<u8>,
    /// An index whose one entry has 4 MiB of tiny annotations.
    annotated: Vec<u8>,
}

/// `{"manifests":[{"annotations":{"0":"","1":"",...}}]}`, 4 MiB.
fn annotated() -> Vec<u8> {
    let mut s = String::from(
        r#"{"schemaVersion":2,"manifests":[{"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","annotations":{"#,
    );
    let mut i = 0u64;
    while s.len() < FOUR_MIB - 64 {
        s.push_str(&format!("\"{i:x}\":\"\","));
        i += 1;
    }
    s.push_str(r#""z":""}}]}"#);
    s.into_bytes()
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

/// One request: method and path; the rest of the head is read and dropped.
fn read_head(r: &mut BufReader<TcpStream>) -> Option<(String, String)> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (m, p) = (parts.next()?.to_string(), parts.next()?.to_string());
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    Some((m, p))
}

fn answer(mut s: TcpStream, h: &Hostile, method: &str, path: &str) {
    let hex = h.digest.trim_start_matches("sha256:");
    let (status, ctype, body, digest): (&str, &str, &[u8], Option<&str>) = match path {
        // Both repositories serve the same image.
        p if p.ends_with("/manifests/v1") || p.ends_with(&format!("/manifests/{}", h.digest)) => (
            "200 OK",
            "application/vnd.oci.image.manifest.v1+json",
            &h.image,
            Some(&h.digest),
        ),
        p if p.ends_with(&format!("/manifests/sha256-{hex}.sig")) => (
            "200 OK",
            "application/vnd.oci.image.manifest.v1+json",
            &h.sig,
            None,
        ),
        // "api" and "ann" have the referrers API; "tags" only the tag scheme.
        p if p.starts_with("/v2/ann/referrers/") => (
            "200 OK",
            "application/vnd.oci.image.index.v1+json",
            &h.annotated,
            None,
        ),
        p if p.starts_with("/v2/api/referrers/") => (
            "200 OK",
            "application/vnd.oci.image.index.v1+json",
            &h.index,
            None,
        ),
        p if p.starts_with("/v2/tags/manifests/sha256-") => (
            "200 OK",
            "application/vnd.oci.image.index.v1+json",
            &h.index,
            None,
        ),
        _ => ("404 Not Found", "text/plain", b"", None),
    };
    // No Content-Length on the big answers: the plugin's limit must cut
    // the stream, not trust a header.
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nConnection: close\r\n");
    if let Some(d) = digest {
        head.push_str(&format!(
            "Docker-Content-Digest: {d}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    } else if body.is_empty() {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = s.write_all(body);
    }
}

/// Serves `h` on 127.0.0.1 until the listener is dropped with the test.
fn serve(h: Hostile) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::sync::Arc::new(h);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let h = h.clone();
            std::thread::spawn(move || {
                // The plugin tries HTTPS first: refuse the handshake so that
                // it falls back to plain HTTP, as for any loopback registry.
                let mut first = [0u8; 1];
                if s.peek(&mut first).is_err() || first[0] == 0x16 {
                    return;
                }
                let Ok(w) = s.try_clone() else { return };
                let mut r = BufReader::new(s);
                if let Some((m, p)) = read_head(&mut r) {
                    answer(w, &h, &m, &p);
                }
            });
        }
    });
    port
}

struct Plugin {
    child: Child,
    sock: PathBuf,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Plugin {
    fn start(dir: &Path, port: u16) -> Plugin {
        let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cosign/keys/p256.pub");
        let policy = dir.join("policy.toml");
        std::fs::write(
            &policy,
            format!(
                "version = 1\n[[rules]]\nname = \"hostile\"\nrepositories = [\"127.0.0.1:{port}/*\"]\nverifier = \"cosign\"\n[rules.cosign]\nkeys = [{:?}]\n",
                key.display().to_string()
            ),
        )
        .unwrap();
        let sock = dir.join("p.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_img-authz"))
            .args(["serve", "--socket"])
            .arg(&sock)
            .env_clear()
            .env("REGISTRY", format!("127.0.0.1:{port}"))
            .env("IMG_AUTHZ_POLICY", &policy)
            .env("IMG_AUTHZ_STATE_DIR", dir.join("state"))
            .env(
                "DOCKER_HOST",
                format!("unix://{}", dir.join("no-docker.sock").display()),
            )
            .env("IMG_AUTHZ_PULL_CACHE_SECS", "0")
            .env("IMG_AUTHZ_DEADLINE_MS", "60000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while UnixStream::connect(&sock).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the plugin did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Plugin { child, sock }
    }

    /// One AuthZReq call; returns (HTTP status, reply body).
    fn call(&self, req: &serde_json::Value) -> (u16, String) {
        let body = req.to_string();
        let mut s = UnixStream::connect(&self.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        write!(
            s,
            "POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(body.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        (
            status,
            out.split("\r\n\r\n").nth(1).unwrap_or("").to_string(),
        )
    }

    /// Peak resident set so far, KiB.
    fn peak_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

fn denied(reply: &(u16, String), what: &str) {
    assert_eq!(reply.0, 200, "{what}: {reply:?}");
    assert!(
        reply.1.contains("\"Allow\":false"),
        "{what} was not denied: {}",
        reply.1
    );
}

fn create(body: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "RequestMethod": "POST",
        "RequestUri": "/v1.41/containers/create",
        "RequestHeaders": {"Content-Type": "application/json"},
        "RequestBody": base64::engine::general_purpose::STANDARD.encode(body),
    })
}

fn hostile_registry() -> u16 {
    let image = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#.to_vec();
    let digest = sha256(&image);
    serve(Hostile {
        image,
        digest,
        sig: junk("layers"),
        index: junk("manifests"),
        annotated: annotated(),
    })
}

fn under_ceiling(plugin: &Plugin, what: &str, ceiling: u64) {
    let peak = plugin.peak_kib();
    eprintln!("plugin peak RSS after {what}: {peak} KiB (ceiling {ceiling} KiB)");
    assert!(
        peak < ceiling,
        "{what} drove the plugin to {peak} KiB (ceiling {ceiling} KiB)"
    );
}

/// Issue 13 hole 5: junk next to an image (4 MiB `.sig` manifest, 4 MiB
/// referrers index through the API and through the tag scheme, an index
/// entry with 4 MiB of annotations).
#[test]
fn hostile_signature_material_stays_under_the_memory_ceiling() {
    let port = hostile_registry();
    let dir = tempfile::tempdir().unwrap();
    let plugin = Plugin::start(dir.path(), port);
    for repo in ["api", "tags", "ann"] {
        let pull = serde_json::json!({
            "RequestMethod": "POST",
            "RequestUri": format!("/v1.41/images/create?fromImage=127.0.0.1:{port}/{repo}&tag=v1"),
        });
        let reply = plugin.call(&pull);
        denied(&reply, repo);
        assert!(reply.1.contains("cosign"), "{repo}: {}", reply.1);
    }
    under_ceiling(
        &plugin,
        "the hostile signature material",
        SIGNATURE_CEILING_KIB,
    );
}

/// The request bodies dockerd forwards (up to 4 MiB; 20.10 forwards under
/// 1 MiB) at their worst, each on a fresh plugin so that the figure is that
/// body's.
#[test]
fn hostile_request_bodies_stay_under_the_memory_ceiling() {
    let port = hostile_registry();
    let wide = {
        let mut b = String::from(r#"{"Image":"x","Labels":{"#);
        let mut i = 0u64;
        while b.len() < FOUR_MIB - 64 {
            b.push_str(&format!("\"{i:x}\":\"\","));
            i += 1;
        }
        b.push_str(r#""z":""}}"#);
        b
    };
    let deep = format!(
        r#"{{"Image":"x","Cmd":{}{}}}"#,
        "[".repeat(FOUR_MIB / 2 - 32),
        "]".repeat(FOUR_MIB / 2 - 32)
    );
    let long = format!(r#"{{"Image":"{}"}}"#, "a".repeat(FOUR_MIB - 16));
    let many = format!("[{}]", tiny_objects(FOUR_MIB - 2));
    for (what, body) in [
        ("a 4 MiB object of many keys", wide),
        ("a 4 MiB deeply nested body", deep),
        ("a 4 MiB image name", long),
        ("a 4 MiB array of tiny objects", many),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let plugin = Plugin::start(dir.path(), port);
        let reply = plugin.call(&create(body.as_bytes()));
        // Allowed or denied is the policy's business; answered it must be.
        assert_eq!(reply.0, 200, "{what}: {reply:?}");
        assert!(reply.1.contains("\"Allow\":"), "{what}: {}", reply.1);
        under_ceiling(&plugin, what, CEILING_KIB);
    }
}
