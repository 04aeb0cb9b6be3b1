//! Load generator for the plugin socket, and the allow-all baseline server.
//!
//! `scripts/bench` (`make bench`) drives it; it is a `harness = false`
//! bench so that it builds with the benches' profile and dependencies.
//!
//! ```text
//! load serve-allow --socket PATH [--work-us N]
//!     An authorization plugin that allows everything, served by
//!     img_authz::protocol::serve (the same HTTP stack, envelope parsing,
//!     deadline task and runtime as the plugin): the protocol's floor.
//!     With --work-us, it first spins N µs of CPU per call (a stand-in for
//!     a decision's own work: the best ratio such a plugin can reach).
//!
//! load client --socket PATH --call read|read-res|pull|create
//!             [--image REF] [--conns N] [--duration SECS] [--requests N]
//!             [--warmup SECS] [--threads N] [--label TEXT] [--out FILE]
//!             [--server-pid PID]
//!     N keep-alive HTTP/1.1 connections over the unix socket, each sending
//!     the call back to back (closed loop) for --duration seconds after
//!     --warmup, or until --requests calls were made. Prints one JSON line
//!     (throughput, latency percentiles, allow/deny counts) and appends it
//!     to --out. With --server-pid, also the CPU time the server process
//!     (all its threads) and this client spent per measured call.
//! ```
//!
//! Latency is measured per call, from writing the request to reading the
//! whole answer, and every sample is kept (no histogram buckets).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "benchmark code: a panic is how a benchmark stops on a broken setup"
)]
// The create body is one large json! literal.
#![recursion_limit = "512"]

mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use img_authz::protocol::{self, Authorize, AuthzRequest, AuthzResponse, Phase, ServerOptions};
use tokio::net::UnixStream;

/// Allows every call: what the plugin would cost if deciding were free.
/// Allows everything, after `work` of busy CPU per call (zero: none).
struct AllowAll {
    work: Duration,
}

impl Authorize for AllowAll {
    async fn authorize(&self, _phase: Phase, _req: AuthzRequest) -> AuthzResponse {
        // A stand-in for a decision's own CPU, spent where the plugin
        // spends it (in the call's task): what ratio a plugin needing that
        // much work per call can reach at best on this machine.
        let start = Instant::now();
        while start.elapsed() < self.work {
            std::hint::spin_loop();
        }
        AuthzResponse::allow()
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("load: {msg}");
    eprintln!("usage: load serve-allow --socket PATH [--work-us N]");
    eprintln!(
        "       load client --socket PATH --call read|read-res|pull|create [--image REF] [--conns N] \
         [--duration SECS] [--requests N] [--warmup SECS] [--threads N] [--label TEXT] [--out FILE] \
         [--server-pid PID]"
    );
    std::process::exit(2)
}

struct Args {
    cmd: String,
    opts: HashMap<String, String>,
}

impl Args {
    fn parse() -> Args {
        // cargo bench passes `--bench`; ignore it.
        let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
        let cmd = it.next().unwrap_or_else(|| usage("no command"));
        let mut opts = HashMap::new();
        while let Some(k) = it.next() {
            let Some(name) = k.strip_prefix("--") else {
                usage(&format!("unexpected argument {k:?}"))
            };
            let v = it
                .next()
                .unwrap_or_else(|| usage(&format!("--{name} needs a value")));
            opts.insert(name.to_string(), v);
        }
        Args { cmd, opts }
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.opts.get(k).map(String::as_str)
    }

    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> T {
        match self.get(k) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| usage(&format!("--{k} {v:?} is not a number"))),
        }
    }
}

fn main() {
    let args = Args::parse();
    match args.cmd.as_str() {
        "serve-allow" => serve_allow(&args),
        "client" => client(&args),
        other => usage(&format!("unknown command {other:?}")),
    }
}

fn serve_allow(args: &Args) {
    let socket = PathBuf::from(args.get("socket").unwrap_or_else(|| usage("--socket")));
    let work = Duration::from_secs_f64(args.num("work-us", 0.0f64) / 1e6);
    // The plugin's own runtime: multi-threaded, one worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = protocol::bind(&socket).expect("bind");
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("signal");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        protocol::serve(
            listener,
            Arc::new(AllowAll { work }),
            ServerOptions::default(),
            stop,
        )
        .await
        .expect("serve");
        let _ = std::fs::remove_file(&socket);
    });
}

/// What one connection measured.
#[derive(Default)]
struct Tally {
    lat_ns: Vec<u64>,
    allow: u64,
    deny: u64,
    errors: u64,
}

struct Plan {
    socket: PathBuf,
    path: &'static str,
    body: Bytes,
    /// Calls counted only after this instant.
    measure_from: Instant,
    /// Stop at this instant (duration mode).
    until: Option<Instant>,
    /// Stop after this many measured calls in all (count mode).
    budget: Option<u64>,
    taken: AtomicU64,
    stop: AtomicBool,
}

fn call_of(args: &Args) -> (&'static str, AuthzRequest) {
    let image = || {
        args.get("image")
            .unwrap_or_else(|| usage("--image is needed for this call"))
    };
    match args.get("call").unwrap_or_else(|| usage("--call")) {
        "read" => ("/AuthZPlugin.AuthZReq", support::read()),
        "read-res" => ("/AuthZPlugin.AuthZRes", support::read_response(10)),
        "pull" => {
            let (repo, tag) = support::split_ref(image());
            ("/AuthZPlugin.AuthZReq", support::pull(&repo, &tag))
        }
        "create" => ("/AuthZPlugin.AuthZReq", support::create_large(image())),
        other => usage(&format!("unknown call {other:?}")),
    }
}

fn client(args: &Args) {
    let socket = PathBuf::from(args.get("socket").unwrap_or_else(|| usage("--socket")));
    let (path, call) = call_of(args);
    let body = Bytes::from(support::wire(&call));
    let conns: usize = args.num("conns", 1);
    let threads: usize = args.num("threads", 1);
    let warmup = Duration::from_secs_f64(args.num("warmup", 0.5));
    let duration = args.get("duration").map(|_| args.num("duration", 3.0f64));
    let budget = args.get("requests").map(|_| args.num("requests", 0u64));
    if duration.is_none() && budget.is_none() {
        usage("give --duration or --requests");
    }
    let label = args.get("label").unwrap_or("").to_string();

    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .expect("runtime");

    let started = Instant::now();
    let measure_from = started + warmup;
    let plan = Arc::new(Plan {
        socket,
        path,
        body,
        measure_from,
        until: duration.map(|d| measure_from + Duration::from_secs_f64(d)),
        budget,
        taken: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let server_pid: Option<u32> = args.get("server-pid").map(|_| args.num("server-pid", 0));
    let (tallies, measured, cpu_start) = rt.block_on(async {
        // CPU times when the measured window opens.
        let cpu_start = tokio::spawn(async move {
            tokio::time::sleep_until(measure_from.into()).await;
            (
                server_pid.and_then(cpu_seconds),
                cpu_seconds_self(),
                machine_busy_seconds(),
            )
        });
        let mut tasks = Vec::new();
        for _ in 0..conns {
            let plan = plan.clone();
            tasks.push(tokio::spawn(async move { connection(&plan).await }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("connection task"));
        }
        let elapsed = measure_from.elapsed();
        (out, elapsed, cpu_start.await.expect("cpu task"))
    });
    let server_cpu = match (cpu_start.0, server_pid.and_then(cpu_seconds)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let client_cpu = match (cpu_start.1, cpu_seconds_self()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    // CPU used by everything else on the machine meanwhile, in cores: a
    // benchmark is only meaningful on an otherwise idle machine.
    let other_cores = match (cpu_start.2, machine_busy_seconds(), server_cpu, client_cpu) {
        (Some(a), Some(b), Some(s), Some(c)) if measured.as_secs_f64() > 0.0 => {
            Some(((b - a - s - c) / measured.as_secs_f64()).max(0.0))
        }
        _ => None,
    };

    let mut lat: Vec<u64> = Vec::new();
    let (mut allow, mut deny, mut errors) = (0, 0, 0);
    for t in tallies {
        lat.extend(t.lat_ns);
        allow += t.allow;
        deny += t.deny;
        errors += t.errors;
    }
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((p / 100.0) * lat.len() as f64).ceil() as usize;
        lat[i.clamp(1, lat.len()) - 1] as f64 / 1000.0
    };
    let n = lat.len() as f64;
    let mean = if lat.is_empty() {
        0.0
    } else {
        lat.iter().sum::<u64>() as f64 / n / 1000.0
    };
    // In count mode the window ends with the last call.
    let secs = measured.as_secs_f64();
    // The command that produced this line, for the results to cite
    // (the executable by its bench name, not its hashed path).
    let argv: Vec<String> = std::iter::once("load".to_string())
        .chain(std::env::args().skip(1).filter(|a| a != "--bench"))
        .collect();
    let line = serde_json::json!({
        "label": label,
        "argv": argv.join(" "),
        "call": args.get("call"),
        "socket": plan.socket.display().to_string(),
        "conns": conns,
        "client_threads": threads,
        "seconds": secs,
        "requests": lat.len(),
        "rps": if secs > 0.0 { n / secs } else { 0.0 },
        "allow": allow,
        "deny": deny,
        "errors": errors,
        "mean_us": mean,
        "p50_us": pct(50.0),
        "p90_us": pct(90.0),
        "p99_us": pct(99.0),
        "p999_us": pct(99.9),
        "max_us": lat.last().map_or(0.0, |v| *v as f64 / 1000.0),
        "request_bytes": plan.body.len(),
        "server_cpu_s": server_cpu,
        "server_cpu_us_per_call": server_cpu.map(|c| if n > 0.0 { c * 1e6 / n } else { 0.0 }),
        "client_cpu_us_per_call": client_cpu.map(|c| if n > 0.0 { c * 1e6 / n } else { 0.0 }),
        "other_cores": other_cores,
    });
    println!("{line}");
    if let Some(out) = args.get("out") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .expect("open --out");
        writeln!(f, "{line}").expect("write --out");
    }
    if errors > 0 || lat.is_empty() {
        std::process::exit(1);
    }
}

/// User + system CPU seconds of a process, all threads (`/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn cpu_seconds_self() -> Option<f64> {
    stat_cpu(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Busy CPU seconds of the whole machine (`/proc/stat`: all but idle and
/// iowait), in USER_HZ like the per-process figures.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user).
    let busy = v.iter().take(8).sum::<f64>() - v.get(3)? - v.get(4)?;
    Some(busy / 100.0)
}

fn stat_cpu(stat: &str) -> Option<f64> {
    // Fields after the command name, which ends with the last ')':
    // state is field 3, utime 14 and stime 15, in clock ticks (USER_HZ,
    // 100 on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// One keep-alive connection sending calls back to back. Not
/// `img_authz::unix_http`: that client opens a fresh connection per bodiless
/// request, while dockerd keeps its connection to a plugin open and POSTs
/// each call on it, which is what this load measures.
async fn connection(plan: &Plan) -> Tally {
    let mut tally = Tally::default();
    let stream = match UnixStream::connect(&plan.socket).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("load: connect {}: {e}", plan.socket.display());
            tally.errors += 1;
            return tally;
        }
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(x) => x,
        Err(e) => {
            eprintln!("load: handshake: {e}");
            tally.errors += 1;
            return tally;
        }
    };
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    loop {
        if plan.stop.load(Ordering::Relaxed) {
            break;
        }
        let now = Instant::now();
        if plan.until.is_some_and(|u| now >= u) {
            break;
        }
        let measured = now >= plan.measure_from;
        if measured {
            if let Some(b) = plan.budget {
                if plan.taken.fetch_add(1, Ordering::Relaxed) >= b {
                    plan.stop.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
        let req = Request::post(plan.path)
            .header(hyper::header::HOST, "plugin")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(plan.body.clone()))
            .expect("request");
        let t0 = Instant::now();
        let result = async {
            if sender.ready().await.is_err() {
                return Err("connection closed".to_string());
            }
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            if !status.is_success() {
                return Err(format!("HTTP {status}"));
            }
            Ok(body)
        }
        .await;
        let took = t0.elapsed();
        match result {
            Ok(body) => {
                if !measured {
                    continue;
                }
                tally
                    .lat_ns
                    .push(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
                // Both servers serialise AuthzResponse, Allow first.
                if body.starts_with(br#"{"Allow":true"#) {
                    tally.allow += 1;
                } else {
                    if tally.deny == 0 {
                        eprintln!("load: denied: {}", String::from_utf8_lossy(&body));
                    }
                    tally.deny += 1;
                }
            }
            Err(e) => {
                eprintln!("load: call failed: {e}");
                tally.errors += 1;
                break;
            }
        }
    }
    drop(sender);
    driver.abort();
    tally
}
