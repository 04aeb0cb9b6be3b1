//! The decoder table: raw authorization calls as dockerd sends them, and what
//! img-authz must make of them. Each row is a request shape seen from the
//! Docker CLI or a known bypass; the expectation is the typed action, or a
//! refusal to decode (which the plugin turns into a deny).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

use std::collections::BTreeMap;

use img_authz::protocol::AuthzRequest;
use img_authz::request::action::{Action, PluginOp};
use img_authz::request::{decode, DecodeError};

pub enum Expect {
    /// Decodes to this action kind, and the check holds.
    Ok(&'static str, fn(&Action) -> bool),
    /// Refused; the message contains this text.
    Refused(&'static str),
}

pub struct Case {
    pub name: &'static str,
    pub method: &'static str,
    pub uri: &'static str,
    /// Extra headers; a JSON body gets Content-Type and Content-Length by default.
    pub headers: &'static [(&'static str, &'static str)],
    pub body: Option<&'static str>,
    pub expect: Expect,
}

fn any(_: &Action) -> bool {
    true
}

fn call(c: &Case) -> AuthzRequest {
    let mut headers = BTreeMap::new();
    match c.body {
        Some(b) => {
            headers.insert("Content-Type".to_string(), "application/json".to_string());
            headers.insert("Content-Length".to_string(), b.len().to_string());
        }
        None if c.method == "POST" || c.method == "PUT" => {
            // What the Go client sends for a POST without a body.
            headers.insert("Content-Type".to_string(), "text/plain".to_string());
            headers.insert("Content-Length".to_string(), "0".to_string());
        }
        None => {}
    }
    for (k, v) in c.headers {
        if v.is_empty() {
            headers.remove(*k);
        } else {
            headers.insert(k.to_string(), v.to_string());
        }
    }
    AuthzRequest {
        request_method: c.method.to_string(),
        request_uri: c.uri.to_string(),
        request_body: c.body.map(|b| b.as_bytes().to_vec()),
        request_headers: Some(headers),
        ..Default::default()
    }
}

fn pull_of(a: &Action, want: &str) -> bool {
    matches!(a, Action::Pull(p) if p.image.to_string() == want)
}

fn create_image(a: &Action, want: &str) -> bool {
    matches!(a, Action::ContainerCreate(c) if c.image == want)
}

fn privileged(a: &Action) -> bool {
    matches!(a, Action::ContainerCreate(c) if c.host_configs.iter().any(|h| h.privileged))
}

fn binds(a: &Action, want: &str) -> bool {
    matches!(a, Action::ContainerCreate(c) if c.host_configs.iter().any(|h| h.binds.iter().any(|b| b == want)))
}

const D: &str = "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582";

/// Shared with tests/differential.rs, which seeds its generator with it.
pub static CASES: &[Case] = &[
    // --- Reads and the version prefix ---------------------------------
    Case { name: "ping", method: "HEAD", uri: "/_ping", headers: &[], body: None, expect: Expect::Ok("read", any) },
    Case { name: "ps", method: "GET", uri: "/v1.41/containers/json?all=1", headers: &[], body: None, expect: Expect::Ok("read", any) },
    Case { name: "images", method: "GET", uri: "/v1.41/images/json", headers: &[], body: None, expect: Expect::Ok("read", any) },
    Case { name: "info unversioned", method: "GET", uri: "/info", headers: &[], body: None, expect: Expect::Ok("read", any) },
    Case { name: "version with leading zero", method: "GET", uri: "/v1.041/version", headers: &[], body: None, expect: Expect::Ok("read", any) },
    Case { name: "version with three parts", method: "GET", uri: "/v1.41.0/info", headers: &[], body: None, expect: Expect::Ok("read", any) },
    Case { name: "absolute-form read", method: "GET", uri: "http://evil/v1.41/containers/json?all=1", headers: &[], body: None, expect: Expect::Ok("read", any) },
    Case { name: "unrouted GET is a read", method: "GET", uri: "/v1.41/no/such/thing", headers: &[], body: None, expect: Expect::Ok("read", any) },
    Case { name: "options preflight", method: "OPTIONS", uri: "/v1.41/containers/create", headers: &[], body: None, expect: Expect::Ok("read", any) },
    Case { name: "websocket attach is routed as GET", method: "GET", uri: "/v1.41/containers/c1/attach/ws?stream=1", headers: &[], body: None, expect: Expect::Ok("read", any) },

    // --- Unknown and malformed --------------------------------------------
    Case { name: "unknown POST", method: "POST", uri: "/v1.41/containers/c1/frobnicate", headers: &[], body: None, expect: Expect::Refused("not an endpoint") },
    Case { name: "PATCH is unknown", method: "PATCH", uri: "/v1.41/containers/create", headers: &[], body: None, expect: Expect::Refused("not an endpoint") },
    Case { name: "lower-case method", method: "post", uri: "/v1.41/containers/create", headers: &[], body: None, expect: Expect::Refused("not an endpoint") },
    Case { name: "trailing slash", method: "POST", uri: "/v1.41/containers/create/", headers: &[], body: None, expect: Expect::Refused("not an endpoint") },
    Case { name: "unclean path", method: "POST", uri: "/v1.41/x/../containers/create", headers: &[], body: None, expect: Expect::Refused("not clean") },
    Case { name: "encoded dot-dot", method: "POST", uri: "/v1.41/x/%2e%2e/images/create?fromImage=a", headers: &[], body: None, expect: Expect::Refused("not clean") },
    Case { name: "bad escape in path", method: "POST", uri: "/v1.41/images/%zz/tag?repo=a", headers: &[], body: None, expect: Expect::Refused("percent-escape") },
    Case { name: "semicolon in query", method: "POST", uri: "/v1.41/images/create?fromImage=127.0.0.1:5000/a;tag=v1", headers: &[], body: None, expect: Expect::Refused("semicolon") },
    Case { name: "bad escape in query", method: "POST", uri: "/v1.41/images/create?fromImage=%G1", headers: &[], body: None, expect: Expect::Refused("percent-escape") },
    Case { name: "control character", method: "GET", uri: "/v1.41/info\r", headers: &[], body: None, expect: Expect::Refused("control character") },

    // --- Pulls ---------------------------------------------------------
    Case { name: "pull, CLI 28 form", method: "POST", uri: "/v1.41/images/create?fromImage=127.0.0.1%3A5000%2Ftest%2Fbb&tag=v1", headers: &[], body: None, expect: Expect::Ok("pull", |a| pull_of(a, "127.0.0.1:5000/test/bb:v1")) },
    Case { name: "pull, familiar name", method: "POST", uri: "/v1.24/images/create?fromImage=busybox&tag=latest", headers: &[], body: None, expect: Expect::Ok("pull", |a| pull_of(a, "docker.io/library/busybox:latest")) },
    Case { name: "pull, nested path", method: "POST", uri: "/images/create?fromImage=127.0.0.1:5000/a/b/c&tag=v2", headers: &[], body: None, expect: Expect::Ok("pull", |a| pull_of(a, "127.0.0.1:5000/a/b/c:v2")) },
    Case { name: "pull, all tags", method: "POST", uri: "/v1.41/images/create?fromImage=127.0.0.1:5000/a", headers: &[], body: None, expect: Expect::Ok("pull", |a| matches!(a, Action::Pull(p) if p.all_tags())) },
    Case { name: "pull, trailing colon means all tags", method: "POST", uri: "/v1.41/images/create?fromImage=busybox%3A", headers: &[], body: None, expect: Expect::Ok("pull", |a| matches!(a, Action::Pull(p) if p.all_tags())) },
    Case { name: "pull, tag param replaces name tag", method: "POST", uri: "/v1.41/images/create?fromImage=127.0.0.1:5000/a:v1&tag=v2", headers: &[], body: None, expect: Expect::Ok("pull", |a| pull_of(a, "127.0.0.1:5000/a:v2")) },
    Case { name: "pull by digest", method: "POST", uri: "/v1.41/images/create?fromImage=127.0.0.1:5000/a&tag=sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582", headers: &[], body: None, expect: Expect::Ok("pull", |a| matches!(a, Action::Pull(p) if p.image.digest.as_deref() == Some(D) && p.image.tag.is_none())) },
    Case { name: "pull, first fromImage wins", method: "POST", uri: "/v1.41/images/create?fromImage=127.0.0.1:5000/ok&fromImage=evil.io/x&tag=v1", headers: &[], body: None, expect: Expect::Ok("pull", |a| pull_of(a, "127.0.0.1:5000/ok:v1")) },
    Case { name: "pull, query smuggling decodes once", method: "POST", uri: "/v1.41/images/create?x=%26fromImage%3D127.0.0.1:5000/ok&fromImage=evil.io/x&tag=v1", headers: &[], body: None, expect: Expect::Ok("pull", |a| pull_of(a, "evil.io/x:v1")) },
    Case { name: "pull, plus is a space", method: "POST", uri: "/v1.41/images/create?fromImage=a+b&tag=v1", headers: &[], body: None, expect: Expect::Refused("not a valid image reference") },
    Case { name: "pull, invalid reference", method: "POST", uri: "/v1.41/images/create?fromImage=UPPER/Case&tag=v1", headers: &[], body: None, expect: Expect::Refused("not a valid image reference") },
    Case { name: "pull, invalid tag", method: "POST", uri: "/v1.41/images/create?fromImage=busybox&tag=x%7C%7Ctrue", headers: &[], body: None, expect: Expect::Refused("tag") },
    Case { name: "pull, form body overrides query", method: "POST", uri: "/v1.41/images/create?fromImage=127.0.0.1:5000/ok&tag=v1", headers: &[("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "20")], body: None, expect: Expect::Refused("form body") },
    Case { name: "pull, form type with charset and case", method: "POST", uri: "/v1.41/images/create?fromImage=127.0.0.1:5000/ok&tag=v1", headers: &[("Content-Type", "Application/X-WWW-Form-Urlencoded; charset=utf-8"), ("Content-Length", "20")], body: None, expect: Expect::Refused("form body") },
    Case { name: "pull, multipart body", method: "POST", uri: "/v1.41/images/create?fromImage=127.0.0.1:5000/ok&tag=v1", headers: &[("Content-Type", "multipart/form-data; boundary=x"), ("Content-Length", "99")], body: None, expect: Expect::Refused("form body") },
    Case { name: "pull, hidden chunked body", method: "POST", uri: "/v1.41/images/create?fromImage=127.0.0.1:5000/ok&tag=v1", headers: &[("Content-Length", "")], body: None, expect: Expect::Refused("takes none") },
    Case { name: "pull, JSON body where none belongs", method: "POST", uri: "/v1.41/images/create?fromImage=127.0.0.1:5000/ok&tag=v1", headers: &[], body: Some(r#"{"a":"&fromImage=evil&"}"#), expect: Expect::Refused("takes none") },
    Case { name: "pull, curl without headers", method: "POST", uri: "/images/create?fromImage=127.0.0.1:5000/ok&tag=v1", headers: &[("Content-Type", ""), ("Content-Length", "")], body: None, expect: Expect::Ok("pull", |a| pull_of(a, "127.0.0.1:5000/ok:v1")) },

    // --- Import, load, build, commit, session, grpc --------------------
    Case { name: "import from stdin", method: "POST", uri: "/v1.41/images/create?fromSrc=-&repo=127.0.0.1:5000/x:v1", headers: &[("Content-Length", "2048")], body: None, expect: Expect::Ok("import", |a| matches!(a, Action::Import { source, .. } if source == "-")) },
    Case { name: "import from URL", method: "POST", uri: "/v1.41/images/create?fromSrc=http://h/x.tar&repo=x", headers: &[], body: None, expect: Expect::Ok("import", any) },
    Case { name: "load", method: "POST", uri: "/v1.41/images/load?quiet=1", headers: &[("Content-Type", "application/x-tar"), ("Content-Length", "")], body: None, expect: Expect::Ok("load", any) },
    Case { name: "classic build", method: "POST", uri: "/v1.41/build?t=127.0.0.1:5000/x:v1&t=y&networkmode=host&version=1", headers: &[("Content-Type", "application/x-tar")], body: None, expect: Expect::Ok("build", |a| matches!(a, Action::Build(b) if b.tags.len() == 2 && b.network_mode == "host")) },
    Case { name: "build with multipart form", method: "POST", uri: "/v1.41/build", headers: &[("Content-Type", "multipart/form-data; boundary=z")], body: None, expect: Expect::Refused("form body") },
    Case { name: "commit", method: "POST", uri: "/v1.41/commit?container=c1&repo=127.0.0.1:5000/x&tag=v1", headers: &[], body: None, expect: Expect::Ok("commit", any) },
    Case { name: "session", method: "POST", uri: "/session", headers: &[("Upgrade", "h2c")], body: None, expect: Expect::Ok("session", any) },
    Case { name: "grpc", method: "POST", uri: "/grpc", headers: &[("Upgrade", "h2c")], body: None, expect: Expect::Ok("grpc", any) },

    // --- Tag and push ----------------------------------------------------
    Case { name: "tag", method: "POST", uri: "/v1.41/images/busybox/tag?repo=127.0.0.1:5000/x&tag=v1", headers: &[], body: None, expect: Expect::Ok("tag", |a| matches!(a, Action::Tag { source, target } if source == "busybox" && target.to_string() == "127.0.0.1:5000/x:v1")) },
    Case { name: "tag, name with slashes and port", method: "POST", uri: "/v1.41/images/127.0.0.1:5000/a/b:v1/tag?repo=127.0.0.1:5000/c", headers: &[], body: None, expect: Expect::Ok("tag", |a| matches!(a, Action::Tag { source, target } if source == "127.0.0.1:5000/a/b:v1" && target.to_string() == "127.0.0.1:5000/c:latest")) },
    Case { name: "tag, form override", method: "POST", uri: "/v1.41/images/x/tag?repo=elsewhere/y", headers: &[("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "30")], body: None, expect: Expect::Refused("form body") },
    Case { name: "tag without repo", method: "POST", uri: "/v1.41/images/x/tag", headers: &[], body: None, expect: Expect::Refused("no target repository") },
    Case { name: "tag to a digest", method: "POST", uri: "/v1.41/images/x/tag?repo=127.0.0.1:5000/x@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582", headers: &[], body: None, expect: Expect::Refused("digest") },
    Case { name: "push", method: "POST", uri: "/v1.41/images/127.0.0.1:5000/x/push?tag=v1", headers: &[], body: None, expect: Expect::Ok("push", |a| matches!(a, Action::Push { image } if image == "127.0.0.1:5000/x:v1")) },

    // --- Container create ----------------------------------------------------
    Case { name: "create", method: "POST", uri: "/v1.41/containers/create?name=c1", headers: &[], body: Some(r#"{"Image":"127.0.0.1:5000/x:v1","HostConfig":{"NetworkMode":"default"}}"#), expect: Expect::Ok("container-create", |a| create_image(a, "127.0.0.1:5000/x:v1")) },
    Case { name: "create, percent-encoded route", method: "POST", uri: "/v1.41/containers/%63reate", headers: &[], body: Some(r#"{"Image":"a"}"#), expect: Expect::Ok("container-create", |a| create_image(a, "a")) },
    Case { name: "create, lower-case keys", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"image":"evil.io/x","hostconfig":{"privileged":true}}"#), expect: Expect::Ok("container-create", |a| create_image(a, "evil.io/x") && privileged(a)) },
    Case { name: "create, escaped key", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"\u0049mage":"evil.io/x"}"#), expect: Expect::Ok("container-create", |a| create_image(a, "evil.io/x")) },
    Case { name: "create, duplicate Image", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"127.0.0.1:5000/ok","Image":"evil.io/x"}"#), expect: Expect::Refused("more than once") },
    Case { name: "create, case-variant Privileged", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a","HostConfig":{"Privileged":false,"privileged":true}}"#), expect: Expect::Refused("more than once") },
    Case { name: "create, duplicate HostConfig objects merge in Go", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a","HostConfig":{"Privileged":true},"hostconfig":{"Memory":1}}"#), expect: Expect::Refused("more than once") },
    Case { name: "create, long s folds onto Binds", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some("{\"Image\":\"a\",\"HostConfig\":{\"Bind\u{017F}\":[\"/:/h\"]}}"), expect: Expect::Refused("not ASCII") },
    Case { name: "create, Kelvin sign key", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some("{\"Image\":\"a\",\"HostConfig\":{\"Mac\u{212A}\":1}}"), expect: Expect::Refused("not ASCII") },
    Case { name: "create, top-level HostConfig fields (20.10)", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a","Privileged":true,"Binds":["/:/host"]}"#), expect: Expect::Ok("container-create", |a| privileged(a) && binds(a, "/:/host")) },
    Case { name: "create, both HostConfig forms checked", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a","HostConfig":{"Binds":["/etc:/e"]},"Privileged":true}"#), expect: Expect::Ok("container-create", |a| privileged(a) && binds(a, "/etc:/e")) },
    Case { name: "create, trailing data", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a"}{"Image":"b"}"#), expect: Expect::Refused("after the JSON value") },
    Case { name: "create, trailing brace", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a"}}"#), expect: Expect::Refused("after the JSON value") },
    Case { name: "create, wrong type", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a","HostConfig":{"Privileged":"true"}}"#), expect: Expect::Refused("must be a boolean") },
    Case { name: "create, CapAdd as a string", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a","HostConfig":{"CapAdd":"SYS_ADMIN"}}"#), expect: Expect::Ok("container-create", |a| matches!(a, Action::ContainerCreate(c) if c.host_configs[0].cap_add == ["SYS_ADMIN"])) },
    Case { name: "create, image mount", method: "POST", uri: "/v1.48/containers/create", headers: &[], body: Some(r#"{"Image":"a","HostConfig":{"Mounts":[{"Type":"image","Source":"evil.io/y","Target":"/m"}]}}"#), expect: Expect::Ok("container-create", |a| matches!(a, Action::ContainerCreate(c) if c.host_configs[0].mounts[0].source == "evil.io/y")) },
    Case { name: "create, JSON with charset", method: "POST", uri: "/v1.41/containers/create", headers: &[("Content-Type", "application/json; charset=utf-8")], body: Some(r#"{"Image":"a"}"#), expect: Expect::Ok("container-create", |a| create_image(a, "a")) },
    Case { name: "create, body absent (CVE-2024-41110)", method: "POST", uri: "/v1.41/containers/create", headers: &[("Content-Type", "application/json"), ("Content-Length", "")], body: None, expect: Expect::Refused("chunked") },
    Case { name: "create, body of 1 MiB dropped (CVE-2026-34040)", method: "POST", uri: "/v1.41/containers/create", headers: &[("Content-Type", "application/json"), ("Content-Length", "1048576")], body: None, expect: Expect::Refused("1 MiB") },
    Case { name: "create, body hidden by /auth suffix", method: "POST", uri: "/v1.41/containers/create?x=/auth", headers: &[("Content-Type", "application/json"), ("Content-Length", "40")], body: None, expect: Expect::Refused("/auth") },
    Case { name: "create, non-JSON content type", method: "POST", uri: "/v1.41/containers/create", headers: &[("Content-Type", "text/plain"), ("Content-Length", "40")], body: None, expect: Expect::Refused("not application/json") },
    Case { name: "create, empty body", method: "POST", uri: "/v1.41/containers/create", headers: &[("Content-Type", "application/json"), ("Content-Length", "0")], body: None, expect: Expect::Refused("without a configuration") },
    Case { name: "create, null body", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some("null"), expect: Expect::Refused("without a configuration") },
    Case { name: "create, non-object body", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some("[]"), expect: Expect::Refused("an object") },

    // --- Start, update, exec, volumes ------------------------------------
    Case { name: "service with a runtime dockerd does not know", method: "POST", uri: "/v1.41/services/create", headers: &[("Content-Type", "application/json")], body: Some(r#"{"TaskTemplate":{"Runtime":"Plugin","PluginSpec":{"Remote":"r.io/p"}}}"#), expect: Expect::Refused("which dockerd does not run") },
    Case { name: "service PluginSpec without the plugin runtime is a container", method: "POST", uri: "/v1.41/services/create", headers: &[("Content-Type", "application/json")], body: Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"evil.io/x"},"PluginSpec":{"Remote":"r.io/p"},"Networks":[{"Target":"abc"}]},"Networks":[{"Target":"host"}]}"#), expect: Expect::Ok("service-create", |a| matches!(a, Action::Service(s) if s.plugin_remote.is_none() && s.image == "evil.io/x" && s.networks == ["host", "abc"])) },
    Case { name: "empty MaskedPaths replace the defaults", method: "POST", uri: "/v1.41/containers/create", headers: &[("Content-Type", "application/json")], body: Some(r#"{"Image":"a","HostConfig":{"MaskedPaths":[]}}"#), expect: Expect::Ok("container-create", |a| matches!(a, Action::ContainerCreate(c) if c.host_configs.iter().any(|h| h.masked_paths == Some(vec![])))) },
    Case { name: "null ReadonlyPaths keep them", method: "POST", uri: "/v1.41/containers/create", headers: &[("Content-Type", "application/json")], body: Some(r#"{"Image":"a","HostConfig":{"ReadonlyPaths":null}}"#), expect: Expect::Ok("container-create", |a| matches!(a, Action::ContainerCreate(c) if c.host_configs.iter().all(|h| h.readonly_paths.is_none()))) },
    Case { name: "BuildKit outputs name the image", method: "POST", uri: "/v1.41/build?version=2&outputs=%5B%7B%22Type%22%3A%22moby%22%2C%22attrs%22%3A%7B%22name%22%3A%22r.io%2Fapp%3A1%2Cr.io%2Fb%22%7D%7D%5D", headers: &[], body: None, expect: Expect::Ok("build", |a| matches!(a, Action::Build(b) if b.tags.is_empty() && b.output_names == ["r.io/app:1", "r.io/b"])) },
    Case { name: "BuildKit outputs that are not JSON", method: "POST", uri: "/v1.41/build?version=2&outputs=%7Bx", headers: &[], body: None, expect: Expect::Refused("build outputs") },
    Case { name: "checkpoint create names a host directory", method: "POST", uri: "/v1.41/containers/c1/checkpoints", headers: &[("Content-Type", "application/json")], body: Some(r#"{"CheckpointID":"x","checkpointdir":"/etc"}"#), expect: Expect::Ok("checkpoint", |a| matches!(a, Action::Checkpoint { container, dir } if container == "c1" && dir == "/etc")) },
    Case { name: "checkpoint delete names a host directory", method: "DELETE", uri: "/v1.41/containers/c1/checkpoints/etc?dir=/", headers: &[], body: None, expect: Expect::Ok("checkpoint", |a| matches!(a, Action::Checkpoint { container, dir } if container == "c1" && dir == "/")) },
    Case { name: "checkpoint create with a hidden body", method: "POST", uri: "/v1.41/containers/c1/checkpoints", headers: &[("Content-Type", "application/json"), ("Content-Length", "")], body: None, expect: Expect::Refused("not forwarded") },
    Case { name: "start", method: "POST", uri: "/v1.41/containers/c1/start", headers: &[], body: None, expect: Expect::Ok("container-start", any) },
    Case { name: "start with HostConfig on API 1.23", method: "POST", uri: "/v1.23/containers/c1/start", headers: &[], body: Some(r#"{"Privileged":true}"#), expect: Expect::Ok("container-start", |a| matches!(a, Action::ContainerStart { host_configs, .. } if host_configs.iter().any(|h| h.privileged))) },
    Case { name: "start on API 1.23 with hidden body", method: "POST", uri: "/v1.23/containers/c1/start", headers: &[("Content-Type", "application/json"), ("Content-Length", "")], body: None, expect: Expect::Refused("not forwarded") },
    Case { name: "update", method: "POST", uri: "/v1.41/containers/c1/update", headers: &[], body: Some(r#"{"Memory":1000000}"#), expect: Expect::Ok("container-update", any) },
    Case { name: "exec privileged", method: "POST", uri: "/v1.41/containers/c1/exec", headers: &[], body: Some(r#"{"Cmd":["sh"],"privileged":true,"User":"root"}"#), expect: Expect::Ok("exec-create", |a| matches!(a, Action::ExecCreate { privileged: true, user, .. } if user == "root")) },
    Case { name: "exec with hidden body", method: "POST", uri: "/v1.41/containers/c1/exec", headers: &[("Content-Type", "application/json"), ("Content-Length", "")], body: None, expect: Expect::Refused("not forwarded") },
    Case { name: "volume create with bind options", method: "POST", uri: "/v1.41/volumes/create", headers: &[], body: Some(r#"{"Name":"v","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#), expect: Expect::Ok("volume-create", |a| matches!(a, Action::VolumeCreate { driver_opts, .. } if driver_opts.len() == 3)) },

    // --- Services and swarm -----------------------------------------------
    Case { name: "service create", method: "POST", uri: "/v1.41/services/create", headers: &[], body: Some(r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"127.0.0.1:5000/x:v1@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582"}}}"#), expect: Expect::Ok("service-create", |a| matches!(a, Action::Service(s) if s.image.starts_with("127.0.0.1:5000/x:v1@"))) },
    Case { name: "service update", method: "POST", uri: "/v1.41/services/s1/update?version=3", headers: &[], body: Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"evil.io/x"}}}"#), expect: Expect::Ok("service-update", |a| matches!(a, Action::Service(s) if s.service == "s1" && s.image == "evil.io/x")) },
    Case { name: "service create, text/plain body (no CheckForJSON)", method: "POST", uri: "/v1.41/services/create", headers: &[("Content-Type", "text/plain"), ("Content-Length", "80")], body: None, expect: Expect::Refused("not application/json") },
    Case { name: "service with a custom seccomp profile (base64 bytes)", method: "POST", uri: "/v1.41/services/create", headers: &[], body: Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"r.io/x","Privileges":{"Seccomp":{"Mode":"custom","Profile":"bnVsbA=="}}}}}"#), expect: Expect::Ok("service-create", |a| matches!(a, Action::Service(s) if s.security_opt == ["seccomp=null"])) },
    Case { name: "service with a custom seccomp profile that is not base64", method: "POST", uri: "/v1.41/services/create", headers: &[], body: Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"r.io/x","Privileges":{"Seccomp":{"Mode":"custom","Profile":"n!ll"}}}}}"#), expect: Expect::Refused("not base64") },
    Case { name: "service with seccomp unconfined", method: "POST", uri: "/v1.41/services/create", headers: &[], body: Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"r.io/x","Privileges":{"Seccomp":{"Mode":"unconfined"}}}}}"#), expect: Expect::Ok("service-create", |a| matches!(a, Action::Service(s) if s.security_opt == ["seccomp=unconfined"])) },
    Case { name: "service with plugin runtime", method: "POST", uri: "/v1.41/services/create", headers: &[], body: Some(r#"{"TaskTemplate":{"Runtime":"plugin","PluginSpec":{"Remote":"evil.io/p:1"}}}"#), expect: Expect::Ok("service-create", |a| matches!(a, Action::Service(s) if s.plugin_remote.as_deref() == Some("evil.io/p:1"))) },
    Case { name: "swarm join", method: "POST", uri: "/v1.41/swarm/join", headers: &[], body: Some(r#"{"RemoteAddrs":["10.0.0.1:2377"]}"#), expect: Expect::Ok("swarm", any) },
    Case { name: "swarm init", method: "POST", uri: "/v1.41/swarm/init", headers: &[], body: Some("{}"), expect: Expect::Ok("swarm", any) },
    Case { name: "swarm join tokens", method: "GET", uri: "/v1.41/swarm", headers: &[], body: None, expect: Expect::Ok("swarm", any) },
    Case { name: "service rollback", method: "POST", uri: "/v1.41/services/s1/update?version=3&rollback=previous", headers: &[], body: Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"a"}}}"#), expect: Expect::Ok("service-update", |a| matches!(a, Action::Service(s) if s.rollback)) },

    // --- Plugins ---------------------------------------------------------
    Case { name: "plugin install", method: "POST", uri: "/v1.41/plugins/pull?remote=evil.io/p:1&name=p", headers: &[], body: Some("[]"), expect: Expect::Ok("plugin-pull", |a| matches!(a, Action::Plugin(PluginOp::Pull { remote, .. }) if remote == "evil.io/p:1")) },
    Case { name: "plugin create", method: "POST", uri: "/v1.41/plugins/create?name=p", headers: &[("Content-Type", "application/x-tar")], body: None, expect: Expect::Ok("plugin-create", any) },
    Case { name: "plugin upgrade", method: "POST", uri: "/v1.41/plugins/p:latest/upgrade?remote=evil.io/p:2", headers: &[], body: Some("[]"), expect: Expect::Ok("plugin-upgrade", any) },
    Case { name: "plugin set", method: "POST", uri: "/v1.41/plugins/img-authz/set", headers: &[], body: Some(r#"["REGISTRY=evil.io"]"#), expect: Expect::Ok("plugin-set", any) },
    Case { name: "plugin set with hidden body", method: "POST", uri: "/v1.41/plugins/img-authz/set", headers: &[("Content-Type", "text/plain"), ("Content-Length", "20")], body: None, expect: Expect::Refused("not application/json") },
    Case { name: "plugin disable", method: "POST", uri: "/v1.41/plugins/img-authz:latest/disable", headers: &[], body: None, expect: Expect::Ok("plugin-disable", any) },
    Case { name: "plugin remove", method: "DELETE", uri: "/v1.41/plugins/img-authz:latest?force=1", headers: &[], body: None, expect: Expect::Ok("plugin-remove", any) },
    Case { name: "plugin enable", method: "POST", uri: "/v1.41/plugins/p/enable?timeout=0", headers: &[], body: None, expect: Expect::Ok("plugin-enable", any) },

    // --- Harmless control ------------------------------------------------
    Case { name: "stop", method: "POST", uri: "/v1.41/containers/c1/stop", headers: &[], body: None, expect: Expect::Ok("control", any) },
    Case { name: "rm", method: "DELETE", uri: "/v1.41/containers/c1?force=1", headers: &[], body: None, expect: Expect::Ok("control", any) },
    // --- Drivers dockerd may load as plugins (issue 12, hole 3) ----------
    Case { name: "network create", method: "POST", uri: "/v1.41/networks/create", headers: &[], body: Some(r#"{"Name":"n"}"#), expect: Expect::Ok("network-create", |a| matches!(a, Action::NetworkCreate(n) if n.name == "n" && n.driver.is_empty() && n.ipam_driver.is_empty())) },
    Case { name: "network create, driver by a path", method: "POST", uri: "/v1.41/networks/create", headers: &[], body: Some(r#"{"Name":"pwn","Driver":"../../../var/lib/docker/volumes/v/_data/evil","CheckDuplicate":true}"#), expect: Expect::Ok("network-create", |a| matches!(a, Action::NetworkCreate(n) if n.driver == "../../../var/lib/docker/volumes/v/_data/evil")) },
    Case { name: "network create, lower-case keys (encoding/json folds)", method: "POST", uri: "/network/create", headers: &[], body: Some(r#"{"name":"n","driver":"weave","ipam":{"driver":"evil","options":{"a":"b"}},"options":{"parent":"eth0"}}"#), expect: Expect::Refused("not an endpoint") },
    Case { name: "network create, lower-case keys, unversioned", method: "POST", uri: "/networks/create", headers: &[], body: Some(r#"{"name":"n","driver":"weave","ipam":{"driver":"evil","options":{"a":"b"}},"options":{"parent":"eth0"}}"#), expect: Expect::Ok("network-create", |a| matches!(a, Action::NetworkCreate(n) if n.driver == "weave" && n.ipam_driver == "evil" && n.options == [("parent".to_string(), "eth0".to_string())] && n.ipam_options.len() == 1)) },
    Case { name: "network create, 28's API version", method: "POST", uri: "/v1.51/networks/create", headers: &[], body: Some(r#"{"Name":"n","Driver":"macvlan","Options":{"parent":"eth0"},"EnableIPv4":true}"#), expect: Expect::Ok("network-create", |a| matches!(a, Action::NetworkCreate(n) if n.driver == "macvlan" && n.options.len() == 1)) },
    Case { name: "network create, Driver not a string", method: "POST", uri: "/v1.41/networks/create", headers: &[], body: Some(r#"{"Name":"n","Driver":["bridge"]}"#), expect: Expect::Refused("network create") },
    Case { name: "network create, Options not strings", method: "POST", uri: "/v1.41/networks/create", headers: &[], body: Some(r#"{"Name":"n","Options":{"parent":1}}"#), expect: Expect::Refused("network create") },
    Case { name: "network create, hidden body", method: "POST", uri: "/v1.41/networks/create", headers: &[("Content-Type", "application/json"), ("Content-Length", "80")], body: None, expect: Expect::Refused("not forward") },
    // encoding/json keeps the last of case-folded duplicates: refused, whichever comes last.
    Case { name: "network create, folded duplicate Driver", method: "POST", uri: "/networks/create", headers: &[], body: Some(r#"{"name":"pwn","driver":"bridge","DRIVER":"/tmp/evil"}"#), expect: Expect::Refused("more than once") },
    Case { name: "network create, duplicate IPAM Driver", method: "POST", uri: "/v1.41/networks/create", headers: &[], body: Some(r#"{"Name":"pwn","IPAM":{"Driver":"/tmp/evil","Driver":"default"}}"#), expect: Expect::Refused("more than once") },
    Case { name: "run --network, endpoints", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a","NetworkingConfig":{"EndpointsConfig":{"pwn":{"Aliases":["x"]},"other":null}}}"#), expect: Expect::Ok("container-create", |a| matches!(a, Action::ContainerCreate(c) if c.endpoint_networks == ["pwn", "other"])) },
    Case { name: "run --network, endpoints not objects", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a","NetworkingConfig":{"EndpointsConfig":{"pwn":"x"}}}"#), expect: Expect::Refused("container create") },
    Case { name: "network connect", method: "POST", uri: "/v1.41/networks/pwn/connect", headers: &[], body: Some(r#"{"Container":"c"}"#), expect: Expect::Ok("network-connect", |a| matches!(a, Action::NetworkConnect { network } if network == "pwn")) },
    Case { name: "run --log-driver", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a","HostConfig":{"LogConfig":{"Type":"../../x/evil","Config":{}}}}"#), expect: Expect::Ok("container-create", |a| matches!(a, Action::ContainerCreate(c) if c.host_configs.iter().any(|h| h.log_driver == "../../x/evil"))) },
    Case { name: "run --log-driver, folded keys", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a","hostconfig":{"logconfig":{"TYPE":"weave"}}}"#), expect: Expect::Ok("container-create", |a| matches!(a, Action::ContainerCreate(c) if c.host_configs.iter().any(|h| h.log_driver == "weave"))) },
    Case { name: "run --log-driver, 20.10's top-level HostConfig", method: "POST", uri: "/v1.41/containers/create", headers: &[], body: Some(r#"{"Image":"a","LogConfig":{"Type":"weave"}}"#), expect: Expect::Ok("container-create", |a| matches!(a, Action::ContainerCreate(c) if c.host_configs.iter().any(|h| h.log_driver == "weave"))) },
    // API 1.44+ (dockerd 28 serves /v1.51): CapabilityAdd, Ulimits, OomScoreAdj and
    // Privileges.NoNewPrivileges/AppArmor/Seccomp of a service spec: the ones that give
    // the host away are decoded; Ulimits and OomScoreAdj change no confinement.
    Case { name: "service at /v1.51 with the newer ContainerSpec fields", method: "POST", uri: "/v1.51/services/create", headers: &[("Content-Type", "application/json")], body: Some(r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"r.io/x:1","CapabilityAdd":["CAP_SYS_ADMIN"],"CapabilityDrop":["NET_RAW"],"Ulimits":[{"Name":"nofile","Soft":1024,"Hard":2048}],"OomScoreAdj":-500,"Sysctls":{"net.ipv4.ip_forward":"1"},"Privileges":{"NoNewPrivileges":true,"AppArmor":{"Mode":"disabled"},"Seccomp":{"Mode":"unconfined"}}}}}"#), expect: Expect::Ok("service-create", |a| matches!(a, Action::Service(s) if s.image == "r.io/x:1" && s.cap_add == ["CAP_SYS_ADMIN"] && s.sysctls == [("net.ipv4.ip_forward".to_string(), "1".to_string())] && s.security_opt == ["seccomp=unconfined", "apparmor=disabled"])) },
    Case { name: "service update at /v1.51 with a mistyped CapabilityAdd", method: "POST", uri: "/v1.51/services/s1/update?version=2", headers: &[("Content-Type", "application/json")], body: Some(r#"{"TaskTemplate":{"ContainerSpec":{"Image":"r.io/x:1","CapabilityAdd":"CAP_SYS_ADMIN"}}}"#), expect: Expect::Refused("service update") },
    Case { name: "service log driver", method: "POST", uri: "/v1.41/services/create", headers: &[], body: Some(r#"{"Name":"s","TaskTemplate":{"ContainerSpec":{"Image":"a"},"LogDriver":{"Name":"weave"}}}"#), expect: Expect::Ok("service-create", |a| matches!(a, Action::Service(s) if s.log_driver == "weave")) },
    Case { name: "secret create with a driver", method: "POST", uri: "/v1.41/secrets/create", headers: &[], body: Some(r#"{"Name":"s","Driver":{"Name":"vault"}}"#), expect: Expect::Ok("secret-create", |a| matches!(a, Action::SecretCreate { driver } if driver == "vault")) },
    Case { name: "secret create with data", method: "POST", uri: "/v1.41/secrets/create", headers: &[], body: Some(r#"{"Name":"s","Data":"eA=="}"#), expect: Expect::Ok("secret-create", |a| matches!(a, Action::SecretCreate { driver } if driver.is_empty())) },
    // --- cp, push and reads that reach out ---------------------------------
    Case { name: "cp into a container", method: "PUT", uri: "/v1.41/containers/c1/archive?path=%2Fbin", headers: &[("Content-Type", "application/x-tar"), ("Content-Length", "")], body: None, expect: Expect::Ok("cp", |a| matches!(a, Action::CopyTo { container } if container == "c1")) },
    Case { name: "cp out of a container", method: "GET", uri: "/v1.41/containers/c1/archive?path=%2Fetc", headers: &[], body: None, expect: Expect::Ok("read", any) },
    Case { name: "distribution inspect", method: "GET", uri: "/v1.41/distribution/evil.example:5000/x/json", headers: &[], body: None, expect: Expect::Ok("remote-read", |a| matches!(a, Action::RemoteRead { image, search: false, .. } if image == "evil.example:5000/x")) },
    Case { name: "image search", method: "GET", uri: "/v1.41/images/search?term=evil.example%2Fx", headers: &[], body: None, expect: Expect::Ok("remote-read", |a| matches!(a, Action::RemoteRead { image, search: true, .. } if image == "evil.example/x")) },
    Case { name: "plugin privileges", method: "GET", uri: "/v1.41/plugins/privileges?remote=evil.example%2Fp", headers: &[], body: None, expect: Expect::Ok("remote-read", |a| matches!(a, Action::RemoteRead { image, search: false, .. } if image == "evil.example/p")) },
    Case { name: "login", method: "POST", uri: "/v1.41/auth", headers: &[("Content-Length", "")], body: None, expect: Expect::Ok("login", any) },
];

#[test]
fn decoder_table() {
    assert!(CASES.len() >= 60, "the table must keep at least 60 cases");
    let mut failures = Vec::new();
    for c in CASES {
        let got = decode(&call(c));
        let ok = match (&c.expect, &got) {
            (Expect::Ok(kind, check), Ok(d)) => d.action.kind() == *kind && check(&d.action),
            (Expect::Refused(text), Err(e)) => e.to_string().contains(text),
            _ => false,
        };
        if !ok {
            let shown = match &got {
                Ok(d) => format!("{} ({:?})", d.action.kind(), d.action),
                Err(e) => format!("refused: {e}"),
            };
            failures.push(format!("{}: got {shown}", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn every_refusal_is_a_typed_error() {
    // A refusal is always one of the typed errors, never a panic.
    let e = decode(&AuthzRequest {
        request_method: "POST".into(),
        request_uri: String::new(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(e, DecodeError::Uri(_)));
}
