//! Custom seccomp profiles: `--security-opt seccomp=<JSON>` (the CLI reads
//! the file and sends its JSON) and a service's custom profile.
//!
//! dockerd (20.10 and 28.5) takes the value after the first `=` (or, with no
//! `=`, the first `:`) of an option whose key is exactly `seccomp`; only
//! `unconfined` and (28.x) `builtin` are keywords, an empty value means the
//! default profile, and everything else goes through `json.Unmarshal` into
//! its profile type. `null`, `{}` or a profile with neither a default action
//! nor syscalls decode to a profile that makes dockerd install no filter at
//! all. So we read the JSON the way Go does (keys folded, last duplicate
//! wins, which [`Struct`] refuses to guess) and allow a profile only if:
//! - it is an object that installs a filter whose default action denies, and
//! - every rule that lets a syscall run (allow, log, trace, notify, anything
//!   unknown) lets through no more than Docker's default profile does, or
//! - its digest is listed in `[hardening] seccomp_profiles`.
//!
//! Docker's default is taken as what both dockerd 20.10.24's and 28.5's
//! default profiles grant (28.x dropped io_uring and AF_VSOCK sockets; 20.10
//! lacks the newest syscalls), on the architecture we run on (dockerd's).

use sha2::{Digest, Sha256};

use super::file::HardeningKey;
use crate::request::json::{parse, JsonError, Struct, Value};

mod default_profile;

use default_profile::*;

/// Why a seccomp option is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `seccomp=unconfined`.
    Unconfined,
    /// dockerd would not take this option as `seccomp=<value>` (another
    /// separator splits it first, or the key differs): it fails or means
    /// something else, and we do not guess which.
    Misread,
    /// JSON that dockerd turns into no filter at all (`null`, `{}`, ...).
    NoFilter,
    /// JSON dockerd cannot decode into its profile type.
    Unreadable(String),
    /// A readable profile that confines less than Docker's default; listing
    /// its digest allows it.
    Weaker { digest: String, what: Weakness },
}

/// How a profile confines less than Docker's default one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weakness {
    /// `defaultAction` lets unlisted syscalls run.
    DefaultAction(String),
    /// A rule lets a syscall run that the default does not allow this way.
    Syscall { name: String, action: String },
    /// A filter flag other than logging.
    Flag(String),
    /// `listenerPath`/`listenerMetadata`: syscalls handed to a host socket.
    Listener,
}

impl Refusal {
    /// The `[hardening]` key that governs this refusal.
    pub fn key(&self) -> HardeningKey {
        match self {
            Refusal::Weaker { .. } => HardeningKey::seccomp_profiles,
            _ => HardeningKey::unconfined,
        }
    }

    /// The key, spelt (what the tests compare).
    #[cfg(test)]
    pub fn check(&self) -> &'static str {
        self.key().as_str()
    }
}

/// Noun phrases: the caller says they are not allowed.
impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unconfined => {
                f.write_str("seccomp=unconfined, which runs the container with no seccomp filter")
            }
            Refusal::Misread => {
                f.write_str("a seccomp option dockerd would not read as seccomp=<profile>")
            }
            Refusal::NoFilter => f.write_str(
                "a seccomp profile that is null or has neither defaultAction nor syscalls, \
                 with which dockerd runs the container under no seccomp filter at all",
            ),
            Refusal::Unreadable(e) => write!(f, "a seccomp profile dockerd cannot decode ({e})"),
            Refusal::Weaker { digest, what } => {
                let what = match what {
                    Weakness::DefaultAction(a) => {
                        format!("lets every syscall it does not list run (defaultAction {a:?})")
                    }
                    Weakness::Syscall { name, action } => {
                        format!("lets syscall {name} run ({action:?})")
                    }
                    Weakness::Flag(x) => format!("sets the filter flag {x:?}"),
                    Weakness::Listener => {
                        "hands syscalls to a listener socket (listenerPath)".into()
                    }
                };
                write!(
                    f,
                    "the seccomp profile {digest}, which {what} where Docker's default profile \
                     does not (to allow exactly this profile, list \"{digest}\" in [hardening] \
                     seccomp_profiles)"
                )
            }
        }
    }
}

/// The libseccomp name of the architecture we (and dockerd, on the same
/// host) run on, as profiles' `arches` filters name it.
fn native_arch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => Some("amd64"),
        "x86" => Some("x86"),
        "aarch64" => Some("arm64"),
        "arm" => Some("arm"),
        "s390x" => Some("s390x"),
        "powerpc64" if cfg!(target_endian = "little") => Some("ppc64le"),
        _ => None,
    }
}

/// A syscall rule of a profile, as far as the decision needs it.
#[derive(Debug, Default)]
struct Rule {
    names: Vec<String>,
    action: String,
    args: Vec<Arg>,
    include_caps: Vec<String>,
    include_arches: Vec<String>,
    exclude_arches: Vec<String>,
    /// `includes.minKernel`: the rule applies only from this kernel on.
    min_kernel: Option<(u8, u8)>,
}

impl Rule {
    /// Whether dockerd keeps the rule on `arch` (unknown: assume it does).
    fn applies_on(&self, arch: Option<&str>) -> bool {
        let Some(arch) = arch else { return true };
        !self.exclude_arches.iter().any(|a| a == arch)
            && (self.include_arches.is_empty() || self.include_arches.iter().any(|a| a == arch))
    }

    /// Whether the default profile lets `name` run whenever this rule does.
    fn within_default(&self, name: &str, arch: Option<&str>) -> bool {
        if ALWAYS.binary_search(&name).is_ok() {
            return true;
        }
        GRANTED.iter().any(|g| {
            g.names.contains(&name)
                && match (g.arches, arch) {
                    (Arches::Any, _) => true,
                    (Arches::Only(l), Some(a)) => l.contains(&a),
                    (Arches::Except(l), Some(a)) => !l.contains(&a),
                    (_, None) => false,
                }
                // Our rule fires only when every cap it includes is held.
                && g.cap.is_none_or(|c| self.include_caps.iter().any(|x| x == c.name()))
                && g.min_kernel.is_none_or(|k| self.min_kernel.is_some_and(|m| m >= k))
                && (g.args.is_empty() || {
                    let mut mine = self.args.clone();
                    mine.sort();
                    mine == g.args
                })
        })
    }
}

/// A readable profile, as far as the decision needs it.
#[derive(Debug, Default)]
struct Profile {
    default_action: String,
    flags: Vec<String>,
    listener: bool,
    rules: Vec<Rule>,
}

fn unreadable(e: JsonError) -> Refusal {
    Refusal::Unreadable(e.to_string())
}

fn bad(field: &str, expected: &str) -> Refusal {
    Refusal::Unreadable(format!("{field} must be {expected}"))
}

/// A Go unsigned integer field: a JSON integer literal (no sign, fraction
/// or exponent) that fits 64 bits, or null (zero / nil).
fn uint(s: &Struct<'_>, field: &str) -> Result<u64, Refusal> {
    match s.field(field).map_err(unreadable)? {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .parse::<u64>()
            .map_err(|_| bad(field, "an unsigned integer")),
        Some(_) => Err(bad(field, "an unsigned integer")),
    }
}

/// `KernelVersion.UnmarshalJSON`: "<kernel>.<major>", each below 256, not
/// 0.0; "" is a present 0.0 (which every kernel satisfies).
fn kernel(s: &Struct<'_>, field: &str) -> Result<Option<(u8, u8)>, Refusal> {
    let v = match s.field(field).map_err(unreadable)? {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(v)) => v,
        Some(_) => return Err(bad(field, "a string")),
    };
    if v.is_empty() {
        return Ok(Some((0, 0)));
    }
    let num = |p: &str| {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u8>().ok()
    };
    let mut parts = v.splitn(3, '.');
    match (
        parts.next().and_then(num),
        parts.next().and_then(num),
        parts.next(),
    ) {
        (Some(k), Some(m), None) if (k, m) != (0, 0) => Ok(Some((k, m))),
        _ => Err(bad(field, "\"<kernel>.<major>\"")),
    }
}

/// Every element of an array of objects; null elements are nil pointers
/// that dockerd 20.10 dereferences, so they are refused.
fn objects<'a>(s: &Struct<'a>, field: &str) -> Result<Vec<Struct<'a>>, Refusal> {
    match s.field(field).map_err(unreadable)? {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match Struct::of(field, v) {
                Ok(Some(o)) => Ok(o),
                Ok(None) => Err(bad(field, "an array without null elements")),
                Err(e) => Err(unreadable(e)),
            })
            .collect(),
        Some(_) => Err(bad(field, "an array of objects")),
    }
}

fn rule(s: &Struct<'_>) -> Result<Rule, Refusal> {
    let mut r = Rule {
        names: s.strings("names").map_err(unreadable)?,
        action: s.string("action").map_err(unreadable)?,
        ..Rule::default()
    };
    // dockerd refuses `name` together with `names`; either way both count.
    let name = s.string("name").map_err(unreadable)?;
    if !name.is_empty() {
        r.names.push(name);
    }
    uint(s, "errnoRet")?;
    for a in objects(s, "args")? {
        let op = a.string("op").map_err(unreadable)?;
        r.args.push(Arg {
            index: uint(&a, "index")?,
            value: uint(&a, "value")?,
            value_two: uint(&a, "valueTwo")?,
            // runc refuses an unknown comparison; it matches no grant.
            op: Op::parse(&op).ok_or_else(|| bad("args.op", "a SCMP_CMP_* comparison"))?,
        });
    }
    if let Some(inc) = s.sub("includes").map_err(unreadable)? {
        r.include_caps = inc.strings("caps").map_err(unreadable)?;
        r.include_arches = inc.strings("arches").map_err(unreadable)?;
        r.min_kernel = kernel(&inc, "minKernel")?;
    }
    if let Some(exc) = s.sub("excludes").map_err(unreadable)? {
        // Excluded caps and kernels only ever drop the rule; we assume it stays.
        exc.strings("caps").map_err(unreadable)?;
        r.exclude_arches = exc.strings("arches").map_err(unreadable)?;
        kernel(&exc, "minKernel")?;
    }
    Ok(r)
}

/// Decode `text` as dockerd's `json.Unmarshal` into its profile type would.
fn decode(text: &str) -> Result<Profile, Refusal> {
    let doc = parse(text.as_bytes()).map_err(unreadable)?;
    let root = match Struct::root(&doc) {
        Ok(Some(r)) => r,
        Ok(None) => return Err(Refusal::NoFilter),
        Err(JsonError::Type { .. }) => {
            return Err(Refusal::Unreadable(format!(
                "{} is not a profile object",
                doc.kind()
            )))
        }
        Err(e) => return Err(unreadable(e)),
    };
    let mut p = Profile {
        default_action: root.string("defaultAction").map_err(unreadable)?,
        flags: root.strings("flags").map_err(unreadable)?,
        listener: !root.string("listenerPath").map_err(unreadable)?.is_empty()
            || !root
                .string("listenerMetadata")
                .map_err(unreadable)?
                .is_empty(),
        rules: Vec::new(),
    };
    uint(&root, "defaultErrnoRet")?;
    root.strings("architectures").map_err(unreadable)?;
    for a in objects(&root, "archMap")? {
        a.string("architecture").map_err(unreadable)?;
        a.strings("subArchitectures").map_err(unreadable)?;
    }
    let syscalls = objects(&root, "syscalls")?;
    // setupSeccomp: no default action and no syscalls means no filter.
    if p.default_action.is_empty() && syscalls.is_empty() {
        return Err(Refusal::NoFilter);
    }
    for s in &syscalls {
        p.rules.push(rule(s)?);
    }
    Ok(p)
}

/// Go's `json.Compact` (what the CLI sends for a profile file): the text
/// without whitespace outside strings. `text` is valid JSON.
fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in text.chars() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        out.push(c);
    }
    out
}

/// The digest a policy lists to allow a profile: sha256 of its compacted
/// JSON, so that a file given to `docker run` and the same profile sent
/// pretty-printed through the API have one digest.
pub fn digest(text: &str) -> String {
    let d = Sha256::digest(compact(text).as_bytes());
    let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A well-formed digest for `seccomp_profiles`, lower-cased.
pub fn parse_digest(s: &str) -> Option<String> {
    let hex = s.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// A seccomp security option (`seccomp=...` or `seccomp:...`, whole), as
/// dockerd's parseSecurityOpt splits it. `allowed`: listed digests.
pub fn check_option(opt: &str, allowed: &[String]) -> Result<(), Refusal> {
    let split = if opt.contains('=') {
        opt.split_once('=')
    } else {
        opt.split_once(':')
    };
    match split {
        Some(("seccomp", v)) => check_profile(v, allowed, native_arch()),
        _ => Err(Refusal::Misread),
    }
}

/// A seccomp option's value (the profile), on architecture `arch`.
fn check_profile(v: &str, allowed: &[String], arch: Option<&str>) -> Result<(), Refusal> {
    match v {
        "unconfined" => return Err(Refusal::Unconfined),
        // No profile: dockerd's default; `builtin` names it on 28.x (and
        // fails to decode on 20.10).
        "" | "builtin" => return Ok(()),
        _ => {}
    }
    let p = decode(v)?;
    let digest = digest(v);
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(&digest)) {
        return Ok(());
    }
    let weaker = |what| {
        Err(Refusal::Weaker {
            digest: digest.clone(),
            what,
        })
    };
    if Action::of(&p.default_action) != Action::Stops {
        return weaker(Weakness::DefaultAction(p.default_action));
    }
    if let Some(f) = p.flags.iter().find(|f| *f != "SECCOMP_FILTER_FLAG_LOG") {
        return weaker(Weakness::Flag(f.clone()));
    }
    if p.listener {
        return weaker(Weakness::Listener);
    }
    for r in &p.rules {
        if Action::of(&r.action) == Action::Stops || !r.applies_on(arch) {
            continue;
        }
        if let Some(n) = r.names.iter().find(|n| !r.within_default(n, arch)) {
            return weaker(Weakness::Syscall {
                name: n.clone(),
                action: r.action.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
