//! Issue 3/7: shipping and operating the plugin — the managed plugin built
//! by `make build`, the legacy plugin under systemd socket activation, the
//! decision log, metrics and `img-authz status`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::raw;
use crate::stack::{stack, unique, Daemon};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_img-authz"))
}

/// The managed plugin as users install it: `docker plugin create`, `set`,
/// `enable`, then dockerd restarted with `--authorization-plugin NAME:TAG`.
#[test]
fn managed_plugin_enforces_signatures() {
    let s = stack();
    let plugin_dir = std::env::var("IMG_AUTHZ_PLUGIN_DIR").expect(
        "IMG_AUTHZ_PLUGIN_DIR: the managed plugin built by `make build` (make test sets it)",
    );
    assert!(
        PathBuf::from(&plugin_dir).join("config.json").exists()
            && PathBuf::from(&plugin_dir).join("rootfs").exists()
    );
    let repo = s.repo(&format!("managed/{}", unique("app")));
    s.signed_image(&format!("{repo}:v1"));
    s.image(&format!("{repo}:v2"));

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("m");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let name = format!("img-authz-test:{}", unique("t"));
    let mut d = Daemon::start(&dir, &[]);
    let sock = d.host.trim_start_matches("unix://").to_string();
    s.docker(&d.host, &["plugin", "create", &name, &plugin_dir])
        .allowed();
    let ca = std::fs::read_to_string(s.dir.join("tls/ca.crt")).expect("ca");
    s.docker(
        &d.host,
        &[
            "plugin",
            "set",
            &name,
            &format!("REGISTRY={}", s.registry),
            &format!("NOTARY={}", s.notary),
            &format!("NOTARY_ROOT_CA={ca}"),
            &format!("docker-socket.source={sock}"),
            &format!("state.source={}", state.display()),
        ],
    )
    .allowed();
    s.docker(&d.host, &["plugin", "enable", &name]).allowed();
    d.restart(&[&format!("--authorization-plugin={name}")]);
    s.docker(&d.host, &["pull", &format!("{repo}:v1")])
        .allowed();
    s.docker(&d.host, &["run", "--rm", &format!("{repo}:v1"), "true"])
        .allowed();
    let out = s.docker(&d.host, &["pull", &format!("{repo}:v2")]);
    out.denied("signature");
    s.docker(&d.host, &["pull", "busybox"])
        .denied("registry-allowlist");
    // The plugin cannot be switched off or reconfigured through the API.
    s.docker(&d.host, &["plugin", "disable", &name])
        .denied("self-protection");
    s.docker(&d.host, &["plugin", "rm", "-f", &name])
        .denied("self-protection");
    s.docker(&d.host, &["plugin", "set", &name, "REGISTRY=evil.io"])
        .denied("self-protection");
    // Trust state went to the mounted state directory.
    assert!(
        std::fs::read_dir(state.join("notary"))
            .map(|r| r.count())
            .unwrap_or(0)
            > 0,
        "no trust state written"
    );
}

/// The legacy plugin started by systemd socket activation (the socket unit's
/// job, emulated by systemd-socket-activate): it serves on the socket it is
/// given, answers `img-authz status`, and decides.
#[test]
fn legacy_plugin_socket_activation() {
    let s = stack();
    let sock = PathBuf::from(format!("/run/docker/plugins/{}.sock", unique("iaz-sa")));
    let state = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new("timeout")
        .args(["300", "systemd-socket-activate", "-l"])
        .arg(&sock)
        .arg(format!("--setenv=REGISTRY={}", s.registry))
        .arg(format!(
            "--setenv=IMG_AUTHZ_STATE_DIR={}",
            state.path().display()
        ))
        .arg(bin())
        .args([
            "serve",
            "--socket",
            "/nonexistent/ignored-under-activation.sock",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "the activation socket did not appear"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new(bin())
        .args(["status", "--socket"])
        .arg(&sock)
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        text.contains("answering on") && text.contains(&s.registry),
        "{text}"
    );
    // A decision over the activated socket.
    let call = r#"{"RequestMethod":"POST","RequestUri":"/v1.41/images/create?fromImage=busybox&tag=latest","RequestHeaders":{"Content-Length":"0"}}"#;
    let resp = raw::send(
        &sock.display().to_string(),
        &format!(
            "POST /AuthZPlugin.AuthZReq HTTP/1.1\nContent-Length: {}",
            call.len()
        ),
        call.as_bytes(),
    );
    assert!(
        resp.1.contains("\"Allow\":false") && resp.1.contains("registry-allowlist"),
        "{}",
        resp.1
    );
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    let _ = std::fs::remove_file(&sock);
}

/// Metrics, `img-authz status` and the decision log file of the guarded
/// daemon's plugin, after real traffic.
#[test]
fn metrics_status_and_decision_log() {
    let s = stack();
    let image = s.repo(&format!("ops/{}:v1", unique("app")));
    s.signed_image(&image);
    s.guarded(&["pull", &image]).allowed();
    s.guarded(&["pull", "busybox"]).denied("registry-allowlist");

    let metrics = Command::new("curl")
        .args(["-fsS", "--unix-socket"])
        .arg(&s.plugin_metrics)
        .arg("http://plugin/metrics")
        .output()
        .expect("curl");
    let m = String::from_utf8_lossy(&metrics.stdout).into_owned();
    assert!(
        metrics.status.success(),
        "{}",
        String::from_utf8_lossy(&metrics.stderr)
    );
    for want in [
        "img_authz_decisions_total{action=\"pull\",decision=\"allow\",rule=\"content-binding\"}",
        "img_authz_decisions_total{action=\"pull\",decision=\"deny\",rule=\"registry-allowlist\"}",
        "img_authz_decision_seconds_bucket{le=\"+Inf\"}",
        "img_authz_cache_misses_total{cache=\"notary\"}",
        "img_authz_upstream_requests_total{upstream=\"notary\",outcome=\"ok\"}",
        "img_authz_upstream_requests_total{upstream=\"registry\",outcome=\"ok\"}",
        "img_authz_upstream_seconds_count{upstream=\"notary\"}",
    ] {
        assert!(m.contains(want), "metrics lack {want}:\n{m}");
    }
    // Counters are real: the notary was called at least once.
    let notary_ok: u64 = m
        .lines()
        .find(|l| {
            l.starts_with("img_authz_upstream_requests_total{upstream=\"notary\",outcome=\"ok\"}")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(notary_ok > 0, "{m}");

    let out = Command::new(bin())
        .args(["status", "--json", "--socket"])
        .arg(&s.plugin_socket)
        .output()
        .expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(st["config"]["registries"][0], s.registry.as_str());
    assert_eq!(st["config"]["trust"], "notary");
    assert!(st["caches"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["name"] == "notary")));
    assert!(st["decisions"].as_array().is_some_and(|d| !d.is_empty()));
    // A socket that is not a plugin: status fails.
    let bad = Command::new(bin())
        .args(["status", "--socket", "/nonexistent.sock"])
        .output()
        .expect("status");
    assert!(!bad.status.success());

    let line = crate::stack::logged_line(&s.plugin_decisions, |l| {
        l.contains("docker.io/library/busybox")
    })
    .expect("the busybox deny is in the file");
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    for k in [
        "time",
        "user",
        "method",
        "uri",
        "action",
        "image",
        "decision",
        "rule",
        "reason",
        "latency_us",
    ] {
        assert!(v.get(k).is_some(), "{k} missing in {line}");
    }
    assert_eq!(v["decision"], "deny");
}

/// `make install` into a staging directory installs the binary, the socket
/// and service units and the example environment, and changes nothing else.
#[test]
fn make_install_into_a_staging_directory() {
    let s = stack();
    let dest = tempfile::tempdir().expect("tempdir");
    let out = Command::new("make")
        .arg("-C")
        .arg(&s.root)
        .arg("install")
        .arg(format!("DESTDIR={}", dest.path().display()))
        .arg("RELEASE_BIN=target/debug/img-authz")
        .arg("CARGO=true")
        .output()
        .expect("make install");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = dest.path();
    assert!(d.join("usr/local/bin/img-authz").exists());
    let socket = std::fs::read_to_string(d.join("etc/systemd/system/img-authz.socket"))
        .expect("socket unit");
    assert!(
        socket.contains("ListenStream=/run/docker/plugins/img-authz.sock")
            && socket.contains("SocketMode=0660")
    );
    let service = std::fs::read_to_string(d.join("etc/systemd/system/img-authz.service"))
        .expect("service unit");
    assert!(
        service.contains("Requires=img-authz.socket")
            && service.contains("ExecStart=/usr/local/bin/img-authz serve")
    );
    assert!(d.join("etc/img-authz/env").exists());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("\"authorization-plugins\": [\"img-authz\"]"),
        "{printed}"
    );
    let out = Command::new("make")
        .arg("-C")
        .arg(&s.root)
        .arg("uninstall")
        .arg(format!("DESTDIR={}", d.display()))
        .output()
        .expect("make uninstall");
    assert!(out.status.success());
    assert!(
        !d.join("usr/local/bin/img-authz").exists()
            && !d.join("etc/systemd/system/img-authz.socket").exists()
    );
    assert!(
        d.join("etc/img-authz/env").exists(),
        "configuration is kept"
    );
}
