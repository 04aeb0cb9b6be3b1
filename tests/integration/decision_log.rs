//! Issue 20 part 4: decisions made for the real docker CLI through a real
//! dockerd are shipped to a collector (a small HTTP server of this test on
//! 127.0.0.1), and none is lost while the collector is down.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::stack::{stack, unique, Daemon};

/// Answers every POST /logs 200 after unpacking its gzip JSON array.
struct Collector {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    fn start(port: u16, events: Arc<Mutex<Vec<Value>>>) -> (Collector, u16) {
        let l = TcpListener::bind(("127.0.0.1", port)).expect("collector binds");
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => take(s, &events),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        (
            Collector {
                stop,
                thread: Some(thread),
            },
            port,
        )
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn take(s: TcpStream, events: &Mutex<Vec<Value>>) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let (mut line, mut len, mut gzip) = (String::new(), 0usize, false);
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    assert!(line.starts_with("POST /logs "), "{line}");
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end().to_ascii_lowercase();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        gzip |= h == "content-encoding: gzip";
    }
    assert!(gzip, "a batch without Content-Encoding: gzip");
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    let batch: Vec<Value> = serde_json::from_str(&text).unwrap();
    events.lock().unwrap().extend(batch);
    let mut s = s;
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

/// The plugin of this test, ended by PID (TERM to `timeout`, which passes
/// it on).
struct Plugin(Child, PathBuf);

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

fn ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["decision_id"].as_str().unwrap().to_string())
        .collect()
}

fn file_ids(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["decision_id"].as_str().unwrap().to_string()
        })
        .collect()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(60), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn docker_decisions_reach_the_collector_across_its_outage() {
    let s = stack();
    let image = s.repo(&format!("ship/{}:v1", unique("app")));
    s.signed_image(&image);

    let tmp = tempfile::tempdir().expect("tempdir");
    let events = Arc::new(Mutex::new(Vec::new()));
    let (collector, port) = Collector::start(0, events.clone());
    let name = unique("iaz-ship");
    let sock = PathBuf::from(format!("/run/docker/plugins/{name}.sock"));
    let log = tmp.path().join("decisions.log");
    let ca = std::fs::read_to_string(s.dir.join("tls/ca.crt")).expect("ca");
    let child = Command::new("timeout")
        .args(["600", env!("CARGO_BIN_EXE_img-authz"), "serve", "--socket"])
        .arg(&sock)
        .env("REGISTRY", &s.registry)
        .env("NOTARY", &s.notary)
        .env("NOTARY_ROOT_CA", ca)
        .env("IMG_AUTHZ_STATE_DIR", tmp.path().join("state"))
        .env("IMG_AUTHZ_DECISION_LOG", &log)
        .env(
            "IMG_AUTHZ_DECISION_LOG_URL",
            format!("http://127.0.0.1:{port}/logs"),
        )
        .env("IMG_AUTHZ_DECISION_LOG_LABELS", "fleet=stack")
        .env("IMG_AUTHZ_DECISION_LOG_FLUSH_MS", "100")
        .env("IMG_AUTHZ_DECISION_LOG_RETRY_MAX_MS", "300")
        .env(
            "DOCKER_HOST",
            format!("unix://{}", tmp.path().join("d/d.sock").display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("plugin starts");
    let _plugin = Plugin(child, sock.clone());
    wait_for("the plugin socket", || sock.exists());
    let d = Daemon::start(
        &tmp.path().join("d"),
        &[&format!("--authorization-plugin={name}")],
    );

    s.docker(&d.host, &["pull", &image]).allowed();
    s.docker(&d.host, &["pull", "busybox"])
        .denied("registry-allowlist");
    wait_for("two pulls shipped", || {
        let e = events.lock().unwrap();
        e.iter().filter(|e| e["input"]["action"] == "pull").count() >= 2
    });
    {
        let e = events.lock().unwrap();
        let allowed = e
            .iter()
            .find(|e| e["input"]["action"] == "pull" && e["result"]["allow"] == true)
            .expect("the allowed pull");
        assert_eq!(allowed["input"]["image"], image.as_str());
        assert_eq!(allowed["labels"]["fleet"], "stack");
        let denied = e
            .iter()
            .find(|e| e["input"]["action"] == "pull" && e["result"]["allow"] == false)
            .expect("the denied pull");
        assert_eq!(denied["result"]["rule"], "registry-allowlist");
    }

    // The collector goes away; dockerd keeps asking, nothing waits on it.
    drop(collector);
    s.docker(&d.host, &["pull", "busybox"])
        .denied("registry-allowlist");
    s.docker(&d.host, &["pull", &image]).allowed();
    s.docker(&d.host, &["pull", "alpine"])
        .denied("registry-allowlist");
    wait_for("a failed delivery during the outage", || {
        let out = Command::new(env!("CARGO_BIN_EXE_img-authz"))
            .args(["status", "--json", "--socket"])
            .arg(&sock)
            .output()
            .expect("status");
        let st: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        st["decision_log_shipping"]["post_failures"].as_u64() > Some(0)
    });
    let (_collector, _) = Collector::start(port, events.clone());
    let all = file_ids(&log);
    assert!(all.len() >= 5, "{} decisions logged", all.len());
    wait_for("every logged decision shipped", || {
        ids(&events.lock().unwrap()).is_superset(&all)
    });
    let out = Command::new(env!("CARGO_BIN_EXE_img-authz"))
        .args(["status", "--json", "--socket"])
        .arg(&sock)
        .output()
        .expect("status");
    let st: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(st["decision_log_shipping"]["dropped"], 0, "{st}");
}
