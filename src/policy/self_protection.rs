//! Self-protection: requests that would disable, remove, upgrade or
//! reconfigure this plugin, or stop its container, are denied whatever
//! else allows them.

use super::*;

impl Policy {
    /// Requests that would disable, remove, upgrade or reconfigure this
    /// plugin, or stop its container, are denied whatever else allows them.
    pub(in crate::policy) async fn self_protection(&self, action: &Action) -> Option<Decision> {
        let deny = |what: String| {
            Decision::deny(
                Check::SelfProtection,
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
                    Action::Control { route, target } if SELF_STOPS.contains(route) => target,
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
