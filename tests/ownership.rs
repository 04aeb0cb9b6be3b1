//! Container ownership (`[ownership]`): who created a container is
//! recorded in the response phase and every container-scoped route is
//! allowed only to its owner or an admin, against a stand-in dockerd that
//! resolves names, IDs and ID prefixes as dockerd does.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use img_authz::decide::{file, scope, Check, Ctx, Decision, Policy, RawConfig, Scope};
use img_authz::protocol::{Authorize, AuthzRequest, Phase};
use img_authz::request::decode;
use img_authz::request::routes::table;
use img_authz::run::{DecisionLog, Plugin};

/// name → full ID, as the stand-in dockerd has them.
type Live = Arc<Mutex<Vec<(String, String)>>>;

fn id(c: char) -> String {
    // Two IDs share the prefix "ab" so that "ab" is ambiguous.
    format!("ab{}", c.to_string().repeat(62))
}

/// A stand-in dockerd: `GET /containers/{ref}/json` resolves a full ID,
/// then a name, then a unique ID prefix (400 when ambiguous, 404 when
/// unknown); `GET /containers/json?all=1` lists the live containers.
fn fake_dockerd(dir: &Path, live: Live) -> String {
    use std::io::{Read, Write};
    let path = dir.join("dockerd.sock");
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
            let line = String::from_utf8_lossy(&buf)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            let target = line.split(' ').nth(1).unwrap_or("").to_string();
            let all = live.lock().unwrap().clone();
            let (status, body) = if target == "/containers/json?all=1" {
                let ids: Vec<String> = all
                    .iter()
                    .map(|(_, i)| format!(r#"{{"Id":"{i}"}}"#))
                    .collect();
                ("200 OK", format!("[{}]", ids.join(",")))
            } else if let Some(r) = target
                .strip_prefix("/containers/")
                .and_then(|t| t.strip_suffix("/json"))
            {
                let found = all
                    .iter()
                    .find(|(_, i)| i == r)
                    .or_else(|| all.iter().find(|(n, _)| n == r))
                    .map(|x| vec![x])
                    .unwrap_or_else(|| all.iter().filter(|(_, i)| i.starts_with(r)).collect());
                match found.as_slice() {
                    [(n, i)] => (
                        "200 OK",
                        format!(r#"{{"Id":"{i}","Name":"/{n}","Image":"sha256:aa"}}"#),
                    ),
                    [] => (
                        "404 Not Found",
                        r#"{"message":"No such container"}"#.to_string(),
                    ),
                    _ => (
                        "400 Bad Request",
                        r#"{"message":"multiple IDs found with provided prefix"}"#.to_string(),
                    ),
                }
            } else {
                (
                    "404 Not Found",
                    r#"{"message":"no such object"}"#.to_string(),
                )
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

const POLICY: &str = r#"
version = 1
[global]
local_user = "root@host"
[ownership]
enabled = true
admins = ["ops-*"]
"#;

fn policy(dir: &Path, host: &str, state: &Path, text: &str) -> Policy {
    let cfg = RawConfig {
        registry: "reg.io".into(),
        trust: "none".into(),
        docker_host: host.to_string(),
        state_dir: state.display().to_string(),
        hardening: "off".into(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let f = file::parse(text, &dir.join("policy.toml")).unwrap_or_else(|e| panic!("{e}"));
    Policy::new(cfg, Some(f)).unwrap()
}

struct World {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    host: String,
    live: Live,
    plugin: Plugin,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let live: Live = Arc::default();
        let host = fake_dockerd(&dir, live.clone());
        let plugin = Plugin::new(
            policy(&dir, &host, &dir.join("state"), POLICY),
            DecisionLog::new(0, None).unwrap(),
        );
        World {
            _tmp: tmp,
            dir,
            host,
            live,
            plugin,
        }
    }

    /// A fresh plugin process on the same state directory.
    fn restart(&mut self) {
        self.plugin = Plugin::new(
            policy(&self.dir, &self.host, &self.dir.join("state"), POLICY),
            DecisionLog::new(0, None).unwrap(),
        );
    }

    /// `user` creates container `name` with ID `cid`: dockerd makes it, the
    /// response phase records it.
    fn create(&self, user: &str, name: &str, cid: &str) {
        self.live.lock().unwrap().push((name.into(), cid.into()));
        let mut r = req(
            user,
            "POST",
            &format!("/v1.41/containers/create?name={name}"),
            Some("{\"Image\":\"reg.io/a\"}"),
        );
        r.response_status_code = Some(201);
        r.response_body = Some(format!(r#"{{"Id":"{cid}","Warnings":[]}}"#).into_bytes());
        let a = rt().block_on(self.plugin.authorize(Phase::Response, r));
        assert!(a.allow, "{}", a.msg);
    }

    fn exec(&self, user: &str, container: &str, eid: &str) {
        let mut r = req(
            user,
            "POST",
            &format!("/v1.41/containers/{container}/exec"),
            Some("{\"Cmd\":[\"sh\"]}"),
        );
        r.response_status_code = Some(201);
        r.response_body = Some(format!(r#"{{"Id":"{eid}"}}"#).into_bytes());
        let a = rt().block_on(self.plugin.authorize(Phase::Response, r));
        assert!(a.allow, "{}", a.msg);
    }

    fn remove(&self, user: &str, name: &str) {
        self.live.lock().unwrap().retain(|(n, _)| n != name);
        let mut r = req(user, "DELETE", &format!("/v1.41/containers/{name}"), None);
        r.response_status_code = Some(204);
        let a = rt().block_on(self.plugin.authorize(Phase::Response, r));
        assert!(a.allow, "{}", a.msg);
    }

    /// The ownership check alone: `None` (nothing to say) or its deny.
    fn check(&self, user: &str, method: &str, uri: &str, body: Option<&str>) -> Option<Decision> {
        let p = self.plugin.policy();
        let r = req(user, method, uri, body);
        let d = decode(&r).unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
        let ctx = Ctx {
            user: p.user_of(user),
            api_version: d.version.clone(),
        };
        rt().block_on(p.ownership_check(&d, &r, &ctx))
    }

    /// The whole request phase, as dockerd sees it.
    fn answer(&self, user: &str, method: &str, uri: &str, body: Option<&str>) -> (bool, String) {
        let a = rt().block_on(
            self.plugin
                .authorize(Phase::Request, req(user, method, uri, body)),
        );
        (a.allow, a.msg)
    }
}

fn req(user: &str, method: &str, uri: &str, body: Option<&str>) -> AuthzRequest {
    let mut h = BTreeMap::new();
    let (ct, len) = match body {
        Some(b) => ("application/json".to_string(), b.len().to_string()),
        None => ("text/plain".to_string(), "0".to_string()),
    };
    h.insert("Content-Type".to_string(), ct);
    h.insert("Content-Length".to_string(), len);
    AuthzRequest {
        user: user.into(),
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

/// Every checked route of the router table, with `r` as its container (or
/// exec) reference: (method, URI, body).
fn checked_calls(container: &str, exec: &str) -> Vec<(String, String, Option<&'static str>)> {
    let mut out = Vec::new();
    for (method, template, rid) in table() {
        let reference = match scope(rid) {
            Scope::Container(_) => container,
            Scope::Exec(_) => exec,
            Scope::CommitContainer => {
                out.push((
                    "POST".into(),
                    format!("/v1.41/commit?container={container}&repo=x"),
                    None,
                ));
                continue;
            }
            _ => continue,
        };
        let method = method.unwrap_or("GET");
        // The first variable is the container or exec; any other gets "x".
        let mut path = String::new();
        let mut rest = template;
        let mut first = true;
        while let Some(open) = rest.find('{') {
            path.push_str(&rest[..open]);
            let close = rest[open..].find('}').unwrap() + open;
            path.push_str(if first { reference } else { "x" });
            first = false;
            rest = &rest[close + 1..];
        }
        path.push_str(rest);
        let body = matches!(method, "POST").then_some("{}");
        out.push((method.to_string(), format!("/v1.41{path}"), body));
    }
    out
}

#[test]
fn every_checked_route_is_the_owners_or_an_admins() {
    let w = World::new();
    let web = id('1');
    w.create("alice", "web", &web);
    let eid = "e".repeat(64);
    w.exec("alice", "web", &eid);
    let calls = checked_calls("web", &eid);
    // The issue's list, and the exec routes, are all here.
    assert_eq!(calls.len(), 30);
    for (method, uri, body) in &calls {
        let d = w
            .check("bob", method, uri, *body)
            .unwrap_or_else(|| panic!("bob may {method} {uri}"));
        assert!(
            !d.allowed() && d.check == Check::Ownership,
            "{method} {uri}: {d:?}"
        );
        assert!(
            d.reason.contains("belongs to alice; bob may not"),
            "{method} {uri}: {}",
            d.reason
        );
        assert_eq!(
            w.check("alice", method, uri, *body),
            None,
            "alice: {method} {uri}"
        );
        assert_eq!(
            w.check("ops-ann", method, uri, *body),
            None,
            "admin: {method} {uri}"
        );
    }
    // By full ID and ID prefix as by name.
    for r in [web.as_str(), &web[..12]] {
        for (method, uri, body) in checked_calls(r, &eid) {
            let d = w.check("bob", &method, &uri, body).expect("denied");
            assert_eq!(d.check, Check::Ownership, "{uri}");
            assert_eq!(w.check("alice", &method, &uri, body), None, "{uri}");
        }
    }
    // Inspect and listings are not checked (docs/limits.md: Multi-user daemons).
    assert_eq!(
        w.check("bob", "GET", "/v1.41/containers/web/json", None),
        None
    );
    assert_eq!(
        w.check("bob", "GET", "/v1.41/containers/json?all=1", None),
        None
    );
}

#[test]
fn the_message_says_whose_it_is_and_how_to_allow_it() {
    let w = World::new();
    w.create("alice", "web", &id('1'));
    let (allow, msg) = w.answer(
        "bob",
        "POST",
        "/v1.41/containers/web/exec",
        Some(r#"{"Cmd":["sh"]}"#),
    );
    assert!(!allow);
    assert!(
        msg.contains("denied by img-authz rule 'ownership': container web (ab1111111111) belongs to alice; bob may not exec into it"),
        "{msg}"
    );
    assert!(
        msg.contains("To allow it: run it as alice, or as an admin") && msg.contains("ops-*"),
        "{msg}"
    );
    // The owner gets past ownership to the rest of the policy.
    let (allow, msg) = w.answer("alice", "POST", "/v1.41/containers/web/stop", None);
    assert!(allow, "{msg}");
}

#[test]
fn unknown_ambiguous_and_unowned_containers() {
    let w = World::new();
    w.create("alice", "web", &id('1'));
    // Made before ownership was on: in dockerd, not in the record.
    w.live.lock().unwrap().push(("old".into(), id('2')));
    let d = w
        .check("alice", "POST", "/v1.41/containers/old/stop", None)
        .expect("denied");
    assert!(d.reason.contains("has no recorded owner"), "{}", d.reason);
    assert_eq!(
        w.check("ops-x", "POST", "/v1.41/containers/old/stop", None),
        None
    );
    // "ab" prefixes both IDs: dockerd refuses it, so do we.
    let d = w
        .check("alice", "POST", "/v1.41/containers/ab/stop", None)
        .expect("denied");
    assert!(
        d.reason.contains("cannot tell which container"),
        "{}",
        d.reason
    );
    let d = w
        .check("alice", "POST", "/v1.41/containers/nope/stop", None)
        .expect("denied");
    assert!(d.reason.contains("no container \"nope\""), "{}", d.reason);
    // An exec made elsewhere is admins' only.
    let d = w
        .check(
            "alice",
            "POST",
            &format!("/v1.41/exec/{}/start", "f".repeat(64)),
            Some("{}"),
        )
        .expect("denied");
    assert!(d.reason.contains("exec instance"), "{}", d.reason);
}

/// Review of issue 19: dockerd looks a reference up by full ID, then name,
/// then ID prefix. A container named like another's ID prefix ("ab11" for
/// alice's ab111…) passes as its owner's own, and renamed away before
/// dockerd acts, the same reference reaches alice's container. Such a
/// hexadecimal name resolved by name is refused; a real ID prefix is not.
/// Failed before (bob's kill of "ab11" was allowed).
#[test]
fn a_hexadecimal_name_that_could_be_an_id_prefix_is_refused() {
    let w = World::new();
    w.create("alice", "web", &id('1'));
    w.create("bob", "ab11", &id('3'));
    let d = w
        .check("bob", "POST", "/v1.41/containers/ab11/kill", None)
        .expect("denied");
    assert!(d.reason.contains("could also be another"), "{}", d.reason);
    assert!(d.hint.contains("full ID"), "{}", d.hint);
    // By its own ID prefix, or a name that is not hexadecimal: allowed.
    assert_eq!(
        w.check("alice", "POST", "/v1.41/containers/ab111/stop", None),
        None
    );
    assert_eq!(
        w.check("alice", "POST", "/v1.41/containers/web/stop", None),
        None
    );
}

#[test]
fn sharing_another_users_container_and_pruning_everyones() {
    let w = World::new();
    w.create("alice", "web", &id('1'));
    for body in [
        r#"{"Image":"reg.io/a","HostConfig":{"VolumesFrom":["web:ro"]}}"#,
        r#"{"Image":"reg.io/a","HostConfig":{"PidMode":"container:web"}}"#,
        r#"{"Image":"reg.io/a","HostConfig":{"NetworkMode":"container:web"}}"#,
        r#"{"Image":"reg.io/a","HostConfig":{"IpcMode":"container:web"}}"#,
    ] {
        let d = w
            .check("bob", "POST", "/v1.41/containers/create", Some(body))
            .unwrap_or_else(|| panic!("bob may create {body}"));
        assert!(d.reason.contains("belongs to alice"), "{}", d.reason);
        assert_eq!(
            w.check("alice", "POST", "/v1.41/containers/create", Some(body)),
            None
        );
    }
    assert_eq!(
        w.check(
            "bob",
            "POST",
            "/v1.41/containers/create",
            Some(r#"{"Image":"reg.io/a"}"#)
        ),
        None
    );
    // dockerd 20.10 applies a start body's HostConfig below API 1.24.
    w.create("bob", "mine", &id('5'));
    let body = Some(r#"{"VolumesFrom":["web"]}"#);
    let d = w
        .check("bob", "POST", "/v1.23/containers/mine/start", body)
        .expect("denied");
    assert!(
        d.reason.contains("may not mount the volumes of"),
        "{}",
        d.reason
    );
    assert_eq!(
        w.check("bob", "POST", "/v1.41/containers/mine/start", None),
        None
    );
    // Network connect and disconnect name the container in their body.
    for (verb, phrase) in [
        ("connect", "connect to a network"),
        ("disconnect", "disconnect from a network"),
    ] {
        let uri = format!("/v1.41/networks/n1/{verb}");
        let d = w
            .check("bob", "POST", &uri, Some(r#"{"Container":"web"}"#))
            .expect("denied");
        assert!(
            d.reason.contains(&format!("bob may not {phrase} it")),
            "{}",
            d.reason
        );
        assert_eq!(
            w.check("alice", "POST", &uri, Some(r#"{"Container":"web"}"#)),
            None
        );
        // dockerd folds key case; so do we.
        assert!(w
            .check("bob", "POST", &uri, Some(r#"{"container":"web"}"#))
            .is_some());
        // No body: nothing to check, denied.
        assert!(w.check("bob", "POST", &uri, None).is_some());
        assert_eq!(
            w.check("ops-1", "POST", &uri, Some(r#"{"Container":"web"}"#)),
            None
        );
    }
    let d = w
        .check("bob", "POST", "/v1.41/containers/prune", None)
        .expect("denied");
    assert!(d.reason.contains("every stopped container"), "{}", d.reason);
    assert_eq!(
        w.check("ops-1", "POST", "/v1.41/containers/prune", None),
        None
    );
}

#[test]
fn the_record_survives_a_restart_and_a_reused_name_is_the_new_creators() {
    let mut w = World::new();
    w.create("alice", "web", &id('1'));
    w.restart();
    assert!(w
        .check("bob", "POST", "/v1.41/containers/web/kill", None)
        .is_some());
    assert_eq!(
        w.check("alice", "POST", "/v1.41/containers/web/kill", None),
        None
    );
    w.remove("alice", "web");
    let rec = std::fs::read_to_string(w.dir.join("state/ownership.json")).unwrap();
    assert!(
        !rec.contains(&id('1')),
        "removed container still recorded: {rec}"
    );
    w.create("bob", "web", &id('3'));
    assert_eq!(
        w.check("bob", "POST", "/v1.41/containers/web/kill", None),
        None
    );
    let d = w
        .check("alice", "POST", "/v1.41/containers/web/kill", None)
        .expect("denied");
    assert!(
        d.reason.contains("belongs to bob; alice may not kill"),
        "{}",
        d.reason
    );
    // The unix socket's caller is the policy's local_user.
    w.create("", "local", &id('4'));
    let d = w
        .check("bob", "POST", "/v1.41/containers/local/kill", None)
        .expect("denied");
    assert!(d.reason.contains("belongs to root@host"), "{}", d.reason);
    assert_eq!(
        w.check("", "POST", "/v1.41/containers/local/kill", None),
        None
    );
}

#[test]
fn an_owner_that_cannot_be_recorded_withholds_the_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let live: Live = Arc::default();
    let host = fake_dockerd(tmp.path(), live);
    // The record's lock file cannot be opened: nothing can be written.
    let state = tmp.path().join("state");
    std::fs::create_dir_all(state.join("ownership.lock")).unwrap();
    let p = Plugin::new(
        policy(tmp.path(), &host, &state, POLICY),
        DecisionLog::new(0, None).unwrap(),
    );
    let mut r = req("alice", "POST", "/v1.41/containers/create", Some("{}"));
    r.response_status_code = Some(201);
    r.response_body = Some(format!(r#"{{"Id":"{}"}}"#, id('1')).into_bytes());
    let a = rt().block_on(p.authorize(Phase::Response, r.clone()));
    assert!(!a.allow);
    assert!(
        a.msg.contains("cannot be recorded") && a.msg.contains("belongs to admins"),
        "{}",
        a.msg
    );
    // A failed create (no 201) records nothing and withholds nothing.
    r.response_status_code = Some(400);
    assert!(rt().block_on(p.authorize(Phase::Response, r)).allow);
}

#[test]
fn ownership_is_off_unless_enabled_and_validated_with_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let host = fake_dockerd(tmp.path(), Arc::default());
    let p = policy(
        tmp.path(),
        &host,
        &tmp.path().join("s"),
        "version = 1\n[ownership]\nenabled = false\nadmins = [\"ops\"]\n",
    );
    assert!(p.ownership().is_none());
    let e = file::parse(
        "version = 1\n[ownership]\nenabled = \"yes\"\nadmins = [\"a*b\", \"\"]\nowners = 1\n",
        Path::new("/p.toml"),
    )
    .unwrap_err()
    .to_string();
    for want in [
        "3:",
        "enabled must be true or false",
        "4:",
        "\"a*b\"",
        "5:",
        "unknown key \"owners\"",
    ] {
        assert!(e.contains(want), "{want} missing in {e}");
    }
}
