//! Drivers a request names that dockerd would load as plugins, and the
//! networks a container joins.

use super::*;

impl Policy {
    /// Every driver a request names that dockerd would look up as a
    /// plugin: built-in drivers pass, any other is the `plugins` operation,
    /// and a name with `/` or `..` (a path dockerd joins into its plugin
    /// directories, loading a plugin from any file) is never allowed.
    pub(in crate::policy) fn named_drivers(
        &self,
        action: &Action,
        user: &str,
        paths_only: bool,
    ) -> Option<Decision> {
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
            .find(|d| !d.allowed())
    }

    /// One driver name (see `named_drivers`).
    pub(in crate::policy) fn driver(&self, kind: DriverKind, name: &str, user: &str) -> Decision {
        if kind.built_in(name) {
            return Decision::allow(
                Check::Default,
                format!("{} driver {name:?} is built in", kind.as_str()),
            );
        }
        if is_path(name) {
            // Enforced in audit mode too: it hands out the host.
            return Decision::deny(
                Check::Plugins,
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
        self.with_global_mode(self.switchable_op(
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
    pub(in crate::policy) async fn network_connect(&self, network: &str, user: &str) -> Decision {
        let n = match self.daemon.inspect_network(network).await {
            Ok(Some(n)) => n,
            // dockerd fails the connect itself.
            Ok(None) => return Decision::allow(Check::Default, "no such network"),
            Err(e) => {
                return self.with_global_mode(Decision::deny(
                    Check::Plugins,
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
            if !d.allowed() {
                return d;
            }
        }
        Decision::allow(Check::Default, "the network's drivers are allowed")
    }

    /// Whether one of a service's network targets (names or IDs, as the
    /// CLI sends them) is the host's network.
    pub(in crate::policy) async fn host_network(
        &self,
        targets: &[String],
    ) -> Result<bool, hardening::apply::LookupError> {
        for t in targets {
            if t == "host" {
                return Ok(true);
            }
            match self.daemon.inspect_network(t).await {
                Ok(Some(n)) if n.name == "host" || n.driver == "host" => return Ok(true),
                // Unknown to dockerd: the service create fails there.
                Ok(_) => {}
                Err(source) => {
                    return Err(hardening::apply::LookupError::HostNetwork {
                        network: t.clone(),
                        source,
                    })
                }
            }
        }
        Ok(false)
    }
}

/// Network modes that name no user-defined network: the predefined
/// networks (built-in drivers) and another container's namespace.
pub(super) fn predefined_network(mode: &str) -> bool {
    matches!(mode, "" | "default" | "bridge" | "host" | "none") || mode.starts_with("container:")
}

/// A driver name dockerd would join into its plugin directories as a path.
pub(super) fn is_path(name: &str) -> bool {
    name.contains('/') || name.contains("..")
}

/// The drivers a HostConfig names: its log driver and volume drivers.
pub(super) fn host_drivers(hc: &HostConfig) -> Vec<(DriverKind, &str)> {
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
