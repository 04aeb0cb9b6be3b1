//! `docker build` through BuildKit (`docker buildx build`: `/session` and
//! `/grpc`, the builds the plugin cannot see into) on both engines. The
//! classic builder (`DOCKER_BUILDKIT=0`) is covered by
//! `core::load_import_and_build_are_denied_by_default` and
//! `trust::loaded_imported_built_and_committed_images_never_run`, which run
//! on both engines too. The BuildKit client is Debian's docker-buildx,
//! which `scripts/stack deps` unpacks privately and links into the stack's
//! DOCKER_CONFIG.

use std::process::Command;

use crate::stack::{stack, unique, Run};

fn repo(name: &str) -> String {
    stack().repo(&format!("build/{}", unique(name)))
}

/// `docker buildx build` on `host` of a context whose Dockerfile is `df`.
fn buildx(host: &str, df: &str, args: &[&str]) -> Run {
    let s = stack();
    let ctx = tempfile::tempdir().expect("tempdir");
    std::fs::write(ctx.path().join("Dockerfile"), df).expect("Dockerfile");
    let start = std::time::Instant::now();
    let out = Command::new("docker")
        .env("DOCKER_CONFIG", s.dir.join("docker-config"))
        .env("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
        .args(["-H", host, "buildx", "build", "--progress", "plain"])
        .args(args)
        .arg(ctx.path())
        .output()
        .expect("docker buildx build");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// The guarded daemon refuses a BuildKit build: the session and gRPC
/// calls (rule 'build'). buildx, finding no BuildKit behind the daemon,
/// then falls back to a docker-container builder, whose `moby/buildkit`
/// image (a privileged container) is refused too: nothing is built.
#[test]
fn buildkit_builds_are_denied_by_default() {
    let s = stack();
    let image = format!("{}:v1", repo("denied"));
    s.signed_image(&image);
    let built = format!("{}:built", repo("denied"));
    let out = buildx(
        &s.guarded,
        &format!("FROM {image}\nCOPY Dockerfile /built\n"),
        &["-t", &built],
    );
    let t = out.text();
    assert!(!out.ok, "a BuildKit build succeeded:\n{t}");
    assert!(
        t.contains("authorization denied by plugin")
            && (t.contains("rule 'build'")
                || (t.contains("moby/buildkit") && t.contains("rule 'registry-allowlist'"))),
        "not denied by the plugin's rule 'build' (or its builder container):\n{t}"
    );
    let r = s.guarded(&["image", "inspect", &built]);
    assert!(!r.ok, "the denied build left an image: {}", r.text());
}

/// Where BuildKit builds are allowed, the result, tagged with the signed
/// name it was built from, never runs under that name nor by its ID.
#[test]
fn a_buildkit_build_never_runs_under_a_signed_name() {
    let s = stack();
    let p = &s.permissive;
    let image = format!("{}:v1", repo("built"));
    s.signed_image(&image);
    let out = buildx(
        p,
        // COPY, not RUN: the stack's daemons have no bridge network.
        &format!("FROM {image}\nCOPY Dockerfile /etc/marker\n"),
        &["-t", &image],
    );
    out.allowed();
    let id = s.image_id(p, &image);
    let r = s.docker(p, &["run", "--rm", &image, "cat", "/etc/marker"]);
    r.denied("content-binding");
    let r = s.docker(p, &["run", "--rm", &id, "true"]);
    assert!(
        !r.ok && r.text().contains("authorization denied"),
        "{}",
        r.text()
    );
}
