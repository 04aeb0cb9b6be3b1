//! The bodies that configure containers, networks and services, read as
//! dockerd reads them into the specs the policy checks.

use super::*;

/// `POST /networks/create`: dockerd decodes the body into its request type
/// (keys folded as encoding/json does); an empty body fails there.
pub(super) fn network_create(body: &Body<'_>) -> Result<NetworkSpec, DecodeError> {
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

pub(super) fn container_create(v: Option<&Value>, q: &Query) -> Result<ContainerSpec, DecodeError> {
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
pub(super) fn container_start(
    m: &Matched,
    q: &Query,
    body: &Body<'_>,
) -> Result<Action, DecodeError> {
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

pub(super) fn host_config(s: &Struct<'_>) -> Result<HostConfig, JsonError> {
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

pub(super) fn mounts(s: &Struct<'_>, field: &str) -> Result<Vec<Mount>, JsonError> {
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

pub(super) fn service_spec(service: String, body: &Body<'_>) -> Result<ServiceSpec, DecodeError> {
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
