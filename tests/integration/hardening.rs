//! Issue 4/7: the policy file against the real guarded daemon, whose plugin
//! runs examples/hardened.toml — every escape route denied, a plain run of
//! a signed image allowed — plus `img-authz check`, hot reload and
//! self-protection.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::raw;
use crate::stack::{stack, unique, Daemon};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_img-authz"))
}

#[test]
fn every_escape_route_is_denied_and_a_plain_run_allowed() {
    let s = stack();
    let image = s.repo(&format!("hardened/{}:v1", unique("app")));
    s.signed_image(&image);
    s.guarded(&["pull", &image]).allowed();
    let out = s.guarded(&["run", "--rm", &image, "cat", "/etc/marker"]);
    out.allowed();
    for flags in [
        &["--privileged"][..],
        &["-v", "/:/host"],
        &["--pid", "host"],
        &["--network", "host"],
        &["--cap-add", "SYS_ADMIN"],
        &["--device", "/dev/null"],
        &["--security-opt", "seccomp=unconfined"],
        &["--security-opt", "apparmor=unconfined"],
        &["--mount", "type=volume,dst=/m,volume-driver=local,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/"],
        &["--mount", "type=bind,src=/etc,dst=/e"],
        &["-v", "/var/run/docker.sock:/var/run/docker.sock"],
        &["--sysctl", "net.ipv4.ip_forward=1"],
        &["--cgroup-parent", "/evil"],
        &["--security-opt", "systempaths=unconfined"],
        &["--security-opt", "label=disable"],
        &["--mount", "type=volume,dst=/m,volume-driver=local,volume-opt=type=ext4,volume-opt=device=/dev/sda1"],
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&image, "true"]);
        let out = s.guarded(&args);
        out.denied("hardening");
        assert!(out.text().contains("[hardening]"), "{flags:?}: {}", out.text());
    }
    // Volumes that bind the host, created on their own.
    s.guarded(&[
        "volume",
        "create",
        "--driver",
        "local",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        "device=/etc",
        &unique("v"),
    ])
    .denied("hardening");
    s.guarded(&[
        "volume",
        "create",
        "--driver",
        "local",
        "-o",
        "type=overlay",
        "-o",
        "device=overlay",
        "-o",
        "o=lowerdir=/home,upperdir=/tmp/u,workdir=/tmp/w",
        &unique("v"),
    ])
    .denied("hardening");
    s.guarded(&["volume", "create", &unique("plain")]).allowed();
    // A privileged exec into a running container.
    let name = unique("c");
    s.guarded(&["run", "-d", "--name", &name, &image, "sleep", "30"])
        .allowed();
    s.guarded(&["exec", "--privileged", &name, "true"])
        .denied("hardening");
    s.guarded(&["exec", &name, "true"]).allowed();
    s.guarded(&["rm", "-f", &name]).allowed();
    // Raw API: the top-level HostConfig of 20.10, with lower-case keys.
    raw::assert_denied(
        &raw::json(
            &s.guarded,
            "POST",
            "/v1.41/containers/create",
            &format!(r#"{{"Image":"{image}","privileged":true}}"#),
        ),
        "hardening",
    );
}

/// Hole 2: on this cgroup v1 machine dockerd gives a container created
/// without `--cgroupns` the host's cgroup namespace. Under
/// examples/hardened.toml (`host_namespaces = false`) on a daemon with its
/// default (host), a plain run is denied and `--cgroupns private` runs; a
/// container created before the plugin guarded the daemon does not start.
/// Failed before the fix (the plain run was allowed).
#[test]
fn the_hosts_cgroup_namespace_by_default_on_cgroup_v1_is_denied() {
    let s = stack();
    let image = s.repo(&format!("cgroupns/{}:v1", unique("app")));
    s.signed_image(&image);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut d = Daemon::start(&tmp.path().join("d"), &[]);
    s.docker(&d.host, &["pull", &image]).allowed();
    let old = unique("old");
    s.docker(&d.host, &["create", "--name", &old, &image, "true"])
        .allowed();
    let plugin = unique("iaz-cgns");
    let sock = format!("/run/docker/plugins/{plugin}.sock");
    let ca = std::fs::read_to_string(s.dir.join("tls/ca.crt")).expect("ca");
    // The stack's plugin binary when it names one (to run this against
    // another build), else this build's.
    let plugin_bin = std::env::var_os("IMG_AUTHZ_BIN").map_or_else(bin, PathBuf::from);
    let mut child = Command::new("timeout")
        .arg("300")
        .arg(plugin_bin)
        .args(["serve", "--socket", &sock])
        .env("REGISTRY", &s.registry)
        .env("NOTARY", &s.notary)
        .env("NOTARY_ROOT_CA", ca)
        .env("DOCKER_HOST", &d.host)
        .env("IMG_AUTHZ_STATE_DIR", tmp.path().join("state"))
        .env("IMG_AUTHZ_POLICY", s.root.join("examples/hardened.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("plugin starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::path::Path::new(&sock).exists() {
        assert!(
            Instant::now() < deadline,
            "the plugin socket never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    d.restart(&[&format!("--authorization-plugin={plugin}")]);

    let out = s.docker(&d.host, &["run", "--rm", &image, "true"]);
    out.denied("hardening");
    assert!(
        out.text().contains("--cgroupns private") && out.text().contains("default-cgroupns-mode"),
        "{}",
        out.text()
    );
    s.docker(
        &d.host,
        &["run", "--rm", "--cgroupns", "private", &image, "true"],
    )
    .allowed();
    let out = s.docker(&d.host, &["start", &old]);
    out.denied("hardening");
    assert!(out.text().contains(&old), "{}", out.text());

    d.stop();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_file(&sock);
}

/// Safe by default: the "permissive" daemon's plugin has no policy file,
/// so the built-in baseline applies. Failed before (no baseline: the
/// privileged run and the data-root bind were allowed).
#[test]
fn the_baseline_without_a_policy_file() {
    let s = stack();
    let image = s.repo(&format!("baseline/{}:v1", unique("app")));
    s.signed_image(&image);
    let p = &s.permissive;
    s.docker(p, &["pull", &image]).allowed();
    let out = s.docker(p, &["run", "--rm", "--privileged", &image, "true"]);
    out.denied("hardening");
    assert!(
        out.text().contains("baseline") && out.text().contains("IMG_AUTHZ_HARDENING=off"),
        "{}",
        out.text()
    );
    // Ordinary use stays allowed: a data directory, the host network, the
    // daemon's default cgroup namespace.
    let data = tempfile::tempdir().expect("tempdir");
    let bind = format!("{}:/data", data.path().display());
    s.docker(
        p,
        &[
            "run",
            "--rm",
            "-v",
            &bind,
            "--network",
            "host",
            &image,
            "true",
        ],
    )
    .allowed();
    let root = s.docker(p, &["info", "--format", "{{.DockerRootDir}}"]);
    root.allowed();
    let root = root.stdout.trim().to_string();
    assert!(root.starts_with('/'), "{root}");
    let out = s.docker(
        p,
        &["run", "--rm", "-v", &format!("{root}:/r"), &image, "true"],
    );
    out.denied("hardening");
    assert!(out.text().contains("docker_socket"), "{}", out.text());
    s.docker(p, &["run", "--rm", "--pid", "host", &image, "true"])
        .denied("hardening");
    s.docker(
        p,
        &["run", "--rm", "--cap-add", "SYS_ADMIN", &image, "true"],
    )
    .denied("hardening");
    // A local volume of the host's own procfs (a writable
    // /proc/sys/kernel/core_pattern), on its own or through a mount.
    let vol = unique("proc");
    s.docker(
        p,
        &[
            "volume",
            "create",
            "-d",
            "local",
            "-o",
            "type=proc",
            "-o",
            "device=none",
            &vol,
        ],
    )
    .denied("hardening");
    s.docker(
        p,
        &[
            "run",
            "--rm",
            "--mount",
            &format!("type=volume,src={vol},dst=/p,volume-opt=type=proc,volume-opt=device=none"),
            &image,
            "true",
        ],
    )
    .denied("hardening");
}

#[test]
fn check_command() {
    let s = stack();
    let signed = s.repo(&format!("check/{}:v1", unique("app")));
    s.signed_image(&signed);
    let unsigned = s.repo(&format!("check/{}:v1", unique("app")));
    s.image(&unsigned);
    let state = tempfile::tempdir().expect("tempdir");
    let ca = std::fs::read_to_string(s.dir.join("tls/ca.crt")).expect("ca");
    let check = |args: &[&str]| {
        Command::new(bin())
            .arg("check")
            .args(args)
            .env("REGISTRY", &s.registry)
            .env("NOTARY", &s.notary)
            .env("NOTARY_ROOT_CA", &ca)
            .env("IMG_AUTHZ_STATE_DIR", state.path())
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .output()
            .expect("img-authz check")
    };
    let ok = check(&[&signed]);
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        text.starts_with("ALLOW") && text.contains("digest: sha256:"),
        "{text}"
    );
    let no = check(&[&unsigned]);
    let text = String::from_utf8_lossy(&no.stdout).into_owned();
    assert_eq!(no.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with("DENY")
            && text.contains("rule:   signature")
            && text.contains("to allow it"),
        "{text}"
    );
    assert_eq!(check(&["docker.io/library/busybox"]).status.code(), Some(1));
    assert_eq!(check(&["Not A Reference"]).status.code(), Some(2));
    assert_eq!(
        check(&["--policy", "/nonexistent.toml", &signed])
            .status
            .code(),
        Some(2)
    );
    // An AuthZReq call, as dockerd sends it.
    let dir = tempfile::tempdir().expect("tempdir");
    let call = dir.path().join("req.json");
    std::fs::write(
        &call,
        r#"{"RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestBody":"eyJJbWFnZSI6ImV4YW1wbGUuY29tL3gifQ==","RequestHeaders":{"Content-Type":"application/json","Content-Length":"24"}}"#,
    )
    .expect("write");
    let out = check(&["--request", call.to_str().unwrap_or_default()]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("rule:   registry-allowlist") && text.contains("example.com/x"),
        "{text}"
    );
}

/// A running plugin reloads its policy file on change and on SIGHUP, and
/// keeps the running policy when the new one is invalid.
#[test]
fn hot_reload_of_a_running_plugin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.toml");
    let sock = dir.path().join("p.sock");
    let rule = |name: &str| {
        format!("version = 1\n[[rules]]\nname = \"{name}\"\nrepositories = [\"a.io/*\"]\nverifier = \"none\"\n")
    };
    std::fs::write(&policy, rule("first")).expect("write");
    let mut child = Command::new("timeout")
        .arg("120")
        .arg(bin())
        .args(["serve", "--socket"])
        .arg(&sock)
        .arg("--policy")
        .arg(&policy)
        .env("IMG_AUTHZ_STATE_DIR", dir.path())
        .env("IMG_AUTHZ_TRUST", "none")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("plugin starts");
    let rules = || -> Option<Vec<String>> {
        let out = Command::new(bin())
            .args(["status", "--json", "--socket"])
            .arg(&sock)
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(
            v["policy_file"]["rules"]
                .as_array()?
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect(),
        )
    };
    let wait_for = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if rules().is_some_and(|r| r == [want]) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the plugin never showed rule {want:?}: {:?}",
                rules()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait_for("first");
    // Changed on disk: picked up without a signal.
    std::fs::write(&policy, rule("second")).expect("write");
    wait_for("second");
    // Invalid: refused, the running policy stays.
    std::fs::write(
        &policy,
        "version = 1\n[[rules]]\nrepositories = [\"a.io/*\"]\nverifier = \"maybe\"\n",
    )
    .expect("write");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rules(), Some(vec!["second".to_string()]));
    // SIGHUP reloads a valid file at once.
    std::fs::write(&policy, rule("third")).expect("write");
    let pid = child.id();
    let _ = Command::new("pkill")
        .args(["-HUP", "-P", &pid.to_string()])
        .status();
    wait_for("third");
    let _ = Command::new("pkill")
        .args(["-TERM", "-P", &pid.to_string()])
        .status();
    let _ = child.wait();
}
