//! Issue 19: container ownership on a daemon shared by TLS users. A dockerd
//! of this test's own listens on loopback TCP with `--tlsverify` (the
//! stack's CA, client certificates for alice, bob and ops-admin; dockerd
//! passes the certificate's CN as `User`), guarded by a plugin of its own
//! whose policy has `[ownership]`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::stack::{stack, unique, Daemon, Run};

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

fn plugin(sock: &Path, daemon: &str, dir: &Path) -> Plugin {
    let _ = std::fs::remove_file(sock);
    let child = Command::new("timeout")
        .arg("600")
        .arg(env!("CARGO_BIN_EXE_img-authz"))
        .args(["serve", "--socket"])
        .arg(sock)
        .env("REGISTRY", &stack().registry)
        .env("IMG_AUTHZ_TRUST", "none")
        .env("IMG_AUTHZ_HARDENING", "off")
        .env("IMG_AUTHZ_POLICY", dir.join("policy.toml"))
        .env("DOCKER_HOST", daemon)
        .env("IMG_AUTHZ_STATE_DIR", dir.join("state"))
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("plugin.log"))
                .expect("plugin log"),
        )
        .spawn()
        .expect("plugin starts");
    let p = Plugin(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "the plugin socket never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    p
}

/// A client certificate for `cn`, signed by the stack's CA.
fn client_cert(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    let tls = stack().dir.join("tls");
    let (key, csr, crt, ext) = (
        dir.join(format!("{cn}.key")),
        dir.join(format!("{cn}.csr")),
        dir.join(format!("{cn}.crt")),
        dir.join("client.cnf"),
    );
    std::fs::write(&ext, "extendedKeyUsage=clientAuth\n").expect("ext");
    let ok = |c: &mut Command| {
        let o = c.output().expect("openssl runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    ok(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", &format!("/CN={cn}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    let serial = format!("{}", std::process::id() as u64 * 1000 + cn.len() as u64);
    ok(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-set_serial", &serial, "-in"])
        .arg(&csr)
        .arg("-CA")
        .arg(tls.join("ca.crt"))
        .arg("-CAkey")
        .arg(tls.join("ca.key"))
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(&crt));
    (crt, key)
}

struct Tls {
    host: String,
    dir: PathBuf,
}

impl Tls {
    /// The docker CLI as `cn`, over TLS.
    fn docker(&self, cn: &str, args: &[&str]) -> Run {
        let (crt, key) = (
            self.dir.join(format!("{cn}.crt")),
            self.dir.join(format!("{cn}.key")),
        );
        let ca = stack().dir.join("tls/ca.crt");
        let mut all: Vec<&str> = vec![
            "--tlsverify",
            "--tlscacert",
            ca.to_str().unwrap_or_default(),
            "--tlscert",
            crt.to_str().unwrap_or_default(),
            "--tlskey",
            key.to_str().unwrap_or_default(),
        ];
        all.extend_from_slice(args);
        stack().docker(&self.host, &all)
    }
}

#[track_caller]
fn denied_to(r: &Run, owner: &str, user: &str) {
    r.denied("ownership");
    assert!(
        r.text()
            .contains(&format!("belongs to {owner}; {user} may not")),
        "{}",
        r.text()
    );
}

#[test]
fn users_touch_only_their_own_containers() {
    let s = stack();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let tls_dir = s.dir.join("tls");
    let tcp = format!("tcp://127.0.0.1:{port}");
    let (ca, crt, key) = (
        tls_dir.join("ca.crt").display().to_string(),
        tls_dir.join("server.crt").display().to_string(),
        tls_dir.join("server.key").display().to_string(),
    );
    let listen = [
        "-H",
        tcp.as_str(),
        "--tlsverify",
        "--tlscacert",
        &ca,
        "--tlscert",
        &crt,
        "--tlskey",
        &key,
    ];
    for u in ["alice", "bob", "ops-admin"] {
        client_cert(&dir, u);
    }
    std::fs::write(
        dir.join("policy.toml"),
        "version = 1\n[ownership]\nenabled = true\nadmins = [\"ops-*\"]\n",
    )
    .expect("policy");

    let mut d = Daemon::start(&dir.join("d"), &listen);
    let name = unique("iaz-own");
    let sock = PathBuf::from(format!("/run/docker/plugins/{name}.sock"));
    let mut p = plugin(&sock, &d.host, &dir);
    let mut flags = listen.to_vec();
    let plugin_flag = format!("--authorization-plugin={name}");
    flags.push(&plugin_flag);
    d.restart(&flags);
    let t = Tls {
        host: tcp.clone(),
        dir: dir.clone(),
    };

    let image = s.image(&s.repo(&format!("own/{}:v1", unique("app"))));
    t.docker("alice", &["pull", &image]).allowed();
    let web = unique("web");
    t.docker(
        "alice",
        &["run", "-d", "--name", &web, &image, "sleep", "300"],
    )
    .allowed();
    let id = t.docker("alice", &["inspect", "--format", "{{.Id}}", &web]);
    id.allowed();
    let id = id.stdout.trim().to_string();
    let prefix = &id[..12];
    let to = dir.join("copied");
    let to = to.to_str().unwrap_or_default();

    for r in [web.as_str(), prefix] {
        let exec = t.docker("bob", &["exec", r, "true"]);
        denied_to(&exec, "alice", "bob");
        assert!(
            exec.text().contains("may not exec into it"),
            "{}",
            exec.text()
        );
        denied_to(&t.docker("bob", &["logs", r]), "alice", "bob");
        denied_to(&t.docker("bob", &["stop", "-t", "1", r]), "alice", "bob");
        denied_to(&t.docker("bob", &["rm", "-f", r]), "alice", "bob");
        denied_to(
            &t.docker("bob", &["cp", &format!("{r}:/etc/hostname"), to]),
            "alice",
            "bob",
        );
        // The CLI shows only the status of a refused upgrade; dockerd
        // answers 403 only for an authorization deny.
        let attach = t.docker("bob", &["attach", "--no-stdin", r]);
        assert!(
            !attach.ok && attach.text().contains("received 403"),
            "{}",
            attach.text()
        );
        // The owner and the admin may.
        t.docker("alice", &["exec", r, "true"]).allowed();
        t.docker("ops-admin", &["exec", r, "true"]).allowed();
        t.docker("ops-admin", &["logs", r]).allowed();
        t.docker("ops-admin", &["cp", &format!("{r}:/etc/hostname"), to])
            .allowed();
    }
    // The record survives the plugin's restart (stopped by PID).
    drop(p);
    p = plugin(&sock, &d.host, &dir);
    denied_to(&t.docker("bob", &["exec", &web, "true"]), "alice", "bob");
    t.docker("alice", &["exec", &web, "true"]).allowed();

    // Removed, and a new container of the same name is bob's.
    t.docker("alice", &["rm", "-f", &web]).allowed();
    t.docker(
        "bob",
        &["run", "-d", "--name", &web, &image, "sleep", "300"],
    )
    .allowed();
    t.docker("bob", &["exec", &web, "true"]).allowed();
    denied_to(&t.docker("alice", &["exec", &web, "true"]), "bob", "alice");
    t.docker("bob", &["rm", "-f", &web]).allowed();
    drop(p);
    d.stop();
}
