//! Decide: the rules of img-authz applied to a typed action.
//!
//! Every deny names the action, the rule that fired and the setting that
//! would allow it, so that the person who reads the daemon's 403 knows what
//! to do.

use std::fmt;

mod trust;

pub use trust::Trust;

use crate::config::{Config, ConfigError, TrustMode};
use crate::request::action::{Action, Mount, PluginOp};
use crate::request::reference::{is_identifier, validate_digest, Reference};

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
    /// The image's signature is missing, invalid or cannot be checked.
    Signature,
    /// The content is not the signed content (a moved tag, a retagged,
    /// loaded or built image).
    ContentBinding,
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
            Rule::Signature => "signature",
            Rule::ContentBinding => "content-binding",
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

/// The outcome for one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    pub rule: Rule,
    /// Why, in words.
    pub reason: String,
    /// How to allow it; empty for allows.
    pub hint: String,
    /// The image the decision is about, if any, normalised.
    pub image: Option<String>,
    /// The manifest digest the decision was bound to, if any.
    pub digest: Option<String>,
}

impl Decision {
    pub fn allow(rule: Rule, reason: impl Into<String>) -> Decision {
        Decision {
            allow: true,
            rule,
            reason: reason.into(),
            hint: String::new(),
            image: None,
            digest: None,
        }
    }

    pub fn deny(rule: Rule, reason: impl Into<String>, hint: impl Into<String>) -> Decision {
        Decision {
            allow: false,
            rule,
            reason: reason.into(),
            hint: hint.into(),
            image: None,
            digest: None,
        }
    }

    pub(crate) fn with_image(mut self, image: impl fmt::Display) -> Decision {
        self.image = Some(image.to_string());
        self
    }

    pub(crate) fn with_digest(mut self, digest: impl Into<String>) -> Decision {
        self.digest = Some(digest.into());
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

/// The rules of this plugin, configured.
pub struct Policy {
    cfg: Config,
    /// Signature verification and content binding; `None` when
    /// `IMG_AUTHZ_TRUST=none`.
    trust: Option<Trust>,
}

impl Policy {
    /// Build the policy and the clients it needs (state directory, Notary,
    /// registry and daemon clients).
    pub fn new(cfg: Config) -> Result<Policy, ConfigError> {
        let trust = match cfg.trust.mode {
            TrustMode::None => None,
            TrustMode::Notary => Some(Trust::new(&cfg)?),
        };
        Ok(Policy { cfg, trust })
    }

    /// A policy without signature checks (the registry allowlist only).
    pub fn without_trust(cfg: Config) -> Policy {
        Policy { cfg, trust: None }
    }

    /// A policy verifying with the given components (tests, benchmarks).
    pub fn with_trust(cfg: Config, trust: Trust) -> Policy {
        Policy {
            cfg,
            trust: Some(trust),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn trust(&self) -> Option<&Trust> {
        self.trust.as_ref()
    }

    /// Decide one action.
    pub async fn decide(&self, action: &Action) -> Decision {
        let a = &self.cfg.allow;
        match action {
            Action::Read { .. } => Decision::allow(Rule::Default, "reads are allowed"),
            Action::Control { .. } => {
                Decision::allow(Rule::Default, "does not bring in or run an image")
            }
            Action::Login => Decision::allow(Rule::Default, "login only checks credentials"),
            Action::Push { .. } => {
                Decision::allow(Rule::Default, "push sends an existing image out")
            }

            Action::Pull(p) => {
                let d = self.registry(&p.image, "the image");
                match (&self.trust, d.allow) {
                    (Some(t), true) => t.pull(p).await,
                    _ => d,
                }
            }

            Action::Import { repo, .. } => self.then_naming(
                switch(
                    a.import,
                    Rule::Import,
                    "import",
                    "imported images carry no provenance",
                ),
                [repo.as_str()],
                "import",
            ),
            Action::Load => switch(
                a.load,
                Rule::Load,
                "load",
                "loaded images carry no provenance",
            ),
            Action::Build(b) => self.then_naming(
                switch(
                    a.build,
                    Rule::Build,
                    "build",
                    "built images carry no provenance",
                ),
                b.tags.iter().map(String::as_str),
                "build",
            ),
            Action::Session | Action::Grpc => switch(
                a.build,
                Rule::Build,
                "build",
                "BuildKit sessions run builds the plugin cannot see",
            ),
            Action::Commit { repo, tag, .. } => {
                let name = if tag.is_empty() || repo.is_empty() {
                    repo.clone()
                } else {
                    format!("{repo}:{tag}")
                };
                self.then_naming(
                    switch(
                        a.commit,
                        Rule::Commit,
                        "commit",
                        "committed images carry no provenance",
                    ),
                    [name.as_str()],
                    "commit",
                )
            }
            Action::Swarm { .. } => switch(
                a.swarm,
                Rule::Swarm,
                "swarm",
                "in a swarm, other managers run tasks on this host without any authorization call",
            ),

            Action::Tag { source, target } => {
                if !self.cfg.registry_allowed(&target.domain) || a.tag {
                    return Decision::allow(
                        Rule::Tag,
                        "the target is not in an authorized registry",
                    )
                    .with_image(target);
                }
                // Docker Content Trust's pull tags `repo@<signed digest>` as
                // `repo:tag`: allowed when that digest is the one signed for
                // the tag.
                if let Some(t) = &self.trust {
                    if let Some(d) = t.signed_retag(source, target).await {
                        return d;
                    }
                }
                Decision::deny(
                    Rule::Tag,
                    format!(
                        "{target} is in authorized registry {}; a local tag there would make any image look trusted",
                        target.domain
                    ),
                    "pull the image from the registry instead, or set IMG_AUTHZ_ALLOW=tag",
                )
                .with_image(target)
            }

            Action::ContainerCreate(c) => {
                let d = self.image_in_use(&c.image, "the container image").await;
                if !d.allow {
                    return d;
                }
                for hc in &c.host_configs {
                    if let Some(deny) = self.image_mounts(&hc.mounts).await {
                        return deny;
                    }
                }
                d
            }

            Action::Service(s) => {
                if s.rollback {
                    return Decision::deny(
                        Rule::ContentBinding,
                        "a rollback deploys the service's previous spec, which this request does not show",
                        "update the service to the image you want (docker service update --image)",
                    );
                }
                if let Some(remote) = &s.plugin_remote {
                    if !a.plugins {
                        return Decision::deny(
                            Rule::Plugins,
                            "the service runs a plugin, and plugins run with host privileges",
                            "set IMG_AUTHZ_ALLOW=plugins",
                        );
                    }
                    return self.image_field(remote, "the service plugin");
                }
                let d = self.image_field(&s.image, "the service image");
                if !d.allow {
                    return d;
                }
                let d = match &self.trust {
                    Some(t) => t.service_image(&s.image).await,
                    None => d,
                };
                if !d.allow {
                    return d;
                }
                if let Some(deny) = self.service_mounts(&s.mounts).await {
                    return deny;
                }
                d
            }

            Action::Plugin(op) => match op {
                PluginOp::Pull { remote, .. } | PluginOp::Upgrade { remote, .. } => {
                    if !a.plugins {
                        return Decision::deny(
                            Rule::Plugins,
                            "plugins run with host privileges",
                            "set IMG_AUTHZ_ALLOW=plugins",
                        );
                    }
                    self.image_field(remote, "the plugin")
                }
                PluginOp::Create { .. } => switch(
                    a.plugins,
                    Rule::Plugins,
                    "plugins",
                    "plugins run with host privileges",
                ),
                PluginOp::Set { .. }
                | PluginOp::Enable { .. }
                | PluginOp::Disable { .. }
                | PluginOp::Remove { .. }
                | PluginOp::Push { .. } => Decision::allow(Rule::Default, "plugin management"),
            },

            Action::ContainerStart { .. }
            | Action::ContainerUpdate { .. }
            | Action::ExecCreate { .. }
            | Action::VolumeCreate { .. } => {
                Decision::allow(Rule::Default, "no image is brought in")
            }
        }
    }

    /// An allowed operation that names its result must also pass the
    /// naming rule.
    fn then_naming<'n>(
        &self,
        d: Decision,
        names: impl IntoIterator<Item = &'n str>,
        how: &str,
    ) -> Decision {
        if !d.allow {
            return d;
        }
        names
            .into_iter()
            .find_map(|n| self.naming(n, how))
            .unwrap_or(d)
    }

    /// Giving a local image a name in an authorized registry is the tag
    /// rule, whichever route does it (build -t, commit, import).
    fn naming(&self, name: &str, how: &str) -> Option<Decision> {
        if name.is_empty() || self.cfg.allow.tag {
            return None;
        }
        let r = match Reference::parse_normalized(name) {
            Ok(r) => r,
            Err(e) => {
                return Some(Decision::deny(
                    Rule::RequestDecoding,
                    format!(
                        "the {how} names the image {name:?}, which is not a valid reference ({e})"
                    ),
                    "use a valid image reference",
                ))
            }
        };
        if !self.cfg.registry_allowed(&r.domain) {
            return None;
        }
        Some(
            Decision::deny(
                Rule::Tag,
                format!(
                    "the {how} would name a local image {r}, in authorized registry {}; that name would make it look trusted",
                    r.domain
                ),
                "name it outside the authorized registries, or set IMG_AUTHZ_ALLOW=tag",
            )
            .with_image(&r),
        )
    }

    /// Registry allowlist on a parsed reference.
    pub(crate) fn registry(&self, r: &Reference, what: &str) -> Decision {
        if self.cfg.registry_allowed(&r.domain) {
            Decision::allow(
                Rule::RegistryAllowlist,
                format!("registry {} is authorized", r.domain),
            )
            .with_image(r)
        } else {
            Decision::deny(
                Rule::RegistryAllowlist,
                format!(
                    "{what} {r} is from registry {}, which is not authorized (authorized: {})",
                    r.domain,
                    self.cfg.registries.join(", ")
                ),
                format!("add {} to REGISTRY (a comma-separated list)", r.domain),
            )
            .with_image(r)
        }
    }

    /// Registry allowlist on an image field as a client wrote it.
    fn image_field(&self, image: &str, what: &str) -> Decision {
        if looks_like_short_id(image) {
            // dockerd tries the name (docker.io/library/<hex>) first, then any
            // local image whose ID starts with it: no registry can be told.
            return Decision::deny(
                Rule::RegistryAllowlist,
                format!("{what} {image:?} may be read by dockerd as a short image ID, which names no registry"),
                "refer to the image by its name in an authorized registry",
            );
        }
        match ImageRef::parse(image, what) {
            Ok(ImageRef::Id(id)) => Decision::deny(
                Rule::RegistryAllowlist,
                format!("{what} is given by image ID ({id}), which does not say which registry it came from"),
                "refer to the image by its name in an authorized registry",
            ),
            Ok(ImageRef::Named(r)) => self.registry(&r, what),
            Err(d) => d,
        }
    }

    /// The image a container (or image mount) will use: by name it must be
    /// from an authorized registry; with signatures on, the image the daemon
    /// resolves must be bound to a signed digest.
    async fn image_in_use(&self, image: &str, what: &str) -> Decision {
        match &self.trust {
            None => self.image_field(image, what),
            Some(t) => match ImageRef::parse(image, what) {
                Err(d) => d,
                Ok(ImageRef::Named(r)) if !self.cfg.registry_allowed(&r.domain) && looks_like_short_id(image) => {
                    Decision::deny(
                        Rule::RegistryAllowlist,
                        format!(
                            "{what} {image:?} looks like a short image ID, but dockerd reads it first as the name {r}, \
                             which a local tag could take between this check and the container's creation"
                        ),
                        "use the full image ID (docker image inspect --format '{{.Id}}') or the image's name",
                    )
                }
                Ok(ImageRef::Named(r)) if !self.cfg.registry_allowed(&r.domain) => {
                    let mut d = self.registry(&r, what);
                    d.hint = format!(
                        "{}, or refer to the image by its name in an authorized registry or by its full ID",
                        d.hint
                    );
                    d
                }
                Ok(r) => t.local_image(&self.cfg, image, &r, what).await,
            },
        }
    }

    async fn image_mounts(&self, mounts: &[Mount]) -> Option<Decision> {
        for m in mounts.iter().filter(|m| m.typ == "image") {
            let d = self.image_in_use(&m.source, "the image mount").await;
            if !d.allow {
                return Some(d);
            }
        }
        None
    }

    async fn service_mounts(&self, mounts: &[Mount]) -> Option<Decision> {
        for m in mounts.iter().filter(|m| m.typ == "image") {
            let mut d = self.image_field(&m.source, "the image mount");
            if d.allow {
                if let Some(t) = &self.trust {
                    d = t.service_image(&m.source).await;
                }
            }
            if !d.allow {
                return Some(d);
            }
        }
        None
    }
}

/// `abc123` or `sha256:abc123`: what `docker run` users type for an ID.
fn looks_like_short_id(image: &str) -> bool {
    let hex = image.strip_prefix("sha256:").unwrap_or(image);
    (4..64).contains(&hex.len()) && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// An image field: a full image ID, or a name.
pub enum ImageRef {
    /// `sha256:<64 hex>`.
    Id(String),
    Named(Reference),
}

impl ImageRef {
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

/// A switchable deny-by-default rule.
fn switch(on: bool, rule: Rule, setting: &str, why: &str) -> Decision {
    if on {
        Decision::allow(rule, format!("allowed by IMG_AUTHZ_ALLOW={setting}"))
    } else {
        Decision::deny(
            rule,
            why.to_string(),
            format!("set IMG_AUTHZ_ALLOW={setting} (or --allow {setting})"),
        )
    }
}
