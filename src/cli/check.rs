//! `img-authz check`: would a pull be allowed, or how is an AuthZReq call decided.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use img_authz::decide::Policy;
use img_authz::run::{DecisionLog, Plugin};

use super::{load_config, runtime, PolicyArgs};

#[derive(Args)]
pub struct CheckArgs {
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

pub fn check(args: CheckArgs) -> ExitCode {
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
                Ok((img_authz::run::describe(&req, decoded.as_ref()), d))
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
    println!("{}: {what}", d.outcome.verdict());
    println!(
        "  rule:   {}{}",
        d.check,
        d.source
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default()
    );
    println!("  reason: {}", d.reason);
    if let Some(digest) = &d.digest {
        println!("  digest: {digest}");
    }
    if d.denied_by_a_check() {
        println!("  to allow it: {}", d.hint);
    }
    if d.allowed() {
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
    let ctx = img_authz::decide::Ctx {
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
