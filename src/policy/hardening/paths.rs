//! Host paths: what a bind mount or a volume may reach on the host, and
//! the paths a container must never reach.

use super::*;

/// Host paths a container must never reach: dockerd's and containerd's
/// sockets and state, and the plugin sockets (ours among them).
pub(super) const SENSITIVE: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/docker",
    "/run/docker",
    "/run/docker/plugins",
    "/etc/docker",
    "/var/lib/docker",
    "/run/containerd",
    "/var/run/containerd",
    "/var/lib/containerd",
    "/var/lib/img-authz",
    "/etc/img-authz",
];

/// Host directories whose contents run or configure the host: the baseline
/// keeps them out of containers (a writable `/usr/bin` or `/etc/cron.d` is
/// the host at the next root login or cron run).
pub const SYSTEM_PATHS: &[&str] = &[
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/run",
    "/var/run",
    "/var/lib/docker",
    "/var/lib/containerd",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/root",
    // Users' homes (`~/.ssh/authorized_keys`, shell start-up files), package
    // managers' scripts (run as root at the next install), the kubelet's and
    // systemd's state, and spooled jobs (cron, at).
    "/home",
    "/var/lib/dpkg",
    "/var/lib/rpm",
    "/var/lib/kubelet",
    "/var/lib/systemd",
    "/var/spool",
    "/usr/lib/docker/plugins",
];

/// The masked and read-only paths of dockerd's default spec that every
/// version since 19.03 and kubelet's defaults share.
pub(super) const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
pub(super) const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// `path.Clean`, refusing `..` (which a bind source has no business holding).
pub(crate) fn clean(p: &str) -> Option<String> {
    if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
        return None;
    }
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    Some(format!("/{}", parts.join("/")))
}

/// `a` is `b` or below it.
pub(super) fn within(a: &str, b: &str) -> bool {
    b == "/" || a == b || (a.starts_with(b) && a.as_bytes().get(b.len()) == Some(&b'/'))
}

impl HardeningSpec {
    /// A host path a container would mount.
    pub(super) fn host_path(&self, raw: &str, via: &str) -> Verdict {
        let Some(lexical) = clean(raw) else {
            return fail(
                HardeningKey::bind_mounts,
                format!("{via} of {raw:?}: not a clean absolute path"),
            );
        };
        // The plugin sees the host's filesystem in a legacy install: a
        // symlink is checked where it leads too.
        let mut paths = vec![lexical.clone()];
        if let Ok(real) = std::fs::canonicalize(&lexical) {
            let real = real.to_string_lossy().into_owned();
            if real != lexical {
                paths.push(real);
            }
        }
        let learned = || -> Result<&[String], Violation> {
            match &self.builtin.daemon {
                Some(d) => Ok(&d.paths),
                None => Err(needs_daemon(format!(
                    "{via} of {lexical}: the daemon's own paths are not known"
                ))),
            }
        };
        for p in &paths {
            let touches = |s: &str| within(p, s) || within(s, p);
            if self.docker_socket == Some(false) {
                let found = match SENSITIVE.iter().find(|s| touches(s)) {
                    Some(s) => Some(s.to_string()),
                    None => learned()?.iter().find(|s| touches(s)).cloned(),
                };
                if let Some(s) = found {
                    return fail(
                        HardeningKey::docker_socket,
                        format!("{via} of {p} would expose {s}, which controls the daemon or this plugin"),
                    );
                }
            }
            if self.builtin.system_paths == Some(false) {
                if let Some(s) = SYSTEM_PATHS.iter().find(|s| touches(s)) {
                    return fail(
                        HardeningKey::bind_mounts,
                        format!("{via} of {p} would expose the host's {s}"),
                    );
                }
            }
            if let Some(allowed) = &self.bind_mounts {
                if !allowed
                    .iter()
                    .any(|a| clean(a).is_some_and(|a| within(p, &a)))
                {
                    let list = if allowed.is_empty() {
                        "none".to_string()
                    } else {
                        allowed.join(", ")
                    };
                    return fail(
                        HardeningKey::bind_mounts,
                        format!("{via} of host path {p} (allowed: {list})"),
                    );
                }
            }
        }
        Ok(())
    }

    pub(super) fn volume_driver(
        &self,
        driver: &str,
        opts: &[(String, String)],
        via: &str,
    ) -> Verdict {
        let driver = if driver.is_empty() { "local" } else { driver };
        if let Some(allowed) = &self.volume_drivers {
            if !allowed.iter().any(|a| a == driver) {
                return fail(
                    HardeningKey::volume_drivers,
                    format!(
                        "{via} with volume driver {driver:?} (allowed: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
        // The local driver mounts whatever `type`/`o`/`device` say: with
        // `o=bind` (or type none) `device` is a host path.
        if driver == "local" {
            let get = |k: &str| {
                opts.iter()
                    .filter(|(ok, _)| ok == k)
                    .map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
            };
            let binds = get("o").iter().any(|o| {
                o.split(',')
                    .any(|x| x.trim() == "bind" || x.trim() == "rbind")
            }) || get("type").contains(&"none");
            if binds {
                let devices = get("device");
                if devices.is_empty() {
                    return fail(
                        HardeningKey::bind_mounts,
                        format!("{via}: a local bind volume without a device"),
                    );
                }
                for d in devices {
                    self.host_path(d, &format!("{via} (local driver, o=bind)"))?;
                }
                return Ok(());
            }
            // Any other `type` is mount(2) of `device` with options `o`, in
            // the host's namespaces: a host block device (ext4, xfs, ...),
            // a kernel file system (proc, sysfs, ...: a writable host
            // /proc/sys), or an overlay of host directories. Only memory and
            // network file systems, and overlays of allowed directories, stay
            // off the host.
            let (types, devices) = (get("type"), get("device"));
            // A relative path is relative to dockerd's working directory, /.
            let abs = |p: &str| {
                if p.starts_with('/') {
                    p.to_string()
                } else {
                    format!("/{p}")
                }
            };
            for o in get("o").iter().flat_map(|o| o.split(',')) {
                let Some((k, v)) = o.split_once('=') else {
                    continue;
                };
                // lowerdir, upperdir, workdir, datadir, lowerdir+, ...
                if k.contains("dir") {
                    for dir in v.split(':').filter(|d| !d.is_empty()) {
                        self.host_path(&abs(dir), &format!("{via} (local driver, {})", k.trim()))?;
                    }
                }
            }
            let all = |set: &[&str]| {
                !types.is_empty()
                    && types
                        .iter()
                        .all(|t| set.contains(&t.trim().to_ascii_lowercase().as_str()))
            };
            if (types.is_empty() && devices.is_empty())
                || all(&["tmpfs", "nfs", "nfs4", "cifs", "smb3"])
                || all(&["overlay"])
            {
                return Ok(());
            }
            let what = format!(
                "{via}: the local driver would mount {} from {} on the host",
                types.first().copied().unwrap_or("a file system"),
                devices.first().copied().unwrap_or("no device")
            );
            if self.devices == Some(false) && devices.iter().any(|d| abs(d).starts_with("/dev")) {
                return fail(HardeningKey::devices, what);
            }
            // The baseline refuses these as it refuses binds of system
            // paths: `type=proc` (or sysfs, cgroup) mounts the host's own,
            // writable, and `device=` need not be under /dev.
            if self.bind_mounts.is_some() || self.builtin.system_paths == Some(false) {
                return fail(HardeningKey::bind_mounts, what);
            }
            for d in devices {
                self.host_path(&abs(d), &format!("{via} (local driver device)"))?;
            }
        }
        Ok(())
    }

    pub(super) fn mounts(&self, mounts: &[Mount], via: &str) -> Verdict {
        for m in mounts {
            match m.typ.as_str() {
                "bind" => self.host_path(&m.source, &format!("{via} bind mount"))?,
                "volume" | "" => self.volume_driver(
                    &m.volume_driver,
                    &m.volume_driver_opts,
                    &format!("{via} volume mount"),
                )?,
                _ => {}
            }
        }
        Ok(())
    }
}
