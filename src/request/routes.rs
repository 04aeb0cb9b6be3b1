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
    r("OPTIONS", "/{any:.*}", Options),
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

/// A template's parts, as mux's regexp would match them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Literal text (mux quotes it).
    Lit(&'static str),
    /// `{v}`: `[^/]+` (a newline is allowed: a negated class matches it).
    Segment,
    /// `{v:.*}` (`nonempty: false`) or `{v:.+}`: any text but a newline,
    /// slashes included.
    Any { nonempty: bool },
}

/// Split a template into parts. Only the variable patterns the table uses
/// are known; `parts_of_every_template` checks that none other appears.
fn parts(t: &'static str) -> Vec<Part> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Part::Lit(&rest[..open]));
        }
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let var = rest.get(open + 1..close).unwrap_or("");
        out.push(match var.split_once(':').map(|(_, p)| p) {
            None => Part::Segment,
            Some(".+") => Part::Any { nonempty: true },
            // `.*`; anything else fails `parts_of_every_template`.
            Some(_) => Part::Any { nonempty: false },
        });
        rest = rest.get(close + 1..).unwrap_or("");
    }
    if !rest.is_empty() {
        out.push(Part::Lit(rest));
    }
    out
}

/// Match `s` against `parts` entirely (mux anchors both ends), pushing the
/// variables' values. Leftmost-first like the regexp it replaces: each
/// variable takes the longest text that lets the rest match.
fn match_parts<'a>(parts: &[Part], s: &'a str, vars: &mut Vec<&'a str>) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return s.is_empty();
    };
    match *first {
        Part::Lit(l) => s
            .strip_prefix(l)
            .is_some_and(|tail| match_parts(rest, tail, vars)),
        Part::Segment | Part::Any { .. } => {
            // The longest text the variable's class allows here.
            let max = match *first {
                Part::Segment => s.find('/'),
                _ => s.find('\n'),
            }
            .unwrap_or(s.len());
            let min = usize::from(*first != Part::Any { nonempty: false });
            // Only literals after the variable (every template but one):
            // the text they need fixes the variable's end.
            if let Some(tail) = literal_tail(rest) {
                let Some(end) = s.len().checked_sub(tail.len()) else {
                    return false;
                };
                let matched = end >= min
                    && end <= max
                    && s.is_char_boundary(end)
                    && s.get(end..).is_some_and(|t| t == tail);
                if matched {
                    vars.push(s.get(..end).unwrap_or(""));
                }
                return matched;
            }
            for end in (min..=max).rev() {
                let (Some(v), Some(tail)) = (s.get(..end), s.get(end..)) else {
                    continue; // not a character boundary
                };
                let mark = vars.len();
                vars.push(v);
                if match_parts(rest, tail, vars) {
                    return true;
                }
                vars.truncate(mark);
            }
            false
        }
    }
}

/// The concatenated text of `parts` when they are all literals.
fn literal_tail(parts: &[Part]) -> Option<&'static str> {
    match parts {
        [] => Some(""),
        [Part::Lit(l)] => Some(l),
        _ => None,
    }
}

/// The method's slot in [`Index`]: the methods the table names, then the
/// rest (which only method-less routes serve).
fn method_slot(method: &str) -> usize {
    match method {
        "GET" => 0,
        "POST" => 1,
        "DELETE" => 2,
        "PUT" => 3,
        "HEAD" => 4,
        "OPTIONS" => 5,
        _ => 6,
    }
}

struct Index {
    /// Each route's parts, index for index with ROUTES.
    parts: Vec<Vec<Part>>,
    /// Per method slot, the routes that may serve it, in table order.
    by_method: [Vec<usize>; 7],
    /// Display names, by `RouteId as usize`.
    names: Vec<String>,
}

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    let mut by_method: [Vec<usize>; 7] = Default::default();
    for (i, d) in ROUTES.iter().enumerate() {
        for (slot, list) in by_method.iter_mut().enumerate() {
            if d.method.is_none_or(|m| method_slot(m) == slot) {
                list.push(i);
            }
        }
    }
    Index {
        parts: ROUTES.iter().map(|d| parts(d.template)).collect(),
        by_method,
        names: {
            // The first entry of each route names it (the debug routes
            // have several).
            let mut names = Vec::new();
            for d in ROUTES {
                let i = d.id as usize;
                if names.len() <= i {
                    names.resize(i + 1, String::new());
                }
                if let Some(n) = names.get_mut(i).filter(|n| n.is_empty()) {
                    *n = display_name(d);
                }
            }
            names
        },
    }
});

/// `METHOD /template` with each variable's pattern left out; the debug
/// routes (any method, several paths) share one name.
fn display_name(d: &RouteDef) -> String {
    if d.id == Debug {
        return "/debug/*".to_string();
    }
    let mut out = String::new();
    out.push_str(d.method.unwrap_or("*"));
    out.push(' ');
    let mut rest = d.template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        let var = rest.get(open + 1..close).unwrap_or("");
        out.push_str(&rest[..open]);
        out.push('{');
        out.push_str(var.split_once(':').map_or(var, |(name, _)| name));
        out.push('}');
        rest = rest.get(close + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// A stable name for each route, for logs and metrics: its method and
/// template, as the table gives them (`POST /containers/{name}/start`).
pub fn route_name(id: RouteId) -> &'static str {
    INDEX.names.get(id as usize).map_or("", String::as_str)
}

/// `/v<version>` at the start of `path`: the version (`[0-9.]+`, as long
/// as it goes) and the path after it. A shorter version would leave a
/// digit or dot where every template needs its leading `/`, so the longest
/// run is the only candidate mux's regexp could take.
fn split_version(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let n = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    (n > 0).then(|| rest.split_at(n))
}

/// Find the route dockerd would run for `method` and the decoded `path`.
/// `None` means dockerd answers 404 without calling the plugin, so a call
/// that arrives anyway is not something we understand.
///
/// The first route in table order whose method fits and whose template
/// matches wins, its versioned form (`/v1.41/...`) tried before its bare
/// one, as mux does. No regexp: literals and the three variable classes
/// are matched directly (`same_as_the_regexps` checks this against the
/// regexps mux builds).
pub fn match_route(method: &str, path: &str) -> Option<Matched> {
    let ix = &*INDEX;
    let versioned = split_version(path);
    let mut vars = Vec::new();
    for &i in ix.by_method.get(method_slot(method))? {
        let (Some(def), Some(parts)) = (ROUTES.get(i), ix.parts.get(i)) else {
            continue; // both are built from ROUTES, index for index
        };
        if def.method.is_some_and(|m| m != method) {
            continue; // slot 6: a method the table does not name
        }
        vars.clear();
        let version = match versioned {
            Some((v, rest)) if def.versioned && match_parts(parts, rest, &mut vars) => Some(v),
            _ => {
                vars.clear();
                if !match_parts(parts, path, &mut vars) {
                    continue;
                }
                None
            }
        };
        return Some(Matched {
            id: def.id,
            version: version.map(str::to_string),
            vars: vars.iter().map(|v| v.to_string()).collect(),
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
mod tests;
