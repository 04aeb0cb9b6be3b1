//! `img-authz check IMAGE`: would this image be pulled *and* run here?
//!
//! A pull and a run are decided by different checks: the pull by the
//! image's rule and signature, the run at container create by the image the
//! daemon resolves (content binding) and the hardening of the create. This
//! decides both, the create as `docker create IMAGE` sends it (no options:
//! the daemon's defaults, which hardening judges). The create needs the
//! daemon; when it cannot be reached, the create is reported as not checked
//! rather than guessed.

use std::fmt::Write as _;

use super::{Ctx, Decision, Policy};
use crate::request::action::{Action, ContainerSpec, Pull};
use crate::request::reference::Reference;

/// The create half of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateCheck {
    Decided(Decision),
    /// The daemon could not be asked (why): the create was not decided.
    Unchecked(String),
}

/// Both decisions for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCheck {
    pub image: Reference,
    pub pull: Decision,
    pub create: CreateCheck,
}

impl ImageCheck {
    /// Neither the pull nor the create is denied (an unchecked create is
    /// not a deny; the report says it was not checked).
    pub fn allowed(&self) -> bool {
        self.pull.allow
            && match &self.create {
                CreateCheck::Decided(d) => d.allow,
                CreateCheck::Unchecked(_) => true,
            }
    }

    /// The text `img-authz check` prints: the verdict, then each decision.
    pub fn report(&self) -> String {
        let audit = self.pull.audit || matches!(&self.create, CreateCheck::Decided(d) if d.audit);
        let unchecked = matches!(self.create, CreateCheck::Unchecked(_));
        // An unchecked create must not read as a plain ALLOW (a CI gate
        // reading the first line would take it for both halves).
        let verdict = match (self.allowed(), audit, unchecked) {
            (true, _, true) => "ALLOW (the pull only: the create could not be checked)",
            (true, false, false) => "ALLOW",
            (true, true, false) => "ALLOW (audit mode: would be denied)",
            (false, _, _) => "DENY",
        };
        let mut out = format!(
            "{verdict}: pull of {} and create of a container from it (default settings)\n",
            self.image
        );
        out.push_str(&describe("pull", &self.pull));
        match &self.create {
            CreateCheck::Decided(d) => out.push_str(&describe("create", d)),
            CreateCheck::Unchecked(why) => {
                let _ = writeln!(out, "create: could not be checked ({why})");
                out.push_str(
                    "  to check it: run img-authz check where dockerd's API is reachable (DOCKER_HOST)\n",
                );
            }
        }
        out
    }
}

/// A decision's outcome as the CLI prints it (the log's label is
/// `log::Entry::outcome`).
pub fn outcome_label(d: &Decision) -> &'static str {
    match (d.allow, d.audit) {
        (true, false) => "ALLOW",
        (true, true) => "ALLOW (audit mode: would be denied)",
        (false, _) => "DENY",
    }
}

/// One decision, as `check` prints it.
fn describe(what: &str, d: &Decision) -> String {
    let outcome = outcome_label(d);
    let mut out = format!("{what}: {outcome}\n");
    let source = d
        .source
        .as_deref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let _ = writeln!(out, "  rule:   {}{source}", d.rule);
    let _ = writeln!(out, "  reason: {}", d.reason);
    if let Some(digest) = &d.digest {
        let _ = writeln!(out, "  digest: {digest}");
    }
    if !d.allow || d.audit {
        let _ = writeln!(out, "  to allow it: {}", d.hint);
    }
    out
}

impl Policy {
    /// Decide a pull of `image` and a create of a container from it.
    pub async fn check_image(&self, image: &Reference, ctx: &Ctx) -> ImageCheck {
        let pull = self
            .decide(
                &Action::Pull(Pull {
                    image: image.clone(),
                    platform: String::new(),
                }),
                ctx,
            )
            .await;
        // Without the daemon every create check that needs it would deny
        // for that reason alone: say so instead of reporting a deny.
        let create = match self.daemon.info().await {
            Err(e) => CreateCheck::Unchecked(format!("daemon unreachable: {e}")),
            Ok(_) => {
                let spec = ContainerSpec {
                    image: image.to_string(),
                    ..Default::default()
                };
                CreateCheck::Decided(
                    self.decide(&Action::ContainerCreate(Box::new(spec)), ctx)
                        .await,
                )
            }
        };
        ImageCheck {
            image: image.clone(),
            pull,
            create,
        }
    }
}
