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

/// The regexps mux builds from the table (the matcher this module used
/// before): `{v}` is `([^/]+)`, `{v:re}` is `(re)`, literals quoted,
/// the versioned form an optional `/v([0-9.]+)` prefix.
fn regex_oracle(method: &str, path: &str) -> Option<Matched> {
    use std::sync::LazyLock;
    static RES: LazyLock<Vec<regex::Regex>> = LazyLock::new(|| {
        ROUTES
            .iter()
            .map(|d| {
                let mut out = String::new();
                let mut rest = d.template;
                while let Some(open) = rest.find('{') {
                    out.push_str(&regex::escape(&rest[..open]));
                    let close = open + rest[open..].find('}').unwrap();
                    let var = &rest[open + 1..close];
                    out.push('(');
                    out.push_str(var.split_once(':').map_or("[^/]+", |(_, p)| p));
                    out.push(')');
                    rest = &rest[close + 1..];
                }
                out.push_str(&regex::escape(rest));
                let full = if d.versioned {
                    format!(r"^(?:/v([0-9.]+))?{out}$")
                } else {
                    format!(r"^(){out}$")
                };
                regex::Regex::new(&full).unwrap()
            })
            .collect()
    });
    for (d, re) in ROUTES.iter().zip(RES.iter()) {
        if d.method.is_some_and(|m| m != method) {
            continue;
        }
        if let Some(c) = re.captures(path) {
            return Some(Matched {
                id: d.id,
                version: c
                    .get(1)
                    .map(|m| m.as_str().to_string())
                    .filter(|v| !v.is_empty()),
                vars: c
                    .iter()
                    .skip(2)
                    .flatten()
                    .map(|m| m.as_str().to_string())
                    .collect(),
            });
        }
    }
    None
}

/// Paths built from the table's own literals, variables filled with
/// text that stresses each class (empty, slashes, newlines, `/v` look-
/// alikes, multi-byte characters), with and without version prefixes,
/// under every method: the direct matcher agrees with the regexps on
/// each one, route, version and variables alike.
#[test]
fn same_as_the_regexps() {
    let fills = [
        "",
        "x",
        "a/b",
        "a\nb",
        "\n",
        "/",
        "//",
        "json",
        "v1.41",
        "é/ü",
        "a b",
        "c/json",
        "x/start",
        "checkpoints",
        "a/checkpoints/b",
        "..",
        "\u{0}",
    ];
    let prefixes = [
        "",
        "/v1.41",
        "/v1",
        "/v.",
        "/v",
        "/v1.41x",
        "/v1.41/v1.24",
        "/V1.41",
    ];
    let suffixes = ["", "/", "\n"];
    let mut templates: Vec<&str> = ROUTES.iter().map(|d| d.template).collect();
    templates.extend(["/", "", "/containers", "/images/", "/exec/", "/networks"]);
    let methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"];
    let mut n = 0;
    for t in &templates {
        for f in fills {
            // Every variable of the template gets the same fill.
            let mut path = String::new();
            let mut rest = *t;
            while let Some(open) = rest.find('{') {
                path.push_str(&rest[..open]);
                path.push_str(f);
                let close = open + rest[open..].find('}').unwrap();
                rest = &rest[close + 1..];
            }
            path.push_str(rest);
            for p in prefixes {
                for s in suffixes {
                    let full = format!("{p}{path}{s}");
                    for m in methods {
                        assert_eq!(
                            match_route(m, &full),
                            regex_oracle(m, &full),
                            "{m} {full:?}"
                        );
                        n += 1;
                    }
                }
            }
        }
    }
    assert!(n > 50_000, "{n} cases");
}

/// Every template is literals and the three variable classes the
/// matcher knows, and starts with `/` (which `split_version` relies on).
#[test]
fn parts_of_every_template() {
    for d in ROUTES {
        assert!(d.template.starts_with('/'), "{}", d.template);
        let mut rest = d.template;
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}').unwrap();
            let var = &rest[open + 1..close];
            assert!(
                matches!(var.split_once(':'), None | Some((_, ".*" | ".+"))),
                "{}: variable {var} has a pattern the matcher does not know",
                d.template
            );
            rest = &rest[close + 1..];
        }
    }
}

#[test]
fn names_come_from_the_table() {
    assert_eq!(route_name(ContainerList), "GET /containers/json");
    assert_eq!(route_name(ContainerStart), "POST /containers/{name}/start");
    assert_eq!(
        route_name(CheckpointDelete),
        "DELETE /containers/{name}/checkpoints/{checkpoint}"
    );
    assert_eq!(route_name(NetworkInspect), "GET /networks/{id}");
    assert_eq!(route_name(Options), "OPTIONS /{any}");
    assert_eq!(route_name(Debug), "/debug/*");
    // One name per route, each distinct.
    let mut seen = std::collections::HashMap::new();
    for (_, _, id) in table() {
        let name = route_name(id);
        assert!(!name.is_empty(), "{id:?}");
        if let Some(other) = seen.insert(name, id) {
            assert_eq!(other, id, "{name} names two routes");
        }
    }
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
