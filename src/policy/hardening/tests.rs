//! Tests of the hardening checks, by check.

use super::*;

fn hardened() -> HardeningSpec {
    HardeningSpec {
        privileged: Some(false),
        host_namespaces: Some(false),
        bind_mounts: Some(vec!["/srv/data".into()]),
        docker_socket: Some(false),
        cap_add: Some(vec!["NET_BIND_SERVICE".into()]),
        devices: Some(false),
        unconfined: Some(false),
        sysctls: Some(false),
        runtimes: Some(vec!["runc".into()]),
        cgroup_parent: Some(false),
        exec_privileged: Some(false),
        volume_drivers: Some(vec!["local".into()]),
        volumes_from: Some(false),
        seccomp_profiles: None,
        builtin: BuiltIn {
            daemon: Some(Arc::new(DaemonFacts::default())),
            ..Default::default()
        },
        network_drivers: Some(vec!["bridge".into()]),
        log_drivers: Some(vec!["json-file".into(), "local".into()]),
    }
}

fn check(hc: HostConfig) -> Option<&'static str> {
    hardened().host_config(&hc, None).err().map(|v| v.check)
}

#[test]
fn every_escape_route() {
    let d = HostConfig::default;
    assert_eq!(check(d()), None);
    assert_eq!(
        check(HostConfig {
            privileged: true,
            ..d()
        }),
        Some("privileged")
    );
    for (f, v) in [
        ("net", "host"),
        ("pid", "host"),
        ("ipc", "container:x"),
        ("uts", "host"),
        ("userns", "host"),
        ("cgroupns", "host"),
        ("pid", "container:abc"),
    ] {
        let mut hc = d();
        match f {
            "net" => hc.network_mode = v.into(),
            "pid" => hc.pid_mode = v.into(),
            "ipc" => hc.ipc_mode = v.into(),
            "uts" => hc.uts_mode = v.into(),
            "userns" => hc.userns_mode = v.into(),
            _ => hc.cgroupns_mode = v.into(),
        }
        assert_eq!(check(hc), Some("host_namespaces"), "{f}={v}");
    }
    assert_eq!(
        check(HostConfig {
            network_mode: "bridge".into(),
            ipc_mode: "private".into(),
            ..d()
        }),
        None
    );
    assert_eq!(
        check(HostConfig {
            binds: vec!["/:/host".into()],
            ..d()
        }),
        Some("docker_socket")
    );
    assert_eq!(
        check(HostConfig {
            binds: vec!["/var/run:/r".into()],
            ..d()
        }),
        Some("docker_socket")
    );
    assert_eq!(
        check(HostConfig {
            binds: vec!["/var/run/docker.sock:/s".into()],
            ..d()
        }),
        Some("docker_socket")
    );
    assert_eq!(
        check(HostConfig {
            binds: vec!["/etc:/e:ro".into()],
            ..d()
        }),
        Some("docker_socket")
    );
    assert_eq!(
        check(HostConfig {
            binds: vec!["/home:/h".into()],
            ..d()
        }),
        Some("bind_mounts")
    );
    assert_eq!(
        check(HostConfig {
            binds: vec!["/srv/data/x:/x".into()],
            ..d()
        }),
        None
    );
    assert_eq!(
        check(HostConfig {
            binds: vec!["/srv/database:/x".into()],
            ..d()
        }),
        Some("bind_mounts")
    );
    assert_eq!(
        check(HostConfig {
            binds: vec!["/srv/data/../../etc:/x".into()],
            ..d()
        }),
        Some("bind_mounts")
    );
    assert_eq!(
        check(HostConfig {
            binds: vec!["vol:/x".into()],
            ..d()
        }),
        None
    );
    let bind = |src: &str| Mount {
        typ: "bind".into(),
        source: src.into(),
        target: "/t".into(),
        ..Default::default()
    };
    assert_eq!(
        check(HostConfig {
            mounts: vec![bind("/")],
            ..d()
        }),
        Some("docker_socket")
    );
    let local_bind = Mount {
        typ: "volume".into(),
        volume_driver: "local".into(),
        volume_driver_opts: vec![
            ("type".into(), "none".into()),
            ("o".into(), "bind".into()),
            ("device".into(), "/".into()),
        ],
        ..Default::default()
    };
    assert_eq!(
        check(HostConfig {
            mounts: vec![local_bind],
            ..d()
        }),
        Some("docker_socket")
    );
    let other_driver = Mount {
        typ: "volume".into(),
        volume_driver: "sshfs".into(),
        ..Default::default()
    };
    assert_eq!(
        check(HostConfig {
            mounts: vec![other_driver],
            ..d()
        }),
        Some("volume_drivers")
    );
    assert_eq!(
        check(HostConfig {
            volumes_from: vec!["c".into()],
            ..d()
        }),
        Some("volumes_from")
    );
    assert_eq!(
        check(HostConfig {
            cap_add: vec!["SYS_ADMIN".into()],
            ..d()
        }),
        Some("cap_add")
    );
    assert_eq!(
        check(HostConfig {
            cap_add: vec!["cap_net_bind_service".into()],
            ..d()
        }),
        None
    );
    assert_eq!(
        check(HostConfig {
            cap_add: vec!["ALL".into()],
            ..d()
        }),
        Some("cap_add")
    );
    assert_eq!(
        check(HostConfig {
            devices: vec!["/dev/sda".into()],
            ..d()
        }),
        Some("devices")
    );
    assert_eq!(
        check(HostConfig {
            device_requests: vec!["nvidia".into()],
            ..d()
        }),
        Some("devices")
    );
    assert_eq!(
        check(HostConfig {
            device_cgroup_rules: vec!["c *:* rwm".into()],
            ..d()
        }),
        Some("devices")
    );
    for o in [
        "seccomp=unconfined",
        "seccomp:unconfined",
        "apparmor=unconfined",
        "label=disable",
        "label:disable",
        "systempaths=unconfined",
        // dockerd loads no filter for these (issue 12, hole 1).
        "seccomp=null",
        "seccomp= null",
        "seccomp:{}",
    ] {
        assert_eq!(
            check(HostConfig {
                security_opt: vec![o.into()],
                ..d()
            }),
            Some("unconfined"),
            "{o}"
        );
    }
    assert_eq!(
        check(HostConfig {
            security_opt: vec![
                "no-new-privileges".into(),
                r#"seccomp={"defaultAction":"SCMP_ACT_ERRNO"}"#.into()
            ],
            ..d()
        }),
        None
    );
    assert_eq!(
        check(HostConfig {
            sysctls: vec![("kernel.x".into(), "1".into())],
            ..d()
        }),
        Some("sysctls")
    );
    assert_eq!(
        check(HostConfig {
            runtime: "kata".into(),
            ..d()
        }),
        Some("runtimes")
    );
    assert_eq!(
        check(HostConfig {
            runtime: "runc".into(),
            ..d()
        }),
        None
    );
    assert_eq!(
        check(HostConfig {
            cgroup_parent: "/".into(),
            ..d()
        }),
        Some("cgroup_parent")
    );
    assert_eq!(
        hardened()
            .host_config(&d(), Some("1.40"))
            .err()
            .map(|v| v.check),
        Some("host_namespaces"),
        "old API versions default cgroupns to host"
    );
}

#[test]
fn the_effective_cgroup_namespace() {
    let v1 = |host_default: bool| HardeningSpec {
        builtin: BuiltIn {
            daemon: Some(Arc::new(DaemonFacts {
                cgroupns_host_default: host_default,
                cgroup_v1: true,
                paths: vec![],
            })),
            ..Default::default()
        },
        ..hardened()
    };
    let empty = HostConfig::default();
    let private = HostConfig {
        cgroupns_mode: "private".into(),
        ..Default::default()
    };
    // dockerd's default on cgroup v1: the host's.
    assert_eq!(
        v1(true).create(&empty, Some("1.41")).err().map(|v| v.check),
        Some("host_namespaces")
    );
    assert!(v1(true).create(&private, Some("1.41")).is_ok());
    // default-cgroupns-mode=private.
    assert!(v1(false).create(&empty, Some("1.41")).is_ok());
    // Privileged containers keep the host's on v1 whatever the default.
    let privileged = HostConfig {
        privileged: true,
        ..Default::default()
    };
    let mut p = v1(false);
    p.privileged = None;
    assert_eq!(
        p.create(&privileged, None).err().map(|v| v.check),
        Some("host_namespaces")
    );
    // Not yet known: ask the daemon.
    let mut unknown = hardened();
    unknown.builtin.daemon = None;
    assert_eq!(
        unknown.create(&empty, None).err().map(|v| v.check),
        Some(NEEDS_DAEMON)
    );
    // At start: the stored mode.
    let stored = HostConfig {
        cgroupns_mode: "host".into(),
        ..Default::default()
    };
    let e = v1(false).start(&stored).unwrap_err();
    assert!(e.reason.contains("--cgroupns private"), "{}", e.reason);
    assert!(v1(false).start(&private).is_ok());
    let shared_pid = HostConfig {
        cgroupns_mode: "private".into(),
        pid_mode: "host".into(),
        ..Default::default()
    };
    assert!(v1(false).start(&shared_pid).is_err());
    // Without host_namespaces the host's cgroupns is fine.
    assert!(HardeningSpec::default().start(&stored).is_ok());
}

#[test]
fn off_checks_allow_everything() {
    let off = HardeningSpec::default();
    let hc = HostConfig {
        privileged: true,
        binds: vec!["/:/host".into()],
        pid_mode: "host".into(),
        cap_add: vec!["ALL".into()],
        ..Default::default()
    };
    assert!(off.host_config(&hc, None).is_ok());
    assert!(off.exec(true).is_ok());
}

#[test]
fn exec_volumes_and_services() {
    let h = hardened();
    assert_eq!(h.exec(true).err().map(|v| v.check), Some("exec_privileged"));
    assert!(h.exec(false).is_ok());
    let bind = vec![
        ("type".into(), "none".into()),
        ("o".into(), "bind".into()),
        ("device".into(), "/etc".into()),
    ];
    assert_eq!(
        h.volume_create("local", &bind).err().map(|v| v.check),
        Some("docker_socket")
    );
    let ok = vec![
        ("type".into(), "none".into()),
        ("o".into(), "bind".into()),
        ("device".into(), "/srv/data/v".into()),
    ];
    assert!(h.volume_create("", &ok).is_ok());
    assert!(h
        .volume_create(
            "local",
            &[
                ("type".into(), "tmpfs".into()),
                ("device".into(), "tmpfs".into())
            ]
        )
        .is_ok());
    assert_eq!(
        h.volume_create("rexray", &[]).err().map(|v| v.check),
        Some("volume_drivers")
    );
    let svc = ServiceSpec {
        cap_add: vec!["SYS_ADMIN".into()],
        ..Default::default()
    };
    assert_eq!(
        h.service(&svc, false).err().map(|v| v.check),
        Some("cap_add")
    );
    let svc = ServiceSpec {
        mounts: vec![Mount {
            typ: "bind".into(),
            source: "/".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        h.service(&svc, false).err().map(|v| v.check),
        Some("docker_socket")
    );
    // The host network, however the caller found it.
    assert_eq!(
        h.service(&ServiceSpec::default(), true)
            .err()
            .map(|v| v.check),
        Some("host_namespaces")
    );
    assert!(h.service(&ServiceSpec::default(), false).is_ok());
    // A service's own seccomp profile and disabled AppArmor.
    for opt in ["seccomp=custom", "apparmor=disabled"] {
        let svc = ServiceSpec {
            security_opt: vec![opt.into()],
            ..Default::default()
        };
        assert_eq!(
            h.service(&svc, false).err().map(|v| v.check),
            Some("unconfined"),
            "{opt}"
        );
    }
}

#[test]
fn what_dockerd_reads_as_unconfined() {
    let h = hardened();
    let with = |opts: &[&str]| HostConfig {
        security_opt: opts.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    for opt in [
        "disable",
        "label=type:spc_t",
        "label:type:unconfined_t",
        "writable-cgroups=true",
        "writable-cgroups",
        "label=type:kernel_t",
        "label=user:unconfined_u",
        "label=role:unconfined_r",
        r#"seccomp={"defaultAction":"SCMP_ACT_ERRNO","DEFAULTACTION":"SCMP_ACT_ALLOW"}"#,
        r#"seccomp={"syscalls":[]}"#,
        "seccomp={not json",
        "seccomp=[]",
        "seccomp=custom",
    ] {
        assert_eq!(
            h.host_config(&with(&[opt]), None).err().map(|v| v.check),
            Some("unconfined"),
            "{opt}"
        );
    }
    for opt in [
        "no-new-privileges",
        "label=level:s0:c100,c200",
        "label=type:container_t",
        "label=user:system_u",
        "writable-cgroups=false",
        r#"seccomp={"DefaultAction":"SCMP_ACT_ERRNO"}"#,
        "seccomp=builtin",
    ] {
        assert!(h.host_config(&with(&[opt]), None).is_ok(), "{opt}");
    }
    // Profiles that let more run than Docker's default: allowed only
    // when the policy lists their digest.
    for profile in [
        r#"{"DefaultAction":"SCMP_ACT_ALLOW"}"#,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ALLOW"}]}"#,
    ] {
        let opt = format!("seccomp={profile}");
        let v = h.host_config(&with(&[&opt]), None).unwrap_err();
        assert_eq!(v.check, "seccomp_profiles", "{opt}");
        let digest = crate::policy::seccomp::digest(profile);
        assert!(v.reason.contains(&digest), "{}", v.reason);
        let listed = HardeningSpec {
            seccomp_profiles: Some(vec![digest]),
            ..hardened()
        };
        assert!(listed.host_config(&with(&[&opt]), None).is_ok(), "{opt}");
    }
    let paths = |m: Option<Vec<&str>>, r: Option<Vec<&str>>| HostConfig {
        masked_paths: m.map(|v| v.into_iter().map(String::from).collect()),
        readonly_paths: r.map(|v| v.into_iter().map(String::from).collect()),
        ..Default::default()
    };
    let check = |hc: HostConfig| h.host_config(&hc, None).err().map(|v| v.check);
    assert_eq!(check(paths(Some(vec![]), Some(vec![]))), Some("unconfined"));
    assert_eq!(
        check(paths(None, Some(vec!["/proc/bus"]))),
        Some("unconfined")
    );
    let mut more = MASKED_PATHS.to_vec();
    more.push("/sys/devices/virtual/powercap");
    assert_eq!(
        check(paths(Some(more), Some(READONLY_PATHS.to_vec()))),
        None
    );
    assert_eq!(check(paths(None, None)), None);
}

#[test]
fn networks_and_log_drivers() {
    let h = hardened();
    let o = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    let check = |d: &str, opts: &[(String, String)]| h.network(d, opts, "n").err().map(|v| v.check);
    assert_eq!(check("", &[]), None, "empty is bridge");
    assert_eq!(
        check(
            "bridge",
            &o("com.docker.network.bridge.enable_icc", "false")
        ),
        None
    );
    assert_eq!(check("macvlan", &[]), Some("network_drivers"));
    assert_eq!(
        check("bridge", &o("com.docker.network.bridge.name", "docker0")),
        Some("host_namespaces")
    );
    assert_eq!(check("null", &o("parent", "eth0")), Some("network_drivers"));
    let open = HardeningSpec {
        host_namespaces: Some(false),
        ..Default::default()
    };
    assert_eq!(
        open.network("ipvlan", &o("parent", "eth0.10"), "n")
            .err()
            .map(|v| v.check),
        Some("host_namespaces")
    );
    assert!(open.network("ipvlan", &o("parent", ""), "n").is_ok());
    assert!(HardeningSpec::default()
        .network("macvlan", &o("parent", "eth0"), "n")
        .is_ok());
    let with_log = |t: &str| HostConfig {
        log_driver: t.into(),
        ..Default::default()
    };
    assert_eq!(check_hc(&h, with_log("syslog")), Some("log_drivers"));
    assert_eq!(check_hc(&h, with_log("local")), None);
    assert_eq!(check_hc(&h, with_log("")), None, "the daemon's default");
    let svc = ServiceSpec {
        log_driver: "gelf".into(),
        ..Default::default()
    };
    assert_eq!(
        h.service(&svc, false).err().map(|v| v.check),
        Some("log_drivers")
    );
}

fn check_hc(h: &HardeningSpec, hc: HostConfig) -> Option<&'static str> {
    h.host_config(&hc, None).err().map(|v| v.check)
}

#[test]
fn builds_on_the_host_network() {
    let h = hardened();
    assert!(h.build_network("").is_ok());
    assert!(h.build_network("default").is_ok());
    assert_eq!(
        h.build_network("host").err().map(|v| v.check),
        Some("host_namespaces")
    );
}

#[test]
fn checkpoint_directories_are_host_paths() {
    let h = hardened();
    assert!(h.checkpoint_dir("").is_ok());
    assert!(h.checkpoint_dir("/srv/data/cp").is_ok());
    assert_eq!(
        h.checkpoint_dir("/etc/cron.d").err().map(|v| v.check),
        Some("bind_mounts")
    );
}

#[test]
fn the_local_driver_mounting_host_storage() {
    let h = hardened();
    let opts = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let check = |kv: &[(&str, &str)]| h.volume_create("local", &opts(kv)).err().map(|v| v.check);
    assert_eq!(
        check(&[("type", "ext4"), ("device", "/dev/sda1")]),
        Some("devices")
    );
    assert_eq!(
        check(&[("type", "xfs"), ("device", "/home")]),
        Some("bind_mounts")
    );
    assert_eq!(check(&[("device", "/home")]), Some("bind_mounts"));
    assert_eq!(
        check(&[
            ("type", "overlay"),
            ("device", "overlay"),
            (
                "o",
                "lowerdir=/srv/data/a:/home,upperdir=/srv/data/u,workdir=/srv/data/w"
            ),
        ]),
        Some("bind_mounts")
    );
    assert_eq!(
        check(&[
            ("type", "overlay"),
            ("device", "overlay"),
            (
                "o",
                "lowerdir=/srv/data/a,upperdir=/srv/data/u,workdir=/srv/data/w"
            ),
        ]),
        None
    );
    assert_eq!(
        check(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=100m")]),
        None
    );
    assert_eq!(
        check(&[
            ("type", "nfs"),
            ("device", ":/export"),
            ("o", "addr=10.0.0.1")
        ]),
        None
    );
    assert_eq!(check(&[("type", "cifs"), ("device", "//srv/share")]), None);
    assert_eq!(check(&[]), None);
    assert_eq!(
        check(&[("type", "proc"), ("device", "proc")]),
        Some("bind_mounts")
    );
    assert_eq!(
        check(&[("type", "ext4"), ("device", "dev/sda1")]),
        Some("devices")
    );
    assert_eq!(
        check(&[
            ("type", "overlay"),
            ("device", "overlay"),
            (
                "o",
                "lowerdir+=/home,upperdir=/srv/data/u,workdir=/srv/data/w"
            )
        ]),
        Some("bind_mounts")
    );
}
