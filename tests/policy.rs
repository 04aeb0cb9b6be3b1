//! Policy table: each rule of issue 1/7 with its default and its switch.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

use std::collections::BTreeMap;

use img_authz::decide::{Check, Ctx, Policy, RawConfig};
use img_authz::protocol::AuthzRequest;
use img_authz::request::decode;

fn policy(allow: &str) -> Policy {
    Policy::without_trust(
        RawConfig {
            registry: "127.0.0.1:5000,reg.local".into(),
            allow: allow.into(),
            // No daemon: a lookup fails, and fails closed.
            docker_host: "unix:///nonexistent/docker.sock".into(),
            state_dir: std::env::temp_dir()
                .join("img-authz-policy-test")
                .display()
                .to_string(),
            ..Default::default()
        }
        .validate()
        .unwrap(),
    )
    .unwrap()
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

/// (allow setting, method, uri, body, allowed?, rule)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    bool,
    Check,
);

#[rustfmt::skip]
const ROWS: &[Row] = &[
    ("", "GET", "/v1.41/containers/json", None, true, Check::Default),
    ("", "POST", "/v1.41/images/create?fromImage=127.0.0.1:5000/a/b&tag=v1", None, true, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/images/create?fromImage=reg.local/a&tag=v1", None, true, Check::RegistryAllowlist),
    // Another spelling of an authorized registry is another identity (GUN,
    // trust state, first-use root) of the same repositories: refused.
    ("", "POST", "/v1.41/images/create?fromImage=REG.LOCAL/a&tag=v1", None, false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/images/create?fromImage=Reg.Local/a&tag=v1", None, false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/images/create?fromImage=reg.local:443/a&tag=v1", None, false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/images/create?fromImage=127.0.0.1:05000/a&tag=v1", None, false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"REG.LOCAL/a:v1"}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a","HostConfig":{"Mounts":[{"Type":"image","Source":"REG.LOCAL/b"}]}}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/services/create", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"REG.LOCAL/x:1"}}}"#), false, Check::RegistryAllowlist),
    ("plugins", "POST", "/v1.41/plugins/pull?remote=REG.LOCAL/p&name=p", Some("[]"), false, Check::RegistryAllowlist),
    // Naming a local image by another spelling would make it look trusted.
    ("", "POST", "/v1.41/images/x/tag?repo=REG.LOCAL/a&tag=v1", None, false, Check::RegistryAllowlist),
    ("tag", "POST", "/v1.41/images/x/tag?repo=REG.LOCAL/a&tag=v1", None, false, Check::RegistryAllowlist),
    ("build", "POST", "/v1.41/build?t=REG.LOCAL/app:v1", None, false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/images/create?fromImage=docker.io/library/busybox&tag=latest", None, false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/images/create?fromImage=127.0.0.1:5001/a&tag=v1", None, false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a:v1"}"#), true, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"busybox"}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"}"#), false, Check::ContentBinding),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"}"#), false, Check::ContentBinding),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":""}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"Bad Ref"}"#), false, Check::RequestDecoding),
    ("", "POST", "/v1.48/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a","HostConfig":{"Mounts":[{"Type":"image","Source":"evil.io/x"}]}}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.48/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a","Mounts":[{"Type":"image","Source":"evil.io/x"}]}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.48/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a","HostConfig":{"Mounts":[{"Type":"image","Source":"127.0.0.1:5000/b"}]}}"#), true, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/services/create", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"evil.io/x:1"}}}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/services/create", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"127.0.0.1:5000/x:1"}}}"#), true, Check::RegistryAllowlist),
    // API 1.44+ service fields at /v1.51 (dockerd 28): a capability that gives the host
    // away, AppArmor or seccomp off, is denied by the hardening baseline; Ulimits,
    // OomScoreAdj, CapabilityDrop and NoNewPrivileges change no confinement and pass.
    ("", "POST", "/v1.51/services/create", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"127.0.0.1:5000/x:1","Ulimits":[{"Name":"nofile","Soft":1024,"Hard":2048}],"OomScoreAdj":-500,"CapabilityDrop":["NET_RAW"],"Privileges":{"NoNewPrivileges":true}}}}"#), true, Check::RegistryAllowlist),
    ("", "POST", "/v1.51/services/create", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"127.0.0.1:5000/x:1","OomScoreAdj":-500,"CapabilityAdd":["CAP_SYS_ADMIN"]}}}"#), false, Check::Hardening),
    ("", "POST", "/v1.51/services/s/update?version=2", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"127.0.0.1:5000/x:1","Ulimits":[{"Name":"nofile","Soft":1,"Hard":1}],"Privileges":{"AppArmor":{"Mode":"disabled"}}}}}"#), false, Check::Hardening),
    ("", "POST", "/v1.51/services/create", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"127.0.0.1:5000/x:1","Privileges":{"Seccomp":{"Mode":"unconfined"}}}}}"#), false, Check::Hardening),
    ("", "POST", "/v1.51/swarm/init", Some("{}"), false, Check::Swarm),
    ("", "POST", "/v1.41/services/s/update?version=1", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"127.0.0.1:5000/x:1","Mounts":[{"Type":"image","Source":"busybox"}]}}}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/services/create", Some(r#"{"TaskTemplate":{"Runtime":"plugin","PluginSpec":{"Remote":"127.0.0.1:5000/p"}}}"#), false, Check::Plugins),
    ("plugins", "POST", "/v1.41/services/create", Some(r#"{"TaskTemplate":{"Runtime":"plugin","PluginSpec":{"Remote":"127.0.0.1:5000/p"}}}"#), true, Check::RegistryAllowlist),
    // Without the plugin runtime dockerd ignores PluginSpec and runs the container.
    ("plugins", "POST", "/v1.41/services/create", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"evil.io/x:1"},"PluginSpec":{"Remote":"127.0.0.1:5000/p"}}}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/images/create?fromSrc=-&repo=x", None, false, Check::Import),
    ("import", "POST", "/v1.41/images/create?fromSrc=-&repo=x", None, true, Check::Import),
    ("", "POST", "/v1.41/images/load", None, false, Check::Load),
    ("load", "POST", "/v1.41/images/load", None, true, Check::Load),
    ("", "POST", "/v1.41/build?t=x", None, false, Check::Build),
    ("build", "POST", "/v1.41/build?t=x", None, true, Check::Build),
    ("", "POST", "/session", None, false, Check::Build),
    ("", "POST", "/grpc", None, false, Check::Build),
    ("build", "POST", "/grpc", None, true, Check::Build),
    ("", "POST", "/v1.41/commit?container=c&repo=x", None, false, Check::Commit),
    ("commit", "POST", "/v1.41/commit?container=c&repo=x", None, true, Check::Commit),
    ("", "POST", "/v1.41/images/x/tag?repo=127.0.0.1:5000/a&tag=v1", None, false, Check::Tag),
    ("tag", "POST", "/v1.41/images/x/tag?repo=127.0.0.1:5000/a&tag=v1", None, true, Check::Tag),
    ("", "POST", "/v1.41/images/x/tag?repo=mine/a&tag=v1", None, true, Check::Tag),
    ("", "POST", "/v1.41/plugins/pull?remote=127.0.0.1:5000/p&name=p", Some("[]"), false, Check::Plugins),
    ("plugins", "POST", "/v1.41/plugins/pull?remote=127.0.0.1:5000/p&name=p", Some("[]"), true, Check::RegistryAllowlist),
    ("plugins", "POST", "/v1.41/plugins/pull?remote=evil.io/p&name=p", Some("[]"), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/plugins/create?name=p", None, false, Check::Plugins),
    ("", "POST", "/v1.41/plugins/p/upgrade?remote=127.0.0.1:5000/p", Some("[]"), false, Check::SelfProtection),
    ("", "POST", "/v1.41/swarm/join", Some("{}"), false, Check::Swarm),
    ("swarm", "POST", "/v1.41/swarm/join", Some("{}"), true, Check::Swarm),
    // Initialising a swarm, or reading its join tokens, lets other managers
    // run tasks here just as joining one does.
    ("", "POST", "/v1.41/swarm/init", Some("{}"), false, Check::Swarm),
    ("", "GET", "/v1.41/swarm", None, false, Check::Swarm),
    ("", "GET", "/v1.41/swarm/unlockkey", None, false, Check::Swarm),
    ("", "POST", "/v1.41/swarm/update?version=1", Some("{}"), false, Check::Swarm),
    ("", "POST", "/v1.41/nodes/n1/update?version=1", Some("{}"), false, Check::Swarm),
    ("", "POST", "/v1.41/swarm/leave", None, true, Check::Default),
    // A short ID is a name to the allowlist but an ID prefix to dockerd.
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"5c4763"}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"sha256:5c47635e"}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"5"}"#), false, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/services/create", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"5c4763"}}}"#), false, Check::RegistryAllowlist),
    // Naming a local image into an authorized registry by any route.
    ("build", "POST", "/v1.41/build?t=127.0.0.1:5000/app:v1", None, false, Check::Tag),
    // BuildKit names its result by outputs when there is no t.
    ("build", "POST", "/v1.41/build?version=2&outputs=%5B%7B%22Type%22%3A%22moby%22%2C%22Attrs%22%3A%7B%22name%22%3A%22127.0.0.1%3A5000%2Fapp%3Av1%22%7D%7D%5D", None, false, Check::Tag),
    ("build", "POST", "/v1.41/build?t=mine/app:v1", None, true, Check::Build),
    ("build,tag", "POST", "/v1.41/build?t=127.0.0.1:5000/app:v1", None, true, Check::Build),
    ("commit", "POST", "/v1.41/commit?container=c&repo=reg.local/app&tag=v1", None, false, Check::Tag),
    ("import", "POST", "/v1.41/images/create?fromSrc=-&repo=127.0.0.1:5000/app:v1", None, false, Check::Tag),
    ("import", "POST", "/v1.41/images/create?fromSrc=-&repo=mine/app:v1", None, true, Check::Import),
    // A rollback deploys a spec the request does not show.
    ("", "POST", "/v1.41/services/s/update?version=1&rollback=previous", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"127.0.0.1:5000/x:1"}}}"#), false, Check::ContentBinding),
    // Plugin management that cannot be shown not to target img-authz (no daemon here).
    ("", "POST", "/v1.41/plugins/img-authz/disable", None, false, Check::SelfProtection),
    ("", "DELETE", "/v1.41/plugins/other", None, false, Check::SelfProtection),
    // Enabling or configuring a plugin runs it with host privileges.
    ("", "POST", "/v1.41/plugins/other/enable", None, false, Check::Plugins),
    ("plugins", "POST", "/v1.41/plugins/other/enable", None, true, Check::Plugins),
    ("", "POST", "/v1.41/plugins/other/set", Some(r#"["mnt.source=/"]"#), false, Check::SelfProtection),
    ("", "POST", "/v1.41/containers/c/stop", None, true, Check::Default),
    // Issue 12, hole 3: drivers dockerd would load as plugins. Built-in
    // ones pass, others are the plugins operation, paths never pass.
    ("", "POST", "/v1.41/networks/create", Some(r#"{"Name":"n"}"#), true, Check::Default),
    ("", "POST", "/v1.41/networks/create", Some(r#"{"Name":"n","Driver":"macvlan","IPAM":{"Driver":"default"}}"#), true, Check::Default),
    ("", "POST", "/v1.41/networks/create", Some(r#"{"Name":"n","Driver":"null","IPAM":{"Driver":"null"}}"#), true, Check::Default),
    ("", "POST", "/v1.41/networks/create", Some(r#"{"Name":"pwn","Driver":"../../../var/lib/docker/volumes/v/_data/evil"}"#), false, Check::Plugins),
    ("plugins", "POST", "/v1.41/networks/create", Some(r#"{"Name":"pwn","Driver":"../../../var/lib/docker/volumes/v/_data/evil"}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/networks/create", Some(r#"{"Name":"n","Driver":"weave"}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/networks/create", Some(r#"{"Name":"n","Driver":"none"}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/networks/create", Some(r#"{"Name":"n","Driver":"Bridge"}"#), false, Check::Plugins),
    ("plugins", "POST", "/v1.41/networks/create", Some(r#"{"Name":"n","Driver":"weave"}"#), true, Check::Default),
    ("plugins", "POST", "/v1.41/networks/create", Some(r#"{"Name":"n","Driver":"store/weave:latest"}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/networks/create", Some(r#"{"Name":"n","IPAM":{"Driver":"../evil"}}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/networks/create", Some(r#"{"Name":"n","IPAM":{"Driver":"infoblox"}}"#), false, Check::Plugins),
    ("", "POST", "/v1.51/networks/create", Some(r#"{"Name":"n","Driver":"ipvlan","Options":{"parent":"eth0"}}"#), true, Check::Default),
    // A network made before the fix: dockerd cannot be asked here.
    ("", "POST", "/v1.41/networks/pwn/connect", Some(r#"{"Container":"c"}"#), false, Check::Plugins),
    // Joining a user-defined network asks dockerd for its drivers (and
    // fails closed here, where dockerd cannot be asked); predefined ones do not.
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a:v1","HostConfig":{"NetworkMode":"pwn"}}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a:v1","NetworkingConfig":{"EndpointsConfig":{"pwn":{}}}}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a:v1","HostConfig":{"NetworkMode":"bridge"},"NetworkingConfig":{"EndpointsConfig":{"bridge":null}}}"#), true, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a:v1","HostConfig":{"LogConfig":{"Type":"../../x/evil"}}}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a:v1","HostConfig":{"LogConfig":{"Type":"weave"}}}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a:v1","HostConfig":{"LogConfig":{"Type":"syslog"}}}"#), true, Check::RegistryAllowlist),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a:v1","LogConfig":{"Type":"/x/evil"}}"#), false, Check::Plugins),
    ("", "POST", "/v1.23/containers/c/start", Some(r#"{"LogConfig":{"Type":"/x/evil"}}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a:v1","HostConfig":{"VolumeDriver":"../../x/evil","Binds":["v:/v"]}}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/containers/create", Some(r#"{"Image":"127.0.0.1:5000/a:v1","HostConfig":{"Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"sshfs"}}}]}}"#), false, Check::Hardening), // the baseline's volume_drivers comes first
    ("", "POST", "/v1.41/volumes/create", Some(r#"{"Name":"v","Driver":"../../../tmp/evil"}"#), false, Check::Plugins),
    ("plugins", "POST", "/v1.41/volumes/create", Some(r#"{"Name":"v","Driver":"../../../tmp/evil"}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/volumes/create", Some(r#"{"Name":"v","Driver":"local"}"#), true, Check::Default),
    ("", "POST", "/v1.41/services/create", Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"127.0.0.1:5000/x:1"},"LogDriver":{"Name":"/x/evil"}}}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/secrets/create", Some(r#"{"Name":"s","Driver":{"Name":"vault"}}"#), false, Check::Plugins),
    ("", "POST", "/v1.41/secrets/create", Some(r#"{"Name":"s","Data":"eA=="}"#), true, Check::Default),
    // docker cp into a container: denied where hardening applies, which the
    // built-in baseline makes everywhere by default (see tests/policy_file.rs).
    ("", "PUT", "/v1.41/containers/c/archive?path=%2F", None, false, Check::Cp),
    // Pushes leave for authorized registries only, unless "push" is allowed.
    ("", "POST", "/v1.41/images/127.0.0.1:5000/a/push?tag=v1", None, true, Check::Push),
    ("", "POST", "/v1.41/images/evil.io/a/push?tag=v1", None, false, Check::Push),
    ("", "POST", "/v1.41/images/busybox/push", None, false, Check::Push),
    ("push", "POST", "/v1.41/images/evil.io/a/push?tag=v1", None, true, Check::Push),
    // Reads that make dockerd contact a registry.
    ("", "GET", "/v1.41/distribution/evil.io/x:1/json", None, false, Check::RegistryAllowlist),
    ("", "GET", "/v1.41/distribution/127.0.0.1:5000/x:1/json", None, true, Check::RegistryAllowlist),
    ("", "GET", "/v1.41/plugins/privileges?remote=evil.io/p", None, false, Check::RegistryAllowlist),
    ("", "GET", "/v1.41/plugins/privileges?remote=reg.local/p", None, true, Check::RegistryAllowlist),
    ("", "GET", "/v1.41/images/search?term=evil.io%2Fx", None, false, Check::RegistryAllowlist),
    ("", "GET", "/v1.41/images/search?term=localhost%2Fx", None, false, Check::RegistryAllowlist),
    ("", "GET", "/v1.41/images/search?term=REG.LOCAL%2Fx", None, true, Check::RegistryAllowlist),
    ("", "GET", "/v1.41/images/search?term=busybox", None, true, Check::Default),
    ("", "GET", "/v1.41/images/search?term=library%2Fbusybox", None, true, Check::Default),
];

#[test]
fn policy_table() {
    let mut failures = Vec::new();
    for (allow, method, uri, body, want_allow, want_rule) in ROWS {
        let p = policy(allow);
        let d = match decode(&req(method, uri, *body)) {
            Ok(d) => futures_block(p.decide(&d.action, &Ctx::default())),
            Err(e) => panic!("{method} {uri}: does not decode: {e}"),
        };
        if d.allowed() != *want_allow || d.check != *want_rule {
            failures.push(format!(
                "[{allow}] {method} {uri}: got allow={} rule={} ({})",
                d.allowed(),
                d.check,
                d.reason
            ));
        }
        if !d.allowed() {
            // Every deny says why and how to allow it.
            assert!(
                !d.reason.is_empty() && !d.hint.is_empty(),
                "{uri}: deny without reason or hint"
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn deny_message_names_action_rule_and_setting() {
    let p = policy("");
    let d = decode(&req("POST", "/v1.41/images/load", None)).unwrap();
    let decision = futures_block(p.decide(&d.action, &Ctx::default()));
    let msg = decision.message(&d.action.to_string());
    assert!(msg.contains("image load"), "{msg}");
    assert!(msg.contains("rule 'load'"), "{msg}");
    assert!(msg.contains("IMG_AUTHZ_ALLOW"), "{msg}");
    let d = decode(&req(
        "POST",
        "/v1.41/images/create?fromImage=busybox&tag=latest",
        None,
    ))
    .unwrap();
    let msg = futures_block(p.decide(&d.action, &Ctx::default())).message(&d.action.to_string());
    assert!(
        msg.contains("docker.io/library/busybox:latest") && msg.contains("REGISTRY"),
        "{msg}"
    );
}

fn futures_block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The allowlist is loaded in canonical form, and the deny of another
/// spelling names the one to use.
#[test]
fn one_spelling_per_registry() {
    let p = Policy::without_trust(
        RawConfig {
            registry: "LOCALHOST:27000,Reg.IO:443".into(),
            docker_host: "unix:///nonexistent/docker.sock".into(),
            state_dir: std::env::temp_dir()
                .join("img-authz-policy-test")
                .display()
                .to_string(),
            ..Default::default()
        }
        .validate()
        .unwrap(),
    )
    .unwrap();
    assert_eq!(p.config().registries, ["localhost:27000", "reg.io"]);
    let pull = |image: &str| {
        let uri = format!("/v1.41/images/create?fromImage={image}&tag=v1");
        let d = decode(&req("POST", &uri, None)).unwrap();
        futures_block(p.decide(&d.action, &Ctx::default()))
    };
    assert!(pull("localhost:27000/acc/lapp").allowed());
    assert!(pull("reg.io/acc/lapp").allowed());
    for (alias, canonical) in [
        ("LOCALHOST:27000/acc/lapp", "localhost:27000/acc/lapp"),
        ("localhost:027000/acc/lapp", "localhost:27000/acc/lapp"),
        ("REG.IO/acc/lapp", "reg.io/acc/lapp"),
        ("reg.io:443/acc/lapp", "reg.io/acc/lapp"),
    ] {
        let d = pull(alias);
        assert!(!d.allowed(), "{alias} allowed: {}", d.reason);
        assert_eq!(d.check, Check::RegistryAllowlist, "{alias}");
        assert!(
            d.hint == format!("write it as {canonical}") && d.reason.contains("one identity"),
            "{alias}: {} / {}",
            d.reason,
            d.hint
        );
    }
}
