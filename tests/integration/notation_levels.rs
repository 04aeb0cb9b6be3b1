//! Issue 17, the rest of the Notation cases through the guarded daemon, with
//! signatures made by the real notation 1.3 CLI (scripts/stack
//! notation_setup has the trust-policy statements per repository):
//! - revocation: leaves of a local CA (scripts/stack
//!   notation_revocation_setup) name an OCSP responder and a CRL on loopback
//!   ports. notation signs with them as plain local keys (signingkeys.json
//!   `keyPath`/`certPath`: the CLI needs no plugin for that). This test
//!   serves the CA's CRL (made by `openssl ca -gencrl`) and answers OCSP
//!   requests with `openssl ocsp` run offline per request (`-reqin` /
//!   `-respout`: `openssl ocsp -port` would listen on every interface);
//! - an expired signature (`notation sign --expiry 1s`);
//! - each level and `override` with a failing check;
//! - "audit still enforces integrity": a signature manifest of another image
//!   re-pointed at this one (registry API calls with curl);
//! - multi-platform: the signed digest is the one pulled (the index for a
//!   tag of an index); a platform manifest is not covered by the index's
//!   signature, nor the index by a platform manifest's.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::notation::{image, sign};
use crate::stack::{stack, unique};

fn revocation_dir() -> PathBuf {
    let n = std::env::var("STACK_NOTATION")
        .map(PathBuf::from)
        .unwrap_or_else(|_| stack().dir.join("notation"));
    n.join("revocation")
}

/// The loopback CRL server and OCSP responder the CA's leaves name; stopped
/// (and its port freed) when dropped.
struct Responders {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Responders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Read one HTTP/1.1 request: (request line, body).
fn read_request(s: &mut std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (end, len) = loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i + 4, len);
        }
    };
    while buf.len() < end + len {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf[..end])
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    Some((line, buf[end..].to_vec()))
}

fn serve(
    port: u16,
    stop: Arc<AtomicBool>,
    answer: fn(&str, &[u8]) -> Vec<u8>,
) -> std::thread::JoinHandle<()> {
    let l = TcpListener::bind(("127.0.0.1", port)).expect("the responder port is free");
    l.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match l.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    if let Some((line, body)) = read_request(&mut s) {
                        let out = answer(&line, &body);
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            out.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&out);
                        let _ = s.write_all(&r);
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    })
}

/// An OCSP response from `openssl ocsp` over the CA's index.
fn ocsp_answer(_line: &str, req: &[u8]) -> Vec<u8> {
    let c = revocation_dir();
    let tmp = tempfile::tempdir().expect("scratch");
    std::fs::write(tmp.path().join("req.der"), req).expect("request");
    let out = Command::new("openssl")
        .arg("ocsp")
        .arg("-index")
        .arg(c.join("index.txt"))
        .arg("-CA")
        .arg(c.join("ca.crt"))
        .arg("-rsigner")
        .arg(c.join("ca.crt"))
        .arg("-rkey")
        .arg(c.join("ca.key"))
        .args(["-nmin", "10", "-reqin"])
        .arg(tmp.path().join("req.der"))
        .arg("-respout")
        .arg(tmp.path().join("resp.der"))
        .output()
        .expect("openssl ocsp runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(tmp.path().join("resp.der")).expect("response")
}

fn crl_answer(_line: &str, _body: &[u8]) -> Vec<u8> {
    std::fs::read(revocation_dir().join("ca.crl")).expect("the CA's CRL")
}

fn responders() -> Responders {
    let ports = std::fs::read_to_string(revocation_dir().join("ports")).expect("ports");
    let mut p = ports
        .split_whitespace()
        .map(|p| p.parse::<u16>().expect("port"));
    let (ocsp, crl) = (p.next().expect("ocsp port"), p.next().expect("crl port"));
    let stop = Arc::new(AtomicBool::new(false));
    Responders {
        threads: vec![
            serve(ocsp, stop.clone(), ocsp_answer),
            serve(crl, stop.clone(), crl_answer),
        ],
        stop,
    }
}

#[test]
fn a_revoked_signer_is_denied_and_an_unreachable_responder_fails_strict() {
    let s = stack();
    // Nothing answers at the CA's OCSP and CRL addresses yet.
    let (tag, pinned) = image("notation/revocation");
    sign(&pinned, &["--key", "rev-good"]);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("revocation check failed")
            && out.text().contains("cannot be determined")
            && out.text().contains("OCSP responder http://127.0.0.1:"),
        "{}",
        out.text()
    );
    let failed = std::time::Instant::now();
    let _r = responders();
    // "Cannot be determined" is remembered 30 s: the responder, now up,
    // is not asked again for this certificate, and it stays denied.
    let (tag, pinned) = image("notation/revocation");
    sign(&pinned, &["--key", "rev-good"]);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("cannot be determined") && out.text().contains("remembered for 30 s"),
        "{}",
        out.text()
    );
    // OCSP says revoked.
    let (tag, pinned) = image("notation/revocation");
    sign(&pinned, &["--key", "rev-revoked"]);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("CN=rev-revoked")
            && out.text().contains("is revoked")
            && out.text().contains("according to OCSP responder"),
        "{}",
        out.text()
    );
    s.guarded(&["run", "--rm", &pinned, "true"])
        .denied("signature");
    // Certificates naming only a CRL.
    let (tag, pinned) = image("notation/revocation");
    sign(&pinned, &["--key", "rev-crl-revoked"]);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("is revoked") && out.text().contains("according to CRL http://"),
        "{}",
        out.text()
    );
    let (tag, pinned) = image("notation/revocation");
    sign(&pinned, &["--key", "rev-crl-good"]);
    s.guarded(&["pull", &tag]).allowed();
    // Past the 30 s: OCSP is asked again, and says good.
    std::thread::sleep(Duration::from_secs(31).saturating_sub(failed.elapsed()));
    let (tag, pinned) = image("notation/revocation");
    sign(&pinned, &["--key", "rev-good"]);
    s.guarded(&["pull", &tag]).allowed();
    s.guarded(&["run", "--rm", &tag, "true"]).allowed();
}

/// `notation sign --expiry 1s`, then past the expiry.
fn expired(repo: &str) -> (String, String) {
    let (tag, pinned) = image(repo);
    sign(&pinned, &["--expiry", "1s"]);
    std::thread::sleep(Duration::from_secs(2));
    (tag, pinned)
}

#[test]
fn an_expired_signature_is_denied_unless_the_policy_only_logs_expiry() {
    let s = stack();
    let (tag, pinned) = expired("notation/app");
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("expiry check failed")
            && out.text().contains("the signature expired at"),
        "{}",
        out.text()
    );
    s.guarded(&["run", "--rm", &pinned, "true"])
        .denied("signature");
    // permissive and audit log expiry; so does strict with override expiry=log.
    for repo in ["notation/permissive", "notation/audit", "notation/override"] {
        let (tag, _) = expired(repo);
        s.guarded(&["pull", &tag]).allowed();
    }
    let seen = |log: &str| {
        log.contains("expiry (logged only, level permissive)")
            && log.contains("expiry (logged only, level audit)")
            && log.contains("expiry (logged only, level strict)")
    };
    assert!(
        seen(&crate::stack::log_when(&s.plugin_log, seen)),
        "the plugin log does not show the logged expiry"
    );
}

#[test]
fn each_level_enforces_what_the_specification_says() {
    let s = stack();
    // permissive enforces authenticity.
    let (tag, pinned) = image("notation/permissive");
    sign(&pinned, &["--key", "other"]);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("authenticity check failed"),
        "{}",
        out.text()
    );
    // override changes only what it names: authenticity is still enforced.
    let (tag, pinned) = image("notation/override");
    sign(&pinned, &["--key", "other"]);
    s.guarded(&["pull", &tag]).denied("signature");
    // audit logs authenticity...
    let (tag, pinned) = image("notation/audit");
    sign(&pinned, &["--key", "other"]);
    s.guarded(&["pull", &tag]).allowed();
    let seen = |log: &str| log.contains("authenticity (logged only, level audit)");
    assert!(
        seen(&crate::stack::log_when(&s.plugin_log, seen)),
        "the plugin log does not show the logged authenticity failure"
    );
    // ... but still needs a signature ...
    let (tag, _) = image("notation/audit");
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("has no Notation signature"),
        "{}",
        out.text()
    );
    // ... whose integrity holds: another image's signature re-pointed here.
    let (signed_tag, signed) = image("notation/audit");
    sign(&signed, &[]);
    let (tag, pinned) = image("notation/audit");
    repoint_signature(&signed, &pinned);
    s.guarded(&["pull", &signed_tag]).allowed();
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("integrity check failed")
            && out.text().contains("the signature is for"),
        "{}",
        out.text()
    );
    // skip verifies nothing.
    let (tag, _) = image("notation/skip");
    s.guarded(&["pull", &tag]).allowed();
}

/// Signatures by an untrusted key come first in the referrers tag's index;
/// the trusted one after them is enough.
#[test]
fn one_valid_signature_among_others_suffices() {
    let s = stack();
    let (tag, pinned) = image("notation/app");
    sign(&pinned, &["--key", "other"]);
    sign(&pinned, &["--signature-format", "cose", "--key", "other"]);
    sign(&pinned, &[]);
    s.guarded(&["pull", &tag]).allowed();
}

fn curl(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let mut c = Command::new("curl")
        .args(["-fsS", "--max-time", "20"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("curl runs");
    if let Some(b) = stdin {
        c.stdin.take().expect("stdin").write_all(b).expect("write");
    }
    drop(c.stdin.take());
    let out = c.wait_with_output().expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Copy the Notation signature manifest of `from` (`repo@digest`) to one
/// whose subject is `to` (same repository), listed in `to`'s referrers tag.
fn repoint_signature(from: &str, to: &str) {
    let (repo, from_digest) = from.split_once('@').expect("from digest");
    let (_, to_digest) = to.split_once('@').expect("to digest");
    let (host, path) = repo.split_once('/').expect("host/path");
    let base = format!("http://{host}/v2/{path}");
    let index_accept = "Accept: application/vnd.oci.image.index.v1+json";
    let manifest_accept = "Accept: application/vnd.oci.image.manifest.v1+json";
    let index: serde_json::Value = serde_json::from_slice(&curl(
        &[
            "-H",
            index_accept,
            &format!("{base}/manifests/{}", from_digest.replacen(':', "-", 1)),
        ],
        None,
    ))
    .expect("referrers index");
    let sig_digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("signature digest")
        .to_string();
    let mut sig: serde_json::Value = serde_json::from_slice(&curl(
        &[
            "-H",
            manifest_accept,
            &format!("{base}/manifests/{sig_digest}"),
        ],
        None,
    ))
    .expect("signature manifest");
    let target = curl(
        &[
            "-H",
            "Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
            &format!("{base}/manifests/{to_digest}"),
        ],
        None,
    );
    let media_type = serde_json::from_slice::<serde_json::Value>(&target).expect("target")
        ["mediaType"]
        .as_str()
        .expect("target media type")
        .to_string();
    sig["subject"] =
        serde_json::json!({"mediaType": media_type, "digest": to_digest, "size": target.len()});
    let body = serde_json::to_vec(&sig).expect("json");
    let digest = format!("sha256:{}", sha256_hex(&body));
    curl(
        &[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.manifest.v1+json",
            "--data-binary",
            "@-",
            &format!("{base}/manifests/{digest}"),
        ],
        Some(&body),
    );
    let idx = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                       "size": body.len(), "artifactType": "application/vnd.cncf.notary.signature"}]});
    curl(
        &[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.index.v1+json",
            "--data-binary",
            "@-",
            &format!("{base}/manifests/{}", to_digest.replacen(':', "-", 1)),
        ],
        Some(&serde_json::to_vec(&idx).expect("json")),
    );
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A multi-platform image under a notation rule: the index digest (what a
/// pull by tag resolves to and dockerd records) is what must be signed; a
/// platform manifest is a different artifact in both directions.
#[test]
fn multi_platform_the_index_digest_is_verified() {
    let s = stack();
    let r = s.repo("notation/app");
    let cli = |args: &[&str]| {
        let out = Command::new("docker")
            .env("DOCKER_CONFIG", s.dir.join("docker-config"))
            .args(args)
            .output()
            .expect("docker manifest");
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let index = |name: &str| {
        let amd64 = s.image(&format!("{r}:{}", unique("amd64")));
        let arm64 = s.image(&format!("{r}:{}", unique("arm64")));
        let tag = format!("{r}:{}", unique(name));
        cli(&["manifest", "create", "--insecure", &tag, &amd64, &arm64]);
        cli(&["manifest", "annotate", "--arch", "arm64", &tag, &arm64]);
        let pushed = cli(&["manifest", "push", "--insecure", &tag]);
        let digest = pushed.lines().last().unwrap_or_default().to_string();
        assert!(digest.starts_with("sha256:"), "{pushed}");
        (tag, format!("{r}@{digest}"), amd64)
    };
    // The index signed: pull and run by tag, pull by the index digest.
    let (tag, signed_index, amd64) = index("signed");
    sign(&signed_index, &[]);
    s.guarded(&["pull", &tag]).allowed();
    s.guarded(&["run", "--rm", &tag, "cat", "/etc/marker"])
        .allowed();
    s.guarded(&["pull", &signed_index]).allowed();
    // A platform manifest of it, by its own digest, is not what was signed.
    s.guarded(&["pull", &amd64]).denied("signature");
    // Only a platform manifest signed: the index (the tag) is not.
    let (tag, _, amd64) = index("platform");
    sign(&amd64, &[]);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("has no Notation signature"),
        "{}",
        out.text()
    );
}
