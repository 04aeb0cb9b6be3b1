//! The decision log of the real plugin binary: the JSON-lines file follows
//! rotation (rename, SIGHUP), and decisions are shipped to a collector
//! (a small HTTP server on 127.0.0.1 in this test) in gzip JSON batches,
//! with none lost while the collector is down (within the buffer, across a
//! plugin restart) and every loss of a too-small buffer counted.
//!
//! The decisions are AuthZReq calls sent over the plugin's unix socket as
//! dockerd sends them: pulls from a registry outside `REGISTRY`, denied by
//! the allowlist without any network.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

// ---------------------------------------------------------- the collector

/// What the collector saw.
#[derive(Default)]
struct Seen {
    events: Vec<Value>,
    /// Content-Encoding and Authorization of each POST.
    encodings: Vec<String>,
    auth: Vec<String>,
    /// Answer this status to the next this many POSTs (then 200).
    refuse: Option<(u16, usize)>,
}

/// A decision-log collector: answers every POST 200 after unpacking its
/// gzip JSON array. Stopped, its port refuses connections.
struct Collector {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    fn start(port: u16, seen: Arc<Mutex<Seen>>) -> Collector {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => handle(s, &seen),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Collector {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn handle(s: TcpStream, seen: &Mutex<Seen>) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut request_line = String::new();
    if r.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let (mut len, mut encoding, mut auth) = (0usize, String::new(), String::new());
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().unwrap(),
            "content-encoding" => encoding = v.trim().to_string(),
            "authorization" => auth = v.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    assert!(request_line.starts_with("POST /logs "), "{request_line}");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    let batch: Vec<Value> = serde_json::from_str(&text).unwrap();
    let status = {
        let mut g = seen.lock().unwrap();
        g.encodings.push(encoding);
        g.auth.push(auth);
        match &mut g.refuse {
            Some((status, n)) if *n > 0 => {
                *n -= 1;
                *status
            }
            _ => {
                g.events.extend(batch);
                200
            }
        }
    };
    let mut s = s;
    let _ = write!(
        s,
        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

fn ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .map(|e| e["decision_id"].as_str().unwrap().to_string())
        .collect()
}

/// A free loopback port (nothing listens on it afterwards).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ------------------------------------------------------------- the plugin

struct Plugin {
    child: Child,
    sock: PathBuf,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_plugin(dir: &Path, env: &[(&str, String)]) -> Plugin {
    let sock = dir.join("plugin.sock");
    let _ = std::fs::remove_file(&sock);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_img-authz"));
    cmd.arg("serve")
        .env_clear()
        .env("REGISTRY", "127.0.0.1:1")
        .env("IMG_AUTHZ_TRUST", "none")
        .env("IMG_AUTHZ_SOCKET", &sock)
        .env("IMG_AUTHZ_STATE_DIR", dir.join("state"))
        .env("IMG_AUTHZ_DECISION_LOG", dir.join("decisions.log"))
        .env(
            "DOCKER_HOST",
            format!("unix://{}", dir.join("no-docker.sock").display()),
        )
        .env("IMG_AUTHZ_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let mut plugin = Plugin { child, sock };
    let t = Instant::now();
    while !plugin.sock.exists() {
        if let Some(st) = plugin.child.try_wait().unwrap() {
            panic!("the plugin exited: {st}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the plugin did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    plugin
}

/// One AuthZReq, as dockerd sends it; returns Allow.
fn pull(sock: &Path, image: &str) -> bool {
    let uri = format!("/v1.41/images/create?fromImage={image}&tag=v1");
    let body =
        json!({"RequestMethod": "POST", "RequestUri": uri, "User": "alice", "RequestHeaders": {}})
            .to_string();
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    write!(
        s,
        "POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: plugin\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let v: Value = serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    v["Allow"].as_bool().unwrap()
}

/// `img-authz status --json`'s shipping section.
fn shipping(sock: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_img-authz"))
        .args(["status", "--json", "--socket"])
        .arg(sock)
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["decision_log_shipping"].clone()
}

/// GET /metrics from the plugin's unix metrics socket.
fn metrics(path: &Path) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn file_ids(path: &Path) -> Vec<String> {
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
        assert!(t.elapsed() < Duration::from_secs(30), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ship_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        (
            "IMG_AUTHZ_DECISION_LOG_URL",
            format!("http://127.0.0.1:{port}/logs"),
        ),
        ("IMG_AUTHZ_DECISION_LOG_LABELS", "env=test,dc=loop".into()),
        ("IMG_AUTHZ_DECISION_LOG_FLUSH_MS", "100".into()),
        ("IMG_AUTHZ_DECISION_LOG_RETRY_MAX_MS", "300".into()),
    ]
}

// ----------------------------------------------------------------- tests

#[test]
fn a_stopped_collector_loses_no_decision_within_the_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.log");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let collector = Collector::start(0, seen.clone());
    let port = collector.port;
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let mut env = ship_env(port);
    env.push((
        "IMG_AUTHZ_DECISION_LOG_TOKEN_FILE",
        token.display().to_string(),
    ));
    let plugin = start_plugin(dir.path(), &env);

    for i in 0..5 {
        assert!(!pull(&plugin.sock, &format!("evil.example/app{i}")));
    }
    wait_for("the first 5 decisions shipped", || {
        seen.lock().unwrap().events.len() >= 5
    });
    {
        let g = seen.lock().unwrap();
        assert!(g.encodings.iter().all(|e| e == "gzip"), "{:?}", g.encodings);
        assert!(g.auth.iter().all(|a| a == "Bearer s3cret"), "{:?}", g.auth);
        let e = &g.events[0];
        assert_eq!(e["labels"]["env"], "test");
        assert_eq!(e["labels"]["dc"], "loop");
        for k in ["hostname", "id", "version"] {
            assert!(e["labels"][k].is_string(), "label {k}: {e}");
        }
        assert_eq!(e["input"]["user"], "alice");
        assert_eq!(e["input"]["method"], "POST");
        assert_eq!(e["input"]["action"], "pull");
        assert_eq!(e["input"]["image"], "evil.example/app0:v1");
        assert_eq!(e["result"]["allow"], false);
        assert_eq!(e["result"]["decision"], "deny");
        assert_eq!(e["result"]["rule"], "registry-allowlist");
        assert!(e["timestamp"].as_str().unwrap().contains('T'));
        assert!(e.get("bundles").is_none(), "no bundle in force");
        let file: BTreeSet<String> = file_ids(&log).into_iter().collect();
        assert_eq!(ids(&g.events), file, "the file and the collector agree");
    }

    // The collector goes away; decisions keep being made and buffered.
    collector.stop();
    for i in 5..25 {
        assert!(!pull(&plugin.sock, &format!("evil.example/app{i}")));
    }
    wait_for("a failed upload", || {
        shipping(&plugin.sock)["post_failures"].as_u64().unwrap() > 0
    });
    let st = shipping(&plugin.sock);
    assert!(st["buffered_events"].as_u64().unwrap() > 0, "{st}");
    assert!(st["last_error"].is_string(), "{st}");

    // The plugin itself is killed (no clean shutdown) with events still
    // buffered, then restarted; then the collector comes back.
    drop(plugin);
    let plugin = start_plugin(dir.path(), &env);
    for i in 25..30 {
        assert!(!pull(&plugin.sock, &format!("evil.example/app{i}")));
    }
    let collector = Collector::start(port, seen.clone());
    wait_for("30 lines in the file", || file_ids(&log).len() == 30);
    let all: BTreeSet<String> = file_ids(&log).into_iter().collect();
    assert_eq!(all.len(), 30);
    wait_for("every decision shipped", || {
        ids(&seen.lock().unwrap().events) == all
    });
    wait_for("the buffer drained", || {
        shipping(&plugin.sock)["buffered_events"] == 0
    });
    assert_eq!(shipping(&plugin.sock)["dropped"], 0);
    collector.stop();
}

#[test]
fn a_full_buffer_counts_every_decision_it_loses() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let msock = dir.path().join("metrics.sock");
    let mut env = ship_env(port);
    env.push(("IMG_AUTHZ_DECISION_LOG_BUFFER_BYTES", "2048".into()));
    env.push((
        "IMG_AUTHZ_METRICS_ADDR",
        format!("unix:{}", msock.display()),
    ));
    let plugin = start_plugin(dir.path(), &env);
    const N: u64 = 30;
    for i in 0..N {
        assert!(!pull(&plugin.sock, &format!("evil.example/app{i}")));
    }
    wait_for("every decision buffered or dropped", || {
        let st = shipping(&plugin.sock);
        st["buffered_events"].as_u64().unwrap() + st["dropped"].as_u64().unwrap() == N
    });
    let dropped = shipping(&plugin.sock)["dropped"].as_u64().unwrap();
    assert!(dropped > 0, "a 2 KiB buffer cannot hold {N} decisions");
    assert!(
        metrics(&msock).contains(&format!(
            "img_authz_decision_log_dropped_total{{reason=\"buffer_full\"}} {dropped}"
        )),
        "{}",
        metrics(&msock)
    );

    let seen = Arc::new(Mutex::new(Seen::default()));
    let collector = Collector::start(port, seen.clone());
    wait_for("the buffer drained", || {
        shipping(&plugin.sock)["buffered_events"] == 0
    });
    let got = ids(&seen.lock().unwrap().events);
    assert_eq!(
        got.len() as u64 + dropped,
        N,
        "every decision arrived or was counted as dropped"
    );
    // The oldest were dropped: what arrived is the newest.
    let file = file_ids(&dir.path().join("decisions.log"));
    let newest: BTreeSet<String> = file[file.len() - got.len()..].iter().cloned().collect();
    assert_eq!(got, newest);
    collector.stop();
}

#[test]
fn the_file_follows_rename_and_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.log");
    let plugin = start_plugin(dir.path(), &[]);
    assert!(!pull(&plugin.sock, "evil.example/one"));
    // Lines are written by a thread of their own, just after the answer.
    wait_for("the first line", || file_ids(&log).len() == 1);

    // logrotate's default: rename, and the writer notices.
    std::fs::rename(&log, dir.path().join("decisions.log.1")).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(!pull(&plugin.sock, "evil.example/two"));
    wait_for("the next line in a new file", || file_ids(&log).len() == 1);
    assert_eq!(file_ids(&dir.path().join("decisions.log.1")).len(), 1);

    // Rename and SIGHUP at once: reopened before the periodic check.
    std::fs::rename(&log, dir.path().join("decisions.log.2")).unwrap();
    let st = Command::new("kill")
        .args(["-HUP", &plugin.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(200));
    assert!(!pull(&plugin.sock, "evil.example/three"));
    wait_for("the line in the reopened file", || {
        file_ids(&log).len() == 1
    });
    assert_eq!(
        file_ids(&dir.path().join("decisions.log.2")).len(),
        1,
        "nothing more went to the rotated file"
    );
    assert_eq!(file_ids(&log).len(), 1, "the new file has the line");
    assert!(pull_alive(&plugin), "SIGHUP did not stop the plugin");
}

fn pull_alive(p: &Plugin) -> bool {
    std::os::unix::net::UnixStream::connect(&p.sock).is_ok()
}

#[test]
fn a_refused_batch_is_counted_and_the_rest_still_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Seen {
        refuse: Some((413, 1)),
        ..Seen::default()
    }));
    let collector = Collector::start(0, seen.clone());
    let plugin = start_plugin(dir.path(), &ship_env(collector.port));
    assert!(!pull(&plugin.sock, "evil.example/refused"));
    wait_for("the batch refused", || {
        shipping(&plugin.sock)["dropped_rejected"] == 1
    });
    assert!(!pull(&plugin.sock, "evil.example/taken"));
    wait_for("the next batch taken", || {
        seen.lock().unwrap().events.len() == 1
    });
    let st = shipping(&plugin.sock);
    assert_eq!(st["dropped"], 1, "{st}");
    assert_eq!(st["shipped"], 1, "{st}");
    assert_eq!(
        seen.lock().unwrap().events[0]["input"]["image"],
        "evil.example/taken:v1"
    );
    collector.stop();
}
