//! Issue 17: RFC 3161 timestamps made by the real notation CLI (1.3,
//! `notation sign --timestamp-url`) against a TSA this test serves on
//! loopback (`openssl ts -reply` behind a small HTTP server, one openssl
//! run per request), verified by the guarded daemon's plugin under the
//! stack's trust policy "timestamped" (scripts/stack notation_setup:
//! notation/ts, strict, ca:stack + tsa:stack-tsa, verifyTimestamp always).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::stack::{stack, unique};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An RFC 3161 TSA on 127.0.0.1:0 signing with `key`/`cert` (chain `root`),
/// its own serial file in a scratch directory; stopped when dropped.
struct TsaServer {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _scratch: tempfile::TempDir,
}

impl TsaServer {
    fn start(dir: &Path) -> TsaServer {
        let scratch = tempfile::tempdir().expect("scratch dir");
        let s = scratch.path().to_path_buf();
        std::fs::write(s.join("serial"), "01\n").unwrap();
        let p = |f: &str| dir.join(f).display().to_string();
        std::fs::write(
            s.join("tsa.cnf"),
            format!(
                "[ tsa ]\ndefault_tsa = t\n[ t ]\nserial = {}\ncrypto_device = builtin\nsigner_cert = {}\ncerts = {}\nsigner_key = {}\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1\nordering = no\ntsa_name = no\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                s.join("serial").display(),
                p("tsa.pem"),
                p("root.pem"),
                p("tsa.key")
            ),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => serve(conn, &s),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        TsaServer {
            url,
            stop,
            thread: Some(thread),
            _scratch: scratch,
        }
    }
}

impl Drop for TsaServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP/1.1 POST of a TimeStampReq, answered with `openssl ts -reply`.
fn serve(mut conn: TcpStream, dir: &Path) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    std::fs::write(dir.join("q.tsq"), &buf[head_end..head_end + len]).unwrap();
    openssl(
        dir,
        &[
            "ts",
            "-reply",
            "-config",
            "tsa.cnf",
            "-queryfile",
            "q.tsq",
            "-out",
            "r.tsr",
        ],
    );
    let body = std::fs::read(dir.join("r.tsr")).unwrap();
    let _ = conn.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    let _ = conn.write_all(&body);
}

/// Another TSA (its own root), made like scripts/stack notation_tsa.
fn other_tsa(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=untrusted TSA root",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/CN=untrusted TSA",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-out",
            "tsa.pem",
        ],
    );
}

fn notation_dir() -> PathBuf {
    let s = stack();
    PathBuf::from(
        std::env::var("STACK_NOTATION")
            .unwrap_or_else(|_| s.dir.join("notation").display().to_string()),
    )
}

/// `notation sign` of `image` with the stack's keys, timestamped by `tsa`
/// whose root is `root` (notation checks the token against it).
fn sign(image: &str, tsa: Option<(&TsaServer, &Path)>) {
    let bin = std::env::var("STACK_NOTATION_BIN")
        .unwrap_or_else(|_| "/var/cache/img-authz/modern/prefix/usr/bin/notation".into());
    let home = tempfile::tempdir().expect("scratch HOME");
    let mut cmd = Command::new(bin);
    cmd.env("XDG_CONFIG_HOME", notation_dir())
        .env("HOME", home.path())
        .args(["sign", "--insecure-registry"]);
    if let Some((t, root)) = tsa {
        cmd.args(["--timestamp-url", &t.url, "--timestamp-root-cert"])
            .arg(root);
    }
    let out = cmd.arg(image).output().expect("notation runs");
    assert!(
        out.status.success(),
        "notation sign {image} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn image(repo: &str) -> (String, String) {
    let s = stack();
    let tagged = format!("{}:{}", s.repo(repo), unique("v"));
    let pinned = s.image(&tagged);
    assert!(pinned.contains("@sha256:"), "{pinned}");
    (tagged, pinned)
}

#[test]
fn a_notation_timestamped_image_runs_and_an_untrusted_tsa_is_denied() {
    let s = stack();
    let tsa_dir = notation_dir().join("tsa");
    let tsa = TsaServer::start(&tsa_dir);
    // Timestamped by the TSA of the policy's tsa store (JWS and COSE).
    let (tag, pinned) = image("notation/ts");
    sign(&pinned, Some((&tsa, &tsa_dir.join("root.pem"))));
    s.guarded(&["pull", &tag]).allowed();
    let out = s.guarded(&["run", "--rm", &tag, "cat", "/etc/marker"]);
    out.allowed();
    assert!(out.stdout.starts_with("marker"), "{}", out.text());
    let (tag, pinned) = image("notation/ts");
    let home = tempfile::tempdir().unwrap();
    let bin = std::env::var("STACK_NOTATION_BIN")
        .unwrap_or_else(|_| "/var/cache/img-authz/modern/prefix/usr/bin/notation".into());
    let out = Command::new(bin)
        .env("XDG_CONFIG_HOME", notation_dir())
        .env("HOME", home.path())
        .args(["sign", "--insecure-registry", "--signature-format", "cose"])
        .args(["--timestamp-url", &tsa.url, "--timestamp-root-cert"])
        .arg(tsa_dir.join("root.pem"))
        .arg(&pinned)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.guarded(&["pull", &tag]).allowed();
    // Not timestamped: the policy names a tsa store and verifies always.
    let (tag, pinned) = image("notation/ts");
    sign(&pinned, None);
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text().contains("authenticTimestamp check failed")
            && out.text().contains("no RFC 3161 timestamp"),
        "{}",
        out.text()
    );
    // Timestamped by a TSA whose root is not in the policy's tsa store.
    let other = tempfile::tempdir().unwrap();
    other_tsa(other.path());
    let untrusted = TsaServer::start(other.path());
    let (tag, pinned) = image("notation/ts");
    sign(&pinned, Some((&untrusted, &other.path().join("root.pem"))));
    let out = s.guarded(&["pull", &tag]);
    out.denied("signature");
    assert!(
        out.text()
            .contains("the timestamping authority is not trusted")
            && out.text().contains("tsa:stack-tsa"),
        "{}",
        out.text()
    );
    s.guarded(&["run", "--rm", &pinned, "true"])
        .denied("signature");
}

/// A signing certificate from the stack's short-lived CA (store
/// ca:stack-short) valid until `until` (Unix seconds), as a notation
/// configuration directory whose default key it is.
fn short_lived_key(dir: &Path, until: i64) {
    let ca = notation_dir().join("shortca");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/C=US/ST=WA/O=Notary/CN=stack",
        ],
    );
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1000\n").unwrap();
    std::fs::write(
        dir.join("ca.cnf"),
        "[ ca ]\ndefault_ca = c\n[ c ]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\nx509_extensions = leaf\nunique_subject = no\n[ p ]\ncommonName = supplied\ncountryName = optional\nstateOrProvinceName = optional\norganizationName = optional\n[ leaf ]\nbasicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = codeSigning\n",
    )
    .unwrap();
    let fmt = time::macros::format_description!("[year][month][day][hour][minute][second]Z");
    let at = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .unwrap()
            .format(fmt)
            .unwrap()
    };
    let start = at(until - 3600);
    let end = at(until);
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            &ca.join("root.pem").display().to_string(),
            "-keyfile",
            &ca.join("root.key").display().to_string(),
            "-in",
            "leaf.csr",
            "-out",
            "leaf.pem",
            "-startdate",
            &start,
            "-enddate",
            &end,
        ],
    );
    let chain = [
        std::fs::read_to_string(dir.join("leaf.pem")).unwrap(),
        std::fs::read_to_string(ca.join("root.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("chain.pem"), chain).unwrap();
    std::fs::create_dir_all(dir.join("notation")).unwrap();
    std::fs::write(
        dir.join("notation/signingkeys.json"),
        serde_json::json!({"default": "short", "keys": [{"name": "short",
            "keyPath": dir.join("leaf.key"), "certPath": dir.join("chain.pem")}]})
        .to_string(),
    )
    .unwrap();
}

#[test]
fn a_signing_certificate_expired_since_a_trusted_timestamp_still_runs() {
    let s = stack();
    let tsa_dir = notation_dir().join("tsa");
    let tsa = TsaServer::start(&tsa_dir);
    // The image first: the certificate's seconds are for signing only.
    let (stamped_tag, pinned) = image("notation/ts");
    let until = time::OffsetDateTime::now_utc().unix_timestamp() + 25;
    let keys = tempfile::tempdir().unwrap();
    short_lived_key(keys.path(), until);
    let bin = std::env::var("STACK_NOTATION_BIN")
        .unwrap_or_else(|_| "/var/cache/img-authz/modern/prefix/usr/bin/notation".into());
    let sign = |image: &str, stamped: bool| {
        let mut cmd = Command::new(&bin);
        cmd.env("XDG_CONFIG_HOME", keys.path())
            .env("HOME", keys.path())
            .args(["sign", "--insecure-registry"]);
        if stamped {
            cmd.args(["--timestamp-url", &tsa.url, "--timestamp-root-cert"])
                .arg(tsa_dir.join("root.pem"));
        }
        let out = cmd.arg(image).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sign(&pinned, true);
    while time::OffsetDateTime::now_utc().unix_timestamp() <= until + 1 {
        std::thread::sleep(Duration::from_millis(500));
    }
    // The certificate has expired; the timestamp proves it signed in time.
    s.guarded(&["pull", &stamped_tag]).allowed();
    s.guarded(&["run", "--rm", &stamped_tag, "true"]).allowed();
    let digest = pinned.split('@').nth(1).unwrap_or_default();
    let seen = |log: &str| {
        log.contains(&format!("\"digest\":\"{digest}\"")) && log.contains("notation, signed by")
    };
    assert!(
        seen(&crate::stack::log_when(&s.plugin_log, seen)),
        "the decision log does not show the notation verdict for {digest}"
    );
}
