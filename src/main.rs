//! `img-authz`: the command line. All logic lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use img_authz::config::RawConfig;
use img_authz::log::DecisionLog;
use img_authz::plugin::Plugin;
use img_authz::policy::Policy;
use img_authz::protocol::{self, ServerOptions};

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
    /// Serve the plugin on a unix socket.
    Serve(ServeArgs),
    /// Print the version.
    Version,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Plugin socket; dockerd finds legacy plugins at /run/docker/plugins/NAME.sock.
    #[arg(
        long,
        env = "IMG_AUTHZ_SOCKET",
        default_value = "/run/docker/plugins/img-authz.sock"
    )]
    socket: PathBuf,
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
    /// Deadline of one decision, in milliseconds.
    #[arg(long, env = "IMG_AUTHZ_DEADLINE_MS")]
    deadline_ms: Option<u64>,
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
    /// Refuse repositories whose root is not pinned (no trust on first use).
    #[arg(long, env = "IMG_AUTHZ_DISABLE_TOFU", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    disable_tofu: bool,
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
    /// Seconds verified metadata and pull decisions are reused (never past
    /// the metadata's own expiry).
    #[arg(long, env = "IMG_AUTHZ_CACHE_TTL_SECS")]
    cache_ttl_secs: Option<u64>,
    /// Seconds a pull decision (signed digest = registry digest) is reused; 0 asks every time.
    #[arg(long, env = "IMG_AUTHZ_PULL_CACHE_SECS")]
    pull_cache_secs: Option<u64>,
    /// Registries to reach over plain HTTP if HTTPS fails (loopback always is).
    #[arg(long, env = "IMG_AUTHZ_INSECURE_REGISTRIES", default_value = "")]
    insecure_registries: String,
    /// Also log allowed reads.
    #[arg(long, env = "IMG_AUTHZ_LOG_READS", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    log_reads: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("img-authz {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Serve(args) => serve(args),
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
    let raw = RawConfig {
        registry: args.registry,
        notary: args.notary,
        notary_root_ca: args.notary_root_ca,
        allow: args.allow,
        deadline_ms: args.deadline_ms,
        trust: args.trust,
        state_dir: args.state_dir,
        root_pins: args.root_pins,
        disable_tofu: args.disable_tofu,
        signers: args.signers,
        docker_config: args.docker_config,
        docker_host: args.docker_host,
        cache_ttl_secs: args.cache_ttl_secs,
        pull_cache_secs: args.pull_cache_secs,
        insecure_registries: args.insecure_registries,
    };
    let cfg = match raw.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("img-authz: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    warn_about_trust(&cfg);
    let policy = match Policy::new(cfg.clone()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("img-authz: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("img-authz: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let listener = match protocol::bind(&args.socket) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("img-authz: cannot listen on {}: {e}", args.socket.display());
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            socket = %args.socket.display(),
            registries = %cfg.registries.join(","),
            notary = %cfg.notary.url,
            allow = %cfg.allow,
            trust = ?cfg.trust.mode,
            state_dir = %cfg.trust.state_dir.display(),
            "img-authz {} serving",
            env!("CARGO_PKG_VERSION")
        );
        let opts = ServerOptions {
            deadline: cfg.deadline,
        };
        let plugin = Arc::new(Plugin::new(
            policy,
            DecisionLog {
                log_reads: args.log_reads,
            },
        ));
        let result = protocol::serve(listener, plugin, opts, shutdown_signal()).await;
        let _ = std::fs::remove_file(&args.socket);
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
fn warn_about_trust(cfg: &img_authz::config::Config) {
    use img_authz::config::TrustMode;
    match cfg.trust.mode {
        TrustMode::None => tracing::warn!("IMG_AUTHZ_TRUST=none: images are not signature-checked"),
        TrustMode::Notary if cfg.trust.tofu => tracing::warn!(
            pins = cfg.trust.root_pins.len(),
            "repositories without a root pin are trusted on first use; pin their roots (IMG_AUTHZ_ROOT_PINS) \
             and set IMG_AUTHZ_DISABLE_TOFU=1"
        ),
        TrustMode::Notary => {}
    }
}

/// SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers we still serve; the process can be killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
