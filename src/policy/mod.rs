//! Decide: the rules of img-authz applied to a typed action.
//!
//! The rules come from the environment (the prior plugin's `REGISTRY`,
//! `NOTARY`, ... : one rule per authorized registry) and, when given, from
//! the policy file, which adds per-repository trust rules, container
//! hardening, per-user scoping and audit modes. Every deny names the action,
//! the rule that fired and what would allow it.

use std::sync::Arc;

pub mod baseline;
mod binding;
mod build;
mod check;
mod decide;
mod decision;
mod drivers;
pub mod file;
pub mod hardening;
mod image_ref;
mod images;
pub mod ownership;
pub mod rules;
pub mod seccomp;
mod self_protection;

pub use binding::Trust;
pub use build::BuildError;
pub use check::{CreateCheck, ImageCheck};
pub use decision::{Check, Decision, DenyCause, Outcome};
pub use file::{Mode, Op, PolicyFile};
pub use image_ref::ImageRef;

use crate::config::{Config, HardeningLevel};
use crate::daemon::{ContainerInfo, DaemonClient};
use crate::request::action::{Action, HostConfig, Mount, NetworkSpec, PluginOp};
use crate::request::reference::{Reference, Spelling};
use crate::request::routes::RouteId;
use crate::trust::pattern::most_specific;
use crate::trust::Verifier;

use decision::unsigned_ok;
use drivers::predefined_network;
use file::HardeningSpec;
use hardening::{DaemonFacts, Violation, NEEDS_DAEMON};
use image_ref::{alias_deny, looks_like_short_id, parse_opt, unreachable_id};
use rules::{user_matches, RepoPattern};

/// Who is asking and how.
#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// TLS client certificate CN, or the policy's local user for requests
    /// over the unix socket.
    pub user: String,
    /// API version of the request path, if given.
    pub api_version: Option<String>,
}

/// A trust rule, ready to apply.
pub struct CompiledRule {
    pub name: String,
    pub patterns: Vec<RepoPattern>,
    pub users: Vec<String>,
    /// `None`: unsigned images are allowed (`verifier = "none"`, or
    /// `IMG_AUTHZ_TRUST=none` for the environment's rules).
    pub verifier: Option<Arc<dyn Verifier>>,
    pub mode: Mode,
    pub allow: Vec<Op>,
}

/// The rules of this plugin, configured.
pub struct Policy {
    cfg: Config,
    file: Option<PolicyFile>,
    /// File rules first: among equally specific rules the first wins, so a
    /// file rule overrides the environment's rule for the same pattern.
    rules: Vec<CompiledRule>,
    /// Operations allowed everywhere (environment and `[global]`).
    allow: Vec<Op>,
    mode: Mode,
    local_user: String,
    self_names: Vec<String>,
    self_containers: Vec<String>,
    daemon: DaemonClient,
    trust: Trust,
    /// What dockerd said about itself, and when (hardening).
    facts: std::sync::Mutex<Option<(Arc<DaemonFacts>, std::time::Instant)>>,
    /// `[ownership] enabled = true`.
    ownership: Option<ownership::Ownership>,
}

impl Policy {
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn file(&self) -> Option<&PolicyFile> {
        self.file.as_ref()
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// The identity rules see for a request's `User`.
    pub fn user_of(&self, tls_user: &str) -> String {
        if tls_user.is_empty() {
            self.local_user.clone()
        } else {
            tls_user.to_string()
        }
    }

    /// The most specific rule for a repository and user.
    /// A registry spelled other than canonically is under no rule, even
    /// `*`: its name would be a second identity (GUN, trust state, pins) of
    /// one repository.
    pub fn rule_for(&self, repo: &Reference, user: &str) -> Option<&CompiledRule> {
        if repo.spelling() != Spelling::Canonical {
            return None;
        }
        let name = repo.name();
        // The precedence of pins and signers too: most specific, then first.
        most_specific(
            self.rules
                .iter()
                .filter(|r| user_matches(&r.users, user))
                .filter_map(|r| {
                    r.patterns
                        .iter()
                        .filter(|p| p.matches(&name))
                        .map(RepoPattern::specificity)
                        .max()
                        .map(|s| (s, r))
                }),
        )
    }

    fn op_allowed(&self, op: Op, target: Option<&Reference>, user: &str) -> bool {
        self.allow.contains(&op)
            || target
                .and_then(|t| self.rule_for(t, user))
                .is_some_and(|r| r.allow.contains(&op))
    }

    /// A decision under the policy-wide mode (enforce or audit), for denies
    /// that no repository rule owns.
    fn with_global_mode(&self, d: Decision) -> Decision {
        Decision {
            mode: self.mode,
            ..d
        }
    }
}
