//! The differential harness shared by `tests/differential.rs` and the
//! libFuzzer target `fuzz/fuzz_targets/differential.rs`.
//!
//! A case is a raw HTTP request as it reaches dockerd's socket. The Go
//! reference (`tests/goref`, standard library only) says, for dockerd 20.10
//! and for current moby, whether the plugin is consulted, which AuthZReq
//! envelope it is sent, and what the daemon's handler then acts on. We decode
//! that very envelope with img-authz and compare. A disagreement where
//! img-authz decodes the request (and so might allow it) but the daemon
//! would route it, read a parameter or a body field differently is a
//! finding. img-authz refusing what the daemon accepts is safe and only
//! counted.

#![allow(dead_code, reason = "included by several crates; each uses a part")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

use base64::Engine as _;
use img_authz::protocol::AuthzRequest;
use img_authz::request::action::{Action, HostConfig, Mount, PluginOp};
use img_authz::request::{decode, json, pull_reference, route_name, tag_target};
use serde_json::{json, Value};

// --- Cases -------------------------------------------------------------------

/// A raw request. `framing`: "" sends Content-Length, "none" no body and no
/// length, "chunked" a chunked body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub framing: &'static str,
}

impl Case {
    pub fn new(method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Case {
        Case {
            method: method.into(),
            uri: uri.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
            framing: "",
        }
    }

    fn to_json(&self, id: usize) -> String {
        json!({
            "id": id,
            "method": self.method,
            "uri": self.uri,
            "headers": self.headers.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>(),
            "body": base64::engine::general_purpose::STANDARD.encode(&self.body),
            "framing": self.framing,
        })
        .to_string()
    }

    /// A Rust literal reproducing this case, for turning findings into tests.
    pub fn literal(&self) -> String {
        format!(
            "Case {{ method: {:?}.into(), uri: {:?}.into(), headers: vec!{:?}.into_iter().map(|(k, v): (&str, &str)| (k.into(), v.into())).collect(), body: {:?}.to_vec(), framing: {:?} }}",
            self.method,
            self.uri,
            self.headers,
            String::from_utf8_lossy(&self.body),
            self.framing
        )
    }
}

// --- Randomness: seeded, or driven by libFuzzer's bytes ------------------------

pub enum Src<'a> {
    Seeded(u64),
    Bytes(&'a [u8], usize),
}

impl Src<'_> {
    pub fn next(&mut self) -> u64 {
        match self {
            // splitmix64
            Src::Seeded(s) => {
                *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = *s;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            }
            Src::Bytes(b, i) => {
                let mut v = 0u64;
                for _ in 0..2 {
                    v = (v << 8) | u64::from(b.get(*i).copied().unwrap_or(0));
                    *i += 1;
                }
                v
            }
        }
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }

    pub fn pick<'b, T>(&mut self, xs: &'b [T]) -> &'b T {
        &xs[self.below(xs.len())]
    }

    pub fn exhausted(&self) -> bool {
        matches!(self, Src::Bytes(b, i) if *i >= b.len())
    }
}

// --- Seeds: the known bypass shapes ------------------------------------------

const JSON: (&str, &str) = ("Content-Type", "application/json");
const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const PLAIN: (&str, &str) = ("Content-Type", "text/plain");

/// Request shapes of every bypass we know of (CVE-2024-41110,
/// CVE-2026-34040, twistlock#50, the prior plugin's query smuggling) and of
/// the Docker CLI's ordinary calls. The decoder table is added by the caller.
pub fn bypass_seeds() -> Vec<Case> {
    let c = Case::new;
    let mut v = vec![
        // Query smuggling: first value wins, decoded once, encoded separators.
        c("POST", "/v1.41/images/create?fromImage=127.0.0.1:5000/ok&fromImage=evil.io/x&tag=v1", &[PLAIN], b""),
        c("POST", "/v1.41/images/create?x=%26fromImage%3Devil.io/x&fromImage=127.0.0.1:5000/ok&tag=v1", &[PLAIN], b""),
        c("POST", "/v1.41/images/create?fromImage=evil.io/x%26tag%3Dv1&tag=v2", &[PLAIN], b""),
        c("POST", "/v1.41/images/create?fromImage=127.0.0.1:5000/ok;fromImage=evil.io/x&tag=v1", &[PLAIN], b""),
        c("POST", "/v1.41/images/create?FromImage=evil.io/x&fromImage=127.0.0.1:5000/ok&tag=v1", &[PLAIN], b""),
        c("POST", "/v1.41/images/create?%66romImage=evil.io/x&tag=v1", &[PLAIN], b""),
        c("POST", "/v1.41/images/create?fromImage=busybox:&tag=", &[PLAIN], b""),
        c("POST", "/v1.41/images/create?fromImage=evil.io/x@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582&tag=v1", &[PLAIN], b""),
        // Percent-encoded routes and absolute-form targets.
        c("POST", "/v1.41/containers%2Fcreate", &[JSON], br#"{"Image":"evil.io/x"}"#),
        c("POST", "http://h/v1.41/containers/create?name=x", &[JSON], br#"{"Image":"evil.io/x"}"#),
        c("POST", "/v1.41/containers/x%2Fstart/kill", &[PLAIN], b""),
        c("DELETE", "/v1.41/containers/a/checkpoints/b", &[], b""),
        c("POST", "/v1.41/images/a%2F..%2Fcreate?fromImage=evil.io/x", &[PLAIN], b""),
        // Form bodies that dockerd reads ahead of the query.
        c("POST", "/v1.41/images/create?fromImage=127.0.0.1:5000/ok&tag=v1", &[FORM], b"fromImage=evil.io/x&tag=v1"),
        c("POST", "/v1.41/images/x/tag?repo=127.0.0.1:5000/ok", &[FORM], b"repo=evil.io/x"),
        c("POST", "/v1.41/images/create?fromSrc=-&repo=x", &[FORM, PLAIN], b"fromImage=evil.io/x&tag=v1"),
        c("POST", "/v1.41/build?t=x", &[FORM, PLAIN], b"t=127.0.0.1:5000/ok:v1&remote=http://evil/c.tar"),
        c("POST", "/v1.41/plugins/pull?remote=ok/p", &[FORM], b"remote=evil.io/p"),
        c("POST", "/v1.41/images/create?fromImage=a;b&fromImage=evil.io/x", &[("Content-Type", "text/plain;;")], b"x"),
        // Bodies the plugin never sees (CVE-2024-41110, CVE-2026-34040).
        c("POST", "/v1.41/containers/create?x=/auth", &[JSON], br#"{"Image":"evil.io/x"}"#),
        c("POST", "/v1.41/containers/create", &[("Content-Type", "Application/JSON; charset=utf-8")], br#"{"Image":"evil.io/x"}"#),
        c("POST", "/v1.41/containers/create", &[("Content-Type", "application/json; a=1; a=2")], br#"{"Image":"evil.io/x"}"#),
        c("POST", "/v1.41/containers/create", &[("Content-Type", "appl\u{130}cation/json")], br#"{"Image":"evil.io/x"}"#),
        c("POST", "/v1.41/services/create", &[PLAIN], br#"{"TaskTemplate":{"ContainerSpec":{"Image":"evil.io/x"}}}"#),
        c("POST", "/v1.23/containers/c1/start", &[JSON], br#"{"Privileged":true,"Binds":["/:/h"]}"#),
        c("POST", "/v1.23/containers/c1/start", &[JSON], br#"{"HostConfig":{"Privileged":true},"VolumeDriver":"evil"}"#),
        // JSON keys dockerd folds or merges (twistlock#50 and friends).
        c("POST", "/v1.41/containers/create", &[JSON], br#"{"image":"evil.io/x","hostconfig":{"privileged":true}}"#),
        c("POST", "/v1.41/containers/create", &[JSON], "{\"Image\":\"a\",\"HostConfig\":{\"Bind\u{17f}\":[\"/:/h\"]}}".as_bytes()),
        c("POST", "/v1.41/containers/create", &[JSON], br#"{"Image":"a","HostConfig":{"Privileged":true},"HostConfig":{"Binds":["/:/h"]}}"#),
        c("POST", "/v1.41/containers/create", &[JSON], br#"{"Image":"a","HostConfig":null,"Privileged":true}"#),
        c("POST", "/v1.41/containers/create", &[JSON], br#"{"Image":"a","HostConfig":{},"VolumeDriver":"evil"}"#),
        c("POST", "/v1.41/containers/create", &[JSON], br#"{"Image":"a"}}garbage"#),
        c("POST", "/v1.41/containers/create", &[JSON], b"{\"Imag\xff\":\"evil\",\"Image\":\"a\"}"),
        c("POST", "/v1.41/containers/create", &[JSON], br#"{"Image":"a","HostConfig":{"CapAdd":"ALL","Devices":[null,{"PathOnHost":"/dev/mem"}]}}"#),
        c("POST", "/v1.48/containers/create", &[JSON], br#"{"Image":"a","HostConfig":{"Mounts":[{"Type":"image","Source":"evil.io/y","Target":"/m"},null]}}"#),
        c("POST", "/v1.41/containers/c1/exec", &[JSON], br#"{"Cmd":["sh"],"PRIVILEGED":true,"user":"0"}"#),
        c("POST", "/v1.41/volumes/create", &[JSON], br#"{"Name":"v","DriverOpts":{"device":"/","device":"/etc","o":"bind","type":"none"}}"#),
        c("POST", "/v1.41/services/create", &[JSON], br#"{"TaskTemplate":{"ContainerSpec":{"Image":"evil.io/x","Privileges":{"SELinuxContext":{"Disable":true},"Seccomp":{"Mode":"unconfined"}},"CapabilityAdd":["ALL"]},"runtime":"PLUGIN"}}"#),
        c("POST", "/v1.41/services/s1/update?version=1&rollback=previous", &[JSON], br#"{"TaskTemplate":{"ContainerSpec":{"Image":"a"}}}"#),
        c("POST", "/v1.41/containers/c1/update", &[JSON], br#"{"CgroupParent":"/","Devices":[{"PathOnHost":"/dev/sda"}],"Privileged":true}"#),
        c("POST", "/debug/pprof/profile", &[], b""),
        c("POST", "/v1.41/plugins/img-authz/disable", &[PLAIN], b""),
    ];
    let mut chunked = c(
        "POST",
        "/v1.41/containers/create",
        &[JSON],
        br#"{"Image":"evil.io/x"}"#,
    );
    chunked.framing = "chunked";
    v.push(chunked);
    let mut big = c("POST", "/v1.41/containers/create", &[JSON], b"");
    big.body = format!(
        r#"{{"Image":"evil.io/x","Labels":{{"x":"{}"}}}}"#,
        "a".repeat(1 << 20)
    )
    .into_bytes();
    v.push(big);
    v
}

// --- Mutations ---------------------------------------------------------------

const METHODS: &[&str] = &[
    "GET", "POST", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "post", "CONNECT",
];
const PREFIXES: &[&str] = &[
    "",
    "/v1.41",
    "/v1.23",
    "/v1.24",
    "/v1.48",
    "/v1.041",
    "/v1..41",
    "/v",
    "/v.",
    "/v1.99",
    "/V1.41",
    "/v1.41/v1.40",
];
const ABS: &[&str] = &[
    "http://h",
    "unix://",
    "unix:",
    "HTTP://u:p@h:1",
    "http:",
    "//h",
    "x1:",
];
const PATHS: &[&str] = &[
    "/containers/create",
    "/containers/c1/start",
    "/containers/c1/update",
    "/containers/c1/exec",
    "/containers/c1",
    "/containers/c1/kill",
    "/containers/c1/checkpoints",
    "/containers/c1/checkpoints/k",
    "/containers/c1/copy",
    "/containers/c1/archive",
    "/containers/json",
    "/exec/e1/start",
    "/commit",
    "/images/create",
    "/images/load",
    "/images/busybox/tag",
    "/images/127.0.0.1:5000/x/push",
    "/images/x/json",
    "/images/x/attestations",
    "/images/x",
    "/build",
    "/session",
    "/grpc",
    "/auth",
    "/volumes/create",
    "/volumes/v1",
    "/swarm/init",
    "/swarm/join",
    "/swarm",
    "/services/create",
    "/services/s1/update",
    "/services/s1",
    "/nodes/n1/update",
    "/plugins/pull",
    "/plugins/p/upgrade",
    "/plugins/p/set",
    "/plugins/create",
    "/plugins/p/enable",
    "/plugins/p",
    "/networks/",
    "/networks/n1",
    "/debug/vars",
    "/debug/pprof/heap",
    "/_ping",
    "/info",
    "/x",
    "/",
];
const SEGMENTS: &[&str] = &[
    "%2F", "%2f", "/", ".", "..", "%2e", "%2E%2e", "%0A", "%00", "%ff", "%c3%a9", "#", "%23", "?",
    "%3F", "+", "%20", "%", "%zz", "%4", "\u{e9}", ";", "%3B", "create", "start", "json", "a:b",
    "\t",
];
const PAIRS: &[&str] = &[
    "fromImage=evil.io/x",
    "fromImage=127.0.0.1:5000/ok",
    "fromImage=",
    "tag=v2",
    "tag=",
    "tag=sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
    "FromImage=evil.io/x",
    "%66romImage=evil.io/y",
    "from+Image=z",
    "fromSrc=-",
    "fromSrc=http://h/x.tar",
    "repo=127.0.0.1:5000/ok",
    "repo=evil.io/x",
    "t=127.0.0.1:5000/ok:v1",
    "t=evil.io/x",
    "remote=http://evil/c",
    "networkmode=host",
    "version=2",
    "name=p",
    "container=c1",
    "rollback=previous",
    "rollback=",
    "checkpoint-dir=/tmp",
    "checkpoint=k",
    "platform=linux/amd64",
    "a;b",
    "a=%zz",
    "=x",
    "&",
    "&&",
    "k",
    "a=%2",
    "x=1#f",
    "a=%ff",
    "\u{e9}=1",
    "x=%26fromImage%3Devil",
    "q=/auth",
];
const CTS: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON",
    "application/json;",
    "application/json;;",
    "application/json; a=1; a=2",
    "appl\u{130}cation/json",
    "application/\u{212a}son",
    "application/jſon",
    "text/plain",
    "text/plain;;",
    "application/x-www-form-urlencoded",
    "APPLICATION/X-WWW-FORM-URLENCODED; charset=x",
    "multipart/form-data; boundary=zz",
    "application/x-tar",
    "",
    "application",
    "application/json x",
];

fn encode_char(c: char, upper: bool) -> String {
    let mut b = [0u8; 4];
    c.encode_utf8(&mut b)
        .bytes()
        .map(|x| {
            if upper {
                format!("%{x:02X}")
            } else {
                format!("%{x:02x}")
            }
        })
        .collect()
}

fn split_uri(uri: &str) -> (String, String, Option<String>) {
    // (absolute prefix, path, query)
    let (pre, rest) = match uri
        .find("://")
        .map(|i| i + 3)
        .or_else(|| uri.strip_prefix("unix:").map(|_| 5))
    {
        Some(i) if !uri.starts_with('/') => {
            let j = uri[i..].find('/').map_or(uri.len(), |j| i + j);
            (uri[..j].to_string(), &uri[j..])
        }
        _ => (String::new(), uri),
    };
    match rest.split_once('?') {
        Some((p, q)) => (pre, p.to_string(), Some(q.to_string())),
        None => (pre, rest.to_string(), None),
    }
}

fn mutate_path(p: &str, r: &mut Src) -> String {
    let mut p = p.to_string();
    match r.below(9) {
        0 => {
            // Percent-encode one character.
            let chars: Vec<(usize, char)> = p.char_indices().collect();
            if !chars.is_empty() {
                let (i, c) = chars[r.below(chars.len())];
                let up = r.chance(50);
                p.replace_range(i..i + c.len_utf8(), &encode_char(c, up));
            }
        }
        1 => {
            let (_, rest) = strip_version(&p);
            p = format!("{}{rest}", r.pick(PREFIXES));
        }
        2 => p = format!("{}{}", r.pick(PREFIXES), r.pick(PATHS)),
        3 => p.push('/'),
        4 => {
            let segs: Vec<usize> = p.match_indices('/').map(|(i, _)| i).collect();
            if !segs.is_empty() {
                let at = segs[r.below(segs.len())];
                p.insert_str(at + 1, &format!("{}/", r.pick(SEGMENTS)));
            }
        }
        5 => {
            let at = r.below(p.len() + 1);
            if p.is_char_boundary(at) {
                let s = *r.pick(SEGMENTS);
                p.insert_str(at, s);
            }
        }
        6 => p = p.replacen('/', "//", 1),
        7 => {
            // Replace the last segment.
            if let Some(i) = p.rfind('/') {
                p.truncate(i + 1);
                let s = *r.pick(SEGMENTS);
                p.push_str(s);
            }
        }
        _ => {
            let segs: Vec<&str> = p.split('/').collect();
            if segs.len() > 2 {
                let k = 1 + r.below(segs.len() - 1);
                let mut s: Vec<String> = segs.iter().map(|x| x.to_string()).collect();
                s[k] = format!("{}{}", s[k], r.pick(SEGMENTS));
                p = s.join("/");
            }
        }
    }
    p
}

pub fn strip_version(p: &str) -> (&str, &str) {
    if let Some(rest) = p.strip_prefix("/v") {
        let n = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        if rest[n..].starts_with('/') {
            return (&p[..n + 2], &rest[n..]);
        }
    }
    ("", p)
}

fn mutate_query(q: Option<String>, r: &mut Src) -> Option<String> {
    let mut pairs: Vec<String> = q
        .as_deref()
        .map(|q| q.split('&').map(str::to_string).collect())
        .unwrap_or_default();
    match r.below(7) {
        0 | 1 => {
            let at = r.below(pairs.len() + 1);
            pairs.insert(at, r.pick(PAIRS).to_string());
        }
        2 if !pairs.is_empty() => {
            let i = r.below(pairs.len());
            pairs.push(pairs[i].clone());
        }
        3 if !pairs.is_empty() => {
            let i = r.below(pairs.len());
            pairs.remove(i);
        }
        4 if !pairs.is_empty() => {
            // Encode one character of one pair.
            let i = r.below(pairs.len());
            let chars: Vec<(usize, char)> = pairs[i].char_indices().collect();
            if !chars.is_empty() {
                let (j, c) = chars[r.below(chars.len())];
                let up = r.chance(50);
                pairs[i].replace_range(j..j + c.len_utf8(), &encode_char(c, up));
            }
        }
        5 if pairs.len() > 1 => {
            let i = r.below(pairs.len());
            let p = pairs.remove(i);
            pairs.push(p);
        }
        6 => return None,
        _ => pairs.push(r.pick(PAIRS).to_string()),
    }
    Some(pairs.join("&"))
}

fn mutate_headers(c: &mut Case, r: &mut Src) {
    let is_ct = |k: &str| k.eq_ignore_ascii_case("content-type");
    match r.below(6) {
        0 => {
            c.headers.retain(|(k, _)| !is_ct(k));
            let ct = r.pick(CTS);
            if !ct.is_empty() {
                c.headers.push(("Content-Type".into(), ct.to_string()));
            }
        }
        1 => {
            // A second Content-Type: dockerd uses the first, the plugin sees the last.
            let ct = r.pick(CTS).to_string();
            let name = if r.chance(50) {
                "Content-Type"
            } else {
                "content-type"
            };
            if r.chance(50) {
                c.headers.insert(0, (name.into(), ct));
            } else {
                c.headers.push((name.into(), ct));
            }
        }
        2 => c.framing = *r.pick(&["", "none", "chunked"]),
        3 => c.headers.retain(|(k, _)| !is_ct(k)),
        4 => c.headers.push(("X-Registry-Auth".into(), "e30=".into())),
        _ => c.headers.push(("Upgrade".into(), "h2c".into())),
    }
    if c.framing == "none" {
        c.body.clear();
    }
}

// --- JSON bodies ------------------------------------------------------------

/// A key as a client might spell it for dockerd: exact, case-folded,
/// escaped, with the two non-ASCII letters Go folds onto ASCII, or broken.
fn key(name: &str, r: &mut Src) -> String {
    let k = match r.below(14) {
        0..=5 => name.to_string(),
        6 => name.to_lowercase(),
        7 => name.to_uppercase(),
        8 => format!("\\u{:04x}{}", name.as_bytes()[0], &name[1..]),
        9 => name
            .replacen('s', "\u{17f}", 1)
            .replacen('k', "\u{212a}", 1),
        10 => format!("{name}\\u0000"),
        11 => format!("{}\u{130}", &name[..name.len() - 1]),
        12 => format!("{name} "),
        _ => format!("{}{}", &name[..1], name[1..].to_lowercase()),
    };
    format!("\"{k}\"")
}

#[derive(Clone, Copy)]
enum Ty {
    Str,
    Bool,
    Strs,
    StrSlice,
    Map,
    Mounts,
    Devices,
    DevReqs,
    Int,
}

const STR_VALS: &[&str] = &[
    r#""a""#,
    r#""evil.io/x""#,
    r#""127.0.0.1:5000/ok:v1""#,
    r#""""#,
    "null",
    "1",
    "true",
    "[]",
    "{}",
    r#""host""#,
    r#""\u0000""#,
    r#""root""#,
    r#""\ud800""#,
    r#""container:x""#,
];
const BOOL_VALS: &[&str] = &["true", "false", "null", r#""true""#, "1", "0"];
const STRS_VALS: &[&str] = &[
    r#"["/:/host"]"#,
    "[]",
    "null",
    r#""x""#,
    "[1]",
    r#"["a",null]"#,
    r#"["/etc:/e:ro","/:/h"]"#,
    "{}",
];
const MAP_VALS: &[&str] = &[
    r#"{"a":"1"}"#,
    r#"{"a":"1","a":"2"}"#,
    r#"{"a":null}"#,
    "null",
    r#"{"a":1}"#,
    "{}",
    r#"{"kernel.x":"1","A":"2"}"#,
    "[]",
];
const INT_VALS: &[&str] = &["1", "1.5", r#""1""#, "null", "99999999999999999999", "-1"];

fn mount(r: &mut Src) -> String {
    if r.chance(10) {
        return r.pick(&["null", "{}", "1", "[]"]).to_string();
    }
    let mut f = vec![
        (
            key("Type", r),
            r.pick(&[
                r#""bind""#,
                r#""image""#,
                r#""volume""#,
                r#""IMAGE""#,
                "null",
                "1",
            ])
            .to_string(),
        ),
        (
            key("Source", r),
            r.pick(&[r#""evil.io/y""#, r#""/""#, r#""ok""#, "null", "3"])
                .to_string(),
        ),
        (key("Target", r), r#""/m""#.to_string()),
    ];
    if r.chance(30) {
        let dc = format!(
            "{{{}:{{{}:{},{}:{}}}}}",
            key("DriverConfig", r),
            key("Name", r),
            r.pick(&[r#""local""#, r#""evil""#, "null"]),
            key("Options", r),
            r.pick(MAP_VALS)
        );
        f.push((key("VolumeOptions", r), dc));
    }
    object(f, r)
}

fn value(t: Ty, r: &mut Src) -> String {
    match t {
        Ty::Str => r.pick(STR_VALS).to_string(),
        Ty::Bool => r.pick(BOOL_VALS).to_string(),
        Ty::Strs => r.pick(STRS_VALS).to_string(),
        Ty::StrSlice => r
            .pick(&[r#""SYS_ADMIN""#, r#"["ALL"]"#, "null", "1", "[1]", "[]"])
            .to_string(),
        Ty::Map => r.pick(MAP_VALS).to_string(),
        Ty::Int => r.pick(INT_VALS).to_string(),
        Ty::Mounts => match r.below(5) {
            0 => r.pick(&["null", "{}", "[]", "[1]"]).to_string(),
            _ => {
                let n = 1 + r.below(2);
                format!(
                    "[{}]",
                    (0..n).map(|_| mount(r)).collect::<Vec<_>>().join(",")
                )
            }
        },
        Ty::Devices => r
            .pick(&[
                r#"[{"PathOnHost":"/dev/mem"}]"#,
                "[null]",
                "[{}]",
                "null",
                r#"[{"pathonhost":"/dev/sda"},null]"#,
                "{}",
            ])
            .to_string(),
        Ty::DevReqs => r
            .pick(&[
                r#"[{"Driver":"nvidia"}]"#,
                "[null]",
                "null",
                r#"[{"driver":"x"}]"#,
            ])
            .to_string(),
    }
}

/// Join members into an object, sometimes repeating one (Go lets the last
/// win and merges objects) or shuffling.
fn object(mut members: Vec<(String, String)>, r: &mut Src) -> String {
    if !members.is_empty() && r.chance(12) {
        let i = r.below(members.len());
        let dup = members[i].clone();
        members.push(dup);
    }
    if members.len() > 1 && r.chance(20) {
        let i = r.below(members.len());
        let m = members.remove(i);
        members.push(m);
    }
    format!(
        "{{{}}}",
        members
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(",")
    )
}

const HOST_FIELDS: &[(&str, Ty)] = &[
    ("Privileged", Ty::Bool),
    ("Binds", Ty::Strs),
    ("Mounts", Ty::Mounts),
    ("VolumesFrom", Ty::Strs),
    ("VolumeDriver", Ty::Str),
    ("NetworkMode", Ty::Str),
    ("PidMode", Ty::Str),
    ("IpcMode", Ty::Str),
    ("UTSMode", Ty::Str),
    ("UsernsMode", Ty::Str),
    ("CgroupnsMode", Ty::Str),
    ("Cgroup", Ty::Str),
    ("CapAdd", Ty::StrSlice),
    ("Devices", Ty::Devices),
    ("DeviceRequests", Ty::DevReqs),
    ("DeviceCgroupRules", Ty::Strs),
    ("SecurityOpt", Ty::Strs),
    ("Sysctls", Ty::Map),
    ("Runtime", Ty::Str),
    ("CgroupParent", Ty::Str),
    ("MaskedPaths", Ty::Strs),
    ("ReadonlyPaths", Ty::Strs),
    ("Memory", Ty::Int),
];

fn fields(list: &[(&str, Ty)], pct: u64, r: &mut Src) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, t) in list {
        if r.chance(pct) {
            out.push((key(name, r), value(*t, r)));
        }
    }
    out
}

fn host_config(r: &mut Src) -> String {
    if r.chance(8) {
        return r.pick(&["null", "[]", r#""x""#, "{}"]).to_string();
    }
    let f = fields(HOST_FIELDS, 20, r);
    object(f, r)
}

/// A body for the route of `path`, shaped like what dockerd decodes there.
fn body_for(path: &str, r: &mut Src) -> Vec<u8> {
    let (_, p) = strip_version(path);
    let s = if p.ends_with("/containers/create") || p.ends_with("/start") || p == "/commit" {
        let mut top = Vec::new();
        if r.chance(85) {
            top.push((key("Image", r), value(Ty::Str, r)));
        }
        if r.chance(20) {
            top.push((key("User", r), value(Ty::Str, r)));
        }
        if r.chance(70) {
            top.push((key("HostConfig", r), host_config(r)));
        }
        if r.chance(30) {
            top.extend(fields(HOST_FIELDS, 10, r));
        }
        if r.chance(10) {
            top.push((key("Cmd", r), value(Ty::StrSlice, r)));
        }
        object(top, r)
    } else if p.ends_with("/update") && p.starts_with("/containers/") {
        object(fields(HOST_FIELDS, 25, r), r)
    } else if p.ends_with("/exec") {
        let f = fields(
            &[
                ("Privileged", Ty::Bool),
                ("User", Ty::Str),
                ("Cmd", Ty::Strs),
            ],
            60,
            r,
        );
        object(f, r)
    } else if p == "/volumes/create" {
        let f = fields(
            &[
                ("Name", Ty::Str),
                ("Driver", Ty::Str),
                ("DriverOpts", Ty::Map),
            ],
            60,
            r,
        );
        object(f, r)
    } else if p.starts_with("/services/") {
        let mut cs = fields(
            &[
                ("Image", Ty::Str),
                ("Mounts", Ty::Mounts),
                ("CapabilityAdd", Ty::Strs),
                ("Sysctls", Ty::Map),
            ],
            40,
            r,
        );
        if r.chance(30) {
            let priv_ = format!(
                "{{{}:{{{}:{},{}:{}}},{}:{{{}:{}}},{}:{{{}:{}}}}}",
                key("SELinuxContext", r),
                key("Disable", r),
                value(Ty::Bool, r),
                key("Type", r),
                r.pick(&[r#""spc_t""#, r#""container_t""#, "null", r#""""#]),
                key("Seccomp", r),
                key("Mode", r),
                r.pick(&[r#""unconfined""#, r#""default""#, "null", r#""""#]),
                key("AppArmor", r),
                key("Mode", r),
                r.pick(&[r#""unconfined""#, r#""default""#, "null"]),
            );
            cs.push((key("Privileges", r), priv_));
        }
        let mut tt = vec![(key("ContainerSpec", r), object(cs, r))];
        if r.chance(15) {
            tt.push((
                key("Runtime", r),
                r.pick(&[r#""plugin""#, r#""PLUGIN""#, r#""container""#, "null"])
                    .to_string(),
            ));
        }
        if r.chance(15) {
            tt.push((
                key("PluginSpec", r),
                format!("{{{}:{}}}", key("Remote", r), value(Ty::Str, r)),
            ));
        }
        if r.chance(15) {
            let target = r.pick(&[r#""host""#, r#""overlay1""#, "null", "1"]);
            tt.push((
                key("Networks", r),
                format!("[{{{}:{target}}}]", key("Target", r)),
            ));
        }
        object(vec![(key("TaskTemplate", r), object(tt, r))], r)
    } else if p.starts_with("/plugins/") {
        r.pick(&["[]", r#"["a=b"]"#, "null", "{}"]).to_string()
    } else {
        r.pick(&["{}", r#"{"Name":"n"}"#, "null", "[]"]).to_string()
    };
    let mut b = s.into_bytes();
    match r.below(14) {
        0 => b.push(b'}'),
        1 => b.extend_from_slice(b" {}"),
        2 => b.extend_from_slice(b"]garbage"),
        3 => {
            b.insert(0, b'\n');
            b.extend_from_slice(b" \t\r\n");
        }
        4 => b.splice(0..0, "\u{feff}".bytes()).for_each(drop),
        5 => b = b"null".to_vec(),
        6 if !b.is_empty() => {
            let i = r.below(b.len());
            b[i] = *r.pick(b"{}[]\",:\\ \x00\xff\x7f0a");
        }
        7 if !b.is_empty() => {
            let i = r.below(b.len());
            b.truncate(i);
        }
        _ => {}
    }
    b
}

/// One random mutation of `c`: 1 to 4 changes to method, path, query,
/// headers or body.
pub fn mutate(c: &Case, r: &mut Src) -> Case {
    let mut c = c.clone();
    let n = 1 + r.below(4);
    for _ in 0..n {
        let (mut pre, mut path, mut query) = split_uri(&c.uri);
        // Weighted so that most mutants still reach a route handler.
        match r.below(14) {
            0 => c.method = r.pick(METHODS).to_string(),
            1 | 2 => path = mutate_path(&path, r),
            3..=6 => query = mutate_query(query, r),
            7 => {
                pre = if pre.is_empty() {
                    r.pick(ABS).to_string()
                } else {
                    String::new()
                }
            }
            8 | 9 => mutate_headers(&mut c, r),
            _ => {
                c.body = body_for(&path, r);
                if c.framing == "none" {
                    c.framing = "";
                }
                if r.chance(80) {
                    c.headers
                        .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
                    c.headers
                        .push(("Content-Type".into(), "application/json".into()));
                }
            }
        }
        c.uri = match query {
            Some(q) => format!("{pre}{path}?{q}"),
            None => format!("{pre}{path}"),
        };
    }
    c
}

// --- The Go reference process --------------------------------------------------

/// Build `tests/goref` once per process into `target/goref`, with Go's caches
/// under `target/` so that it works offline and as any user.
pub fn goref_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The repository root: this crate's, or the parent of fuzz/.
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = here
            .ancestors()
            .find(|d| d.join("tests/goref/go.mod").is_file())
            .expect("tests/goref is in an ancestor of the crate");
        let out = root.join("target/goref");
        std::fs::create_dir_all(&out).expect("create target/goref");
        let tmp = out.join(format!("goref.{}", std::process::id()));
        let status = Command::new("go")
            .args(["build", "-trimpath", "-o"])
            .arg(&tmp)
            .arg(".")
            .current_dir(root.join("tests/goref"))
            .env("GOCACHE", out.join("cache"))
            .env("GOPATH", out.join("gopath"))
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .env("GOENV", "off")
            .env("GOTOOLCHAIN", "local")
            .env("CGO_ENABLED", "0")
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run `go` ({e}): the differential tests need Go (Debian: golang-go; `scripts/stack deps` installs it)")
            });
        assert!(status.success(), "go build of tests/goref failed");
        // Concurrent test processes each build their own copy; rename is atomic.
        let bin = out.join("goref");
        std::fs::rename(&tmp, &bin).expect("install goref");
        bin
    })
}

pub struct GoRef {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl GoRef {
    pub fn start() -> GoRef {
        let mut child = Command::new(goref_binary())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start goref");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("goref stdout"));
        GoRef {
            child,
            stdin,
            stdout,
        }
    }

    /// Run a batch: a writer thread feeds the cases while we read answers,
    /// so that neither pipe can fill up and block the other side.
    pub fn run(&mut self, cases: &[Case]) -> Vec<Value> {
        let lines: Vec<String> = cases
            .iter()
            .enumerate()
            .map(|(i, c)| c.to_json(i))
            .collect();
        let mut stdin = self.stdin.take().expect("goref stdin");
        let writer = std::thread::spawn(move || {
            for l in &lines {
                stdin.write_all(l.as_bytes()).expect("write to goref");
                stdin.write_all(b"\n").expect("write to goref");
            }
            stdin.flush().expect("flush goref");
            stdin
        });
        let mut out = Vec::with_capacity(cases.len());
        let mut line = String::new();
        for i in 0..cases.len() {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("read from goref");
            assert!(n > 0, "goref exited early");
            let v: Value = serde_json::from_str(&line).expect("goref output is JSON");
            assert_eq!(v["id"].as_u64(), Some(i as u64), "goref answers in order");
            out.push(v);
        }
        self.stdin = Some(writer.join().expect("goref writer"));
        out
    }
}

impl Drop for GoRef {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

// --- Comparison --------------------------------------------------------------

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub cases: usize,
    /// Daemon views (two per case) in which the plugin is consulted.
    pub reached: usize,
    /// Both decode: img-authz decodes and dockerd's handler acts.
    pub compared: usize,
    /// img-authz refuses what dockerd would act on (safe).
    pub rust_stricter: usize,
    /// Both refuse.
    pub both_refuse: usize,
    /// img-authz decodes, dockerd rejects the request itself (safe).
    pub go_rejects: usize,
    /// Bodies also checked against encoding/json's syntax.
    pub json_checked: usize,
    /// Known, documented disagreements that the default policy denies.
    pub known: usize,
    /// Why img-authz refused requests dockerd would act on, by reason.
    pub stricter: BTreeMap<String, usize>,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.cases += o.cases;
        self.reached += o.reached;
        self.compared += o.compared;
        self.rust_stricter += o.rust_stricter;
        self.both_refuse += o.both_refuse;
        self.go_rejects += o.go_rejects;
        self.json_checked += o.json_checked;
        self.known += o.known;
        for (k, n) in &o.stricter {
            *self.stricter.entry(k.clone()).or_default() += n;
        }
    }

    /// The most frequent reasons img-authz was stricter than dockerd.
    pub fn top_stricter(&self, n: usize) -> String {
        let mut v: Vec<(&String, &usize)> = self.stricter.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1));
        v.iter()
            .take(n)
            .map(|(k, c)| format!("  {c:7}  {k}\n"))
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub case: Case,
    pub model: String,
    pub what: String,
}

fn form_get<'a>(form: &'a Value, k: &str) -> &'a str {
    form[k][0].as_str().unwrap_or("")
}

fn form_all(form: &Value, k: &str) -> Vec<String> {
    form[k]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Pairs as Go's map keeps them: the last value of a key wins.
fn pairs_map(p: &[(String, String)]) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in p {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    Value::Object(m)
}

fn mounts_view(ms: &[Mount]) -> Value {
    Value::Array(
        ms.iter()
            .filter(|m| **m != Mount::default())
            .map(|m| {
                json!({"typ": m.typ, "source": m.source, "target": m.target,
                       "volume_driver": m.volume_driver,
                       "volume_driver_opts": pairs_map(&m.volume_driver_opts)})
            })
            .collect(),
    )
}

fn non_empty(v: &[String]) -> Vec<&String> {
    v.iter().filter(|s| !s.is_empty()).collect()
}

fn resources_view(h: &HostConfig) -> serde_json::Map<String, Value> {
    let v = json!({
        "devices": non_empty(&h.devices),
        "device_requests": non_empty(&h.device_requests),
        "device_cgroup_rules": h.device_cgroup_rules,
        "cgroup_parent": h.cgroup_parent,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

pub fn host_view(h: &HostConfig) -> Value {
    let mut m = resources_view(h);
    let more = json!({
        "privileged": h.privileged, "binds": h.binds, "mounts": mounts_view(&h.mounts),
        "volumes_from": h.volumes_from, "volume_driver": h.volume_driver,
        "network_mode": h.network_mode, "pid_mode": h.pid_mode, "ipc_mode": h.ipc_mode,
        "uts_mode": h.uts_mode, "userns_mode": h.userns_mode, "cgroupns_mode": h.cgroupns_mode,
        "cgroup": h.cgroup, "cap_add": h.cap_add, "security_opt": h.security_opt,
        "sysctls": pairs_map(&h.sysctls), "runtime": h.runtime,
        "system_paths": h.masked_paths.is_some() || h.readonly_paths.is_some(),
    });
    if let Value::Object(x) = more {
        m.extend(x);
    }
    Value::Object(m)
}

/// Whether the HostConfig dockerd applies is one img-authz reports (every
/// reported one is checked by the policy). 20.10 copies a top-level
/// VolumeDriver into an inner HostConfig that has none, so that field may
/// come from another reported source.
fn host_covered(go: &Value, rust: &[HostConfig]) -> bool {
    if go.is_null() {
        return true;
    }
    let views: Vec<Value> = rust
        .iter()
        .map(host_view)
        .chain(std::iter::once(host_view(&HostConfig::default())))
        .collect();
    if views.iter().any(|v| v == go) {
        return true;
    }
    let mut g = go.clone();
    let vd = g["volume_driver"].take();
    views.iter().any(|v| {
        let mut v = v.clone();
        v["volume_driver"] = Value::Null;
        v == g
    }) && views.iter().any(|v| v["volume_driver"] == vd)
}

/// The duplicate-Content-Type shape (review F3): dockerd parses a form body
/// by the first Content-Type, the plugin is sent only the last. The plugin
/// cannot see the first value, so for import and classic build (denied by
/// default, allowed only with IMG_AUTHZ_ALLOW=import/build) the decoder
/// cannot tell; TESTING.md documents it.
fn known_form_shadow(case: &Case, action: &Action) -> bool {
    let cts: Vec<&str> = case
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.as_str())
        .collect();
    cts.len() > 1
        && cts[0] != cts[cts.len() - 1]
        && matches!(action, Action::Import { .. } | Action::Build(_))
}

/// A refusal's kind: its message without the request-specific parts.
fn reason(e: &img_authz::request::DecodeError) -> String {
    let msg = e.to_string();
    let mut out = String::new();
    let mut quoted = false;
    for c in msg.chars() {
        if c == '"' {
            quoted = !quoted;
            if quoted {
                out.push_str("\"…");
            }
            continue;
        }
        if !quoted {
            out.push(if c.is_ascii_digit() { '#' } else { c });
        }
    }
    out.chars().take(110).collect()
}

/// Compare one Go answer with img-authz; findings go to `out`.
pub fn check(case: &Case, go: &Value, stats: &mut Stats, out: &mut Vec<Finding>) {
    stats.cases += 1;
    if !case.body.is_empty() {
        stats.json_checked += 1;
        if json::parse(&case.body).is_ok() && go["json_valid"] == Value::Bool(false) {
            out.push(Finding {
                case: case.clone(),
                model: "json".into(),
                what: "img-authz's JSON parser accepts a body encoding/json rejects".into(),
            });
        }
    }
    for view in go["views"].as_array().into_iter().flatten() {
        check_view(case, view, stats, out);
    }
}

fn check_view(case: &Case, view: &Value, stats: &mut Stats, out: &mut Vec<Finding>) {
    if view["reached"] != Value::Bool(true) {
        return;
    }
    stats.reached += 1;
    let model = view["model"].as_str().unwrap_or("?").to_string();
    let req: AuthzRequest = serde_json::from_value(view["envelope"].clone())
        .expect("goref envelope is an AuthzRequest");
    let acts = view["acts"] == Value::Bool(true);
    let d = match decode(&req) {
        Ok(d) => d,
        Err(e) if acts => {
            stats.rust_stricter += 1;
            *stats.stricter.entry(reason(&e)).or_default() += 1;
            return;
        }
        Err(_) => {
            stats.both_refuse += 1;
            return;
        }
    };
    let mut bad = |what: String| {
        out.push(Finding {
            case: case.clone(),
            model: model.clone(),
            what,
        })
    };
    let go_route = view["route"].as_str().unwrap_or("");
    let rust_route = d.route.map(route_name).unwrap_or("");
    if go_route != rust_route {
        bad(format!(
            "route: dockerd runs {go_route:?}, img-authz decodes {rust_route:?} ({})",
            d.action.kind()
        ));
        return;
    }
    let go_version = view["version"].as_str().filter(|v| !v.is_empty());
    if go_version != d.version.as_deref() {
        bad(format!(
            "API version: dockerd {go_version:?}, img-authz {:?}",
            d.version
        ));
    }
    let vars: Vec<&str> = view["vars"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let var0 = vars.first().copied().unwrap_or("");
    if !acts {
        stats.go_rejects += 1;
        return;
    }
    stats.compared += 1;
    let form = &view["form"];
    let f = |k: &str| form_get(form, k).to_string();
    let body = &view["body"];
    let mut eq = |what: &str, go: Value, rust: Value| {
        if go != rust {
            bad(format!("{what}: dockerd {go}, img-authz {rust}"));
        }
    };
    // Only when dockerd really read form values from the body.
    if known_form_shadow(case, &d.action) && !form.is_null() && *form != view["query"] {
        stats.known += 1;
        return;
    }
    match &d.action {
        Action::Read { .. }
        | Action::Swarm { .. }
        | Action::Login
        | Action::Load
        | Action::Session
        | Action::Grpc => {}
        Action::Control { target, .. } => eq("target", json!(var0), json!(target)),
        Action::CopyTo { container } => eq("target", json!(var0), json!(container)),
        Action::NetworkConnect { network } => eq("target", json!(var0), json!(network)),
        Action::RemoteRead { image, search, .. } => {
            // GET handlers' r.Form is the URL query (Go parses no GET body).
            let q = |k: &str| form_get(&view["query"], k).to_string();
            let go = match (*search, d.route) {
                (true, _) => q("term"),
                (false, Some(img_authz::request::routes::RouteId::PluginPrivileges)) => q("remote"),
                (false, _) => var0.to_string(),
            };
            eq("remote read", json!(go), json!(image));
        }
        // The Go reference does not model these bodies (network and
        // secret create): tests/decoder.rs and tests/policy.rs cover them.
        Action::NetworkCreate(_) | Action::SecretCreate { .. } => {}
        Action::Checkpoint { container, .. } => eq("target", json!(var0), json!(container)),
        Action::Pull(p) => {
            let from = f("fromImage");
            if from.is_empty() {
                eq("images/create kind", json!("import"), json!("pull"));
            } else {
                match pull_reference(&from, &f("tag")) {
                    Ok(r) => eq(
                        "pull reference",
                        json!(r.to_string()),
                        json!(p.image.to_string()),
                    ),
                    Err(e) => eq(
                        "pull reference",
                        json!(format!("invalid: {e}")),
                        json!(p.image.to_string()),
                    ),
                }
            }
            eq("platform", json!(f("platform")), json!(p.platform));
        }
        Action::Import { source, repo } => {
            if !f("fromImage").is_empty() {
                eq(
                    "images/create kind",
                    json!(format!("pull of {}", f("fromImage"))),
                    json!("import"),
                );
            }
            eq("fromSrc", json!(f("fromSrc")), json!(source));
            eq("repo", json!(f("repo")), json!(repo));
        }
        Action::Tag { source, target } => {
            eq("tag source", json!(var0), json!(source));
            let want = tag_target(&f("repo"), &f("tag"))
                .map(|r| r.to_string())
                .unwrap_or_else(|e| format!("invalid: {e}"));
            eq("tag target", json!(want), json!(target.to_string()));
        }
        Action::Push { image } => {
            let tag = f("tag");
            let want = if tag.is_empty() {
                var0.to_string()
            } else {
                format!("{var0}:{tag}")
            };
            eq("push", json!(want), json!(image));
        }
        Action::Build(b) => {
            eq("build t", json!(form_all(form, "t")), json!(b.tags));
            eq("build remote", json!(f("remote")), json!(b.remote));
            eq(
                "build networkmode",
                json!(f("networkmode")),
                json!(b.network_mode),
            );
            eq(
                "build version=2",
                json!(f("version") == "2"),
                json!(b.buildkit),
            );
        }
        Action::Commit {
            container,
            repo,
            tag,
        } => {
            eq("commit container", json!(f("container")), json!(container));
            eq("commit repo", json!(f("repo")), json!(repo));
            eq("commit tag", json!(f("tag")), json!(tag));
        }
        Action::ContainerCreate(c) => {
            eq("create name", json!(f("name")), json!(c.name));
            eq("create platform", json!(f("platform")), json!(c.platform));
            eq("Image", body["image"].clone(), json!(c.image));
            eq("User", body["user"].clone(), json!(c.user));
            if !host_covered(&body["host"], &c.host_configs) {
                let rust: Vec<Value> = c.host_configs.iter().map(host_view).collect();
                bad(format!(
                    "HostConfig: dockerd applies {}, img-authz reports {}",
                    body["host"],
                    json!(rust)
                ));
            }
        }
        Action::ContainerStart {
            container,
            host_configs,
            checkpoint_dir,
        } => {
            eq("start container", json!(var0), json!(container));
            eq(
                "checkpoint-dir",
                json!(f("checkpoint-dir")),
                json!(checkpoint_dir),
            );
            if !host_covered(&body["host"], host_configs) {
                let rust: Vec<Value> = host_configs.iter().map(host_view).collect();
                bad(format!(
                    "start HostConfig: dockerd applies {}, img-authz reports {}",
                    body["host"],
                    json!(rust)
                ));
            }
        }
        Action::ContainerUpdate { container, host } => {
            eq("update container", json!(var0), json!(container));
            eq(
                "update resources",
                body["host"].clone(),
                Value::Object(resources_view(host)),
            );
        }
        Action::ExecCreate {
            container,
            privileged,
            user,
        } => {
            eq("exec container", json!(var0), json!(container));
            eq(
                "exec Privileged",
                body["privileged"].clone(),
                json!(privileged),
            );
            eq("exec User", body["user"].clone(), json!(user));
        }
        Action::VolumeCreate {
            name,
            driver,
            driver_opts,
        } => {
            eq("volume Name", body["name"].clone(), json!(name));
            eq("volume Driver", body["driver"].clone(), json!(driver));
            eq(
                "volume DriverOpts",
                body["driver_opts"].clone(),
                pairs_map(driver_opts),
            );
        }
        Action::Service(s) => {
            let want_id = if go_route.contains("{id}") { var0 } else { "" };
            eq("service id", json!(want_id), json!(s.service));
            let q = &view["query"];
            if go_route.contains("update") {
                eq(
                    "rollback",
                    json!(form_get(q, "rollback") == "previous"),
                    json!(s.rollback),
                );
            }
            let rust = json!({"image": s.image, "plugin_remote": s.plugin_remote,
                "security_opt": s.security_opt, "mounts": mounts_view(&s.mounts),
                "cap_add": s.cap_add, "sysctls": pairs_map(&s.sysctls),
                "networks": s.networks});
            eq("service spec", body.clone(), rust);
        }
        Action::Plugin(op) => match op {
            PluginOp::Pull { remote, name } => {
                eq("plugin remote", json!(f("remote")), json!(remote));
                eq("plugin name", json!(f("name")), json!(name));
            }
            PluginOp::Create { name } => eq("plugin name", json!(f("name")), json!(name)),
            PluginOp::Upgrade { name, remote } => {
                eq("plugin", json!(var0), json!(name));
                eq("plugin remote", json!(f("remote")), json!(remote));
            }
            PluginOp::Set { name }
            | PluginOp::Enable { name }
            | PluginOp::Disable { name }
            | PluginOp::Remove { name }
            | PluginOp::Push { name } => eq("plugin", json!(var0), json!(name)),
        },
    }
}

/// Run `cases` through Go and img-authz.
pub fn run_cases(go: &mut GoRef, cases: &[Case], stats: &mut Stats, out: &mut Vec<Finding>) {
    let answers = go.run(cases);
    for (c, a) in cases.iter().zip(&answers) {
        check(c, a, stats, out);
    }
}

/// Summarise findings, one line each (the first few in full).
pub fn report(findings: &[Finding]) -> String {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for f in findings {
        let head = f.what.split(':').next().unwrap_or("").to_string();
        *by.entry(format!("[{}] {head}", f.model)).or_default() += 1;
    }
    let mut s = String::new();
    for (k, n) in &by {
        s += &format!("  {n:6}  {k}\n");
    }
    for f in findings.iter().take(15) {
        s += &format!("\n[{}] {}\n  {}\n", f.model, f.what, f.case.literal());
    }
    s
}
