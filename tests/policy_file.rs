//! The policy file: rule precedence, users, modes, per-rule operations,
//! container hardening per escape route, and hot reload (good, bad, racing).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use img_authz::decide::{file, Check, Config, Ctx, Decision, Outcome, Policy, RawConfig};
use img_authz::protocol::AuthzRequest;
use img_authz::request::decode;
use img_authz::run::{DecisionLog, Plugin};

fn cfg(dir: &Path) -> Config {
    RawConfig {
        registry: "reg.io".into(),
        trust: "none".into(),
        docker_host: "unix:///nonexistent/docker.sock".into(),
        state_dir: dir.display().to_string(),
        ..Default::default()
    }
    .validate()
    .unwrap()
}

/// `GET /info` of dockerd 20.10 on a cgroup v2 host (private cgroupns by
/// default) and on this cgroup v1 machine (the host's), data root /srv/dr.
const INFO_V2: &str = r#"{"CgroupVersion":"2","SecurityOptions":["name=seccomp,profile=builtin","name=cgroupns"],"DockerRootDir":"/srv/dr","DriverStatus":[]}"#;
const INFO_V1: &str = r#"{"CgroupVersion":"1","SecurityOptions":["name=seccomp,profile=default"],"DockerRootDir":"/srv/dr","DriverStatus":[]}"#;

/// Containers the stand-in dockerd knows, as `GET /containers/{id}/json`
/// shows them (dockerd's defaults filled in).
const STORED: &[(&str, &str)] = &[
    (
        "plain",
        r#"{"Name":"/plain","Image":"sha256:aa","Config":{"Image":"reg.io/app:1"},"HostConfig":{"CgroupnsMode":"private","IpcMode":"private","NetworkMode":"default"}}"#,
    ),
    (
        "iaz-ctr",
        r#"{"Name":"/iaz-ctr","Image":"sha256:aa","Config":{"Image":"reg.io/app:1"},"HostConfig":{"CgroupnsMode":"private","IpcMode":"private","NetworkMode":"default"}}"#,
    ),
    (
        "v1default",
        r#"{"Name":"/v1default","Image":"sha256:aa","Config":{"Image":"reg.io/app:1"},"HostConfig":{"CgroupnsMode":"host","IpcMode":"private","NetworkMode":"default"}}"#,
    ),
    (
        "old-privileged",
        r#"{"Name":"/old-privileged","Image":"sha256:aa","Config":{"Image":"reg.io/app:1"},"HostConfig":{"Privileged":true,"CgroupnsMode":"private"}}"#,
    ),
    (
        "old-bind",
        r#"{"Name":"/old-bind","Image":"sha256:aa","Config":{"Image":"reg.io/app:1"},"HostConfig":{"Binds":["/srv/dr:/r"],"CgroupnsMode":"private"}}"#,
    ),
    // Made with --volumes-from of a container that binds the host's root:
    // dockerd copied that mount point; its own HostConfig names no bind.
    (
        "from-root",
        r#"{"Name":"/from-root","Image":"sha256:aa","Config":{"Image":"reg.io/app:1"},"HostConfig":{"VolumesFrom":["rooted"],"CgroupnsMode":"private"},"Mounts":[{"Type":"bind","Source":"/","Destination":"/host","RW":true},{"Type":"volume","Name":"v","Source":"/srv/dr/volumes/v/_data","Destination":"/v"}]}"#,
    ),
    // Joins the PID namespace of a privileged container.
    (
        "joins-privileged",
        r#"{"Name":"/joins-privileged","Image":"sha256:aa","Config":{"Image":"reg.io/app:1"},"HostConfig":{"PidMode":"container:old-privileged","CgroupnsMode":"private"}}"#,
    ),
    (
        "joins-plain",
        r#"{"Name":"/joins-plain","Image":"sha256:aa","Config":{"Image":"reg.io/app:1"},"HostConfig":{"PidMode":"container:plain","NetworkMode":"container:plain","CgroupnsMode":"private"},"Mounts":[{"Type":"volume","Name":"v","Source":"/srv/dr/volumes/v/_data","Destination":"/v"}]}"#,
    ),
];

/// A stand-in dockerd on a unix socket in `dir` that answers `GET /info`
/// with `info` and 404 to anything else. Its thread ends with the test
/// process.
fn fake_dockerd(dir: &Path, info: &'static str) -> String {
    use std::io::{Read, Write};
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("dockerd{n}.sock"));
    let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let (status, body) = if buf.starts_with(b"GET /info ") {
                ("200 OK", info)
            } else if let Some(c) = STORED.iter().find(|(name, _)| {
                buf.starts_with(format!("GET /containers/{name}/json ").as_bytes())
            }) {
                ("200 OK", c.1)
            } else {
                ("404 Not Found", r#"{"message":"no such object"}"#)
            };
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("unix://{}", path.display())
}

fn cfg_with(dir: &Path, info: &'static str, hardening: &str) -> Config {
    RawConfig {
        registry: "reg.io".into(),
        trust: "none".into(),
        docker_host: fake_dockerd(dir, info),
        state_dir: dir.display().to_string(),
        hardening: hardening.into(),
        ..Default::default()
    }
    .validate()
    .unwrap()
}

fn policy(dir: &Path, text: &str) -> Policy {
    let f = file::parse(text, &dir.join("policy.toml")).unwrap_or_else(|e| panic!("{e}"));
    Policy::new(cfg_with(dir, INFO_V2, ""), Some(f)).unwrap()
}

fn req(method: &str, uri: &str, body: Option<&str>) -> AuthzRequest {
    let mut h = BTreeMap::new();
    let (ct, len) = match body {
        Some(b) => ("application/json".to_string(), b.len().to_string()),
        None => ("text/plain".to_string(), "0".to_string()),
    };
    h.insert("Content-Type".to_string(), ct);
    h.insert("Content-Length".to_string(), len);
    AuthzRequest {
        request_method: method.into(),
        request_uri: uri.into(),
        request_body: body.map(|b| b.as_bytes().to_vec()),
        request_headers: Some(h),
        ..Default::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn decide(p: &Policy, user: &str, method: &str, uri: &str, body: Option<&str>) -> Decision {
    let d = decode(&req(method, uri, body)).unwrap_or_else(|e| panic!("{uri}: {e}"));
    let ctx = Ctx {
        user: p.user_of(user),
        api_version: d.version.clone(),
    };
    rt().block_on(p.decide(&d.action, &ctx))
}

fn pull(p: &Policy, user: &str, image: &str) -> Decision {
    decide(
        p,
        user,
        "POST",
        &format!("/v1.41/images/create?fromImage={image}&tag=v1"),
        None,
    )
}

fn create(p: &Policy, user: &str, body: &str) -> Decision {
    decide(p, user, "POST", "/v1.41/containers/create", Some(body))
}

const RULES: &str = r#"
version = 1
[[rules]]
name = "everything"
repositories = ["*"]
verifier = "none"
[[rules]]
name = "host"
repositories = ["other.io/*"]
verifier = "none"
[[rules]]
name = "team prefix"
repositories = ["other.io/team/*"]
verifier = "none"
allow = ["tag"]
[[rules]]
name = "one repo"
repositories = ["other.io/team/app"]
verifier = "none"
[[rules]]
name = "alice only"
repositories = ["private.io/*"]
users = ["alice", "ci-*"]
verifier = "none"
"#;

#[test]
fn the_most_specific_rule_wins() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), RULES);
    let source = |image: &str| pull(&p, "", image).source.unwrap_or_default();
    assert_eq!(source("other.io/team/app"), "one repo");
    assert_eq!(source("other.io/team/app2"), "team prefix");
    assert_eq!(source("other.io/team/sub/x"), "team prefix");
    assert_eq!(source("other.io/x"), "host");
    assert_eq!(source("docker.io/library/busybox"), "everything");
    // The environment's REGISTRY rule (reg.io/*) beats "*".
    assert_eq!(source("reg.io/x"), "REGISTRY reg.io");
    // Per-rule operations follow the winning rule: tagging into the team
    // prefix is allowed, into its one exact repository it is not.
    assert!(decide(
        &p,
        "",
        "POST",
        "/v1.41/images/x/tag?repo=other.io/team/b&tag=1",
        None
    )
    .allowed());
    let d = decide(
        &p,
        "",
        "POST",
        "/v1.41/images/x/tag?repo=other.io/team/app&tag=1",
        None,
    );
    assert!(
        !d.allowed() && d.check == Check::Tag && d.source.as_deref() == Some("one repo"),
        "{d:?}"
    );
}

#[test]
fn rules_can_be_scoped_to_users() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
version = 1
[global]
local_user = "root-on-host"
[[rules]]
name = "alice only"
repositories = ["private.io/*"]
users = ["alice", "ci-*"]
verifier = "none"
"#;
    let p = policy(dir.path(), text);
    assert!(pull(&p, "alice", "private.io/x").allowed());
    assert!(pull(&p, "ci-runner-7", "private.io/x").allowed());
    let d = pull(&p, "bob", "private.io/x");
    assert!(!d.allowed() && d.check == Check::RegistryAllowlist, "{d:?}");
    // The unix socket carries no identity: the configured local user.
    assert_eq!(p.user_of(""), "root-on-host");
    assert!(!pull(&p, "", "private.io/x").allowed());
}

/// Defect B: `docker update` decodes to ContainerUpdate, not a control
/// route, so the listed "update" never protected the plugin's container.
/// Every operation self-protection lists is denied on `self_containers`,
/// and only there.
#[test]
fn self_protection_covers_every_listed_operation() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(
        dir.path(),
        r#"
version = 1
[global]
mode = "audit"
self_containers = ["/iaz-ctr"]
[[rules]]
name = "everything"
repositories = ["*"]
verifier = "none"
"#,
    );
    let ops: &[(&str, &str, Option<&str>)] = &[
        ("POST", "stop", None),
        ("POST", "kill", None),
        ("POST", "pause", None),
        ("POST", "restart", None),
        ("POST", "rename?name=other", None),
        ("POST", "update", Some(r#"{"CpuShares":512}"#)),
        ("DELETE", "", None),
    ];
    for &(method, op, body) in ops {
        let uri = |c: &str| {
            let path = format!("/v1.41/containers/{c}");
            if op.is_empty() {
                path
            } else {
                format!("{path}/{op}")
            }
        };
        // Audit mode does not soften it.
        let d = decide(&p, "", method, &uri("iaz-ctr"), body);
        assert!(
            !d.allowed(),
            "{method} {op} on the plugin's container: {d:?}"
        );
        assert_eq!(d.check, Check::SelfProtection, "{method} {op}");
        let d = decide(&p, "", method, &uri("plain"), body);
        assert_ne!(
            d.check,
            Check::SelfProtection,
            "{method} {op} on another container"
        );
    }
}

/// Defect E: a rule's unusable `tls_ca` was reported as `NOTARY_ROOT_CA`,
/// a setting the operator did not touch.
#[test]
fn a_rules_unusable_tls_ca_is_reported_against_the_policy_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let text = format!(
        "version = 1\n[[rules]]\nrepositories = [\"reg.io/*\"]\nverifier = \"notary\"\n[rules.notary]\nserver = \"https://notary.reg.io\"\ntls_ca = {:?}\n",
        ca.display().to_string()
    );
    let f = file::parse(&text, &dir.path().join("policy.toml")).unwrap_or_else(|e| panic!("{e}"));
    let Err(e) = Policy::new(cfg_with(dir.path(), INFO_V2, ""), Some(f)) else {
        panic!("an unusable CA builds a policy");
    };
    let e = e.to_string();
    assert!(e.starts_with("IMG_AUTHZ_POLICY: "), "{e}");
    assert!(e.contains(&ca.display().to_string()), "{e}");
}

/// Defect G: the status JSON spells the mode as the policy file does.
#[test]
fn status_reports_the_mode_in_the_files_spelling() {
    use img_authz::protocol::Authorize;
    let dir = tempfile::tempdir().unwrap();
    for mode in ["audit", "enforce"] {
        let text = format!("version = 1\n[global]\nmode = \"{mode}\"\n");
        let plugin = Plugin::new(policy(dir.path(), &text), DecisionLog::default());
        assert_eq!(plugin.status()["policy_file"]["mode"], mode);
    }
}

/// Every call's decision future is boxed and copied once (the server's
/// deadline task): unboxed branches that wait on dockerd or a registry made
/// it some 12 KiB for every call, a read's too (BENCHMARKS.md). A generous
/// bound, so that only a branch awaited unboxed again trips it.
#[test]
fn a_decision_future_is_small() {
    use img_authz::protocol::{Authorize, Phase};
    let dir = tempfile::tempdir().unwrap();
    let plugin = Plugin::new(policy(dir.path(), "version = 1\n"), DecisionLog::default());
    let call = req(
        "POST",
        "/v1.41/images/create?fromImage=r.io%2Fapp&tag=v1",
        None,
    );
    let size = std::mem::size_of_val(&plugin.authorize(Phase::Request, call));
    assert!(size <= 4096, "the decision future is {size} bytes");
}

#[test]
fn no_rule_means_deny() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), "version = 1\n");
    let d = pull(&p, "", "elsewhere.io/x");
    assert!(!d.allowed() && d.check == Check::RegistryAllowlist);
    assert!(d.hint.contains("policy file"), "{d:?}");
}

#[test]
fn audit_mode_allows_and_says_what_it_would_deny() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), "version = 1\n[global]\nmode = \"audit\"\n");
    let d = decide(&p, "", "POST", "/v1.41/images/load", None);
    assert!(
        d.outcome == Outcome::AuditAllow && d.check == Check::Load,
        "{d:?}"
    );
    let d = pull(&p, "", "elsewhere.io/x");
    assert!(
        d.outcome == Outcome::AuditAllow && d.check == Check::RegistryAllowlist,
        "{d:?}"
    );
    // What cannot be read as dockerd reads it is never waved through.
    let bad = req(
        "POST",
        "/v1.41/containers/create",
        Some(r#"{"Image":"a","image":"b"}"#),
    );
    assert!(decode(&bad).is_err());
    // Per rule: only that rule's decisions are audited.
    let text = r#"
version = 1
[[rules]]
name = "audited"
repositories = ["a.io/*"]
verifier = "none"
mode = "audit"
"#;
    let p = policy(dir.path(), text);
    let d = decide(
        &p,
        "",
        "POST",
        "/v1.41/images/x/tag?repo=a.io/y&tag=1",
        None,
    );
    assert!(
        d.outcome == Outcome::AuditAllow && d.check == Check::Tag,
        "{d:?}"
    );
    let d = decide(&p, "", "POST", "/v1.41/images/load", None);
    assert!(d.outcome == Outcome::Deny, "global mode is enforce: {d:?}");
}

#[test]
fn global_and_per_rule_operations() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
version = 1
[global]
allow = ["load"]
[[rules]]
name = "builds"
repositories = ["dev.io/*"]
verifier = "none"
allow = ["build", "tag"]
"#;
    let p = policy(dir.path(), text);
    assert!(decide(&p, "", "POST", "/v1.41/images/load", None).allowed());
    assert!(decide(&p, "", "POST", "/v1.41/build?t=dev.io/app:1", None).allowed());
    let d = decide(&p, "", "POST", "/v1.41/build?t=reg.io/app:1", None);
    assert!(!d.allowed() && d.check == Check::Build, "{d:?}");
    assert!(!decide(
        &p,
        "",
        "POST",
        "/v1.41/images/create?fromSrc=-&repo=dev.io/x",
        None
    )
    .allowed());
}

const HARDENED: &str = r#"
version = 1
[[rules]]
name = "images"
repositories = ["reg.io/*"]
verifier = "none"
[hardening]
privileged = false
host_namespaces = false
bind_mounts = ["/srv/data"]
docker_socket = false
cap_add = ["NET_BIND_SERVICE"]
devices = false
unconfined = false
sysctls = false
runtimes = ["runc"]
cgroup_parent = false
exec_privileged = false
volume_drivers = ["local"]
volumes_from = false
[[hardening.overrides]]
users = ["ops"]
privileged = true
bind_mounts = ["/"]
docker_socket = true
"#;

#[test]
fn hardening_per_escape_route() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), HARDENED);
    let c = |hc: &str| {
        create(
            &p,
            "",
            &format!(r#"{{"Image":"reg.io/app:1","HostConfig":{hc}}}"#),
        )
    };
    let denied = |d: Decision, check: &str| {
        assert!(
            !d.allowed() && d.check == Check::Hardening,
            "{check}: {d:?}"
        );
        assert!(d.reason.contains(check), "{check}: {}", d.reason);
    };
    assert!(c("{}").allowed());
    denied(c(r#"{"Privileged":true}"#), "privileged");
    denied(c(r#"{"Binds":["/:/host"]}"#), "docker_socket");
    denied(
        c(r#"{"Binds":["/var/run/docker.sock:/s"]}"#),
        "docker_socket",
    );
    denied(c(r#"{"Binds":["/home:/h"]}"#), "bind_mounts");
    assert!(c(r#"{"Binds":["/srv/data/app:/data","vol:/v"]}"#).allowed());
    denied(
        c(r#"{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/e"}]}"#),
        "docker_socket",
    );
    denied(
        c(
            r#"{"Mounts":[{"Type":"volume","Target":"/m","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]}"#,
        ),
        "docker_socket",
    );
    for ns in [
        "NetworkMode",
        "PidMode",
        "IpcMode",
        "UTSMode",
        "UsernsMode",
        "CgroupnsMode",
    ] {
        denied(c(&format!(r#"{{"{ns}":"host"}}"#)), "host_namespaces");
    }
    denied(c(r#"{"PidMode":"container:abc"}"#), "host_namespaces");
    denied(c(r#"{"CapAdd":["SYS_ADMIN"]}"#), "cap_add");
    denied(c(r#"{"CapAdd":"ALL"}"#), "cap_add");
    assert!(c(r#"{"CapAdd":["NET_BIND_SERVICE"]}"#).allowed());
    denied(
        c(r#"{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda"}]}"#),
        "devices",
    );
    denied(
        c(r#"{"DeviceRequests":[{"Driver":"nvidia","Count":-1}]}"#),
        "devices",
    );
    denied(
        c(r#"{"DeviceRequests":[{"Driver":"cdi","DeviceIDs":["vendor.com/gpu=0"]}]}"#),
        "devices",
    );
    denied(c(r#"{"DeviceCgroupRules":["c *:* rwm"]}"#), "devices");
    denied(c(r#"{"SecurityOpt":["seccomp=unconfined"]}"#), "unconfined");
    denied(
        c(r#"{"SecurityOpt":["apparmor=unconfined"]}"#),
        "unconfined",
    );
    denied(c(r#"{"SecurityOpt":["label=disable"]}"#), "unconfined");
    denied(c(r#"{"Sysctls":{"net.ipv4.ip_forward":"1"}}"#), "sysctls");
    denied(c(r#"{"Runtime":"kata"}"#), "runtimes");
    denied(c(r#"{"CgroupParent":"/"}"#), "cgroup_parent");
    denied(c(r#"{"VolumesFrom":["other"]}"#), "volumes_from");
    denied(c(r#"{"VolumeDriver":"sshfs"}"#), "volume_drivers");
    // dockerd 20.10 honours HostConfig fields at the top level too.
    denied(
        create(&p, "", r#"{"Image":"reg.io/app:1","Privileged":true}"#),
        "privileged",
    );
    // Exec, start with a HostConfig (old API), update, volumes and services.
    denied(
        decide(
            &p,
            "",
            "POST",
            "/v1.41/containers/c/exec",
            Some(r#"{"Cmd":["sh"],"Privileged":true}"#),
        ),
        "exec_privileged",
    );
    denied(
        decide(
            &p,
            "",
            "POST",
            "/v1.23/containers/c/start",
            Some(r#"{"Binds":["/:/h"],"CgroupnsMode":"private"}"#),
        ),
        "docker_socket",
    );
    denied(
        decide(
            &p,
            "",
            "POST",
            "/v1.41/volumes/create",
            Some(r#"{"Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/etc"}}"#),
        ),
        "docker_socket",
    );
    assert!(decide(
        &p,
        "",
        "POST",
        "/v1.41/volumes/create",
        Some(r#"{"Name":"v"}"#)
    )
    .allowed());
    denied(
        decide(
            &p,
            "",
            "POST",
            "/v1.41/services/create",
            Some(
                r#"{"TaskTemplate":{"ContainerSpec":{"Image":"reg.io/a@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582","CapabilityAdd":["SYS_ADMIN"]}}}"#,
            ),
        ),
        "cap_add",
    );
    // Old API versions default the cgroup namespace to the host's.
    denied(
        decide(
            &p,
            "",
            "POST",
            "/v1.40/containers/create",
            Some(r#"{"Image":"reg.io/app:1"}"#),
        ),
        "host_namespaces",
    );
}

#[test]
fn hardening_overrides_for_users() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), HARDENED);
    let body = r#"{"Image":"reg.io/app:1","HostConfig":{"Privileged":true,"Binds":["/:/host"]}}"#;
    assert!(!create(&p, "dev", body).allowed());
    let d = create(&p, "ops", body);
    assert!(d.allowed(), "{d:?}");
    // What the override does not set stays locked.
    assert!(!create(
        &p,
        "ops",
        r#"{"Image":"reg.io/app:1","HostConfig":{"PidMode":"host"}}"#
    )
    .allowed());
}

/// Issue 12: network and log driver allowlists, host-network options of
/// network drivers, and `docker cp` under hardening.
#[test]
fn drivers_host_network_options_and_cp_under_hardening() {
    let dir = tempfile::tempdir().unwrap();
    let text = HARDENED.replacen(
        "volumes_from = false\n",
        "volumes_from = false\nnetwork_drivers = [\"bridge\", \"macvlan\"]\nlog_drivers = [\"json-file\"]\n",
        1,
    );
    assert!(text.contains("network_drivers"));
    let p = policy(dir.path(), &text);
    let net = |body: &str| decide(&p, "", "POST", "/v1.41/networks/create", Some(body));
    let denied = |d: Decision, rule: Check, check: &str| {
        assert!(!d.allowed() && d.check == rule, "{check}: {d:?}");
        assert!(d.reason.contains(check), "{check}: {}", d.reason);
    };
    assert!(net(r#"{"Name":"n"}"#).allowed());
    assert!(net(r#"{"Name":"n","Driver":"macvlan"}"#).allowed());
    denied(
        net(r#"{"Name":"n","Driver":"ipvlan"}"#),
        Check::Hardening,
        "network_drivers",
    );
    denied(
        net(r#"{"Name":"n","Driver":"macvlan","Options":{"parent":"eth0"}}"#),
        Check::Hardening,
        "host_namespaces",
    );
    denied(
        net(r#"{"Name":"n","Options":{"com.docker.network.bridge.name":"docker0"}}"#),
        Check::Hardening,
        "host_namespaces",
    );
    // A config-only network carries the options for a later --config-from.
    denied(
        net(r#"{"Name":"n","Driver":"null","ConfigOnly":true,"Options":{"parent":"eth0"}}"#),
        Check::Hardening,
        "network_drivers",
    );
    // The path rule holds whatever the allowlist says.
    denied(
        net(r#"{"Name":"n","Driver":"../../x/evil"}"#),
        Check::Plugins,
        "is a path",
    );
    // A plugin driver the allowlist names still needs "plugins".
    let weave = text.replace("\"macvlan\"]", "\"macvlan\", \"weave\"]");
    let pw = policy(dir.path(), &weave);
    let d = decide(
        &pw,
        "",
        "POST",
        "/v1.41/networks/create",
        Some(r#"{"Name":"n","Driver":"weave"}"#),
    );
    assert!(!d.allowed() && d.check == Check::Plugins, "{d:?}");
    let c = |hc: &str| {
        create(
            &p,
            "",
            &format!(r#"{{"Image":"reg.io/app:1","HostConfig":{hc}}}"#),
        )
    };
    assert!(c(r#"{"LogConfig":{"Type":"json-file"}}"#).allowed());
    assert!(c(r#"{"LogConfig":{"Type":""}}"#).allowed());
    denied(
        c(r#"{"LogConfig":{"Type":"syslog"}}"#),
        Check::Hardening,
        "log_drivers",
    );
    let svc = decide(
        &p,
        "",
        "POST",
        "/v1.41/services/create",
        Some(
            r#"{"TaskTemplate":{"ContainerSpec":{"Image":"reg.io/x:1"},"LogDriver":{"Name":"gelf"}}}"#,
        ),
    );
    denied(svc, Check::Hardening, "log_drivers");
    // docker cp into a container: the cp operation, off under hardening.
    let cp = decide(
        &p,
        "",
        "PUT",
        "/v1.41/containers/c/archive?path=%2Fbin",
        None,
    );
    assert!(!cp.allowed() && cp.check == Check::Cp, "{cp:?}");
    assert!(cp.hint.contains("\"cp\""), "{}", cp.hint);
    let allowed = text.replacen(
        "version = 1\n",
        "version = 1\n[global]\nallow = [\"cp\"]\n",
        1,
    );
    let p2 = policy(dir.path(), &allowed);
    assert!(decide(
        &p2,
        "",
        "PUT",
        "/v1.41/containers/c/archive?path=%2Fbin",
        None
    )
    .allowed());
    // Allowlists hold names, never paths; errors name their line.
    let bad = text.replace(
        "log_drivers = [\"json-file\"]",
        "log_drivers = [\"json-file\",\n  \"../../x/evil\"]",
    );
    let e = file::parse(&bad, &dir.path().join("policy.toml")).unwrap_err();
    let line = bad
        .lines()
        .position(|l| l.contains("../../x/evil"))
        .unwrap()
        + 1;
    assert!(
        e.errors
            .iter()
            .any(|x| x.line == line && x.message.contains("not a driver name")),
        "{e}"
    );
}

/// A driver named by a path is denied even in audit mode: it hands out
/// the host. Other plugin drivers are audited like any operation.
#[test]
fn path_named_drivers_are_never_audited() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(
        dir.path(),
        "version = 1\n[global]\nmode = \"audit\"\n[[rules]]\nname = \"i\"\nrepositories = [\"reg.io/*\"]\nverifier = \"none\"\n",
    );
    let net = |body: &str| decide(&p, "", "POST", "/v1.41/networks/create", Some(body));
    let d = net(r#"{"Name":"n","Driver":"../../x/evil"}"#);
    assert!(
        d.outcome == Outcome::Deny && d.check == Check::Plugins,
        "{d:?}"
    );
    let d = net(r#"{"Name":"n","Driver":"weave"}"#);
    assert!(
        d.outcome == Outcome::AuditAllow && d.check == Check::Plugins,
        "{d:?}"
    );
}

/// Hole 2: on cgroup v1 dockerd gives a container without `CgroupnsMode`
/// the host's cgroup namespace, at every API version. Failed before the
/// fix (an empty mode at API 1.41 was taken as private).
#[test]
fn an_empty_cgroupns_mode_on_cgroup_v1_is_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let f = file::parse(HARDENED, &dir.path().join("policy.toml")).unwrap();
    let p = Policy::new(cfg_with(dir.path(), INFO_V1, ""), Some(f)).unwrap();
    let d = create(&p, "", r#"{"Image":"reg.io/app:1","HostConfig":{}}"#);
    assert!(!d.allowed() && d.check == Check::Hardening, "{d:?}");
    assert!(
        d.reason.contains("host_namespaces")
            && d.reason.contains("--cgroupns private")
            && d.reason.contains("default-cgroupns-mode"),
        "{}",
        d.reason
    );
    assert!(!create(&p, "", r#"{"Image":"reg.io/app:1"}"#).allowed());
    let ok = create(
        &p,
        "",
        r#"{"Image":"reg.io/app:1","HostConfig":{"CgroupnsMode":"private"}}"#,
    );
    assert!(ok.allowed(), "{ok:?}");
    // No daemon to ask: denied, and the message says why.
    let f = file::parse(HARDENED, &dir.path().join("policy.toml")).unwrap();
    let p = Policy::new(cfg(dir.path()), Some(f)).unwrap();
    let d = create(&p, "", r#"{"Image":"reg.io/app:1","HostConfig":{}}"#);
    assert!(!d.allowed() && d.reason.contains("GET /info"), "{d:?}");
}

/// Safe by default: without a policy file the baseline refuses what hands
/// the host to an API user, and allows ordinary containers. Failed before
/// (everything was allowed).
#[test]
fn without_a_policy_file_the_baseline_applies() {
    let dir = tempfile::tempdir().unwrap();
    let p = Policy::new(cfg_with(dir.path(), INFO_V1, ""), None).unwrap();
    let c = |hc: &str| {
        create(
            &p,
            "",
            &format!(r#"{{"Image":"reg.io/app:1","HostConfig":{hc}}}"#),
        )
    };
    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for ok in [
        "{}".to_string(),
        format!(r#"{{"Binds":["{}:/data"]}}"#, data.display()),
        r#"{"NetworkMode":"host","PortBindings":{"80/tcp":[{"HostPort":"8080"}]}}"#.into(),
        r#"{"CapAdd":["NET_BIND_SERVICE","CHOWN"]}"#.into(),
        r#"{"IpcMode":"host","UTSMode":"host","CgroupnsMode":"host"}"#.into(),
        r#"{"Binds":["vol:/v"],"SecurityOpt":["no-new-privileges"]}"#.into(),
    ] {
        let d = c(&ok);
        assert!(d.allowed(), "{ok}: {d:?}");
    }
    let denied = |hc: &str, check: &str| {
        let d = c(hc);
        assert!(!d.allowed() && d.check == Check::Hardening, "{hc}: {d:?}");
        assert!(
            d.reason.contains("baseline") && d.reason.contains(check),
            "{hc}: {}",
            d.reason
        );
        assert!(
            d.hint.contains("IMG_AUTHZ_HARDENING=off") && d.hint.contains("IMG_AUTHZ_POLICY"),
            "{}",
            d.hint
        );
        assert_eq!(d.source.as_deref(), Some(&*format!("baseline.{check}")));
    };
    denied(r#"{"Privileged":true}"#, "privileged");
    for cap in [
        "ALL",
        "all",
        "SYS_ADMIN",
        "CAP_SYS_MODULE",
        "sys_ptrace",
        "NET_ADMIN",
        "BPF",
    ] {
        denied(&format!(r#"{{"CapAdd":["{cap}"]}}"#), "cap_add");
    }
    denied(
        r#"{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda"}]}"#,
        "devices",
    );
    denied(r#"{"SecurityOpt":["seccomp=unconfined"]}"#, "unconfined");
    denied(r#"{"SecurityOpt":["apparmor=unconfined"]}"#, "unconfined");
    denied(r#"{"SecurityOpt":["label=disable"]}"#, "unconfined");
    denied(r#"{"PidMode":"host"}"#, "host_namespaces");
    denied(r#"{"UsernsMode":"host"}"#, "host_namespaces");
    for path in [
        "/proc",
        "/sys",
        "/dev",
        "/boot",
        "/usr/bin",
        "/root",
        "/etc/cron.d",
    ] {
        denied(&format!(r#"{{"Binds":["{path}:/h"]}}"#), "bind_mounts");
    }
    for path in [
        "/",
        "/run",
        "/var/run",
        "/etc",
        "/var/run/docker.sock",
        "/var/lib/docker",
        "/var/lib/containerd",
        "/run/docker/plugins",
    ] {
        denied(&format!(r#"{{"Binds":["{path}:/h"]}}"#), "docker_socket");
    }
    // Learned: the daemon's data root (GET /info), its socket (DOCKER_HOST)
    // and the plugin's state directory.
    denied(r#"{"Binds":["/srv/dr:/h"]}"#, "docker_socket");
    denied(r#"{"Binds":["/srv:/h"]}"#, "docker_socket");
    denied(
        r#"{"Mounts":[{"Type":"bind","Source":"/srv/dr/volumes","Target":"/h"}]}"#,
        "docker_socket",
    );
    denied(
        &format!(
            r#"{{"Binds":["{}:/h"]}}"#,
            p.config().trust.docker_host.trim_start_matches("unix://")
        ),
        "docker_socket",
    );
    denied(
        &format!(r#"{{"Binds":["{}:/h"]}}"#, dir.path().display()),
        "docker_socket",
    );
    denied(r#"{"VolumeDriver":"sshfs"}"#, "volume_drivers");
    denied(
        r#"{"Mounts":[{"Type":"volume","Target":"/m","VolumeOptions":{"DriverConfig":{"Name":"rexray"}}}]}"#,
        "volume_drivers",
    );
    let d = decide(
        &p,
        "",
        "POST",
        "/v1.41/containers/c/exec",
        Some(r#"{"Cmd":["sh"],"Privileged":true}"#),
    );
    assert!(
        !d.allowed() && d.reason.contains("exec_privileged"),
        "{d:?}"
    );
    let d = decide(
        &p,
        "",
        "POST",
        "/v1.41/volumes/create",
        Some(r#"{"Name":"v","Driver":"rexray"}"#),
    );
    assert!(!d.allowed() && d.reason.contains("volume_drivers"), "{d:?}");
    // IMG_AUTHZ_HARDENING=off: only a policy file's hardening.
    let off_dir = tempfile::tempdir().unwrap();
    let off = Policy::new(cfg_with(off_dir.path(), INFO_V1, "off"), None).unwrap();
    let d = create(
        &off,
        "",
        r#"{"Image":"reg.io/app:1","HostConfig":{"Privileged":true,"Binds":["/:/h"]}}"#,
    );
    assert!(d.allowed(), "{d:?}");
}

/// At start the container as dockerd stored it is checked: the effective
/// cgroup namespace (hole 2), and containers created before the plugin or
/// the baseline. Failed before (only the image was checked at start).
#[test]
fn start_checks_the_stored_host_config() {
    let dir = tempfile::tempdir().unwrap();
    let f = file::parse(HARDENED, &dir.path().join("policy.toml")).unwrap();
    let p = Policy::new(cfg_with(dir.path(), INFO_V1, ""), Some(f)).unwrap();
    let start =
        |p: &Policy, c: &str| decide(p, "", "POST", &format!("/v1.41/containers/{c}/start"), None);
    // The image check after hardening needs a signature client; with
    // verifier "none" the rule for reg.io lets any image by that name run.
    let ok = start(&p, "plain");
    assert!(ok.allowed() || ok.check != Check::Hardening, "{ok:?}");
    let d = start(&p, "v1default");
    assert!(!d.allowed() && d.check == Check::Hardening, "{d:?}");
    assert!(
        d.reason.contains("container v1default") && d.reason.contains("--cgroupns private"),
        "{}",
        d.reason
    );
    // Restart runs the container as start does.
    let d = decide(&p, "", "POST", "/v1.41/containers/v1default/restart", None);
    assert!(!d.allowed() && d.check == Check::Hardening, "{d:?}");
    // The baseline, without a policy file.
    let base_dir = tempfile::tempdir().unwrap();
    let b = Policy::new(cfg_with(base_dir.path(), INFO_V1, ""), None).unwrap();
    let d = start(&b, "v1default");
    assert!(
        d.check != Check::Hardening,
        "the baseline allows the default cgroupns: {d:?}"
    );
    let d = start(&b, "old-privileged");
    assert!(
        !d.allowed() && d.source.as_deref() == Some("baseline.privileged"),
        "{d:?}"
    );
    let d = start(&b, "old-bind");
    assert!(
        !d.allowed() && d.source.as_deref() == Some("baseline.docker_socket"),
        "{d:?}"
    );
    // Review of issue 12: what a container inherits from others. Failed
    // before (only its own HostConfig was read, and no joined container).
    let d = start(&b, "from-root");
    assert!(
        !d.allowed() && d.check == Check::Hardening && d.reason.contains("of /"),
        "a mount point copied by --volumes-from: {d:?}"
    );
    let d = start(&b, "joins-privileged");
    assert!(
        !d.allowed()
            && d.source.as_deref() == Some("baseline.privileged")
            && d.reason
                .contains("joins the namespaces of container old-privileged"),
        "{d:?}"
    );
    let d = start(&b, "joins-plain");
    assert!(d.allowed() || d.check != Check::Hardening, "{d:?}");
}

/// Review of issue 12: the local volume driver mounts a `type` of file
/// system in the host's namespaces; proc, sysfs and cgroup are the host's
/// own (a writable /proc/sys/kernel/core_pattern is the host), and a block
/// device need not be under /dev. The baseline refuses every type but
/// memory and network file systems (and overlays of allowed directories),
/// whether the volume is created on its own or by a mount. Failed before
/// (the baseline sets no `bind_mounts`, and `device=none` passed).
#[test]
fn the_baseline_refuses_local_volumes_of_host_file_systems() {
    let dir = tempfile::tempdir().unwrap();
    let p = Policy::new(cfg_with(dir.path(), INFO_V1, ""), None).unwrap();
    let vol = |opts: &str| {
        decide(
            &p,
            "",
            "POST",
            "/v1.41/volumes/create",
            Some(&format!(
                r#"{{"Name":"p","Driver":"local","DriverOpts":{opts}}}"#
            )),
        )
    };
    for opts in [
        r#"{"type":"proc","device":"none"}"#,
        r#"{"type":"sysfs","device":"x"}"#,
        r#"{"type":"cgroup","o":"memory","device":"x"}"#,
        r#"{"type":"ext4","device":"/srv/data/sda"}"#,
        r#"{"type":"PROC","device":"proc"}"#,
        r#"{"device":"/srv/data/sda"}"#,
    ] {
        let d = vol(opts);
        assert!(!d.allowed() && d.check == Check::Hardening, "{opts}: {d:?}");
        assert!(d.reason.contains("baseline"), "{opts}: {}", d.reason);
    }
    for opts in [
        r#"{}"#,
        r#"{"type":"tmpfs","device":"tmpfs","o":"size=10m"}"#,
        r#"{"type":"nfs","o":"addr=127.0.0.1","device":":/export"}"#,
    ] {
        let d = vol(opts);
        assert!(d.allowed(), "{opts}: {d:?}");
    }
    let d = create(
        &p,
        "",
        r#"{"Image":"reg.io/app:1","HostConfig":{"Mounts":[{"Type":"volume","Target":"/p","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"proc","device":"none"}}}}]}}"#,
    );
    assert!(!d.allowed() && d.check == Check::Hardening, "{d:?}");
    // Homes, package-manager scripts and spools are the host too.
    for path in [
        "/home",
        "/home/admin/.ssh",
        "/var/lib/dpkg/info",
        "/var/spool/cron",
    ] {
        let d = create(
            &p,
            "",
            &format!(r#"{{"Image":"reg.io/app:1","HostConfig":{{"Binds":["{path}:/h"]}}}}"#),
        );
        assert!(!d.allowed() && d.check == Check::Hardening, "{path}: {d:?}");
    }
}

/// A policy file builds on the baseline: its keys replace the baseline's,
/// and a deny names the layer it comes from.
#[test]
fn a_policy_file_builds_on_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let text = "version = 1\n[[rules]]\nname = \"i\"\nrepositories = [\"reg.io/*\"]\nverifier = \"none\"\n\
                [hardening]\ncap_add = [\"SYS_ADMIN\"]\nsysctls = false\ndocker_socket = false\n";
    let f = file::parse(text, &dir.path().join("policy.toml")).unwrap();
    let p = Policy::new(cfg_with(dir.path(), INFO_V2, ""), Some(f)).unwrap();
    let c = |hc: &str| {
        create(
            &p,
            "",
            &format!(r#"{{"Image":"reg.io/app:1","HostConfig":{hc}}}"#),
        )
    };
    assert!(c(r#"{"CapAdd":["SYS_ADMIN"]}"#).allowed());
    let d = c(r#"{"CapAdd":["NET_ADMIN"]}"#);
    assert!(
        !d.allowed() && d.source.as_deref() == Some("hardening.cap_add"),
        "{d:?}"
    );
    let d = c(r#"{"Sysctls":{"net.ipv4.ip_forward":"1"}}"#);
    assert!(
        !d.allowed() && d.source.as_deref() == Some("hardening.sysctls"),
        "{d:?}"
    );
    let d = c(r#"{"Privileged":true}"#);
    assert!(
        !d.allowed() && d.source.as_deref() == Some("baseline.privileged"),
        "{d:?}"
    );
    assert!(d.hint.contains("[hardening] privileged"), "{}", d.hint);
    // The file alone needs the daemon's paths where the baseline stopped
    // earlier: still the baseline's deny, not a "daemon" one.
    let d = c(r#"{"Privileged":true,"Binds":["/srv/x:/x"]}"#);
    assert!(
        !d.allowed() && d.source.as_deref() == Some("baseline.privileged"),
        "{d:?}"
    );
    let d = c(r#"{"Binds":["/srv/dr/volumes:/x"]}"#);
    assert!(
        !d.allowed() && d.source.as_deref() == Some("hardening.docker_socket"),
        "{d:?}"
    );
}

#[test]
fn reload_good_bad_and_racing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    let allow_load = "version = 1\n[global]\nallow = [\"load\"]\n";
    let deny_load = "version = 1\n";
    std::fs::write(&path, allow_load).unwrap();
    let cfg = cfg(dir.path());
    let p = Policy::new(cfg.clone(), Some(file::load(&path).unwrap())).unwrap();
    let plugin = Arc::new(Plugin::new(p, DecisionLog::default()));
    let load = req("POST", "/v1.41/images/load", None);
    let rt = rt();
    let allowed = |plugin: &Plugin| rt.block_on(plugin.evaluate(&load)).1.allowed();
    assert!(allowed(&plugin));

    // Good: the new policy is in force.
    std::fs::write(&path, deny_load).unwrap();
    assert!(img_authz::run::reload(&plugin, &cfg, &path, "test"));
    assert!(!allowed(&plugin));

    // Bad: refused, and the running policy stays (not allow-all, not deny-all).
    std::fs::write(&path, "version = 1\n[global]\nallow = [\"everything\"]\n").unwrap();
    assert!(!img_authz::run::reload(&plugin, &cfg, &path, "test"));
    assert!(!allowed(&plugin));
    assert!(rt
        .block_on(plugin.evaluate(&req("GET", "/v1.41/info", None)))
        .1
        .allowed());
    std::fs::remove_file(&path).unwrap();
    assert!(!img_authz::run::reload(&plugin, &cfg, &path, "test"));
    assert!(!allowed(&plugin));

    // Racing: decisions made while policies alternate are each one policy's
    // answer, never an error.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let plugin = plugin.clone();
            let load = load.clone();
            tasks.push(tokio::spawn(async move {
                let mut seen = (0, 0);
                for _ in 0..300 {
                    let (_, d) = plugin.evaluate(&load).await;
                    assert!(d.check == Check::Load, "{d:?}");
                    if d.allowed() {
                        seen.0 += 1
                    } else {
                        seen.1 += 1
                    }
                    tokio::task::yield_now().await;
                }
                seen
            }));
        }
        for i in 0..200 {
            std::fs::write(&path, if i % 2 == 0 { allow_load } else { deny_load }).unwrap();
            assert!(img_authz::run::reload(&plugin, &cfg, &path, "race"));
            tokio::task::yield_now().await;
        }
        let mut total = (0, 0);
        for t in tasks {
            let (a, d) = t.await.unwrap();
            total.0 += a;
            total.1 += d;
        }
        assert_eq!(total.0 + total.1, 1200);
    });
}

#[test]
fn the_examples_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["examples/policy.toml", "examples/hardened.toml"] {
        let p = img_authz::decide::file::load(&root.join(f)).unwrap_or_else(|e| panic!("{e}"));
        assert!(p.hardening.is_some(), "{f}");
    }
    let p = img_authz::decide::file::load(&root.join("examples/policy.toml")).unwrap();
    assert!(p.rules.iter().any(|r| r.name == "ci images (cosign)"));
}

/// A `*` rule matches every canonical name, but never another spelling of
/// a registry: its trust state and first-use root would be a second
/// identity of the repository. Patterns load in canonical form.
#[test]
fn aliases_of_a_registry_match_no_rule_even_star() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(
        dir.path(),
        "version = 1\n\
         [[rules]]\nname = \"team\"\nrepositories = [\"REG.IO:443/team/*\"]\nverifier = \"none\"\n\
         [[rules]]\nname = \"all\"\nrepositories = [\"*\"]\nverifier = \"none\"\n",
    );
    assert!(pull(&p, "", "reg.io/team/app")
        .reason
        .starts_with("team allows"));
    assert!(pull(&p, "", "other.io/x").allowed());
    for alias in [
        "REG.IO/team/app",
        "reg.io:443/team/app",
        "registry-1.docker.io/library/busybox",
        "127.1:5000/x",
        "[::ffff:7f00:1]:5000/x",
        "[FC00::1]:5000/x",
    ] {
        let d = pull(&p, "", alias);
        assert!(!d.allowed(), "{alias}: {}", d.reason);
        assert_eq!(d.check, Check::RegistryAllowlist, "{alias}");
    }
}

/// Issue 12: custom seccomp profiles. `null` makes dockerd load no filter;
/// a profile allowing more than Docker's default needs its digest listed.
#[test]
fn custom_seccomp_profiles() {
    use base64::Engine;
    use img_authz::decide::seccomp_digest as digest;
    let unshare = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","unshare"],"action":"SCMP_ACT_ALLOW"}]}"#;
    let strict = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}"#;
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), HARDENED);
    let opt = |o: &str| {
        let body = serde_json::json!({"Image": "reg.io/app:1", "HostConfig": {"SecurityOpt": [o]}});
        create(&p, "", &body.to_string())
    };
    let service = |p: &Policy, profile: &str| {
        let b64 = base64::engine::general_purpose::STANDARD.encode(profile);
        let body = serde_json::json!({"TaskTemplate": {"ContainerSpec": {
            "Image": "reg.io/a@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
            "Privileges": {"Seccomp": {"Mode": "custom", "Profile": b64}}}}});
        decide(
            p,
            "",
            "POST",
            "/v1.41/services/create",
            Some(&body.to_string()),
        )
    };
    let denied = |d: Decision, check: &str| {
        assert!(
            !d.allowed() && d.check == Check::Hardening,
            "{check}: {d:?}"
        );
        assert!(
            d.reason.contains(&format!("({check})")),
            "{check}: {}",
            d.reason
        );
    };
    for o in [
        "seccomp=null",
        "seccomp= null",
        "seccomp:null",
        "seccomp={}",
    ] {
        let d = opt(o);
        assert!(d.reason.contains("no seccomp filter"), "{o}: {}", d.reason);
        denied(d, "unconfined");
    }
    denied(service(&p, "null"), "unconfined");
    denied(opt(&format!("seccomp={unshare}")), "seccomp_profiles");
    let d = service(&p, unshare);
    assert!(d.reason.contains(&digest(unshare)), "{}", d.reason);
    denied(d, "seccomp_profiles");
    assert!(opt(&format!("seccomp={strict}")).allowed());
    assert!(service(&p, strict).allowed());
    // Listed by digest: that exact profile is allowed, in both places.
    let listed = HARDENED.replace(
        "volumes_from = false\n",
        &format!(
            "volumes_from = false\nseccomp_profiles = [\"{}\"]\n",
            digest(unshare)
        ),
    );
    let p2 = policy(dir.path(), &listed);
    let body = serde_json::json!({"Image": "reg.io/app:1", "HostConfig": {"SecurityOpt": [format!("seccomp={unshare}")]}});
    assert!(create(&p2, "", &body.to_string()).allowed());
    assert!(service(&p2, unshare).allowed());
    denied(service(&p2, "null"), "unconfined");
}

/// Pins are validated where they are written: each bad list entry and each
/// bad line of a pin file is reported with its place.
#[test]
fn digest_pins_are_validated_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    let good = format!("sha256:{}", "a".repeat(64));
    std::fs::write(
        dir.path().join("pins.txt"),
        format!("# reviewed\n{good}  # busybox\n\nsha256:XYZ\n"),
    )
    .unwrap();
    let text = format!(
        "version = 1\n\
         [[rules]]\nname = \"a\"\nrepositories = [\"reg.io/a/*\"]\ndigests = [\"{good}\", \"sha256:short\"]\n\
         [[rules]]\nname = \"b\"\nrepositories = [\"reg.io/b/*\"]\ndigests_file = \"pins.txt\"\n\
         [[rules]]\nname = \"c\"\nrepositories = [\"reg.io/c/*\"]\nverifier = \"digests\"\n\
         [[rules]]\nname = \"d\"\nrepositories = [\"reg.io/d/*\"]\nverifier = \"none\"\ndigests = []\n"
    );
    let e = file::parse(&text, &dir.path().join("policy.toml")).unwrap_err();
    let got: Vec<(usize, &str)> = e
        .errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(got.len(), 4, "{e}");
    assert_eq!(got[0].0, 5, "{e}");
    assert!(got[0].1.contains("\"sha256:short\" is not a digest"), "{e}");
    assert_eq!(got[1].0, 9, "{e}");
    assert!(got[1].1.contains("pins.txt:4:"), "{e}");
    assert!(got[2].1.contains("digests verifier needs"), "{e}");
    assert!(got[3].1.contains("do not include \"digests\""), "{e}");
    // Without `verifier`, pins imply it; an empty list pins nothing.
    let ok = format!(
        "version = 1\n[[rules]]\nname = \"a\"\nrepositories = [\"reg.io/a/*\"]\ndigests = [\"{good}\", \"{good}\"]\n\
         [[rules]]\nname = \"b\"\nrepositories = [\"reg.io/b/*\"]\nverifier = [\"cosign\", \"digests\"]\nrequire = \"any\"\n\
         digests = []\n[rules.cosign]\nkeys = [\"{}\"]\n",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/keys/dhi-2.pub")
            .display()
    );
    let f = file::parse(&ok, &dir.path().join("policy.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.rules[0].verifiers, vec![file::VerifierKind::Digests]);
    assert_eq!(f.rules[0].digests, vec![good]);
    assert!(f.rules[1].digests.is_empty());
}

/// A pinned digest is a verifier outcome: by digest, exactly the pinned
/// ones pass; by tag, the registry's answer decides, and an unreachable
/// registry denies.
#[test]
fn pinned_digests_allow_exactly_those_images() {
    let dir = tempfile::tempdir().unwrap();
    let (pinned, other) = (
        format!("sha256:{}", "a".repeat(64)),
        format!("sha256:{}", "b".repeat(64)),
    );
    let p = policy(
        dir.path(),
        &format!(
            "version = 1\n[[rules]]\nname = \"official\"\nrepositories = [\"127.0.0.1:1/library/*\"]\n\
             digests = [\"{pinned}\"]\n"
        ),
    );
    let by_digest = |d: &str| {
        decide(
            &p,
            "",
            "POST",
            &format!("/v1.41/images/create?fromImage=127.0.0.1:1/library/busybox&tag={d}"),
            None,
        )
    };
    let d = by_digest(&pinned);
    assert!(d.allowed(), "{d:?}");
    assert_eq!(d.digest.as_deref(), Some(pinned.as_str()));
    assert!(d.reason.contains("pinned digest"), "{d:?}");
    let d = by_digest(&other);
    assert!(!d.allowed(), "{d:?}");
    assert!(
        d.reason.contains("not one of the rule's pinned digests"),
        "{d:?}"
    );
    assert!(
        d.hint
            .contains("img-authz check 127.0.0.1:1/library/busybox@"),
        "{d:?}"
    );
    // By tag: the registry (nothing listens on port 1) cannot say what the
    // tag is now, so it is not allowed.
    let d = pull(&p, "", "127.0.0.1:1/library/busybox");
    assert!(!d.allowed(), "{d:?}");
    assert!(d.reason.contains("could not be checked"), "{d:?}");
}

/// The Docker Hub example: DHI by either published key (OR), Docker
/// Official Images by pinned digest (none yet), the rest of Hub denied
/// without asking notary.docker.io.
#[test]
fn the_docker_hub_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let f = file::load(&root.join("examples/docker-hub.toml")).unwrap_or_else(|e| panic!("{e}"));
    let rule = |pat: &str| {
        f.rules
            .iter()
            .find(|r| r.repositories.iter().any(|p| p == pat))
            .unwrap_or_else(|| panic!("no rule for {pat}"))
    };
    for pat in ["dhi.io/*", "docker.io/example-org/dhi-python"] {
        let dhi = rule(pat);
        assert_eq!(dhi.verifiers, vec![file::VerifierKind::Cosign]);
        let keys: Vec<_> = dhi
            .cosign
            .keys
            .iter()
            .map(|k| k.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(keys, ["dhi-2.pub", "dhi-1.pub"]);
        assert_eq!(dhi.cosign.threshold, 1);
        assert!(!dhi.cosign.tlog_required);
    }
    assert_eq!(
        rule("docker.io/library/*").verifiers,
        vec![file::VerifierKind::Digests]
    );
    let rest = rule("docker.io/*");
    assert_eq!(rest.verifiers, vec![file::VerifierKind::Digests]);
    assert!(rest.digests.is_empty());
    // With the default environment (REGISTRY docker.io, NOTARY
    // notary.docker.io), Hub images go to the file's rules, never Notary.
    let dir = tempfile::tempdir().unwrap();
    let cfg = RawConfig {
        docker_host: "unix:///nonexistent/docker.sock".into(),
        state_dir: dir.path().display().to_string(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let p = Policy::new(cfg, Some(f)).unwrap();
    let d = format!("sha256:{}", "c".repeat(64));
    for (image, rule) in [
        (
            "docker.io/library/busybox",
            "docker official images (pinned)",
        ),
        ("docker.io/acme/app", "docker hub (everything else)"),
    ] {
        let dec = decide(
            &p,
            "",
            "POST",
            &format!("/v1.41/images/create?fromImage={image}&tag={d}"),
            None,
        );
        assert!(!dec.allowed(), "{dec:?}");
        assert_eq!(dec.source.as_deref(), Some(rule), "{dec:?}");
        assert!(!dec.hint.contains("notary"), "{dec:?}");
    }
    let dec = decide(
        &p,
        "",
        "POST",
        &format!("/v1.41/images/create?fromImage=quay.io/acme/app&tag={d}"),
        None,
    );
    assert!(!dec.allowed(), "{dec:?}");
}

/// `unshare -n`: a command in a network namespace of its own (loopback
/// only, down), so that nothing it does can reach the internet. `None` when
/// this host cannot make one (not root).
fn offline(args: &[&str], state: &Path) -> Option<std::process::Command> {
    let probe = std::process::Command::new("unshare")
        .args(["-n", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: unshare -n is not available here (needs root)");
        return None;
    }
    let mut c = std::process::Command::new("unshare");
    c.arg("-n")
        .arg(env!("CARGO_BIN_EXE_img-authz"))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("IMG_AUTHZ_STATE_DIR", state)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    Some(c)
}

/// With the default configuration (REGISTRY docker.io, NOTARY
/// notary.docker.io), `check` of a Docker Official Image says that
/// notary.docker.io is shut down and what to do instead, and answers at
/// once without a network (no hang on the lookup).
#[test]
fn check_explains_the_notary_docker_io_shutdown_offline() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut c) = offline(&["check", "docker.io/library/busybox:latest"], dir.path()) else {
        return;
    };
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.starts_with("DENY"), "{text}");
    assert!(
        text.contains(
            "notary.docker.io is shut down on 2026-12-08 (Docker ended Docker Content Trust"
        ),
        "{text}"
    );
    for option in [
        "verifier = \"cosign\"",
        "digests = [",
        "self-hosted Notary server",
    ] {
        assert!(text.contains(option), "{option}: {text}");
    }
    assert!(!text.contains("make the notary server"), "{text}");
    assert!(!text.contains("reachable (NOTARY"), "{text}");
}

/// The start-up log warns about notary.docker.io when it is the Notary
/// server (here by default), and not for another server.
#[test]
fn serve_warns_about_notary_docker_io_at_start_up() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    for (notary, warned) in [("", true), ("https://notary.example.com", false)] {
        let sock = dir.path().join("p.sock");
        let Some(mut c) = offline(
            &["serve", "--socket", &sock.display().to_string()],
            dir.path(),
        ) else {
            return;
        };
        let mut child = c
            .env("NOTARY", notary)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        // The warning comes before the "serving" line.
        for l in lines.by_ref() {
            let l = l.unwrap();
            let done = l.contains("serving");
            seen.push(l);
            if done {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let log = seen.join("\n");
        assert!(log.contains("serving"), "{log}");
        assert_eq!(
            log.contains("NOTARY is notary.docker.io: notary.docker.io is shut down on 2026-12-08"),
            warned,
            "{notary}: {log}"
        );
    }
}

/// Defect F: `img-authz check IMAGE` decides the pull *and* a create of a
/// container from the image (dockerd's defaults, hardening included); with
/// no daemon to ask, the create is reported as not checked, not as a deny.
/// Failed before (there was no create half: `check` decided the pull only).
#[test]
fn check_image_decides_the_pull_and_a_default_create() {
    use img_authz::decide::CreateCheck;
    use img_authz::request::reference::Reference;
    let dir = tempfile::tempdir().unwrap();
    let image = Reference::parse_normalized("reg.io/app:1").unwrap();
    let check = |p: &Policy| {
        let ctx = Ctx {
            user: p.user_of(""),
            api_version: None,
        };
        rt().block_on(p.check_image(&image, &ctx))
    };
    let hardened = || file::parse(HARDENED, &dir.path().join("policy.toml")).unwrap();
    // cgroup v1: a create without options gets the host's cgroup namespace,
    // which this policy's hardening refuses; the pull alone is fine.
    let v1 = Policy::new(cfg_with(dir.path(), INFO_V1, ""), Some(hardened())).unwrap();
    let c = check(&v1);
    assert!(c.pull.allowed(), "{c:?}");
    match &c.create {
        CreateCheck::Decided(d) => {
            assert!(!d.allowed() && d.check == Check::Hardening, "{d:?}");
            assert!(d.reason.contains("host_namespaces"), "{d:?}");
        }
        other => panic!("the create was not decided: {other:?}"),
    }
    assert!(!c.allowed());
    let text = c.report();
    assert!(
        text.starts_with("DENY: pull of reg.io/app:1 and create")
            && text.contains("pull: ALLOW")
            && text.contains("create: DENY")
            && text.contains("rule:   hardening"),
        "{text}"
    );
    // cgroup v2: both allowed.
    let v2 = Policy::new(cfg_with(dir.path(), INFO_V2, ""), Some(hardened())).unwrap();
    let c = check(&v2);
    assert!(
        c.allowed() && matches!(&c.create, CreateCheck::Decided(d) if d.allowed()),
        "{c:?}"
    );
    assert!(c.report().starts_with("ALLOW"), "{}", c.report());
    // No daemon: the create is not checked, and says so; the pull decides.
    let none = Policy::new(cfg(dir.path()), Some(hardened())).unwrap();
    let c = check(&none);
    assert!(
        matches!(&c.create, CreateCheck::Unchecked(why) if why.contains("daemon unreachable")),
        "{c:?}"
    );
    assert!(c.allowed());
    let text = c.report();
    assert!(
        text.starts_with("ALLOW (the pull only: the create could not be checked)")
            && text.contains("create: could not be checked (daemon unreachable"),
        "{text}"
    );
    // An image no rule covers: the pull is denied, whatever the create.
    let other = Reference::parse_normalized("other.io/app:1").unwrap();
    let ctx = Ctx::default();
    let c = rt().block_on(v2.check_image(&other, &ctx));
    assert!(!c.pull.allowed() && !c.allowed(), "{c:?}");
}

/// One pin loader for both sources (`policy::build`): a CA pin file with no
/// certificate is refused whether the policy file or IMG_AUTHZ_ROOT_PINS
/// names it, against the setting that names it. Before, only the
/// environment's pins were checked (while validating the configuration); a
/// policy file's empty CA pin built a policy that pinned nothing.
#[test]
fn an_empty_ca_pin_is_refused_from_either_source() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    let text = format!(
        "version = 1\n[[rules]]\nrepositories = [\"reg.io/*\"]\nverifier = \"notary\"\n[rules.notary]\nserver = \"https://notary.reg.io\"\nroot_pin = {{ ca = {:?} }}\n",
        empty.display().to_string()
    );
    let f = file::parse(&text, &dir.path().join("policy.toml")).unwrap_or_else(|e| panic!("{e}"));
    let Err(e) = Policy::new(cfg_with(dir.path(), INFO_V2, ""), Some(f)) else {
        panic!("an empty CA pin builds a policy");
    };
    let e = e.to_string();
    assert!(
        e.starts_with("IMG_AUTHZ_POLICY: ") && e.contains("no CERTIFICATE"),
        "{e}"
    );
    let env = RawConfig {
        registry: "reg.io".into(),
        trust: "none".into(),
        docker_host: "unix:///nonexistent/docker.sock".into(),
        state_dir: dir.path().display().to_string(),
        root_pins: format!("reg.io/*=ca:{}", empty.display()),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let Err(e) = Policy::new(env, None) else {
        panic!("an empty CA pin builds a policy");
    };
    let e = e.to_string();
    assert!(
        e.starts_with("IMG_AUTHZ_ROOT_PINS: ") && e.contains("no CERTIFICATE"),
        "{e}"
    );
}
