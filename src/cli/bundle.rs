//! `img-authz bundle push|pull`: publish a policy bundle, or fetch and
//! verify one for inspection. The format is in src/bundle/mod.rs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use img_authz::bundle::fetch::Fetcher;
use img_authz::bundle::push::Pusher;
use img_authz::bundle::serve::Pin;
use img_authz::bundle::{Bundle, BundleRef};

use super::runtime;

#[derive(Subcommand)]
pub enum BundleCommand {
    /// Build a bundle of every file in DIR (DIR/policy.toml and the files
    /// it names) and push it to REF (oci://registry/path:tag). Sign the
    /// digest it prints (cosign sign --key KEY REF@DIGEST).
    Push {
        dir: PathBuf,
        reference: String,
        /// The bundle's revision; must exceed every earlier one (hosts
        /// refuse lower ones), e.g. the CI pipeline number.
        #[arg(long)]
        revision: u64,
        /// Use plain HTTP (loopback registries always do).
        #[arg(long)]
        insecure: bool,
        /// A docker config.json with credentials for the registry.
        #[arg(long, env = "IMG_AUTHZ_DOCKER_CONFIG", default_value = "")]
        docker_config: String,
    },
    /// Fetch REF, verify its signature against the pinned key, and write
    /// its files into DIR (which must not exist) for inspection.
    Pull {
        reference: String,
        dir: PathBuf,
        #[command(flatten)]
        pin: PinArgs,
    },
}

/// The bundle signer a host pins.
#[derive(Args)]
pub struct PinArgs {
    /// The cosign public key (PEM) bundles must be signed with.
    #[arg(long = "key", env = "IMG_AUTHZ_BUNDLE_KEY", default_value = "")]
    pub key: String,
    /// Or: the Notation trust policy (trustpolicy.json) bundles must verify under…
    #[arg(long, env = "IMG_AUTHZ_BUNDLE_NOTATION_POLICY", default_value = "")]
    pub notation_policy: String,
    /// …with this Notation trust store directory.
    #[arg(long, env = "IMG_AUTHZ_BUNDLE_NOTATION_STORE", default_value = "")]
    pub notation_store: String,
    /// A docker config.json with credentials for the registry.
    #[arg(long, env = "IMG_AUTHZ_DOCKER_CONFIG", default_value = "")]
    pub docker_config: String,
    /// Registries reached over plain HTTP if HTTPS fails (loopback always is).
    #[arg(long, env = "IMG_AUTHZ_INSECURE_REGISTRIES", default_value = "")]
    pub insecure_registries: String,
}

/// The bundle settings of `serve`, parsed by img_authz::bundle::serve.
#[derive(Args)]
pub struct ServeBundleArgs {
    /// Take the policy from this signed bundle (oci://registry/path:tag)
    /// instead of IMG_AUTHZ_POLICY; needs the signer pinned: IMG_AUTHZ_BUNDLE_KEY
    /// or a Notation trust policy and store.
    #[arg(long, env = "IMG_AUTHZ_BUNDLE", default_value = "")]
    pub bundle: String,
    /// The cosign public key (PEM) the bundles must be signed with.
    #[arg(long, env = "IMG_AUTHZ_BUNDLE_KEY", default_value = "")]
    pub bundle_key: String,
    /// Or: the Notation trust policy bundles must verify under…
    #[arg(long, env = "IMG_AUTHZ_BUNDLE_NOTATION_POLICY", default_value = "")]
    pub bundle_notation_policy: String,
    /// …with this Notation trust store directory.
    #[arg(long, env = "IMG_AUTHZ_BUNDLE_NOTATION_STORE", default_value = "")]
    pub bundle_notation_store: String,
    /// Seconds between checks of the bundle's tag (default 60, ±10 %).
    #[arg(long, env = "IMG_AUTHZ_BUNDLE_INTERVAL", default_value = "")]
    pub bundle_interval: String,
}

fn opt_path(s: &str) -> Option<&Path> {
    Some(s.trim()).filter(|s| !s.is_empty()).map(Path::new)
}

pub fn run(command: BundleCommand) -> ExitCode {
    let Some(rt) = runtime() else {
        return ExitCode::from(2);
    };
    let result = match command {
        BundleCommand::Push {
            dir,
            reference,
            revision,
            insecure,
            docker_config,
        } => rt.block_on(push(&dir, &reference, revision, insecure, &docker_config)),
        BundleCommand::Pull {
            reference,
            dir,
            pin,
        } => rt.block_on(pull(&reference, &dir, &pin)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("img-authz bundle: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn push(
    dir: &Path,
    reference: &str,
    revision: u64,
    insecure: bool,
    docker_config: &str,
) -> Result<(), String> {
    let r = BundleRef::parse(reference)?;
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| e.to_string())?;
    let bundle = Bundle::from_dir(dir, revision, created).map_err(|e| e.to_string())?;
    // Refuse to publish what no host could load: the policy file must
    // validate where its files will be, inside the unpacked bundle.
    let scratch = tempfile_dir()?;
    bundle.write_to(&scratch).map_err(|e| e.to_string())?;
    let loaded = img_authz::policy::file::load(&scratch.join("policy.toml"));
    let _ = std::fs::remove_dir_all(&scratch);
    loaded.map_err(|e| format!("the bundle's policy does not validate:\n{e}"))?;
    let encoded = bundle.encode().map_err(|e| e.to_string())?;
    let pusher = Pusher::new(&r, insecure, opt_path(docker_config)).map_err(|e| e.to_string())?;
    let digest = pusher
        .push(&r.tag, &encoded)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "pushed revision {revision} ({} files) to {r}",
        bundle.files.len()
    );
    println!("{}/{}@{digest}", r.domain, r.path);
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let d = std::env::temp_dir().join(format!(
        "img-authz-bundle.{}.{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    Ok(d)
}

async fn pull(reference: &str, dir: &Path, pin: &PinArgs) -> Result<(), String> {
    let r = BundleRef::parse(reference)?;
    let signer = Pin {
        key: pin.key.clone(),
        notation_policy: pin.notation_policy.clone(),
        notation_store: pin.notation_store.clone(),
    }
    .signer()?;
    let insecure = pin
        .insecure_registries
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let fetcher = Fetcher::new(signer.clone(), opt_path(&pin.docker_config), insecure)?;
    let digest = fetcher.head(&r).await.map_err(|e| e.to_string())?;
    let f = fetcher
        .fetch(&r, &digest)
        .await
        .map_err(|e| e.to_string())?;
    std::fs::create_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    f.bundle.write_to(dir).map_err(|e| e.to_string())?;
    println!(
        "{r}@{digest}: revision {}, created {}, signed by {}, {} files written to {}",
        f.bundle.revision,
        f.bundle.created,
        signer.describe(),
        f.bundle.files.len(),
        dir.display()
    );
    Ok(())
}

impl ServeBundleArgs {
    pub fn pin(&self) -> Pin {
        Pin {
            key: self.bundle_key.clone(),
            notation_policy: self.bundle_notation_policy.clone(),
            notation_store: self.bundle_notation_store.clone(),
        }
    }
}
