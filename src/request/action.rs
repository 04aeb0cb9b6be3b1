//! Typed actions: what dockerd will do with a request, as far as image trust
//! and container privileges are concerned.

use std::fmt;

use super::reference::Reference;
use super::routes::{route_name, RouteId};

/// One API request, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A route that changes nothing (GET/HEAD reads, `/_ping`).
    Read { route: &'static str },
    /// A known mutating route that neither brings in nor runs an image and
    /// grants no privilege (stop, kill, rename, network create, ...).
    /// `target`: the container, image, ... the route names, if any.
    /// `route` is the table's identifier, so policy compares routes, not names.
    Control { route: RouteId, target: String },
    /// `docker login` (`POST /auth`): checks credentials against a registry.
    Login,
    /// Swarm membership and its secrets (init, join, update, unlock, node
    /// update, join tokens): other managers could then run tasks here, which
    /// no authorization call ever sees.
    Swarm { route: &'static str },
    /// `POST /images/create?fromImage=`.
    Pull(Pull),
    /// `POST /images/create?fromSrc=` (`docker import`).
    Import { source: String, repo: String },
    /// `POST /images/load` (`docker load`).
    Load,
    /// `POST /build` (classic builder).
    Build(Build),
    /// `POST /session`: BuildKit's session, the start of a BuildKit build.
    Session,
    /// `POST /grpc`: BuildKit's gRPC, hijacked and never seen again.
    Grpc,
    /// `POST /commit` (`docker commit`).
    Commit {
        container: String,
        repo: String,
        tag: String,
    },
    /// `POST /images/{name}/tag`.
    Tag { source: String, target: Reference },
    /// `POST /images/{name}/push`.
    Push { image: String },
    /// A read that makes dockerd contact a registry: `GET
    /// /distribution/{name}/json`, `GET /plugins/privileges?remote=`
    /// (`image`: the reference named), `GET /images/search` (`image`: the
    /// search term, which may name the registry to search).
    RemoteRead {
        route: &'static str,
        image: String,
        search: bool,
    },
    /// `PUT /containers/{id}/archive` (`docker cp` into a container).
    CopyTo { container: String },
    /// `POST /networks/create`.
    NetworkCreate(Box<NetworkSpec>),
    /// `POST /networks/{id}/connect`.
    NetworkConnect { network: String },
    /// `POST /secrets/create`: `Driver.Name`, a secret-provider plugin
    /// the swarm loads (empty: the secret's own data).
    SecretCreate { driver: String },
    /// `POST /containers/create`.
    ContainerCreate(Box<ContainerSpec>),
    /// `POST /containers/{id}/start`, which on old API versions can carry a HostConfig.
    ContainerStart {
        container: String,
        host_configs: Vec<HostConfig>,
        /// `checkpoint-dir`: a host directory to restore from (experimental).
        checkpoint_dir: String,
    },
    /// `POST /containers/{id}/checkpoints`, `DELETE …/checkpoints/{id}`
    /// (experimental daemons).
    Checkpoint {
        container: String,
        /// `CheckpointDir` / `dir`: a host directory dockerd and CRIU write
        /// to or delete from.
        dir: String,
    },
    /// `POST /containers/{id}/update`.
    ContainerUpdate {
        container: String,
        host: Box<HostConfig>,
    },
    /// `POST /containers/{id}/exec`.
    ExecCreate {
        container: String,
        privileged: bool,
        user: String,
    },
    /// `POST /volumes/create`.
    VolumeCreate {
        name: String,
        driver: String,
        driver_opts: Vec<(String, String)>,
    },
    /// `POST /services/create` and `POST /services/{id}/update`.
    Service(Box<ServiceSpec>),
    /// Plugin management.
    Plugin(PluginOp),
}

/// `POST /networks/create` (20.10's `NetworkCreateRequest`, 28's
/// `CreateRequest`: the same keys).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkSpec {
    pub name: String,
    /// `Driver`; empty is dockerd's default, `bridge`.
    pub driver: String,
    /// `IPAM.Driver`; empty is `default`.
    pub ipam_driver: String,
    /// `Options`: driver options (`parent`, `com.docker.network.bridge.name`, ...).
    pub options: Vec<(String, String)>,
    /// `IPAM.Options`, handed to the IPAM driver.
    pub ipam_options: Vec<(String, String)>,
}

/// A pull as dockerd will run it, after combining `fromImage` and `tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// The resolved reference; no tag and no digest means every tag.
    pub image: Reference,
    pub platform: String,
}

impl Pull {
    /// `docker pull --all-tags`: dockerd pulls every tag of the repository.
    pub fn all_tags(&self) -> bool {
        self.image.tag.is_none() && self.image.digest.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Build {
    /// `t` values: the names the result will carry.
    pub tags: Vec<String>,
    /// BuildKit `outputs[].Attrs.name`: names the result carries when
    /// there is no `t`.
    pub output_names: Vec<String>,
    /// `remote`: a git or HTTP context the daemon fetches itself.
    pub remote: String,
    pub network_mode: String,
    /// `version=2` selects BuildKit.
    pub buildkit: bool,
}

/// A container mount (`HostConfig.Mounts[]`, or a service's `ContainerSpec.Mounts[]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    pub typ: String,
    pub source: String,
    pub target: String,
    /// `VolumeOptions.DriverConfig.Name`.
    pub volume_driver: String,
    /// `VolumeOptions.DriverConfig.Options`.
    pub volume_driver_opts: Vec<(String, String)>,
}

/// The HostConfig fields that matter for trust and privilege.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostConfig {
    pub privileged: bool,
    pub binds: Vec<String>,
    pub mounts: Vec<Mount>,
    pub volumes_from: Vec<String>,
    pub volume_driver: String,
    pub network_mode: String,
    pub pid_mode: String,
    pub ipc_mode: String,
    pub uts_mode: String,
    pub userns_mode: String,
    pub cgroupns_mode: String,
    pub cgroup: String,
    pub cap_add: Vec<String>,
    /// `Devices[].PathOnHost`.
    pub devices: Vec<String>,
    /// `DeviceRequests[].Driver` (one entry per request).
    pub device_requests: Vec<String>,
    pub device_cgroup_rules: Vec<String>,
    pub security_opt: Vec<String>,
    pub sysctls: Vec<(String, String)>,
    pub runtime: String,
    pub cgroup_parent: String,
    /// `LogConfig.Type`; empty is the daemon's default log driver.
    pub log_driver: String,
    /// `MaskedPaths` and `ReadonlyPaths` when given (even empty): they
    /// replace dockerd's defaults (`systempaths=unconfined` sends `[]`).
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
}

/// `POST /containers/create`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    /// `Config.Image` exactly as sent (a name, a digest or an image ID).
    pub image: String,
    pub name: String,
    pub platform: String,
    pub user: String,
    /// Every HostConfig dockerd may apply. On 20.10 the HostConfig fields may
    /// also appear at the top level of the body (a deprecated, still honoured
    /// form); each source is listed so that every one of them is checked.
    pub host_configs: Vec<HostConfig>,
    /// `NetworkingConfig.EndpointsConfig` keys: networks the container
    /// joins besides its `NetworkMode`.
    pub endpoint_networks: Vec<String>,
}

/// A swarm service spec (`POST /services/create`, `/services/{id}/update`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceSpec {
    /// Empty for create.
    pub service: String,
    /// `TaskTemplate.ContainerSpec.Image`; empty when the spec has no container.
    pub image: String,
    /// `Runtime: plugin`: the service installs the plugin of
    /// `TaskTemplate.PluginSpec` (dockerd ignores a PluginSpec otherwise).
    pub plugin_remote: Option<String>,
    /// Network targets of `TaskTemplate.Networks` and the deprecated
    /// top-level `Networks` (`host` gives tasks the host's network).
    pub networks: Vec<String>,
    /// `?rollback=previous`: dockerd deploys the previous spec, not this one.
    pub rollback: bool,
    /// `Privileges` that lift confinement, as `SecurityOpt`-style strings.
    pub security_opt: Vec<String>,
    pub mounts: Vec<Mount>,
    pub cap_add: Vec<String>,
    pub sysctls: Vec<(String, String)>,
    /// `TaskTemplate.LogDriver.Name`.
    pub log_driver: String,
}

/// Plugin management calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginOp {
    /// `POST /plugins/pull?remote=&name=` (`docker plugin install`).
    Pull {
        remote: String,
        name: String,
    },
    /// `POST /plugins/create?name=` (tar body).
    Create {
        name: String,
    },
    /// `POST /plugins/{name}/upgrade?remote=`.
    Upgrade {
        name: String,
        remote: String,
    },
    Set {
        name: String,
    },
    Enable {
        name: String,
    },
    Disable {
        name: String,
    },
    Remove {
        name: String,
    },
    Push {
        name: String,
    },
}

impl Action {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Read { .. } => "read",
            Action::Control { .. } => "control",
            Action::Login => "login",
            Action::Swarm { .. } => "swarm",
            Action::Pull(_) => "pull",
            Action::Import { .. } => "import",
            Action::Load => "load",
            Action::Build(_) => "build",
            Action::Session => "session",
            Action::Grpc => "grpc",
            Action::Commit { .. } => "commit",
            Action::Tag { .. } => "tag",
            Action::Push { .. } => "push",
            Action::RemoteRead { .. } => "remote-read",
            Action::CopyTo { .. } => "cp",
            Action::NetworkCreate(_) => "network-create",
            Action::NetworkConnect { .. } => "network-connect",
            Action::SecretCreate { .. } => "secret-create",
            Action::ContainerCreate(_) => "container-create",
            Action::ContainerStart { .. } => "container-start",
            Action::Checkpoint { .. } => "checkpoint",
            Action::ContainerUpdate { .. } => "container-update",
            Action::ExecCreate { .. } => "exec-create",
            Action::VolumeCreate { .. } => "volume-create",
            Action::Service(s) if s.service.is_empty() => "service-create",
            Action::Service(_) => "service-update",
            Action::Plugin(p) => match p {
                PluginOp::Pull { .. } => "plugin-pull",
                PluginOp::Create { .. } => "plugin-create",
                PluginOp::Upgrade { .. } => "plugin-upgrade",
                PluginOp::Set { .. } => "plugin-set",
                PluginOp::Enable { .. } => "plugin-enable",
                PluginOp::Disable { .. } => "plugin-disable",
                PluginOp::Remove { .. } => "plugin-remove",
                PluginOp::Push { .. } => "plugin-push",
            },
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Read { route } => write!(f, "{route}"),
            Action::Control { route, .. } => f.write_str(route_name(*route)),
            Action::Login => f.write_str("login"),
            Action::Swarm { route } => write!(f, "swarm management ({route})"),
            Action::Pull(p) if p.all_tags() => write!(f, "pull of every tag of {}", p.image),
            Action::Pull(p) => write!(f, "pull of {}", p.image),
            Action::Import { repo, .. } if repo.is_empty() => f.write_str("image import"),
            Action::Import { repo, .. } => write!(f, "image import as {repo}"),
            Action::Load => f.write_str("image load"),
            Action::Build(b) if b.tags.is_empty() && b.output_names.is_empty() => {
                f.write_str("image build")
            }
            Action::Build(b) => {
                let names: Vec<&str> = b
                    .tags
                    .iter()
                    .chain(&b.output_names)
                    .map(String::as_str)
                    .collect();
                write!(f, "image build of {}", names.join(", "))
            }
            Action::Session => f.write_str("BuildKit session (/session)"),
            Action::Grpc => f.write_str("BuildKit gRPC (/grpc)"),
            Action::Commit { container, .. } => write!(f, "commit of container {container}"),
            Action::Tag { source, target } => write!(f, "tag of {source} as {target}"),
            Action::Push { image } => write!(f, "push of {image}"),
            Action::RemoteRead {
                image,
                search: true,
                ..
            } => write!(f, "image search for {image:?}"),
            Action::RemoteRead { route, image, .. } => write!(f, "{route} for {image:?}"),
            Action::CopyTo { container } => write!(f, "copy into container {container}"),
            Action::NetworkCreate(n) => write!(f, "network create {:?}", n.name),
            Action::NetworkConnect { network } => write!(f, "connect to network {network}"),
            Action::SecretCreate { .. } => f.write_str("secret create"),
            Action::ContainerCreate(c) => write!(f, "container create from image {:?}", c.image),
            Action::ContainerStart { container, .. } => write!(f, "start of container {container}"),
            Action::Checkpoint { container, .. } => {
                write!(f, "checkpoint of container {container}")
            }
            Action::ContainerUpdate { container, .. } => {
                write!(f, "update of container {container}")
            }
            Action::ExecCreate { container, .. } => write!(f, "exec in container {container}"),
            Action::VolumeCreate { name, .. } => write!(f, "volume create {name:?}"),
            Action::Service(s) if s.service.is_empty() => {
                write!(f, "service create from image {:?}", s.image)
            }
            Action::Service(s) => {
                write!(f, "update of service {} to image {:?}", s.service, s.image)
            }
            Action::Plugin(p) => match p {
                PluginOp::Pull { remote, .. } => write!(f, "plugin install from {remote}"),
                PluginOp::Create { name } => write!(f, "plugin create {name}"),
                PluginOp::Upgrade { name, remote } => {
                    write!(f, "plugin upgrade of {name} from {remote}")
                }
                PluginOp::Set { name } => write!(f, "plugin set on {name}"),
                PluginOp::Enable { name } => write!(f, "plugin enable of {name}"),
                PluginOp::Disable { name } => write!(f, "plugin disable of {name}"),
                PluginOp::Remove { name } => write!(f, "plugin remove of {name}"),
                PluginOp::Push { name } => write!(f, "plugin push of {name}"),
            },
        }
    }
}
