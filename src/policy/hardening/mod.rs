//! Container hardening: the API lock-down that keeps an API user from
//! turning a container into the host.
//!
//! Each check is off until the policy file sets it. Every path by which a
//! container can reach the host is checked where dockerd takes it:
//! `HostConfig` (and 20.10's top-level copy), `Mounts` of type bind and
//! volume (with the local driver's `o=bind`), volume creation, exec, service
//! specs, the deprecated HostConfig of `start`, networks (their driver
//! and host-interface options) created or joined, and at start the
//! namespace modes dockerd stored for the container (its defaults filled in).
//!
//! The built-in baseline (`super::baseline`) sets some of these checks and a
//! few of its own ([`BuiltIn`]) that a policy key replaces.

pub(super) mod apply;

use std::sync::Arc;

use crate::request::action::{HostConfig, Mount, ServiceSpec};
use crate::request::routes::version_less;

use super::file::{HardeningKey, HardeningSpec};

mod paths;
pub(crate) use paths::clean;
use paths::*;

/// A hardening check that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The policy key, e.g. `privileged`.
    pub check: &'static str,
    pub reason: String,
}

type Verdict = Result<(), Violation>;

/// The `check` of a violation that only says: this decision depends on
/// what dockerd says about itself ([`DaemonFacts`]), which is not known yet.
/// The caller asks dockerd and checks again (or denies if it cannot).
pub const NEEDS_DAEMON: &str = "daemon";

/// Checks that are not policy-file keys: the baseline's, and what dockerd
/// says about itself. The baseline's are replaced by the policy key named
/// on each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuiltIn {
    /// Capabilities that may not be added (replaced by `cap_add`).
    pub cap_add_denied: Option<Vec<String>>,
    /// `Some(false)`: no host PID or user namespace (replaced by
    /// `host_namespaces`).
    pub host_pid_userns: Option<bool>,
    /// `Some(false)`: host system directories may not be mounted
    /// (replaced by `bind_mounts`).
    pub system_paths: Option<bool>,
    /// `None` until learned; a check that needs it fails with
    /// [`NEEDS_DAEMON`].
    pub daemon: Option<Arc<DaemonFacts>>,
}

/// What the guarded dockerd says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonFacts {
    /// An empty `CgroupnsMode` gives a container the host's cgroup namespace
    /// (cgroup v1 without `default-cgroupns-mode: private`).
    pub cgroupns_host_default: bool,
    /// Cgroup v1: privileged containers and API versions below 1.41 get
    /// the host's cgroup namespace too.
    pub cgroup_v1: bool,
    /// Paths that control this daemon and this plugin, learned at run time
    /// (its socket, data root, exec root, containerd socket, state).
    pub paths: Vec<String>,
}

fn fail(key: HardeningKey, reason: impl Into<String>) -> Verdict {
    Err(Violation {
        check: key.as_str(),
        reason: reason.into(),
    })
}

/// A violation that is not a key's: dockerd has to be asked first.
fn needs_daemon(reason: impl Into<String>) -> Violation {
    Violation {
        check: NEEDS_DAEMON,
        reason: reason.into(),
    }
}

impl HardeningSpec {
    fn caps(&self, caps: &[String]) -> Verdict {
        let norm = |c: &str| {
            c.trim()
                .to_ascii_uppercase()
                .trim_start_matches("CAP_")
                .to_string()
        };
        if let Some(denied) = &self.builtin.cap_add_denied {
            if let Some(c) = caps.iter().find(|c| denied.contains(&norm(c))) {
                return fail(
                    HardeningKey::cap_add,
                    format!("adding capability {c}, which gives the host away"),
                );
            }
        }
        if let Some(allowed) = &self.cap_add {
            let allowed: Vec<String> = allowed.iter().map(|c| norm(c)).collect();
            for c in caps {
                if !allowed.contains(&norm(c)) {
                    return fail(HardeningKey::cap_add, format!("adding capability {c}"));
                }
            }
        }
        Ok(())
    }

    fn security_opts(&self, opts: &[String]) -> Verdict {
        if self.unconfined != Some(false) {
            return Ok(());
        }
        for o in opts {
            // dockerd's parseSecurityOpt: a bare `disable` is `label=disable`.
            let (k, v) = match o.split_once(['=', ':']) {
                Some(kv) => kv,
                None if o.trim() == "disable" => ("label", "disable"),
                None => (o.as_str(), ""),
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            let unconfined = match k.as_str() {
                "seccomp" => {
                    let listed = self.seccomp_profiles.as_deref().unwrap_or_default();
                    if let Err(r) = super::seccomp::check_option(o, listed) {
                        return fail(r.key(), r.to_string());
                    }
                    false
                }
                // A service's AppArmor mode `disabled` is `unconfined`.
                "apparmor" => v == "unconfined" || v == "disabled",
                "systempaths" => v == "unconfined",
                // SELinux: no labelling, or an unconfined process type.
                "label" => label_unconfined(v),
                // Bare, it means true to dockerd; only Go's false spellings
                // keep cgroups read-only.
                "writable-cgroups" => !matches!(v, "false" | "0" | "f" | "F" | "FALSE" | "False"),
                _ => false,
            };
            if unconfined {
                return fail(
                    HardeningKey::unconfined,
                    format!("security option {o:?} lifts the container's confinement"),
                );
            }
        }
        Ok(())
    }

    /// Every check on a HostConfig, for `api` (the request's API version).
    pub fn host_config(&self, hc: &HostConfig, api: Option<&str>) -> Verdict {
        if self.privileged == Some(false) && hc.privileged {
            fail(HardeningKey::privileged, "a privileged container")?;
        }
        if self.builtin.host_pid_userns == Some(false) {
            for (name, mode) in [("pid", &hc.pid_mode), ("userns", &hc.userns_mode)] {
                if mode.trim() == "host" {
                    fail(
                        HardeningKey::host_namespaces,
                        format!("sharing the host's {name} namespace ({mode})"),
                    )?;
                }
            }
        }
        if self.host_namespaces == Some(false) {
            let shared = |m: &str| m == "host" || m.starts_with("container:");
            for (name, mode) in [
                ("network", &hc.network_mode),
                ("pid", &hc.pid_mode),
                ("ipc", &hc.ipc_mode),
                ("uts", &hc.uts_mode),
                ("userns", &hc.userns_mode),
                ("cgroupns", &hc.cgroupns_mode),
                ("cgroup", &hc.cgroup),
            ] {
                if shared(mode) {
                    fail(
                        HardeningKey::host_namespaces,
                        format!("sharing the {name} namespace ({mode})"),
                    )?;
                }
            }
            // Before API 1.41 dockerd gives an empty cgroupns mode the
            // host's namespace on cgroup v1 hosts.
            if hc.cgroupns_mode.is_empty() && api.is_some_and(|v| version_less(v, "1.41")) {
                fail(
                    HardeningKey::host_namespaces,
                    "an API version below 1.41 without CgroupnsMode, which means the host's",
                )?;
            }
        }
        for b in &hc.binds {
            // `src:dst[:opts]`; a source without '/' is a named volume.
            let src = b.split(':').next().unwrap_or_default();
            if src.starts_with('/') {
                self.host_path(src, "bind mount")?;
            } else if src.contains('/') || src.is_empty() {
                fail(
                    HardeningKey::bind_mounts,
                    format!("bind {b:?}: the source is not an absolute path"),
                )?;
            } else {
                self.volume_driver(&hc.volume_driver, &[], &format!("named volume {src}"))?;
            }
        }
        self.mounts(&hc.mounts, "")?;
        if self.volumes_from == Some(false) && !hc.volumes_from.is_empty() {
            fail(
                HardeningKey::volumes_from,
                format!("mounting the volumes of {}", hc.volumes_from.join(", ")),
            )?;
        }
        if !hc.volume_driver.is_empty() {
            self.volume_driver(&hc.volume_driver, &[], "the container's volume driver")?;
        }
        self.caps(&hc.cap_add)?;
        self.log_driver(&hc.log_driver, "a container")?;
        if self.devices == Some(false) {
            if let Some(d) = hc.devices.first() {
                fail(HardeningKey::devices, format!("access to host device {d}"))?;
            }
            if !hc.device_requests.is_empty() {
                fail(HardeningKey::devices, "device requests (GPUs, CDI devices)")?;
            }
            if let Some(r) = hc.device_cgroup_rules.first() {
                fail(HardeningKey::devices, format!("device cgroup rule {r:?}"))?;
            }
        }
        self.security_opts(&hc.security_opt)?;
        if self.unconfined == Some(false) {
            // Given lists replace dockerd's: they must keep what every
            // dockerd (and kubelet, through cri-dockerd) masks.
            for (field, given, required) in [
                ("MaskedPaths", &hc.masked_paths, MASKED_PATHS),
                ("ReadonlyPaths", &hc.readonly_paths, READONLY_PATHS),
            ] {
                let Some(given) = given else { continue };
                if let Some(p) = required.iter().find(|p| !given.iter().any(|g| g == *p)) {
                    fail(
                        HardeningKey::unconfined,
                        format!(
                            "{field} without {p} replaces dockerd's protected /proc and /sys paths \
                             (what --security-opt systempaths=unconfined does)"
                        ),
                    )?;
                }
            }
        }
        if self.sysctls == Some(false) {
            if let Some((k, _)) = hc.sysctls.first() {
                fail(HardeningKey::sysctls, format!("setting sysctl {k}"))?;
            }
        }
        if let Some(allowed) = &self.runtimes {
            if !hc.runtime.is_empty() && !allowed.contains(&hc.runtime) {
                fail(
                    HardeningKey::runtimes,
                    format!("runtime {:?} (allowed: {})", hc.runtime, allowed.join(", ")),
                )?;
            }
        }
        if self.cgroup_parent == Some(false) && !hc.cgroup_parent.is_empty() {
            fail(
                HardeningKey::cgroup_parent,
                format!("cgroup parent {:?}", hc.cgroup_parent),
            )?;
        }
        Ok(())
    }

    /// A container creation: [`Self::host_config`], and the cgroup namespace
    /// dockerd gives an empty `CgroupnsMode` (its default, which on cgroup
    /// v1 is the host's).
    pub fn create(&self, hc: &HostConfig, api: Option<&str>) -> Verdict {
        self.host_config(hc, api)?;
        if self.host_namespaces == Some(false) && hc.cgroupns_mode.is_empty() {
            let Some(d) = &self.builtin.daemon else {
                return Err(needs_daemon(
                    "the daemon's default cgroup namespace is not known",
                ));
            };
            // dockerd keeps privileged containers in the host's cgroup
            // namespace on cgroup v1 whatever its default.
            if d.cgroupns_host_default || (hc.privileged && d.cgroup_v1) {
                return cgroupns_host("an empty CgroupnsMode, which this daemon makes the host's");
            }
        }
        Ok(())
    }

    /// A container about to start (or restart), as dockerd stored it: the
    /// effective modes, whatever the create request said and whatever the
    /// daemon's defaults (`default-cgroupns-mode`, `default-ipc-mode`).
    pub fn start(&self, hc: &HostConfig) -> Verdict {
        if self.host_namespaces == Some(false) && hc.cgroupns_mode == "host" {
            return cgroupns_host("the container's stored CgroupnsMode \"host\"");
        }
        self.create(hc, None)
    }

    /// A host directory dockerd and CRIU write a checkpoint to or restore
    /// one from (`CheckpointDir`, `checkpoint-dir`).
    pub fn checkpoint_dir(&self, dir: &str) -> Verdict {
        if dir.is_empty() {
            return Ok(());
        }
        self.host_path(dir, "checkpoint directory")
    }

    /// A build's `networkmode`: `host` runs its RUN steps in the host's
    /// network namespace.
    pub fn build_network(&self, mode: &str) -> Verdict {
        if self.host_namespaces == Some(false) && mode.eq_ignore_ascii_case("host") {
            return fail(
                HardeningKey::host_namespaces,
                "a build whose steps share the host's network namespace (networkmode=host)",
            );
        }
        Ok(())
    }

    pub fn exec(&self, privileged: bool) -> Verdict {
        if self.exec_privileged == Some(false) && privileged {
            return fail(HardeningKey::exec_privileged, "a privileged exec");
        }
        Ok(())
    }

    pub fn volume_create(&self, driver: &str, opts: &[(String, String)]) -> Verdict {
        self.volume_driver(driver, opts, "volume")
    }

    /// A network's driver (created, or joined) and its driver options.
    /// `parent` (macvlan, ipvlan) puts containers on a host interface and
    /// `com.docker.network.bridge.name` on a host bridge: the host's
    /// network, as `--network host` is. Checked for every driver (a
    /// config-only network carries them for others).
    pub fn network(&self, driver: &str, options: &[(String, String)], via: &str) -> Verdict {
        let driver = if driver.is_empty() { "bridge" } else { driver };
        if let Some(allowed) = &self.network_drivers {
            if !allowed.iter().any(|a| a == driver) {
                return fail(
                    HardeningKey::network_drivers,
                    format!(
                        "{via} with network driver {driver:?} (allowed: {})",
                        list(allowed)
                    ),
                );
            }
        }
        if self.host_namespaces == Some(false) {
            for (k, v) in options {
                if matches!(k.as_str(), "parent" | "com.docker.network.bridge.name")
                    && !v.is_empty()
                {
                    return fail(
                        HardeningKey::host_namespaces,
                        format!("{via} with option {k}={v}, which attaches containers to the host's network"),
                    );
                }
            }
        }
        Ok(())
    }

    /// `LogConfig.Type` or a service's log driver; empty is the daemon's
    /// default, chosen by its administrator.
    fn log_driver(&self, driver: &str, via: &str) -> Verdict {
        if let Some(allowed) = &self.log_drivers {
            if !driver.is_empty() && !allowed.iter().any(|a| a == driver) {
                return fail(
                    HardeningKey::log_drivers,
                    format!(
                        "{via} with log driver {driver:?} (allowed: {})",
                        list(allowed)
                    ),
                );
            }
        }
        Ok(())
    }

    /// A service spec. `host_network`: one of its networks is the host's
    /// (resolved by the caller: the CLI sends network IDs).
    pub fn service(&self, s: &ServiceSpec, host_network: bool) -> Verdict {
        if self.host_namespaces == Some(false) && host_network {
            // The swarm executor gives tasks attached to the predefined
            // `host` network the host's network namespace.
            fail(
                HardeningKey::host_namespaces,
                "a service on the host network shares the network namespace (host)",
            )?;
        }
        self.mounts(&s.mounts, "service")?;
        self.log_driver(&s.log_driver, "a service")?;
        self.caps(&s.cap_add)?;
        self.security_opts(&s.security_opt)?;
        if self.sysctls == Some(false) {
            if let Some((k, _)) = s.sysctls.first() {
                fail(HardeningKey::sysctls, format!("setting sysctl {k}"))?;
            }
        }
        Ok(())
    }
}

fn cgroupns_host(what: &str) -> Verdict {
    fail(
        HardeningKey::host_namespaces,
        format!(
            "sharing the host's cgroup namespace ({what}; dockerd's default on cgroup v1). \
             Create the container with --cgroupns private, or set \"default-cgroupns-mode\": \"private\" \
             in dockerd's daemon.json"
        ),
    )
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

/// An SELinux label option that may take the container out of its
/// confinement: no labelling, or a user, role or process type other than
/// the container ones (a denylist of unconfined types would miss
/// `kernel_t`, `container_runtime_t`, ...). MCS levels are fine.
fn label_unconfined(v: &str) -> bool {
    let Some((k, x)) = v.split_once(':') else {
        return true; // `disable`, or something SELinux does not know
    };
    match k.trim() {
        "level" | "filetype" => false,
        "user" => x.trim() != "system_u",
        "role" => x.trim() != "system_r",
        "type" => !matches!(
            x.trim(),
            "container_t"
                | "container_init_t"
                | "container_kvm_t"
                | "svirt_lxc_net_t"
                | "svirt_qemu_net_t"
        ),
        _ => true,
    }
}

#[cfg(test)]
mod tests;
