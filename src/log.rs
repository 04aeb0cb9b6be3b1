//! The decision log: one JSON line per decision, on stderr (journald and
//! dockerd keep it).

use std::io::Write;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::policy::Decision;
use crate::protocol::AuthzRequest;
use crate::request::Action;

/// Where decisions go.
#[derive(Debug, Clone, Default)]
pub struct DecisionLog {
    /// Log allowed reads too (they are most of the traffic).
    pub log_reads: bool,
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
    pub decision: &'static str,
    pub rule: &'static str,
    pub reason: &'a str,
    pub latency_us: u64,
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
            time: now_rfc3339(),
            user: &req.user,
            method: &req.request_method,
            uri: &req.request_uri,
            action: action.map_or("undecodable", Action::kind),
            image: d.image.as_deref(),
            digest: d.digest.as_deref(),
            decision: if d.allow { "allow" } else { "deny" },
            rule: d.rule.as_str(),
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
            reason: &d.reason,
            latency_us: 0,
        }
    }
}

impl DecisionLog {
    pub fn record(&self, e: &Entry<'_>) {
        if e.decision == "allow" && e.action == "read" && !self.log_reads {
            return;
        }
        if let Ok(mut line) = serde_json::to_vec(e) {
            line.push(b'\n');
            // A failed write to stderr must not change the decision.
            let _ = std::io::stderr().lock().write_all(&line);
        }
    }
}
