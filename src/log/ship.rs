//! Shipping decisions to a collector (`IMG_AUTHZ_DECISION_LOG_URL`).
//!
//! The request path only serializes an event (OPA's decision-log shape where
//! it fits) and makes a non-blocking send on a bounded channel; when that
//! channel is full the event is counted as dropped. A spooler task appends
//! the events to the on-disk [`Buffer`](super::buffer::Buffer) and seals
//! batches by size or age (its file I/O on Tokio's blocking pool, never on
//! a worker); a sender task POSTs each batch (a gzip JSON
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

mod settings;
#[cfg(test)]
use settings::DEFAULT_FLUSH_MS;
pub use settings::{Settings, SettingsError};

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
    /// Secrets masked ([`super::redact`]).
    #[serde(serialize_with = "super::redact::serialize_uri")]
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
    /// The one mapping from a decision-log line to an event. `Entry` is
    /// destructured without `..`: a field added to it does not compile
    /// until it is placed here (or dropped here on purpose).
    pub fn new(e: &'a Entry<'a>, labels: &'a BTreeMap<String, String>) -> Event<'a> {
        let Entry {
            decision_id,
            time,
            bundle_revision,
            user,
            method,
            uri,
            action,
            image,
            digest,
            decision,
            rule,
            cause,
            policy_rule,
            reason,
            latency_us,
        } = e;
        Event {
            decision_id,
            timestamp: time,
            labels,
            bundles: bundle_revision.as_deref().map(|r| {
                BTreeMap::from([(
                    BUNDLE_NAME,
                    Revision {
                        revision: r.as_str(),
                    },
                )])
            }),
            path: "img-authz/authz",
            input: Input {
                user,
                method,
                uri,
                action,
                image: *image,
                digest: *digest,
            },
            result: Outcome {
                allow: decision.allows(),
                decision: decision.as_str(),
                rule,
                cause: *cause,
                policy_rule: *policy_rule,
                reason,
            },
            metrics: Metrics {
                timer_decision_ns: latency_us.saturating_mul(1000),
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

/// What an answer of the collector means for the batch (a 3xx is never
/// followed: it is retried, its error shown in the status).
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

/// Why shipping cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The CA bundle or TLS configuration is unusable.
    #[error("IMG_AUTHZ_DECISION_LOG_CA: {0}")]
    Ca(crate::tls::TlsError),
    #[error("decision-log client: {0}")]
    Client(reqwest::Error),
    #[error("decision-log buffer: {0}")]
    Buffer(#[from] super::buffer::BufferError),
}

/// Why a batch did not reach the collector (no answer at all).
#[derive(Debug, thiserror::Error)]
#[error("{}", crate::http::error_chain(.0))]
pub struct PostError(reqwest::Error);

/// The collector's HTTP client.
pub fn client(s: &Settings) -> Result<reqwest::Client, StartError> {
    let tls = crate::tls::client_config(s.ca_pem.as_deref()).map_err(StartError::Ca)?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(s.timeout)
        .timeout(s.timeout)
        .user_agent(concat!("img-authz/", env!("CARGO_PKG_VERSION")))
        .hickory_dns(true)
        // A redirect (307/308 resend the body) would take decisions off
        // the host the operator named, past the loopback-only rule for
        // http://; a proxy from HTTP(S)_PROXY would see them too.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(StartError::Client)
}

/// POST one gzip batch; the collector's status, or why there is none.
pub async fn post(
    client: &reqwest::Client,
    s: &Settings,
    body: Vec<u8>,
) -> Result<reqwest::StatusCode, PostError> {
    let mut req = client
        .post(s.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::CONTENT_ENCODING, "gzip")
        .body(body);
    if let Some(t) = &s.token {
        req = req.bearer_auth(t);
    }
    match req.send().await {
        Ok(r) => Ok(r.status()),
        Err(e) => Err(PostError(e)),
    }
}

/// Start shipping: open the buffer (a start-up error when it cannot be),
/// spawn the spooler and the sender. Needs a Tokio runtime.
pub fn start(s: Settings) -> Result<Shipper, StartError> {
    let buffer = Buffer::open(&s.buffer_dir, s.buffer_bytes)?;
    let client = client(&s)?;
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

/// Run `f` on the buffer on Tokio's blocking pool: its file I/O may stall
/// (a hung disk) and must not stall one of the workers that serve requests.
/// `None` only when the runtime is shutting down.
async fn on_buffer<R: Send + 'static>(
    b: &Arc<Mutex<Buffer>>,
    f: impl FnOnce(&mut Buffer) -> R + Send + 'static,
) -> Option<R> {
    let b = b.clone();
    tokio::task::spawn_blocking(move || f(&mut lock(&b)))
        .await
        .ok()
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
                let events = std::mem::replace(&mut got, Vec::with_capacity(256));
                let (batch_bytes, flush) = (s.batch_bytes, s.flush);
                let sealed = on_buffer(&buffer, move |b| {
                    let mut sealed = false;
                    for ev in events {
                        STATS.dropped(DropReason::BufferFull, b.append(&ev));
                        sealed |= b.seal_due(batch_bytes, flush);
                    }
                    STATS.buffered(b);
                    sealed
                })
                .await;
                if sealed == Some(true) {
                    ready.notify_one();
                }
            }
            _ = tick.tick() => {
                let (batch_bytes, flush) = (s.batch_bytes, s.flush);
                let sealed = on_buffer(&buffer, move |b| {
                    let sealed = b.seal_due(batch_bytes, flush);
                    STATS.buffered(b);
                    sealed
                })
                .await;
                if sealed == Some(true) {
                    ready.notify_one();
                }
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
        let Some(batch) = on_buffer(&buffer, Buffer::take).await.flatten() else {
            ready.notified().await;
            continue;
        };
        let result = match gzip_array(&batch.lines) {
            Ok(body) => {
                match post(&client, &s, body).await {
                    Ok(status) => match verdict(status.as_u16()) {
                        Verdict::Delivered => Ok(()),
                        Verdict::Rejected => {
                            tracing::error!(%status, events = batch.events, "the collector refused a decision-log batch; dropped");
                            let seq = batch.seq;
                            on_buffer(&buffer, move |b| {
                                b.delivered(seq);
                                STATS.buffered(b);
                            })
                            .await;
                            STATS.dropped(DropReason::Rejected, batch.events);
                            STATS.set_error(Some(format!(
                                "{} answered {status}; batch dropped",
                                s.url
                            )));
                            continue;
                        }
                        Verdict::Retry if status.is_redirection() => Err(format!(
                            "{} answered {status}; redirects are not followed: set IMG_AUTHZ_DECISION_LOG_URL to the final URL",
                            s.url
                        )),
                        Verdict::Retry => Err(format!("{} answered {status}", s.url)),
                    },
                    Err(e) => Err(e.to_string()),
                }
            }
            Err(e) => Err(format!("cannot compress a batch: {e}")),
        };
        match result {
            Ok(()) => {
                let seq = batch.seq;
                on_buffer(&buffer, move |b| {
                    b.delivered(seq);
                    STATS.buffered(b);
                })
                .await;
                STATS.shipped.fetch_add(batch.events, Ordering::Relaxed);
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                STATS.last_success_unix.store(now, Ordering::Relaxed);
                STATS.set_error(None);
                backoff.reset();
            }
            Err(e) => {
                let seq = batch.seq;
                on_buffer(&buffer, move |b| b.failed(seq)).await;
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
mod tests;
