//! Issue 2/7: Notary v1 signatures, verified in-process and bound to the
//! content that is pulled and run, against the real notary-server, registry
//! and guarded daemons.

use std::time::Duration;

use crate::stack::{stack, unique, Daemon};

fn repo(name: &str) -> String {
    stack().repo(&format!("trust/{}", unique(name)))
}

#[test]
fn signed_images_pull_and_run_by_tag_without_tag_and_by_digest() {
    let s = stack();
    let r = repo("signed");
    let d1 = s.signed_image(&format!("{r}:v1"));
    s.signed_image(&format!("{r}:latest"));

    s.guarded(&["pull", &format!("{r}:v1")]).allowed();
    s.guarded(&["pull", &r]).allowed();
    s.guarded(&["pull", &format!("{r}@{d1}")]).allowed();
    for image in [format!("{r}:v1"), r.clone(), format!("{r}@{d1}")] {
        let out = s.guarded(&["run", "--rm", &image, "cat", "/etc/marker"]);
        out.allowed();
        assert!(out.stdout.starts_with("marker"), "{}", out.text());
    }
    // The decision log records the bound digest.
    let seen = |log: &str| log.contains(&format!("\"digest\":\"{d1}\""));
    assert!(
        seen(&crate::stack::log_when(&s.plugin_log, seen)),
        "digest not in the decision log"
    );
}

#[test]
fn unsigned_tags_are_denied() {
    let s = stack();
    let r = repo("unsigned");
    s.signed_image(&format!("{r}:v1"));
    s.image(&format!("{r}:v2"));
    let out = s.guarded(&["pull", &format!("{r}:v2")]);
    out.denied("signature");
    assert!(
        out.text().contains("is not signed") && out.text().contains("docker trust sign"),
        "{}",
        out.text()
    );
    s.guarded(&["run", "--rm", &format!("{r}:v2"), "true"])
        .denied("signature");
    // A repository the notary server knows nothing of.
    let none = repo("nodata");
    s.image(&format!("{none}:v1"));
    let out = s.guarded(&["pull", &format!("{none}:v1")]);
    out.denied("signature");
    assert!(out.text().contains("no trust data"), "{}", out.text());
}

#[test]
fn a_tag_moved_to_unsigned_content_never_runs() {
    let s = stack();
    let r = repo("moved");
    let image = format!("{r}:v1");
    let signed = s.signed_image(&image);
    s.guarded(&["pull", &image]).allowed();
    // The registry's tag now points at other, unsigned content.
    let moved = s.image(&image);
    assert!(!moved.ends_with(&signed));
    let out = s.guarded(&["pull", &image]);
    out.denied("content-binding");
    assert!(
        out.text().contains("the tag moved") && out.text().contains(&signed),
        "{}",
        out.text()
    );
    // The daemon that already has the signed content still runs exactly that.
    let ran = s.guarded(&["run", "--rm", &image, "cat", "/etc/marker"]);
    ran.allowed();
    // Even a daemon that may load images never runs the moved content: it
    // cannot pull it, and loaded under the signed name it is refused.
    s.docker(&s.permissive, &["pull", &image])
        .denied("content-binding");
    let tar = std::process::Command::new("docker")
        .args(["-H", &s.publisher, "save", &image])
        .output()
        .expect("docker save");
    s.docker_stdin(&s.permissive, &["load"], Some(&tar.stdout))
        .allowed();
    s.docker(&s.permissive, &["run", "--rm", &image, "true"])
        .denied("content-binding");
}

#[test]
fn an_unsigned_digest_is_denied() {
    let s = stack();
    let r = repo("digest");
    s.signed_image(&format!("{r}:v1"));
    let other = s.image(&format!("{r}:v2"));
    let digest = other.rsplit('@').next().unwrap_or_default().to_string();
    let out = s.guarded(&["pull", &format!("{r}@{digest}")]);
    out.denied("signature");
    assert!(
        out.text().contains("is not a signed target"),
        "{}",
        out.text()
    );
}

#[test]
fn a_signed_image_retagged_to_another_signed_name_never_runs() {
    let s = stack();
    let a = format!("{}:v1", repo("a"));
    let b = format!("{}:v1", repo("b"));
    s.signed_image(&a);
    s.signed_image(&b);
    // The default policy refuses the retag outright.
    s.guarded(&["pull", &a]).allowed();
    s.guarded(&["tag", &a, &b]).denied("tag");
    // Where retagging is allowed, the retagged image still does not run
    // under the other name: its digest is signed for a, not for b.
    let p = &s.permissive;
    s.docker(p, &["pull", &a]).allowed();
    s.docker(p, &["tag", &a, &b]).allowed();
    let out = s.docker(p, &["run", "--rm", &b, "true"]);
    out.denied("content-binding");
    assert!(out.text().contains("is not the signed"), "{}", out.text());
    // Under its own name it runs.
    s.docker(p, &["run", "--rm", &a, "true"]).allowed();
}

#[test]
fn running_by_image_id() {
    let s = stack();
    let image = format!("{}:v1", repo("byid"));
    s.signed_image(&image);
    s.guarded(&["pull", &image]).allowed();
    let id = s.image_id(&s.guarded, &image);
    s.guarded(&["run", "--rm", &id, "true"]).allowed();
    s.guarded(&["run", "--rm", id.trim_start_matches("sha256:"), "true"])
        .allowed();
    // A short ID is a name to dockerd first; it is refused with advice.
    let short = &id.trim_start_matches("sha256:")[..12];
    let out = s.guarded(&["run", "--rm", short, "true"]);
    assert!(
        !out.ok && out.text().contains("full image ID"),
        "{}",
        out.text()
    );
}

#[test]
fn loaded_imported_built_and_committed_images_never_run() {
    let s = stack();
    let p = &s.permissive;
    let image = format!("{}:v1", repo("local"));
    let unsigned = format!("{}:v1", repo("local-unsigned"));
    s.signed_image(&image);
    s.image(&unsigned);

    // Load: unsigned content under the signed name.
    let tar = std::process::Command::new("docker")
        .args(["-H", &s.publisher, "save", &unsigned])
        .output()
        .expect("docker save");
    s.docker_stdin(p, &["load"], Some(&tar.stdout)).allowed();
    s.docker(p, &["tag", &unsigned, &image]).allowed();
    s.docker(p, &["run", "--rm", &image, "true"])
        .denied("content-binding");
    let id = s.image_id(p, &unsigned);
    s.docker(p, &["run", "--rm", &id, "true"])
        .denied("content-binding");

    // Import.
    let imported = format!("{}:v1", repo("imported"));
    let rootfs = tempfile::tempdir().expect("tempdir");
    std::fs::write(rootfs.path().join("f"), "x").expect("file");
    let tar = std::process::Command::new("tar")
        .args(["-C", rootfs.path().to_str().unwrap_or("."), "-c", "."])
        .output()
        .expect("tar");
    s.docker_stdin(p, &["import", "-", &imported], Some(&tar.stdout))
        .allowed();
    s.docker(p, &["run", "--rm", &imported, "true"])
        .denied("signature");

    // Build (classic builder) from the signed image, tagged as it.
    s.docker(p, &["pull", &image]).allowed();
    let ctx = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {image}\nRUN echo built > /etc/marker\n"),
    )
    .expect("Dockerfile");
    let built = std::process::Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", s.dir.join("docker-config"))
        .args([
            "-H",
            p,
            "build",
            "-q",
            "-t",
            &image,
            ctx.path().to_str().unwrap_or("."),
        ])
        .output()
        .expect("docker build");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    s.docker(p, &["run", "--rm", &image, "true"])
        .denied("content-binding");

    // Commit a container of the signed image under the signed name.
    s.docker(p, &["pull", &image]).allowed();
    let name = unique("c");
    s.docker(p, &["create", "--name", &name, &image, "true"])
        .allowed();
    s.docker(p, &["commit", &name, &image]).allowed();
    s.docker(p, &["run", "--rm", &image, "true"])
        .denied("content-binding");
    s.docker(p, &["rm", &name]).allowed();
}

#[test]
fn notary_down_is_denied_in_bounded_time() {
    let s = stack();
    let image = format!("{}:v1", repo("offline"));
    s.signed_image(&image);
    let out = s.docker(&s.offline, &["pull", &image]);
    out.denied("signature");
    assert!(
        out.text().contains("could not be checked") && out.text().contains("NOTARY"),
        "{}",
        out.text()
    );
    assert!(
        out.elapsed < Duration::from_secs(12),
        "took {:?}",
        out.elapsed
    );
}

#[test]
fn docker_trust_signing_is_honoured() {
    let s = stack();
    let image = format!("{}:v1", repo("dockertrust"));
    s.image(&image);
    let key_dir = tempfile::tempdir().expect("tempdir");
    let trust = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .env("DOCKER_CONFIG", s.dir.join("docker-config"))
            .env("DOCKER_CONTENT_TRUST_SERVER", &s.notary)
            .env("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", "stack")
            .env("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "stack")
            .current_dir(key_dir.path())
            .args(["-H", &s.publisher])
            .args(args)
            .output()
            .expect("docker trust");
        assert!(
            out.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let signer = unique("alice");
    trust(&["trust", "key", "generate", &signer, "--dir", "."]);
    let repo_name = image
        .rsplit_once(':')
        .map(|(r, _)| r)
        .unwrap_or(&image)
        .to_string();
    trust(&[
        "trust",
        "signer",
        "add",
        "--key",
        &format!("{signer}.pub"),
        &signer,
        &repo_name,
    ]);
    trust(&["trust", "sign", &image]);
    std::thread::sleep(s.cache_ttl());
    s.guarded(&["pull", &image]).allowed();
    s.guarded(&["run", "--rm", &image, "true"]).allowed();
}

/// Starting or restarting a container runs the image it was created from,
/// so that is checked again: a container created before the plugin guarded
/// the daemon (or through a tag moved between the create check and dockerd's
/// own lookup) runs only if its image is bound to a signed digest.
#[test]
fn starting_a_container_checks_the_image_it_was_created_from() {
    let s = stack();
    let r = repo("start");
    let signed = s.signed_image(&format!("{r}:v1"));
    let unsigned = repo("start-unsigned");
    s.image(&format!("{unsigned}:v1"));

    let tmp = tempfile::tempdir().expect("tempdir");
    let mut d = Daemon::start(&tmp.path().join("d"), &[]);
    // Unguarded: containers of a signed image, of an unsigned one, and of
    // the signed name after its tag was moved to the unsigned content.
    s.docker(&d.host, &["pull", &format!("{r}:v1")]).allowed();
    s.docker(&d.host, &["pull", &format!("{unsigned}:v1")])
        .allowed();
    for (name, image) in [
        ("good", format!("{r}:v1")),
        ("bad", format!("{unsigned}:v1")),
    ] {
        s.docker(&d.host, &["create", "--name", name, &image, "true"])
            .allowed();
    }
    s.docker(
        &d.host,
        &["tag", &format!("{unsigned}:v1"), &format!("{r}:v1")],
    )
    .allowed();
    s.docker(
        &d.host,
        &["create", "--name", "moved", &format!("{r}:v1"), "true"],
    )
    .allowed();

    // Now guarded by a plugin of its own that asks this daemon.
    let plugin = unique("iaz-start");
    let sock = format!("/run/docker/plugins/{plugin}.sock");
    let ca = std::fs::read_to_string(s.dir.join("tls/ca.crt")).expect("ca");
    let mut child = std::process::Command::new("timeout")
        .arg("300")
        .arg(env!("CARGO_BIN_EXE_img-authz"))
        .args(["serve", "--socket", &sock])
        .env("REGISTRY", &s.registry)
        .env("NOTARY", &s.notary)
        .env("NOTARY_ROOT_CA", ca)
        .env("DOCKER_HOST", &d.host)
        .env("IMG_AUTHZ_STATE_DIR", tmp.path().join("state"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("plugin starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::path::Path::new(&sock).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the plugin socket never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    d.restart(&[&format!("--authorization-plugin={plugin}")]);

    s.docker(&d.host, &["start", "good"]).allowed();
    s.docker(&d.host, &["start", "bad"])
        .denied("content-binding");
    s.docker(&d.host, &["restart", "bad"])
        .denied("content-binding");
    let out = s.docker(&d.host, &["start", "moved"]);
    out.denied("content-binding");
    assert!(out.text().contains("container moved"), "{}", out.text());
    s.docker(&d.host, &["start", "nosuchcontainer"])
        .denied("content-binding");
    // The moved tag itself cannot make a new container either; the signed
    // digest still runs.
    s.docker(&d.host, &["create", &format!("{r}:v1"), "true"])
        .denied("content-binding");
    s.docker(&d.host, &["run", "--rm", &format!("{r}@{signed}"), "true"])
        .allowed();

    d.stop();
    let _ = std::process::Command::new("pkill")
        .args(["-TERM", "-P", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_file(&sock);
}
