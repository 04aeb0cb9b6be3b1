//! The action dispatch: one decoded action to one decision, and the
//! switchable operations and naming rules it applies.

use super::*;

impl Policy {
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
    pub(in crate::policy) fn audited(mut d: Decision) -> Decision {
        if d.outcome == Outcome::Deny
            && d.mode == Mode::Audit
            && !matches!(
                d.check,
                Check::RequestDecoding | Check::Internal | Check::SelfProtection
            )
        {
            d.outcome = Outcome::AuditAllow;
        }
        d
    }

    // The arms that wait on dockerd or a registry await boxed futures:
    // unboxed, each call's future (reads and cached pulls included) was
    // some 11 KiB, allocated and copied whole per call (BENCHMARKS.md).
    pub(in crate::policy) async fn decide_inner(&self, action: &Action, ctx: &Ctx) -> Decision {
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
            Action::Read { .. } => Decision::allow(Check::Default, "reads are allowed"),
            // Restart runs the container, as start does.
            Action::Control {
                route: RouteId::ContainerRestart,
                target,
            } => Box::pin(self.container_run(target, user)).await,
            Action::Control { .. } => {
                Decision::allow(Check::Default, "does not bring in or run an image")
            }
            Action::Login => Decision::allow(Check::Default, "login only checks credentials"),
            Action::Push { image } => self.push(image, user),
            Action::RemoteRead { image, search, .. } => self.remote_read(image, *search, user),
            Action::CopyTo { .. } => {
                if self.hardening_for(user).is_none() {
                    return Decision::allow(Check::Default, "no hardening applies to this user");
                }
                self.with_global_mode(self.switchable_op(
                    Op::Cp,
                    None,
                    user,
                    "a file copied into a container can replace the program it runs, which image trust does not check",
                ))
            }
            Action::NetworkConnect { network } => {
                Box::pin(self.network_connect(network, user)).await
            }
            // Their drivers were checked above.
            Action::NetworkCreate(_) | Action::SecretCreate { .. } => {
                Decision::allow(Check::Default, "built-in or allowed drivers only")
            }

            Action::Pull(p) => match self.rule_for(&p.image, user) {
                None => self.with_global_mode(self.no_rule(&p.image, "the image")),
                Some(r) => match &r.verifier {
                    Some(v) => Box::pin(self.trust.pull(p, v, &r.name)).await.by_rule(r),
                    None => unsigned_ok(r, &p.image),
                },
            },

            Action::Import { repo, .. } => {
                let target = parse_opt(repo);
                let d = self.with_global_mode(self.switchable_op(
                    Op::Import,
                    target.as_ref(),
                    user,
                    "imported images carry no provenance",
                ));
                self.then_naming(d, [repo.as_str()], "import", user)
            }
            Action::Load => self.with_global_mode(self.switchable_op(
                Op::Load,
                None,
                user,
                "loaded images carry no provenance",
            )),
            Action::Build(b) => {
                let names = || b.tags.iter().chain(&b.output_names).map(String::as_str);
                let target = names().next().and_then(parse_opt);
                let d = self.with_global_mode(self.switchable_op(
                    Op::Build,
                    target.as_ref(),
                    user,
                    "built images carry no provenance",
                ));
                self.then_naming(d, names(), "build", user)
            }
            Action::Session | Action::Grpc => self.with_global_mode(self.switchable_op(
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
                let d = self.with_global_mode(self.switchable_op(
                    Op::Commit,
                    target.as_ref(),
                    user,
                    "committed images carry no provenance",
                ));
                self.then_naming(d, [name.as_str()], "commit", user)
            }
            Action::Swarm { .. } => self.with_global_mode(self.switchable_op(
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
                        Check::Tag,
                        "the target is not in an authorized repository",
                    )
                    .with_image(target);
                };
                if self.op_allowed(Op::Tag, Some(target), user) {
                    return Decision::allow(Check::Tag, "tagging is allowed here")
                        .with_image(target)
                        .by_rule(rule);
                }
                // Docker Content Trust's pull tags `repo@<signed digest>` as
                // `repo:tag`: allowed when that digest is the one signed for
                // the tag.
                if let Some(v) = &rule.verifier {
                    if let Some(d) =
                        Box::pin(self.trust.signed_retag(v.as_ref(), source, target)).await
                    {
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
                        let d = Box::pin(self.network_connect(n, user)).await;
                        if !d.allowed() {
                            return d;
                        }
                    }
                }
                let d = Box::pin(self.image_in_use(&c.image, "the container image", user)).await;
                if !d.allowed() {
                    return d;
                }
                for hc in &c.host_configs {
                    if let Some(deny) = Box::pin(self.image_mounts(&hc.mounts, user)).await {
                        return deny;
                    }
                }
                d
            }

            Action::Service(s) => {
                if s.rollback {
                    return self.with_global_mode(Decision::deny(
                        Check::ContentBinding,
                        "a rollback deploys the service's previous spec, which this request does not show",
                        "update the service to the image you want (docker service update --image)",
                    ));
                }
                if let Some(remote) = &s.plugin_remote {
                    let target = parse_opt(remote);
                    let d = self.with_global_mode(self.switchable_op(
                        Op::Plugins,
                        target.as_ref(),
                        user,
                        "the service runs a plugin, and plugins run with host privileges",
                    ));
                    if !d.allowed() {
                        return d;
                    }
                    return self.image_named(remote, "the service plugin", user);
                }
                let d = Box::pin(self.service_image(&s.image, "the service image", user)).await;
                if !d.allowed() {
                    return d;
                }
                for m in s.mounts.iter().filter(|m| m.typ == "image") {
                    let md = Box::pin(self.service_image(&m.source, "the image mount", user)).await;
                    if !md.allowed() {
                        return md;
                    }
                }
                d
            }

            Action::Plugin(op) => match op {
                PluginOp::Pull { remote, .. } | PluginOp::Upgrade { remote, .. } => {
                    let target = parse_opt(remote);
                    let d = self.with_global_mode(self.switchable_op(
                        Op::Plugins,
                        target.as_ref(),
                        user,
                        "plugins run with host privileges",
                    ));
                    if !d.allowed() {
                        return d;
                    }
                    self.image_named(remote, "the plugin", user)
                }
                PluginOp::Create { .. } => self.with_global_mode(self.switchable_op(
                    Op::Plugins,
                    None,
                    user,
                    "plugins run with host privileges",
                )),
                // Settings can point a plugin's mounts and devices at the
                // host, and enabling runs it: plugin administration.
                PluginOp::Set { .. } | PluginOp::Enable { .. } => {
                    self.with_global_mode(self.switchable_op(
                        Op::Plugins,
                        None,
                        user,
                        "configuring or enabling a plugin runs it with host privileges",
                    ))
                }
                PluginOp::Disable { .. } | PluginOp::Remove { .. } | PluginOp::Push { .. } => {
                    Decision::allow(Check::Default, "plugin management")
                }
            },

            Action::ContainerStart { container, .. } => {
                Box::pin(self.container_run(container, user)).await
            }
            Action::Checkpoint { .. }
            | Action::ContainerUpdate { .. }
            | Action::ExecCreate { .. }
            | Action::VolumeCreate { .. } => {
                Decision::allow(Check::Default, "no image is brought in")
            }
        }
    }

    /// A switchable operation: allowed globally, or by the rule of the
    /// repository it names.
    pub(in crate::policy) fn switchable_op(
        &self,
        op: Op,
        target: Option<&Reference>,
        user: &str,
        why: &str,
    ) -> Decision {
        let rule = Check::from(op);
        let name = op.as_str();
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
    pub(in crate::policy) fn then_naming<'n>(
        &self,
        d: Decision,
        names: impl IntoIterator<Item = &'n str>,
        how: &str,
        user: &str,
    ) -> Decision {
        if !d.allowed() {
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
                        Check::RequestDecoding,
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
    pub(in crate::policy) fn naming_deny(&self, r: &Reference, how: &str) -> Decision {
        Decision::deny(
            Check::Tag,
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
    pub(in crate::policy) fn no_rule(&self, r: &Reference, what: &str) -> Decision {
        if let Some(d) = alias_deny(r, what) {
            return d;
        }
        let mut authorized: Vec<String> = self
            .rules
            .iter()
            .flat_map(|r| r.patterns.iter().map(ToString::to_string))
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
            Check::RegistryAllowlist,
            format!(
                "{what} {r} is from registry {}, which is not authorized (authorized: {shown})",
                r.domain
            ),
            hint,
        )
        .with_image(r)
    }

    /// A push: to a registry a rule authorizes, or the `push` operation.
    pub(in crate::policy) fn push(&self, image: &str, user: &str) -> Decision {
        let r = match Reference::parse_normalized(image) {
            Ok(r) => r,
            Err(e) => {
                return Decision::deny(
                    Check::RequestDecoding,
                    format!("the push names {image:?}, which is not a valid reference ({e})"),
                    "use a valid image reference",
                )
            }
        };
        if let Some(rule) = self.rule_for(&r, user) {
            return Decision::allow(
                Check::Push,
                format!("{} is under rule {}", r.domain, rule.name),
            )
            .with_image(&r)
            .by_rule(rule);
        }
        self.with_global_mode(self.switchable_op(
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
    pub(in crate::policy) fn remote_read(&self, image: &str, search: bool, user: &str) -> Decision {
        if search {
            // dockerd's splitReposSearchTerm: a first component with '.' or
            // ':', or `localhost`, is the registry to search; otherwise the
            // default index (Docker Hub), which only learns the term.
            let host = match image.split_once('/') {
                Some((h, _)) if h.contains(['.', ':']) || h == "localhost" => h,
                _ => return Decision::allow(Check::Default, "search of the default index"),
            };
            if ["docker.io", "index.docker.io"]
                .iter()
                .any(|d| d.eq_ignore_ascii_case(host))
                || self.registry_known(host)
            {
                return Decision::allow(Check::RegistryAllowlist, format!("search of {host}"));
            }
            return self.with_global_mode(Decision::deny(
                Check::RegistryAllowlist,
                format!("the image search would make dockerd contact registry {host}, which is not authorized"),
                format!("add {host} to REGISTRY, or search without a registry host"),
            ));
        }
        if image.is_empty() {
            // dockerd refuses a missing reference itself.
            return Decision::allow(Check::Default, "no registry named");
        }
        let d = self.image_named(image, "the image dockerd would look up", user);
        if d.allowed() {
            d
        } else {
            self.with_global_mode(d)
        }
    }

    /// Whether some rule covers repositories of registry `host`.
    pub(in crate::policy) fn registry_known(&self, host: &str) -> bool {
        self.cfg.registry_allowed(host)
            || self.rules.iter().any(|r| {
                r.patterns.iter().any(|p| match p.registry() {
                    None => true,
                    Some(d) => d.eq_ignore_ascii_case(host),
                })
            })
    }
}
