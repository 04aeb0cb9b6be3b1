//! Issue 20: signed policy bundles. Bundles pushed to the stack's registry
//! by `img-authz bundle push` and signed by the real cosign CLI are taken
//! by two plugins of this test guarding two dockerds of their own; a new
//! revision changes what the real docker CLI may pull on both; a rollback,
//! a wrong signer and a tampered layer are refused and the policy stays;
//! with the registry unreachable (a proxy the test stops) enforcement goes
//! on and a restarted plugin boots from its persisted bundle; with none
//! persisted, it denies everything naming IMG_AUTHZ_BUNDLE.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cosign_cli::{sign, Mode};
use crate::stack::{stack, unique, Daemon};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_img-authz"))
}

/// A TCP proxy to the registry that the test can cut: once down, every
/// connection through it is shut and new ones are closed at once.
struct Proxy {
    addr: String,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: &str) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (u, c, target) = (up.clone(), conns.clone(), target.to_string());
        std::thread::spawn(move || {
            for client in l.incoming().flatten() {
                if !u.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut g = c.lock().unwrap();
                g.push(client.try_clone().unwrap());
                g.push(server.try_clone().unwrap());
                drop(g);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { addr, up, conns }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// One plugin of this test, on its own socket and state directory.
struct Plugin {
    name: String,
    sock: PathBuf,
    state: PathBuf,
    daemon_host: String,
    child: Option<Child>,
}

impl Plugin {
    fn start(dir: &Path, bundle: &str, daemon_host: &str) -> Plugin {
        let name = unique("iaz-fleet");
        let mut p = Plugin {
            sock: PathBuf::from(format!("/run/docker/plugins/{name}.sock")),
            name,
            state: dir.join("state"),
            daemon_host: daemon_host.to_string(),
            child: None,
        };
        p.spawn(bundle);
        p
    }

    fn spawn(&mut self, bundle: &str) {
        let s = stack();
        let _ = std::fs::remove_file(&self.sock);
        let ca = std::fs::read_to_string(s.dir.join("tls/ca.crt")).unwrap();
        let child = Command::new("timeout")
            .arg("600")
            .arg(bin())
            .args(["serve", "--socket"])
            .arg(&self.sock)
            .env("REGISTRY", &s.registry)
            .env("NOTARY", &s.notary)
            .env("NOTARY_ROOT_CA", ca)
            .env("DOCKER_HOST", &self.daemon_host)
            .env("IMG_AUTHZ_STATE_DIR", &self.state)
            .env("IMG_AUTHZ_BUNDLE", bundle)
            .env("IMG_AUTHZ_BUNDLE_KEY", s.dir.join("cosign/cli/good.pub"))
            .env("IMG_AUTHZ_BUNDLE_INTERVAL", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.sock.exists() {
            assert!(
                Instant::now() < deadline,
                "the plugin socket never appeared"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.sock);
    }

    fn status(&self) -> serde_json::Value {
        let out = Command::new(bin())
            .args(["status", "--json", "--socket"])
            .arg(&self.sock)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    }

    /// Wait until the status satisfies `ok`; its bundle object.
    fn wait(&self, what: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let s = self.status();
            if ok(&s["bundle"]) {
                return s["bundle"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "{}: {what} never happened; status: {s:#}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn wait_revision(&self, rev: u64) -> serde_json::Value {
        self.wait(&format!("revision {rev}"), |b| b["revision"] == rev)
    }

    /// Wait for a refusal whose error contains `why`, after `since` refusals.
    fn wait_refusal(&self, since: u64, why: &str) -> serde_json::Value {
        self.wait(&format!("a refusal ({why})"), |b| {
            b["refusals"].as_u64().unwrap_or(0) > since
                && b["last_error"].as_str().unwrap_or("").contains(why)
        })
    }

    fn refusals(&self) -> u64 {
        self.status()["bundle"]["refusals"].as_u64().unwrap_or(0)
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A bundle directory: a policy whose rule for `app_repo` takes unsigned
/// images (`allow`) or wants the stack's cosign key (`deny` for our
/// unsigned image), the key file it names, and a marker making it unique.
fn bundle_dir(root: &Path, app_repo: &str, allow: bool, marker: &str) -> PathBuf {
    let d = root.join(unique("bundle"));
    std::fs::create_dir_all(d.join("keys")).unwrap();
    std::fs::copy(
        stack().dir.join("cosign/cli/good.pub"),
        d.join("keys/good.pub"),
    )
    .unwrap();
    let rule = if allow {
        "verifier = \"none\"".to_string()
    } else {
        "verifier = \"cosign\"\n[rules.cosign]\nkeys = [\"keys/good.pub\"]".to_string()
    };
    std::fs::write(
        d.join("policy.toml"),
        format!(
            "# {marker}\nversion = 1\n[[rules]]\nname = \"fleet\"\nrepositories = [\"{app_repo}/*\"]\n{rule}\n"
        ),
    )
    .unwrap();
    d
}

/// `img-authz bundle push`; the pushed `repo@digest`. `scope`: the
/// references hosts may take it from (empty: the default, `reference`).
fn push(dir: &Path, reference: &str, revision: u64, scope: &[&str]) -> String {
    let out = Command::new(bin())
        .args(["bundle", "push"])
        .arg(dir)
        .arg(reference)
        .args(["--revision", &revision.to_string()])
        .args(scope.iter().flat_map(|s| ["--scope", s]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bundle push: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Overwrite one byte of a blob in the registry's storage, keeping its size.
fn tamper_blob(digest: &str) {
    let hex = digest.trim_start_matches("sha256:");
    let p = stack().dir.join(format!(
        "registry/data/docker/registry/v2/blobs/sha256/{}/{hex}/data",
        &hex[..2]
    ));
    let mut b = std::fs::read(&p).unwrap();
    let at = String::from_utf8_lossy(&b).find("\"data\":\"").unwrap() + 8;
    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&p, b).unwrap();
}

/// Point `tag` of `pinned`'s repository at its manifest (what `crane tag`
/// or `docker buildx imagetools create` would do).
fn retag(pinned: &str, tag: &str) {
    let s = stack();
    let (repo, digest) = pinned.split_once('@').unwrap();
    let path = repo.split_once('/').unwrap().1;
    let url = |r: &str| format!("http://{}/v2/{path}/manifests/{r}", s.registry);
    let ct = "Content-Type: application/vnd.oci.image.manifest.v1+json";
    let get = Command::new("curl")
        .args([
            "-fsS",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
        ])
        .arg(url(digest))
        .output()
        .unwrap();
    assert!(get.status.success());
    let mut put = Command::new("curl")
        .args(["-fsS", "-X", "PUT", "-H", ct, "--data-binary", "@-"])
        .arg(url(tag))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    put.stdin.take().unwrap().write_all(&get.stdout).unwrap();
    assert!(put.wait().unwrap().success());
}

fn layer_digest(pinned: &str) -> String {
    let s = stack();
    let (repo, digest) = pinned.split_once('@').unwrap();
    let path = repo.split_once('/').unwrap().1;
    let out = Command::new("curl")
        .args([
            "-fsS",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
        ])
        .arg(format!(
            "http://{}/v2/{path}/manifests/{digest}",
            s.registry
        ))
        .output()
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    m["layers"][0]["digest"].as_str().unwrap().to_string()
}

#[test]
fn a_fleet_follows_signed_bundles_and_refuses_bad_ones() {
    let s = stack();
    let tmp = tempfile::tempdir().unwrap();
    let app_repo = s.repo(&format!("fleet-app/{}", unique("a")));
    let app = format!("{app_repo}/app:v1");
    s.image(&app);
    let path = format!("fleet/{}", unique("policy"));
    let reference = format!("oci://{}/{path}:prod", s.registry);
    let proxy = Proxy::start(&s.registry);
    // Host A reads the bundle through the proxy (to lose the registry
    // later), host B directly.
    let via_proxy = format!("oci://{}/{path}:prod", proxy.addr);
    // Published for both names the hosts follow (the scope is signed).
    let both = [reference.as_str(), via_proxy.as_str()];

    // Revision 1: the app's repository takes unsigned images.
    let r1 = push(
        &bundle_dir(tmp.path(), &app_repo, true, "r1"),
        &reference,
        1,
        &both,
    );
    sign(&r1, Mode::Classic, "good");

    let (da, db) = (tmp.path().join("a"), tmp.path().join("b"));
    let host = |d: &Path| format!("unix://{}", d.join("d.sock").display());
    let mut a = Plugin::start(&da, &via_proxy, &host(&da));
    let b = Plugin::start(&db, &reference, &host(&db));
    for p in [&a, &b] {
        let st = p.wait_revision(1);
        assert_eq!(st["digest"], r1.split_once('@').unwrap().1, "{st}");
    }
    let d_a = Daemon::start(&da, &[&format!("--authorization-plugin={}", a.name)]);
    let d_b = Daemon::start(&db, &[&format!("--authorization-plugin={}", b.name)]);
    let hosts = [&d_a.host, &d_b.host];
    for h in hosts {
        s.docker(h, &["pull", &app]).allowed();
    }

    // Revision 2 rolls out: the rule now wants a cosign signature.
    let r2 = push(
        &bundle_dir(tmp.path(), &app_repo, false, "r2"),
        &reference,
        2,
        &both,
    );
    sign(&r2, Mode::Classic, "good");
    for p in [&a, &b] {
        p.wait_revision(2);
    }
    for h in hosts {
        s.docker(h, &["pull", &app]).denied("signature");
    }

    // Rollback: revision 1 again (validly signed) is refused.
    let n = [a.refusals(), b.refusals()];
    let old = push(
        &bundle_dir(tmp.path(), &app_repo, true, "r1 again"),
        &reference,
        1,
        &both,
    );
    sign(&old, Mode::Classic, "good");
    for (p, n) in [&a, &b].into_iter().zip(n) {
        p.wait_refusal(n, "rollback");
        assert_eq!(p.status()["bundle"]["revision"], 2);
    }
    for h in hosts {
        s.docker(h, &["pull", &app]).denied("signature");
    }

    // A wrong signer: revision 3 signed with another key.
    let n = [a.refusals(), b.refusals()];
    let wrong = push(
        &bundle_dir(tmp.path(), &app_repo, true, "r3"),
        &reference,
        3,
        &both,
    );
    sign(&wrong, Mode::Classic, "other");
    for (p, n) in [&a, &b].into_iter().zip(n) {
        p.wait_refusal(n, "not signed by the pinned bundle signer");
    }
    for h in hosts {
        s.docker(h, &["pull", &app]).denied("signature");
    }

    // A tampered layer: revision 4, signed, its layer altered in the
    // registry's storage after the signature was made.
    let n = [a.refusals(), b.refusals()];
    let dir4 = bundle_dir(tmp.path(), &app_repo, true, "r4");
    let staged = push(
        &dir4,
        &format!("oci://{}/{path}:staging", s.registry),
        4,
        &[],
    );
    tamper_blob(&layer_digest(&staged));
    let r4 = push(&dir4, &reference, 4, &both);
    sign(&r4, Mode::Classic, "good");
    for (p, n) in [&a, &b].into_iter().zip(n) {
        p.wait_refusal(n, "tampered");
    }
    for h in hosts {
        s.docker(h, &["pull", &app]).denied("signature");
    }

    // Revision 5, sound: both hosts allow again.
    let r5 = push(
        &bundle_dir(tmp.path(), &app_repo, true, "r5"),
        &reference,
        5,
        &both,
    );
    sign(&r5, Mode::Classic, "good");
    for p in [&a, &b] {
        p.wait_revision(5);
    }
    for h in hosts {
        s.docker(h, &["pull", &app]).allowed();
    }

    // A retag: revision 6, published and signed for :canary, retagged as
    // :prod by someone with push access (its signature follows the
    // digest). Its signed scope names :canary only: both hosts refuse it.
    // Each host's own count: unsigned-bundle refusals differ between them.
    let n = [a.refusals(), b.refusals()];
    let canary = push(
        &bundle_dir(tmp.path(), &app_repo, false, "r6 canary"),
        &format!("oci://{}/{path}:canary", s.registry),
        6,
        &[],
    );
    sign(&canary, Mode::Classic, "good");
    retag(&canary, "prod");
    for (p, n) in [&a, &b].into_iter().zip(n) {
        p.wait_refusal(n, "out of scope");
        assert_eq!(p.status()["bundle"]["revision"], 5);
    }
    for h in hosts {
        s.docker(h, &["pull", &app]).allowed();
    }

    // The registry unreachable for host A: it goes on enforcing revision 5.
    let n = a.refusals();
    proxy.down();
    a.wait_refusal(n, "unreachable");
    s.docker(&d_a.host, &["pull", &app]).allowed();
    // Restarted, it boots from the persisted bundle.
    a.stop();
    a.spawn(&via_proxy);
    let st = a.wait_revision(5);
    assert_eq!(st["source"], "disk", "{st}");
    s.docker(&d_a.host, &["pull", &app]).allowed();

    // L5: the persisted bundle is verified again at boot, offline: with its
    // stored signature altered (one base64 character of it) the restarted
    // plugin refuses it and, the registry still down, denies everything,
    // naming IMG_AUTHZ_BUNDLE (failed before: only the blobs were checked
    // against each other, and the boot put it in force).
    a.stop();
    let sig = a.state.join("bundle/current/signature.json");
    let kept = std::fs::read(&sig).unwrap();
    let mut j: serde_json::Value = serde_json::from_slice(&kept).unwrap();
    let mut s64 = j["signature"].as_str().unwrap().to_string();
    let i = s64.len() / 2;
    let c = if &s64[i..=i] == "A" { "B" } else { "A" };
    s64.replace_range(i..=i, c);
    j["signature"] = s64.into();
    std::fs::write(&sig, serde_json::to_vec(&j).unwrap()).unwrap();
    a.spawn(&via_proxy);
    // (The boot's refusal is soon replaced as the last error by the
    // unreachable registry; its text is asserted by the unit tests.)
    let st = a.wait("a refusal", |b| b["refusals"].as_u64().unwrap_or(0) > 0);
    assert!(st["revision"].is_null(), "{st}");
    let out = s.docker(&d_a.host, &["pull", &app]);
    assert!(!out.ok, "{}", out.text());
    assert!(out.text().contains("IMG_AUTHZ_BUNDLE"), "{}", out.text());
    // The signature as written: taken again.
    a.stop();
    std::fs::write(&sig, &kept).unwrap();
    a.spawn(&via_proxy);
    assert_eq!(a.wait_revision(5)["source"], "disk");

    // A plugin that never verified a bundle denies everything, naming
    // IMG_AUTHZ_BUNDLE.
    let dc = tmp.path().join("c");
    let c = Plugin::start(&dc, &via_proxy, &host(&dc));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--unix-socket"])
        .arg(&c.sock)
        .args([
            "-d",
            r#"{"User":"","RequestMethod":"GET","RequestUri":"/v1.41/version"}"#,
            "http://plugin/AuthZPlugin.AuthZReq",
        ])
        .output()
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["Allow"], false, "{answer}");
    assert!(
        answer["Msg"]
            .as_str()
            .unwrap_or("")
            .contains("IMG_AUTHZ_BUNDLE"),
        "{answer}"
    );
    drop((d_a, d_b));
}

/// `notation sign` with the stack's notation keys (`stack`, the default,
/// or `--key other`).
fn notation_sign(image: &str, opts: &[&str]) {
    let s = stack();
    let config = std::env::var("STACK_NOTATION")
        .unwrap_or_else(|_| s.dir.join("notation").display().to_string());
    let bin = std::env::var("STACK_NOTATION_BIN")
        .unwrap_or_else(|_| "/var/cache/img-authz/modern/prefix/usr/bin/notation".into());
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .env("XDG_CONFIG_HOME", &config)
        .env("HOME", home.path())
        .args(["sign", "--insecure-registry"])
        .args(opts)
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "notation sign: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `img-authz bundle pull REF DIR PIN…`.
fn pull(reference: &str, dir: &Path, pin: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(["bundle", "pull", reference])
        .arg(dir)
        .args(pin)
        .output()
        .unwrap()
}

/// `bundle pull` verifies before it writes: with the cosign key pinned, or
/// with a Notation trust policy and store; another signer, or none, and
/// nothing is written.
#[test]
fn bundle_pull_verifies_the_pinned_cosign_or_notation_signer() {
    let s = stack();
    let tmp = tempfile::tempdir().unwrap();
    let repo = format!("{}/fleet/{}", s.registry, unique("pull"));
    let reference = format!("oci://{repo}:prod");
    let app = s.repo("fleet-app/x");
    let good = s.dir.join("cosign/cli/good.pub");
    let cosign_pin = ["--key", good.to_str().unwrap()];
    let policy = tmp.path().join("trustpolicy.json");
    std::fs::write(
        &policy,
        serde_json::json!({"version": "1.0", "trustPolicies": [{
            "name": "bundles", "registryScopes": [repo],
            "signatureVerification": {"level": "strict"}, "trustStores": ["ca:stack"],
            "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Notary, CN=stack"]}]})
        .to_string(),
    )
    .unwrap();
    let store = s.dir.join("notation/notation/truststore");
    let notation_pin = [
        "--notation-policy",
        policy.to_str().unwrap(),
        "--notation-store",
        store.to_str().unwrap(),
    ];

    // Unsigned: refused under either pin.
    let dir = bundle_dir(tmp.path(), &app, true, "pull 1");
    push(&dir, &reference, 1, &[]);
    for pin in [&cosign_pin[..], &notation_pin[..]] {
        let out = pull(&reference, &tmp.path().join(unique("o")), pin);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not signed by the pinned bundle signer"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Signed by other keys: still refused, nothing written.
    let pinned = push(&dir, &reference, 2, &[]);
    sign(&pinned, Mode::Bundle, "other");
    notation_sign(&pinned, &["--key", "other"]);
    for pin in [&cosign_pin[..], &notation_pin[..]] {
        let out_dir = tmp.path().join(unique("o"));
        assert!(!pull(&reference, &out_dir, pin).status.success());
        assert!(!out_dir.exists());
    }
    // Signed by the pinned signers: the files as published.
    sign(&pinned, Mode::Bundle, "good");
    notation_sign(&pinned, &[]);
    for pin in [&cosign_pin[..], &notation_pin[..]] {
        let out_dir = tmp.path().join(unique("o"));
        let out = pull(&reference, &out_dir, pin);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(out_dir.join("policy.toml")).unwrap(),
            std::fs::read(dir.join("policy.toml")).unwrap()
        );
        assert!(out_dir.join("keys/good.pub").exists());
    }
}
