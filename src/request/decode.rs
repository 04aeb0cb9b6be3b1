//! Route → typed action.

use crate::protocol::AuthzRequest;

use super::action::{
    Action, Build, ContainerSpec, HostConfig, Mount, NetworkSpec, PluginOp, Pull, ServiceSpec,
};
use super::body::{Body, BodyError};
use super::json::{JsonError, Struct, Value};
use super::query::Query;
use super::reference::{validate_digest, RefError, Reference};
use super::routes::{match_route, route_name, version_less, Matched, RouteId};
use super::uri::{parse_target, UriError};

/// A classified call.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub action: Action,
    /// The matched route; `None` for a read dockerd would not route.
    pub route: Option<RouteId>,
    /// API version from the path prefix, if any.
    pub version: Option<String>,
    /// Decoded path, for logs.
    pub path: String,
    /// The route's path variables (`{name}`, `{id}`), as dockerd reads them.
    pub vars: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the request URI cannot be read as dockerd reads it: {0}")]
    Uri(#[from] UriError),
    #[error("{method} {path} is not an endpoint img-authz knows; unknown endpoints that may change state are denied")]
    UnknownRoute { method: String, path: String },
    #[error("{0}")]
    Body(#[from] BodyError),
    #[error("{what}: {err}")]
    Json { what: &'static str, err: JsonError },
    #[error("{field} is not a valid image reference: {err}")]
    Reference { field: &'static str, err: RefError },
    #[error("{0}")]
    Invalid(String),
}

fn json_err(what: &'static str) -> impl Fn(JsonError) -> DecodeError {
    move |err| DecodeError::Json { what, err }
}

/// Decode one AuthZReq call.
pub fn decode(req: &AuthzRequest) -> Result<Decoded, DecodeError> {
    let target = parse_target(&req.request_uri)?;
    let method = req.request_method.as_str();
    let Some(m) = match_route(method, &target.path) else {
        // dockerd answers GET/HEAD it cannot route with a 404 before asking
        // us; if one reaches us anyway it reads nothing. Anything else is
        // unknown and may change state.
        if method == "GET" || method == "HEAD" {
            return Ok(Decoded {
                action: Action::Read {
                    route: "unrouted read",
                },
                route: None,
                version: None,
                path: target.path,
                vars: Vec::new(),
            });
        }
        return Err(DecodeError::UnknownRoute {
            method: method.to_string(),
            path: target.path,
        });
    };
    let body = Body::of(req);
    let action = classify(&m, &target.query, &body)?;
    Ok(Decoded {
        action,
        route: Some(m.id),
        version: m.version,
        path: target.path,
        vars: m.vars,
    })
}

/// `Container` of a `POST /networks/{id}/connect` or `/disconnect` body
/// (both decoded by dockerd into a struct with that field): the container
/// the call acts on. Empty when the body names none (dockerd then fails).
pub fn network_container(req: &AuthzRequest) -> Result<String, DecodeError> {
    let body = Body::of(req);
    let v = body.json()?;
    let e = json_err("network connect or disconnect");
    match v
        .as_ref()
        .map(Struct::root)
        .transpose()
        .map_err(&e)?
        .flatten()
    {
        Some(root) => root.string("Container").map_err(&e),
        None => Ok(String::new()),
    }
}

fn var(m: &Matched, i: usize) -> String {
    m.vars.get(i).cloned().unwrap_or_default()
}

fn classify(m: &Matched, q: &Query, body: &Body<'_>) -> Result<Action, DecodeError> {
    use RouteId::*;
    Ok(match m.id {
        // Reads.
        CheckpointList | ContainerArchiveHead | ContainerList | ContainerExport
        | ContainerChanges | ContainerInspect | ContainerTop | ContainerLogs | ContainerStats
        | ContainerAttachWs | ExecInspect | ContainerArchiveGet | ImageList | ImageGetAll
        | ImageGet | ImageHistory | ImageInspect | ImageAttestations | Options | Ping
        | PingHead | Events | Info | Version | SystemDf | VolumeList | VolumeInspect
        | ServiceList | ServiceInspect | ServiceLogs | NodeList | NodeInspect | TaskList
        | TaskInspect | TaskLogs | SecretList | SecretInspect | ConfigList | ConfigInspect
        | PluginList | PluginInspect | NetworkList | NetworkListSlash | NetworkInspect | Debug => {
            Action::Read {
                route: route_name(m.id),
            }
        }

        // Reads that make dockerd contact a registry. GET forms are never
        // parsed from a body by Go, so the query is what dockerd reads.
        DistributionInspect => Action::RemoteRead {
            route: route_name(m.id),
            image: var(m, 0),
            search: false,
        },
        PluginPrivileges => Action::RemoteRead {
            route: route_name(m.id),
            image: q.get("remote").to_string(),
            search: false,
        },
        ImageSearch => Action::RemoteRead {
            route: route_name(m.id),
            image: q.get("term").to_string(),
            search: true,
        },
        ContainerArchivePut => Action::CopyTo {
            container: var(m, 0),
        },
        NetworkCreate => Action::NetworkCreate(Box::new(network_create(body)?)),
        NetworkConnect => Action::NetworkConnect { network: var(m, 0) },
        SecretCreate => {
            let v = body.json()?;
            let e = json_err("secret create");
            let mut driver = String::new();
            if let Some(root) = v
                .as_ref()
                .map(Struct::root)
                .transpose()
                .map_err(&e)?
                .flatten()
            {
                if let Some(d) = root.sub("Driver").map_err(&e)? {
                    driver = d.string("Name").map_err(&e)?;
                }
            }
            Action::SecretCreate { driver }
        }

        // State changes that neither bring in nor run images.
        ContainerKill | ContainerPause | ContainerUnpause | ContainerRestart | ContainerStop
        | ContainerWait | ContainerResize | ContainerAttach | ContainerCopy | ExecStart
        | ExecResize | ContainerRename | ContainerPrune | ContainerDelete | ImagePrune
        | ImageDelete | VolumePrune | VolumeUpdate | VolumeDelete | BuildPrune | BuildCancel
        | SwarmLeave | ServiceDelete | NodeDelete | SecretDelete | SecretUpdate | ConfigCreate
        | ConfigDelete | ConfigUpdate | NetworkDisconnect | NetworkPrune | NetworkDelete => {
            Action::Control {
                route: m.id,
                target: var(m, 0),
            }
        }

        // Joining another swarm lets its managers schedule tasks here that
        // no authorization call ever sees.
        SwarmInit | SwarmJoin | SwarmUpdate | SwarmUnlock | SwarmInspect | SwarmUnlockKey
        | NodeUpdate => Action::Swarm {
            route: route_name(m.id),
        },

        Auth => Action::Login,

        ImageCreate => image_create(q, body)?,
        ImageLoad => Action::Load,
        ImageTag => {
            body.forbid_form_override()?;
            Action::Tag {
                source: var(m, 0),
                target: tag_target(q.get("repo"), q.get("tag"))?,
            }
        }
        ImagePush => {
            body.forbid_form_override()?;
            let mut image = var(m, 0);
            if !q.get("tag").is_empty() {
                image = format!("{image}:{}", q.get("tag"));
            }
            Action::Push { image }
        }
        Build => {
            body.forbid_form_type()?;
            Action::Build(self::Build {
                tags: q.all("t").map(str::to_string).collect(),
                output_names: output_names(q.get("outputs"))?,
                remote: q.get("remote").to_string(),
                network_mode: q.get("networkmode").to_string(),
                buildkit: q.get("version") == "2",
            })
        }
        Session => Action::Session,
        Grpc => Action::Grpc,
        Commit => {
            body.forbid_form_type()?;
            // The body (a container Config) is optional and changes nothing
            // we check; it must still be a valid body if present.
            body.json()?;
            Action::Commit {
                container: q.get("container").to_string(),
                repo: q.get("repo").to_string(),
                tag: q.get("tag").to_string(),
            }
        }

        ContainerCreate => {
            let v = body.json()?;
            Action::ContainerCreate(Box::new(container_create(v.as_ref(), q)?))
        }
        ContainerStart => container_start(m, q, body)?,
        ContainerUpdate => {
            let v = body.json()?;
            let host = match v.as_ref() {
                Some(v) => match Struct::root(v).map_err(json_err("container update"))? {
                    Some(root) => host_config(&root).map_err(json_err("container update"))?,
                    None => HostConfig::default(),
                },
                None => HostConfig::default(),
            };
            Action::ContainerUpdate {
                container: var(m, 0),
                host: Box::new(host),
            }
        }
        // `dir`: dockerd removes <dir>/<checkpoint> (experimental daemons).
        CheckpointDelete => {
            body.forbid_form_override()?;
            Action::Checkpoint {
                container: var(m, 0),
                dir: q.get("dir").to_string(),
            }
        }
        CheckpointCreate => {
            let v = body.json()?;
            let e = json_err("checkpoint create");
            let dir = match v.as_ref() {
                Some(v) => match Struct::root(v).map_err(&e)? {
                    Some(s) => s.string("CheckpointDir").map_err(&e)?,
                    None => String::new(),
                },
                None => String::new(),
            };
            Action::Checkpoint {
                container: var(m, 0),
                dir,
            }
        }
        ExecCreate => {
            let v = body.json()?;
            let (privileged, user) = match v.as_ref() {
                Some(v) => match Struct::root(v).map_err(json_err("exec create"))? {
                    Some(s) => (
                        s.bool("Privileged").map_err(json_err("exec create"))?,
                        s.string("User").map_err(json_err("exec create"))?,
                    ),
                    None => (false, String::new()),
                },
                None => (false, String::new()),
            };
            Action::ExecCreate {
                container: var(m, 0),
                privileged,
                user,
            }
        }
        VolumeCreate => {
            let v = body.json()?;
            let (mut name, mut driver, mut driver_opts) =
                (String::new(), String::new(), Vec::new());
            if let Some(v) = v.as_ref() {
                if let Some(s) = Struct::root(v).map_err(json_err("volume create"))? {
                    let e = json_err("volume create");
                    name = s.string("Name").map_err(&e)?;
                    driver = s.string("Driver").map_err(&e)?;
                    driver_opts = s.string_map("DriverOpts").map_err(&e)?;
                }
            }
            Action::VolumeCreate {
                name,
                driver,
                driver_opts,
            }
        }
        ServiceCreate => Action::Service(Box::new(service_spec(String::new(), body)?)),
        ServiceUpdate => {
            let mut spec = service_spec(var(m, 0), body)?;
            // The swarm handlers read the query with URL.Query(), not Form.
            spec.rollback = q.get("rollback") == "previous";
            Action::Service(Box::new(spec))
        }

        PluginPull => Action::Plugin(PluginOp::Pull {
            remote: q.get("remote").to_string(),
            name: q.get("name").to_string(),
        }),
        PluginCreate => {
            body.forbid_form_type()?;
            Action::Plugin(PluginOp::Create {
                name: q.get("name").to_string(),
            })
        }
        PluginUpgrade => Action::Plugin(PluginOp::Upgrade {
            name: var(m, 0),
            remote: q.get("remote").to_string(),
        }),
        PluginSet => {
            // The body (settings such as "mounts.source=/") is decoded by
            // dockerd whatever its Content-Type, so it must be visible.
            body.json()?;
            Action::Plugin(PluginOp::Set { name: var(m, 0) })
        }
        PluginEnable => Action::Plugin(PluginOp::Enable { name: var(m, 0) }),
        PluginDisable => Action::Plugin(PluginOp::Disable { name: var(m, 0) }),
        PluginRemove => Action::Plugin(PluginOp::Remove { name: var(m, 0) }),
        PluginPush => Action::Plugin(PluginOp::Push { name: var(m, 0) }),
    })
}

/// `POST /images/create`: a pull when `fromImage` is set, else an import.
fn image_create(q: &Query, body: &Body<'_>) -> Result<Action, DecodeError> {
    let from_image = q.get("fromImage");
    if from_image.is_empty() {
        // Import: the body is the layer tarball (or empty for a URL source).
        body.forbid_form_type()?;
        return Ok(Action::Import {
            source: q.get("fromSrc").to_string(),
            repo: q.get("repo").to_string(),
        });
    }
    // A pull has no body; a form body would replace fromImage and tag.
    body.forbid_form_override()?;
    Ok(Action::Pull(Pull {
        image: pull_reference(from_image, q.get("tag"))?,
        platform: q.get("platform").to_string(),
    }))
}

/// The reference dockerd pulls for `fromImage` + `tag` (PullImage /
/// postImagesCreate): a digest `tag` replaces tag and digest, any other
/// `tag` replaces the tag and keeps a digest; neither means every tag.
pub fn pull_reference(from_image: &str, tag: &str) -> Result<Reference, DecodeError> {
    let image = from_image.strip_suffix(':').unwrap_or(from_image);
    let r = Reference::parse_normalized(image).map_err(|err| DecodeError::Reference {
        field: "fromImage",
        err,
    })?;
    if tag.is_empty() {
        return Ok(r);
    }
    let out = if validate_digest(tag).is_ok() {
        r.trimmed_with_digest(tag)
    } else {
        r.with_tag(tag)
    };
    out.map_err(|err| DecodeError::Reference { field: "tag", err })
}

/// The name `POST /images/{name}/tag` gives: `repo` with `tag` (default
/// `latest`); a digest is not a valid target.
pub fn tag_target(repo: &str, tag: &str) -> Result<Reference, DecodeError> {
    if repo.is_empty() {
        return Err(DecodeError::Invalid(
            "the tag request has no target repository (repo=)".into(),
        ));
    }
    let r = Reference::parse_normalized(repo)
        .map_err(|err| DecodeError::Reference { field: "repo", err })?;
    if r.digest.is_some() {
        return Err(DecodeError::Invalid(format!(
            "cannot tag as a digest reference: {repo:?}"
        )));
    }
    let r = if tag.is_empty() {
        r
    } else {
        Reference { tag: None, ..r }
            .with_tag(tag)
            .map_err(|err| DecodeError::Reference { field: "tag", err })?
    };
    Ok(r.tag_name_only())
}

/// `POST /networks/create`: dockerd decodes the body into its request type
/// (keys folded as encoding/json does); an empty body fails there.
fn network_create(body: &Body<'_>) -> Result<NetworkSpec, DecodeError> {
    let e = json_err("network create");
    let v = body.json()?;
    let Some(root) = v
        .as_ref()
        .map(Struct::root)
        .transpose()
        .map_err(&e)?
        .flatten()
    else {
        return Err(DecodeError::Invalid(
            "network create without a configuration body".into(),
        ));
    };
    let mut spec = NetworkSpec {
        name: root.string("Name").map_err(&e)?,
        driver: root.string("Driver").map_err(&e)?,
        options: root.string_map("Options").map_err(&e)?,
        ..Default::default()
    };
    if let Some(ipam) = root.sub("IPAM").map_err(&e)? {
        spec.ipam_driver = ipam.string("Driver").map_err(&e)?;
        spec.ipam_options = ipam.string_map("Options").map_err(&e)?;
    }
    Ok(spec)
}

fn container_create(v: Option<&Value>, q: &Query) -> Result<ContainerSpec, DecodeError> {
    let e = json_err("container create");
    let Some(root) = v.map(Struct::root).transpose().map_err(&e)?.flatten() else {
        return Err(DecodeError::Invalid(
            "container create without a configuration body".into(),
        ));
    };
    Ok(ContainerSpec {
        image: root.string("Image").map_err(&e)?,
        name: q.get("name").to_string(),
        platform: q.get("platform").to_string(),
        user: root.string("User").map_err(&e)?,
        host_configs: host_configs(&root).map_err(&e)?,
        endpoint_networks: endpoint_networks(&root).map_err(&e)?,
    })
}

/// The keys of `NetworkingConfig.EndpointsConfig` (a Go map: keys exact,
/// every one kept; the endpoint settings do not matter here).
fn endpoint_networks(root: &Struct<'_>) -> Result<Vec<String>, JsonError> {
    let Some(nc) = root.sub("NetworkingConfig")? else {
        return Ok(Vec::new());
    };
    nc.struct_map_keys("EndpointsConfig")
}

/// The HostConfig sources of a container body: `HostConfig`, and (20.10's
/// deprecated embedding) the same fields at the top level.
fn host_configs(root: &Struct<'_>) -> Result<Vec<HostConfig>, JsonError> {
    let mut out = Vec::new();
    if let Some(hc) = root.sub("HostConfig")? {
        out.push(host_config(&hc)?);
    }
    let top = host_config(root)?;
    if top != HostConfig::default() {
        out.push(top);
    }
    Ok(out)
}

/// `POST /containers/{id}/start`. API versions below 1.24 on 20.10 apply a
/// HostConfig from the body to the existing container.
fn container_start(m: &Matched, q: &Query, body: &Body<'_>) -> Result<Action, DecodeError> {
    let old_api = m
        .version
        .as_deref()
        .is_some_and(|v| version_less(v, "1.24"));
    let mut host_configs = Vec::new();
    if old_api {
        if let Some(v) = body.json()? {
            if let Some(root) = Struct::root(&v).map_err(json_err("container start"))? {
                host_configs = host_configs_of(&root)?;
            }
        }
    }
    if !q.get("checkpoint-dir").is_empty() || !q.get("checkpoint").is_empty() {
        body.forbid_form_override()?;
    }
    Ok(Action::ContainerStart {
        container: var(m, 0),
        host_configs,
        checkpoint_dir: q.get("checkpoint-dir").to_string(),
    })
}

fn host_configs_of(root: &Struct<'_>) -> Result<Vec<HostConfig>, DecodeError> {
    host_configs(root).map_err(json_err("container start"))
}

/// `strslice.StrSlice`: a JSON string or an array of strings.
fn str_slice(s: &Struct<'_>, field: &str) -> Result<Vec<String>, JsonError> {
    match s.field(field)? {
        Some(Value::String(v)) => Ok(vec![v.clone()]),
        _ => s.strings(field),
    }
}

fn host_config(s: &Struct<'_>) -> Result<HostConfig, JsonError> {
    let mut devices = Vec::new();
    for d in s.structs("Devices")? {
        devices.push(d.string("PathOnHost")?);
    }
    let mut device_requests = Vec::new();
    for d in s.structs("DeviceRequests")? {
        device_requests.push(d.string("Driver")?);
    }
    let log_driver = match s.sub("LogConfig")? {
        Some(l) => l.string("Type")?,
        None => String::new(),
    };
    Ok(HostConfig {
        privileged: s.bool("Privileged")?,
        binds: s.strings("Binds")?,
        mounts: mounts(s, "Mounts")?,
        volumes_from: s.strings("VolumesFrom")?,
        volume_driver: s.string("VolumeDriver")?,
        network_mode: s.string("NetworkMode")?,
        pid_mode: s.string("PidMode")?,
        ipc_mode: s.string("IpcMode")?,
        uts_mode: s.string("UTSMode")?,
        userns_mode: s.string("UsernsMode")?,
        cgroupns_mode: s.string("CgroupnsMode")?,
        cgroup: s.string("Cgroup")?,
        cap_add: str_slice(s, "CapAdd")?,
        devices,
        device_requests,
        device_cgroup_rules: s.strings("DeviceCgroupRules")?,
        security_opt: s.strings("SecurityOpt")?,
        sysctls: s.string_map("Sysctls")?,
        runtime: s.string("Runtime")?,
        cgroup_parent: s.string("CgroupParent")?,
        log_driver,
        masked_paths: match s.has("MaskedPaths")? {
            true => Some(s.strings("MaskedPaths")?),
            false => None,
        },
        readonly_paths: match s.has("ReadonlyPaths")? {
            true => Some(s.strings("ReadonlyPaths")?),
            false => None,
        },
    })
}

fn mounts(s: &Struct<'_>, field: &str) -> Result<Vec<Mount>, JsonError> {
    let mut out = Vec::new();
    for m in s.structs(field)? {
        let (mut volume_driver, mut volume_driver_opts) = (String::new(), Vec::new());
        if let Some(vo) = m.sub("VolumeOptions")? {
            if let Some(dc) = vo.sub("DriverConfig")? {
                volume_driver = dc.string("Name")?;
                volume_driver_opts = dc.string_map("Options")?;
            }
        }
        out.push(Mount {
            typ: m.string("Type")?,
            source: m.string("Source")?,
            target: m.string("Target")?,
            volume_driver,
            volume_driver_opts,
        });
    }
    Ok(out)
}

/// The image names a BuildKit build's `outputs` (JSON, `[{"Type":…,
/// "Attrs":{"name":"a,b"}}]`) give its result: dockerd names the image by
/// them when there is no `t`.
fn output_names(outputs: &str) -> Result<Vec<String>, DecodeError> {
    if outputs.is_empty() {
        return Ok(Vec::new());
    }
    let bad = |e: JsonError| DecodeError::Invalid(format!("build outputs: {e}"));
    let v = super::json::parse(outputs.as_bytes()).map_err(bad)?;
    let Value::Array(items) = &v else {
        return Err(DecodeError::Invalid(
            "build outputs are not a JSON array".into(),
        ));
    };
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(o) = Struct::of(format!("outputs[{i}]"), item).map_err(bad)? else {
            continue;
        };
        // Map keys are exact in Go; every `name` entry is kept (Go keeps
        // the last duplicate; checking all is stricter).
        for (k, v) in o.string_map("Attrs").map_err(bad)? {
            if k == "name" {
                names.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(str::to_string),
                );
            }
        }
    }
    Ok(names)
}

fn service_spec(service: String, body: &Body<'_>) -> Result<ServiceSpec, DecodeError> {
    let what = if service.is_empty() {
        "service create"
    } else {
        "service update"
    };
    let e = json_err(what);
    let v = body.json()?;
    let Some(root) = v
        .as_ref()
        .map(Struct::root)
        .transpose()
        .map_err(&e)?
        .flatten()
    else {
        return Err(DecodeError::Invalid(format!(
            "{what} without a service spec body"
        )));
    };
    let mut spec = ServiceSpec {
        service,
        ..Default::default()
    };
    for n in root.structs("Networks").map_err(&e)? {
        spec.networks.push(n.string("Target").map_err(&e)?);
    }
    let Some(tt) = root.sub("TaskTemplate").map_err(&e)? else {
        return Ok(spec);
    };
    for n in tt.structs("Networks").map_err(&e)? {
        spec.networks.push(n.string("Target").map_err(&e)?);
    }
    if let Some(l) = tt.sub("LogDriver").map_err(&e)? {
        spec.log_driver = l.string("Name").map_err(&e)?;
    }
    // dockerd's ServiceSpecToGRPC switches on the exact runtime string: a
    // container (PluginSpec ignored), a plugin, or an error.
    match tt.string("Runtime").map_err(&e)?.as_str() {
        "" | "container" => {}
        "plugin" => {
            spec.plugin_remote = Some(match tt.sub("PluginSpec").map_err(&e)? {
                Some(ps) => ps.string("Remote").map_err(&e)?,
                None => String::new(),
            })
        }
        other => {
            return Err(DecodeError::Invalid(format!(
                "{what} with runtime {other:?}, which dockerd does not run"
            )))
        }
    }
    if let Some(cs) = tt.sub("ContainerSpec").map_err(&e)? {
        spec.image = cs.string("Image").map_err(&e)?;
        spec.mounts = mounts(&cs, "Mounts").map_err(&e)?;
        spec.cap_add = cs.strings("CapabilityAdd").map_err(&e)?;
        spec.sysctls = cs.string_map("Sysctls").map_err(&e)?;
        if let Some(p) = cs.sub("Privileges").map_err(&e)? {
            if let Some(se) = p.sub("SELinuxContext").map_err(&e)? {
                if se.bool("Disable").map_err(&e)? {
                    spec.security_opt.push("label=disable".into());
                }
                // The swarm executor turns each into a label option.
                for (field, key) in [
                    ("User", "user"),
                    ("Role", "role"),
                    ("Type", "type"),
                    ("Level", "level"),
                ] {
                    let v = se.string(field).map_err(&e)?;
                    if !v.is_empty() {
                        spec.security_opt.push(format!("label={key}:{v}"));
                    }
                }
            }
            if let Some(sc) = p.sub("Seccomp").map_err(&e)? {
                let mode = sc.string("Mode").map_err(&e)?;
                if mode == "custom" {
                    // The swarm executor hands the profile's bytes to the
                    // container as `seccomp=<profile>`, checked as such.
                    use base64::Engine;
                    let b64 = sc.string("Profile").map_err(&e)?;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .map_err(|_| {
                            DecodeError::Invalid(format!(
                                "{what}: Privileges.Seccomp.Profile is not base64"
                            ))
                        })?;
                    spec.security_opt
                        .push(format!("seccomp={}", String::from_utf8_lossy(&bytes)));
                } else if !mode.is_empty() && mode != "default" {
                    spec.security_opt.push(format!("seccomp={mode}"));
                }
            }
            if let Some(aa) = p.sub("AppArmor").map_err(&e)? {
                let mode = aa.string("Mode").map_err(&e)?;
                if !mode.is_empty() && mode != "default" {
                    spec.security_opt.push(format!("apparmor={mode}"));
                }
            }
        }
    }
    Ok(spec)
}
