//! Plugin configuration, compatible with the prior `img-authz-plugin`:
//! `REGISTRY`, `NOTARY` and `NOTARY_ROOT_CA` from the environment, plus our
//! own `IMG_AUTHZ_*` settings. Everything is validated once at start-up; a bad
//! value stops the plugin with a message naming the variable.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::op::Op;
use crate::request::reference::DEFAULT_DOMAIN;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("REGISTRY: {value:?} is not a registry host[:port] ({why})")]
    Registry { value: String, why: &'static str },
    #[error("NOTARY: {value:?} is not a valid https URL ({why})")]
    Notary { value: String, why: String },
    #[error("NOTARY_ROOT_CA: {0}")]
    RootCa(String),
    #[error("IMG_AUTHZ_ALLOW: unknown setting {0:?} (known: {known})", known = Op::known())]
    Allow(String),
    #[error("{name}: {why}")]
    Invalid { name: &'static str, why: String },
    /// An upstream client could not be built (TLS set-up), not a setting.
    #[error("cannot build the {which} client: {why}")]
    Client { which: &'static str, why: String },
}

/// Operations that bring images in by a path other than a verified pull.
/// Each is denied unless switched on (`IMG_AUTHZ_ALLOW=load,build`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow(std::collections::BTreeSet<Op>);

impl Allow {
    /// `IMG_AUTHZ_ALLOW`: a comma-separated list of operations, any case,
    /// or `none`.
    pub fn parse(list: &str) -> Result<Allow, ConfigError> {
        let mut a = Allow::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let lower = item.to_ascii_lowercase();
            if lower == "none" {
                continue;
            }
            match Op::parse(&lower) {
                Some(op) => {
                    a.0.insert(op);
                }
                None => return Err(ConfigError::Allow(item.to_string())),
            }
        }
        Ok(a)
    }

    pub fn contains(&self, op: Op) -> bool {
        self.0.contains(&op)
    }

    /// The operations switched on, in [`Op::ALL`]'s order.
    pub fn ops(&self) -> impl Iterator<Item = Op> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.ops().map(Op::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// The Notary server and the CA behind its TLS certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notary {
    /// Base URL, always https, without a trailing slash.
    pub url: String,
    /// PEM bundle of CA certificates for the server's TLS certificate;
    /// `None` means the system roots.
    pub root_ca_pem: Option<String>,
}

/// Which signatures images must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustMode {
    /// Notary v1 (Docker Content Trust) signatures, bound to content.
    Notary,
    /// No signature checks: the registry allowlist only.
    None,
}

/// Settings of signature verification.
#[derive(Debug, Clone)]
pub struct TrustConfig {
    pub mode: TrustMode,
    /// Where trusted roots and seen versions persist.
    pub state_dir: PathBuf,
    pub root_pins: Vec<PinEntry>,
    /// Trust a repository's first root when no pin applies.
    pub tofu: bool,
    pub signers: Vec<SignerEntry>,
    /// A docker `config.json` with credentials for registries and notary.
    pub docker_config: Option<PathBuf>,
    /// dockerd's API, to learn which image a container would run.
    pub docker_host: String,
    /// Upper bound on reuse of verified metadata.
    pub cache_ttl: Duration,
    /// Reuse of a pull decision (signed digest and registry digest); zero
    /// asks the registry on every pull.
    pub pull_cache_ttl: Duration,
    /// Registries reached over plain HTTP if HTTPS fails (loopback always is).
    pub insecure_registries: Vec<String>,
    /// Largest Notary snapshot, targets or delegation file, in bytes.
    pub notary_max_role: u64,
}

/// The built-in hardening under the policy file's (`IMG_AUTHZ_HARDENING`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HardeningLevel {
    /// Refuse what hands the host to an API user (the default).
    #[default]
    Baseline,
    /// Only the policy file's `[hardening]`, if any.
    Off,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Authorized registries, normalised (`index.docker.io` → `docker.io`).
    pub registries: Vec<String>,
    pub notary: Notary,
    pub allow: Allow,
    /// Deadline of one authorization decision.
    pub deadline: Duration,
    pub trust: TrustConfig,
    pub hardening: HardeningLevel,
}

/// Raw settings as read from flags and environment.
#[derive(Debug, Clone, Default)]
pub struct RawConfig {
    pub registry: String,
    pub notary: String,
    pub notary_root_ca: String,
    pub allow: String,
    pub deadline_ms: Option<u64>,
    pub trust: String,
    pub state_dir: String,
    pub root_pins: String,
    pub disable_tofu: bool,
    pub signers: String,
    pub docker_config: String,
    pub docker_host: String,
    pub cache_ttl_secs: Option<u64>,
    pub pull_cache_secs: Option<u64>,
    pub insecure_registries: String,
    pub hardening: String,
    pub notary_max_role_bytes: Option<u64>,
}

pub const DEFAULT_NOTARY: &str = "https://notary.docker.io";
pub const DEFAULT_DEADLINE: Duration = crate::protocol::DEFAULT_DEADLINE;
pub const DEFAULT_STATE_DIR: &str = "/var/lib/img-authz";
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);
pub const DEFAULT_PULL_CACHE_TTL: Duration = Duration::from_secs(10);
/// No real role file is this small; a lower limit would be a typo.
pub const MIN_NOTARY_MAX_ROLE: u64 = 1024;

impl RawConfig {
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let mut registries = Vec::new();
        for r in list(&self.registry) {
            let r = normalize_registry(r)?;
            if !registries.contains(&r) {
                registries.push(r);
            }
        }
        if registries.is_empty() {
            registries.push(DEFAULT_DOMAIN.to_string());
        }
        let deadline = match self.deadline_ms {
            None => DEFAULT_DEADLINE,
            Some(0) => {
                return Err(ConfigError::Invalid {
                    name: "IMG_AUTHZ_DEADLINE_MS",
                    why: "must be above 0".into(),
                })
            }
            Some(ms) => Duration::from_millis(ms),
        };
        let mode = match self.trust.trim().to_ascii_lowercase().as_str() {
            "" | "notary" => TrustMode::Notary,
            "none" => TrustMode::None,
            other => {
                return Err(ConfigError::Invalid {
                    name: "IMG_AUTHZ_TRUST",
                    why: format!("{other:?} is not notary or none"),
                })
            }
        };
        let docker_host = match self.docker_host.trim() {
            "" => DEFAULT_DOCKER_HOST.to_string(),
            h if h.starts_with("unix://") || h.starts_with("tcp://") => h.to_string(),
            h => {
                return Err(ConfigError::Invalid {
                    name: "DOCKER_HOST",
                    why: format!("{h:?} is not a unix:// or tcp:// address"),
                })
            }
        };
        let hardening = match self.hardening.trim().to_ascii_lowercase().as_str() {
            "" | "baseline" => HardeningLevel::Baseline,
            "off" => HardeningLevel::Off,
            other => {
                return Err(ConfigError::Invalid {
                    name: "IMG_AUTHZ_HARDENING",
                    why: format!("{other:?} is not baseline or off"),
                })
            }
        };
        let mut insecure_registries = Vec::new();
        for r in list(&self.insecure_registries) {
            insecure_registries.push(normalize_registry(r).map_err(|_| ConfigError::Invalid {
                name: "IMG_AUTHZ_INSECURE_REGISTRIES",
                why: format!("{r:?} is not host[:port]"),
            })?);
        }
        let trust = TrustConfig {
            mode,
            state_dir: PathBuf::from(match self.state_dir.trim() {
                "" => DEFAULT_STATE_DIR,
                d => d,
            }),
            root_pins: parse_pins(&self.root_pins)?,
            tofu: !self.disable_tofu,
            signers: parse_signers(&self.signers)?,
            docker_config: match self.docker_config.trim() {
                "" => None,
                p => Some(PathBuf::from(p)),
            },
            docker_host,
            cache_ttl: self
                .cache_ttl_secs
                .map_or(DEFAULT_CACHE_TTL, Duration::from_secs),
            pull_cache_ttl: self
                .pull_cache_secs
                .map_or(DEFAULT_PULL_CACHE_TTL, Duration::from_secs),
            insecure_registries,
            notary_max_role: match self.notary_max_role_bytes {
                None => crate::trust::notary::update::DEFAULT_MAX_ROLE,
                Some(n) if n >= MIN_NOTARY_MAX_ROLE => n,
                Some(n) => {
                    return Err(ConfigError::Invalid {
                        name: "IMG_AUTHZ_NOTARY_MAX_ROLE_BYTES",
                        why: format!("{n} is below the minimum of {MIN_NOTARY_MAX_ROLE} bytes"),
                    })
                }
            },
        };
        Ok(Config {
            registries,
            notary: Notary {
                url: normalize_notary(&self.notary)?,
                root_ca_pem: parse_root_ca(&self.notary_root_ca)?,
            },
            allow: Allow::parse(&self.allow)?,
            deadline,
            trust,
            hardening,
        })
    }
}

/// A number setting; empty means unset.
pub fn opt_u64(name: &'static str, v: &str) -> Result<Option<u64>, ConfigError> {
    match v.trim() {
        "" => Ok(None),
        t => t.parse().map(Some).map_err(|_| ConfigError::Invalid {
            name,
            why: format!("{t:?} is not a whole number"),
        }),
    }
}

/// A yes/no setting; empty means no.
pub fn flag(name: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Ok(false),
        "1" | "true" | "yes" | "on" => Ok(true),
        t => Err(ConfigError::Invalid {
            name,
            why: format!("{t:?} is not 1 or 0"),
        }),
    }
}

/// Items of a list separated by commas, semicolons or newlines.
fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split([',', ';', '\n'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
}

/// Entries `PATTERN=VALUE` separated by `;` or newlines.
fn entries<'a>(s: &'a str, name: &'static str) -> Result<Vec<(&'a str, &'a str)>, ConfigError> {
    s.split([';', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.split_once('=')
                .map(|(p, v)| (p.trim(), v.trim()))
                .filter(|(p, v)| !p.is_empty() && !v.is_empty())
                .ok_or_else(|| ConfigError::Invalid {
                    name,
                    why: format!("{e:?} is not PATTERN=VALUE"),
                })
        })
        .collect()
}

/// A pin or signer pattern: `*`, or a repository (`host/path`) or a prefix
/// of one ending in `*`. A pattern without a registry host never matches a
/// repository name, so it is a mistake that would silently leave
/// repositories unpinned.
/// Returns the pattern with its registry in canonical form, the only form
/// a GUN has.
fn check_gun_pattern(p: &str, name: &'static str) -> Result<String, ConfigError> {
    let err = |why: String| ConfigError::Invalid {
        name,
        why: format!("{p:?}: {why}"),
    };
    if p == "*" {
        return Ok(p.to_string());
    }
    let body = p.strip_suffix('*').unwrap_or(p);
    if body.contains('*') {
        return Err(err("'*' may only end the pattern".into()));
    }
    let Some((host, rest)) = p.split_once('/') else {
        return Err(err(
            "a pattern is a repository host/path or a prefix of one ending in '*'".into(),
        ));
    };
    if !(host.contains(['.', ':']) || host.eq_ignore_ascii_case("localhost")) {
        return Err(err(
            "patterns start with a registry host (docker.io/library/... for Docker Hub)".into(),
        ));
    }
    let host = match normalize_registry(host) {
        Ok(h) => h,
        Err(ConfigError::Registry { why, .. }) => {
            return Err(err(format!("registry {host:?}: {why}")))
        }
        Err(e) => return Err(e),
    };
    Ok(format!("{host}/{rest}"))
}

/// A root pin as written (environment or policy file); its files are read
/// when the policy is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSpec {
    /// Root certificate IDs (64 hex digits, lower-case).
    Certs(Vec<String>),
    /// A PEM file of CA certificates the root must chain to.
    Ca(PathBuf),
    /// A PEM public key (or certificate) the root must be signed with.
    Key(PathBuf),
}

/// `IMG_AUTHZ_ROOT_PINS`' entry: a pin for the repositories of `pattern`
/// (a raw prefix, see `trust::notary::root`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinEntry {
    pub pattern: String,
    pub pin: PinSpec,
}

/// `IMG_AUTHZ_SIGNERS`' entry: the delegation roles that must sign the
/// repositories of `pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerEntry {
    pub pattern: String,
    pub roles: Vec<String>,
}

/// A Notary root certificate ID: 64 hex digits (the policy file and the
/// environment check it alike).
pub fn is_cert_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|c| c.is_ascii_hexdigit())
}

/// A delegation role a signer may be: `targets/NAME`.
pub fn is_delegation_role(role: &str) -> bool {
    role.strip_prefix("targets/").is_some_and(|n| !n.is_empty())
}

/// `IMG_AUTHZ_ROOT_PINS`: `PATTERN=certs:ID[,ID]`, `PATTERN=ca:FILE` or
/// `PATTERN=key:FILE`, where PATTERN is a repository (`host/path`) or a
/// prefix ending in `*`.
fn parse_pins(s: &str) -> Result<Vec<PinEntry>, ConfigError> {
    let err = |why: String| ConfigError::Invalid {
        name: "IMG_AUTHZ_ROOT_PINS",
        why,
    };
    let mut out = Vec::new();
    for (pattern, value) in entries(s, "IMG_AUTHZ_ROOT_PINS")? {
        let pattern = &check_gun_pattern(pattern, "IMG_AUTHZ_ROOT_PINS")?;
        let (kind, arg) = value
            .split_once(':')
            .ok_or_else(|| err(format!("{value:?} is not certs:IDS, ca:FILE or key:FILE")))?;
        let pin = match kind.trim() {
            "certs" => {
                let ids: Vec<String> = arg
                    .split(',')
                    .map(|i| i.trim().to_ascii_lowercase())
                    .filter(|i| !i.is_empty())
                    .collect();
                if ids.is_empty() || !ids.iter().all(|i| is_cert_id(i)) {
                    return Err(err(format!(
                        "{arg:?}: root certificate IDs are 64 hex digits"
                    )));
                }
                PinSpec::Certs(ids)
            }
            // Read when the policy is built (`policy::build`), as a policy
            // file's pins are.
            "ca" => PinSpec::Ca(PathBuf::from(arg.trim())),
            "key" => PinSpec::Key(PathBuf::from(arg.trim())),
            other => {
                return Err(err(format!(
                    "unknown pin kind {other:?} (certs, ca or key)"
                )))
            }
        };
        out.push(PinEntry {
            pattern: pattern.to_string(),
            pin,
        });
    }
    Ok(out)
}

/// `IMG_AUTHZ_SIGNERS`: `PATTERN=targets/alice[,targets/bob]`.
fn parse_signers(s: &str) -> Result<Vec<SignerEntry>, ConfigError> {
    let mut out = Vec::new();
    for (pattern, value) in entries(s, "IMG_AUTHZ_SIGNERS")? {
        let pattern = &check_gun_pattern(pattern, "IMG_AUTHZ_SIGNERS")?;
        let roles: Vec<String> = value
            .split(',')
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        if let Some(bad) = roles.iter().find(|r| !is_delegation_role(r)) {
            return Err(ConfigError::Invalid {
                name: "IMG_AUTHZ_SIGNERS",
                why: format!("{bad:?} is not a delegation role (targets/NAME)"),
            });
        }
        out.push(SignerEntry {
            pattern: pattern.to_string(),
            roles,
        });
    }
    Ok(out)
}

impl Config {
    /// What is loaded, without secrets (for `img-authz status`).
    pub fn summary(&self) -> serde_json::Value {
        let t = &self.trust;
        serde_json::json!({
            "registries": self.registries,
            "notary": self.notary.url,
            "notary_tls_ca": if self.notary.root_ca_pem.is_some() { "NOTARY_ROOT_CA" } else { "system roots" },
            "allow": self.allow.to_string(),
            "deadline_ms": u64::try_from(self.deadline.as_millis()).unwrap_or(u64::MAX),
            "trust": match t.mode { TrustMode::Notary => "notary", TrustMode::None => "none" },
            "state_dir": t.state_dir.display().to_string(),
            "root_pins": t.root_pins.iter().map(|p| p.pattern.clone()).collect::<Vec<_>>(),
            "trust_on_first_use": t.tofu,
            "signers": t.signers.iter().map(|s| format!("{}={}", s.pattern, s.roles.join(","))).collect::<Vec<_>>(),
            "docker_host": t.docker_host,
            "cache_ttl_secs": t.cache_ttl.as_secs(),
            "pull_cache_secs": t.pull_cache_ttl.as_secs(),
            "notary_max_role_bytes": t.notary_max_role,
            "hardening": match self.hardening { HardeningLevel::Baseline => "baseline", HardeningLevel::Off => "off" },
        })
    }

    /// Whether images from `domain` may be used: `REGISTRY` is held in
    /// canonical spelling, and another spelling is another identity.
    pub fn registry_allowed(&self, domain: &str) -> bool {
        self.registries.iter().any(|r| r == domain)
    }
}

/// `host[:port]`, as the registry part of an image reference.
fn normalize_registry(value: &str) -> Result<String, ConfigError> {
    let err = |why| ConfigError::Registry {
        value: value.to_string(),
        why,
    };
    if value.contains("://") {
        return Err(err("give host[:port] without a scheme"));
    }
    if value.contains('/') {
        return Err(err("give host[:port] without a path"));
    }
    // Reuse the reference grammar: `<value>/x` must parse with `value` as domain.
    let probe = format!("{value}/x");
    match crate::request::reference::Reference::parse_normalized(&probe) {
        Ok(r)
            if r.domain.eq_ignore_ascii_case(value)
                || (value == "index.docker.io" && r.domain == DEFAULT_DOMAIN) =>
        {
            // One identity per registry: the spelling images must use.
            crate::request::reference::canonical_domain(&r.domain).map_err(err)
        }
        _ => Err(err(
            "not a valid host name or address with an optional port",
        )),
    }
}

fn normalize_notary(value: &str) -> Result<String, ConfigError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(DEFAULT_NOTARY.to_string());
    }
    // The prior plugin prepended https:// when the scheme was missing.
    let with_scheme = if v.contains("://") {
        v.to_string()
    } else {
        format!("https://{v}")
    };
    let err = |why: String| ConfigError::Notary {
        value: value.to_string(),
        why,
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| err(e.to_string()))?;
    if url.scheme() != "https" {
        return Err(err("Notary servers are reached over https only".into()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err("no host".into()));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(err(
            "give only scheme, host, port and an optional path".into()
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The PEM text of `NOTARY_ROOT_CA`. Users of the prior plugin sometimes pass
/// it with literal `\n` sequences; those are accepted too.
fn parse_root_ca(value: &str) -> Result<Option<String>, ConfigError> {
    let v = value.trim().trim_matches('\'').trim();
    if v.is_empty() {
        return Ok(None);
    }
    let pem = if !v.contains('\n') && v.contains("\\n") {
        v.replace("\\n", "\n")
    } else {
        v.to_string()
    };
    let certs = crate::tls::parse_pem_certificates(pem.as_bytes())
        .map_err(|e| ConfigError::RootCa(e.to_string()))?;
    if certs.is_empty() {
        return Err(ConfigError::RootCa("no PEM CERTIFICATE block found".into()));
    }
    Ok(Some(pem))
}

#[cfg(test)]
mod tests;
