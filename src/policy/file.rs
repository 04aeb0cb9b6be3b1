//! The policy file (TOML): per-repository trust rules, container hardening,
//! per-user scoping, modes. Parsed with locations so that `img-authz policy
//! validate` can report every error with its line and column.
//!
//! Schema (version 1), all sections optional:
//!
//! ```toml
//! version = 1
//! [global]
//! mode = "enforce"            # enforce | audit
//! allow = ["load"]            # import, load, build, commit, plugins, tag, swarm
//! local_user = "local"        # identity of requests without a TLS client certificate
//! self_names = ["img-authz"]  # plugin names that are this plugin
//! self_containers = []        # containers running this plugin (legacy setups)
//!
//! [[rules]]
//! name = "team"
//! repositories = ["registry.example.com/team/*"]
//! users = ["*"]
//! verifier = "notary"         # notary | cosign | notation | digests | none, or a list: ["notary", "cosign"]
//! require = "all"             # with a list: all (every verifier) | any (one is enough)
//! mode = "enforce"
//! allow = ["tag"]             # operations that may name images here
//! [rules.cosign]
//! keys = ["keys/release.pub"]           # PEM public keys (P-256, P-384, Ed25519, RSA)
//! identities = [{ issuer = "https://token.actions.githubusercontent.com",   # keyless
//!                 subject = "https://github.com/acme/*/.github/workflows/*@refs/heads/main",
//!                 github_workflow_repository = "acme/app" }]   # optional claims, see below
//! trusted_root = "trusted_root.json"    # Sigstore trusted root, for keyless and tlog
//! threshold = 1                         # distinct keys/identities that must sign
//! tlog = "ignore"                       # ignore | required (key-based; keyless always needs it)
//! match_reference = false               # payload's docker-reference must be the image's repository
//! # identity: issuer (exact) or issuer_regexp; subject (`*` matches within one
//! # `/` segment and never crosses `@`) or subject_regexp (regexps anchored);
//! # optional exact github_workflow_{repository,ref,name,trigger,sha}.
//! # verifier = "digests" (implied when only pins are given): exactly these
//! # images, for repositories with nothing signed (Docker Official Images)
//! digests = ["sha256:<64 hex>"]
//! digests_file = "pins.txt"             # one digest a line, `#` comments
//! [rules.notation]                     # Notation's own files, as `notation verify` reads them
//! trust_policy = "/etc/notation/trustpolicy.json"
//! trust_store = "/etc/notation/truststore"
//! [rules.notary]
//! server = "https://notary.example.com:4443"
//! tls_ca = "/etc/img-authz/notary-ca.pem"
//! trust_on_first_use = false
//! signers = ["targets/alice"]
//! root_pin = { certs = ["<64 hex>"] }   # or { ca = "FILE" } or { key = "FILE" }
//!
//! [hardening]
//! mode = "enforce"
//! privileged = false
//! ...
//! [[hardening.overrides]]
//! users = ["admin"]
//! privileged = true
//!
//! [ownership]
//! enabled = true              # users touch only the containers they created
//! admins = ["ops-*"]          # users (exact, `prefix*`, `*suffix`, `*`) who touch any
//! ```

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{Array, InlineTable, Item, Table, Value};

pub use crate::trust::combined::Require;

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

/// Operations that bypass verification, switchable globally or per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Import,
    Load,
    Build,
    Commit,
    Plugins,
    Tag,
    Swarm,
    Cp,
    Push,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "import" => Op::Import,
            "load" => Op::Load,
            "build" => Op::Build,
            "commit" => Op::Commit,
            "plugins" => Op::Plugins,
            "tag" => Op::Tag,
            "swarm" => Op::Swarm,
            "cp" => Op::Cp,
            "push" => Op::Push,
            _ => return None,
        })
    }
}

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSpec {
    Certs(Vec<String>),
    Ca(PathBuf),
    Key(PathBuf),
}

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

/// Container hardening; `None` leaves a check off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HardeningSpec {
    pub privileged: Option<bool>,
    pub host_namespaces: Option<bool>,
    /// Host paths (prefixes) that may be bind-mounted; `None`: any.
    pub bind_mounts: Option<Vec<String>>,
    pub docker_socket: Option<bool>,
    pub cap_add: Option<Vec<String>>,
    pub devices: Option<bool>,
    pub unconfined: Option<bool>,
    pub sysctls: Option<bool>,
    pub runtimes: Option<Vec<String>>,
    pub cgroup_parent: Option<bool>,
    pub exec_privileged: Option<bool>,
    pub volume_drivers: Option<Vec<String>>,
    pub volumes_from: Option<bool>,
    /// Digests (`sha256:...`, lower-case) of custom seccomp profiles allowed
    /// even though they let more syscalls run than Docker's default.
    pub seccomp_profiles: Option<Vec<String>>,
    /// Not a key: the baseline's own checks and the daemon's facts.
    pub builtin: super::hardening::BuiltIn,
    /// Network drivers `network create` may name (the effective one:
    /// empty is `bridge`); `None`: any the driver rule allows.
    pub network_drivers: Option<Vec<String>>,
    /// Log drivers a container or service may name; the daemon's default
    /// (no `--log-driver`) is always allowed.
    pub log_drivers: Option<Vec<String>>,
}

impl HardeningSpec {
    /// Fields set in `o` replace ours.
    pub fn overlay(&mut self, o: &HardeningSpec) {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f.clone(); } )* };
        }
        take!(
            privileged,
            host_namespaces,
            bind_mounts,
            docker_socket,
            cap_add,
            devices,
            unconfined,
            sysctls,
            runtimes,
            cgroup_parent,
            exec_privileged,
            volume_drivers,
            volumes_from,
            seccomp_profiles,
            network_drivers,
            log_drivers
        );
    }
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
    let text = std::fs::read_to_string(path).map_err(|e| PolicyErrors {
        file: path.display().to_string(),
        errors: vec![PolicyError {
            line: 0,
            column: 0,
            message: format!("cannot read the file: {e}"),
        }],
    })?;
    parse(&text, path)
}

/// Validate policy text; `path` names it and anchors relative file paths.
pub fn parse(text: &str, path: &Path) -> Result<PolicyFile, PolicyErrors> {
    let mut p = Parser {
        text,
        base: path.parent().map(Path::to_path_buf).unwrap_or_default(),
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
    errors: Vec<PolicyError>,
}

/// A table, whether written as a section or inline.
#[derive(Clone, Copy)]
enum Tbl<'a> {
    Section(&'a Table),
    Inline(&'a InlineTable),
}

impl<'a> Tbl<'a> {
    fn of(item: &'a Item) -> Option<Tbl<'a>> {
        match item {
            Item::Table(t) => Some(Tbl::Section(t)),
            Item::Value(Value::InlineTable(t)) => Some(Tbl::Inline(t)),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<(String, Option<Range<usize>>)> {
        match self {
            Tbl::Section(t) => t
                .iter()
                .map(|(k, _)| (k.to_string(), t.key(k).and_then(|k| k.span())))
                .collect(),
            Tbl::Inline(t) => t
                .iter()
                .map(|(k, _)| (k.to_string(), t.key(k).and_then(|k| k.span())))
                .collect(),
        }
    }

    fn get(&self, k: &str) -> Option<Item> {
        match self {
            Tbl::Section(t) => t.get(k).cloned(),
            Tbl::Inline(t) => t.get(k).map(|v| Item::Value(v.clone())),
        }
    }

    fn span(&self) -> Option<Range<usize>> {
        match self {
            Tbl::Section(t) => t.span(),
            Tbl::Inline(t) => t.span(),
        }
    }
}

fn item_span(i: &Item) -> Option<Range<usize>> {
    match i {
        Item::Value(v) => v.span(),
        Item::Table(t) => t.span(),
        Item::ArrayOfTables(a) => a.span(),
        Item::None => None,
    }
}

impl Parser<'_> {
    fn locate(&self, span: Option<Range<usize>>) -> (usize, usize) {
        let Some(s) = span else { return (0, 0) };
        let before = &self.text[..s.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    fn err(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let (line, column) = self.locate(span);
        self.errors.push(PolicyError {
            line,
            column,
            message: message.into(),
        });
    }

    /// Unknown keys are errors: a misspelt setting must not silently be off.
    fn known(&mut self, t: Tbl<'_>, what: &str, allowed: &[&str]) {
        for (k, span) in t.keys() {
            if !allowed.contains(&k.as_str()) {
                self.err(
                    span,
                    format!(
                        "unknown key {k:?} in {what} (known: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    fn string(&mut self, t: Tbl<'_>, k: &str) -> Option<String> {
        let item = t.get(k)?;
        match item.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.err(item_span(&item), format!("{k} must be a string"));
                None
            }
        }
    }

    fn boolean(&mut self, t: Tbl<'_>, k: &str) -> Option<bool> {
        let item = t.get(k)?;
        match item.as_bool() {
            Some(b) => Some(b),
            None => {
                self.err(item_span(&item), format!("{k} must be true or false"));
                None
            }
        }
    }

    fn strings(&mut self, t: Tbl<'_>, k: &str) -> Option<Vec<String>> {
        let item = t.get(k)?;
        let Some(arr) = item.as_array() else {
            self.err(item_span(&item), format!("{k} must be a list of strings"));
            return None;
        };
        Some(self.array_strings(arr, k))
    }

    fn array_strings(&mut self, arr: &Array, k: &str) -> Vec<String> {
        let mut out = Vec::new();
        for v in arr.iter() {
            match v.as_str() {
                Some(s) => out.push(s.to_string()),
                None => self.err(v.span(), format!("{k} must hold only strings")),
            }
        }
        out
    }

    fn mode(&mut self, t: Tbl<'_>) -> Option<Mode> {
        let item = t.get("mode")?;
        match item.as_str() {
            Some("enforce") => Some(Mode::Enforce),
            Some("audit") => Some(Mode::Audit),
            _ => {
                self.err(item_span(&item), "mode must be \"enforce\" or \"audit\"");
                None
            }
        }
    }

    fn ops(&mut self, t: Tbl<'_>) -> Vec<Op> {
        let Some(item) = t.get("allow") else {
            return Vec::new();
        };
        let Some(arr) = item.as_array() else {
            self.err(item_span(&item), "allow must be a list of operations");
            return Vec::new();
        };
        let mut out = Vec::new();
        for v in arr.iter() {
            match v.as_str().and_then(Op::parse) {
                Some(op) => out.push(op),
                None => self.err(
                    v.span(),
                    format!(
                        "unknown operation {} (known: import, load, build, commit, plugins, tag, swarm, cp, push)",
                        v.as_str().map_or_else(|| "(not a string)".to_string(), |s| format!("{s:?}"))
                    ),
                ),
            }
        }
        out
    }

    /// A path relative to the policy file.
    fn resolve(&self, s: &str) -> PathBuf {
        if Path::new(s).is_absolute() {
            PathBuf::from(s)
        } else {
            self.base.join(s)
        }
    }

    /// A file path, relative to the policy file, that must exist.
    fn file(&mut self, t: Tbl<'_>, k: &str) -> Option<PathBuf> {
        let item = t.get(k)?;
        let Some(s) = item.as_str() else {
            self.err(item_span(&item), format!("{k} must be a file path"));
            return None;
        };
        let p = self.resolve(s);
        if !p.is_file() {
            self.err(
                item_span(&item),
                format!("{k}: {} does not exist or is not a file", p.display()),
            );
            return None;
        }
        Some(p)
    }

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

    fn rule(&mut self, t: &Table) -> Option<RuleSpec> {
        let r = Tbl::Section(t);
        self.known(
            r,
            "[[rules]]",
            &[
                "name",
                "repositories",
                "users",
                "verifier",
                "require",
                "mode",
                "allow",
                "notary",
                "cosign",
                "digests",
                "digests_file",
                "notation",
            ],
        );
        let line = self.locate(t.span()).0;
        let repositories = match self.strings(r, "repositories") {
            Some(v) if !v.is_empty() => v,
            Some(_) => {
                self.err(t.span(), "a rule needs at least one repository pattern");
                Vec::new()
            }
            None => {
                self.err(
                    t.span(),
                    "a rule needs repositories = [\"host/path/*\", ...]",
                );
                Vec::new()
            }
        };
        let mut repositories = repositories;
        for pat in &mut repositories {
            match super::rules::check_pattern(pat) {
                Ok(canonical) => *pat = canonical,
                Err(why) => {
                    let span = r.get("repositories").and_then(|i| item_span(&i));
                    self.err(span, format!("repository pattern {pat:?}: {why}"));
                }
            }
        }
        let verifiers = self.verifiers(r, t);
        let digests = self.digests(r, t, &verifiers);
        let require = match r.get("require") {
            None => Require::All,
            Some(item) => match item.as_str() {
                Some("all") => Require::All,
                Some("any") => Require::Any,
                _ => {
                    self.err(item_span(&item), "require must be \"all\" or \"any\"");
                    Require::All
                }
            },
        };
        let notary = self.verifier_table(
            r,
            t,
            "notary",
            VerifierKind::Notary,
            &verifiers,
            None,
            Self::notary,
        );
        let cosign = self.verifier_table(
            r,
            t,
            "cosign",
            VerifierKind::Cosign,
            &verifiers,
            Some("the cosign verifier needs [rules.cosign] with keys or identities"),
            Self::cosign,
        );
        let notation = self.verifier_table(
            r,
            t,
            "notation",
            VerifierKind::Notation,
            &verifiers,
            Some("the notation verifier needs [rules.notation] with trust_policy and trust_store"),
            Self::notation,
        );
        Some(RuleSpec {
            name: self
                .string(r, "name")
                .unwrap_or_else(|| format!("rule at line {line}")),
            repositories,
            users: self.strings(r, "users").unwrap_or_default(),
            verifiers,
            require,
            mode: self.mode(r),
            allow: self.ops(r),
            notary,
            cosign,
            digests,
            notation,
            line,
        })
    }

    /// A rule's `[rules.<key>]`, read by `parse`: it must be a table, its
    /// verifier must be among the rule's, and where `needed` says so the
    /// verifier needs it.
    #[expect(
        clippy::too_many_arguments,
        reason = "the rule, its verifiers and what to say are all per call"
    )]
    fn verifier_table<S: Default>(
        &mut self,
        r: Tbl<'_>,
        t: &Table,
        key: &str,
        kind: VerifierKind,
        verifiers: &[VerifierKind],
        needed: Option<&str>,
        parse: impl FnOnce(&mut Self, Tbl<'_>) -> S,
    ) -> S {
        let Some(item) = r.get(key) else {
            if let Some(why) = needed.filter(|_| verifiers.contains(&kind)) {
                self.err(t.span(), why);
            }
            return S::default();
        };
        let spec = match Tbl::of(&item) {
            Some(x) => parse(self, x),
            None => {
                self.err(item_span(&item), format!("[rules.{key}] must be a table"));
                S::default()
            }
        };
        if !verifiers.contains(&kind) {
            self.err(
                item_span(&item),
                format!("[rules.{key}] is given but the rule's verifiers do not include {key}"),
            );
        }
        spec
    }

    /// `[rules.notation]`: `trust_policy` (a file) and `trust_store` (the
    /// `truststore` directory), loaded now so that errors are reported.
    fn notation(&mut self, n: Tbl<'_>) -> NotationSpec {
        self.known(n, "[rules.notation]", &["trust_policy", "trust_store"]);
        let policy = self.file(n, "trust_policy");
        let store = match n.get("trust_store") {
            Some(item) => match item.as_str() {
                Some(s) => Some((self.resolve(s), item_span(&item))),
                None => {
                    self.err(item_span(&item), "trust_store must be a directory path");
                    None
                }
            },
            None => {
                self.err(n.span(), "[rules.notation] needs trust_store");
                None
            }
        };
        if n.get("trust_policy").is_none() {
            self.err(n.span(), "[rules.notation] needs trust_policy");
        }
        let (Some(trust_policy), Some((trust_store, span))) = (policy, store) else {
            return NotationSpec::default();
        };
        if let Err(e) = crate::trust::notation::NotationConfig::load(&trust_policy, &trust_store) {
            self.err(span, e);
        }
        NotationSpec {
            trust_policy,
            trust_store,
        }
    }

    /// `verifier = "notary" | "cosign" | "none"`, or a list of the first two.
    fn verifiers(&mut self, r: Tbl<'_>, t: &Table) -> Vec<VerifierKind> {
        let Some(item) = r.get("verifier") else {
            // Pins need no other verifier: giving them says which.
            if r.get("digests").is_some() || r.get("digests_file").is_some() {
                return vec![VerifierKind::Digests];
            }
            self.err(
                t.span(),
                "a rule must name its verifier (notary, cosign or none)",
            );
            return Vec::new();
        };
        let one = |s: &str| match s {
            "notary" => Some(VerifierKind::Notary),
            "cosign" => Some(VerifierKind::Cosign),
            "digests" => Some(VerifierKind::Digests),
            "notation" => Some(VerifierKind::Notation),
            _ => None,
        };
        if item.as_str() == Some("none") {
            return Vec::new();
        }
        if let Some(k) = item.as_str().and_then(one) {
            return vec![k];
        }
        let mut out = Vec::new();
        match item.as_array() {
            Some(arr) if !arr.is_empty() => {
                for v in arr.iter() {
                    match v.as_str().and_then(one) {
                        Some(k) if !out.contains(&k) => out.push(k),
                        Some(_) => self.err(v.span(), "a verifier is listed twice"),
                        None => self.err(
                            v.span(),
                            "a verifier list holds \"notary\", \"cosign\", \"notation\" and/or \"digests\"",
                        ),
                    }
                }
            }
            _ => self.err(
                item_span(&item),
                "verifier must be \"notary\", \"cosign\", \"notation\", \"digests\", \"none\" or a list like [\"notary\", \"cosign\"]",
            ),
        }
        out
    }

    /// `digests = ["sha256:…"]` and/or `digests_file = "FILE"` (one digest
    /// a line, `#` comments). An empty list is allowed and pins nothing: a
    /// catch-all rule that denies, with the digest to pin in its hint.
    fn digests(&mut self, r: Tbl<'_>, t: &Table, verifiers: &[VerifierKind]) -> Vec<String> {
        let mut out = Vec::new();
        let given = r.get("digests").is_some() || r.get("digests_file").is_some();
        if let Some(item) = r.get("digests") {
            match item.as_array() {
                Some(arr) => {
                    for v in arr.iter() {
                        match v
                            .as_str()
                            .map(|d| (d, crate::trust::pinned::check_digest(d)))
                        {
                            Some((d, Ok(()))) => out.push(d.to_string()),
                            Some((_, Err(e))) => self.err(v.span(), format!("digests: {e}")),
                            None => self.err(v.span(), "digests must hold only strings"),
                        }
                    }
                }
                None => self.err(
                    item_span(&item),
                    "digests must be a list like [\"sha256:…\"]",
                ),
            }
        }
        if let Some(p) = self.file(r, "digests_file") {
            let span = r.get("digests_file").and_then(|i| item_span(&i));
            match std::fs::read_to_string(&p) {
                Err(e) => self.err(span, format!("digests_file {}: {e}", p.display())),
                Ok(text) => match crate::trust::pinned::parse_digest_file(&text) {
                    Ok(ds) => out.extend(ds),
                    Err(errs) => {
                        for (line, e) in errs {
                            self.err(
                                span.clone(),
                                format!("digests_file {}:{line}: {e}", p.display()),
                            );
                        }
                    }
                },
            }
        }
        if given && !verifiers.contains(&VerifierKind::Digests) {
            self.err(
                r.get("digests")
                    .or_else(|| r.get("digests_file"))
                    .and_then(|i| item_span(&i)),
                "digests are given but the rule's verifiers do not include \"digests\"",
            );
        }
        if !given && verifiers.contains(&VerifierKind::Digests) {
            self.err(
                t.span(),
                "the digests verifier needs digests = [\"sha256:…\"] or digests_file = \"FILE\"",
            );
        }
        out.sort();
        out.dedup();
        out
    }

    fn cosign(&mut self, c: Tbl<'_>) -> CosignSpec {
        self.known(
            c,
            "[rules.cosign]",
            &[
                "keys",
                "identities",
                "trusted_root",
                "threshold",
                "tlog",
                "match_reference",
            ],
        );
        let mut keys = Vec::new();
        if let Some(item) = c.get("keys") {
            match item.as_array() {
                Some(arr) => {
                    for v in arr.iter() {
                        let Some(f) = v.as_str() else {
                            self.err(v.span(), "keys must hold file paths");
                            continue;
                        };
                        let p = self.resolve(f);
                        match std::fs::read_to_string(&p) {
                            Err(e) => self.err(v.span(), format!("key {}: {e}", p.display())),
                            Ok(pem) => {
                                match crate::trust::cosign::keys::PublicKey::from_pem(&pem) {
                                    Ok(_) => keys.push(p),
                                    Err(e) => {
                                        self.err(v.span(), format!("key {}: {e}", p.display()))
                                    }
                                }
                            }
                        }
                    }
                }
                None => self.err(
                    item_span(&item),
                    "keys must be a list of PEM public key files",
                ),
            }
        }
        let mut identities = Vec::new();
        if let Some(item) = c.get("identities") {
            let tables: Vec<(Option<Range<usize>>, Option<Tbl<'_>>)> = match &item {
                Item::Value(Value::Array(a)) => a
                    .iter()
                    .map(|v| (v.span(), v.as_inline_table().map(Tbl::Inline)))
                    .collect(),
                Item::ArrayOfTables(a) => a
                    .iter()
                    .map(|t| (t.span(), Some(Tbl::Section(t))))
                    .collect(),
                _ => {
                    self.err(
                        item_span(&item),
                        "identities must be a list of { issuer, subject }",
                    );
                    Vec::new()
                }
            };
            for (span, t) in tables {
                let Some(t) = t else {
                    self.err(
                        span,
                        "an identity is a table { issuer = \"...\", subject = \"...\" }",
                    );
                    continue;
                };
                if let Some(id) = self.identity(t, span) {
                    identities.push(id);
                }
            }
        }
        let trusted_root = self.file(c, "trusted_root");
        if let Some(p) = &trusted_root {
            if let Err(e) = crate::trust::cosign::root::TrustedRoot::load(p) {
                self.err(c.get("trusted_root").and_then(|i| item_span(&i)), e);
            }
        }
        let tlog_required = match c.get("tlog") {
            None => false,
            Some(item) => match item.as_str() {
                Some("required") => true,
                Some("ignore") => false,
                _ => {
                    self.err(item_span(&item), "tlog must be \"required\" or \"ignore\"");
                    false
                }
            },
        };
        let authorities = keys.len() + identities.len();
        let threshold = match c.get("threshold") {
            None => 1,
            Some(item) => match item.as_integer() {
                Some(n) if n >= 1 && usize::try_from(n).is_ok_and(|n| n <= authorities.max(1)) => {
                    usize::try_from(n).unwrap_or(1)
                }
                _ => {
                    self.err(
                        item_span(&item),
                        format!("threshold must be between 1 and the number of keys and identities ({authorities})"),
                    );
                    1
                }
            },
        };
        // Empty lists too: a rule that no signature can meet is a typo.
        let listed = |k: &str| {
            c.get(k).is_some_and(|i| match &i {
                Item::Value(Value::Array(a)) => !a.is_empty(),
                Item::ArrayOfTables(a) => !a.is_empty(),
                _ => true,
            })
        };
        if !listed("keys") && !listed("identities") {
            self.err(c.span(), "[rules.cosign] needs keys or identities");
        }
        if !identities.is_empty() && trusted_root.is_none() && c.get("trusted_root").is_none() {
            self.err(c.span(), "keyless identities need a trusted_root");
        }
        if tlog_required && trusted_root.is_none() && c.get("trusted_root").is_none() {
            self.err(
                c.span(),
                "tlog = \"required\" needs a trusted_root with the Rekor key",
            );
        }
        let match_reference = self.boolean(c, "match_reference").unwrap_or(false);
        CosignSpec {
            keys,
            identities,
            threshold,
            trusted_root,
            tlog_required,
            match_reference,
        }
    }

    /// One keyless identity: `issuer` (exact) or `issuer_regexp`, `subject`
    /// (`*` stays inside a path segment) or `subject_regexp` (both anchored),
    /// and optional exact GitHub workflow claims, as cosign's
    /// `--certificate-github-workflow-*` flags.
    fn identity(
        &mut self,
        t: Tbl<'_>,
        span: Option<Range<usize>>,
    ) -> Option<crate::trust::cosign::Identity> {
        use crate::trust::cosign::{GithubClaims, Identity, Pattern};
        const GITHUB: [&str; 5] = [
            "github_workflow_repository",
            "github_workflow_ref",
            "github_workflow_name",
            "github_workflow_trigger",
            "github_workflow_sha",
        ];
        let mut allowed = vec!["issuer", "issuer_regexp", "subject", "subject_regexp"];
        allowed.extend(GITHUB);
        self.known(t, "an identity", &allowed);
        let pattern = |me: &mut Self, plain: &str, re: &str, exact: bool| -> Option<Pattern> {
            let item_span = |k: &str| t.get(k).and_then(|i| item_span(&i));
            match (me.string(t, plain), me.string(t, re)) {
                (Some(_), Some(_)) => {
                    me.err(
                        item_span(re),
                        format!("an identity has {plain} or {re}, not both"),
                    );
                    None
                }
                (Some(p), None) if !p.is_empty() => Some(if exact {
                    Pattern::Exact(p)
                } else {
                    Pattern::Glob(p)
                }),
                (None, Some(r)) if !r.is_empty() => match Pattern::regex(&r) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        me.err(item_span(re), format!("{re}: {e}"));
                        None
                    }
                },
                _ => {
                    me.err(
                        span.clone(),
                        format!("an identity needs a non-empty {plain} or {re}"),
                    );
                    None
                }
            }
        };
        let issuer = pattern(self, "issuer", "issuer_regexp", true);
        let subject = pattern(self, "subject", "subject_regexp", false);
        let mut github = GithubClaims::default();
        for (k, slot) in GITHUB.iter().zip([
            &mut github.repository,
            &mut github.git_ref,
            &mut github.name,
            &mut github.trigger,
            &mut github.sha,
        ]) {
            match self.string(t, k) {
                Some(v) if v.is_empty() => self.err(
                    t.get(k).and_then(|i| item_span(&i)),
                    format!("{k} is empty"),
                ),
                v => *slot = v,
            }
        }
        Some(Identity {
            issuer: issuer?,
            subject: subject?,
            github,
        })
    }

    fn notary(&mut self, n: Tbl<'_>) -> NotarySpec {
        self.known(
            n,
            "[rules.notary]",
            &[
                "server",
                "tls_ca",
                "trust_on_first_use",
                "signers",
                "root_pin",
            ],
        );
        let server = self.string(n, "server");
        if let Some(s) = &server {
            if !s.starts_with("https://") {
                self.err(
                    n.get("server").and_then(|i| item_span(&i)),
                    "server must be an https:// URL",
                );
            }
        }
        let signers = self.strings(n, "signers").unwrap_or_default();
        for s in &signers {
            if !s.starts_with("targets/") || s.len() <= "targets/".len() {
                self.err(
                    n.get("signers").and_then(|i| item_span(&i)),
                    format!("signer {s:?} is not a delegation role (targets/NAME)"),
                );
            }
        }
        let mut root_pin = None;
        if let Some(item) = n.get("root_pin") {
            match Tbl::of(&item) {
                Some(p) => {
                    self.known(p, "root_pin", &["certs", "ca", "key"]);
                    let given = ["certs", "ca", "key"]
                        .iter()
                        .filter(|k| p.get(k).is_some())
                        .count();
                    if given != 1 {
                        self.err(p.span(), "root_pin takes exactly one of certs, ca or key");
                    } else if let Some(ids) = self.strings(p, "certs") {
                        for id in &ids {
                            if id.len() != 64 || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
                                self.err(
                                    p.get("certs").and_then(|i| item_span(&i)),
                                    format!("root certificate ID {id:?} is not 64 hex digits"),
                                );
                            }
                        }
                        root_pin = Some(PinSpec::Certs(
                            ids.iter().map(|i| i.to_ascii_lowercase()).collect(),
                        ));
                    } else if let Some(f) = self.file(p, "ca") {
                        root_pin = Some(PinSpec::Ca(f));
                    } else if let Some(f) = self.file(p, "key") {
                        root_pin = Some(PinSpec::Key(f));
                    }
                }
                None => self.err(item_span(&item), "root_pin must be a table"),
            }
        }
        NotarySpec {
            server,
            tls_ca: self.file(n, "tls_ca"),
            tofu: self.boolean(n, "trust_on_first_use"),
            signers,
            root_pin,
        }
    }

    const HARDENING_KEYS: &'static [&'static str] = &[
        "privileged",
        "host_namespaces",
        "bind_mounts",
        "docker_socket",
        "cap_add",
        "devices",
        "unconfined",
        "sysctls",
        "runtimes",
        "cgroup_parent",
        "exec_privileged",
        "volume_drivers",
        "volumes_from",
        "seccomp_profiles",
        "network_drivers",
        "log_drivers",
    ];

    /// A driver allowlist: names only, never a path (dockerd would load a
    /// plugin from a path, which no policy may allow).
    fn driver_names(&mut self, h: Tbl<'_>, key: &str) -> Option<Vec<String>> {
        let names = self.strings(h, key);
        if let Some(arr) = h.get(key).as_ref().and_then(|i| i.as_array()) {
            for v in arr.iter() {
                let Some(n) = v.as_str() else { continue };
                if n.is_empty() || n.contains('/') || n.contains("..") {
                    self.err(
                        v.span(),
                        format!("{key}: {n:?} is not a driver name (no '/', no '..', not empty)"),
                    );
                }
            }
        }
        names
    }

    fn hardening_spec(&mut self, h: Tbl<'_>) -> HardeningSpec {
        let bind_mounts = self.strings(h, "bind_mounts");
        for p in bind_mounts.iter().flatten() {
            if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
                self.err(
                    h.get("bind_mounts").and_then(|i| item_span(&i)),
                    format!("bind mount path {p:?} must be absolute, without '..'"),
                );
            }
        }
        let mut seccomp_profiles = self.strings(h, "seccomp_profiles");
        for d in seccomp_profiles.iter_mut().flatten() {
            match crate::policy::seccomp::parse_digest(d) {
                Some(ok) => *d = ok,
                None => self.err(
                    h.get("seccomp_profiles").and_then(|i| item_span(&i)),
                    format!("seccomp profile digest {d:?} must be sha256: and 64 hex digits"),
                ),
            }
        }
        HardeningSpec {
            privileged: self.boolean(h, "privileged"),
            host_namespaces: self.boolean(h, "host_namespaces"),
            bind_mounts,
            docker_socket: self.boolean(h, "docker_socket"),
            cap_add: self.strings(h, "cap_add"),
            devices: self.boolean(h, "devices"),
            unconfined: self.boolean(h, "unconfined"),
            sysctls: self.boolean(h, "sysctls"),
            runtimes: self.strings(h, "runtimes"),
            cgroup_parent: self.boolean(h, "cgroup_parent"),
            exec_privileged: self.boolean(h, "exec_privileged"),
            volume_drivers: self.strings(h, "volume_drivers"),
            volumes_from: self.boolean(h, "volumes_from"),
            seccomp_profiles,
            builtin: Default::default(),
            network_drivers: self.driver_names(h, "network_drivers"),
            log_drivers: self.driver_names(h, "log_drivers"),
        }
    }

    fn hardening(&mut self, h: Tbl<'_>) -> Hardening {
        let mut keys: Vec<&str> = Self::HARDENING_KEYS.to_vec();
        keys.extend(["mode", "overrides"]);
        self.known(h, "[hardening]", &keys);
        let mut out = Hardening {
            mode: self.mode(h).unwrap_or_default(),
            base: self.hardening_spec(h),
            overrides: Vec::new(),
        };
        if let Some(item) = h.get("overrides") {
            match &item {
                Item::ArrayOfTables(a) => {
                    for t in a.iter() {
                        let o = Tbl::Section(t);
                        let mut keys: Vec<&str> = Self::HARDENING_KEYS.to_vec();
                        keys.push("users");
                        self.known(o, "[[hardening.overrides]]", &keys);
                        let users = self.strings(o, "users").unwrap_or_default();
                        if users.is_empty() {
                            self.err(t.span(), "an override needs users = [...]");
                        }
                        out.overrides.push(HardeningOverride {
                            users,
                            spec: self.hardening_spec(o),
                        });
                    }
                }
                other => self.err(
                    item_span(other),
                    "overrides must be [[hardening.overrides]] tables",
                ),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<PolicyFile, PolicyErrors> {
        parse(text, Path::new("/etc/img-authz/policy.toml"))
    }

    #[test]
    fn parses_a_full_policy() {
        let f = p(r#"
version = 1
[global]
mode = "audit"
allow = ["load"]
local_user = "root@host"
[[rules]]
name = "team"
repositories = ["reg.example.com/team/*", "reg.example.com/base"]
users = ["ci-*"]
verifier = "notary"
allow = ["tag"]
[rules.notary]
server = "https://notary.example.com"
trust_on_first_use = false
signers = ["targets/alice"]
root_pin = { certs = ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] }
[[rules]]
repositories = ["localhost:5000/*"]
verifier = "none"
mode = "audit"
[hardening]
privileged = false
bind_mounts = ["/srv/data"]
cap_add = ["NET_BIND_SERVICE"]
seccomp_profiles = ["sha256:ABCDEF0000000000000000000000000000000000000000000000000000000000"]
[[hardening.overrides]]
users = ["admin"]
privileged = true
"#)
        .unwrap();
        assert_eq!(f.global.mode, Mode::Audit);
        assert_eq!(f.global.allow, vec![Op::Load]);
        assert_eq!(f.rules.len(), 2);
        assert_eq!(f.rules[0].notary.signers, vec!["targets/alice"]);
        assert!(
            matches!(&f.rules[0].notary.root_pin, Some(PinSpec::Certs(ids)) if ids[0].starts_with("aaaa"))
        );
        assert!(f.rules[1].verifiers.is_empty());
        assert_eq!(f.rules[1].mode, Some(Mode::Audit));
        let h = f.hardening.unwrap();
        assert_eq!(h.base.privileged, Some(false));
        assert_eq!(h.base.devices, None);
        // Digests are kept lower-case, as we compute them.
        assert_eq!(
            h.base.seccomp_profiles,
            Some(vec![format!("sha256:abcdef{}", "0".repeat(58))])
        );
        assert_eq!(h.overrides[0].spec.privileged, Some(true));
    }

    #[test]
    fn reports_every_error_with_its_location() {
        let e = p(r#"version = 1
[global]
mode = "loud"
allow = ["load", "everything"]
[[rules]]
repositories = ["reg.example.com/team/*", "UPPER/*", "*x"]
verifier = "notary"
[rules.notary]
server = "http://plain"
signers = ["alice"]
root_pin = { certs = ["short"], ca = "x" }
[[rules]]
verifier = "maybe"
colour = "blue"
[hardening]
privileged = "no"
bind_mounts = ["relative", "/a/../b"]
seccomp_profiles = ["sha256:abc", "SHA256:0000000000000000000000000000000000000000000000000000000000000000"]
"#)
        .unwrap_err();
        let text = e.to_string();
        let want = [
            ("3:", "mode must be"),
            ("4:", "unknown operation \"everything\""),
            ("6:", "UPPER/*"),
            ("6:", "\"*x\""),
            ("9:", "https://"),
            ("10:", "\"alice\" is not a delegation role"),
            ("11:", "exactly one of certs, ca or key"),
            ("12:", "needs repositories"),
            ("13:", "verifier must be"),
            ("14:", "unknown key \"colour\""),
            ("16:", "privileged must be true or false"),
            ("17:", "\"relative\" must be absolute"),
            ("17:", "\"/a/../b\" must be absolute"),
            ("18:", "\"sha256:abc\" must be sha256: and 64 hex digits"),
            ("18:", "\"SHA256:0000"),
        ];
        for (line, msg) in want {
            assert!(
                e.errors
                    .iter()
                    .any(|x| format!("{}:", x.line) == line && x.message.contains(msg)),
                "missing {line} {msg} in:\n{text}"
            );
        }
        assert!(text.starts_with("/etc/img-authz/policy.toml:"), "{text}");
    }

    #[test]
    fn syntax_errors_and_versions() {
        let e = p("version = 1\n[global\n").unwrap_err();
        assert_eq!(e.errors.len(), 1);
        assert_eq!(e.errors[0].line, 2);
        assert!(p("[global]\n")
            .unwrap_err()
            .to_string()
            .contains("version = 1"));
        assert!(p("version = 2\n")
            .unwrap_err()
            .to_string()
            .contains("version must be 1"));
        assert!(p("version = 1\n").is_ok());
    }

    #[test]
    fn referenced_files_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "x").unwrap();
        let path = dir.path().join("policy.toml");
        let ok = parse(
            "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = \"notary\"\n[rules.notary]\ntls_ca = \"ca.pem\"\n",
            &path,
        )
        .unwrap();
        assert_eq!(
            ok.rules[0].notary.tls_ca.as_deref(),
            Some(dir.path().join("ca.pem").as_path())
        );
        let bad = parse(
            "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = \"notary\"\n[rules.notary]\ntls_ca = \"nope.pem\"\n",
            &path,
        )
        .unwrap_err();
        assert!(bad.to_string().contains("nope.pem does not exist"), "{bad}");
    }

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cosign")
    }

    #[test]
    fn cosign_rules() {
        let f = fixtures();
        let text = format!(
            r#"version = 1
[[rules]]
name = "keys"
repositories = ["r.io/a/*"]
verifier = "cosign"
[rules.cosign]
keys = ["keys/p256.pub", "{f}/keys/rsa.pub"]
threshold = 2
[[rules]]
name = "both"
repositories = ["r.io/b/*"]
verifier = ["notary", "cosign"]
require = "any"
[rules.cosign]
identities = [{{ issuer = "https://i.example", subject = "https://s.example/*" }},
              {{ issuer_regexp = "https://(a|b)\\.example", subject_regexp = "https://s\\.example/.+",
                 github_workflow_repository = "acme/app", github_workflow_ref = "refs/heads/main",
                 github_workflow_name = "release", github_workflow_trigger = "push",
                 github_workflow_sha = "0123" }}]
trusted_root = "trusted_root.json"
tlog = "required"
match_reference = true
"#,
            f = f.display()
        );
        let p = parse(&text, &f.join("policy.toml")).unwrap();
        let a = &p.rules[0];
        assert_eq!(a.verifiers, vec![VerifierKind::Cosign]);
        assert_eq!(
            a.cosign.keys,
            vec![f.join("keys/p256.pub"), f.join("keys/rsa.pub")]
        );
        assert_eq!(a.cosign.threshold, 2);
        assert_eq!(a.require, Require::All);
        let b = &p.rules[1];
        assert_eq!(
            b.verifiers,
            vec![VerifierKind::Notary, VerifierKind::Cosign]
        );
        assert_eq!(b.require, Require::Any);
        use crate::trust::cosign::{Identity, Pattern};
        assert_eq!(b.cosign.identities.len(), 2);
        assert_eq!(
            b.cosign.identities[0],
            Identity::new("https://i.example", "https://s.example/*")
        );
        let r = &b.cosign.identities[1];
        assert_eq!(r.issuer, Pattern::regex(r"https://(a|b)\.example").unwrap());
        assert!(r.subject.matches("https://s.example/x"));
        assert!(!r.subject.matches("http://evil/https://s.example/x"));
        assert_eq!(r.github.repository.as_deref(), Some("acme/app"));
        assert_eq!(r.github.git_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(r.github.name.as_deref(), Some("release"));
        assert_eq!(r.github.trigger.as_deref(), Some("push"));
        assert_eq!(r.github.sha.as_deref(), Some("0123"));
        assert!(b.cosign.match_reference);
        assert!(!a.cosign.match_reference);
        assert!(b.cosign.tlog_required);
        assert_eq!(b.cosign.trusted_root, Some(f.join("trusted_root.json")));
    }

    /// `policy validate` reports a malformed Notation trust policy or store
    /// with the specification's reason.
    #[test]
    fn notation_rules() {
        let d = tempfile::tempdir().unwrap();
        let store = d.path().join("truststore/x509/ca/acme");
        std::fs::create_dir_all(&store).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        std::fs::write(store.join("ca.pem"), p.self_signed(&key).unwrap().pem()).unwrap();
        let statement = |name: &str, scope: &str, id: &str| {
            format!(
                r#"{{"name":"{name}","registryScopes":["{scope}"],"signatureVerification":{{"level":"strict"}},"trustStores":["ca:acme"],"trustedIdentities":["x509.subject: {id}"]}}"#
            )
        };
        let write = |body: String| {
            std::fs::write(
                d.path().join("tp.json"),
                format!(r#"{{"version":"1.0","trustPolicies":[{body}]}}"#),
            )
            .unwrap()
        };
        let policy = "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = [\"notary\", \"notation\"]\nrequire = \"any\"\n[rules.notation]\ntrust_policy = \"tp.json\"\ntrust_store = \"truststore\"\n";
        let path = d.path().join("policy.toml");
        write(statement("a", "r.io/app", "C=US, ST=WA, O=acme"));
        let f = parse(policy, &path).unwrap();
        assert_eq!(
            f.rules[0].verifiers,
            vec![VerifierKind::Notary, VerifierKind::Notation]
        );
        assert_eq!(f.rules[0].notation.trust_store, d.path().join("truststore"));
        let fails = |why: &str| {
            let e = parse(policy, &path).unwrap_err().to_string();
            assert!(e.contains(why), "{why}: {e}");
        };
        write(format!(
            "{},{}",
            statement("a", "*", "C=US, ST=WA, O=acme"),
            statement("b", "*", "C=US, ST=WA, O=acme")
        ));
        fails("both use the global scope");
        write(statement("a", "r.io/app", "C=US, O=acme"));
        fails("must contain C, ST (or S) and O");
        write(statement("a", "r.io/app", "C=US, ST=WA, O=acme"));
        std::os::unix::fs::symlink(store.join("ca.pem"), store.join("link.pem")).unwrap();
        fails("symbolic link");
        let e = parse(
            "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = \"notation\"\n",
            &path,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs [rules.notation]"), "{e}");
    }

    #[test]
    fn cosign_rule_errors() {
        let f = fixtures();
        let e = parse(
            r#"version = 1
[[rules]]
repositories = ["r.io/a/*"]
verifier = "cosign"
[[rules]]
repositories = ["r.io/b/*"]
verifier = "cosign"
[rules.cosign]
keys = ["digest", "nope.pub"]
identities = [{ issuer = "https://i.example" }]
threshold = 5
tlog = "sometimes"
[[rules]]
repositories = ["r.io/c/*"]
verifier = ["notary", "notary", "sigstore"]
require = "most"
[rules.cosign]
keys = ["keys/p256.pub"]
[[rules]]
repositories = ["r.io/d/*"]
verifier = "notary"
[rules.cosign]
identities = [{ issuer = "https://i.example", subject = "x" }]
tlog = "required"
"#,
            &f.join("policy.toml"),
        )
        .unwrap_err();
        let text = e.to_string();
        let want = [
            ("2:", "needs [rules.cosign]"),
            ("9:", "digest: no PUBLIC KEY block"),
            ("9:", "nope.pub"),
            ("10:", "needs a non-empty subject or subject_regexp"),
            ("11:", "threshold must be between 1 and"),
            ("12:", "tlog must be"),
            ("15:", "listed twice"),
            (
                "15:",
                "holds \"notary\", \"cosign\", \"notation\" and/or \"digests\"",
            ),
            ("16:", "require must be"),
            ("17:", "do not include cosign"),
            ("22:", "do not include cosign"),
            ("22:", "keyless identities need a trusted_root"),
            ("22:", "needs a trusted_root with the Rekor key"),
        ];
        for (line, msg) in want {
            assert!(
                e.errors
                    .iter()
                    .any(|x| format!("{}:", x.line) == line && x.message.contains(msg)),
                "missing {line} {msg} in:\n{text}"
            );
        }
        let bad_root = parse(
            "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = \"cosign\"\n[rules.cosign]\nkeys = [\"keys/p256.pub\"]\ntrusted_root = \"digest\"\n",
            &f.join("policy.toml"),
        )
        .unwrap_err();
        assert!(
            bad_root.to_string().contains("not a trusted root"),
            "{bad_root}"
        );
        let dup = parse(
            "version = 1\n[[rules]]\nname = \"a\"\nrepositories = [\"r.io/*\"]\nverifier = \"none\"\n[[rules]]\nname = \"a\"\nrepositories = [\"s.io/*\"]\nverifier = \"none\"\n[[rules]]\nname = \"REGISTRY t.io\"\nrepositories = [\"t.io/*\"]\nverifier = \"none\"\n",
            &f.join("policy.toml"),
        )
        .unwrap_err();
        assert!(
            dup.errors
                .iter()
                .any(|e| e.line == 7 && e.message.contains("already named \"a\"")),
            "{dup}"
        );
        assert!(
            dup.errors
                .iter()
                .any(|e| e.line == 11 && e.message.contains("environment's rules")),
            "{dup}"
        );
        let empty = parse(
            "version = 1\n[[rules]]\nrepositories = [\"r.io/*\"]\nverifier = \"cosign\"\n[rules.cosign]\nkeys = []\nidentities = []\n",
            &f.join("policy.toml"),
        )
        .unwrap_err();
        assert!(
            empty.to_string().contains("needs keys or identities"),
            "{empty}"
        );
    }

    #[test]
    fn cosign_identity_errors() {
        let f = fixtures();
        let e = parse(
            r#"version = 1
[[rules]]
repositories = ["r.io/a/*"]
verifier = "cosign"
[rules.cosign]
trusted_root = "trusted_root.json"
match_reference = "yes"
identities = [
  { issuer = "https://i", issuer_regexp = "https://i", subject = "s" },
  { issuer = "https://i", subject_regexp = "a)|(b" },
  { issuer = "https://i", subject_regexp = "(" },
  { issuer = "https://i", subject = "s", github_workflow_ref = "" },
  { issuer = "https://i", subject = "s", github_workflow = "x" },
  { issuer = "https://i" },
]
"#,
            &f.join("policy.toml"),
        )
        .unwrap_err();
        let text = e.to_string();
        for (line, msg) in [
            ("7:", "match_reference must be true or false"),
            ("9:", "issuer or issuer_regexp, not both"),
            ("10:", "subject_regexp: invalid regular expression"),
            ("11:", "subject_regexp: invalid regular expression"),
            ("12:", "github_workflow_ref is empty"),
            ("13:", "unknown key \"github_workflow\""),
            ("14:", "needs a non-empty subject or subject_regexp"),
        ] {
            assert!(
                e.errors
                    .iter()
                    .any(|x| format!("{}:", x.line) == line && x.message.contains(msg)),
                "missing {line} {msg} in:\n{text}"
            );
        }
    }
}
