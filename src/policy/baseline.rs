//! The built-in baseline hardening (`IMG_AUTHZ_HARDENING=baseline`, the
//! default): what hands the host to an API user is refused even without a
//! policy file, because a container that owns the host can switch the
//! plugin off. A policy file's `[hardening]` builds on it: a key the file
//! sets replaces the baseline's check for that key.
//!
//! Also here: learning the paths that control the guarded daemon, which
//! `docker_socket = false` (the baseline's too) protects beside the fixed
//! ones.

use std::path::Path;

use super::file::HardeningSpec;
use super::hardening::BuiltIn;
use crate::daemon::DaemonInfo;

/// Capabilities that give the host away (or host-wide state that the
/// plugin's own checks depend on): the baseline refuses adding them.
pub const HOST_CAPS: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "DAC_READ_SEARCH",
    "NET_ADMIN",
    "BPF",
    "PERFMON",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "SYSLOG",
    // The host's clock (and with it every expiry the plugin checks), its
    // audit rules and its process accounting are host-wide.
    "SYS_TIME",
    "AUDIT_CONTROL",
    "SYS_PACCT",
];

/// The baseline on its own.
pub fn spec() -> HardeningSpec {
    HardeningSpec {
        privileged: Some(false),
        exec_privileged: Some(false),
        devices: Some(false),
        unconfined: Some(false),
        docker_socket: Some(false),
        // Plugin volume drivers run a plugin the user chose.
        volume_drivers: Some(vec!["local".into()]),
        builtin: BuiltIn {
            cap_add_denied: Some(HOST_CAPS.iter().map(|c| c.to_string()).collect()),
            host_pid_userns: Some(false),
            system_paths: Some(false),
            daemon: None,
        },
        ..Default::default()
    }
}

/// The baseline with a policy file's hardening (for one user) on top: the
/// file's keys replace the baseline's, and replace the baseline's own checks
/// that stand for the same key.
pub fn layered(file: &HardeningSpec) -> HardeningSpec {
    let mut s = spec();
    s.overlay(file);
    if file.cap_add.is_some() {
        s.builtin.cap_add_denied = None;
    }
    if file.host_namespaces.is_some() {
        s.builtin.host_pid_userns = None;
    }
    if file.bind_mounts.is_some() {
        s.builtin.system_paths = None;
    }
    s
}

/// What is known locally about where the daemon and this plugin live.
pub struct Local<'a> {
    /// The unix socket of `DOCKER_HOST`.
    pub docker_socket: Option<&'a str>,
    pub state_dir: &'a Path,
    pub policy_file: Option<&'a Path>,
    /// The process listening on `DOCKER_HOST`, if known.
    pub dockerd_pid: Option<i32>,
}

/// The paths that control the guarded daemon and this plugin: its API
/// socket(s), data root, exec root (with its managed containerd's socket),
/// a separate containerd's socket, its configuration file, and the plugin's
/// state and policy. The exec root is not in `GET /info`: it is read from
/// dockerd's command line and configuration file (through /proc, when
/// dockerd is visible there), else dockerd's default `/var/run/docker`
/// (which the fixed list holds anyway).
pub fn daemon_paths(local: &Local<'_>, info: &DaemonInfo) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |p: &str| {
        let p = p.trim();
        // A relative setting is relative to our working directory.
        let p = if !p.is_empty() && Path::new(p).is_relative() {
            std::fs::canonicalize(p)
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            p.to_string()
        };
        // Compared with cleaned bind sources: `/opt/x/` must cover
        // `/opt/x/containerd/containerd.sock`.
        let p = super::hardening::clean(&p).unwrap_or(p);
        if p.starts_with('/') && !out.contains(&p) {
            out.push(p);
        }
    };
    if let Some(s) = local.docker_socket {
        add(s);
    }
    add(&local.state_dir.to_string_lossy());
    if let Some(f) = local.policy_file {
        add(&f.to_string_lossy());
    }
    add(&info.docker_root_dir);
    add("/var/run/docker");
    add("/run/docker/plugins");
    if let Some(pid) = local.dockerd_pid {
        for p in dockerd_args_paths(pid) {
            add(&p);
        }
    }
    out
}

/// Paths named by dockerd's flags and configuration file, read from /proc.
fn dockerd_args_paths(pid: i32) -> Vec<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    // systemd holding the socket (fd://) is not dockerd: nothing to learn.
    if comm.trim() != "dockerd" {
        return Vec::new();
    }
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return Vec::new();
    };
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let (mut paths, config) = paths_of_args(&args);
    let config = config.unwrap_or_else(|| "/etc/docker/daemon.json".to_string());
    paths.push(config.clone());
    if let Ok(text) = std::fs::read(&config) {
        paths.extend(paths_of_config(&text));
    }
    paths
}

/// dockerd flags that name paths controlling it; and `--config-file`.
fn paths_of_args(args: &[String]) -> (Vec<String>, Option<String>) {
    const FLAGS: &[&str] = &[
        "--exec-root",
        "--data-root",
        "-g",
        "--graph",
        "--containerd",
        "-H",
        "--host",
        "-p",
        "--pidfile",
    ];
    let (mut out, mut config) = (Vec::new(), None);
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let (flag, value) = match a.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let known = FLAGS.contains(&flag) || flag == "--config-file";
        if !known {
            continue;
        }
        let Some(v) = value.or_else(|| it.next().cloned()) else {
            break;
        };
        let v = v.strip_prefix("unix://").unwrap_or(&v).to_string();
        if flag == "--config-file" {
            config = Some(v);
        } else {
            out.push(v);
        }
    }
    (out, config)
}

/// The same settings in daemon.json.
fn paths_of_config(text: &[u8]) -> Vec<String> {
    let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for k in ["exec-root", "data-root", "graph", "containerd", "pidfile"] {
        if let Some(serde_json::Value::String(v)) = m.get(k) {
            out.push(v.clone());
        }
    }
    if let Some(serde_json::Value::Array(hosts)) = m.get("hosts") {
        for h in hosts.iter().filter_map(|h| h.as_str()) {
            if let Some(p) = h.strip_prefix("unix://") {
                out.push(p.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::action::HostConfig;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn dockerd_flags_and_config_name_its_paths() {
        let (paths, config) = paths_of_args(&s(&[
            "dockerd",
            "--exec-root",
            "/run/x",
            "--data-root=/srv/docker",
            "-H",
            "unix:///tmp/d.sock",
            "--config-file",
            "/etc/d.json",
            "--iptables=false",
            "--containerd=/run/c.sock",
        ]));
        assert_eq!(
            paths,
            s(&["/run/x", "/srv/docker", "/tmp/d.sock", "/run/c.sock"])
        );
        assert_eq!(config.as_deref(), Some("/etc/d.json"));
        assert_eq!(
            paths_of_config(
                br#"{"exec-root":"/run/e","hosts":["unix:///s.sock","tcp://0:1"],"debug":true}"#
            ),
            s(&["/run/e", "/s.sock"])
        );
        assert!(paths_of_config(b"not json").is_empty());
    }

    #[test]
    fn learned_paths_include_the_daemon_and_the_plugin() {
        let info = DaemonInfo {
            docker_root_dir: "/srv/docker".into(),
            ..Default::default()
        };
        let p = daemon_paths(
            &Local {
                docker_socket: Some("/tmp/g.sock"),
                state_dir: Path::new("/var/lib/img-authz"),
                policy_file: Some(Path::new("/opt/policy.toml")),
                dockerd_pid: None,
            },
            &info,
        );
        for want in [
            "/tmp/g.sock",
            "/srv/docker",
            "/opt/policy.toml",
            "/var/run/docker",
        ] {
            assert!(p.iter().any(|x| x == want), "{want}: {p:?}");
        }
    }

    #[test]
    fn a_policy_key_replaces_the_baseline_check_it_stands_for() {
        let base = layered(&HardeningSpec::default());
        let hc = |f: fn(&mut HostConfig)| {
            let mut h = HostConfig::default();
            f(&mut h);
            h
        };
        let sys_admin = hc(|h| h.cap_add = vec!["SYS_ADMIN".into()]);
        assert_eq!(
            base.host_config(&sys_admin, None).err().map(|v| v.check),
            Some("cap_add")
        );
        let file = HardeningSpec {
            cap_add: Some(vec!["SYS_ADMIN".into()]),
            privileged: Some(true),
            host_namespaces: Some(true),
            ..Default::default()
        };
        let l = layered(&file);
        assert!(l.host_config(&sys_admin, None).is_ok());
        assert!(l.host_config(&hc(|h| h.privileged = true), None).is_ok());
        assert!(l
            .host_config(&hc(|h| h.pid_mode = "host".into()), None)
            .is_ok());
        // What the file does not set stays at the baseline.
        assert_eq!(
            l.host_config(&hc(|h| h.devices = vec!["/dev/sda".into()]), None)
                .err()
                .map(|v| v.check),
            Some("devices")
        );
    }
}
