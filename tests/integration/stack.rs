//! Access to the real test stack started by `scripts/stack run`: a registry,
//! a notary-server, an unguarded publisher dockerd (20.10, classic store) and
//! dockerds guarded by img-authz, of the engine `STACK_DOCKERD` names (20.10,
//! or 28 with the containerd image store: `make test` runs both). The tests
//! drive them with the real `docker` CLI.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Stack {
    pub dir: PathBuf,
    /// `127.0.0.1:PORT` of the registry, authorized in the plugin.
    pub registry: String,
    pub notary: String,
    pub publisher: String,
    pub guarded: String,
    /// A guarded daemon whose plugin allows import, load, build, commit, tag.
    pub permissive: String,
    /// A guarded daemon whose plugin's notary server never answers.
    pub offline: String,
    pub plugin_log: PathBuf,
    /// The guarded daemon's plugin: its socket, metrics socket, decision log file.
    pub plugin_socket: PathBuf,
    pub plugin_metrics: PathBuf,
    pub plugin_decisions: PathBuf,
    pub root: PathBuf,
    /// The engine of the guarded daemons (`STACK_DOCKERD`).
    pub engine: Engine,
}

/// Which dockerd the guarded daemons (and [`Daemon`]s) run: `scripts/stack`
/// starts them from `STACK_DOCKERD` and checks what they report.
#[derive(Debug, Clone)]
pub struct Engine {
    /// `STACK_DOCKERD`: `20.10`, `28` or `28-classic`.
    pub flavour: String,
    /// The server version the guarded daemon reports, e.g. `28.5.2+dfsg4`.
    pub version: String,
    pub store: ImageStore,
    /// PATH and extra flags that start a dockerd of this engine.
    path: String,
    args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageStore {
    /// Graph drivers (overlay2): image IDs are config digests.
    Classic,
    /// containerd snapshotters: image IDs are manifest (or index) digests.
    Containerd,
}

impl Engine {
    fn from_env() -> Engine {
        let opt = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Engine {
            flavour: opt("STACK_DOCKERD").unwrap_or_else(|| "20.10".into()),
            version: opt("STACK_DOCKERD_VERSION").unwrap_or_else(|| "20.10".into()),
            store: match opt("STACK_IMAGE_STORE").as_deref() {
                Some("containerd") => ImageStore::Containerd,
                _ => ImageStore::Classic,
            },
            path: opt("STACK_DOCKERD_PATH")
                .unwrap_or_else(|| std::env::var("PATH").unwrap_or_default()),
            args: opt("STACK_DOCKERD_ARGS")
                .map(|a| a.split_whitespace().map(String::from).collect())
                .unwrap_or_default(),
        }
    }

    /// The major version, e.g. 20 or 28.
    pub fn major(&self) -> u32 {
        self.version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    pub fn containerd_store(&self) -> bool {
        self.store == ImageStore::Containerd
    }

    /// e.g. `dockerd 28.5.2 (containerd image store, STACK_DOCKERD=28)`.
    pub fn describe(&self) -> String {
        let store = match self.store {
            ImageStore::Classic => "classic",
            ImageStore::Containerd => "containerd",
        };
        format!(
            "dockerd {} ({store} image store, STACK_DOCKERD={})",
            self.version, self.flavour
        )
    }
}

fn var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!(
            "{k} is not set: the integration tests need the real stack. \
             Run them with `make test` (or scripts/stack run DIR -- cargo nextest run --test integration)"
        )
    })
}

pub fn stack() -> &'static Stack {
    static S: OnceLock<Stack> = OnceLock::new();
    S.get_or_init(|| Stack {
        dir: PathBuf::from(var("STACK_DIR")),
        registry: var("STACK_REGISTRY"),
        notary: var("STACK_NOTARY"),
        publisher: var("STACK_PUBLISHER"),
        guarded: var("STACK_GUARDED"),
        permissive: var("STACK_PERMISSIVE"),
        offline: var("STACK_OFFLINE"),
        plugin_log: PathBuf::from(var("STACK_PLUGIN_LOG")),
        plugin_socket: PathBuf::from(var("STACK_PLUGIN_SOCKET")),
        plugin_metrics: PathBuf::from(var("STACK_PLUGIN_METRICS")),
        plugin_decisions: PathBuf::from(var("STACK_PLUGIN_DECISIONS")),
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        engine: Engine::from_env(),
    })
}

/// The result of one CLI run.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    fn from(o: Output, elapsed: Duration) -> Run {
        Run {
            ok: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            elapsed,
        }
    }

    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Succeeded; shows the output otherwise.
    #[track_caller]
    pub fn allowed(&self) -> &Run {
        assert!(self.ok, "expected success, got:\n{}", self.text());
        assert!(
            !self.text().contains("authorization denied"),
            "{}",
            self.text()
        );
        self
    }

    /// Failed because img-authz denied it, with a message naming the rule.
    #[track_caller]
    pub fn denied(&self, rule: &str) -> &Run {
        assert!(
            !self.ok,
            "expected a deny, but it succeeded:\n{}",
            self.text()
        );
        let t = self.text();
        assert!(
            t.contains("authorization denied by plugin"),
            "not denied by the plugin:\n{t}"
        );
        assert!(
            t.contains(&format!("rule '{rule}'")),
            "expected rule '{rule}':\n{t}"
        );
        self
    }
}

impl Stack {
    /// `docker -H HOST args...`, with the stack's isolated CLI config.
    pub fn docker(&self, host: &str, args: &[&str]) -> Run {
        self.docker_stdin(host, args, None)
    }

    pub fn docker_stdin(&self, host: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
        use std::io::Write;
        let start = Instant::now();
        let mut cmd = Command::new("docker");
        cmd.arg("-H").arg(host).args(args);
        cmd.env("DOCKER_CONFIG", self.dir.join("docker-config"));
        cmd.stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("docker CLI runs");
        if let (Some(data), Some(mut si)) = (stdin, child.stdin.take()) {
            // The daemon may refuse before reading everything.
            let _ = si.write_all(data);
        }
        let out = child.wait_with_output().expect("docker CLI finishes");
        Run::from(out, start.elapsed())
    }

    /// The docker CLI against the guarded daemon.
    pub fn guarded(&self, args: &[&str]) -> Run {
        self.docker(&self.guarded, args)
    }

    /// The docker CLI against the unguarded publisher daemon.
    pub fn publisher(&self, args: &[&str]) -> Run {
        self.docker(&self.publisher, args)
    }

    /// A distinct busybox image at `reference`, pushed to the registry by
    /// the publisher. Returns `repo@sha256:…` as the registry serves it.
    pub fn image(&self, reference: &str) -> String {
        let out = Command::new(self.root.join("scripts/stack"))
            .args([
                "image",
                self.dir.to_str().unwrap_or_default(),
                reference,
                &unique("marker"),
            ])
            .output()
            .expect("scripts/stack image runs");
        assert!(
            out.status.success(),
            "making {reference} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Sign, in `role` (e.g. `targets/releases`), the digest the registry
    /// serves for `reference` now, with the notary CLI. Returns the digest.
    pub fn sign_as(&self, reference: &str, role: &str) -> String {
        let out = Command::new(self.root.join("scripts/stack"))
            .args([
                "sign",
                self.dir.to_str().unwrap_or_default(),
                reference,
                role,
            ])
            .output()
            .expect("scripts/stack sign runs");
        assert!(
            out.status.success(),
            "signing {reference} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn sign(&self, reference: &str) -> String {
        self.sign_as(reference, "targets/releases")
    }

    /// A distinct image at `reference`, pushed and signed. Returns its digest.
    pub fn signed_image(&self, reference: &str) -> String {
        self.image(reference);
        self.sign(reference)
    }

    /// Cosign-sign `image` (`repo@sha256:…`) with the test signer, an
    /// implementation independent of img-authz (tests/cosign/signer.mjs),
    /// pushing the signature to the registry. `opts`: `--key p256`,
    /// `--keyless SUBJECT ISSUER`, `--format bundle`, `--tamper ...`.
    pub fn cosign(&self, image: &str, opts: &[&str]) {
        let out = Command::new(self.root.join("scripts/stack"))
            .args(["cosign", self.dir.to_str().unwrap_or_default(), image])
            .args(opts)
            .output()
            .expect("scripts/stack cosign runs");
        assert!(
            out.status.success(),
            "cosign-signing {image} {opts:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `docker inspect` of an image on `host`.
    pub fn image_id(&self, host: &str, image: &str) -> String {
        let r = self.docker(host, &["image", "inspect", "--format", "{{.Id}}", image]);
        assert!(r.ok, "{}", r.text());
        r.stdout.trim().to_string()
    }

    /// The plugin's metadata cache lives this long in the stack (seconds).
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(2500)
    }

    /// Whether a test that only makes sense when `applies` runs here. When
    /// not, says so on stderr and in `STACK_DIR/skipped` (which
    /// `scripts/stack run` prints at the end), so a skip is never a silent
    /// pass: `if !s.runs_if(cond, "test", "why") { return; }`.
    pub fn runs_if(&self, applies: bool, test: &str, why: &str) -> bool {
        if !applies {
            let line = format!("{test}: skipped on {}: {why}", self.engine.describe());
            eprintln!("SKIPPED {line}");
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join("skipped"))
            {
                let _ = writeln!(f, "{line}");
            }
        }
        applies
    }

    /// `REGISTRY/name`.
    pub fn repo(&self, name: &str) -> String {
        format!("{}/{}", self.registry, name)
    }
}

/// The text of the log at `path` once `pred` accepts it (or after 5 s):
/// decision lines reach the plugin's stderr and file a few milliseconds
/// after the answer (src/log/writer.rs).
pub fn log_when(path: &std::path::Path, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if pred(&log) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The newest line of the decision log at `path` that `pred` accepts,
/// waiting for it as [`log_when`] does.
pub fn logged_line(path: &std::path::Path, pred: impl Fn(&str) -> bool) -> Option<String> {
    log_when(path, |log| log.lines().any(&pred))
        .lines()
        .rev()
        .find(|l| pred(l))
        .map(str::to_string)
}

/// A name unique to this test run and call.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}{}x{n}x{}", std::process::id(), t % 1_000_000_000)
}

/// A dockerd of a test's own (own data and exec roots), stopped by PID and
/// cleaned up when dropped; `timeout` bounds its life if the test dies.
pub struct Daemon {
    pub host: String,
    dir: PathBuf,
    exec_root: PathBuf,
    child: Option<std::process::Child>,
}

impl Daemon {
    pub fn start(dir: &std::path::Path, extra: &[&str]) -> Daemon {
        std::fs::create_dir_all(dir).expect("daemon dir");
        let mut d = Daemon {
            host: format!("unix://{}", dir.join("d.sock").display()),
            dir: dir.to_path_buf(),
            exec_root: PathBuf::from(format!("/run/iaz-t{}", unique("d"))),
            child: None,
        };
        d.spawn(extra);
        d
    }

    /// Stop and start again with the same roots and other flags.
    pub fn restart(&mut self, extra: &[&str]) {
        self.stop();
        self.spawn(extra);
    }

    fn spawn(&mut self, extra: &[&str]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dockerd.log"))
            .expect("log");
        // The stack's engine: dockerd 28 finds its containerd on this PATH.
        let engine = &stack().engine;
        let child = Command::new("timeout")
            .env("PATH", &engine.path)
            .args([
                "--kill-after=10",
                "900",
                "dockerd",
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
            ])
            .args(&engine.args)
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(&self.exec_root)
            .arg("--pidfile")
            .arg(self.dir.join("dockerd.pid"))
            .arg("-H")
            .arg(&self.host)
            .args(extra)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("dockerd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if stack().docker(&self.host, &["version"]).ok {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("dockerd exited ({status}): {}", self.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not start: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        log.lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stop dockerd (it stops its managed plugins and containerd first).
    pub fn stop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("dockerd.pid")) {
            let _ = Command::new("kill").arg("-TERM").arg(pid.trim()).status();
        }
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        // Leftover mounts would make the data root undeletable.
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| {
                m.starts_with(self.dir.to_str().unwrap_or("?"))
                    || m.starts_with(self.exec_root.to_str().unwrap_or("?"))
            })
            .collect();
        ours.sort_by(|a, b| b.cmp(a));
        for m in ours {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
        let _ = std::fs::remove_dir_all(&self.exec_root);
        let _ = std::fs::remove_dir_all(self.dir.join("data"));
    }
}
