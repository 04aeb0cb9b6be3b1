//! Hardening applied to requests: the layers in effect for a user (the
//! baseline and the policy file's), what dockerd says about itself, and
//! which layer a deny tells the user to change.

use crate::daemon::DaemonError;
use crate::policy::*;

/// Why a hardening check that needs dockerd's word could not be made (the
/// request is denied: fail closed).
#[derive(Debug, thiserror::Error)]
pub(in crate::policy) enum LookupError {
    #[error("cannot ask dockerd about itself (GET /info): {0}")]
    Info(DaemonError),
    #[error(
        "cannot ask dockerd whether the service's network {network:?} is the host's: {source}"
    )]
    HostNetwork {
        network: String,
        source: DaemonError,
    },
}

/// The hardening in effect for one user.
pub(in crate::policy) struct Layers {
    /// The baseline (unless off) with the policy file's on top.
    spec: HardeningSpec,
    /// The policy file's alone, if it has a `[hardening]`: which of the
    /// two a deny comes from decides what the message tells to change.
    file: Option<HardeningSpec>,
    baseline: bool,
    mode: Mode,
}

impl Policy {
    /// Hardening in effect for `user`: the baseline (unless
    /// `IMG_AUTHZ_HARDENING=off`) with the policy file's on top.
    pub(in crate::policy) fn hardening_for(&self, user: &str) -> Option<Layers> {
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
    pub(in crate::policy) async fn daemon_facts(&self) -> Result<Arc<DaemonFacts>, LookupError> {
        if let Ok(g) = self.facts.lock() {
            if let Some((f, at)) = &*g {
                if at.elapsed() < std::time::Duration::from_secs(60) {
                    return Ok(f.clone());
                }
            }
        }
        let info = self.daemon.info().await.map_err(LookupError::Info)?;
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
    pub(in crate::policy) async fn harden(
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
                        Check::Hardening,
                        why.to_string(),
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
                    Check::Hardening,
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
                    Check::Hardening,
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
                    Check::Hardening,
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

    /// Hardening of the policy file, for the actions it covers.
    pub(in crate::policy) async fn hardening(
        &self,
        action: &Action,
        ctx: &Ctx,
    ) -> Option<Decision> {
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
        // Boxed: only the calls hardening checks carry its future.
        Box::pin(self.hardening_checked(action, ctx)).await
    }

    /// [`Self::hardening`] of an action it covers.
    async fn hardening_checked(&self, action: &Action, ctx: &Ctx) -> Option<Decision> {
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
                            Check::Hardening,
                            why.to_string(),
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
    pub(in crate::policy) async fn start_hardening(
        &self,
        info: &ContainerInfo,
        user: &str,
    ) -> Option<Decision> {
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
                        Check::Hardening,
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
    pub(in crate::policy) async fn stored_hardening(
        &self,
        info: &ContainerInfo,
        user: &str,
    ) -> Option<Decision> {
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
}
