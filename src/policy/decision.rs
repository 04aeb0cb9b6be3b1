//! What a decision is: its outcome, the check that made it, the typed cause
//! of a deny and the words shown to the user.

use std::fmt;

use super::file::Mode;
use super::CompiledRule;
use crate::request::reference::Reference;

/// The check that made a decision, by the name used in messages, logs
/// (`rule`) and docs. Not a policy-file rule: that one is `Decision::source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
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

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Default => "default",
            Check::RegistryAllowlist => "registry-allowlist",
            Check::Import => "import",
            Check::Load => "load",
            Check::Build => "build",
            Check::Commit => "commit",
            Check::Plugins => "plugins",
            Check::Tag => "tag",
            Check::Swarm => "swarm",
            Check::Cp => "cp",
            Check::Push => "push",
            Check::Signature => "signature",
            Check::ContentBinding => "content-binding",
            Check::Hardening => "hardening",
            Check::SelfProtection => "self-protection",
            Check::Ownership => "ownership",
            Check::RequestDecoding => "request-decoding",
            Check::Internal => "internal",
        }
    }
}

/// The check of a switchable operation has the operation's name.
impl From<crate::op::Op> for Check {
    fn from(op: crate::op::Op) -> Check {
        use crate::op::Op;
        match op {
            Op::Import => Check::Import,
            Op::Load => Check::Load,
            Op::Build => Check::Build,
            Op::Commit => Check::Commit,
            Op::Plugins => Check::Plugins,
            Op::Tag => Check::Tag,
            Op::Swarm => Check::Swarm,
            Op::Cp => Check::Cp,
            Op::Push => Check::Push,
        }
    }
}

impl fmt::Display for Check {
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

/// What dockerd is told, and whether audit mode turned a deny into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Allow,
    Deny,
    /// Audit mode: a check denied it, and it is allowed (and logged so).
    AuditAllow,
}

impl Outcome {
    /// Whether dockerd is told to go ahead.
    pub fn allows(self) -> bool {
        !matches!(self, Outcome::Deny)
    }

    /// The decision log's and the metrics' spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::AuditAllow => "audit",
        }
    }

    /// The verdict `img-authz check` prints.
    pub fn verdict(self) -> &'static str {
        match self {
            Outcome::Allow => "ALLOW",
            Outcome::Deny => "DENY",
            Outcome::AuditAllow => "ALLOW (audit mode: would be denied)",
        }
    }
}

/// The log writes the outcome as its name.
impl serde::Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome for one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub check: Check,
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
    /// The mode that applies to this decision.
    pub mode: Mode,
}

impl Decision {
    pub fn allow(check: Check, reason: impl Into<String>) -> Decision {
        Decision {
            outcome: Outcome::Allow,
            check,
            cause: None,
            reason: reason.into(),
            hint: String::new(),
            image: None,
            digest: None,
            source: None,
            mode: Mode::Enforce,
        }
    }

    pub fn deny(check: Check, reason: impl Into<String>, hint: impl Into<String>) -> Decision {
        Decision {
            outcome: Outcome::Deny,
            cause: Some(DenyCause::Policy),
            hint: hint.into(),
            ..Decision::allow(check, reason)
        }
    }

    /// Whether dockerd is told to go ahead (an audit-mode allow included).
    pub fn allowed(&self) -> bool {
        self.outcome.allows()
    }

    /// Whether the user is shown how to allow it: a deny, or an audit-mode
    /// allow that would have been one.
    pub fn denied_by_a_check(&self) -> bool {
        self.outcome != Outcome::Allow
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

    pub(super) fn by_rule(mut self, r: &CompiledRule) -> Decision {
        self.source = Some(r.name.clone());
        self.mode = r.mode;
        self
    }

    /// The message dockerd shows after "authorization denied by plugin NAME: ".
    pub fn message(&self, what: &str) -> String {
        if self.allowed() {
            return String::new();
        }
        let mut m = format!(
            "{what} denied by img-authz rule '{}': {}",
            self.check, self.reason
        );
        if !self.hint.is_empty() {
            m.push_str(". To allow it: ");
            m.push_str(&self.hint);
        }
        m
    }
}

/// Unsigned images are allowed under `rule`.
pub(super) fn unsigned_ok(rule: &CompiledRule, image: &Reference) -> Decision {
    Decision::allow(
        Check::RegistryAllowlist,
        format!("{} allows unsigned images ({})", rule.name, image.domain),
    )
    .with_image(image)
    .by_rule(rule)
}
