//! The decision log: one JSON line per decision, on stderr (journald and
//! dockerd keep it).

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::policy::{Decision, DenyCause};
use crate::protocol::AuthzRequest;
use crate::request::Action;

/// Where decisions go: stderr, and optionally a file.
#[derive(Debug, Default)]
pub struct DecisionLog {
    /// Log one allowed read in this many (they are most of the traffic):
    /// 0 logs none, 1 all.
    reads_sample: u64,
    reads_seen: AtomicU64,
    file: Option<Mutex<File>>,
}

/// One line of the decision log.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub time: String,
    pub user: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<&'a str>,
    /// The manifest digest the decision was bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<&'a str>,
    /// `allow`, `deny`, or `audit` (would be denied; allowed in audit mode).
    pub decision: &'static str,
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

fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::from(SystemTime::now());
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl<'a> Entry<'a> {
    /// `allow`, `deny` or `audit`.
    pub fn outcome(d: &Decision) -> &'static str {
        match (d.allow, d.audit) {
            (true, true) => "audit",
            (true, false) => "allow",
            (false, _) => "deny",
        }
    }

    pub fn new(
        req: &'a AuthzRequest,
        action: Option<&Action>,
        d: &'a Decision,
        latency: Duration,
    ) -> Entry<'a> {
        Entry {
            time: now_rfc3339(),
            user: &req.user,
            method: &req.request_method,
            uri: &req.request_uri,
            action: action.map_or("undecodable", Action::kind),
            image: d.image.as_deref(),
            digest: d.digest.as_deref(),
            decision: Entry::outcome(d),
            rule: d.rule.as_str(),
            cause: d.cause.map(DenyCause::as_str),
            policy_rule: d.source.as_deref(),
            reason: &d.reason,
            latency_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        }
    }

    pub fn undecided(d: &'a Decision) -> Entry<'a> {
        Entry {
            time: now_rfc3339(),
            user: "",
            method: "",
            uri: "",
            action: "undecided",
            image: None,
            digest: None,
            decision: "deny",
            rule: d.rule.as_str(),
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
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
            None => None,
        };
        Ok(DecisionLog {
            reads_sample,
            reads_seen: AtomicU64::new(0),
            file,
        })
    }

    pub fn record(&self, e: &Entry<'_>) {
        if e.decision == "allow" && e.action == "read" {
            let n = self.reads_seen.fetch_add(1, Ordering::Relaxed);
            if self.reads_sample == 0 || !n.is_multiple_of(self.reads_sample) {
                return;
            }
        }
        if let Ok(mut line) = serde_json::to_vec(e) {
            line.push(b'\n');
            // A failed write must not change the decision.
            let _ = std::io::stderr().lock().write_all(&line);
            if let Some(f) = &self.file {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(&line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Decision, Rule};

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
        let read = Decision::allow(Rule::Default, "reads are allowed");
        let deny = Decision::deny(Rule::Load, "no", "yes");
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
        for k in [
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
}
