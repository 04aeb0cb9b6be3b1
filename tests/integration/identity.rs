//! Issue 12, hole 4: one identity per repository. A registry reached by
//! another spelling of its host must not give the repository a second
//! identity (Notary GUN, trust state, first-use root).
//!
//! The stack's plugins authorize `127.0.0.1:PORT`, which has no letters to
//! change the case of; this test starts a plugin and dockerd of its own that
//! authorize `localhost:PORT` (the same registry), as an administrator
//! would write it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::stack::{stack, unique, Daemon};

/// The plugin, stopped by PID (SIGTERM to `timeout`, which passes it on).
struct Plugin(Child);

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

fn plugin(name: &str, registry: &str, daemon: &str, state: &Path) -> Plugin {
    let s = stack();
    let sock = format!("/run/docker/plugins/{name}.sock");
    let ca = std::fs::read_to_string(s.dir.join("tls/ca.crt")).expect("ca");
    let child = Command::new("timeout")
        .arg("600")
        .arg(env!("CARGO_BIN_EXE_img-authz"))
        .args(["serve", "--socket", &sock])
        .env("REGISTRY", registry)
        .env("NOTARY", &s.notary)
        .env("NOTARY_ROOT_CA", ca)
        .env("DOCKER_HOST", daemon)
        .env("IMG_AUTHZ_STATE_DIR", state)
        .env("IMG_AUTHZ_PULL_CACHE_SECS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("plugin starts");
    let p = Plugin(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Path::new(&sock).exists() {
        assert!(
            Instant::now() < deadline,
            "the plugin socket never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    p
}

/// Someone who can push to the registry and publish to the notary server,
/// but holds none of the repository's keys, pushes content to a trusted
/// repository and signs it under an upper-case spelling of the registry
/// (a fresh GUN, whose root would be trusted on first use). Neither that
/// spelling nor the canonical one gets it pulled or run, and neither do the
/// RepoDigest dockerd recorded under the alias, nor a container created
/// from it before the plugin guarded the daemon.
#[test]
fn another_spelling_of_the_registry_gets_no_first_use_root() {
    let s = stack();
    let port = s
        .registry
        .rsplit(':')
        .next()
        .expect("the stack registry has a port");
    let (lower, upper) = (format!("localhost:{port}"), format!("LOCALHOST:{port}"));
    let path = format!("ident/{}", unique("app"));
    let good = format!("{lower}/{path}");
    let alias = format!("{upper}/{path}");

    // The publisher's signed release, under the canonical name.
    let signed = s.signed_image(&format!("{good}:v1"));
    // The attacker's content, in the same repository of the same registry,
    // signed under the GUN `LOCALHOST:PORT/ident/...` with a fresh root.
    let evil = s.image(&format!("{good}:v2"));
    let evil_digest = evil.rsplit('@').next().unwrap_or_default().to_string();
    assert_ne!(evil_digest, signed);
    assert_eq!(s.sign(&format!("{alias}:v2")), evil_digest);

    // Before the plugin guards it, the daemon pulls the alias (recorded as
    // written: RepoDigest LOCALHOST:PORT/...@digest) and creates a container.
    let tmp = tempfile::tempdir().expect("tempdir");
    // dockerd 28's containerd image store treats only a lower-case
    // `localhost` as a plain-HTTP registry; name both spellings.
    let insecure = [
        format!("--insecure-registry={lower}"),
        format!("--insecure-registry={upper}"),
    ];
    let mut d = Daemon::start(&tmp.path().join("d"), &[&insecure[0], &insecure[1]]);
    s.docker(&d.host, &["pull", &format!("{alias}:v2")])
        .allowed();
    let digests = s.docker(
        &d.host,
        &[
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            &format!("{alias}:v2"),
        ],
    );
    assert!(
        digests.stdout.contains(&format!("{alias}@{evil_digest}")),
        "{}",
        digests.text()
    );
    let evil_id = s.image_id(&d.host, &format!("{alias}:v2"));
    s.docker(
        &d.host,
        &["create", "--name", "pre", &format!("{alias}:v2"), "true"],
    )
    .allowed();

    let name = unique("iaz-ident");
    let _plugin = plugin(&name, &lower, &d.host, &tmp.path().join("state"));
    d.restart(&[
        &format!("--authorization-plugin={name}"),
        &insecure[0],
        &insecure[1],
    ]);

    // The repository is trusted (its first root taken) by a normal pull.
    s.docker(&d.host, &["pull", &format!("{good}:v1")])
        .allowed();
    s.docker(&d.host, &["run", "--rm", &format!("{good}:v1"), "true"])
        .allowed();

    // By the alias: refused, naming the spelling to use; no first-use root.
    let out = s.docker(&d.host, &["pull", &format!("{alias}:v2")]);
    out.denied("registry-allowlist");
    assert!(
        out.text().contains(&format!("write it as {good}")),
        "{}",
        out.text()
    );
    for image in [format!("{alias}:v2"), format!("{alias}@{evil_digest}")] {
        s.docker(&d.host, &["run", "--rm", &image, "true"])
            .denied("registry-allowlist");
    }
    // By image ID its only RepoDigest is the alias: no identity vouches for it.
    s.docker(&d.host, &["run", "--rm", &evil_id, "true"])
        .denied("content-binding");
    s.docker(&d.host, &["start", "pre"])
        .denied("content-binding");
    // By the canonical name the attacker's tag is simply not signed.
    s.docker(&d.host, &["pull", &format!("{good}:v2")])
        .denied("signature");
    // The state directory holds the repository's one trust history only:
    // the alias never reached the notary client.
    let states: Vec<_> = walk(&tmp.path().join("state"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(states.len(), 1, "{states:?}");
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
