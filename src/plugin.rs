//! The authorization plugin: decode → decide → log → answer.

use std::time::Instant;

use crate::log::{DecisionLog, Entry};
use crate::metrics::METRICS;
use crate::policy::{Decision, Policy, Rule};
use crate::protocol::{Authorize, AuthzRequest, AuthzResponse, Phase};
use crate::request::{self, Action};

/// The plugin as dockerd talks to it.
pub struct Plugin {
    policy: Policy,
    log: DecisionLog,
    started: Instant,
}

impl Plugin {
    pub fn new(policy: Policy, log: DecisionLog) -> Plugin {
        Plugin {
            policy,
            log,
            started: Instant::now(),
        }
    }

    /// Figures of every cache.
    pub fn cache_figures(&self) -> Vec<crate::metrics::CacheFigures> {
        self.policy
            .trust()
            .map(|t| t.cache_figures())
            .unwrap_or_default()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Decide one AuthZReq call, without logging.
    pub async fn evaluate(&self, req: &AuthzRequest) -> (Option<request::Decoded>, Decision) {
        match request::decode(req) {
            Ok(d) => {
                let decision = self.policy.decide(&d.action).await;
                (Some(d), decision)
            }
            Err(e) => (
                None,
                Decision::deny(
                    Rule::RequestDecoding,
                    e.to_string(),
                    "send the request as the Docker CLI does; img-authz refuses requests dockerd might read differently",
                ),
            ),
        }
    }
}

/// What a request is, for messages: the action if decoded, else method and URI.
fn describe(req: &AuthzRequest, decoded: Option<&request::Decoded>) -> String {
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
            // its output. Every check is made in the request phase.
            return AuthzResponse::allow();
        }
        let (decoded, decision) = self.evaluate(&req).await;
        let what = describe(&req, decoded.as_ref());
        let resp = if decision.allow {
            AuthzResponse::allow()
        } else {
            AuthzResponse::deny(decision.message(&what))
        };
        let action = decoded.as_ref().map(|d| &d.action);
        let took = start.elapsed();
        METRICS.decision(
            action.map_or("undecodable", Action::kind),
            decision.allow,
            decision.rule.as_str(),
            took,
        );
        self.log.record(&Entry::new(&req, action, &decision, took));
        resp
    }

    fn status(&self) -> serde_json::Value {
        let decisions: Vec<serde_json::Value> = METRICS
            .decisions()
            .into_iter()
            .map(|((action, decision, rule), n)| {
                serde_json::json!({"action": action, "decision": decision, "rule": rule, "count": n})
            })
            .collect();
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": self.started.elapsed().as_secs(),
            "config": self.policy.config().summary(),
            "caches": self.cache_figures(),
            "decisions": decisions,
        })
    }

    fn undecided(&self, phase: Phase, reason: &str) -> AuthzResponse {
        if phase == Phase::Request {
            let d = Decision::deny(Rule::Internal, reason, "");
            METRICS.decision(
                "undecided",
                false,
                Rule::Internal.as_str(),
                std::time::Duration::ZERO,
            );
            self.log.record(&Entry::undecided(&d));
        }
        AuthzResponse::deny(reason)
    }
}

/// Is this action a read (for log sampling)?
pub fn is_read(a: Option<&Action>) -> bool {
    matches!(a, Some(Action::Read { .. }))
}
