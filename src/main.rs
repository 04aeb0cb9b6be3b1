//! `img-authz`: the command line. All logic lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use img_authz::config::{flag, opt_u64, Config, ConfigError, RawConfig, TrustMode};
use img_authz::log::DecisionLog;
use img_authz::plugin::Plugin;
use img_authz::policy::{Policy, PolicyFile};
use img_authz::protocol::{self, ServerOptions};
use img_authz::service;

#[derive(Parser)]
#[command(
    name = "img-authz",
    version,
    about = "Docker authorization plugin: only trusted images run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the plugin on a unix socket (or on the socket systemd passes).
    Serve(Box<ServeArgs>),
    /// Ask a running plugin whether it answers, what it loaded, and its cache figures.
    Status {
        #[arg(long, env = "IMG_AUTHZ_SOCKET", default_value = DEFAULT_SOCKET)]
        socket: PathBuf,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Would a pull of IMAGE and a create of a container from it (default
    /// settings, hardening included) be allowed, and why? The create needs
    /// dockerd (DOCKER_HOST); without it, it is reported as not checked.
    /// Or decide an AuthZReq call from a file. Exit code 0 allow, 1 deny, 2 error.
    Check(Box<CheckArgs>),
    /// Policy file tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file; every error is reported with its location.
    Validate {
        /// The policy file.
        file: PathBuf,
    },
}

#[derive(Args)]
struct CheckArgs {
    /// The image to check, e.g. registry.example.com/app:v1.
    #[arg(required_unless_present = "request", conflicts_with = "request")]
    image: Option<String>,
    /// An AuthZReq call (JSON, as dockerd sends it) to decide instead.
    #[arg(long)]
    request: Option<PathBuf>,
    /// The identity to decide for (a TLS client certificate CN); default:
    /// the policy's local user.
    #[arg(long, default_value = "")]
    user: String,
    #[command(flatten)]
    policy: PolicyArgs,
}

const DEFAULT_SOCKET: &str = "/run/docker/plugins/img-authz.sock";

/// Settings of the policy, from flags or the environment.
#[derive(Args)]
struct PolicyArgs {
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
    policy: String,
}

impl PolicyArgs {
    /// Managed plugins pass every declared variable, set or not: an empty
    /// value means "not set".
    fn raw(&self) -> Result<RawConfig, ConfigError> {
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

#[derive(Args)]
struct ServeArgs {
    /// Plugin socket; dockerd finds legacy plugins at /run/docker/plugins/NAME.sock.
    /// Ignored when systemd passes a listening socket (socket activation).
    #[arg(long, env = "IMG_AUTHZ_SOCKET", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Also append the decision log (JSON lines) to this file.
    #[arg(long, env = "IMG_AUTHZ_DECISION_LOG", default_value = "")]
    decision_log: String,
    /// Log one allowed read in N (0: none, the default; 1: all).
    #[arg(long, env = "IMG_AUTHZ_LOG_READS_SAMPLE", default_value = "")]
    log_reads_sample: String,
    /// Log every allowed read (same as --log-reads-sample 1): 1 or 0.
    #[arg(long, env = "IMG_AUTHZ_LOG_READS", default_value = "", num_args = 0..=1, default_missing_value = "1")]
    log_reads: String,
    /// Serve Prometheus metrics on this address: HOST:PORT, or unix:PATH.
    #[arg(long, env = "IMG_AUTHZ_METRICS_ADDR", default_value = "")]
    metrics_addr: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("img-authz {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Status { socket, json } => runtime().map_or(ExitCode::FAILURE, |rt| {
            rt.block_on(service::status(&socket, json))
        }),
        Command::Serve(args) => serve(*args),
        Command::Check(args) => check(*args),
        Command::Policy {
            command: PolicyCommand::Validate { file },
        } => match img_authz::policy::file::load(&file) {
            Ok(f) => {
                println!(
                    "{}: valid ({} rule(s){})",
                    file.display(),
                    f.rules.len(),
                    if f.hardening.is_some() {
                        ", hardening"
                    } else {
                        ""
                    }
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                eprintln!("{} error(s)", e.errors.len());
                ExitCode::FAILURE
            }
        },
    }
}

/// The configuration and policy file named by the arguments.
fn load_config(args: &PolicyArgs) -> Result<(Config, Option<PolicyFile>), String> {
    let cfg = args
        .raw()
        .and_then(|r| r.validate())
        .map_err(|e| format!("invalid configuration: {e}"))?;
    let file = match args.policy.trim() {
        "" => None,
        p => Some(
            img_authz::policy::file::load(std::path::Path::new(p))
                .map_err(|e| format!("invalid policy:\n{e}"))?,
        ),
    };
    Ok((cfg, file))
}

fn check(args: CheckArgs) -> ExitCode {
    let (cfg, file) = match load_config(&args.policy) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("img-authz check: {e}");
            return ExitCode::from(2);
        }
    };
    let policy = match Policy::new(cfg, file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("img-authz check: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(rt) = runtime() else {
        return ExitCode::from(2);
    };
    if let Some(image) = &args.image {
        return check_image(&policy, &rt, image, &args.user);
    }
    let outcome = rt.block_on(async {
        match &args.request {
            Some(file) => {
                let text = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
                let req: img_authz::protocol::AuthzRequest = serde_json::from_slice(&text)
                    .map_err(|e| format!("{}: not an AuthZReq call: {e}", file.display()))?;
                let plugin = Plugin::new(policy, DecisionLog::default());
                let (decoded, d) = plugin.evaluate(&req).await;
                Ok((img_authz::plugin::describe(&req, decoded.as_ref()), d))
            }
            None => Err("give an IMAGE or --request FILE".to_string()),
        }
    });
    let (what, d) = match outcome {
        Ok(r) => r,
        Err(e) => {
            eprintln!("img-authz check: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match (d.allow, d.audit) {
        (true, false) => "ALLOW",
        (true, true) => "ALLOW (audit mode: would be denied)",
        (false, _) => "DENY",
    };
    println!("{outcome}: {what}");
    println!(
        "  rule:   {}{}",
        d.rule,
        d.source
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default()
    );
    println!("  reason: {}", d.reason);
    if let Some(digest) = &d.digest {
        println!("  digest: {digest}");
    }
    if !d.allow || d.audit {
        println!("  to allow it: {}", d.hint);
    }
    if d.allow {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `check IMAGE`: the pull and a create of it, decided by the library.
fn check_image(policy: &Policy, rt: &tokio::runtime::Runtime, image: &str, user: &str) -> ExitCode {
    let reference = match img_authz::request::reference::Reference::parse_normalized(image) {
        Ok(r) => r.tag_name_only(),
        Err(e) => {
            eprintln!("img-authz check: {image:?} is not an image reference: {e}");
            return ExitCode::from(2);
        }
    };
    let ctx = img_authz::policy::Ctx {
        user: policy.user_of(user),
        api_version: None,
    };
    let c = rt.block_on(policy.check_image(&reference, &ctx));
    print!("{}", c.report());
    if c.allowed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
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

fn serve(args: ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IMG_AUTHZ_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let (cfg, file) = match load_config(&args.policy) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("img-authz: {e}");
            return ExitCode::from(2);
        }
    };
    warn_about_trust(&cfg);
    let policy = match Policy::new(cfg.clone(), file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("img-authz: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let sample = match (
        flag("IMG_AUTHZ_LOG_READS", &args.log_reads),
        opt_u64("IMG_AUTHZ_LOG_READS_SAMPLE", &args.log_reads_sample),
    ) {
        (Ok(true), _) => 1,
        (Ok(false), Ok(n)) => n.unwrap_or(0),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("img-authz: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let log_file = Some(args.decision_log.trim())
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let log = match DecisionLog::new(sample, log_file.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("img-authz: cannot open the decision log: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async move {
        let (listener, activated) = match service::listener(&args.socket) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("img-authz: cannot listen on {}: {e}", args.socket.display());
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            socket = %if activated { "from systemd".to_string() } else { args.socket.display().to_string() },
            registries = %cfg.registries.join(","),
            notary = %cfg.notary.url,
            allow = %cfg.allow,
            trust = ?cfg.trust.mode,
            state_dir = %cfg.trust.state_dir.display(),
            "img-authz {} serving",
            env!("CARGO_PKG_VERSION")
        );
        let opts = ServerOptions { deadline: cfg.deadline };
        let plugin = Arc::new(Plugin::new(policy, log));
        if let Some(addr) = Some(args.metrics_addr.trim()).filter(|a| !a.is_empty()) {
            if let Err(e) = service::spawn_metrics(addr, plugin.clone()).await {
                eprintln!("img-authz: cannot serve metrics on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        }
        if let Some(path) = Some(args.policy.policy.trim()).filter(|p| !p.is_empty()) {
            service::spawn_reloader(plugin.clone(), cfg.clone(), PathBuf::from(path));
        }
        let result = protocol::serve(listener, plugin, opts, service::shutdown_signal()).await;
        if !activated {
            let _ = std::fs::remove_file(&args.socket);
        }
        match result {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("img-authz: server failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Trust on first use is Docker's model and the prior plugin's; say so.
/// notary.docker.io (the default NOTARY) is gone: say that too.
fn warn_about_trust(cfg: &Config) {
    use img_authz::trust::notary_verifier::{
        is_docker_hub_notary, DOCKER_HUB_INSTEAD, DOCKER_HUB_SHUTDOWN,
    };
    if cfg.trust.mode == TrustMode::Notary && is_docker_hub_notary(&cfg.notary.url) {
        tracing::warn!(
            notary = %cfg.notary.url,
            "NOTARY is notary.docker.io: {DOCKER_HUB_SHUTDOWN}; repositories of REGISTRY without \
             a policy-file rule are denied once it is gone; {DOCKER_HUB_INSTEAD}"
        );
    }
    match cfg.trust.mode {
        TrustMode::None => tracing::warn!("IMG_AUTHZ_TRUST=none: images are not signature-checked"),
        TrustMode::Notary if cfg.trust.tofu => tracing::warn!(
            pins = cfg.trust.root_pins.len(),
            "repositories without a root pin are trusted on first use; pin their roots \
             (IMG_AUTHZ_ROOT_PINS) and set IMG_AUTHZ_DISABLE_TOFU=1"
        ),
        TrustMode::Notary => {}
    }
}
