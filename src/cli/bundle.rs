//! `img-authz bundle push|pull`: publish a policy bundle, or fetch and
//! verify one for inspection. The format is in src/bundle/mod.rs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use img_authz::fleet::{
    Bundle, BundleError, BundleRef, Fetcher, FetcherError, Pin, Pusher, RefError, ScopeError,
    SettingsError,
};

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
        /// Where hosts may use it (repeatable): an oci://HOST/PATH:TAG a host
        /// follows (its IMG_AUTHZ_BUNDLE). Default, without --scope and
        /// --channel: REF only. Signed, so a retag or copy does not widen it.
        #[arg(long = "scope")]
        scope: Vec<String>,
        /// A channel name (repeatable), for hosts with IMG_AUTHZ_BUNDLE_CHANNEL.
        #[arg(long = "channel")]
        channel: Vec<String>,
        /// How long hosts may enforce it: N followed by s, m, h or d
        /// (default 30d). After that they refuse it and deny everything
        /// until a newer revision is published.
        #[arg(long, default_value = "30d")]
        expires: String,
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
    /// The channel the host follows (IMG_AUTHZ_BUNDLE_CHANNEL), for the scope check.
    #[arg(long, env = "IMG_AUTHZ_BUNDLE_CHANNEL", default_value = "")]
    pub channel: String,
}

/// The bundle settings of `serve`, parsed by `img_authz::fleet::Settings`.
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
    /// The channel this host follows: bundles published with
    /// `--channel NAME` are in scope (besides those naming IMG_AUTHZ_BUNDLE).
    #[arg(long, env = "IMG_AUTHZ_BUNDLE_CHANNEL", default_value = "")]
    pub bundle_channel: String,
    /// While no revision was ever accepted here, refuse revisions below this.
    #[arg(long, env = "IMG_AUTHZ_BUNDLE_MIN_REVISION", default_value = "")]
    pub bundle_min_revision: String,
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
            scope,
            channel,
            expires,
            insecure,
            docker_config,
        } => rt.block_on(push(
            &dir,
            &reference,
            revision,
            Published {
                scope,
                channel,
                expires,
            },
            insecure,
            &docker_config,
        )),
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

/// Why `bundle push` or `bundle pull` failed.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error(transparent)]
    Reference(#[from] RefError),
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error("--scope {0:?}: give oci://HOST/PATH:TAG (or use --channel)")]
    ScopeNotAReference(String),
    #[error("--channel {0:?}: a channel is a name; use --scope for a reference")]
    ChannelIsAReference(String),
    #[error(transparent)]
    Expires(#[from] DurationError),
    #[error("{0}")]
    Time(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the bundle's policy does not validate:\n{0}")]
    Invalid(img_authz::decide::file::PolicyErrors),
    #[error(transparent)]
    Pin(#[from] SettingsError),
    #[error(transparent)]
    Fetcher(#[from] FetcherError),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("revision {revision} expired at {expires}")]
    Expired { revision: u64, expires: String },
}

/// Why `--expires` is refused.
#[derive(Debug, thiserror::Error)]
enum DurationError {
    #[error("--expires {0:?}: give a number followed by s, m, h or d (e.g. 30d)")]
    Format(String),
    #[error("--expires {0:?}: from 1s to 3650d")]
    Range(String),
}

/// Where and until when a pushed bundle may be used.
struct Published {
    scope: Vec<String>,
    channel: Vec<String>,
    expires: String,
}

/// `N` followed by `s`, `m`, `h` or `d`.
fn parse_duration(s: &str) -> Result<time::Duration, DurationError> {
    let s = s.trim();
    let bad = || DurationError::Format(s.to_string());
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    match n.checked_mul(secs) {
        Some(t) if t > 0 && t <= 3650 * 86_400 => Ok(time::Duration::seconds(t)),
        _ => Err(DurationError::Range(s.to_string())),
    }
}

async fn push(
    dir: &Path,
    reference: &str,
    revision: u64,
    published: Published,
    insecure: bool,
    docker_config: &str,
) -> Result<(), CommandError> {
    let r = BundleRef::parse(reference)?;
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| CommandError::Time(e.to_string()))
    };
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .map_err(|e| CommandError::Time(e.to_string()))?;
    let created = rfc3339(now)?;
    let expires = rfc3339(now + parse_duration(&published.expires)?)?;
    let mut scope = Vec::new();
    for s in &published.scope {
        if !s.trim().starts_with("oci://") {
            return Err(CommandError::ScopeNotAReference(s.clone()));
        }
        scope.push(img_authz::fleet::scope_entry(s.trim())?);
    }
    for c in &published.channel {
        let c = img_authz::fleet::scope_entry(c.trim())?;
        if c.starts_with("oci://") {
            return Err(CommandError::ChannelIsAReference(c));
        }
        scope.push(c);
    }
    if scope.is_empty() {
        scope.push(r.to_string());
    }
    scope.sort();
    scope.dedup();
    let bundle = Bundle::from_dir(dir, revision, created, scope, expires)?;
    // Refuse to publish what no host could load: the policy file must
    // validate where its files will be, inside the unpacked bundle, and
    // name no file outside it (hosts refuse that too).
    let scratch = tempfile_dir()?;
    bundle.write_to(&scratch)?;
    let loaded = img_authz::decide::file::load_confined(&scratch.join("policy.toml"), &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    loaded.map_err(CommandError::Invalid)?;
    let encoded = bundle.encode()?;
    let pusher = Pusher::new(&r, insecure, opt_path(docker_config))?;
    let digest = pusher.push(&r.tag, &encoded).await?;
    eprintln!(
        "pushed revision {revision} ({} files) to {r}, for [{}], expiring {}",
        bundle.files.len(),
        bundle.scope.join(", "),
        bundle.expires
    );
    println!("{}/{}@{digest}", r.domain, r.path);
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf, CommandError> {
    let d = std::env::temp_dir().join(format!(
        "img-authz-bundle.{}.{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir(&d).map_err(|source| CommandError::Io {
        path: d.clone(),
        source,
    })?;
    Ok(d)
}

async fn pull(reference: &str, dir: &Path, pin: &PinArgs) -> Result<(), CommandError> {
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
    let digest = fetcher.head(&r).await?;
    let f = fetcher.fetch(&r, &digest).await?;
    // Scope and expiry as a host following REF would judge them.
    f.bundle
        .in_scope(&r, Some(pin.channel.trim()).filter(|c| !c.is_empty()))?;
    if f.bundle.expires_at()? <= time::OffsetDateTime::now_utc() {
        return Err(CommandError::Expired {
            revision: f.bundle.revision,
            expires: f.bundle.expires.clone(),
        });
    }
    std::fs::create_dir(dir).map_err(|source| CommandError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    f.bundle.write_to(dir)?;
    println!(
        "{r}@{digest}: revision {}, created {}, expires {}, scope [{}], signed by {}, {} files written to {}",
        f.bundle.revision,
        f.bundle.created,
        f.bundle.expires,
        f.bundle.scope.join(", "),
        signer.describe(),
        f.bundle.files.len(),
        dir.display()
    );
    Ok(())
}

impl ServeBundleArgs {
    pub fn options(&self) -> img_authz::fleet::Options {
        img_authz::fleet::Options {
            interval: self.bundle_interval.clone(),
            channel: self.bundle_channel.clone(),
            min_revision: self.bundle_min_revision.clone(),
        }
    }

    pub fn pin(&self) -> Pin {
        Pin {
            key: self.bundle_key.clone(),
            notation_policy: self.bundle_notation_policy.clone(),
            notation_store: self.bundle_notation_store.clone(),
        }
    }
}
