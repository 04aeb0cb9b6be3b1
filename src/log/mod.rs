//! The decision log: one JSON line per decision, on stderr (journald and
//! dockerd keep it), optionally appended to a file that follows rotation
//! ([`file`]), and optionally shipped in batches to a collector ([`ship`],
//! through the on-disk [`buffer`]). docs/decision-log.md is the operator's
//! page.
//!
//! Lines are written by a thread of their own ([`writer`]): a request never
//! waits on stderr or the file.
//!
//! Hook for policy bundles: [`set_bundle_revision`] names the revision in
//! force; every later decision carries it.

pub mod buffer;
pub mod file;
pub mod redact;
pub mod ship;
pub mod writer;

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;

use serde::Serialize;

use crate::policy::{Decision, DenyCause, Outcome};
use crate::protocol::AuthzRequest;
use crate::request::Action;

/// Where decisions go: stderr, and optionally a file.
#[derive(Debug, Default)]
pub struct DecisionLog {
    /// Log one allowed read in this many (they are most of the traffic):
    /// 0 logs none, 1 all.
    reads_sample: u64,
    reads_seen: AtomicU64,
    file: Option<Arc<file::LogFile>>,
    /// `None` only for a default (unstarted) log, as `check` uses: it
    /// writes to stderr itself.
    writer: Option<writer::Writer>,
    shipper: Option<ship::Shipper>,
}

/// The policy bundle revision in force, if any.
static BUNDLE_REVISION: ArcSwapOption<String> = ArcSwapOption::const_empty();

/// Name the policy bundle revision in force (`None`: no bundle). Decisions
/// made afterwards carry it (`bundle_revision` in the file,
/// `bundles.img-authz.revision` in shipped events).
pub fn set_bundle_revision(revision: Option<String>) {
    BUNDLE_REVISION.store(revision.map(Arc::new));
}

/// This process's identity: 16 random bytes, UUID-shaped. Decision ids are
/// these bytes with a counter mixed into the second half: unique without a
/// syscall per decision.
fn instance_bytes() -> &'static [u8; 16] {
    static ID: OnceLock<[u8; 16]> = OnceLock::new();
    ID.get_or_init(|| {
        let mut b = [0u8; 16];
        if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).is_err() {
            // No randomness: time still tells runs apart.
            let t = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            b = t.to_le_bytes();
        }
        b
    })
}

/// `b` as 8-4-4-4-12 lower-case hex: one allocation (one per decision).
fn uuid_shape(b: &[u8; 16]) -> String {
    let hex = |n: u8| char::from_digit(u32::from(n), 16).unwrap_or('0');
    let mut s = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(hex(x >> 4));
        s.push(hex(x & 0xf));
    }
    s
}

/// The `id` label of shipped events.
pub fn instance_id() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| uuid_shape(instance_bytes()))
}

/// A new decision id: unique across processes and restarts.
fn next_decision_id() -> String {
    // From 1: id 0 would be the instance id.
    static N: AtomicU64 = AtomicU64::new(1);
    let mut b = *instance_bytes();
    let n = N.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    // XOR with the random half: a bijection, so still unique per process,
    // and ids do not look alike across hosts.
    for (x, c) in b.iter_mut().skip(8).zip(n) {
        *x ^= c;
    }
    uuid_shape(&b)
}

/// Why the decision log's background parts cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot handle SIGHUP: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Settings(#[from] ship::SettingsError),
    #[error(transparent)]
    Ship(#[from] ship::StartError),
}

/// One line of the decision log.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    /// Unique per decision; the same in the file and in shipped events.
    pub decision_id: String,
    pub time: String,
    /// The policy bundle revision in force ([`set_bundle_revision`]).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "arc_str")]
    pub bundle_revision: Option<Arc<String>>,
    pub user: &'a str,
    pub method: &'a str,
    /// Secrets masked when written ([`redact`]).
    #[serde(serialize_with = "redact::serialize_uri")]
    pub uri: &'a str,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<&'a str>,
    /// The manifest digest the decision was bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<&'a str>,
    /// `allow`, `deny`, or `audit` (would be denied; allowed in audit mode).
    pub decision: Outcome,
    pub rule: &'static str,
    /// Why a deny (or an audited one) was decided: policy, not-signed,
    /// invalid or unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
    /// The policy rule (or setting) behind the decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_rule: Option<&'a str>,
    pub reason: &'a str,
    pub latency_us: u64,
}

fn arc_str<S: serde::Serializer>(v: &Option<Arc<String>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(r) => s.serialize_str(r),
        None => s.serialize_none(),
    }
}

fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::from(SystemTime::now());
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl<'a> Entry<'a> {
    pub fn new(
        req: &'a AuthzRequest,
        action: Option<&Action>,
        d: &'a Decision,
        latency: Duration,
    ) -> Entry<'a> {
        Entry {
            decision_id: next_decision_id(),
            time: now_rfc3339(),
            bundle_revision: BUNDLE_REVISION.load_full(),
            user: &req.user,
            method: &req.request_method,
            uri: &req.request_uri,
            action: action.map_or("undecodable", Action::kind),
            image: d.image.as_deref(),
            digest: d.digest.as_deref(),
            decision: d.outcome,
            rule: d.check.as_str(),
            cause: d.cause.map(DenyCause::as_str),
            policy_rule: d.source.as_deref(),
            reason: &d.reason,
            latency_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        }
    }

    pub fn undecided(d: &'a Decision) -> Entry<'a> {
        Entry {
            decision_id: next_decision_id(),
            time: now_rfc3339(),
            bundle_revision: BUNDLE_REVISION.load_full(),
            user: "",
            method: "",
            uri: "",
            action: "undecided",
            image: None,
            digest: None,
            decision: Outcome::Deny,
            rule: d.check.as_str(),
            cause: d.cause.map(DenyCause::as_str),
            policy_rule: None,
            reason: &d.reason,
            latency_us: 0,
        }
    }
}

impl DecisionLog {
    /// `reads_sample`: log one allowed read in N (0: none). `file`: also
    /// append every line there.
    pub fn new(reads_sample: u64, file: Option<&Path>) -> std::io::Result<DecisionLog> {
        let file = match file {
            Some(p) => Some(Arc::new(file::LogFile::open(p, file::CHECK_EVERY)?)),
            None => None,
        };
        let writer = writer::Writer::start(file.clone())?;
        Ok(DecisionLog {
            reads_sample,
            reads_seen: AtomicU64::new(0),
            file,
            writer: Some(writer),
            shipper: None,
        })
    }

    /// Start the background parts (needs a Tokio runtime): reopening the
    /// file on SIGHUP, and shipping when `IMG_AUTHZ_DECISION_LOG_URL` is
    /// set (its buffer under `state_dir`). An error is a start-up error.
    pub fn start(mut self, state_dir: &Path) -> Result<DecisionLog, StartError> {
        if let (Some(_), Some(w)) = (&self.file, &self.writer) {
            let w = w.clone();
            let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .map_err(StartError::Signal)?;
            // The writer thread reopens: opening may block, a worker may not.
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    w.reopen();
                }
            });
        }
        if let Some(s) = ship::Settings::from_env(state_dir)? {
            self.shipper = Some(ship::start(s)?);
        }
        Ok(self)
    }

    /// Wait, at most `timeout`, until every decision recorded before is
    /// written to stderr and the file.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.writer.as_ref().is_none_or(|w| w.flush(timeout))
    }

    /// Whether a decision with this outcome and action kind is written:
    /// every one but allowed reads, which are sampled. Asked before an
    /// [`Entry`] is built, so that unlogged reads (most of the traffic)
    /// cost no id, timestamp or strings.
    fn sampled(&self, decision: Outcome, action: &str) -> bool {
        if decision == Outcome::Allow && action == "read" {
            let n = self.reads_seen.fetch_add(1, Ordering::Relaxed);
            return self.reads_sample != 0 && n.is_multiple_of(self.reads_sample);
        }
        true
    }

    /// Log one decision (when [`Self::sampled`]): the entry is built only
    /// for lines that are written.
    pub fn decision(
        &self,
        req: &AuthzRequest,
        action: Option<&Action>,
        d: &Decision,
        latency: Duration,
    ) {
        let kind = action.map_or("undecodable", Action::kind);
        if self.sampled(d.outcome, kind) {
            self.write(&Entry::new(req, action, d, latency));
        }
    }

    pub fn record(&self, e: &Entry<'_>) {
        if self.sampled(e.decision, e.action) {
            self.write(e);
        }
    }

    fn write(&self, e: &Entry<'_>) {
        // A line is about 400 bytes: one allocation, no regrowth.
        let mut line = Vec::with_capacity(512);
        if serde_json::to_writer(&mut line, e).is_ok() {
            line.push(b'\n');
            match &self.writer {
                Some(w) => w.write(line),
                // A failed write must not change the decision.
                None => {
                    let _ = std::io::stderr().lock().write_all(&line);
                }
            }
        }
        if let Some(s) = &self.shipper {
            s.offer(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Check, Decision};

    #[test]
    fn uuid_shape_is_8_4_4_4_12_lower_hex() {
        let b: [u8; 16] = [
            0x00, 0x1f, 0xa0, 0xff, 0x12, 0x34, 0xab, 0xcd, 0x9e, 0x0f, 0x10, 0x20, 0x30, 0x40,
            0x50, 0xe6,
        ];
        assert_eq!(uuid_shape(&b), "001fa0ff-1234-abcd-9e0f-1020304050e6");
    }

    #[test]
    fn decision_samples_reads_before_building_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.log");
        let log = DecisionLog::new(2, Some(&path)).unwrap();
        let req = AuthzRequest {
            request_method: "GET".into(),
            request_uri: "/_ping".into(),
            ..Default::default()
        };
        let read = Decision::allow(Check::Default, "reads are allowed");
        let deny = Decision::deny(Check::Load, "no", "yes");
        let action = Action::Read { route: "x" };
        for _ in 0..4 {
            log.decision(&req, Some(&action), &read, Duration::ZERO);
        }
        log.decision(&req, Some(&Action::Load), &deny, Duration::from_micros(3));
        log.decision(&req, None, &read, Duration::ZERO);
        assert!(
            log.flush(Duration::from_secs(5)),
            "the writer thread is stuck"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let kinds: Vec<_> = lines
            .iter()
            .map(|l| {
                (
                    l["action"].as_str().unwrap(),
                    l["decision"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("read", "allow"),
                ("read", "allow"),
                ("load", "deny"),
                ("undecodable", "allow")
            ],
            "one read in two, every other decision"
        );
        assert_eq!(lines[2]["latency_us"], 3);
        assert_eq!(lines[2]["uri"], "/_ping");
    }

    #[test]
    fn samples_reads_and_writes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.log");
        let log = DecisionLog::new(3, Some(&path)).unwrap();
        let req = AuthzRequest {
            request_method: "GET".into(),
            request_uri: "/_ping".into(),
            ..Default::default()
        };
        let read = Decision::allow(Check::Default, "reads are allowed");
        let deny = Decision::deny(Check::Load, "no", "yes");
        for _ in 0..6 {
            log.record(&Entry::new(
                &req,
                Some(&Action::Read { route: "x" }),
                &read,
                Duration::ZERO,
            ));
        }
        log.record(&Entry::new(
            &req,
            Some(&Action::Load),
            &deny,
            Duration::from_micros(7),
        ));
        assert!(log.flush(Duration::from_secs(5)));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "two of six reads, and the deny");
        assert_eq!(lines[2]["decision"], "deny");
        assert_eq!(lines[2]["rule"], "load");
        assert_eq!(lines[2]["cause"], "policy");
        assert!(lines[0].get("cause").is_none(), "allows have no cause");
        assert_eq!(lines[2]["latency_us"], 7);
        assert_ne!(lines[0]["decision_id"], lines[1]["decision_id"]);
        for k in [
            "decision_id",
            "time",
            "user",
            "method",
            "uri",
            "action",
            "decision",
            "rule",
            "reason",
            "latency_us",
        ] {
            assert!(lines[2].get(k).is_some(), "{k} missing");
        }
    }

    /// Someone able to write the log directory plants a FIFO, then a
    /// symlink, where the rotated file was: record() still returns at once,
    /// nothing goes into the FIFO, and the symlink's target is not written.
    #[test]
    fn a_planted_fifo_or_symlink_neither_stalls_nor_redirects_the_log() {
        use std::io::Read as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.log");
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep\n").unwrap();
        let log = Arc::new(DecisionLog::new(0, Some(&path)).unwrap());
        let req = AuthzRequest {
            request_method: "POST".into(),
            request_uri: "/images/load".into(),
            ..Default::default()
        };
        let deny = Decision::deny(Check::Load, "no", "yes");
        // Returns whether record() (and the writer behind it) finished
        // within a generous bound: a liveness check, not a benchmark.
        let record = |log: &Arc<DecisionLog>| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (log, req, deny) = (log.clone(), req.clone(), deny.clone());
            std::thread::spawn(move || {
                log.record(&Entry::new(
                    &req,
                    Some(&Action::Load),
                    &deny,
                    Duration::ZERO,
                ));
                let _ = tx.send(());
                log.flush(Duration::from_secs(2));
            });
            rx.recv_timeout(Duration::from_secs(2)).is_ok()
        };
        assert!(record(&log));
        assert!(log.flush(Duration::from_secs(2)));
        std::fs::rename(&path, dir.path().join("decisions.log.1")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        std::thread::sleep(file::CHECK_EVERY + Duration::from_millis(200));
        assert!(record(&log), "record() blocked on a FIFO without reader");
        // With a reader the FIFO opens; it must still be refused.
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        std::thread::sleep(file::CHECK_EVERY + Duration::from_millis(200));
        assert!(record(&log), "record() blocked on a FIFO with a reader");
        assert!(log.flush(Duration::from_secs(2)));
        let mut got = Vec::new();
        let _ = reader.read_to_end(&mut got);
        assert!(got.is_empty(), "a decision went into the FIFO");
        drop(reader);
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        std::thread::sleep(file::CHECK_EVERY + Duration::from_millis(200));
        assert!(record(&log));
        assert!(log.flush(Duration::from_secs(2)));
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "keep\n",
            "the symlink was followed"
        );
    }
}
