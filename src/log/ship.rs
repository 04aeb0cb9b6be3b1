//! Shipping decisions to a collector (`IMG_AUTHZ_DECISION_LOG_URL`).
//!
//! The request path only serializes an event (OPA's decision-log shape where
//! it fits) and makes a non-blocking send on a bounded channel; when that
//! channel is full the event is counted as dropped. A spooler task appends
//! the events to the on-disk [`Buffer`](super::buffer::Buffer) and seals
//! batches by size or age; a sender task POSTs each batch (a gzip JSON
//! array) and deletes it after a 2xx, retrying with exponential backoff and
//! jitter otherwise. Delivery is at least once for every event the buffer
//! held; anything dropped is counted in [`STATS`] (metrics, `img-authz
//! status`). docs/decision-log.md is the operator's page.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{mpsc, Notify};

use super::buffer::Buffer;
use super::Entry;

/// Shipping settings, from `IMG_AUTHZ_DECISION_LOG_*`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: reqwest::Url,
    /// Host labels of every event (`hostname`, `id` and `version` included).
    pub labels: BTreeMap<String, String>,
    pub buffer_dir: PathBuf,
    pub buffer_bytes: u64,
    /// A batch is sealed at this many (uncompressed) bytes...
    pub batch_bytes: u64,
    /// ... or this long after its first event.
    pub flush: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub timeout: Duration,
    /// PEM CA certificates trusted for an https collector (else the system's).
    pub ca_pem: Option<String>,
    /// Events waiting between the request path and the spooler.
    pub queue: usize,
    /// Sent as `Authorization: Bearer …` (`IMG_AUTHZ_DECISION_LOG_TOKEN_FILE`).
    pub token: Option<String>,
}

pub const DEFAULT_BUFFER_BYTES: u64 = 64 * 1024 * 1024;
pub const DEFAULT_BATCH_BYTES: u64 = 512 * 1024;
pub const DEFAULT_FLUSH_MS: u64 = 5_000;
pub const DEFAULT_RETRY_MAX_MS: u64 = 60_000;
const QUEUE: usize = 8192;

fn num(name: &str, v: Option<String>, default: u64, min: u64) -> Result<u64, String> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<u64>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(format!("{name}={s:?}: expected a whole number ≥ {min}")),
        },
    }
}

/// `k=v,k=v` → labels. Keys are non-empty; values may be empty.
pub fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(format!(
                "IMG_AUTHZ_DECISION_LOG_LABELS: {item:?} is not key=value"
            ));
        };
        let k = k.trim();
        if k.is_empty() || ["id", "version"].contains(&k) {
            return Err(format!(
                "IMG_AUTHZ_DECISION_LOG_LABELS: {item:?}: the key must be non-empty and not id or version (set by img-authz)"
            ));
        }
        out.insert(k.to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// The kernel's host name (no libc call: no `unsafe`).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl Settings {
    /// `None` when `IMG_AUTHZ_DECISION_LOG_URL` is unset: nothing is shipped.
    pub fn from_env(state_dir: &Path) -> Result<Option<Settings>, String> {
        Settings::from_vars(|k| std::env::var(k).ok(), state_dir)
    }

    pub fn from_vars(
        get: impl Fn(&str) -> Option<String>,
        state_dir: &Path,
    ) -> Result<Option<Settings>, String> {
        let Some(url) = get("IMG_AUTHZ_DECISION_LOG_URL").filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let url = reqwest::Url::parse(url.trim())
            .map_err(|e| format!("IMG_AUTHZ_DECISION_LOG_URL={url:?}: {e}"))?;
        match url.scheme() {
            "https" => {}
            // Decisions name users and images: plain HTTP only to this host
            // (a local Vector or Fluent Bit).
            "http" if is_loopback(&url) => {}
            _ => {
                return Err(format!(
                    "IMG_AUTHZ_DECISION_LOG_URL={url}: use https:// (http:// only to a loopback address)"
                ))
            }
        }
        let mut labels = BTreeMap::new();
        labels.insert("hostname".to_string(), hostname());
        labels.extend(parse_labels(
            &get("IMG_AUTHZ_DECISION_LOG_LABELS").unwrap_or_default(),
        )?);
        labels.insert("id".to_string(), super::instance_id().to_string());
        labels.insert("version".to_string(), env!("CARGO_PKG_VERSION").to_string());
        let ca_pem = match get("IMG_AUTHZ_DECISION_LOG_CA").filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(
                std::fs::read_to_string(p.trim())
                    .map_err(|e| format!("IMG_AUTHZ_DECISION_LOG_CA={p}: {e}"))?,
            ),
            None => None,
        };
        let token = match get("IMG_AUTHZ_DECISION_LOG_TOKEN_FILE").filter(|p| !p.trim().is_empty())
        {
            Some(p) => {
                let t = std::fs::read_to_string(p.trim())
                    .map_err(|e| format!("IMG_AUTHZ_DECISION_LOG_TOKEN_FILE={p}: {e}"))?;
                let t = t.trim().to_string();
                if t.is_empty() || t.contains(['\r', '\n']) {
                    return Err(format!(
                        "IMG_AUTHZ_DECISION_LOG_TOKEN_FILE={p}: expected one line holding a token"
                    ));
                }
                Some(t)
            }
            None => None,
        };
        let buffer_dir =
            match get("IMG_AUTHZ_DECISION_LOG_BUFFER_DIR").filter(|p| !p.trim().is_empty()) {
                Some(p) => PathBuf::from(p.trim()),
                None => state_dir.join("decision-log"),
            };
        Ok(Some(Settings {
            url,
            labels,
            buffer_dir,
            buffer_bytes: num(
                "IMG_AUTHZ_DECISION_LOG_BUFFER_BYTES",
                get("IMG_AUTHZ_DECISION_LOG_BUFFER_BYTES"),
                DEFAULT_BUFFER_BYTES,
                1024,
            )?,
            batch_bytes: num(
                "IMG_AUTHZ_DECISION_LOG_BATCH_BYTES",
                get("IMG_AUTHZ_DECISION_LOG_BATCH_BYTES"),
                DEFAULT_BATCH_BYTES,
                1,
            )?,
            flush: Duration::from_millis(num(
                "IMG_AUTHZ_DECISION_LOG_FLUSH_MS",
                get("IMG_AUTHZ_DECISION_LOG_FLUSH_MS"),
                DEFAULT_FLUSH_MS,
                10,
            )?),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_millis(num(
                "IMG_AUTHZ_DECISION_LOG_RETRY_MAX_MS",
                get("IMG_AUTHZ_DECISION_LOG_RETRY_MAX_MS"),
                DEFAULT_RETRY_MAX_MS,
                100,
            )?),
            timeout: Duration::from_secs(10),
            ca_pem,
            queue: QUEUE,
            token,
        }))
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(h) = url.host_str() else {
        return false;
    };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// Why an event was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The channel from the request path was full (the spooler fell behind).
    QueueFull,
    /// The buffer was full: its oldest events were deleted, or the event
    /// could not be written.
    BufferFull,
    /// The collector refused the batch as such (400, 413, 415, 422):
    /// sending it again cannot succeed.
    Rejected,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::BufferFull => "buffer_full",
            DropReason::Rejected => "rejected",
        }
    }
}

/// Shipping counters, process-wide.
#[derive(Debug, Default)]
pub struct Stats {
    enabled: AtomicBool,
    shipped: AtomicU64,
    dropped_queue: AtomicU64,
    dropped_buffer: AtomicU64,
    dropped_rejected: AtomicU64,
    failures: AtomicU64,
    buffered_bytes: AtomicU64,
    buffered_events: AtomicU64,
    last_success_unix: AtomicU64,
    last_error: Mutex<Option<String>>,
}

pub static STATS: Stats = Stats {
    enabled: AtomicBool::new(false),
    shipped: AtomicU64::new(0),
    dropped_queue: AtomicU64::new(0),
    dropped_buffer: AtomicU64::new(0),
    dropped_rejected: AtomicU64::new(0),
    failures: AtomicU64::new(0),
    buffered_bytes: AtomicU64::new(0),
    buffered_events: AtomicU64::new(0),
    last_success_unix: AtomicU64::new(0),
    last_error: Mutex::new(None),
};

impl Stats {
    pub fn dropped(&self, why: DropReason, n: u64) {
        if n == 0 {
            return;
        }
        match why {
            DropReason::QueueFull => &self.dropped_queue,
            DropReason::BufferFull => &self.dropped_buffer,
            DropReason::Rejected => &self.dropped_rejected,
        }
        .fetch_add(n, Ordering::Relaxed);
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped_queue.load(Ordering::Relaxed)
            + self.dropped_buffer.load(Ordering::Relaxed)
            + self.dropped_rejected.load(Ordering::Relaxed)
    }

    fn buffered(&self, b: &Buffer) {
        self.buffered_bytes.store(b.bytes(), Ordering::Relaxed);
        self.buffered_events.store(b.events(), Ordering::Relaxed);
    }

    fn set_error(&self, e: Option<String>) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = e;
        }
    }

    /// Prometheus text, appended to `/metrics` when shipping is on.
    pub fn render(&self, out: &mut String) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        out.push_str("# HELP img_authz_decision_log_shipped_total Decision events the collector accepted (2xx).\n");
        out.push_str("# TYPE img_authz_decision_log_shipped_total counter\n");
        let _ = writeln!(
            out,
            "img_authz_decision_log_shipped_total {}",
            r(&self.shipped)
        );
        out.push_str(
            "# HELP img_authz_decision_log_dropped_total Decision events lost before shipping.\n",
        );
        out.push_str("# TYPE img_authz_decision_log_dropped_total counter\n");
        for (why, n) in [
            (DropReason::QueueFull, &self.dropped_queue),
            (DropReason::BufferFull, &self.dropped_buffer),
            (DropReason::Rejected, &self.dropped_rejected),
        ] {
            let _ = writeln!(
                out,
                "img_authz_decision_log_dropped_total{{reason=\"{}\"}} {}",
                why.as_str(),
                r(n)
            );
        }
        out.push_str("# HELP img_authz_decision_log_post_failures_total Batch uploads that failed (retried).\n");
        out.push_str("# TYPE img_authz_decision_log_post_failures_total counter\n");
        let _ = writeln!(
            out,
            "img_authz_decision_log_post_failures_total {}",
            r(&self.failures)
        );
        out.push_str(
            "# HELP img_authz_decision_log_buffered_bytes Bytes waiting in the on-disk buffer.\n",
        );
        out.push_str("# TYPE img_authz_decision_log_buffered_bytes gauge\n");
        let _ = writeln!(
            out,
            "img_authz_decision_log_buffered_bytes {}",
            r(&self.buffered_bytes)
        );
        out.push_str(
            "# HELP img_authz_decision_log_buffered_events Events waiting in the on-disk buffer.\n",
        );
        out.push_str("# TYPE img_authz_decision_log_buffered_events gauge\n");
        let _ = writeln!(
            out,
            "img_authz_decision_log_buffered_events {}",
            r(&self.buffered_events)
        );
    }

    /// For `img-authz status`; `null` when shipping is off.
    pub fn status(&self) -> serde_json::Value {
        if !self.enabled.load(Ordering::Relaxed) {
            return serde_json::Value::Null;
        }
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let last = r(&self.last_success_unix);
        serde_json::json!({
            "shipped": r(&self.shipped),
            "dropped": self.dropped_total(),
            "dropped_queue_full": r(&self.dropped_queue),
            "dropped_buffer_full": r(&self.dropped_buffer),
            "dropped_rejected": r(&self.dropped_rejected),
            "post_failures": r(&self.failures),
            "buffered_bytes": r(&self.buffered_bytes),
            "buffered_events": r(&self.buffered_events),
            "last_success_unix": (last > 0).then_some(last),
            "last_error": self.last_error.lock().ok().and_then(|g| g.clone()),
        })
    }
}

/// One event, OPA's decision-log shape where it fits
/// (<https://www.openpolicyagent.org/docs/management-decision-logs>).
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    pub decision_id: &'a str,
    pub timestamp: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundles: Option<BTreeMap<&'static str, Revision<'a>>>,
    /// The decision point, as OPA's `path`.
    pub path: &'static str,
    pub input: Input<'a>,
    pub result: Outcome<'a>,
    pub metrics: Metrics,
}

#[derive(Debug, Serialize)]
pub struct Revision<'a> {
    pub revision: &'a str,
}

/// What was asked.
#[derive(Debug, Serialize)]
pub struct Input<'a> {
    pub user: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<&'a str>,
}

/// What was decided.
#[derive(Debug, Serialize)]
pub struct Outcome<'a> {
    /// What dockerd was told.
    pub allow: bool,
    /// `allow`, `deny` or `audit`.
    pub decision: &'static str,
    /// The check that decided.
    pub rule: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_rule: Option<&'a str>,
    pub reason: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Metrics {
    pub timer_decision_ns: u64,
}

/// Name of the bundle in `bundles` (OPA keys bundles by name).
pub const BUNDLE_NAME: &str = "img-authz";

impl<'a> Event<'a> {
    pub fn new(e: &'a Entry<'a>, labels: &'a BTreeMap<String, String>) -> Event<'a> {
        Event {
            decision_id: &e.decision_id,
            timestamp: &e.time,
            labels,
            bundles: e.bundle_revision.as_deref().map(|r| {
                BTreeMap::from([(
                    BUNDLE_NAME,
                    Revision {
                        revision: r.as_str(),
                    },
                )])
            }),
            path: "img-authz/authz",
            input: Input {
                user: e.user,
                method: e.method,
                uri: e.uri,
                action: e.action,
                image: e.image,
                digest: e.digest,
            },
            result: Outcome {
                allow: e.decision.allows(),
                decision: e.decision.as_str(),
                rule: e.rule,
                cause: e.cause,
                policy_rule: e.policy_rule,
                reason: e.reason,
            },
            metrics: Metrics {
                timer_decision_ns: e.latency_us.saturating_mul(1000),
            },
        }
    }
}

/// The request path's end of shipping.
#[derive(Debug)]
pub struct Shipper {
    tx: mpsc::Sender<Vec<u8>>,
    labels: BTreeMap<String, String>,
}

impl Shipper {
    /// Queue `e` without waiting; a full queue counts a drop.
    pub fn offer(&self, e: &Entry<'_>) {
        let Ok(ev) = serde_json::to_vec(&Event::new(e, &self.labels)) else {
            return;
        };
        if self.tx.try_send(ev).is_err() {
            STATS.dropped(DropReason::QueueFull, 1);
        }
    }
}

/// A gzip-compressed JSON array of the JSON-object lines of a batch. A
/// line without its newline (cut by a crash) is left out.
pub fn gzip_array(lines: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"[")?;
    let whole = lines.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut first = true;
    for line in lines
        .get(..whole)
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
    {
        if !first {
            gz.write_all(b",")?;
        }
        first = false;
        gz.write_all(line)?;
    }
    gz.write_all(b"]")?;
    gz.finish()
}

/// What an answer of the collector means for the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Kept and sent again later (server errors, 408, 429, and 401/403:
    /// an operator fixes the token and nothing is lost).
    Retry,
    /// Dropped and counted: the collector will never take this body.
    Rejected,
}

pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        400 | 413 | 415 | 422 => Verdict::Rejected,
        _ => Verdict::Retry,
    }
}

/// Exponential backoff with "equal jitter": the n-th wait is uniform in
/// [d/2, d] where d = min·2ⁿ capped at max, so retries of many hosts spread
/// out while each still backs off.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            attempt: 0,
        }
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next wait, `random` being any uniformly random u64.
    pub fn next_with(&mut self, random: u64) -> Duration {
        let d = self
            .min
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = d / 2;
        let span = u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(if span == 0 { 0 } else { random % (span + 1) })
    }

    pub fn next_wait(&mut self) -> Duration {
        let mut b = [0u8; 8];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
        self.next_with(u64::from_le_bytes(b))
    }
}

/// Start shipping: open the buffer (a start-up error when it cannot be),
/// spawn the spooler and the sender. Needs a Tokio runtime.
pub fn start(s: Settings) -> Result<Shipper, String> {
    let buffer = Buffer::open(&s.buffer_dir, s.buffer_bytes)
        .map_err(|e| format!("decision-log buffer: {e}"))?;
    let tls = crate::tls::client_config(s.ca_pem.as_deref())
        .map_err(|e| format!("IMG_AUTHZ_DECISION_LOG_CA: {e}"))?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(s.timeout)
        .timeout(s.timeout)
        .user_agent(concat!("img-authz/", env!("CARGO_PKG_VERSION")))
        .hickory_dns(true)
        .build()
        .map_err(|e| format!("decision-log client: {e}"))?;
    STATS.enabled.store(true, Ordering::Relaxed);
    STATS.buffered(&buffer);
    let buffer = Arc::new(Mutex::new(buffer));
    let ready = Arc::new(Notify::new());
    // Batches left by an earlier run go first.
    ready.notify_one();
    let (tx, rx) = mpsc::channel(s.queue);
    tokio::spawn(spool(rx, buffer.clone(), ready.clone(), s.clone()));
    tokio::spawn(send(client, buffer, ready, s.clone()));
    tracing::info!(url = %s.url, buffer = %s.buffer_dir.display(), "shipping decisions");
    Ok(Shipper {
        tx,
        labels: s.labels,
    })
}

fn lock(b: &Mutex<Buffer>) -> std::sync::MutexGuard<'_, Buffer> {
    b.lock().unwrap_or_else(|p| p.into_inner())
}

/// Events → buffer; seal batches by size or age.
async fn spool(
    mut rx: mpsc::Receiver<Vec<u8>>,
    buffer: Arc<Mutex<Buffer>>,
    ready: Arc<Notify>,
    s: Settings,
) {
    let mut tick = tokio::time::interval((s.flush / 4).max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut got = Vec::with_capacity(256);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut got, 256) => {
                if n == 0 {
                    return;
                }
                let mut b = lock(&buffer);
                let mut sealed = false;
                for ev in got.drain(..) {
                    STATS.dropped(DropReason::BufferFull, b.append(&ev));
                    sealed |= b.seal_due(s.batch_bytes, s.flush);
                }
                STATS.buffered(&b);
                if sealed {
                    ready.notify_one();
                }
            }
            _ = tick.tick() => {
                let mut b = lock(&buffer);
                if b.seal_due(s.batch_bytes, s.flush) {
                    ready.notify_one();
                }
                STATS.buffered(&b);
            }
        }
    }
}

/// Sealed batches → collector, oldest first, one at a time.
async fn send(
    client: reqwest::Client,
    buffer: Arc<Mutex<Buffer>>,
    ready: Arc<Notify>,
    s: Settings,
) {
    let mut backoff = Backoff::new(s.retry_min, s.retry_max);
    loop {
        let Some(batch) = lock(&buffer).take() else {
            ready.notified().await;
            continue;
        };
        let result = match gzip_array(&batch.lines) {
            Ok(body) => {
                let mut req = client
                    .post(s.url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(reqwest::header::CONTENT_ENCODING, "gzip")
                    .body(body);
                if let Some(t) = &s.token {
                    req = req.bearer_auth(t);
                }
                match req.send().await {
                    Ok(r) => match verdict(r.status().as_u16()) {
                        Verdict::Delivered => Ok(()),
                        Verdict::Rejected => {
                            tracing::error!(status = %r.status(), events = batch.events, "the collector refused a decision-log batch; dropped");
                            let mut b = lock(&buffer);
                            b.delivered(batch.seq);
                            STATS.buffered(&b);
                            drop(b);
                            STATS.dropped(DropReason::Rejected, batch.events);
                            STATS.set_error(Some(format!(
                                "{} answered {}; batch dropped",
                                s.url,
                                r.status()
                            )));
                            continue;
                        }
                        Verdict::Retry => Err(format!("{} answered {}", s.url, r.status())),
                    },
                    Err(e) => Err(crate::http::error_chain(&e)),
                }
            }
            Err(e) => Err(format!("cannot compress a batch: {e}")),
        };
        match result {
            Ok(()) => {
                let mut b = lock(&buffer);
                b.delivered(batch.seq);
                STATS.buffered(&b);
                drop(b);
                STATS.shipped.fetch_add(batch.events, Ordering::Relaxed);
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                STATS.last_success_unix.store(now, Ordering::Relaxed);
                STATS.set_error(None);
                backoff.reset();
            }
            Err(e) => {
                lock(&buffer).failed(batch.seq);
                STATS.failures.fetch_add(1, Ordering::Relaxed);
                let wait = backoff.next_wait();
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "decision-log batch not delivered; kept in the buffer");
                STATS.set_error(Some(e));
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(b: &[u8]) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(b)
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn batch_is_a_gzip_json_array() {
        let body = gzip_array(b"{\"a\":1}\n{\"b\":2}\n{\"cut").unwrap();
        assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip magic");
        let v: serde_json::Value = serde_json::from_str(&gunzip(&body)).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"a":1},{"b":2}]),
            "the cut line is left out"
        );
        assert_eq!(gunzip(&gzip_array(b"").unwrap()), "[]");
    }

    #[test]
    fn event_shape_and_the_bundle_revision_hook() {
        use crate::policy::{Check, Decision};
        let req = crate::protocol::AuthzRequest {
            user: "bob".into(),
            request_method: "POST".into(),
            request_uri: "/v1.41/images/load".into(),
            ..Default::default()
        };
        let d = Decision::deny(Check::Load, "no loads", "use a registry");
        let labels = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        let e = Entry::new(
            &req,
            Some(&crate::request::Action::Load),
            &d,
            Duration::from_micros(3),
        );
        let v = serde_json::to_value(Event::new(&e, &labels)).unwrap();
        assert_eq!(v["decision_id"], e.decision_id.as_str());
        assert_eq!(v["labels"]["env"], "prod");
        assert_eq!(v["input"]["user"], "bob");
        assert_eq!(v["input"]["action"], "load");
        assert_eq!(v["result"]["allow"], false);
        assert_eq!(v["result"]["rule"], "load");
        assert_eq!(v["result"]["reason"], "no loads");
        assert_eq!(v["metrics"]["timer_decision_ns"], 3000);
        super::super::set_bundle_revision(Some("42".into()));
        let e = Entry::new(
            &req,
            Some(&crate::request::Action::Load),
            &d,
            Duration::ZERO,
        );
        super::super::set_bundle_revision(None);
        let v = serde_json::to_value(Event::new(&e, &labels)).unwrap();
        assert_eq!(v["bundles"]["img-authz"]["revision"], "42");
        assert_eq!(serde_json::to_value(&e).unwrap()["bundle_revision"], "42");
        let e = Entry::new(
            &req,
            Some(&crate::request::Action::Load),
            &d,
            Duration::ZERO,
        );
        assert!(serde_json::to_value(Event::new(&e, &labels))
            .unwrap()
            .get("bundles")
            .is_none());
    }

    #[test]
    fn only_a_refused_body_is_dropped() {
        assert_eq!(verdict(200), Verdict::Delivered);
        assert_eq!(verdict(204), Verdict::Delivered);
        for s in [500, 502, 503, 408, 429, 401, 403, 404, 301] {
            assert_eq!(verdict(s), Verdict::Retry, "{s}");
        }
        for s in [400, 413, 415, 422] {
            assert_eq!(verdict(s), Verdict::Rejected, "{s}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1000));
        assert_eq!(b.next_with(0), ms(50), "lowest: half");
        assert_eq!(b.next_with(100_000_000), ms(200), "random at its top");
        let third = b.next_with(12_345_678);
        assert!(third >= ms(200) && third <= ms(400), "{third:?}");
        // The fourth wait is 800 ms before jitter, [400, 800] ms after it.
        assert_eq!(b.next_with(0), ms(400));
        for _ in 0..30 {
            let d = b.next_wait();
            assert!(d >= ms(500) && d <= ms(1000), "capped: {d:?}");
        }
        b.reset();
        assert_eq!(b.next_with(0), ms(50));
    }

    #[test]
    fn settings_from_the_environment() {
        let dir = Path::new("/var/lib/img-authz");
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(Settings::from_vars(vars(&[]), dir).unwrap().is_none());
        let s = Settings::from_vars(
            vars(&[
                ("IMG_AUTHZ_DECISION_LOG_URL", "http://127.0.0.1:9/logs"),
                (
                    "IMG_AUTHZ_DECISION_LOG_LABELS",
                    "env=prod, dc = ams1 ,hostname=web-1",
                ),
                ("IMG_AUTHZ_DECISION_LOG_BUFFER_BYTES", "4096"),
            ]),
            dir,
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.labels["env"], "prod");
        assert_eq!(s.labels["dc"], "ams1");
        assert_eq!(s.labels["hostname"], "web-1", "an operator's hostname wins");
        assert_eq!(s.labels["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(s.labels["id"].len(), 36);
        assert_eq!(s.buffer_bytes, 4096);
        assert_eq!(s.buffer_dir, dir.join("decision-log"));
        assert_eq!(s.flush, Duration::from_millis(DEFAULT_FLUSH_MS));
        for bad in [
            &[(
                "IMG_AUTHZ_DECISION_LOG_URL",
                "http://collector.example/logs",
            )][..],
            &[("IMG_AUTHZ_DECISION_LOG_URL", "ftp://127.0.0.1/")],
            &[("IMG_AUTHZ_DECISION_LOG_URL", "not a url")],
            &[
                ("IMG_AUTHZ_DECISION_LOG_URL", "https://c.example/logs"),
                ("IMG_AUTHZ_DECISION_LOG_LABELS", "env"),
            ],
            &[
                ("IMG_AUTHZ_DECISION_LOG_URL", "https://c.example/logs"),
                ("IMG_AUTHZ_DECISION_LOG_LABELS", "id=x"),
            ],
            &[
                ("IMG_AUTHZ_DECISION_LOG_URL", "https://c.example/logs"),
                ("IMG_AUTHZ_DECISION_LOG_BUFFER_BYTES", "12"),
            ],
        ] {
            let pairs: &'static [(&'static str, &'static str)] = bad;
            assert!(
                Settings::from_vars(vars(pairs), dir).is_err(),
                "{bad:?} accepted"
            );
        }
    }
}
