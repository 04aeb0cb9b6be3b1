//! The compile step: a checked configuration and policy file become a
//! [`Policy`] ready to decide.
//!
//! This is the only place in `policy` that reads files (pin CAs and keys,
//! cosign keys and trusted roots, Notation trust stores, TLS CAs) or builds
//! clients, and it builds each exactly once: one daemon client, one registry
//! client, one HTTP client per Notary rule, one trust-state store per Notary
//! server, and the verifiers of the rules. Deciding (`decide` and below)
//! does no set-up and never reaches back here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::binding::{Trust, UPSTREAM_TIMEOUT};
use super::file::{CosignSpec, NotarySpec, NotationSpec, VerifierKind};
use super::rules::RepoPattern;
use super::{ownership, CompiledRule, Policy, PolicyFile};
use crate::config::{Config, ConfigError, PinSpec, TrustMode};
use crate::credentials::Credentials;
use crate::daemon::DaemonClient;
use crate::http::HttpClient;
use crate::metrics::Upstream;
use crate::registry::RegistryClient;
use crate::trust::cache::TtlCache;
use crate::trust::cosign::keys::PublicKey;
use crate::trust::cosign::root::TrustedRoot;
use crate::trust::cosign::{CosignPolicy, CosignVerifier, Tlog};
use crate::trust::notary::client::HttpFetch;
use crate::trust::notary::root::{Pin, PinRule, RootPolicy};
use crate::trust::notary::state::StateStore;
use crate::trust::notary::verifier::{NotaryVerifier, SignerRule};
use crate::trust::spki::public_key_spki;
use crate::trust::Verifier;

/// Why a policy could not be built. The messages name the setting to fix,
/// as `ConfigError`'s do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A setting of the environment (`name`) is unusable.
    #[error("{name}: {why}")]
    Setting { name: &'static str, why: String },
    /// A file the policy file names could not be read or is unusable.
    #[error("IMG_AUTHZ_POLICY: {}: {why}", path.display())]
    PolicyFile { path: PathBuf, why: String },
    /// A trust source the policy file names (a cosign trusted root, a
    /// Notation trust policy or store) is unusable; the message names it.
    #[error("IMG_AUTHZ_POLICY: {0}")]
    TrustSource(String),
    /// `NOTARY_ROOT_CA` is unusable.
    #[error("NOTARY_ROOT_CA: {0}")]
    RootCa(String),
    /// An upstream client could not be built (TLS set-up), not a setting.
    #[error("cannot build the {which} client: {why}")]
    Client { which: &'static str, why: String },
}

impl From<ConfigError> for BuildError {
    fn from(e: ConfigError) -> BuildError {
        match e {
            ConfigError::Invalid { name, why } => BuildError::Setting { name, why },
            ConfigError::RootCa(why) => BuildError::RootCa(why),
            ConfigError::Client { which, why } => BuildError::Client { which, why },
            other => BuildError::Setting {
                name: "configuration",
                why: other.to_string(),
            },
        }
    }
}

fn in_file(path: &Path) -> impl Fn(String) -> BuildError + '_ {
    move |why| BuildError::PolicyFile {
        path: path.to_path_buf(),
        why,
    }
}

/// The shared clients while the rules are compiled.
struct Builder<'c> {
    cfg: &'c Config,
    creds: Arc<Credentials>,
    registry: RegistryClient,
    /// `NOTARY`: its state takes over files of the earlier layout.
    default_notary: String,
    /// Trust state by Notary server URL, shared by the rules using it.
    stores: HashMap<String, Arc<StateStore>>,
    verifiers: Vec<Arc<dyn Verifier>>,
    /// `IMG_AUTHZ_ROOT_PINS`, its files read.
    env_pins: Vec<PinRule>,
}

impl Policy {
    /// Build the policy from the environment's configuration and, if given,
    /// a policy file, with the clients they need.
    pub fn new(cfg: Config, file: Option<PolicyFile>) -> Result<Policy, BuildError> {
        let t = &cfg.trust;
        let daemon = DaemonClient::new(&t.docker_host, UPSTREAM_TIMEOUT).map_err(|e| {
            BuildError::Setting {
                name: "DOCKER_HOST",
                why: e.to_string(),
            }
        })?;
        let creds = Arc::new(match &t.docker_config {
            Some(p) => Credentials::load(p).map_err(|e| BuildError::Setting {
                name: "IMG_AUTHZ_DOCKER_CONFIG",
                why: e.to_string(),
            })?,
            None => Credentials::default(),
        });
        let registry_http =
            HttpClient::new(Upstream::Registry, None, creds.clone(), UPSTREAM_TIMEOUT).map_err(
                |e| BuildError::Client {
                    which: "registry",
                    why: e.to_string(),
                },
            )?;
        crate::trust::notary::update::set_max_role(t.notary_max_role);
        // Fail at start-up, not at the first pull, on an unusable directory.
        StateStore::new(Some(&t.state_dir)).map_err(|e| BuildError::Setting {
            name: "IMG_AUTHZ_STATE_DIR",
            why: e.to_string(),
        })?;
        let mut b = Builder {
            cfg: &cfg,
            creds,
            registry: RegistryClient::new(Arc::new(registry_http), t.insecure_registries.clone()),
            default_notary: cfg.notary.url.trim_end_matches('/').to_string(),
            stores: HashMap::new(),
            verifiers: Vec::new(),
            env_pins: env_pins(&cfg)?,
        };
        let mut rules = Vec::new();
        if let Some(f) = &file {
            for r in &f.rules {
                let mut vs = Vec::new();
                for k in &r.verifiers {
                    vs.push(match k {
                        VerifierKind::Notary => b.notary(Some(&r.notary))?,
                        VerifierKind::Cosign => b.cosign(&r.cosign)?,
                        VerifierKind::Digests => b.pinned(&r.digests),
                        VerifierKind::Notation => b.notation(&r.notation)?,
                    });
                }
                let verifier = match vs.len() {
                    0 => None,
                    1 => vs.pop(),
                    _ => Some(
                        Arc::new(crate::trust::combined::Combined::new(vs, r.require))
                            as Arc<dyn Verifier>,
                    ),
                };
                rules.push(CompiledRule {
                    name: r.name.clone(),
                    patterns: r
                        .repositories
                        .iter()
                        .map(|p| RepoPattern::from_canonical(p))
                        .collect(),
                    users: r.users.clone(),
                    verifier,
                    mode: r.mode.unwrap_or(f.global.mode),
                    allow: r.allow.clone(),
                });
            }
        }
        let env_verifier = match cfg.trust.mode {
            TrustMode::Notary => Some(b.notary(None)?),
            TrustMode::None => None,
        };
        let global_mode = file.as_ref().map(|f| f.global.mode).unwrap_or_default();
        for reg in &cfg.registries {
            rules.push(CompiledRule {
                name: format!("REGISTRY {reg}"),
                patterns: vec![RepoPattern::Under(reg.clone())],
                users: Vec::new(),
                verifier: env_verifier.clone(),
                mode: global_mode,
                allow: Vec::new(),
            });
        }
        let mut allow: Vec<_> = cfg.allow.ops().collect();
        let (mut local_user, mut self_names, mut self_containers) = (
            "local".to_string(),
            vec!["img-authz".to_string()],
            Vec::new(),
        );
        if let Some(f) = &file {
            allow.extend(f.global.allow.iter().copied());
            if let Some(u) = &f.global.local_user {
                local_user = u.clone();
            }
            self_names.extend(f.global.self_names.iter().cloned());
            self_containers = f.global.self_containers.clone();
        }
        let ownership = file
            .as_ref()
            .and_then(|f| f.ownership.as_ref())
            .filter(|o| o.enabled)
            .map(|o| ownership::Ownership {
                admins: o.admins.clone(),
                store: crate::ownership_store::OwnerStore::new(&cfg.trust.state_dir),
            });
        let trust = Trust {
            registry: b.registry,
            // The same client (and image-store cache) as the policy's own.
            daemon: daemon.clone(),
            pulls: TtlCache::new(4096),
            pull_ttl: cfg.trust.pull_cache_ttl,
            verifiers: b.verifiers,
        };
        Ok(Policy {
            ownership,
            cfg,
            rules,
            allow,
            mode: global_mode,
            local_user,
            self_names,
            self_containers,
            daemon,
            trust,
            file,
            facts: std::sync::Mutex::new(None),
        })
    }

    /// A policy without signature checks (the registry allowlist only) and
    /// no policy file, for tests of the decoding rules.
    pub fn without_trust(mut cfg: Config) -> Result<Policy, BuildError> {
        cfg.trust.mode = TrustMode::None;
        Policy::new(cfg, None)
    }
}

impl Builder<'_> {
    fn keep(&mut self, v: Arc<dyn Verifier>) -> Arc<dyn Verifier> {
        self.verifiers.push(v.clone());
        v
    }

    /// A Notary verifier from the environment's settings, refined by a
    /// policy rule's `[rules.notary]` when given.
    fn notary(&mut self, spec: Option<&NotarySpec>) -> Result<Arc<dyn Verifier>, BuildError> {
        let cfg = self.cfg;
        let t = &cfg.trust;
        let server = spec
            .and_then(|s| s.server.clone())
            .unwrap_or_else(|| cfg.notary.url.clone())
            .trim_end_matches('/')
            .to_string();
        let ca_file = spec.and_then(|s| s.tls_ca.as_ref());
        let ca = match ca_file {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| in_file(p)(e.to_string()))?),
            None => cfg.notary.root_ca_pem.clone(),
        };
        let http = HttpClient::new(
            Upstream::Notary,
            ca.as_deref(),
            self.creds.clone(),
            UPSTREAM_TIMEOUT,
        )
        // Blame the setting the CA came from: the rule's file or NOTARY_ROOT_CA.
        .map_err(|e| match ca_file {
            Some(p) => in_file(p)(e.to_string()),
            None => BuildError::RootCa(e.to_string()),
        })?;
        let mut pins = self.env_pins.clone();
        let mut signers: Vec<SignerRule> = t
            .signers
            .iter()
            .map(|s| SignerRule {
                pattern: s.pattern.clone().into(),
                roles: s.roles.clone(),
            })
            .collect();
        let mut tofu = t.tofu;
        if let Some(s) = spec {
            // A rule's own pin covers every repository of the rule. It
            // replaces the environment's pins (a `*` pin added to them would
            // lose to any more specific one, see `RootPolicy::pin_for`).
            if let Some(p) = &s.root_pin {
                let blame = |f: &Path, why: String| in_file(f)(why);
                pins = vec![PinRule {
                    pattern: "*".into(),
                    pin: load_pin(p, &blame)?,
                }];
            }
            if !s.signers.is_empty() {
                signers = vec![SignerRule {
                    pattern: "*".into(),
                    roles: s.signers.clone(),
                }];
            }
            if let Some(t) = s.tofu {
                tofu = t;
            }
        }
        let store = self.store_for(&server)?;
        let v: Arc<dyn Verifier> = Arc::new(NotaryVerifier::new(
            Arc::new(HttpFetch::new(&server, Arc::new(http))),
            RootPolicy { pins, tofu },
            store,
            signers,
            t.cache_ttl,
            4096,
        ));
        Ok(self.keep(v))
    }

    /// The trust state of one Notary server (roots and versions of one
    /// server never decide for another).
    fn store_for(&mut self, server: &str) -> Result<Arc<StateStore>, BuildError> {
        if let Some(s) = self.stores.get(server) {
            return Ok(s.clone());
        }
        let s = Arc::new(
            StateStore::for_server(
                &self.cfg.trust.state_dir,
                server,
                server.eq_ignore_ascii_case(&self.default_notary),
            )
            .map_err(|e| BuildError::Setting {
                name: "IMG_AUTHZ_STATE_DIR",
                why: e.to_string(),
            })?,
        );
        self.stores.insert(server.to_string(), s.clone());
        Ok(s)
    }

    /// A cosign verifier for a policy rule's `[rules.cosign]`.
    fn cosign(&mut self, spec: &CosignSpec) -> Result<Arc<dyn Verifier>, BuildError> {
        let mut keys = Vec::new();
        for f in &spec.keys {
            let pem = std::fs::read_to_string(f).map_err(|e| in_file(f)(e.to_string()))?;
            let key = PublicKey::from_pem(&pem).map_err(|e| in_file(f)(e.to_string()))?;
            let name = f.file_name().map_or_else(
                || f.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            keys.push((name, key));
        }
        let root = match &spec.trusted_root {
            Some(p) => Some(Arc::new(
                TrustedRoot::load(p).map_err(|e| BuildError::TrustSource(e.to_string()))?,
            )),
            None => None,
        };
        let policy = CosignPolicy {
            keys,
            identities: spec.identities.clone(),
            threshold: spec.threshold.max(1),
            root,
            tlog: if spec.tlog_required {
                Tlog::Required
            } else {
                Tlog::Ignore
            },
            match_reference: spec.match_reference,
        };
        let v: Arc<dyn Verifier> = Arc::new(CosignVerifier::new(
            policy,
            self.registry.clone(),
            self.cfg.trust.cache_ttl,
            4096,
        ));
        Ok(self.keep(v))
    }

    /// A verifier of a rule's pinned digests (`digests`, `digests_file`).
    fn pinned(&mut self, digests: &[String]) -> Arc<dyn Verifier> {
        Arc::new(crate::trust::pinned::Pinned::new(
            digests.iter().cloned(),
            self.registry.clone(),
        ))
    }

    /// A Notation verifier for a policy rule's `[rules.notation]`.
    fn notation(&mut self, spec: &NotationSpec) -> Result<Arc<dyn Verifier>, BuildError> {
        let loaded =
            crate::trust::notation::NotationConfig::load(&spec.trust_policy, &spec.trust_store)
                .map_err(|e| BuildError::TrustSource(e.to_string()))?;
        let v: Arc<dyn Verifier> = Arc::new(crate::trust::notation::NotationVerifier::new(
            loaded,
            self.registry.clone(),
            self.cfg.trust.cache_ttl,
            4096,
        ));
        Ok(self.keep(v))
    }
}

/// A root pin, its files read; `blame` names the setting in errors.
fn load_pin(p: &PinSpec, blame: &dyn Fn(&Path, String) -> BuildError) -> Result<Pin, BuildError> {
    Ok(match p {
        PinSpec::Certs(ids) => Pin::Certs(ids.clone()),
        PinSpec::Ca(f) => {
            let pem = std::fs::read(f).map_err(|e| blame(f, e.to_string()))?;
            let certs =
                crate::tls::parse_pem_certificates(&pem).map_err(|e| blame(f, e.to_string()))?;
            if certs.is_empty() {
                return Err(blame(f, "no CERTIFICATE in the file".into()));
            }
            Pin::Ca(certs)
        }
        PinSpec::Key(f) => {
            let pem = std::fs::read_to_string(f).map_err(|e| blame(f, e.to_string()))?;
            Pin::Keys(vec![
                public_key_spki(&pem).map_err(|e| blame(f, e.to_string()))?
            ])
        }
    })
}

/// `IMG_AUTHZ_ROOT_PINS`, read once for every Notary verifier.
fn env_pins(cfg: &Config) -> Result<Vec<PinRule>, BuildError> {
    let blame = |f: &Path, why: String| BuildError::Setting {
        name: "IMG_AUTHZ_ROOT_PINS",
        why: format!("{}: {why}", f.display()),
    };
    cfg.trust
        .root_pins
        .iter()
        .map(|p| {
            Ok(PinRule {
                pattern: p.pattern.clone().into(),
                pin: load_pin(&p.pin, &blame)?,
            })
        })
        .collect()
}
