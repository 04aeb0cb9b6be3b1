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

mod specs;
use specs::{container_create, container_start, host_config, network_create, service_spec};

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
