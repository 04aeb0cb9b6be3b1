//! The subcommands of `img-authz`, one file each, and what they share:
//! the policy settings (flags or environment) and the runtime.

pub mod bundle;
pub mod check;
pub mod policy;
pub mod serve;
pub mod status;

use clap::Args;

use img_authz::decide::{flag, opt_u64, Config, ConfigError, PolicyFile, RawConfig};

pub const DEFAULT_SOCKET: &str = "/run/docker/plugins/img-authz.sock";

/// Settings of the policy, from flags or the environment.
#[derive(Args)]
pub struct PolicyArgs {
    /// Authorized registries, host[:port], comma-separated (empty: docker.io).
    #[arg(long, env = "REGISTRY", default_value = "")]
    registry: String,
    /// Notary server URL (https).
    #[arg(long, env = "NOTARY", default_value = "")]
    notary: String,
    /// PEM of the CA behind the Notary server's TLS certificate.
    #[arg(
        long,
        env = "NOTARY_ROOT_CA",
        default_value = "",
        hide_env_values = true
    )]
    notary_root_ca: String,
    /// Operations allowed although they bypass verification: import, load,
    /// build, commit, plugins, tag, swarm (comma-separated).
    #[arg(long, env = "IMG_AUTHZ_ALLOW", default_value = "")]
    allow: String,
    /// Deadline of one decision, in milliseconds (default 10000).
    #[arg(long, env = "IMG_AUTHZ_DEADLINE_MS", default_value = "")]
    deadline_ms: String,
    /// Signature verification: notary (default) or none.
    #[arg(long, env = "IMG_AUTHZ_TRUST", default_value = "notary")]
    trust: String,
    /// Where trusted roots and seen metadata versions persist.
    #[arg(
        long,
        env = "IMG_AUTHZ_STATE_DIR",
        default_value = "/var/lib/img-authz"
    )]
    state_dir: String,
    /// Root pins: PATTERN=certs:ID[,ID] | PATTERN=ca:FILE | PATTERN=key:FILE, separated by ';'.
    #[arg(long, env = "IMG_AUTHZ_ROOT_PINS", default_value = "")]
    root_pins: String,
    /// Refuse repositories whose root is not pinned (no trust on first use): 1 or 0.
    #[arg(long, env = "IMG_AUTHZ_DISABLE_TOFU", default_value = "", num_args = 0..=1, default_missing_value = "1")]
    disable_tofu: String,
    /// Required signer roles: PATTERN=targets/NAME[,targets/NAME], separated by ';'.
    #[arg(long, env = "IMG_AUTHZ_SIGNERS", default_value = "")]
    signers: String,
    /// A docker config.json with credentials for registries and notary servers.
    #[arg(long, env = "IMG_AUTHZ_DOCKER_CONFIG", default_value = "")]
    docker_config: String,
    /// dockerd's API, to learn which image a container would run.
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    docker_host: String,
    /// Seconds verified metadata is reused, never past its own expiry (default 30).
    #[arg(long, env = "IMG_AUTHZ_CACHE_TTL_SECS", default_value = "")]
    cache_ttl_secs: String,
    /// Seconds a pull decision (signed digest = registry digest) is reused; 0 asks every time (default 10).
    #[arg(long, env = "IMG_AUTHZ_PULL_CACHE_SECS", default_value = "")]
    pull_cache_secs: String,
    /// Registries to reach over plain HTTP if HTTPS fails (loopback always is).
    #[arg(long, env = "IMG_AUTHZ_INSECURE_REGISTRIES", default_value = "")]
    insecure_registries: String,
    /// Largest Notary snapshot, targets or delegation file in bytes, at
    /// least 1024 (default 4194304).
    #[arg(long, env = "IMG_AUTHZ_NOTARY_MAX_ROLE_BYTES", default_value = "")]
    notary_max_role_bytes: String,
    /// Built-in hardening: baseline (refuse what hands the host to an API
    /// user; the default) or off. A policy file's [hardening] builds on it.
    #[arg(long, env = "IMG_AUTHZ_HARDENING", default_value = "")]
    hardening: String,
    /// Policy file (TOML): per-repository rules, hardening, users, modes.
    /// It extends the settings above and is reloaded on SIGHUP and on change.
    #[arg(long, env = "IMG_AUTHZ_POLICY", default_value = "")]
    pub policy: String,
}

impl PolicyArgs {
    /// Managed plugins pass every declared variable, set or not: an empty
    /// value means "not set".
    pub fn raw(&self) -> Result<RawConfig, ConfigError> {
        Ok(RawConfig {
            registry: self.registry.clone(),
            notary: self.notary.clone(),
            notary_root_ca: self.notary_root_ca.clone(),
            allow: self.allow.clone(),
            deadline_ms: opt_u64("IMG_AUTHZ_DEADLINE_MS", &self.deadline_ms)?,
            trust: self.trust.clone(),
            state_dir: self.state_dir.clone(),
            root_pins: self.root_pins.clone(),
            disable_tofu: flag("IMG_AUTHZ_DISABLE_TOFU", &self.disable_tofu)?,
            signers: self.signers.clone(),
            docker_config: self.docker_config.clone(),
            docker_host: self.docker_host.clone(),
            cache_ttl_secs: opt_u64("IMG_AUTHZ_CACHE_TTL_SECS", &self.cache_ttl_secs)?,
            pull_cache_secs: opt_u64("IMG_AUTHZ_PULL_CACHE_SECS", &self.pull_cache_secs)?,
            insecure_registries: self.insecure_registries.clone(),
            hardening: self.hardening.clone(),
            notary_max_role_bytes: opt_u64(
                "IMG_AUTHZ_NOTARY_MAX_ROLE_BYTES",
                &self.notary_max_role_bytes,
            )?,
        })
    }
}

/// Why `serve` or `check` cannot load what the arguments name.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("invalid configuration: {0}")]
    Config(ConfigError),
    #[error("invalid policy:\n{0}")]
    Policy(img_authz::decide::file::PolicyErrors),
}

/// The configuration and policy file named by the arguments.
pub fn load_config(args: &PolicyArgs) -> Result<(Config, Option<PolicyFile>), LoadError> {
    let cfg = args
        .raw()
        .and_then(|r| r.validate())
        .map_err(LoadError::Config)?;
    let file = match args.policy.trim() {
        "" => None,
        p => Some(
            img_authz::decide::file::load(std::path::Path::new(p)).map_err(LoadError::Policy)?,
        ),
    };
    Ok((cfg, file))
}

pub fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("img-authz: cannot start the runtime: {e}");
            None
        }
    }
}
