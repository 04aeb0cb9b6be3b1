//! The authorization plugin: decode → decide → log → answer.
//!
//! The policy in force can be replaced while the plugin serves (a reload):
//! each call decides with the policy it started with.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::log::{DecisionLog, Entry};
use crate::metrics::METRICS;
use crate::policy::{Check, Ctx, Decision, Policy};
use crate::protocol::{Authorize, AuthzRequest, AuthzResponse, Phase};
use crate::request::{self, Action};

/// The plugin as dockerd talks to it.
pub struct Plugin {
    policy: ArcSwap<Policy>,
    log: DecisionLog,
    started: Instant,
    /// Set while the plugin has no policy it may enforce (a bundle source
    /// with no verified bundle yet): every request is denied with it.
    hold: arc_swap::ArcSwapOption<String>,
}

impl Plugin {
    pub fn new(policy: Policy, log: DecisionLog) -> Plugin {
        Plugin {
            policy: ArcSwap::from_pointee(policy),
            log,
            started: Instant::now(),
            hold: arc_swap::ArcSwapOption::empty(),
        }
    }

    /// Wait (at most `timeout`) until the decision log's writer thread has
    /// written every decision made so far: at shutdown.
    pub fn flush_log(&self, timeout: std::time::Duration) -> bool {
        self.log.flush(timeout)
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
    }

    /// Put a new policy in force; calls in flight finish with the old one.
    pub fn replace_policy(&self, p: Policy) {
        self.policy.store(Arc::new(p));
    }

    /// Deny every request with `why` (fail closed), or stop doing so.
    pub fn hold(&self, why: Option<String>) {
        self.hold.store(why.map(Arc::new));
    }

    /// Figures of every cache.
    pub fn cache_figures(&self) -> Vec<crate::metrics::CacheFigures> {
        self.policy().trust().cache_figures()
    }

    /// Decide one AuthZReq call, without logging.
    pub async fn evaluate(&self, req: &AuthzRequest) -> (Option<request::Decoded>, Decision) {
        if let Some(why) = self.hold.load_full() {
            let d = Decision::deny(
                Check::Internal,
                why.as_str(),
                "publish and sign a bundle, or fix what the last error names (img-authz status)",
            );
            return (request::decode(req).ok(), d);
        }
        let policy = self.policy();
        match request::decode(req) {
            Ok(d) => {
                let ctx = Ctx {
                    user: policy.user_of(&req.user),
                    api_version: d.version.clone(),
                };
                let decision = policy.decide_call(&d, req, &ctx).await;
                (Some(d), decision)
            }
            Err(e) => (
                None,
                Decision::deny(
                    Check::RequestDecoding,
                    e.to_string(),
                    "send the request as the Docker CLI does; img-authz refuses requests dockerd might read differently",
                ),
            ),
        }
    }
}

/// What a request is, for messages: the action if decoded, else method and URI.
pub fn describe(req: &AuthzRequest, decoded: Option<&request::Decoded>) -> String {
    match decoded {
        Some(d) => d.action.to_string(),
        None => format!("{} {}", req.request_method, req.request_uri),
    }
}

impl Authorize for Plugin {
    async fn authorize(&self, phase: Phase, req: AuthzRequest) -> AuthzResponse {
        let start = Instant::now();
        if phase == Phase::Response {
            // The action has already happened; a deny here would only hide
            // its output. Every check is made in the request phase; this
            // phase only records who owns what was created ([ownership]),
            // and withholds the new ID when that record failed.
            return match self.policy().ownership_response(&req).await {
                Ok(()) => AuthzResponse::allow(),
                Err(e) => {
                    let msg = e.to_string();
                    tracing::error!(%msg, "ownership not recorded");
                    AuthzResponse::deny(format!("img-authz rule 'ownership': {msg}"))
                }
            };
        }
        let (decoded, decision) = self.evaluate(&req).await;
        let resp = if decision.allowed() {
            AuthzResponse::allow()
        } else {
            AuthzResponse::deny(decision.message(&describe(&req, decoded.as_ref())))
        };
        let action = decoded.as_ref().map(|d| &d.action);
        let took = start.elapsed();
        METRICS.decision(
            action.map_or("undecodable", Action::kind),
            decision.outcome.as_str(),
            decision.check.as_str(),
            took,
        );
        self.log.decision(&req, action, &decision, took);
        resp
    }

    fn wants_responses(&self) -> bool {
        self.policy().ownership().is_some()
    }

    fn status(&self) -> serde_json::Value {
        let decisions: Vec<serde_json::Value> = METRICS
            .decisions()
            .into_iter()
            .map(|((action, decision, rule), n)| {
                serde_json::json!({"action": action, "decision": decision, "rule": rule, "count": n})
            })
            .collect();
        let policy = self.policy();
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": self.started.elapsed().as_secs(),
            "config": policy.config().summary(),
            "policy_file": policy.file().map(|f| serde_json::json!({
                "path": f.path.display().to_string(),
                "rules": f.rules.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
                "hardening": f.hardening.is_some(),
                "mode": f.global.mode.as_str(),
            })),
            "caches": self.cache_figures(),
            "bundle": crate::bundle::serve::status_json(),
            "held": self.hold.load_full().map(|w| w.to_string()),
            "decisions": decisions,
            "decision_log_dropped": crate::log::writer::dropped(),
            "decision_log_shipping": crate::log::ship::STATS.status(),
        })
    }

    fn undecided(&self, phase: Phase, reason: &str) -> AuthzResponse {
        if phase == Phase::Request {
            let d = Decision::deny(Check::Internal, reason, "");
            METRICS.decision(
                "undecided",
                "deny",
                Check::Internal.as_str(),
                std::time::Duration::ZERO,
            );
            self.log.record(&Entry::undecided(&d));
        }
        AuthzResponse::deny(reason)
    }
}
