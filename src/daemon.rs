//! Client to dockerd's API: which image the daemon will use for a reference.
//!
//! The daemon asks the plugin about the plugin's own calls too. Those are
//! reads, answered without calling back into the daemon, on their own task,
//! so a lookup made while deciding another call cannot deadlock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;

use crate::unix_http::Endpoint;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaemonError {
    #[error("DOCKER_HOST {0:?} is not a unix:// or tcp:// address")]
    Address(String),
    #[error("cannot reach dockerd at {addr}: {why}")]
    Unreachable { addr: String, why: String },
    #[error("dockerd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("dockerd answered {status} to {path}: {body}")]
    Status {
        path: String,
        status: u16,
        body: String,
    },
    #[error("dockerd's answer to {path} is not valid: {why}")]
    Invalid { path: String, why: String },
}

/// The parts of `GET /images/{name}/json` that tie an image to its origin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImageInfo {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    /// `name@sha256:…`: the manifests this image was pulled by.
    #[serde(rename = "RepoDigests", default)]
    pub repo_digests: Option<Vec<String>>,
    /// The containerd image store's target (API 1.48+): what the name
    /// points at, manifest or index.
    #[serde(rename = "Descriptor", default)]
    pub descriptor: Option<ImageDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImageDescriptor {
    #[serde(default)]
    pub digest: String,
}

/// The parts of `GET /containers/{id}/json` the policy needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ContainerInfo {
    /// The full ID.
    #[serde(rename = "Id", default)]
    pub id: String,
    /// With dockerd's leading '/'.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// The image ID the container was created from: fixed for its life.
    #[serde(rename = "Image", default)]
    pub image: String,
    #[serde(rename = "Config", default)]
    pub config: Option<ContainerConfig>,
    /// The container's settings as dockerd stored them at creation, with
    /// its defaults filled in (`CgroupnsMode` is `host` on cgroup v1).
    #[serde(rename = "HostConfig", default)]
    pub host_config: Option<ContainerHostConfig>,
    /// What dockerd mounts into the container: its own binds and mounts,
    /// and those it copied from `--volumes-from` containers.
    #[serde(rename = "Mounts", default)]
    pub mounts: Option<Vec<MountPoint>>,
}

/// One of a container's mount points, as `docker inspect` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct MountPoint {
    #[serde(rename = "Type", default)]
    pub typ: String,
    #[serde(rename = "Source", default)]
    pub source: String,
    #[serde(rename = "Destination", default)]
    pub destination: String,
}

/// The namespace modes, privileges and host resources of an existing
/// container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ContainerHostConfig {
    #[serde(rename = "Privileged", default)]
    pub privileged: bool,
    #[serde(rename = "NetworkMode", default)]
    pub network_mode: String,
    #[serde(rename = "PidMode", default)]
    pub pid_mode: String,
    #[serde(rename = "IpcMode", default)]
    pub ipc_mode: String,
    #[serde(rename = "UTSMode", default)]
    pub uts_mode: String,
    #[serde(rename = "UsernsMode", default)]
    pub userns_mode: String,
    #[serde(rename = "CgroupnsMode", default)]
    pub cgroupns_mode: String,
    #[serde(rename = "CapAdd", default)]
    pub cap_add: Option<Vec<String>>,
    #[serde(rename = "Binds", default)]
    pub binds: Option<Vec<String>>,
    #[serde(rename = "SecurityOpt", default)]
    pub security_opt: Option<Vec<String>>,
    #[serde(rename = "Devices", default)]
    pub devices: Option<Vec<StoredDevice>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StoredDevice {
    #[serde(rename = "PathOnHost", default)]
    pub path_on_host: String,
}

/// What `GET /info` says about the daemon, for the checks that depend on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonInfo {
    /// The containerd image store (`DriverStatus` driver-type
    /// `io.containerd.snapshotter.v1`).
    pub containerd_store: bool,
    /// `CgroupVersion` (API 1.41+): "1" or "2"; empty when not reported.
    pub cgroup_version: String,
    /// `SecurityOptions` lists `name=cgroupns` exactly when an empty
    /// `CgroupnsMode` gives a container a private cgroup namespace (the
    /// daemon's `default-cgroupns-mode` is private and the kernel has
    /// cgroup namespaces); otherwise it gets the host's.
    pub cgroupns_private_default: bool,
    /// `DockerRootDir`: the daemon's data root.
    pub docker_root_dir: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ContainerConfig {
    /// The image as the create request named it.
    #[serde(rename = "Image", default)]
    pub image: String,
}

/// The parts of `GET /networks/{id}` that say what a network is.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NetworkInfo {
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Driver", default)]
    pub driver: String,
    #[serde(rename = "IPAM", default)]
    pub ipam: Option<NetworkIpam>,
    /// Driver options (`parent`, `com.docker.network.bridge.name`, ...).
    #[serde(rename = "Options", default)]
    pub options: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NetworkIpam {
    #[serde(rename = "Driver", default)]
    pub driver: String,
}

/// How long the answer to "which image store" is reused.
const STORE_TTL: Duration = Duration::from_secs(60);

/// The parts of `GET /plugins/{name}/json` that identify a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PluginInfo {
    #[serde(rename = "Id", default)]
    pub id: String,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "Config", default)]
    pub config: PluginConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PluginConfig {
    #[serde(rename = "Interface", default)]
    pub interface: PluginInterface,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PluginInterface {
    #[serde(rename = "Socket", default)]
    pub socket: String,
    #[serde(rename = "Types", default)]
    pub types: Vec<String>,
}

impl PluginInfo {
    /// An authorization plugin built from our `config.json` (socket
    /// `img-authz.sock`), or one named like us.
    pub fn is_img_authz(&self, names: &[String]) -> bool {
        let authz = self
            .config
            .interface
            .types
            .iter()
            .any(|t| t.starts_with("docker.authz/"));
        if authz && self.config.interface.socket == "img-authz.sock" {
            return true;
        }
        let bare = self.name.split(':').next().unwrap_or(&self.name);
        let last = bare.rsplit('/').next().unwrap_or(bare);
        names.iter().any(|n| {
            let nb = n.split(':').next().unwrap_or(n);
            n == &self.name || nb == bare || nb == last
        })
    }
}

#[derive(Debug, Clone)]
pub struct DaemonClient {
    addr: Endpoint,
    timeout: Duration,
    /// The last answer to `GET /info`, and when it came.
    info: Arc<Mutex<Option<(DaemonInfo, Instant)>>>,
}

impl DaemonClient {
    /// From a `DOCKER_HOST` value (`unix:///var/run/docker.sock`, `tcp://h:2375`).
    pub fn new(docker_host: &str, timeout: Duration) -> Result<DaemonClient, DaemonError> {
        let addr = if let Some(p) = docker_host.strip_prefix("unix://") {
            Endpoint::Unix(p.into())
        } else if let Some(h) = docker_host.strip_prefix("tcp://") {
            Endpoint::Tcp(h.trim_end_matches('/').to_string())
        } else {
            return Err(DaemonError::Address(docker_host.to_string()));
        };
        Ok(DaemonClient {
            addr,
            timeout,
            info: Arc::new(Mutex::new(None)),
        })
    }

    fn describe(&self) -> String {
        match &self.addr {
            Endpoint::Unix(p) => format!("unix://{}", p.display()),
            Endpoint::Tcp(h) => format!("tcp://{h}"),
        }
    }

    async fn get(&self, path: &str) -> Result<(StatusCode, Bytes), DaemonError> {
        let start = std::time::Instant::now();
        // Boxed: the HTTP exchange's future is large, and every decision's
        // future would otherwise carry it (and be copied whole) per call,
        // reads included (BENCHMARKS.md, the decision future's size).
        let r = match tokio::time::timeout(self.timeout, Box::pin(self.get_inner(path))).await {
            Ok(r) => r,
            Err(_) => Err(DaemonError::Timeout(self.timeout)),
        };
        let ok = matches!(&r, Ok((s, _)) if !s.is_server_error());
        crate::metrics::METRICS.upstream(crate::metrics::Upstream::Daemon, ok, start.elapsed());
        r
    }

    async fn get_inner(&self, path: &str) -> Result<(StatusCode, Bytes), DaemonError> {
        let headers = [
            (hyper::header::HOST, "docker"),
            (
                hyper::header::USER_AGENT,
                concat!("img-authz/", env!("CARGO_PKG_VERSION")),
            ),
        ];
        crate::unix_http::request(
            &self.addr,
            Method::GET,
            path,
            &headers,
            Some(4 * 1024 * 1024),
        )
        .await
        .map_err(|e| DaemonError::Unreachable {
            addr: self.describe(),
            why: e.to_string(),
        })
    }

    /// `GET path` as JSON; `None` when dockerd answers 404 (no such object).
    async fn inspect<T: serde::de::DeserializeOwned>(
        &self,
        path: String,
    ) -> Result<Option<T>, DaemonError> {
        let (status, body) = self.get(&path).await?;
        match status {
            StatusCode::OK => {
                serde_json::from_slice(&body)
                    .map(Some)
                    .map_err(|e| DaemonError::Invalid {
                        path,
                        why: e.to_string(),
                    })
            }
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(DaemonError::Status {
                path,
                status: s.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            }),
        }
    }

    /// Inspect the image dockerd resolves `reference` to (name, digest
    /// reference, full or short ID), exactly as `containers/create` does.
    /// `None` when the daemon has no such image.
    pub async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>, DaemonError> {
        self.inspect(format!("/images/{}/json", encode_path(reference)))
            .await
    }

    /// The plugin dockerd resolves `name` to (name, tag or ID prefix).
    pub async fn inspect_plugin(&self, name: &str) -> Result<Option<PluginInfo>, DaemonError> {
        self.inspect(format!("/plugins/{}/json", encode_path(name)))
            .await
    }

    /// The container `id` names (name, ID or ID prefix).
    pub async fn inspect_container(&self, id: &str) -> Result<Option<ContainerInfo>, DaemonError> {
        self.inspect(format!("/containers/{}/json", encode_path(id)))
            .await
    }

    /// The full IDs of every container dockerd has, running or not.
    pub async fn container_ids(&self) -> Result<Vec<String>, DaemonError> {
        #[derive(Deserialize)]
        struct Entry {
            #[serde(rename = "Id")]
            id: String,
        }
        let path = "/containers/json?all=1".to_string();
        let list: Vec<Entry> = self
            .inspect(path.clone())
            .await?
            .ok_or(DaemonError::Status {
                path,
                status: 404,
                body: String::new(),
            })?;
        Ok(list.into_iter().map(|e| e.id).collect())
    }

    /// The network `id` names (name, ID or ID prefix).
    pub async fn inspect_network(&self, id: &str) -> Result<Option<NetworkInfo>, DaemonError> {
        self.inspect(format!("/networks/{}", encode_path(id))).await
    }

    /// Whether dockerd keeps images in the containerd image store
    /// (`GET /info`: `DriverStatus` has `driver-type`
    /// `io.containerd.snapshotter.v1`). There a name is a record that
    /// `docker load` can point anywhere, digest-looking names included.
    pub async fn containerd_store(&self) -> Result<bool, DaemonError> {
        Ok(self.info().await?.containerd_store)
    }

    /// `GET /info`, reused for a minute (it changes only when dockerd is
    /// reconfigured, which restarts it).
    pub async fn info(&self) -> Result<DaemonInfo, DaemonError> {
        if let Ok(g) = self.info.lock() {
            if let Some((v, at)) = &*g {
                if at.elapsed() < STORE_TTL {
                    return Ok(v.clone());
                }
            }
        }
        let (status, body) = self.get("/info").await?;
        if status != StatusCode::OK {
            return Err(DaemonError::Status {
                path: "/info".into(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            });
        }
        let v = info_of(&body).map_err(|e| DaemonError::Invalid {
            path: "/info".into(),
            why: e.to_string(),
        })?;
        if let Ok(mut g) = self.info.lock() {
            *g = Some((v.clone(), Instant::now()));
        }
        Ok(v)
    }

    /// The process that listens on `DOCKER_HOST` (its unix socket's peer
    /// credentials): dockerd, unless systemd holds the socket or dockerd is
    /// in another PID namespace (then 0 or not dockerd: the caller checks).
    pub async fn peer_pid(&self) -> Option<i32> {
        let Endpoint::Unix(p) = &self.addr else {
            return None;
        };
        let s = tokio::time::timeout(self.timeout, tokio::net::UnixStream::connect(p))
            .await
            .ok()?
            .ok()?;
        s.peer_cred().ok()?.pid().filter(|p| *p > 0)
    }

    /// The unix socket path of `DOCKER_HOST`, if it is one.
    pub fn socket_path(&self) -> Option<&str> {
        match &self.addr {
            Endpoint::Unix(p) => p.to_str(),
            Endpoint::Tcp(_) => None,
        }
    }
}

fn info_of(info: &[u8]) -> Result<DaemonInfo, serde_json::Error> {
    #[derive(Deserialize)]
    struct Info {
        #[serde(rename = "DriverStatus", default)]
        driver_status: Option<Vec<Vec<String>>>,
        #[serde(rename = "CgroupVersion", default)]
        cgroup_version: Option<String>,
        #[serde(rename = "SecurityOptions", default)]
        security_options: Option<Vec<String>>,
        #[serde(rename = "DockerRootDir", default)]
        docker_root_dir: Option<String>,
    }
    let i: Info = serde_json::from_slice(info)?;
    Ok(DaemonInfo {
        containerd_store: i.driver_status.iter().flatten().any(|kv| {
            kv.first().is_some_and(|k| k == "driver-type")
                && kv
                    .get(1)
                    .is_some_and(|v| v.starts_with("io.containerd.snapshotter"))
        }),
        cgroup_version: i.cgroup_version.unwrap_or_default(),
        // Entries are `name=NAME[,key=value...]`.
        cgroupns_private_default: i
            .security_options
            .iter()
            .flatten()
            .any(|o| o.split(',').next() == Some("name=cgroupns")),
        docker_root_dir: i.docker_root_dir.unwrap_or_default(),
    })
}

#[cfg(test)]
fn containerd_store_of(info: &[u8]) -> Result<bool, serde_json::Error> {
    info_of(info).map(|i| i.containerd_store)
}

/// Percent-encode what could change the meaning of a path; image names and
/// IDs never contain these, but a decoded name must not grow a query.
fn encode_path(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'?')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'{')
        .add(b'}');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_store_is_read_from_info() {
        let classic = br#"{"Driver":"overlay2","DriverStatus":[["Backing Filesystem","extfs"],["Supports d_type","true"]]}"#;
        assert_eq!(containerd_store_of(classic).ok(), Some(false));
        let ctrd = br#"{"Driver":"overlayfs","DriverStatus":[["driver-type","io.containerd.snapshotter.v1"]]}"#;
        assert_eq!(containerd_store_of(ctrd).ok(), Some(true));
        assert_eq!(
            containerd_store_of(br#"{"DriverStatus":null}"#).ok(),
            Some(false)
        );
        assert!(containerd_store_of(b"not json").is_err());
    }

    #[test]
    fn cgroup_namespace_default_and_root_dir_from_info() {
        // dockerd 20.10 on this cgroup v1 machine, with no daemon flags.
        let v1 = info_of(br#"{"CgroupVersion":"1","SecurityOptions":["name=seccomp,profile=default"],"DockerRootDir":"/var/lib/docker"}"#).unwrap();
        assert!(!v1.cgroupns_private_default);
        assert_eq!(v1.docker_root_dir, "/var/lib/docker");
        assert_eq!(v1.cgroup_version, "1");
        let private = info_of(br#"{"CgroupVersion":"2","SecurityOptions":["name=apparmor","name=seccomp,profile=builtin","name=cgroupns"]}"#).unwrap();
        assert!(private.cgroupns_private_default);
        // Not a prefix match: only the option named cgroupns.
        let odd = info_of(br#"{"SecurityOptions":["name=cgroupnsx"]}"#).unwrap();
        assert!(!odd.cgroupns_private_default);
    }

    #[test]
    fn inspect_answers_parse() {
        let c: ContainerInfo = serde_json::from_str(
            r#"{"Id":"abc","Name":"/web","Image":"sha256:0123","Config":{"Image":"app:v1"}}"#,
        )
        .unwrap();
        assert_eq!((c.name.as_str(), c.image.as_str()), ("/web", "sha256:0123"));
        assert_eq!(c.config.map(|c| c.image).as_deref(), Some("app:v1"));
        let i: ImageInfo = serde_json::from_str(
            r#"{"Id":"sha256:aa","RepoTags":["r/a:v1"],"RepoDigests":["r/a@sha256:aa"],
                "Descriptor":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:aa","size":1}}"#,
        )
        .unwrap();
        assert_eq!(i.descriptor.map(|d| d.digest).as_deref(), Some("sha256:aa"));
    }
}
