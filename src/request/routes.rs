//! dockerd's route table, mirrored from its gorilla/mux registration.
//!
//! Routers register in this order: checkpoint, container, image, system,
//! volume, build, session, swarm, plugin, distribution, then network, debug
//! and grpc (whose relative order differs between 20.10 and current moby but
//! whose paths never overlap). Every route is registered with the
//! `/v{version:[0-9.]+}` prefix and without it; the first match wins, so the
//! order below is the daemon's order. `{name:.*}` spans slashes, `{id}` does
//! not; Go's `.` never matches a newline, nor does Rust's. Routes that exist
//! only in one daemon version are included: on a daemon without them the
//! request never reaches the plugin, so listing them cannot mis-classify.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// Every route dockerd serves, by the handler it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    // checkpoint (experimental)
    CheckpointList,
    CheckpointCreate,
    CheckpointDelete,
    // container
    ContainerArchiveHead,
    ContainerList,
    ContainerExport,
    ContainerChanges,
    ContainerInspect,
    ContainerTop,
    ContainerLogs,
    ContainerStats,
    ContainerAttachWs,
    ExecInspect,
    ContainerArchiveGet,
    ContainerCreate,
    ContainerKill,
    ContainerPause,
    ContainerUnpause,
    ContainerRestart,
    ContainerStart,
    ContainerStop,
    ContainerWait,
    ContainerResize,
    ContainerAttach,
    ContainerCopy,
    ExecCreate,
    ExecStart,
    ExecResize,
    ContainerRename,
    ContainerUpdate,
    ContainerPrune,
    Commit,
    ContainerArchivePut,
    ContainerDelete,
    // image
    ImageList,
    ImageSearch,
    ImageGetAll,
    ImageGet,
    ImageHistory,
    ImageInspect,
    ImageAttestations,
    ImageLoad,
    ImageCreate,
    ImagePush,
    ImageTag,
    ImagePrune,
    ImageDelete,
    // system
    Options,
    Ping,
    PingHead,
    Events,
    Info,
    Version,
    SystemDf,
    Auth,
    // volume
    VolumeList,
    VolumeInspect,
    VolumeCreate,
    VolumePrune,
    VolumeUpdate,
    VolumeDelete,
    // build
    Build,
    BuildPrune,
    BuildCancel,
    // session
    Session,
    // swarm
    SwarmInit,
    SwarmJoin,
    SwarmLeave,
    SwarmInspect,
    SwarmUnlockKey,
    SwarmUpdate,
    SwarmUnlock,
    ServiceList,
    ServiceInspect,
    ServiceCreate,
    ServiceUpdate,
    ServiceDelete,
    ServiceLogs,
    NodeList,
    NodeInspect,
    NodeDelete,
    NodeUpdate,
    TaskList,
    TaskInspect,
    TaskLogs,
    SecretList,
    SecretCreate,
    SecretDelete,
    SecretInspect,
    SecretUpdate,
    ConfigList,
    ConfigCreate,
    ConfigDelete,
    ConfigInspect,
    ConfigUpdate,
    // plugin
    PluginList,
    PluginInspect,
    PluginPrivileges,
    PluginRemove,
    PluginEnable,
    PluginDisable,
    PluginPull,
    PluginPush,
    PluginUpgrade,
    PluginSet,
    PluginCreate,
    // distribution
    DistributionInspect,
    // network
    NetworkList,
    NetworkListSlash,
    NetworkInspect,
    NetworkCreate,
    NetworkConnect,
    NetworkDisconnect,
    NetworkPrune,
    NetworkDelete,
    // debug (20.10: any method, no version prefix; current: GET)
    Debug,
    // grpc
    Grpc,
}

struct RouteDef {
    /// `None`: any method (20.10's debug routes).
    method: Option<&'static str>,
    template: &'static str,
    versioned: bool,
    id: RouteId,
}

const fn r(method: &'static str, template: &'static str, id: RouteId) -> RouteDef {
    RouteDef {
        method: Some(method),
        template,
        versioned: true,
        id,
    }
}

use RouteId::*;

static ROUTES: &[RouteDef] = &[
    // checkpoint router: before container, or DELETE would be masked.
    r("GET", "/containers/{name:.*}/checkpoints", CheckpointList),
    r(
        "POST",
        "/containers/{name:.*}/checkpoints",
        CheckpointCreate,
    ),
    r(
        "DELETE",
        "/containers/{name}/checkpoints/{checkpoint}",
        CheckpointDelete,
    ),
    // container router
    r(
        "HEAD",
        "/containers/{name:.*}/archive",
        ContainerArchiveHead,
    ),
    r("GET", "/containers/json", ContainerList),
    r("GET", "/containers/{name:.*}/export", ContainerExport),
    r("GET", "/containers/{name:.*}/changes", ContainerChanges),
    r("GET", "/containers/{name:.*}/json", ContainerInspect),
    r("GET", "/containers/{name:.*}/top", ContainerTop),
    r("GET", "/containers/{name:.*}/logs", ContainerLogs),
    r("GET", "/containers/{name:.*}/stats", ContainerStats),
    r("GET", "/containers/{name:.*}/attach/ws", ContainerAttachWs),
    r("GET", "/exec/{id:.*}/json", ExecInspect),
    r("GET", "/containers/{name:.*}/archive", ContainerArchiveGet),
    r("POST", "/containers/create", ContainerCreate),
    r("POST", "/containers/{name:.*}/kill", ContainerKill),
    r("POST", "/containers/{name:.*}/pause", ContainerPause),
    r("POST", "/containers/{name:.*}/unpause", ContainerUnpause),
    r("POST", "/containers/{name:.*}/restart", ContainerRestart),
    r("POST", "/containers/{name:.*}/start", ContainerStart),
    r("POST", "/containers/{name:.*}/stop", ContainerStop),
    r("POST", "/containers/{name:.*}/wait", ContainerWait),
    r("POST", "/containers/{name:.*}/resize", ContainerResize),
    r("POST", "/containers/{name:.*}/attach", ContainerAttach),
    r("POST", "/containers/{name:.*}/copy", ContainerCopy),
    r("POST", "/containers/{name:.*}/exec", ExecCreate),
    r("POST", "/exec/{name:.*}/start", ExecStart),
    r("POST", "/exec/{name:.*}/resize", ExecResize),
    r("POST", "/containers/{name:.*}/rename", ContainerRename),
    r("POST", "/containers/{name:.*}/update", ContainerUpdate),
    r("POST", "/containers/prune", ContainerPrune),
    r("POST", "/commit", Commit),
    r("PUT", "/containers/{name:.*}/archive", ContainerArchivePut),
    r("DELETE", "/containers/{name:.*}", ContainerDelete),
    // image router
    r("GET", "/images/json", ImageList),
    r("GET", "/images/search", ImageSearch),
    r("GET", "/images/get", ImageGetAll),
    r("GET", "/images/{name:.*}/get", ImageGet),
    r("GET", "/images/{name:.*}/history", ImageHistory),
    r("GET", "/images/{name:.*}/json", ImageInspect),
    r("GET", "/images/{name:.*}/attestations", ImageAttestations),
    r("POST", "/images/load", ImageLoad),
    r("POST", "/images/create", ImageCreate),
    r("POST", "/images/{name:.*}/push", ImagePush),
    r("POST", "/images/{name:.*}/tag", ImageTag),
    r("POST", "/images/prune", ImagePrune),
    r("DELETE", "/images/{name:.*}", ImageDelete),
    // system router
    r("OPTIONS", "/{anyroute:.*}", Options),
    r("GET", "/_ping", Ping),
    r("HEAD", "/_ping", PingHead),
    r("GET", "/events", Events),
    r("GET", "/info", Info),
    r("GET", "/version", Version),
    r("GET", "/system/df", SystemDf),
    r("POST", "/auth", Auth),
    // volume router
    r("GET", "/volumes", VolumeList),
    r("GET", "/volumes/{name:.*}", VolumeInspect),
    r("POST", "/volumes/create", VolumeCreate),
    r("POST", "/volumes/prune", VolumePrune),
    r("PUT", "/volumes/{name:.*}", VolumeUpdate),
    r("DELETE", "/volumes/{name:.*}", VolumeDelete),
    // build router
    r("POST", "/build", Build),
    r("POST", "/build/prune", BuildPrune),
    r("POST", "/build/cancel", BuildCancel),
    // session router
    r("POST", "/session", Session),
    // swarm router
    r("POST", "/swarm/init", SwarmInit),
    r("POST", "/swarm/join", SwarmJoin),
    r("POST", "/swarm/leave", SwarmLeave),
    r("GET", "/swarm", SwarmInspect),
    r("GET", "/swarm/unlockkey", SwarmUnlockKey),
    r("POST", "/swarm/update", SwarmUpdate),
    r("POST", "/swarm/unlock", SwarmUnlock),
    r("GET", "/services", ServiceList),
    r("GET", "/services/{id}", ServiceInspect),
    r("POST", "/services/create", ServiceCreate),
    r("POST", "/services/{id}/update", ServiceUpdate),
    r("DELETE", "/services/{id}", ServiceDelete),
    r("GET", "/services/{id}/logs", ServiceLogs),
    r("GET", "/nodes", NodeList),
    r("GET", "/nodes/{id}", NodeInspect),
    r("DELETE", "/nodes/{id}", NodeDelete),
    r("POST", "/nodes/{id}/update", NodeUpdate),
    r("GET", "/tasks", TaskList),
    r("GET", "/tasks/{id}", TaskInspect),
    r("GET", "/tasks/{id}/logs", TaskLogs),
    r("GET", "/secrets", SecretList),
    r("POST", "/secrets/create", SecretCreate),
    r("DELETE", "/secrets/{id}", SecretDelete),
    r("GET", "/secrets/{id}", SecretInspect),
    r("POST", "/secrets/{id}/update", SecretUpdate),
    r("GET", "/configs", ConfigList),
    r("POST", "/configs/create", ConfigCreate),
    r("DELETE", "/configs/{id}", ConfigDelete),
    r("GET", "/configs/{id}", ConfigInspect),
    r("POST", "/configs/{id}/update", ConfigUpdate),
    // plugin router
    r("GET", "/plugins", PluginList),
    r("GET", "/plugins/{name:.*}/json", PluginInspect),
    r("GET", "/plugins/privileges", PluginPrivileges),
    r("DELETE", "/plugins/{name:.*}", PluginRemove),
    r("POST", "/plugins/{name:.*}/enable", PluginEnable),
    r("POST", "/plugins/{name:.*}/disable", PluginDisable),
    r("POST", "/plugins/pull", PluginPull),
    r("POST", "/plugins/{name:.*}/push", PluginPush),
    r("POST", "/plugins/{name:.*}/upgrade", PluginUpgrade),
    r("POST", "/plugins/{name:.*}/set", PluginSet),
    r("POST", "/plugins/create", PluginCreate),
    // distribution router
    r("GET", "/distribution/{name:.*}/json", DistributionInspect),
    // network router
    r("GET", "/networks", NetworkList),
    r("GET", "/networks/", NetworkListSlash),
    r("GET", "/networks/{id:.+}", NetworkInspect),
    r("POST", "/networks/create", NetworkCreate),
    r("POST", "/networks/{id:.*}/connect", NetworkConnect),
    r("POST", "/networks/{id:.*}/disconnect", NetworkDisconnect),
    r("POST", "/networks/prune", NetworkPrune),
    r("DELETE", "/networks/{id:.*}", NetworkDelete),
    // debug router: 20.10 registers `/debug/...` for any method without a
    // version prefix; current moby registers GET routes with both forms.
    RouteDef {
        method: None,
        template: "/debug/vars",
        versioned: false,
        id: Debug,
    },
    RouteDef {
        method: None,
        template: "/debug/pprof/",
        versioned: false,
        id: Debug,
    },
    RouteDef {
        method: None,
        template: "/debug/pprof/{name}",
        versioned: false,
        id: Debug,
    },
    r("GET", "/debug/vars", Debug),
    r("GET", "/debug/pprof/", Debug),
    r("GET", "/debug/pprof/{name}", Debug),
    // grpc router
    r("POST", "/grpc", Grpc),
];

/// Every route of the table as (method, or `None` for any; template; id),
/// in dockerd's order: for checks that must cover every route.
pub fn table() -> impl Iterator<Item = (Option<&'static str>, &'static str, RouteId)> {
    ROUTES.iter().map(|d| (d.method, d.template, d.id))
}

/// A matched route and its path variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub id: RouteId,
    /// The `/vX.Y` version, when the versioned form matched.
    pub version: Option<String>,
    /// `{name}`, `{id}` or `{checkpoint}` values, in template order.
    pub vars: Vec<String>,
}

struct Compiled {
    set: RegexSet,
    each: Vec<Regex>,
}

/// mux turns `{name:re}` into a group `(re)`, `{name}` into `([^/]+)`, and
/// quotes the literal text.
fn template_regex(t: &str) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        out.push_str(&regex::escape(&rest[..open]));
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let var = &rest[open + 1..close];
        let pat = var.split_once(':').map_or("[^/]+", |(_, p)| p);
        out.push('(');
        out.push_str(pat);
        out.push(')');
        rest = rest.get(close + 1..).unwrap_or("");
    }
    out.push_str(&regex::escape(rest));
    out
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let pats: Vec<String> = ROUTES
        .iter()
        .map(|d| {
            let path = template_regex(d.template);
            if d.versioned {
                // Per route, the versioned form is tried first, then the bare
                // one; no bare template starts with `/v<digits>`, so one
                // alternation keeps mux's order.
                format!(r"^(?:/v([0-9.]+))?{path}$")
            } else {
                format!(r"^(){path}$")
            }
        })
        .collect();
    // The table is static and its patterns are tested; failure here is a
    // programming error caught by every test run.
    #[expect(
        clippy::expect_used,
        reason = "static table, compiled by every test run"
    )]
    let set = RegexSet::new(&pats).expect("route table compiles");
    #[expect(
        clippy::expect_used,
        reason = "static table, compiled by every test run"
    )]
    let each = pats
        .iter()
        .map(|p| Regex::new(p).expect("route compiles"))
        .collect();
    Compiled { set, each }
});

/// Find the route dockerd would run for `method` and the decoded `path`.
/// `None` means dockerd answers 404 without calling the plugin, so a call
/// that arrives anyway is not something we understand.
pub fn match_route(method: &str, path: &str) -> Option<Matched> {
    let c = &*COMPILED;
    for i in c.set.matches(path).iter() {
        let (Some(def), Some(re)) = (ROUTES.get(i), c.each.get(i)) else {
            continue; // the set and `each` are built from ROUTES, index for index
        };
        if def.method.is_some_and(|m| m != method) {
            continue;
        }
        let caps = re.captures(path)?;
        let version = caps
            .get(1)
            .map(|m| m.as_str().to_string())
            .filter(|v| !v.is_empty());
        let vars = caps
            .iter()
            .skip(2)
            .flatten()
            .map(|m| m.as_str().to_string())
            .collect();
        return Some(Matched {
            id: def.id,
            version,
            vars,
        });
    }
    None
}

/// `versions.LessThan` of moby: dot-separated parts compared as integers;
/// an unparsable or missing part counts as 0.
pub fn version_less(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Vec<i64> {
        s.split('.')
            .map(|p| p.parse::<i64>().unwrap_or(0))
            .collect()
    };
    let (pa, pb) = (parse(a), parse(b));
    let n = pa.len().max(pb.len());
    for i in 0..n {
        let (x, y) = (
            pa.get(i).copied().unwrap_or(0),
            pb.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(method: &str, path: &str) -> Option<RouteId> {
        match_route(method, path).map(|m| m.id)
    }

    #[test]
    fn mux_order_and_patterns() {
        assert_eq!(
            id("POST", "/v1.41/containers/create"),
            Some(ContainerCreate)
        );
        assert_eq!(id("POST", "/containers/create"), Some(ContainerCreate));
        assert_eq!(id("GET", "/v1.41/containers/json"), Some(ContainerList));
        // `{name:.*}` spans slashes; the literal suffix decides.
        let m = match_route("POST", "/v1.41/containers/x/start/kill").unwrap();
        assert_eq!(
            (m.id, m.vars.clone()),
            (ContainerKill, vec!["x/start".to_string()])
        );
        let m = match_route("POST", "/v1.41/images/127.0.0.1:5000/a/b:v1/tag").unwrap();
        assert_eq!(
            (m.id, m.vars[0].as_str()),
            (ImageTag, "127.0.0.1:5000/a/b:v1")
        );
        assert_eq!(m.version.as_deref(), Some("1.41"));
        // Checkpoint DELETE is registered before container DELETE.
        assert_eq!(
            id("DELETE", "/v1.41/containers/a/checkpoints/b"),
            Some(CheckpointDelete)
        );
        assert_eq!(
            id("DELETE", "/v1.41/containers/a/b/checkpoints/c"),
            Some(ContainerDelete)
        );
        assert_eq!(id("GET", "/volumes/create"), Some(VolumeInspect));
        assert_eq!(id("OPTIONS", "/anything/at/all"), Some(Options));
        assert_eq!(id("GET", "/networks/"), Some(NetworkListSlash));
        assert_eq!(id("POST", "/debug/pprof/profile"), Some(Debug));
    }

    #[test]
    fn what_mux_does_not_route() {
        assert_eq!(id("post", "/containers/create"), None);
        assert_eq!(id("HEAD", "/containers/json"), None);
        assert_eq!(id("PATCH", "/v1.41/containers/create"), None);
        assert_eq!(id("POST", "/containers/create/"), None);
        assert_eq!(id("GET", "/v/_ping"), None);
        assert_eq!(id("GET", "/v1.41/debug/vars"), Some(Debug));
        // Go's `.` does not match a newline, nor does ours.
        assert_eq!(id("GET", "/containers/a\nb/json"), None);
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_less("1.23", "1.24"));
        assert!(!version_less("1.041", "1.41"));
        assert!(!version_less("1.41", "1.041"));
        assert!(version_less("1..41", "1.12"));
        assert!(!version_less("1.41.0", "1.41"));
        assert!(version_less("", "1.24"));
    }
}
