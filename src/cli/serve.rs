//! `img-authz serve`: the plugin as a service.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use img_authz::decide::{flag, opt_u64, Config, Policy, TrustMode};
use img_authz::protocol::{self, ServerOptions};
use img_authz::run::{self, DecisionLog, Plugin};

use super::{load_config, runtime, PolicyArgs, DEFAULT_SOCKET};

#[derive(Args)]
pub struct ServeArgs {
    /// Plugin socket; dockerd finds legacy plugins at /run/docker/plugins/NAME.sock.
    /// Ignored when systemd passes a listening socket (socket activation).
    #[arg(long, env = "IMG_AUTHZ_SOCKET", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    bundle: super::bundle::ServeBundleArgs,
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

pub fn serve(args: ServeArgs) -> ExitCode {
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
    let bundle = match img_authz::fleet::Settings::parse(
        &args.bundle.bundle,
        &args.bundle.pin(),
        &args.bundle.options(),
    ) {
        Ok(Some(_)) if file.is_some() => {
            eprintln!(
                "img-authz: IMG_AUTHZ_POLICY and IMG_AUTHZ_BUNDLE exclude each other: the bundle holds the policy file"
            );
            return ExitCode::from(2);
        }
        Ok(b) => b,
        Err(e) => {
            eprintln!("img-authz: invalid configuration: {e}");
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
        let (listener, activated) = match run::listener(&args.socket) {
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
        let log = match log.start(&cfg.trust.state_dir) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("img-authz: decision log: {e}");
                return ExitCode::from(2);
            }
        };
        let plugin = Arc::new(Plugin::new(policy, log));
        if let Some(addr) = Some(args.metrics_addr.trim()).filter(|a| !a.is_empty()) {
            if let Err(e) = run::spawn_metrics(addr, plugin.clone()).await {
                eprintln!("img-authz: cannot serve metrics on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        }
        if let Some(settings) = bundle {
            match img_authz::fleet::Source::new(plugin.clone(), cfg.clone(), settings) {
                Ok(source) => {
                    let source = Arc::new(source);
                    source.boot();
                    source.spawn();
                }
                Err(e) => {
                    eprintln!("img-authz: cannot read the bundle: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        if let Some(path) = Some(args.policy.policy.trim()).filter(|p| !p.is_empty()) {
            run::spawn_reloader(plugin.clone(), cfg.clone(), PathBuf::from(path));
        }
        let last = plugin.clone();
        let result = protocol::serve(listener, plugin, opts, run::shutdown_signal()).await;
        // The last decisions are still on their way to stderr and the file.
        let _ = tokio::task::spawn_blocking(move || last.flush_log(std::time::Duration::from_secs(2))).await;
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
    use img_authz::run::{is_docker_hub_notary, DOCKER_HUB_INSTEAD, DOCKER_HUB_SHUTDOWN};
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
