//! Images a request will run: a container's image, image mounts, a
//! service's image and named plugin images, each under its rule and, with a
//! verifier, bound to signed content (`binding`).

use super::*;

impl Policy {
    /// An image named in a request, with no local resolution (plugins).
    pub(in crate::policy) fn image_named(&self, image: &str, what: &str, user: &str) -> Decision {
        match ImageRef::parse(image, what) {
            Ok(ImageRef::Id(id)) => Decision::deny(
                Check::RegistryAllowlist,
                format!("{what} is given by image ID ({id}), which does not say which registry it came from"),
                "refer to the image by its name in an authorized registry",
            ),
            Ok(ImageRef::Named(r)) => match self.rule_for(&r, user) {
                None => self.no_rule(&r, what),
                Some(rule) => Decision::allow(Check::RegistryAllowlist, format!("{r} is under rule {}", rule.name))
                    .with_image(&r)
                    .by_rule(rule),
            },
            Err(d) => d,
        }
    }

    /// The image a container (or image mount) will use: by name it must be
    /// under a trust rule; with a verifier, the image the daemon resolves
    /// must be bound to a signed digest.
    pub(in crate::policy) async fn image_in_use(
        &self,
        image: &str,
        what: &str,
        user: &str,
    ) -> Decision {
        let parsed = match ImageRef::parse(image, what) {
            Ok(p) => p,
            Err(d) => return d,
        };
        let rule = match &parsed {
            ImageRef::Named(r) => match self.rule_for(r, user) {
                Some(rule) => Some(rule),
                None if looks_like_short_id(image) => {
                    return Decision::deny(
                        Check::RegistryAllowlist,
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
                        Check::RegistryAllowlist,
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
                let local = match t.local_image(image, &parsed, what).await {
                    Ok(l) => l,
                    Err(d) => return d,
                };
                match &parsed {
                    ImageRef::Named(named) if !local.resolved_by_id(image, named) => {
                        match self.rule_for(&named.repository(), user) {
                            Some(rule) => t.named_local(image, &local, named, rule).await,
                            None => Decision::deny(
                                Check::RegistryAllowlist,
                                format!("{named} is under no rule"),
                                "",
                            ),
                        }
                    }
                    _ => {
                        let under_rules: Vec<_> = local
                            .digests()
                            .iter()
                            .filter_map(|(name, d)| {
                                let repo = Reference::parse_normalized(name).ok()?;
                                let rule = self.rule_for(&repo, user)?;
                                Some((repo, name.as_str(), d.as_str(), rule))
                            })
                            .collect();
                        t.by_id(image, &local, what, &under_rules).await
                    }
                }
            }
        }
    }

    /// Starting (or restarting) a container runs the image it was created
    /// from, fixed by ID at creation: checked again here, so that a tag
    /// moved between the create check and dockerd's own lookup (by a
    /// concurrent load or pull) never runs. Containers made before the
    /// plugin was enabled are covered too.
    pub(in crate::policy) async fn container_run(&self, container: &str, user: &str) -> Decision {
        let info = match self.daemon.inspect_container(container).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                return self.with_global_mode(Decision::deny(
                    Check::ContentBinding,
                    format!("container {container:?} does not exist, so the image it would run cannot be checked"),
                    "create the container first",
                ))
            }
            Err(e) => {
                return self.with_global_mode(Decision::deny(
                    Check::ContentBinding,
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
        if d.allowed() {
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
                self.with_global_mode(d)
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

    pub(in crate::policy) async fn image_mounts(
        &self,
        mounts: &[Mount],
        user: &str,
    ) -> Option<Decision> {
        for m in mounts.iter().filter(|m| m.typ == "image") {
            let d = self.image_in_use(&m.source, "the image mount", user).await;
            if !d.allowed() {
                return Some(d);
            }
        }
        None
    }

    /// A service image: under a rule, and with a verifier pinned by a
    /// signed digest (the swarm pulls it later, unseen).
    pub(in crate::policy) async fn service_image(
        &self,
        image: &str,
        what: &str,
        user: &str,
    ) -> Decision {
        if looks_like_short_id(image) {
            return Decision::deny(
                Check::RegistryAllowlist,
                format!("{what} {image:?} may be read by dockerd as a short image ID, which names no registry"),
                "refer to the image by its name in an authorized registry",
            );
        }
        let r = match ImageRef::parse(image, what) {
            Ok(ImageRef::Named(r)) => r,
            Ok(ImageRef::Id(id)) => {
                return Decision::deny(
                    Check::RegistryAllowlist,
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
}
