//! Container ownership (`[ownership]` of the policy file): on a daemon
//! shared by several users, each touches only the containers it created.
//!
//! The request phase of `POST /containers/create` and `POST
//! /containers/{id}/exec` knows the user; their response phase (status
//! 201) carries the new ID, which is recorded (see `ownership_store`)
//! before the plugin answers. Every call that acts on or reads one
//! container is then allowed only to its owner or to an admin; the
//! reference (name, ID or ID prefix) is resolved to the full ID through
//! dockerd, as dockerd itself will resolve it. A container with no recorded
//! owner belongs to admins only.
//!
//! [`scope`] classifies every route of dockerd's table, with no catch-all
//! arm: a new route does not compile until someone says whether it is
//! checked. Not covered, and said in docs/limits.md ("Multi-user
//! daemons"): listings (`docker ps`, events, `system df`) cannot be
//! filtered by the protocol; `GET /containers/{id}/json` (inspect) is
//! exempt, see [`scope`]; volumes and networks are shared by name.

use crate::daemon::{ContainerInfo, DaemonError};
use crate::ownership_store::{OwnerStore, StoreError};
use crate::request::action::{Action, HostConfig};
use crate::request::routes::RouteId;
use crate::request::Decoded;

use super::rules::user_matches;
use super::{Check, Ctx, Decision, Policy};

/// Why the owner of a new container or exec instance was not recorded:
/// the response is withheld with this message.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the container was created, but its owner {user} cannot be recorded: {why}; it belongs to admins")]
    ContainerId { user: String, why: NewIdError },
    #[error("container {id} was created, but its owner {user} cannot be recorded ({why}); it belongs to admins")]
    ContainerStore {
        id: String,
        user: String,
        why: StoreError,
    },
    #[error("the exec instance was created, but its owner {user} cannot be recorded: {why}; it belongs to admins")]
    Exec { user: String, why: ExecCause },
}

/// The new ID in dockerd's `201` answer is missing or not a full ID.
#[derive(Debug, thiserror::Error)]
pub enum NewIdError {
    #[error("dockerd's answer carries no readable ID ({0})")]
    Unreadable(serde_json::Error),
    #[error("dockerd's answer carries the ID {0:?}, which is not a full ID")]
    NotFull(String),
}

/// Why a new exec instance's container or record is unknown.
#[derive(Debug, thiserror::Error)]
pub enum ExecCause {
    #[error(transparent)]
    Id(NewIdError),
    #[error("container {0:?} is gone")]
    ContainerGone(String),
    #[error(transparent)]
    Daemon(DaemonError),
    #[error(transparent)]
    Store(StoreError),
}

/// What one route does to containers, as far as ownership goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Acts on or reads the container its first path variable names.
    Container(&'static str),
    /// `POST /commit?container=`: reads the container the query names.
    CommitContainer,
    /// Acts on the exec instance its path variable names, and so on that
    /// exec's container.
    Exec(&'static str),
    /// Acts on the container named by the body's `Container` (network
    /// connect and disconnect).
    BodyContainer(&'static str),
    /// Removes every stopped container, whoever owns it: admins only.
    EveryContainer,
    /// Names a container but is not checked, for the reason given.
    Exempt(&'static str),
    /// Creates a container (its references to other containers are
    /// checked; the new one is recorded in the response phase).
    Create,
    /// Not about one container.
    NotContainer,
}

/// Why inspect is exempt (docs/limits.md, "Multi-user daemons").
pub const INSPECT_EXEMPT: &str = "inspect is how the plugin itself (and the CLI, before exec, cp, attach) resolves \
     a name to an ID, and `docker ps`, which no plugin can filter, lists the same containers; it shows a container's \
     configuration (environment included) but acts on nothing and reads none of its files, output or processes";

/// Every route, classified. No `_` arm on purpose.
pub fn scope(route: RouteId) -> Scope {
    use RouteId::*;
    use Scope::*;
    match route {
        CheckpointList => Container("list the checkpoints of"),
        CheckpointCreate => Container("checkpoint"),
        CheckpointDelete => Container("delete a checkpoint of"),
        ContainerArchiveHead => Container("copy files from"),
        ContainerArchiveGet => Container("copy files from"),
        ContainerArchivePut => Container("copy files into"),
        ContainerCopy => Container("copy files from"),
        ContainerExport => Container("export"),
        ContainerChanges => Container("read the changes of"),
        ContainerInspect => Exempt(INSPECT_EXEMPT),
        ContainerTop => Container("list the processes of"),
        ContainerLogs => Container("read the logs of"),
        ContainerStats => Container("read the stats of"),
        ContainerAttachWs => Container("attach to"),
        ContainerAttach => Container("attach to"),
        ContainerKill => Container("kill"),
        ContainerPause => Container("pause"),
        ContainerUnpause => Container("unpause"),
        ContainerRestart => Container("restart"),
        ContainerStart => Container("start"),
        ContainerStop => Container("stop"),
        ContainerWait => Container("wait for"),
        ContainerResize => Container("resize the terminal of"),
        ContainerRename => Container("rename"),
        ContainerUpdate => Container("update"),
        ContainerDelete => Container("remove"),
        ExecCreate => Container("exec into"),
        ExecInspect => Exec("inspect an exec in"),
        ExecStart => Exec("exec into"),
        ExecResize => Exec("resize an exec in"),
        Commit => CommitContainer,
        ContainerPrune => EveryContainer,
        ContainerCreate => Create,
        // Listings: the protocol cannot filter a response (docs/limits.md).
        ContainerList => NotContainer,
        ImageList | ImageSearch | ImageGetAll | ImageGet | ImageHistory | ImageInspect
        | ImageAttestations | ImageLoad | ImageCreate | ImagePush | ImageTag | ImagePrune
        | ImageDelete | Options | Ping | PingHead | Events | Info | Version | SystemDf | Auth
        | VolumeList | VolumeInspect | VolumeCreate | VolumePrune | VolumeUpdate | VolumeDelete
        | Build | BuildPrune | BuildCancel | Session | SwarmInit | SwarmJoin | SwarmLeave
        | SwarmInspect | SwarmUnlockKey | SwarmUpdate | SwarmUnlock | ServiceList
        | ServiceInspect | ServiceCreate | ServiceUpdate | ServiceDelete | ServiceLogs
        | NodeList | NodeInspect | NodeDelete | NodeUpdate | TaskList | TaskInspect | TaskLogs
        | SecretList | SecretCreate | SecretDelete | SecretInspect | SecretUpdate | ConfigList
        | ConfigCreate | ConfigDelete | ConfigInspect | ConfigUpdate | PluginList
        | PluginInspect | PluginPrivileges | PluginRemove | PluginEnable | PluginDisable
        | PluginPull | PluginPush | PluginUpgrade | PluginSet | PluginCreate
        | DistributionInspect | NetworkList | NetworkListSlash | NetworkInspect | NetworkCreate
        | NetworkPrune | NetworkDelete | Debug | Grpc => NotContainer,
        NetworkConnect => BodyContainer("connect to a network"),
        NetworkDisconnect => BodyContainer("disconnect from a network"),
    }
}

/// Ownership in force: the admins and the record.
pub struct Ownership {
    pub admins: Vec<String>,
    pub store: OwnerStore,
}

impl Ownership {
    pub fn is_admin(&self, user: &str) -> bool {
        // An empty list names nobody (user_matches would take it as "all").
        !self.admins.is_empty() && user_matches(&self.admins, user)
    }
}

/// The container a `container:<ref>` namespace mode or `VolumesFrom` entry
/// names, for the verb to use in messages.
fn shared_containers(hc: &HostConfig) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for (mode, what) in [
        (&hc.network_mode, "join the network namespace of"),
        (&hc.pid_mode, "join the process namespace of"),
        (&hc.ipc_mode, "join the IPC namespace of"),
    ] {
        if let Some(c) = mode.strip_prefix("container:") {
            out.push((c.to_string(), what));
        }
    }
    for v in &hc.volumes_from {
        // `name[:ro|:rw]` (dockerd's parseVolumesFrom splits at the first ':').
        let name = v.split(':').next().unwrap_or(v);
        out.push((name.to_string(), "mount the volumes of"));
    }
    out
}

impl Policy {
    pub fn ownership(&self) -> Option<&Ownership> {
        self.ownership.as_ref()
    }

    fn ownership_hint(&self, own: &Ownership, owner: Option<&str>) -> String {
        let path = self
            .file
            .as_ref()
            .map(|f| f.path.display().to_string())
            .unwrap_or_default();
        let admins = if own.admins.is_empty() {
            "none yet".to_string()
        } else {
            own.admins.join(", ")
        };
        match owner {
            Some(o) => format!(
                "run it as {o}, or as an admin ([ownership] admins in the policy file {path}: {admins})"
            ),
            None => format!(
                "run it as an admin ([ownership] admins in the policy file {path}: {admins})"
            ),
        }
    }

    /// Resolve `reference` as dockerd will; a deny when it cannot be.
    async fn resolve_container(
        &self,
        reference: &str,
        verb: &str,
    ) -> Result<ContainerInfo, Decision> {
        let hint = "name the container by its full name or full ID";
        match self.daemon.inspect_container(reference).await {
            // dockerd looks a reference up as a full ID, then a name, then
            // an ID prefix. A hexadecimal name that is not this container's
            // ID prefix can be renamed away between this check and dockerd's
            // own lookup, which would then find another container by prefix.
            Ok(Some(i)) if !i.id.is_empty() && hex_name_not_prefix(reference, &i.id) => {
                Err(Decision::deny(
                    Check::Ownership,
                    format!(
                        "{reference:?} names container {} by a name that could also be another \
                         container's ID prefix, so the container dockerd acts on may not be the one checked",
                        i.name.trim_start_matches('/')
                    ),
                    "name the container by its full ID, or give it a name that is not hexadecimal",
                ))
            }
            Ok(Some(i)) if !i.id.is_empty() => Ok(i),
            Ok(Some(_)) => Err(Decision::deny(
                Check::Ownership,
                format!("dockerd did not say which container {reference:?} is, so its owner is unknown"),
                hint,
            )),
            Ok(None) => Err(Decision::deny(
                Check::Ownership,
                format!("no container {reference:?} is known to dockerd, so nobody may {verb} it"),
                hint,
            )),
            Err(e) => Err(Decision::deny(
                Check::Ownership,
                format!(
                    "cannot tell which container {reference:?} is (an unknown or ambiguous name or ID prefix?): {e}"
                ),
                hint,
            )),
        }
    }

    fn store_deny(&self, e: StoreError) -> Decision {
        Decision::deny(
            Check::Ownership,
            format!("the owner cannot be looked up: {e}"),
            "repair or remove the ownership record in the state directory (IMG_AUTHZ_STATE_DIR); \
             removing it leaves every container to admins",
        )
    }

    /// Allowed when `user` owns the container `reference` names.
    async fn owns_container(
        &self,
        own: &Ownership,
        reference: &str,
        user: &str,
        verb: &str,
    ) -> Decision {
        let info = match self.resolve_container(reference, verb).await {
            Ok(i) => i,
            Err(d) => return d,
        };
        let name = info.name.trim_start_matches('/');
        let short: String = info.id.chars().take(12).collect();
        match own.store.container_owner(&info.id) {
            Ok(Some(o)) if o == user => {
                Decision::allow(Check::Ownership, format!("{user} owns container {name}"))
            }
            Ok(Some(o)) => Decision::deny(
                Check::Ownership,
                format!("container {name} ({short}) belongs to {o}; {user} may not {verb} it"),
                self.ownership_hint(own, Some(&o)),
            ),
            Ok(None) => Decision::deny(
                Check::Ownership,
                format!(
                    "container {name} ({short}) has no recorded owner (made before ownership was on, or not \
                     through this plugin), so it belongs to admins; {user} may not {verb} it"
                ),
                self.ownership_hint(own, None),
            ),
            Err(e) => self.store_deny(e),
        }
    }

    /// The ownership check of one call; `None` when ownership is off or
    /// the call touches no one else's container.
    pub async fn ownership_check(
        &self,
        d: &Decoded,
        req: &crate::protocol::AuthzRequest,
        ctx: &Ctx,
    ) -> Option<Decision> {
        let own = self.ownership.as_ref()?;
        let route = d.route?;
        let user = ctx.user.as_str();
        let checked = !matches!(scope(route), Scope::Exempt(_) | Scope::NotContainer);
        if !checked || own.is_admin(user) {
            return None;
        }
        let first = d.vars.first().map(String::as_str).unwrap_or("");
        let decision = match scope(route) {
            // A start on API < 1.24 may carry a HostConfig that shares
            // other containers, as a create's does.
            Scope::Container(verb) => match &d.action {
                Action::ContainerStart { host_configs, .. } if !host_configs.is_empty() => {
                    let d = self.owns_container(own, first, user, verb).await;
                    if !d.allowed() {
                        return Some(self.with_global_mode(d));
                    }
                    return self.shared(own, host_configs, user).await;
                }
                _ => self.owns_container(own, first, user, verb).await,
            },
            Scope::CommitContainer => {
                let container = match &d.action {
                    Action::Commit { container, .. } => container.as_str(),
                    _ => "",
                };
                self.owns_container(own, container, user, "commit").await
            }
            Scope::BodyContainer(verb) => match crate::request::network_container(req) {
                Ok(c) if !c.is_empty() => self.owns_container(own, &c, user, verb).await,
                Ok(_) => Decision::deny(
                    Check::Ownership,
                    "the call names no container, so its owner cannot be checked",
                    "name the container (\"Container\" in the body)",
                ),
                Err(e) => Decision::deny(
                    Check::Ownership,
                    format!("the container the call acts on cannot be read: {e}"),
                    "send the request as the Docker CLI does",
                ),
            },
            Scope::Exec(verb) => match own.store.exec(first) {
                Ok(Some(e)) => self.owns_container(own, &e.container, user, verb).await,
                Ok(None) => Decision::deny(
                    Check::Ownership,
                    format!(
                        "exec instance {first:?} was not created through this plugin with ownership on, so it \
                         belongs to admins; {user} may not use it"
                    ),
                    self.ownership_hint(own, None),
                ),
                Err(e) => self.store_deny(e),
            },
            Scope::EveryContainer => Decision::deny(
                Check::Ownership,
                format!("container prune removes every stopped container, whoever owns it; {user} is not an admin"),
                format!("remove your own containers by name (docker rm), or {}", self.ownership_hint(own, None)),
            ),
            Scope::Create => match &d.action {
                Action::ContainerCreate(c) => return self.shared(own, &c.host_configs, user).await,
                _ => return None,
            },
            Scope::Exempt(_) | Scope::NotContainer => return None,
        };
        if decision.allowed() {
            None
        } else {
            Some(self.with_global_mode(decision))
        }
    }

    /// Containers whose namespaces or volumes a HostConfig shares must be
    /// the user's too.
    async fn shared(&self, own: &Ownership, hcs: &[HostConfig], user: &str) -> Option<Decision> {
        for hc in hcs {
            for (c, verb) in shared_containers(hc) {
                let r = self.owns_container(own, &c, user, verb).await;
                if !r.allowed() {
                    return Some(self.with_global_mode(r));
                }
            }
        }
        None
    }

    /// The response phase: record the owner of a new container or exec
    /// instance, forget removed containers. `Err`: the output must be
    /// withheld, with this message (the owner could not be recorded).
    pub async fn ownership_response(
        &self,
        req: &crate::protocol::AuthzRequest,
    ) -> Result<(), RecordError> {
        let Some(own) = self.ownership.as_ref() else {
            return Ok(());
        };
        let Ok(target) = crate::request::uri::parse_target(&req.request_uri) else {
            return Ok(());
        };
        let Some(m) = crate::request::routes::match_route(&req.request_method, &target.path) else {
            return Ok(());
        };
        let status = req.response_status_code.unwrap_or(0);
        let user = self.user_of(&req.user);
        let new_id = || -> Result<String, NewIdError> {
            #[derive(serde::Deserialize)]
            struct Created {
                #[serde(rename = "Id")]
                id: String,
            }
            let body = req.response_body.as_deref().unwrap_or_default();
            let c: Created = serde_json::from_slice(body).map_err(NewIdError::Unreadable)?;
            if c.id.len() != 64 || !c.id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(NewIdError::NotFull(c.id));
            }
            Ok(c.id)
        };
        match (m.id, status) {
            (RouteId::ContainerCreate, 201) => {
                let id = new_id().map_err(|why| RecordError::ContainerId {
                    user: user.clone(),
                    why,
                })?;
                own.store.record_container(&id, &user).map_err(|why| {
                    RecordError::ContainerStore {
                        id: id.clone(),
                        user: user.clone(),
                        why,
                    }
                })?;
                // Containers removed unseen (`run --rm`, by dockerd) now and then.
                if own.store.containers().is_ok_and(|n| n % 64 == 0) {
                    self.prune_owners(own).await;
                }
                Ok(())
            }
            (RouteId::ExecCreate, 201) => {
                let fail = |why: ExecCause| RecordError::Exec {
                    user: user.clone(),
                    why,
                };
                let id = new_id().map_err(|e| fail(ExecCause::Id(e)))?;
                let reference = m.vars.first().map(String::as_str).unwrap_or("");
                let container = match self.daemon.inspect_container(reference).await {
                    Ok(Some(i)) if !i.id.is_empty() => i.id,
                    Ok(_) => return Err(fail(ExecCause::ContainerGone(reference.to_string()))),
                    Err(e) => return Err(fail(ExecCause::Daemon(e))),
                };
                own.store
                    .record_exec(&id, &container, &user)
                    .map_err(|e| fail(ExecCause::Store(e)))
            }
            (RouteId::ContainerDelete, 204) | (RouteId::ContainerPrune, 200) => {
                self.prune_owners(own).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Forget recorded containers dockerd no longer has. Only entries
    /// recorded before the list was asked for are candidates, so a
    /// container created meanwhile is never forgotten.
    async fn prune_owners(&self, own: &Ownership) {
        let Ok(before) = own.store.snapshot() else {
            return;
        };
        match self.daemon.container_ids().await {
            Ok(live) => {
                let live: std::collections::HashSet<String> = live.into_iter().collect();
                if let Err(e) = own
                    .store
                    .forget(|id| before.containers.contains_key(id) && !live.contains(id))
                {
                    tracing::warn!(error = %e, "cannot prune the ownership record");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list containers to prune the ownership record")
            }
        }
    }
}

/// `reference` is all lower-case hexadecimal, shorter than a full ID, and
/// not a prefix of `id`: dockerd found the container by that name.
fn hex_name_not_prefix(reference: &str, id: &str) -> bool {
    let r = reference.trim_start_matches('/');
    !r.is_empty()
        && r.len() < 64
        && r.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && !id.starts_with(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::routes::table;

    /// Every route whose path names a container or an exec instance is
    /// checked, or exempt with a reason: a route left out would be a hole.
    #[test]
    fn every_container_route_is_checked_or_exempt_with_a_reason() {
        let mut seen = 0;
        for (method, template, id) in table() {
            let names_one = template.starts_with("/containers/{")
                || template.starts_with("/exec/{")
                || template == "/commit";
            match scope(id) {
                Scope::Container(v) | Scope::Exec(v) => assert!(!v.is_empty()),
                Scope::BodyContainer(_) => assert!(template.starts_with("/networks/{")),
                Scope::CommitContainer => assert_eq!(template, "/commit"),
                Scope::Exempt(why) => assert!(why.len() > 20, "{template}: {why}"),
                Scope::EveryContainer => assert_eq!(template, "/containers/prune"),
                Scope::Create => assert_eq!(template, "/containers/create"),
                Scope::NotContainer => assert!(
                    !names_one,
                    "{method:?} {template} names a container but is not checked"
                ),
            }
            if names_one {
                seen += 1;
            }
        }
        // The table has all of them (guards the filter above).
        assert!(seen >= 30, "{seen}");
        // The list, by name.
        use RouteId::*;
        for r in [
            ContainerStart,
            ContainerStop,
            ContainerKill,
            ContainerRestart,
            ContainerPause,
            ContainerUnpause,
            ContainerUpdate,
            ContainerRename,
            ContainerDelete,
            ContainerAttach,
            ContainerAttachWs,
            ContainerLogs,
            ContainerTop,
            ContainerStats,
            ContainerExport,
            ContainerArchiveGet,
            ContainerArchiveHead,
            ContainerArchivePut,
            ContainerWait,
            ContainerResize,
            ExecCreate,
            ContainerChanges,
        ] {
            assert!(matches!(scope(r), Scope::Container(_)), "{r:?}");
        }
        for r in [ExecStart, ExecResize, ExecInspect] {
            assert!(matches!(scope(r), Scope::Exec(_)), "{r:?}");
        }
        assert_eq!(scope(Commit), Scope::CommitContainer);
        assert_eq!(scope(ContainerInspect), Scope::Exempt(INSPECT_EXEMPT));
    }

    #[test]
    fn admins_are_named_never_implied() {
        let d = tempfile::tempdir().unwrap();
        let o = Ownership {
            admins: vec![],
            store: OwnerStore::new(d.path()),
        };
        assert!(!o.is_admin("alice"));
        let o = Ownership {
            admins: vec!["ops-*".into(), "root".into()],
            store: OwnerStore::new(d.path()),
        };
        assert!(o.is_admin("ops-ann") && o.is_admin("root"));
        assert!(!o.is_admin("bob") && !o.is_admin("ops") && !o.is_admin("rootx"));
    }

    #[test]
    fn shared_namespaces_and_volumes_name_containers() {
        let hc = HostConfig {
            network_mode: "container:web".into(),
            pid_mode: "container:3f2a".into(),
            ipc_mode: "shareable".into(),
            volumes_from: vec!["data:ro".into(), "cache".into()],
            ..Default::default()
        };
        let names: Vec<String> = shared_containers(&hc).into_iter().map(|(c, _)| c).collect();
        assert_eq!(names, ["web", "3f2a", "data", "cache"]);
    }
}
