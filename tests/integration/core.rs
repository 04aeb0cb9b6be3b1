//! Issue 1/7: registry allowlist, default denies, reads, and the request
//! shapes that bypassed earlier plugins, against the real guarded daemon.

use std::time::Duration;

use crate::raw;
use crate::stack::{stack, unique};

#[test]
fn reads_are_allowed() {
    let s = stack();
    for args in [
        &["ps", "-a"][..],
        &["images"],
        &["info"],
        &["version"],
        &["volume", "ls"],
        &["network", "ls"],
    ] {
        s.guarded(args).allowed();
    }
}

#[test]
fn pull_and_run_from_the_authorized_registry() {
    let s = stack();
    let name = unique("app");
    let tagged = s.repo(&format!("test/{name}:v1"));
    let untagged = s.repo(&format!("test/{name}-latest"));
    let nested = s.repo(&format!("team/{name}/sub/tool:v2"));
    s.signed_image(&tagged);
    s.signed_image(&format!("{untagged}:latest"));
    s.signed_image(&nested);

    s.guarded(&["pull", &tagged]).allowed();
    s.guarded(&["pull", &untagged]).allowed();
    s.guarded(&["pull", &nested]).allowed();
    for image in [&tagged, &untagged, &nested] {
        let r = s.guarded(&["run", "--rm", image, "cat", "/etc/marker"]);
        r.allowed();
        assert!(r.stdout.starts_with("marker"), "{}", r.text());
    }
}

#[test]
fn run_pulls_what_is_missing() {
    let s = stack();
    let image = s.repo(&format!("test/{}:v1", unique("fresh")));
    s.signed_image(&image);
    // Not pulled before: create answers 404, the CLI pulls, then creates.
    let r = s.guarded(&["run", "--rm", &image, "echo", "ran"]);
    r.allowed();
    assert!(r.stdout.contains("ran"), "{}", r.text());
}

#[test]
fn another_registry_is_denied() {
    let s = stack();
    let name = format!("test/{}:v1", unique("other"));
    s.image(&s.repo(&name));
    // The same registry under a name that is not authorized: the image is
    // there and pullable, only the plugin stands in the way.
    let port = s.registry.rsplit(':').next().unwrap_or_default();
    let other = format!("localhost:{port}/{name}");
    s.publisher(&["pull", &other]).allowed();
    let r = s.guarded(&["pull", &other]);
    r.denied("registry-allowlist");
    assert!(
        r.text().contains(&format!("localhost:{port}")) && r.text().contains("REGISTRY"),
        "{}",
        r.text()
    );
    s.guarded(&["run", "--rm", &other, "true"])
        .denied("registry-allowlist");
}

#[test]
fn docker_hub_is_denied_quickly_with_a_clear_message() {
    let s = stack();
    let r = s.guarded(&["pull", "busybox"]);
    r.denied("registry-allowlist");
    assert!(r.elapsed < Duration::from_secs(5), "took {:?}", r.elapsed);
    let t = r.text();
    assert!(t.contains("docker.io/library/busybox:latest"), "{t}");
    assert!(
        t.contains("not authorized") && t.contains("add docker.io to REGISTRY"),
        "{t}"
    );
}

#[test]
fn load_import_and_build_are_denied_by_default() {
    let s = stack();
    let image = s.repo(&format!("test/{}:v1", unique("sideload")));
    s.image(&image);
    let tar = std::process::Command::new("docker")
        .args(["-H", &s.publisher, "save", &image])
        .output()
        .expect("docker save");
    assert!(tar.status.success());

    s.docker_stdin(&s.guarded, &["load"], Some(&tar.stdout))
        .denied("load");
    s.docker_stdin(&s.guarded, &["import", "-", &image], Some(&tar.stdout))
        .denied("import");

    let ctx = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {image}\nRUN true\n"),
    )
    .expect("Dockerfile");
    let r = std::process::Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CONFIG", s.dir.join("docker-config"))
        .args([
            "-H",
            &s.guarded,
            "build",
            "-t",
            &image,
            ctx.path().to_str().unwrap_or("."),
        ])
        .output()
        .expect("docker build");
    let text =
        String::from_utf8_lossy(&r.stderr).into_owned() + &String::from_utf8_lossy(&r.stdout);
    assert!(
        !r.status.success() && text.contains("rule 'build'"),
        "{text}"
    );
}

#[test]
fn tagging_into_the_authorized_registry_is_denied() {
    let s = stack();
    let image = s.repo(&format!("test/{}:v1", unique("tagsrc")));
    s.signed_image(&image);
    s.guarded(&["pull", &image]).allowed();
    let target = s.repo(&format!("test/{}:trusted", unique("tagdst")));
    s.guarded(&["tag", &image, &target]).denied("tag");
    // Elsewhere is fine: that name cannot run here anyway.
    s.guarded(&["tag", &image, &format!("local/{}:x", unique("mine"))])
        .allowed();
}

#[test]
fn request_smuggling_against_the_real_daemon_is_denied() {
    let s = stack();
    let g = &s.guarded;
    // Lower-case keys: dockerd honours them.
    raw::assert_denied(
        &raw::json(
            g,
            "POST",
            "/v1.41/containers/create",
            r#"{"image":"busybox","hostconfig":{}}"#,
        ),
        "registry-allowlist",
    );
    // A percent-encoded route is still containers/create to dockerd.
    raw::assert_denied(
        &raw::json(
            g,
            "POST",
            "/v1.41/containers/%63reate",
            r#"{"Image":"busybox"}"#,
        ),
        "registry-allowlist",
    );
    // Absolute-form request target.
    raw::assert_denied(
        &raw::send(g, "POST http://evil/v1.41/images/create?fromImage=busybox&tag=latest HTTP/1.1\nContent-Length: 0", b""),
        "registry-allowlist",
    );
    // A duplicate key, where Go keeps the last.
    raw::assert_denied(
        &raw::json(
            g,
            "POST",
            "/v1.41/containers/create",
            &format!(r#"{{"Image":"{}","Image":"busybox"}}"#, s.repo("test/x:v1")),
        ),
        "request-decoding",
    );
    // Chunked body: older daemons never forwarded it (CVE-2024-41110).
    let body = r#"{"Image":"busybox"}"#;
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    raw::assert_denied(
        &raw::send(
            g,
            "POST /v1.41/containers/create HTTP/1.1\nContent-Type: application/json\nTransfer-Encoding: chunked",
            chunked.as_bytes(),
        ),
        "",
    );
    // A form body that dockerd would read instead of the query.
    let form = b"fromImage=busybox&tag=latest";
    raw::assert_denied(
        &raw::send(
            g,
            &format!(
                "POST /v1.41/images/create?fromImage={}&tag=v1 HTTP/1.1\nContent-Type: application/x-www-form-urlencoded\nContent-Length: {}",
                s.repo("test/x"),
                form.len()
            ),
            form,
        ),
        "form body",
    );
    // Query smuggling that fooled the prior plugin: decoded once, first value wins.
    raw::assert_denied(
        &raw::send(
            g,
            &format!(
                "POST /v1.41/images/create?x=%26fromImage%3D{}&fromImage=busybox&tag=latest HTTP/1.1\nContent-Length: 0",
                s.repo("test/x")
            ),
            b"",
        ),
        "registry-allowlist",
    );
}

#[test]
fn joining_or_initialising_a_swarm_is_denied() {
    let s = stack();
    s.guarded(&["swarm", "init", "--advertise-addr", "127.0.0.1"])
        .denied("swarm");
    s.guarded(&["swarm", "join", "--token", "SWMTKN-1-x", "127.0.0.1:2377"])
        .denied("swarm");
}
