//! Decide: the rules of img-authz applied to a typed action.
//!
//! The rules come from the environment (the prior plugin's `REGISTRY`,
//! `NOTARY`, ... : one rule per authorized registry) and, when given, from
//! the policy file, which adds per-repository trust rules, container
//! hardening, per-user scoping and audit modes. Every deny names the action,
//! the rule that fired and what would allow it.

use std::fmt;
use std::sync::Arc;

pub mod baseline;
pub mod file;
pub mod hardening;
pub mod ownership;
pub mod rules;
pub mod seccomp;
mod trust;

pub use file::{Mode, Op, PolicyFile};
pub use trust::Trust;

use crate::config::{Config, ConfigError, HardeningLevel, TrustMode};
use crate::daemon::{ContainerInfo, DaemonClient};
use crate::request::action::{Action, HostConfig, Mount, NetworkSpec, PluginOp};
use crate::request::reference::{is_identifier, validate_digest, Reference, Spelling};
use crate::request::route_name;
use crate::request::routes::RouteId;
use crate::trust::Verifier;

use file::{HardeningSpec, VerifierKind};
use hardening::{DaemonFacts, Violation, NEEDS_DAEMON};
use rules::{pattern_matches, specificity, user_matches};

/// The rules, by the names used in messages, logs and docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Reads and harmless control calls.
    Default,
    RegistryAllowlist,
    Import,
    Load,
    Build,
    Commit,
    Plugins,
    Tag,
    Swarm,
    /// `docker cp` into a container.
    Cp,
    /// A push to a registry no rule authorizes.
    Push,
    /// The image's signature is missing, invalid or cannot be checked.
    Signature,
    /// The content is not the signed content (a moved tag, a retagged,
    /// loaded or built image).
    ContentBinding,
    /// A container-hardening check of the policy file.
    Hardening,
    /// The request would disable, remove or reconfigure this plugin.
    SelfProtection,
    /// The container belongs to another user (`[ownership]`).
    Ownership,
    /// The call could not be decoded as dockerd would.
    RequestDecoding,
    /// No decision could be made (deadline, panic, malformed call).
    Internal,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Default => "default",
            Rule::RegistryAllowlist => "registry-allowlist",
            Rule::Import => "import",
            Rule::Load => "load",
            Rule::Build => "build",
            Rule::Commit => "commit",
            Rule::Plugins => "plugins",
            Rule::Tag => "tag",
            Rule::Swarm => "swarm",
            Rule::Cp => "cp",
            Rule::Push => "push",
            Rule::Signature => "signature",
            Rule::ContentBinding => "content-binding",
            Rule::Hardening => "hardening",
            Rule::SelfProtection => "self-protection",
            Rule::Ownership => "ownership",
            Rule::RequestDecoding => "request-decoding",
            Rule::Internal => "internal",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a deny was decided, for code that must treat causes differently
/// (the pull cache keeps no outage). Never derived from the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyCause {
    /// A rule forbids the request as it is.
    Policy,
    /// The trust data is sound and does not sign the image.
    NotSigned,
    /// The trust data failed verification (bad signature, expired, rollback).
    Invalid,
    /// A server needed to decide (trust source, registry) could not be asked.
    Unavailable,
}

impl DenyCause {
    /// The decision log's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyCause::Policy => "policy",
            DenyCause::NotSigned => "not-signed",
            DenyCause::Invalid => "invalid",
            DenyCause::Unavailable => "unavailable",
        }
    }
}

/// The outcome for one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    pub rule: Rule,
    /// Why it was denied; `None` for allows. Kept when audit mode allows.
    pub cause: Option<DenyCause>,
    /// Why, in words.
    pub reason: String,
    /// How to allow it; empty for allows.
    pub hint: String,
    /// The image the decision is about, if any, normalised.
    pub image: Option<String>,
    /// The manifest digest the decision was bound to, if any.
    pub digest: Option<String>,
    /// The policy rule (or setting) the decision comes from, for logs.
    pub source: Option<String>,
    /// Audit mode: this would have been denied, and is allowed.
    pub audit: bool,
    /// The mode that applies to this decision.
    pub mode: Mode,
}

impl Decision {
    pub fn allow(rule: Rule, reason: impl Into<String>) -> Decision {
        Decision {
            allow: true,
            rule,
            cause: None,
            reason: reason.into(),
            hint: String::new(),
            image: None,
            digest: None,
            source: None,
            audit: false,
            mode: Mode::Enforce,
        }
    }

    pub fn deny(rule: Rule, reason: impl Into<String>, hint: impl Into<String>) -> Decision {
        Decision {
            allow: false,
            cause: Some(DenyCause::Policy),
            hint: hint.into(),
            ..Decision::allow(rule, reason)
        }
    }

    pub(crate) fn with_cause(mut self, cause: DenyCause) -> Decision {
        self.cause = Some(cause);
        self
    }

    pub(crate) fn with_image(mut self, image: impl fmt::Display) -> Decision {
        self.image = Some(image.to_string());
        self
    }

    pub(crate) fn with_digest(mut self, digest: impl Into<String>) -> Decision {
        self.digest = Some(digest.into());
        self
    }

    fn by_rule(mut self, r: &CompiledRule) -> Decision {
        self.source = Some(r.name.clone());
        self.mode = r.mode;
        self
    }

    /// The message dockerd shows after "authorization denied by plugin NAME: ".
    pub fn message(&self, what: &str) -> String {
        if self.allow {
            return String::new();
        }
        let mut m = format!(
            "{what} denied by img-authz rule '{}': {}",
            self.rule, self.reason
        );
        if !self.hint.is_empty() {
            m.push_str(". To allow it: ");
            m.push_str(&self.hint);
        }
        m
    }
}

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
    pub patterns: Vec<String>,
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

/// The hardening in effect for one user.
struct Layers {
    /// The baseline (unless off) with the policy file's on top.
    spec: HardeningSpec,
    /// The policy file's alone, if it has a `[hardening]`: which of the
    /// two a deny comes from decides what the message tells to change.
    file: Option<HardeningSpec>,
    baseline: bool,
    mode: Mode,
}

fn env_ops(cfg: &Config) -> Vec<Op> {
    let a = &cfg.allow;
    [
        (a.import, Op::Import),
        (a.load, Op::Load),
        (a.build, Op::Build),
        (a.commit, Op::Commit),
        (a.plugins, Op::Plugins),
        (a.tag, Op::Tag),
        (a.swarm, Op::Swarm),
        (a.cp, Op::Cp),
        (a.push, Op::Push),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, op)| *op)
    .collect()
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Import => "import",
        Op::Load => "load",
        Op::Build => "build",
        Op::Commit => "commit",
        Op::Plugins => "plugins",
        Op::Tag => "tag",
        Op::Swarm => "swarm",
        Op::Cp => "cp",
        Op::Push => "push",
    }
}

impl Policy {
    /// Build the policy from the environment's configuration and, if given,
    /// a policy file, with the clients they need.
    pub fn new(cfg: Config, file: Option<PolicyFile>) -> Result<Policy, ConfigError> {
        let daemon =
            DaemonClient::new(&cfg.trust.docker_host, trust::UPSTREAM_TIMEOUT).map_err(|e| {
                ConfigError::Invalid {
                    name: "DOCKER_HOST",
                    why: e.to_string(),
                }
            })?;
        let trust = Trust::new(&cfg)?;
        let mut rules = Vec::new();
        if let Some(f) = &file {
            for r in &f.rules {
                let mut vs = Vec::new();
                for k in &r.verifiers {
                    vs.push(match k {
                        VerifierKind::Notary => trust.notary_verifier(&cfg, Some(&r.notary))?,
                        VerifierKind::Cosign => trust.cosign_verifier(&cfg, &r.cosign)?,
                        VerifierKind::Digests => trust.pinned_verifier(&r.digests),
                        VerifierKind::Notation => trust.notation_verifier(&cfg, &r.notation)?,
                    });
                }
                let verifier = match vs.len() {
                    0 => None,
                    1 => vs.pop(),
                    _ => Some(
                        Arc::new(crate::trust::combined::Combined::new(vs, r.require))
                            as Arc<dyn Verifier>,
                    ),
                };
                rules.push(CompiledRule {
                    name: r.name.clone(),
                    patterns: r.repositories.clone(),
                    users: r.users.clone(),
                    verifier,
                    mode: r.mode.unwrap_or(f.global.mode),
                    allow: r.allow.clone(),
                });
            }
        }
        let env_verifier = match cfg.trust.mode {
            TrustMode::Notary => Some(trust.notary_verifier(&cfg, None)?),
            TrustMode::None => None,
        };
        let global_mode = file.as_ref().map(|f| f.global.mode).unwrap_or_default();
        for reg in &cfg.registries {
            rules.push(CompiledRule {
                name: format!("REGISTRY {reg}"),
                patterns: vec![format!("{reg}/*")],
                users: Vec::new(),
                verifier: env_verifier.clone(),
                mode: global_mode,
                allow: Vec::new(),
            });
        }
        let mut allow = env_ops(&cfg);
        let (mut local_user, mut self_names, mut self_containers) = (
            "local".to_string(),
            vec!["img-authz".to_string()],
            Vec::new(),
        );
        if let Some(f) = &file {
            allow.extend(f.global.allow.iter().copied());
            if let Some(u) = &f.global.local_user {
                local_user = u.clone();
            }
            self_names.extend(f.global.self_names.iter().cloned());
            self_containers = f.global.self_containers.clone();
        }
        let ownership = file
            .as_ref()
            .and_then(|f| f.ownership.as_ref())
            .filter(|o| o.enabled)
            .map(|o| ownership::Ownership {
                admins: o.admins.clone(),
                store: crate::ownership_store::OwnerStore::new(&cfg.trust.state_dir),
            });
        Ok(Policy {
            ownership,
            cfg,
            rules,
            allow,
            mode: global_mode,
            local_user,
            self_names,
            self_containers,
            daemon,
            trust,
            file,
            facts: std::sync::Mutex::new(None),
        })
    }

    /// A policy without signature checks (the registry allowlist only) and
    /// no policy file, for tests of the decoding rules.
    pub fn without_trust(mut cfg: Config) -> Result<Policy, ConfigError> {
        cfg.trust.mode = TrustMode::None;
        Policy::new(cfg, None)
    }

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
        self.rules
            .iter()
            .filter(|r| user_matches(&r.users, user))
            .filter_map(|r| {
                r.patterns
                    .iter()
                    .filter(|p| pattern_matches(p, &name))
                    .map(|p| specificity(p))
                    .max()
                    .map(|s| (s, r))
            })
            // max_by_key keeps the last maximum; reverse so the first wins.
            .rev()
            .max_by_key(|(s, _)| *s)
            .map(|(_, r)| r)
    }

    fn op_allowed(&self, op: Op, target: Option<&Reference>, user: &str) -> bool {
        self.allow.contains(&op)
            || target
                .and_then(|t| self.rule_for(t, user))
                .is_some_and(|r| r.allow.contains(&op))
    }

    /// Hardening in effect for `user`: the baseline (unless
    /// `IMG_AUTHZ_HARDENING=off`) with the policy file's on top.
    fn hardening_for(&self, user: &str) -> Option<Layers> {
        let h = self.file.as_ref().and_then(|f| f.hardening.as_ref());
        let file = h.map(|h| {
            let mut spec = h.base.clone();
            for o in h.overrides.iter().filter(|o| user_matches(&o.users, user)) {
                spec.overlay(&o.spec);
            }
            spec
        });
        let baseline = self.cfg.hardening == HardeningLevel::Baseline;
        let spec = match (&file, baseline) {
            (Some(f), true) => baseline::layered(f),
            (None, true) => baseline::spec(),
            (Some(f), false) => f.clone(),
            (None, false) => return None,
        };
        Some(Layers {
            spec,
            file,
            baseline,
            mode: h.map(|h| h.mode).unwrap_or(self.mode),
        })
    }

    /// What dockerd says about itself (`GET /info`, its command line) and
    /// where this plugin keeps its state, reused for a minute.
    async fn daemon_facts(&self) -> Result<Arc<DaemonFacts>, String> {
        if let Ok(g) = self.facts.lock() {
            if let Some((f, at)) = &*g {
                if at.elapsed() < std::time::Duration::from_secs(60) {
                    return Ok(f.clone());
                }
            }
        }
        let info = self
            .daemon
            .info()
            .await
            .map_err(|e| format!("cannot ask dockerd about itself (GET /info): {e}"))?;
        let local = baseline::Local {
            docker_socket: self.daemon.socket_path(),
            state_dir: &self.cfg.trust.state_dir,
            policy_file: self.file.as_ref().map(|f| f.path.as_path()),
            dockerd_pid: self.daemon.peer_pid().await,
        };
        let f = Arc::new(DaemonFacts {
            cgroupns_host_default: !info.cgroupns_private_default,
            // Daemons before API 1.41 do not say; they only ran on v1.
            cgroup_v1: info.cgroup_version != "2",
            paths: baseline::daemon_paths(&local, &info),
        });
        if let Ok(mut g) = self.facts.lock() {
            *g = Some((f.clone(), std::time::Instant::now()));
        }
        Ok(f)
    }

    /// Run `check` on the hardening in effect, learning the daemon's facts
    /// when a check needs them; a deny names the layer it comes from.
    async fn harden(
        &self,
        layers: Layers,
        check: impl Fn(&HardeningSpec) -> Result<(), Violation>,
    ) -> Option<Decision> {
        let Layers {
            mut spec,
            mut file,
            baseline,
            mode,
        } = layers;
        let mut r = check(&spec);
        if matches!(&r, Err(v) if v.check == NEEDS_DAEMON) {
            match self.daemon_facts().await {
                Ok(f) => {
                    spec.builtin.daemon = Some(f.clone());
                    if let Some(file) = &mut file {
                        file.builtin.daemon = Some(f);
                    }
                    r = check(&spec);
                }
                Err(why) => {
                    let mut d = Decision::deny(
                        Rule::Hardening,
                        why,
                        "make dockerd's API reachable by the plugin (DOCKER_HOST)",
                    );
                    d.mode = mode;
                    return Some(d);
                }
            }
        }
        let v = r.err()?;
        // The file alone is never stricter than both together: if it
        // denies too, the file's key is what to change.
        let from_file = match &mut file {
            Some(f) => match check(f) {
                // The file alone goes further than the baseline let the
                // first check go: learn what it needs, then ask again.
                Err(w) if w.check == NEEDS_DAEMON => match self.daemon_facts().await {
                    Ok(facts) => {
                        f.builtin.daemon = Some(facts);
                        check(f).err().filter(|w| w.check != NEEDS_DAEMON)
                    }
                    Err(_) => None,
                },
                r => r.err(),
            },
            None => None,
        };
        let policy_path = || {
            self.file
                .as_ref()
                .map(|f| f.path.display().to_string())
                .unwrap_or_default()
        };
        let mut d = match from_file {
            Some(v) => {
                let mut d = Decision::deny(
                    Rule::Hardening,
                    format!("{} is not allowed by the policy's hardening ({})", v.reason, v.check),
                    format!(
                        "change [hardening] {} in the policy file {}, or add a [[hardening.overrides]] for this user",
                        v.check,
                        policy_path()
                    ),
                );
                d.source = Some(format!("hardening.{}", v.check));
                d
            }
            None if baseline => {
                let hint = if self.file.is_some() {
                    format!(
                        "set [hardening] {} in the policy file {} (it replaces the baseline's check), \
                         or switch the baseline off with IMG_AUTHZ_HARDENING=off",
                        v.check,
                        policy_path()
                    )
                } else {
                    format!(
                        "give the plugin a policy file (IMG_AUTHZ_POLICY) whose [hardening] sets {} \
                         (it replaces the baseline's check), or switch the baseline off with IMG_AUTHZ_HARDENING=off",
                        v.check
                    )
                };
                let mut d = Decision::deny(
                    Rule::Hardening,
                    format!(
                        "{} is not allowed by the built-in baseline hardening ({})",
                        v.reason, v.check
                    ),
                    hint,
                );
                d.source = Some(format!("baseline.{}", v.check));
                d
            }
            None => {
                let mut d = Decision::deny(
                    Rule::Hardening,
                    format!(
                        "{} is not allowed by the policy's hardening ({})",
                        v.reason, v.check
                    ),
                    format!(
                        "change [hardening] {} in the policy file {}",
                        v.check,
                        policy_path()
                    ),
                );
                d.source = Some(format!("hardening.{}", v.check));
                d
            }
        };
        d.mode = mode;
        Some(d)
    }

    /// A decision under the policy-wide mode (enforce or audit), for denies
    /// that no repository rule owns.
    fn global(&self, d: Decision) -> Decision {
        Decision {
            mode: self.mode,
            ..d
        }
    }

    /// Decide one decoded call: ownership, then the action.
    pub async fn decide_call(
        &self,
        call: &crate::request::Decoded,
        req: &crate::protocol::AuthzRequest,
        ctx: &Ctx,
    ) -> Decision {
        match self.ownership_check(call, req, ctx).await {
            Some(d) => Self::audited(d),
            None => self.decide(&call.action, ctx).await,
        }
    }

    /// Decide one action.
    pub async fn decide(&self, action: &Action, ctx: &Ctx) -> Decision {
        Self::audited(self.decide_inner(action, ctx).await)
    }

    /// A deny under audit mode is an allow that says so.
    fn audited(mut d: Decision) -> Decision {
        if !d.allow
            && d.mode == Mode::Audit
            && !matches!(
                d.rule,
                Rule::RequestDecoding | Rule::Internal | Rule::SelfProtection
            )
        {
            d.allow = true;
            d.audit = true;
        }
        d
    }

    async fn decide_inner(&self, action: &Action, ctx: &Ctx) -> Decision {
        let user = ctx.user.as_str();
        if let Some(d) = self.self_protection(action).await {
            return d;
        }
        // A driver named by a path first: nothing allows it, whatever
        // hardening says; other plugin drivers after hardening's lists.
        if let Some(d) = self.named_drivers(action, user, true) {
            return d;
        }
        if let Some(d) = self.hardening(action, ctx).await {
            return d;
        }
        if let Some(d) = self.named_drivers(action, user, false) {
            return d;
        }
        match action {
            Action::Read { .. } => Decision::allow(Rule::Default, "reads are allowed"),
            // Restart runs the container, as start does.
            Action::Control { route, target }
                if *route == route_name(RouteId::ContainerRestart) =>
            {
                self.container_run(target, user).await
            }
            Action::Control { .. } => {
                Decision::allow(Rule::Default, "does not bring in or run an image")
            }
            Action::Login => Decision::allow(Rule::Default, "login only checks credentials"),
            Action::Push { image } => self.push(image, user),
            Action::RemoteRead { image, search, .. } => self.remote_read(image, *search, user),
            Action::CopyTo { .. } => {
                if self.hardening_for(user).is_none() {
                    return Decision::allow(Rule::Default, "no hardening applies to this user");
                }
                self.global(self.switch(
                    Op::Cp,
                    None,
                    user,
                    "a file copied into a container can replace the program it runs, which image trust does not check",
                ))
            }
            Action::NetworkConnect { network } => self.network_connect(network, user).await,
            // Their drivers were checked above.
            Action::NetworkCreate(_) | Action::SecretCreate { .. } => {
                Decision::allow(Rule::Default, "built-in or allowed drivers only")
            }

            Action::Pull(p) => match self.rule_for(&p.image, user) {
                None => self.global(self.no_rule(&p.image, "the image")),
                Some(r) => match &r.verifier {
                    Some(v) => self.trust.pull(p, v, &r.name).await.by_rule(r),
                    None => unsigned_ok(r, &p.image),
                },
            },

            Action::Import { repo, .. } => {
                let target = parse_opt(repo);
                let d = self.global(self.switch(
                    Op::Import,
                    target.as_ref(),
                    user,
                    "imported images carry no provenance",
                ));
                self.then_naming(d, [repo.as_str()], "import", user)
            }
            Action::Load => {
                self.global(self.switch(Op::Load, None, user, "loaded images carry no provenance"))
            }
            Action::Build(b) => {
                let names = || b.tags.iter().chain(&b.output_names).map(String::as_str);
                let target = names().next().and_then(parse_opt);
                let d = self.global(self.switch(
                    Op::Build,
                    target.as_ref(),
                    user,
                    "built images carry no provenance",
                ));
                self.then_naming(d, names(), "build", user)
            }
            Action::Session | Action::Grpc => self.global(self.switch(
                Op::Build,
                None,
                user,
                "BuildKit sessions run builds the plugin cannot see",
            )),
            Action::Commit { repo, tag, .. } => {
                let name = if tag.is_empty() || repo.is_empty() {
                    repo.clone()
                } else {
                    format!("{repo}:{tag}")
                };
                let target = parse_opt(&name);
                let d = self.global(self.switch(
                    Op::Commit,
                    target.as_ref(),
                    user,
                    "committed images carry no provenance",
                ));
                self.then_naming(d, [name.as_str()], "commit", user)
            }
            Action::Swarm { .. } => self.global(self.switch(
                Op::Swarm,
                None,
                user,
                "in a swarm, other managers run tasks on this host without any authorization call",
            )),

            Action::Tag { source, target } => {
                // Another spelling of a trusted repository would look trusted.
                if let Some(d) = alias_deny(target, "the tag name") {
                    return d;
                }
                let Some(rule) = self.rule_for(target, user) else {
                    return Decision::allow(
                        Rule::Tag,
                        "the target is not in an authorized repository",
                    )
                    .with_image(target);
                };
                if self.op_allowed(Op::Tag, Some(target), user) {
                    return Decision::allow(Rule::Tag, "tagging is allowed here")
                        .with_image(target)
                        .by_rule(rule);
                }
                // Docker Content Trust's pull tags `repo@<signed digest>` as
                // `repo:tag`: allowed when that digest is the one signed for
                // the tag.
                if let Some(v) = &rule.verifier {
                    if let Some(d) = self.trust.signed_retag(v.as_ref(), source, target).await {
                        return d.by_rule(rule);
                    }
                }
                self.naming_deny(target, "tag").by_rule(rule)
            }

            Action::ContainerCreate(c) => {
                // Networks it joins may have been made with a plugin driver
                // before this plugin checked drivers.
                let modes = c.host_configs.iter().map(|h| h.network_mode.as_str());
                for n in modes.chain(c.endpoint_networks.iter().map(String::as_str)) {
                    if !predefined_network(n) {
                        let d = self.network_connect(n, user).await;
                        if !d.allow {
                            return d;
                        }
                    }
                }
                let d = self
                    .image_in_use(&c.image, "the container image", user)
                    .await;
                if !d.allow {
                    return d;
                }
                for hc in &c.host_configs {
                    if let Some(deny) = self.image_mounts(&hc.mounts, user).await {
                        return deny;
                    }
                }
                d
            }

            Action::Service(s) => {
                if s.rollback {
                    return self.global(Decision::deny(
                        Rule::ContentBinding,
                        "a rollback deploys the service's previous spec, which this request does not show",
                        "update the service to the image you want (docker service update --image)",
                    ));
                }
                if let Some(remote) = &s.plugin_remote {
                    let target = parse_opt(remote);
                    let d = self.global(self.switch(
                        Op::Plugins,
                        target.as_ref(),
                        user,
                        "the service runs a plugin, and plugins run with host privileges",
                    ));
                    if !d.allow {
                        return d;
                    }
                    return self.image_named(remote, "the service plugin", user);
                }
                let d = self
                    .service_image(&s.image, "the service image", user)
                    .await;
                if !d.allow {
                    return d;
                }
                for m in s.mounts.iter().filter(|m| m.typ == "image") {
                    let md = self.service_image(&m.source, "the image mount", user).await;
                    if !md.allow {
                        return md;
                    }
                }
                d
            }

            Action::Plugin(op) => match op {
                PluginOp::Pull { remote, .. } | PluginOp::Upgrade { remote, .. } => {
                    let target = parse_opt(remote);
                    let d = self.global(self.switch(
                        Op::Plugins,
                        target.as_ref(),
                        user,
                        "plugins run with host privileges",
                    ));
                    if !d.allow {
                        return d;
                    }
                    self.image_named(remote, "the plugin", user)
                }
                PluginOp::Create { .. } => self.global(self.switch(
                    Op::Plugins,
                    None,
                    user,
                    "plugins run with host privileges",
                )),
                // Settings can point a plugin's mounts and devices at the
                // host, and enabling runs it: plugin administration.
                PluginOp::Set { .. } | PluginOp::Enable { .. } => self.global(self.switch(
                    Op::Plugins,
                    None,
                    user,
                    "configuring or enabling a plugin runs it with host privileges",
                )),
                PluginOp::Disable { .. } | PluginOp::Remove { .. } | PluginOp::Push { .. } => {
                    Decision::allow(Rule::Default, "plugin management")
                }
            },

            Action::ContainerStart { container, .. } => self.container_run(container, user).await,
            Action::Checkpoint { .. }
            | Action::ContainerUpdate { .. }
            | Action::ExecCreate { .. }
            | Action::VolumeCreate { .. } => {
                Decision::allow(Rule::Default, "no image is brought in")
            }
        }
    }

    /// A switchable operation: allowed globally, or by the rule of the
    /// repository it names.
    fn switch(&self, op: Op, target: Option<&Reference>, user: &str, why: &str) -> Decision {
        let rule = match op {
            Op::Import => Rule::Import,
            Op::Load => Rule::Load,
            Op::Build => Rule::Build,
            Op::Commit => Rule::Commit,
            Op::Plugins => Rule::Plugins,
            Op::Tag => Rule::Tag,
            Op::Swarm => Rule::Swarm,
            Op::Cp => Rule::Cp,
            Op::Push => Rule::Push,
        };
        let name = op_name(op);
        if self.op_allowed(op, target, user) {
            Decision::allow(rule, format!("{name} is allowed"))
        } else {
            let how = if self.file.is_some() {
                format!("add \"{name}\" to allow in the policy file ([global] or the repository's rule), or to IMG_AUTHZ_ALLOW")
            } else {
                format!("set IMG_AUTHZ_ALLOW={name} (or --allow {name})")
            };
            Decision::deny(rule, why.to_string(), how)
        }
    }

    /// An allowed operation that names its result must also pass the
    /// naming rule.
    fn then_naming<'n>(
        &self,
        d: Decision,
        names: impl IntoIterator<Item = &'n str>,
        how: &str,
        user: &str,
    ) -> Decision {
        if !d.allow {
            return d;
        }
        for n in names {
            if n.is_empty() {
                continue;
            }
            let r = match Reference::parse_normalized(n) {
                Ok(r) => r,
                Err(e) => {
                    return Decision::deny(
                        Rule::RequestDecoding,
                        format!(
                            "the {how} names the image {n:?}, which is not a valid reference ({e})"
                        ),
                        "use a valid image reference",
                    )
                }
            };
            if let Some(d) = alias_deny(&r, &format!("the {how} name")) {
                return d;
            }
            if let Some(rule) = self.rule_for(&r, user) {
                if !self.op_allowed(Op::Tag, Some(&r), user) {
                    return self.naming_deny(&r, how).by_rule(rule);
                }
            }
        }
        d
    }

    /// Giving a local image a name under a trust rule is the tag rule,
    /// whichever route does it (tag, build -t, commit, import).
    fn naming_deny(&self, r: &Reference, how: &str) -> Decision {
        Decision::deny(
            Rule::Tag,
            format!(
                "the {how} would name a local image {r}, under a trust rule (registry {}); that name would make it look trusted",
                r.domain
            ),
            "pull the image from the registry instead, name it outside the authorized repositories, or allow \"tag\" \
             (IMG_AUTHZ_ALLOW=tag)",
        )
        .with_image(r)
    }

    /// The deny when no rule covers a repository.
    fn no_rule(&self, r: &Reference, what: &str) -> Decision {
        if let Some(d) = alias_deny(r, what) {
            return d;
        }
        let mut authorized: Vec<&str> = self
            .rules
            .iter()
            .flat_map(|r| r.patterns.iter().map(String::as_str))
            .collect();
        authorized.dedup();
        let shown = if authorized.len() > 6 {
            format!(
                "{}, ...",
                authorized.get(..6).unwrap_or_default().join(", ")
            )
        } else {
            authorized.join(", ")
        };
        let hint = if self.file.is_some() {
            format!(
                "add {} to REGISTRY (a comma-separated list), or a rule for it in the policy file",
                r.domain
            )
        } else {
            format!("add {} to REGISTRY (a comma-separated list)", r.domain)
        };
        Decision::deny(
            Rule::RegistryAllowlist,
            format!(
                "{what} {r} is from registry {}, which is not authorized (authorized: {shown})",
                r.domain
            ),
            hint,
        )
        .with_image(r)
    }

    /// An image named in a request, with no local resolution (plugins).
    fn image_named(&self, image: &str, what: &str, user: &str) -> Decision {
        match ImageRef::parse(image, what) {
            Ok(ImageRef::Id(id)) => Decision::deny(
                Rule::RegistryAllowlist,
                format!("{what} is given by image ID ({id}), which does not say which registry it came from"),
                "refer to the image by its name in an authorized registry",
            ),
            Ok(ImageRef::Named(r)) => match self.rule_for(&r, user) {
                None => self.no_rule(&r, what),
                Some(rule) => Decision::allow(Rule::RegistryAllowlist, format!("{r} is under rule {}", rule.name))
                    .with_image(&r)
                    .by_rule(rule),
            },
            Err(d) => d,
        }
    }

    /// The image a container (or image mount) will use: by name it must be
    /// under a trust rule; with a verifier, the image the daemon resolves
    /// must be bound to a signed digest.
    async fn image_in_use(&self, image: &str, what: &str, user: &str) -> Decision {
        let parsed = match ImageRef::parse(image, what) {
            Ok(p) => p,
            Err(d) => return d,
        };
        let rule = match &parsed {
            ImageRef::Named(r) => match self.rule_for(r, user) {
                Some(rule) => Some(rule),
                None if looks_like_short_id(image) => {
                    return Decision::deny(
                        Rule::RegistryAllowlist,
                        format!(
                            "{what} {image:?} looks like a short image ID, but dockerd reads it first as the name {r}, \
                             which no rule authorizes and a local tag could take between this check and the \
                             container's creation"
                        ),
                        "use the full image ID (docker image inspect --format '{{.Id}}') or the image's name",
                    )
                }
                None => {
                    let mut d = self.no_rule(r, what);
                    d.hint = format!(
                        "{}, or refer to the image by its name in an authorized registry or by its full ID",
                        d.hint
                    );
                    return d;
                }
            },
            ImageRef::Id(_) => None,
        };
        let t = &self.trust;
        match rule {
            // Named, and the rule requires no signature.
            Some(r) if r.verifier.is_none() => {
                if looks_like_short_id(image) {
                    return Decision::deny(
                        Rule::RegistryAllowlist,
                        format!("{what} {image:?} may be read by dockerd as a short image ID, which names no registry"),
                        "refer to the image by its name",
                    );
                }
                match &parsed {
                    ImageRef::Named(n) => unsigned_ok(r, n),
                    ImageRef::Id(_) => unreachable_id(),
                }
            }
            _ => {
                let policy = self;
                t.local_image(image, &parsed, what, &|repo: &Reference| {
                    policy
                        .rule_for(repo, user)
                        .map(|r| (r.verifier.clone(), r.name.clone(), r.mode))
                })
                .await
            }
        }
    }

    /// Starting (or restarting) a container runs the image it was created
    /// from, fixed by ID at creation: checked again here, so that a tag
    /// moved between the create check and dockerd's own lookup (by a
    /// concurrent load or pull) never runs. Containers made before the
    /// plugin was enabled are covered too.
    async fn container_run(&self, container: &str, user: &str) -> Decision {
        let info = match self.daemon.inspect_container(container).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                return self.global(Decision::deny(
                    Rule::ContentBinding,
                    format!("container {container:?} does not exist, so the image it would run cannot be checked"),
                    "create the container first",
                ))
            }
            Err(e) => {
                return self.global(Decision::deny(
                    Rule::ContentBinding,
                    format!("cannot ask dockerd which image container {container:?} runs: {e}"),
                    "make dockerd's API reachable by the plugin (DOCKER_HOST)",
                ))
            }
        };
        if let Some(d) = self.start_hardening(&info, user).await {
            return d;
        }
        let name = info.name.trim_start_matches('/');
        let what = format!("the image of container {name}");
        let d = self.image_in_use(&info.image, &what, user).await;
        if d.allow {
            return d;
        }
        // The name the container was created by, and its rule.
        let created_as = info.config.as_ref().map(|c| c.image.as_str()).unwrap_or("");
        let named = match ImageRef::parse(created_as, &what) {
            Ok(ImageRef::Named(r)) if !looks_like_short_id(created_as) => Some(r),
            _ => None,
        };
        let Some((r, rule)) = named
            .as_ref()
            .and_then(|r| self.rule_for(r, user).map(|rule| (r, rule)))
        else {
            return if d.mode == Mode::Audit {
                d
            } else {
                self.global(d)
            };
        };
        let t = &self.trust;
        match &rule.verifier {
            // A repository whose rule takes unsigned images (imported or
            // built ones have no registry digest at all).
            None => unsigned_ok(rule, r),
            Some(v) => {
                match t.container_digest(v.as_ref(), r, &info.image, &what).await {
                    Some(ok) => ok.by_rule(rule),
                    // The rule's audit mode applies as it did at creation.
                    None if rule.mode == Mode::Audit => Decision {
                        mode: Mode::Audit,
                        ..d
                    },
                    None => d,
                }
            }
        }
    }

    async fn image_mounts(&self, mounts: &[Mount], user: &str) -> Option<Decision> {
        for m in mounts.iter().filter(|m| m.typ == "image") {
            let d = self.image_in_use(&m.source, "the image mount", user).await;
            if !d.allow {
                return Some(d);
            }
        }
        None
    }

    /// A service image: under a rule, and with a verifier pinned by a
    /// signed digest (the swarm pulls it later, unseen).
    async fn service_image(&self, image: &str, what: &str, user: &str) -> Decision {
        if looks_like_short_id(image) {
            return Decision::deny(
                Rule::RegistryAllowlist,
                format!("{what} {image:?} may be read by dockerd as a short image ID, which names no registry"),
                "refer to the image by its name in an authorized registry",
            );
        }
        let r = match ImageRef::parse(image, what) {
            Ok(ImageRef::Named(r)) => r,
            Ok(ImageRef::Id(id)) => {
                return Decision::deny(
                    Rule::RegistryAllowlist,
                    format!("{what} is given by image ID ({id}), which does not say which registry it came from"),
                    "refer to the image by its name in an authorized registry",
                )
            }
            Err(d) => return d,
        };
        let Some(rule) = self.rule_for(&r, user) else {
            return self.no_rule(&r, what);
        };
        match &rule.verifier {
            Some(v) => self.trust.service_image(v.as_ref(), &r).await.by_rule(rule),
            None => unsigned_ok(rule, &r),
        }
    }

    /// Hardening of the policy file, for the actions it covers.
    async fn hardening(&self, action: &Action, ctx: &Ctx) -> Option<Decision> {
        // Most calls (reads) are nothing hardening checks: skip building the
        // per-user spec for them (it was a measurable share of the hot path).
        if !matches!(
            action,
            Action::ContainerCreate(_)
                | Action::ContainerStart { .. }
                | Action::Checkpoint { .. }
                | Action::Build(_)
                | Action::ContainerUpdate { .. }
                | Action::ExecCreate { .. }
                | Action::VolumeCreate { .. }
                | Action::Service(_)
                | Action::NetworkCreate(_)
        ) {
            return None;
        }
        let layers = self.hardening_for(&ctx.user)?;
        let api = ctx.api_version.as_deref();
        // The service's host network: resolved once, for the spec in effect.
        let mut host = false;
        if let Action::Service(s) = action {
            if layers.spec.host_namespaces == Some(false) {
                match self.host_network(&s.networks).await {
                    Ok(h) => host = h,
                    Err(why) => {
                        let mut d = Decision::deny(
                            Rule::Hardening,
                            why,
                            "make dockerd's API reachable by the plugin (DOCKER_HOST)",
                        );
                        d.mode = layers.mode;
                        return Some(d);
                    }
                }
            }
        }
        // A create without a HostConfig still gets dockerd's defaults, some
        // of which depend on the API version.
        let default = [HostConfig::default()];
        self.harden(layers, |h: &HardeningSpec| match action {
            Action::ContainerCreate(c) => {
                let list = if c.host_configs.is_empty() {
                    &default[..]
                } else {
                    &c.host_configs[..]
                };
                list.iter().try_for_each(|hc| h.create(hc, api))
            }
            Action::ContainerStart {
                host_configs,
                checkpoint_dir,
                ..
            } => host_configs
                .iter()
                .try_for_each(|hc| h.host_config(hc, api))
                .and_then(|_| h.checkpoint_dir(checkpoint_dir)),
            Action::Checkpoint { dir, .. } => h.checkpoint_dir(dir),
            Action::Build(b) => h.build_network(&b.network_mode),
            Action::ContainerUpdate { host, .. } => h.host_config(host, api),
            Action::ExecCreate { privileged, .. } => h.exec(*privileged),
            Action::VolumeCreate {
                driver,
                driver_opts,
                ..
            } => h.volume_create(driver, driver_opts),
            Action::NetworkCreate(n) => h.network(&n.driver, &n.options, "the network"),
            Action::Service(s) => h.service(s, host && h.host_namespaces == Some(false)),
            _ => Ok(()),
        })
        .await
    }

    /// A container about to start, as dockerd stored it: the effective
    /// namespace modes and privileges, whatever dockerd's defaults made of
    /// the create request (and for containers created before the plugin).
    async fn start_hardening(&self, info: &ContainerInfo, user: &str) -> Option<Decision> {
        let name = info.name.trim_start_matches('/').to_string();
        if let Some(mut d) = self.stored_hardening(info, user).await {
            d.reason = format!("container {name}: {}", d.reason);
            return Some(d);
        }
        // A namespace joined from another container gives this one whatever
        // that container shares with the host (`--pid container:X` where X
        // has the host's PID namespace, or is privileged).
        let stored = info.host_config.as_ref()?;
        for (flag, mode) in [
            ("--pid", &stored.pid_mode),
            ("--ipc", &stored.ipc_mode),
            ("--network", &stored.network_mode),
        ] {
            let Some(other) = mode.strip_prefix("container:") else {
                continue;
            };
            let joined = match self.daemon.inspect_container(other).await {
                Ok(Some(i)) => i,
                // dockerd fails the start itself.
                Ok(None) => continue,
                Err(e) => {
                    let mut d = Decision::deny(
                        Rule::Hardening,
                        format!(
                            "container {name} joins container {other}'s namespaces ({flag}), \
                             which could not be inspected: {e}"
                        ),
                        "make dockerd's API reachable by the plugin (DOCKER_HOST)",
                    );
                    d.mode = self.hardening_for(user).map(|l| l.mode).unwrap_or(d.mode);
                    return Some(d);
                }
            };
            if let Some(mut d) = self.stored_hardening(&joined, user).await {
                d.reason = format!(
                    "container {name} joins the namespaces of container {other} ({flag} {mode}), \
                     and that container has {}",
                    d.reason
                );
                return Some(d);
            }
        }
        None
    }

    /// The hardening of an existing container as dockerd stored it: modes,
    /// privileges, devices, security options, and every host path mounted
    /// into it (its own binds and `--mount`s, and those copied from
    /// `--volumes-from` containers).
    async fn stored_hardening(&self, info: &ContainerInfo, user: &str) -> Option<Decision> {
        let layers = self.hardening_for(user)?;
        let stored = info.host_config.clone().unwrap_or_default();
        let mounts = info
            .mounts
            .iter()
            .flatten()
            .filter(|m| m.typ == "bind")
            .map(|m| Mount {
                typ: "bind".into(),
                source: m.source.clone(),
                target: m.destination.clone(),
                ..Default::default()
            })
            .collect();
        let hc = HostConfig {
            privileged: stored.privileged,
            network_mode: stored.network_mode,
            pid_mode: stored.pid_mode,
            ipc_mode: stored.ipc_mode,
            uts_mode: stored.uts_mode,
            userns_mode: stored.userns_mode,
            cgroupns_mode: stored.cgroupns_mode,
            cap_add: stored.cap_add.unwrap_or_default(),
            binds: stored.binds.unwrap_or_default(),
            mounts,
            security_opt: stored.security_opt.unwrap_or_default(),
            devices: stored
                .devices
                .unwrap_or_default()
                .into_iter()
                .map(|d| d.path_on_host)
                .collect(),
            ..Default::default()
        };
        self.harden(layers, |h: &HardeningSpec| h.start(&hc)).await
    }

    /// Every driver a request names that dockerd would look up as a
    /// plugin: built-in drivers pass, any other is the `plugins` operation,
    /// and a name with `/` or `..` (a path dockerd joins into its plugin
    /// directories, loading a plugin from any file) is never allowed.
    fn named_drivers(&self, action: &Action, user: &str, paths_only: bool) -> Option<Decision> {
        let mut named: Vec<(DriverKind, &str)> = Vec::new();
        match action {
            Action::ContainerCreate(c) => {
                named.extend(c.host_configs.iter().flat_map(host_drivers))
            }
            Action::ContainerStart { host_configs, .. } => {
                named.extend(host_configs.iter().flat_map(host_drivers))
            }
            Action::Service(s) => {
                named.push((DriverKind::Log, s.log_driver.as_str()));
                named.extend(
                    s.mounts
                        .iter()
                        .filter(|m| matches!(m.typ.as_str(), "volume" | ""))
                        .map(|m| (DriverKind::Volume, m.volume_driver.as_str())),
                );
            }
            Action::VolumeCreate { driver, .. } => named.push((DriverKind::Volume, driver)),
            Action::NetworkCreate(n) => {
                named.push((DriverKind::Network, n.driver.as_str()));
                named.push((DriverKind::Ipam, n.ipam_driver.as_str()));
            }
            Action::SecretCreate { driver } => named.push((DriverKind::Secret, driver)),
            _ => return None,
        }
        named
            .into_iter()
            .filter(|(_, n)| !paths_only || is_path(n))
            .map(|(k, n)| self.driver(k, n, user))
            .find(|d| !d.allow)
    }

    /// One driver name (see `named_drivers`).
    fn driver(&self, kind: DriverKind, name: &str, user: &str) -> Decision {
        if kind.built_in(name) {
            return Decision::allow(
                Rule::Default,
                format!("{} driver {name:?} is built in", kind.as_str()),
            );
        }
        if is_path(name) {
            // Enforced in audit mode too: it hands out the host.
            return Decision::deny(
                Rule::Plugins,
                format!(
                    "{} driver {name:?} is a path: dockerd would load a plugin from whatever file it names, \
                     so a plugin named by a path is never allowed",
                    kind.as_str()
                ),
                format!(
                    "use a built-in {} driver, or an installed plugin by a name without '/' \
                     (docker plugin install --alias NAME) with \"plugins\" allowed",
                    kind.as_str()
                ),
            );
        }
        self.global(self.switch(
            Op::Plugins,
            None,
            user,
            &format!(
                "{} driver {name:?} is not built into dockerd: dockerd would load it as a plugin, \
                 and plugins run with host privileges",
                kind.as_str()
            ),
        ))
    }

    /// `docker network connect`: the network's drivers were chosen at its
    /// creation, possibly before this plugin checked them; ask dockerd.
    async fn network_connect(&self, network: &str, user: &str) -> Decision {
        let n = match self.daemon.inspect_network(network).await {
            Ok(Some(n)) => n,
            // dockerd fails the connect itself.
            Ok(None) => return Decision::allow(Rule::Default, "no such network"),
            Err(e) => {
                return self.global(Decision::deny(
                    Rule::Plugins,
                    format!("cannot ask dockerd which drivers network {network:?} uses: {e}"),
                    "make dockerd's API reachable by the plugin (DOCKER_HOST)",
                ))
            }
        };
        let spec = NetworkSpec {
            name: n.name.clone(),
            driver: n.driver.clone(),
            ipam_driver: n
                .ipam
                .as_ref()
                .map(|i| i.driver.clone())
                .unwrap_or_default(),
            options: n.options.clone().unwrap_or_default().into_iter().collect(),
            ..Default::default()
        };
        if let Some(layers) = self.hardening_for(user) {
            let what = format!("network {}", n.name);
            if let Some(d) = self
                .harden(layers, |h: &HardeningSpec| {
                    h.network(&spec.driver, &spec.options, &what)
                })
                .await
            {
                return d;
            }
        }
        for (k, name) in [
            (DriverKind::Network, &spec.driver),
            (DriverKind::Ipam, &spec.ipam_driver),
        ] {
            let d = self.driver(k, name, user);
            if !d.allow {
                return d;
            }
        }
        Decision::allow(Rule::Default, "the network's drivers are allowed")
    }

    /// A push: to a registry a rule authorizes, or the `push` operation.
    fn push(&self, image: &str, user: &str) -> Decision {
        let r = match Reference::parse_normalized(image) {
            Ok(r) => r,
            Err(e) => {
                return Decision::deny(
                    Rule::RequestDecoding,
                    format!("the push names {image:?}, which is not a valid reference ({e})"),
                    "use a valid image reference",
                )
            }
        };
        if let Some(rule) = self.rule_for(&r, user) {
            return Decision::allow(
                Rule::Push,
                format!("{} is under rule {}", r.domain, rule.name),
            )
            .with_image(&r)
            .by_rule(rule);
        }
        self.global(self.switch(
            Op::Push,
            Some(&r),
            user,
            &format!(
                "it would send a local image to registry {}, which no rule authorizes",
                r.domain
            ),
        ))
        .with_image(&r)
    }

    /// A read that makes dockerd contact a registry: only an authorized one.
    fn remote_read(&self, image: &str, search: bool, user: &str) -> Decision {
        if search {
            // dockerd's splitReposSearchTerm: a first component with '.' or
            // ':', or `localhost`, is the registry to search; otherwise the
            // default index (Docker Hub), which only learns the term.
            let host = match image.split_once('/') {
                Some((h, _)) if h.contains(['.', ':']) || h == "localhost" => h,
                _ => return Decision::allow(Rule::Default, "search of the default index"),
            };
            if ["docker.io", "index.docker.io"]
                .iter()
                .any(|d| d.eq_ignore_ascii_case(host))
                || self.registry_known(host)
            {
                return Decision::allow(Rule::RegistryAllowlist, format!("search of {host}"));
            }
            return self.global(Decision::deny(
                Rule::RegistryAllowlist,
                format!("the image search would make dockerd contact registry {host}, which is not authorized"),
                format!("add {host} to REGISTRY, or search without a registry host"),
            ));
        }
        if image.is_empty() {
            // dockerd refuses a missing reference itself.
            return Decision::allow(Rule::Default, "no registry named");
        }
        let d = self.image_named(image, "the image dockerd would look up", user);
        if d.allow {
            d
        } else {
            self.global(d)
        }
    }

    /// Whether some rule covers repositories of registry `host`.
    fn registry_known(&self, host: &str) -> bool {
        self.cfg.registry_allowed(host)
            || self.rules.iter().any(|r| {
                r.patterns.iter().any(|p| {
                    p == "*"
                        || p.split('/')
                            .next()
                            .is_some_and(|d| d.eq_ignore_ascii_case(host))
                })
            })
    }

    /// Whether one of a service's network targets (names or IDs, as the
    /// CLI sends them) is the host's network.
    async fn host_network(&self, targets: &[String]) -> Result<bool, String> {
        for t in targets {
            if t == "host" {
                return Ok(true);
            }
            match self.daemon.inspect_network(t).await {
                Ok(Some(n)) if n.name == "host" || n.driver == "host" => return Ok(true),
                // Unknown to dockerd: the service create fails there.
                Ok(_) => {}
                Err(e) => {
                    return Err(format!(
                        "cannot ask dockerd whether the service's network {t:?} is the host's: {e}"
                    ))
                }
            }
        }
        Ok(false)
    }

    /// Requests that would disable, remove, upgrade or reconfigure this
    /// plugin, or stop its container, are denied whatever else allows them.
    async fn self_protection(&self, action: &Action) -> Option<Decision> {
        let deny = |what: String| {
            Decision::deny(
                Rule::SelfProtection,
                format!("{what}: img-authz does not let the API switch it off"),
                "as root on the host, take img-authz out of dockerd's authorization-plugins and restart dockerd \
                 (see the README: Locked out?)",
            )
        };
        match action {
            Action::Plugin(
                PluginOp::Disable { name } | PluginOp::Remove { name } | PluginOp::Upgrade { name, .. } | PluginOp::Set { name },
            ) => match self.daemon.inspect_plugin(name).await {
                Ok(None) => None,
                Ok(Some(p)) if p.is_img_authz(&self.self_names) => Some(deny(format!("plugin {} is img-authz", p.name))),
                Ok(Some(_)) => None,
                Err(e) => Some(deny(format!(
                    "plugin {name:?} cannot be shown not to be img-authz (dockerd could not be asked: {e})"
                ))),
            },
            Action::Control { .. } | Action::ContainerUpdate { .. } if !self.self_containers.is_empty() => {
                // `docker update` is an action of its own, not a control route.
                let target = match action {
                    Action::Control { route, target } if SELF_STOPS.iter().any(|&id| route_name(id) == *route) => target,
                    Action::ContainerUpdate { container, .. } => container,
                    _ => return None,
                };
                if target.is_empty() {
                    return None;
                }
                match self.daemon.inspect_container(target).await {
                    Ok(None) => None,
                    Ok(Some(info)) if self.self_containers.iter().any(|c| c.trim_start_matches('/') == info.name.trim_start_matches('/')) => {
                        Some(deny(format!("container {} runs img-authz", info.name.trim_start_matches('/'))))
                    }
                    Ok(Some(_)) => None,
                    Err(e) => Some(deny(format!(
                        "container {target:?} cannot be shown not to run img-authz (dockerd could not be asked: {e})"
                    ))),
                }
            }
            _ => None,
        }
    }
}

/// Control routes that would stop, remove or rename a container running
/// this plugin (with `docker update`, see `self_protection`).
const SELF_STOPS: [RouteId; 6] = [
    RouteId::ContainerStop,
    RouteId::ContainerKill,
    RouteId::ContainerPause,
    RouteId::ContainerRestart,
    RouteId::ContainerRename,
    RouteId::ContainerDelete,
];

/// Network modes that name no user-defined network: the predefined
/// networks (built-in drivers) and another container's namespace.
fn predefined_network(mode: &str) -> bool {
    matches!(mode, "" | "default" | "bridge" | "host" | "none") || mode.starts_with("container:")
}

/// A driver name dockerd would join into its plugin directories as a path.
fn is_path(name: &str) -> bool {
    name.contains('/') || name.contains("..")
}

/// The drivers a HostConfig names: its log driver and volume drivers.
fn host_drivers(hc: &HostConfig) -> Vec<(DriverKind, &str)> {
    let mut v = vec![
        (DriverKind::Log, hc.log_driver.as_str()),
        (DriverKind::Volume, hc.volume_driver.as_str()),
    ];
    v.extend(
        hc.mounts
            .iter()
            .filter(|m| matches!(m.typ.as_str(), "volume" | ""))
            .map(|m| (DriverKind::Volume, m.volume_driver.as_str())),
    );
    v
}

/// The kinds of driver a request can name that dockerd looks up as plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    Network,
    Ipam,
    Log,
    Volume,
    Secret,
}

impl DriverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriverKind::Network => "network",
            DriverKind::Ipam => "IPAM",
            DriverKind::Log => "log",
            DriverKind::Volume => "volume",
            DriverKind::Secret => "secret",
        }
    }

    /// Drivers built into dockerd 20.10 and 28 on Linux (names compare
    /// exactly, as dockerd's registries do); empty is the daemon's default.
    /// `host` and `null` networks are built in (dockerd refuses a second
    /// one); `none` is no driver, so a plugin lookup. `logentries` is built
    /// into 20.10 only; on later daemons the name can only reach a plugin
    /// an administrator installed in the plugin directories.
    pub fn built_in(self, name: &str) -> bool {
        let list: &[&str] = match self {
            DriverKind::Network => &["bridge", "host", "ipvlan", "macvlan", "null", "overlay"],
            DriverKind::Ipam => &["default", "null"],
            DriverKind::Log => &[
                "none",
                "json-file",
                "local",
                "journald",
                "syslog",
                "gelf",
                "fluentd",
                "awslogs",
                "splunk",
                "gcplogs",
                "logentries",
            ],
            DriverKind::Volume => &["local"],
            DriverKind::Secret => &[],
        };
        name.is_empty() || list.contains(&name)
    }
}

/// Unsigned images are allowed under `rule`.
fn unsigned_ok(rule: &CompiledRule, image: &Reference) -> Decision {
    Decision::allow(
        Rule::RegistryAllowlist,
        format!("{} allows unsigned images ({})", rule.name, image.domain),
    )
    .with_image(image)
    .by_rule(rule)
}

/// The deny of a registry spelled other than canonically, if `r`'s is.
fn alias_deny(r: &Reference, what: &str) -> Option<Decision> {
    let (reason, hint) = match r.spelling() {
        Spelling::Canonical => return None,
        Spelling::Alias { canonical } => (
            format!(
                "{what} {r} spells registry {canonical} as {}; a repository has one identity (rules, signatures, \
                 trust state), so other spellings of its registry are refused",
                r.domain
            ),
            format!("write it as {canonical}/{}", r.path),
        ),
        Spelling::Ambiguous { why } => (
            format!(
                "{what} {r} names registry {}, {why}; a repository has one identity, so such spellings are refused",
                r.domain
            ),
            "name the registry by its host name or a plain IP address".to_string(),
        ),
    };
    Some(Decision::deny(Rule::RegistryAllowlist, reason, hint).with_image(r))
}

fn unreachable_id() -> Decision {
    Decision::deny(Rule::Internal, "an image ID has no rule", "")
}

fn parse_opt(name: &str) -> Option<Reference> {
    if name.is_empty() {
        return None;
    }
    Reference::parse_normalized(name).ok()
}

/// `abc123` or `sha256:abc123`: what `docker run` users type for an ID.
fn looks_like_short_id(image: &str) -> bool {
    let hex = image.strip_prefix("sha256:").unwrap_or(image);
    (1..64).contains(&hex.len()) && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// An image field: a full image ID, or a name.
pub enum ImageRef {
    /// `sha256:<64 hex>`.
    Id(String),
    Named(Reference),
}

impl ImageRef {
    #[expect(
        clippy::result_large_err,
        reason = "a refusal is a whole Decision, built once per request"
    )]
    pub fn parse(image: &str, what: &str) -> Result<ImageRef, Decision> {
        if image.is_empty() {
            return Err(Decision::deny(
                Rule::RegistryAllowlist,
                format!("{what} is not named"),
                "name an image",
            ));
        }
        let bare = image.strip_prefix("sha256:").unwrap_or(image);
        if is_identifier(bare) {
            return Ok(ImageRef::Id(format!("sha256:{bare}")));
        }
        if validate_digest(image).is_ok() {
            // sha384/sha512 image IDs: not used by dockerd's image store.
            return Err(Decision::deny(
                Rule::RequestDecoding,
                format!("{what} {image:?} is not a sha256 image ID"),
                "use the image's name or its sha256 ID",
            ));
        }
        Reference::parse_normalized(image)
            .map(ImageRef::Named)
            .map_err(|e| {
                Decision::deny(
                    Rule::RequestDecoding,
                    format!("{what} {image:?} is not a valid image reference ({e})"),
                    "use a valid image reference",
                )
            })
    }
}
