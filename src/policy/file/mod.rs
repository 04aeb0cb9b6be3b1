//! The policy file (TOML): per-repository trust rules, container hardening,
//! per-user scoping, modes. Parsed with locations so that `img-authz policy
//! validate` can report every error with its line and column.
//!
//! The schema, every key with its type and default, is documented once:
//! docs/policy.md (examples/policy.toml shows every section).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{Array, InlineTable, Item, Table, Value};

pub use crate::trust::combined::Require;

mod cosign;
mod hardening;
mod notary;
mod notation;
mod rules;
mod walk;

use walk::{item_span, Tbl};

/// One problem in a policy file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Every error of a file, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors {
    pub file: String,
    pub errors: Vec<PolicyError>,
}

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{e}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Enforce,
    /// Allow, but log what would have been denied.
    Audit,
}

impl Mode {
    /// The spelling of the policy file (`mode = "audit"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }
}

pub use crate::op::Op;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifierKind {
    Notary,
    Cosign,
    /// Exact digests pinned by the rule (`digests`, `digests_file`).
    Digests,
    Notation,
}

/// Notation settings of a rule: notation's own trust policy and trust
/// store, validated (with the stores the policy references) when the
/// policy file is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotationSpec {
    pub trust_policy: PathBuf,
    pub trust_store: PathBuf,
}

/// Cosign settings of a rule; files are checked to parse when the policy is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CosignSpec {
    pub keys: Vec<PathBuf>,
    /// Keyless signers, their patterns checked when the policy is loaded.
    pub identities: Vec<crate::trust::cosign::Identity>,
    pub threshold: usize,
    pub trusted_root: Option<PathBuf>,
    pub tlog_required: bool,
    pub match_reference: bool,
}

pub use crate::config::PinSpec;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotarySpec {
    pub server: Option<String>,
    pub tls_ca: Option<PathBuf>,
    pub tofu: Option<bool>,
    pub signers: Vec<String>,
    pub root_pin: Option<PinSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub name: String,
    pub repositories: Vec<String>,
    /// Empty: everyone.
    pub users: Vec<String>,
    /// Empty: unsigned images are explicitly allowed (`verifier = "none"`).
    pub verifiers: Vec<VerifierKind>,
    pub require: Require,
    pub mode: Option<Mode>,
    pub allow: Vec<Op>,
    pub notary: NotarySpec,
    pub cosign: CosignSpec,
    /// Pinned digests (`digests` and `digests_file`), validated.
    pub digests: Vec<String>,
    pub notation: NotationSpec,
    /// Line of the rule, for messages.
    pub line: usize,
}

/// The hardening keys of the policy file, listed once: each is a field of
/// [`HardeningSpec`], overlaid by [`HardeningSpec::overlay`], a known key of
/// `[hardening]` and its overrides ([`HARDENING_KEYS`]), and read by the
/// parser by its kind (`bool`, a list of `strings`, or a list of `drivers`:
/// names that are never paths). Keys with checks of their own
/// (`bind_mounts`, `seccomp_profiles`) are validated after reading.
macro_rules! hardening_table {
    ($( $(#[$doc:meta])* $key:ident: $kind:ident ),* $(,)?) => {
        /// Container hardening; `None` leaves a check off.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct HardeningSpec {
            $( $(#[$doc])* pub $key: hardening_table!(@ty $kind), )*
            /// Not a key: the baseline's own checks and the daemon's facts.
            pub builtin: super::hardening::BuiltIn,
        }

        /// A key of `[hardening]`: what the checks name in a violation, so a
        /// misspelt key does not compile.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[expect(non_camel_case_types, reason = "each variant is spelt as its policy-file key")]
        pub enum HardeningKey {
            $( $key, )*
        }

        impl HardeningKey {
            /// The key as the policy file spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( HardeningKey::$key => stringify!($key), )*
                }
            }
        }

        /// Every key of `[hardening]`, in the table's order.
        pub const HARDENING_KEYS: &[&str] = &[$( stringify!($key) ),*];

        impl HardeningSpec {
            /// Fields set in `o` replace ours.
            pub fn overlay(&mut self, o: &HardeningSpec) {
                $( if o.$key.is_some() { self.$key = o.$key.clone(); } )*
            }
        }

        impl Parser<'_> {
            /// Each key read by its kind; no validation beyond the kind.
            fn hardening_fields(&mut self, h: Tbl<'_>) -> HardeningSpec {
                HardeningSpec {
                    $( $key: hardening_table!(@read self, h, $key, $kind), )*
                    builtin: Default::default(),
                }
            }
        }
    };
    (@ty bool) => { Option<bool> };
    (@ty strings) => { Option<Vec<String>> };
    (@ty drivers) => { Option<Vec<String>> };
    (@read $p:ident, $h:ident, $key:ident, bool) => { $p.boolean($h, stringify!($key)) };
    (@read $p:ident, $h:ident, $key:ident, strings) => { $p.strings($h, stringify!($key)) };
    (@read $p:ident, $h:ident, $key:ident, drivers) => { $p.driver_names($h, stringify!($key)) };
}

hardening_table! {
    privileged: bool,
    host_namespaces: bool,
    /// Host paths (prefixes) that may be bind-mounted; `None`: any.
    bind_mounts: strings,
    docker_socket: bool,
    cap_add: strings,
    devices: bool,
    unconfined: bool,
    sysctls: bool,
    runtimes: strings,
    cgroup_parent: bool,
    exec_privileged: bool,
    volume_drivers: strings,
    volumes_from: bool,
    /// Digests (`sha256:...`, lower-case) of custom seccomp profiles allowed
    /// even though they let more syscalls run than Docker's default.
    seccomp_profiles: strings,
    /// Network drivers `network create` may name (the effective one:
    /// empty is `bridge`); `None`: any the driver rule allows.
    network_drivers: drivers,
    /// Log drivers a container or service may name; the daemon's default
    /// (no `--log-driver`) is always allowed.
    log_drivers: drivers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardeningOverride {
    pub users: Vec<String>,
    pub spec: HardeningSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hardening {
    pub mode: Mode,
    pub base: HardeningSpec,
    pub overrides: Vec<HardeningOverride>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Global {
    pub mode: Mode,
    pub allow: Vec<Op>,
    pub local_user: Option<String>,
    pub self_names: Vec<String>,
    pub self_containers: Vec<String>,
}

/// `[ownership]`: see `policy::ownership`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnershipSpec {
    pub enabled: bool,
    pub admins: Vec<String>,
}

/// A parsed, validated policy file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyFile {
    pub path: PathBuf,
    pub global: Global,
    pub rules: Vec<RuleSpec>,
    pub hardening: Option<Hardening>,
    pub ownership: Option<OwnershipSpec>,
}

/// Read and validate a policy file; every error is reported.
pub fn load(path: &Path) -> Result<PolicyFile, PolicyErrors> {
    load_in(path, None)
}

/// [`load`] for a policy that came in a bundle unpacked at `root`: every
/// file it names must be relative and stay under `root`, so that trust
/// material comes from the signed bundle, never from the host.
pub fn load_confined(path: &Path, root: &Path) -> Result<PolicyFile, PolicyErrors> {
    load_in(path, Some(root))
}

fn load_in(path: &Path, confine: Option<&Path>) -> Result<PolicyFile, PolicyErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyErrors {
        file: path.display().to_string(),
        errors: vec![PolicyError {
            line: 0,
            column: 0,
            message: format!("cannot read the file: {e}"),
        }],
    })?;
    parse_in(&text, path, confine)
}

/// Validate policy text; `path` names it and anchors relative file paths.
pub fn parse(text: &str, path: &Path) -> Result<PolicyFile, PolicyErrors> {
    parse_in(text, path, None)
}

fn parse_in(text: &str, path: &Path, confine: Option<&Path>) -> Result<PolicyFile, PolicyErrors> {
    let mut p = Parser {
        text,
        base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        confine: confine.map(Path::to_path_buf),
        errors: Vec::new(),
    };
    let file = path.display().to_string();
    let doc = match toml_edit::Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let (line, column) = p.locate(e.span());
            return Err(PolicyErrors {
                file,
                errors: vec![PolicyError {
                    line,
                    column,
                    message: e.message().trim().to_string(),
                }],
            });
        }
    };
    let out = p.document(&doc, path);
    p.errors.sort_by_key(|e| (e.line, e.column));
    if p.errors.is_empty() {
        Ok(out)
    } else {
        Err(PolicyErrors {
            file,
            errors: p.errors,
        })
    }
}

struct Parser<'t> {
    text: &'t str,
    base: PathBuf,
    /// Files named must stay under this directory (a bundle's files).
    confine: Option<PathBuf>,
    errors: Vec<PolicyError>,
}

impl Parser<'_> {
    fn document(&mut self, doc: &Table, path: &Path) -> PolicyFile {
        let root = Tbl::Section(doc);
        self.known(
            root,
            "the policy",
            &["version", "global", "rules", "hardening", "ownership"],
        );
        match doc.get("version") {
            Some(v) if v.as_integer() == Some(1) => {}
            Some(v) => self.err(item_span(v), "version must be 1"),
            None => self.err(Some(0..0), "the policy must say version = 1"),
        }
        let mut out = PolicyFile {
            path: path.to_path_buf(),
            ..Default::default()
        };
        if let Some(item) = doc.get("global") {
            match Tbl::of(item) {
                Some(g) => out.global = self.global(g),
                None => self.err(item_span(item), "[global] must be a table"),
            }
        }
        if let Some(item) = doc.get("rules") {
            match item {
                Item::ArrayOfTables(a) => {
                    for t in a.iter() {
                        if let Some(r) = self.rule(t) {
                            // Names identify rules in decisions, logs and
                            // caches: one name, one rule.
                            if out.rules.iter().any(|o: &RuleSpec| o.name == r.name) {
                                self.err(
                                    t.get("name").and_then(item_span).or(t.span()),
                                    format!("another rule is already named {:?}", r.name),
                                );
                            } else if r.name.starts_with("REGISTRY ") {
                                self.err(
                                    t.get("name").and_then(item_span).or(t.span()),
                                    "rule names starting with \"REGISTRY \" are the environment's rules",
                                );
                            }
                            out.rules.push(r);
                        }
                    }
                }
                other => self.err(item_span(other), "rules must be [[rules]] tables"),
            }
        }
        if let Some(item) = doc.get("hardening") {
            match Tbl::of(item) {
                Some(h) => out.hardening = Some(self.hardening(h)),
                None => self.err(item_span(item), "[hardening] must be a table"),
            }
        }
        if let Some(item) = doc.get("ownership") {
            match Tbl::of(item) {
                Some(o) => out.ownership = Some(self.ownership(o)),
                None => self.err(item_span(item), "[ownership] must be a table"),
            }
        }
        out
    }

    fn ownership(&mut self, o: Tbl<'_>) -> OwnershipSpec {
        self.known(o, "[ownership]", &["enabled", "admins"]);
        if let Some(item) = o.get("admins") {
            if let Some(arr) = item.as_array() {
                for v in arr.iter() {
                    let Some(s) = v.as_str() else { continue };
                    // user_matches knows `*`, `prefix*`, `*suffix` and exact names.
                    let inner = s.strip_suffix('*').unwrap_or(s);
                    let inner = inner.strip_prefix('*').unwrap_or(inner);
                    if s.is_empty() || (s != "*" && inner.contains('*')) {
                        self.err(
                            v.span(),
                            format!(
                                "admins entry {s:?} is not a user name, `prefix*`, `*suffix` or `*`"
                            ),
                        );
                    }
                }
            }
        }
        OwnershipSpec {
            enabled: self.boolean(o, "enabled").unwrap_or(false),
            admins: self.strings(o, "admins").unwrap_or_default(),
        }
    }

    fn global(&mut self, g: Tbl<'_>) -> Global {
        self.known(
            g,
            "[global]",
            &[
                "mode",
                "allow",
                "local_user",
                "self_names",
                "self_containers",
            ],
        );
        Global {
            mode: self.mode(g).unwrap_or_default(),
            allow: self.ops(g),
            local_user: self.string(g, "local_user"),
            self_names: self.strings(g, "self_names").unwrap_or_default(),
            self_containers: self.strings(g, "self_containers").unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests;
