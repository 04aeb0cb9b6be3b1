//! Serving the policy from a bundle (`IMG_AUTHZ_BUNDLE`): boot from the
//! last known good on disk, then poll the tag (a HEAD request every
//! `IMG_AUTHZ_BUNDLE_INTERVAL` seconds ± 10 % jitter, so that a fleet does
//! not ask in step); only a changed digest is fetched, verified, admitted
//! by the revision ratchet, unpacked and put in force the way a policy
//! file reload is ([`crate::plugin::Plugin::replace_policy`]). Any refusal
//! leaves the policy in force and is recorded as the last error, shown by
//! `img-authz status` and the metrics. With no verified bundle ever, the
//! plugin denies every request, naming IMG_AUTHZ_BUNDLE.
//!
//! The settings are parsed here, not in [`crate::config`]: they only
//! concern this module.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::fetch::{Fetched, Fetcher, Signer};
use super::state::{Expect, Store};
use super::{BundleError, BundleRef};
use crate::config::Config;
use crate::plugin::Plugin;
use crate::policy::Policy;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// `IMG_AUTHZ_BUNDLE`, `IMG_AUTHZ_BUNDLE_KEY` or
/// `IMG_AUTHZ_BUNDLE_NOTATION_POLICY` + `IMG_AUTHZ_BUNDLE_NOTATION_STORE`,
/// `IMG_AUTHZ_BUNDLE_INTERVAL`, `IMG_AUTHZ_BUNDLE_CHANNEL`,
/// `IMG_AUTHZ_BUNDLE_MIN_REVISION`.
pub struct Settings {
    pub reference: BundleRef,
    pub signer: Signer,
    pub interval: Duration,
    pub channel: Option<String>,
    pub min_revision: Option<u64>,
}

/// Why the bundle settings are refused (at start-up).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("IMG_AUTHZ_BUNDLE_KEY or _NOTATION_* is set without IMG_AUTHZ_BUNDLE")]
    PinWithoutBundle,
    #[error("IMG_AUTHZ_BUNDLE: {0}")]
    Reference(#[from] super::RefError),
    #[error("IMG_AUTHZ_BUNDLE_KEY: {0}")]
    Key(super::fetch::SignerError),
    #[error("IMG_AUTHZ_BUNDLE_NOTATION_POLICY/_STORE: {0}")]
    Notation(super::fetch::SignerError),
    #[error(
        "IMG_AUTHZ_BUNDLE needs the bundle signer pinned: IMG_AUTHZ_BUNDLE_KEY=FILE (a \
         cosign public key), or IMG_AUTHZ_BUNDLE_NOTATION_POLICY and \
         IMG_AUTHZ_BUNDLE_NOTATION_STORE (a Notation trust policy and trust store)"
    )]
    Unpinned,
    #[error(
        "pin the bundle signer one way: IMG_AUTHZ_BUNDLE_KEY, or both \
         IMG_AUTHZ_BUNDLE_NOTATION_POLICY and IMG_AUTHZ_BUNDLE_NOTATION_STORE"
    )]
    PinnedTwice,
    #[error("IMG_AUTHZ_BUNDLE_INTERVAL: {0:?} is not a number of seconds from 1 to 86400")]
    Interval(String),
    #[error("IMG_AUTHZ_BUNDLE_CHANNEL: {0:?} is not a channel name ([a-z0-9][a-z0-9._-]*)")]
    Channel(String),
    #[error("IMG_AUTHZ_BUNDLE_MIN_REVISION: {0:?} is not a revision number")]
    MinRevision(String),
}

/// Why a bundle's policy file does not make a policy.
#[derive(Debug, thiserror::Error)]
pub enum BundlePolicyError {
    #[error("{0}")]
    File(#[from] crate::policy::file::PolicyErrors),
    #[error("{0}")]
    Build(#[from] crate::policy::BuildError),
}

/// The optional bundle settings, as given.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub interval: String,
    pub channel: String,
    pub min_revision: String,
}

impl Settings {
    /// `None` when no bundle is configured (empty `bundle`).
    pub fn parse(
        bundle: &str,
        pin: &Pin,
        opts: &Options,
    ) -> Result<Option<Settings>, SettingsError> {
        let interval = opts.interval.as_str();
        if bundle.trim().is_empty() {
            if !pin.is_empty() {
                return Err(SettingsError::PinWithoutBundle);
            }
            return Ok(None);
        }
        let reference = BundleRef::parse(bundle)?;
        let signer = pin.signer()?;
        let interval = match interval.trim() {
            "" => DEFAULT_INTERVAL,
            s => match s.parse::<u64>() {
                Ok(n) if (1..=86_400).contains(&n) => Duration::from_secs(n),
                _ => return Err(SettingsError::Interval(s.to_string())),
            },
        };
        let channel = match opts.channel.trim() {
            "" => None,
            c => Some(
                super::format::scope_entry(c)
                    .ok()
                    .filter(|c| !c.starts_with("oci://"))
                    .ok_or_else(|| SettingsError::Channel(c.to_string()))?,
            ),
        };
        let min_revision = match opts.min_revision.trim() {
            "" => None,
            m => Some(
                m.parse::<u64>()
                    .map_err(|_| SettingsError::MinRevision(m.to_string()))?,
            ),
        };
        Ok(Some(Settings {
            reference,
            signer,
            interval,
            channel,
            min_revision,
        }))
    }
}

/// The pinned bundle signer, as given: a cosign key file, or a Notation
/// trust policy and trust store (exactly one of the two).
#[derive(Debug, Clone, Default)]
pub struct Pin {
    pub key: String,
    pub notation_policy: String,
    pub notation_store: String,
}

impl Pin {
    fn is_empty(&self) -> bool {
        [&self.key, &self.notation_policy, &self.notation_store]
            .iter()
            .all(|s| s.trim().is_empty())
    }

    pub fn signer(&self) -> Result<Signer, SettingsError> {
        let (key, pol, store) = (
            self.key.trim(),
            self.notation_policy.trim(),
            self.notation_store.trim(),
        );
        match (key.is_empty(), pol.is_empty(), store.is_empty()) {
            (false, true, true) => Signer::cosign_key(Path::new(key)).map_err(SettingsError::Key),
            (true, false, false) => {
                Signer::notation(Path::new(pol), Path::new(store)).map_err(SettingsError::Notation)
            }
            (true, true, true) => Err(SettingsError::Unpinned),
            _ => Err(SettingsError::PinnedTwice),
        }
    }
}

/// What `status` and the metrics show.
#[derive(Debug, Clone, Default)]
pub struct BundleStatus {
    pub reference: String,
    pub signer: String,
    /// The bundle in force.
    pub digest: Option<String>,
    pub revision: Option<u64>,
    pub created: Option<String>,
    /// RFC 3339, its signed expiry.
    pub expires: Option<String>,
    /// When it was put in force, and from where (`registry`, `disk`).
    pub installed: Option<SystemTime>,
    pub source: Option<&'static str>,
    pub last_check: Option<SystemTime>,
    pub last_error: Option<String>,
    pub updates: u64,
    pub refusals: u64,
}

static STATUS: Mutex<Option<BundleStatus>> = Mutex::new(None);

fn update(f: impl FnOnce(&mut BundleStatus)) {
    if let Ok(mut g) = STATUS.lock() {
        f(g.get_or_insert_with(BundleStatus::default));
    }
}

pub fn status() -> Option<BundleStatus> {
    STATUS.lock().ok().and_then(|g| g.clone())
}

fn secs_since(t: Option<SystemTime>) -> Option<u64> {
    t.and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(|d| d.as_secs())
}

/// The `bundle` object of the plugin's status.
pub fn status_json() -> Option<serde_json::Value> {
    let s = status()?;
    Some(serde_json::json!({
        "reference": s.reference,
        "signer": s.signer,
        "digest": s.digest,
        "revision": s.revision,
        "created": s.created,
        "expires": s.expires,
        "expires_in_secs": expires_in(&s),
        "source": s.source,
        "age_secs": secs_since(s.installed),
        "last_check_secs_ago": secs_since(s.last_check),
        "last_error": s.last_error,
        "updates": s.updates,
        "refusals": s.refusals,
    }))
}

/// Seconds until the bundle in force expires (negative: expired).
fn expires_in(s: &BundleStatus) -> Option<i64> {
    let at = super::format::parse_time(s.expires.as_deref()?)?;
    Some((at - time::OffsetDateTime::now_utc()).whole_seconds())
}

/// Prometheus text for the bundle (empty without one).
pub fn metrics_text() -> String {
    let Some(s) = status() else {
        return String::new();
    };
    let mut out = String::new();
    let _ = writeln!(out, "# HELP img_authz_bundle_info The policy bundle in force (1), by digest.\n# TYPE img_authz_bundle_info gauge");
    let _ = writeln!(
        out,
        "img_authz_bundle_info{{reference=\"{}\",digest=\"{}\"}} 1",
        s.reference,
        s.digest.as_deref().unwrap_or("")
    );
    let _ = writeln!(out, "# HELP img_authz_bundle_revision Revision of the bundle in force (-1: none).\n# TYPE img_authz_bundle_revision gauge");
    let rev = s
        .revision
        .map_or(-1, |r| i64::try_from(r).unwrap_or(i64::MAX));
    let _ = writeln!(out, "img_authz_bundle_revision {rev}");
    let _ = writeln!(out, "# HELP img_authz_bundle_age_seconds Seconds since the bundle in force was put in force.\n# TYPE img_authz_bundle_age_seconds gauge");
    let _ = writeln!(
        out,
        "img_authz_bundle_age_seconds {}",
        secs_since(s.installed).map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX))
    );
    let _ = writeln!(out, "# HELP img_authz_bundle_expires_seconds Seconds until the bundle in force expires (negative: expired, every request denied).\n# TYPE img_authz_bundle_expires_seconds gauge");
    if let Some(e) = expires_in(&s) {
        let _ = writeln!(out, "img_authz_bundle_expires_seconds {e}");
    }
    let _ = writeln!(out, "# HELP img_authz_bundle_error 1 when the last bundle check failed or was refused.\n# TYPE img_authz_bundle_error gauge");
    let _ = writeln!(
        out,
        "img_authz_bundle_error {}",
        u8::from(s.last_error.is_some())
    );
    let _ = writeln!(out, "# HELP img_authz_bundle_updates_total Bundles put in force.\n# TYPE img_authz_bundle_updates_total counter");
    let _ = writeln!(out, "img_authz_bundle_updates_total {}", s.updates);
    let _ = writeln!(out, "# HELP img_authz_bundle_refusals_total Bundle checks that failed or were refused.\n# TYPE img_authz_bundle_refusals_total counter");
    let _ = writeln!(out, "img_authz_bundle_refusals_total {}", s.refusals);
    out
}

/// The bundle source of one plugin.
pub struct Source {
    plugin: Arc<Plugin>,
    cfg: Config,
    settings: Settings,
    fetcher: Fetcher,
    store: Store,
    expect: Expect,
    /// The digest of the bundle in force.
    current: Mutex<Option<String>>,
    /// The revision and expiry of the bundle in force.
    in_force: Mutex<Option<(u64, String)>>,
    /// A digest refused for its content (malformed, tampered, rollback,
    /// invalid policy): immutable, so not fetched again while the tag
    /// stays on it. Unsigned ones are: the signature may follow the push.
    refused: Mutex<Option<String>>,
}

fn hold_message(r: &BundleRef, why: &str) -> String {
    format!(
        "no usable verified policy bundle yet from IMG_AUTHZ_BUNDLE={r}: every request is denied until \
         one verifies ({why})"
    )
}

/// A bundle's policy file: the files it names must come from the bundle
/// (signed), never from the host: absolute paths and `..` are refused.
pub fn load_bundle_policy(
    path: &Path,
) -> Result<crate::policy::file::PolicyFile, crate::policy::file::PolicyErrors> {
    let root = path.parent().unwrap_or(path);
    crate::policy::file::load_confined(path, root)
}

/// The hold message once the bundle in force (`revision`, expiring at
/// `expires`) is past its expiry at `now`; `None` while it is valid. An
/// unparsable expiry counts as expired (fail closed).
pub fn expired_message(
    r: &BundleRef,
    revision: u64,
    expires: &str,
    now: time::OffsetDateTime,
) -> Option<String> {
    if super::format::parse_time(expires).is_some_and(|at| at > now) {
        return None;
    }
    Some(format!(
        "the policy bundle in force (revision {revision} from IMG_AUTHZ_BUNDLE={r}) expired at \
         {expires}: every request is denied until a newer revision verifies; publish one \
         (img-authz bundle push DIR {r} --revision N --expires DURATION, N > {revision}) and sign it"
    ))
}

impl Source {
    pub fn new(
        plugin: Arc<Plugin>,
        cfg: Config,
        settings: Settings,
    ) -> Result<Source, super::fetch::FetcherError> {
        let fetcher = Fetcher::new(
            settings.signer.clone(),
            cfg.trust.docker_config.as_deref(),
            cfg.trust.insecure_registries.clone(),
        )?;
        let store = Store::new(&cfg.trust.state_dir);
        update(|s| {
            s.reference = settings.reference.to_string();
            s.signer = settings.signer.describe();
        });
        let expect = Expect {
            reference: settings.reference.clone(),
            channel: settings.channel.clone(),
            min_revision: settings.min_revision,
        };
        Ok(Source {
            plugin,
            cfg,
            settings,
            fetcher,
            store,
            expect,
            current: Mutex::new(None),
            in_force: Mutex::new(None),
            refused: Mutex::new(None),
        })
    }

    fn build(&self, path: &Path) -> Result<Policy, BundlePolicyError> {
        let file = load_bundle_policy(path)?;
        Ok(Policy::new(self.cfg.clone(), Some(file))?)
    }

    fn put_in_force(&self, f: &Fetched, source: &'static str) -> Result<PathBuf, BundleError> {
        let (policy, path) = self.store.install(f, &self.expect, |p| self.build(p))?;
        // The revision first: no decision of the new policy may be logged
        // under the old revision.
        crate::log::set_bundle_revision(Some(f.bundle.revision.to_string()));
        self.plugin.replace_policy(policy);
        self.plugin.hold(None);
        if let Ok(mut c) = self.current.lock() {
            *c = Some(f.digest.clone());
        }
        if let Ok(mut c) = self.in_force.lock() {
            *c = Some((f.bundle.revision, f.bundle.expires.clone()));
        }
        update(|s| {
            s.digest = Some(f.digest.clone());
            s.revision = Some(f.bundle.revision);
            s.created = Some(f.bundle.created.clone());
            s.expires = Some(f.bundle.expires.clone());
            s.installed = Some(SystemTime::now());
            s.source = Some(source);
            s.updates += 1;
        });
        tracing::info!(
            bundle = %self.settings.reference,
            digest = %f.digest,
            revision = f.bundle.revision,
            from = source,
            "policy bundle in force"
        );
        Ok(path)
    }

    fn refused(&self, e: &BundleError) {
        tracing::error!(bundle = %self.settings.reference, error = %e, "policy bundle refused; the policy in force stays");
        let held = self.current.lock().map(|c| c.is_none()).unwrap_or(true);
        if held {
            self.plugin
                .hold(Some(hold_message(&self.settings.reference, &e.to_string())));
        }
        update(|s| {
            s.last_error = Some(e.to_string());
            s.refusals += 1;
        });
    }

    /// The bundle in force past its expiry: deny everything, saying why.
    /// A newer bundle put in force lifts the hold.
    pub fn enforce_expiry(&self) {
        let in_force = self.in_force.lock().ok().and_then(|c| c.clone());
        let Some((revision, expires)) = in_force else {
            return;
        };
        if let Some(why) = expired_message(
            &self.settings.reference,
            revision,
            &expires,
            time::OffsetDateTime::now_utc(),
        ) {
            tracing::error!(bundle = %self.settings.reference, "{why}");
            self.plugin.hold(Some(why.clone()));
            update(|s| s.last_error = Some(why));
        }
    }

    /// Boot: the last known good on disk, if any, checked again. Without
    /// one every request is denied until a bundle verifies.
    pub fn boot(&self) {
        self.plugin.hold(Some(hold_message(
            &self.settings.reference,
            "none fetched yet",
        )));
        match self
            .store
            .last_known_good(&self.settings.signer, &self.settings.reference)
        {
            Ok(Some(f)) => {
                if let Err(e) = self.put_in_force(&f, "disk") {
                    self.refused(&e);
                }
            }
            Ok(None) => {}
            Err(e) => self.refused(&e),
        }
    }

    /// One poll: HEAD the tag; fetch, verify and install only a new
    /// digest. `Ok(false)`: the tag still names a refused bundle, whose
    /// error stays the last one.
    pub async fn check(&self) -> Result<bool, BundleError> {
        update(|s| s.last_check = Some(SystemTime::now()));
        let r = &self.settings.reference;
        let digest = self.fetcher.head(r).await?;
        let current = self.current.lock().ok().and_then(|c| c.clone());
        if current.as_deref() == Some(digest.as_str()) {
            return Ok(true);
        }
        let refused = self.refused.lock().ok().and_then(|c| c.clone());
        if refused.as_deref() == Some(digest.as_str()) {
            return Ok(false);
        }
        let result = match self.fetcher.fetch(r, &digest).await {
            Ok(f) => self.put_in_force(&f, "registry").map(|_| true),
            Err(e) => Err(e),
        };
        if let Err(
            BundleError::Malformed(_)
            | BundleError::Tampered(_)
            | BundleError::Rollback(_)
            | BundleError::OutOfScope(_)
            | BundleError::Expired(_)
            | BundleError::Policy(_),
        ) = &result
        {
            if let Ok(mut g) = self.refused.lock() {
                *g = Some(digest);
            }
        }
        result
    }

    /// Poll forever (the first check at once).
    pub fn spawn(self: Arc<Self>) {
        tokio::spawn(async move {
            loop {
                match self.check().await {
                    Ok(true) => update(|s| s.last_error = None),
                    Ok(false) => {}
                    Err(e) => self.refused(&e),
                }
                self.enforce_expiry();
                tokio::time::sleep(jittered(self.settings.interval)).await;
            }
        });
    }
}

/// `d` ± 10 %, from the clock's nanoseconds and the process id: enough to
/// spread a fleet's requests, no randomness needed for security.
fn jittered(d: Duration) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    SystemTime::now().hash(&mut h);
    std::process::id().hash(&mut h);
    let spread = d.as_millis() as u64 / 5; // 20 % wide
    if spread == 0 {
        return d;
    }
    let offset = h.finish() % spread;
    d.saturating_sub(Duration::from_millis(spread / 2)) + Duration::from_millis(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_metrics_show_the_bundle_and_the_last_error() {
        assert_eq!(metrics_text(), "");
        update(|s| {
            s.reference = "oci://r.example.com/p:prod".into();
            s.digest = Some("sha256:abc".into());
            s.revision = Some(7);
            s.installed = Some(SystemTime::now());
            s.last_error = Some("rollback refused: x".into());
            s.refusals = 2;
            s.expires = Some("2020-01-01T00:00:00Z".into());
        });
        let m = metrics_text();
        for want in [
            "img_authz_bundle_info{reference=\"oci://r.example.com/p:prod\",digest=\"sha256:abc\"} 1",
            "img_authz_bundle_revision 7",
            "img_authz_bundle_age_seconds 0",
            "img_authz_bundle_error 1",
            "img_authz_bundle_refusals_total 2",
            "img_authz_bundle_expires_seconds -",
        ] {
            assert!(m.contains(want), "{want} missing from:\n{m}");
        }
        let j = status_json().unwrap();
        assert_eq!(j["revision"], 7);
        assert_eq!(j["last_error"], "rollback refused: x");
        assert!(j["expires_in_secs"].as_i64().unwrap() < 0, "{j}");
    }

    /// M2: the bundle in force passing its expiry holds the plugin, with a
    /// message saying what expired and how to fix it.
    #[test]
    fn a_bundle_in_force_passing_its_expiry_holds() {
        let r = BundleRef::parse("oci://r.example.com/p:prod").unwrap();
        let at = "2026-12-05T12:00:00Z";
        let before = super::super::format::parse_time("2026-12-05T11:59:59Z").unwrap();
        let after = super::super::format::parse_time("2026-12-05T12:00:01Z").unwrap();
        assert_eq!(expired_message(&r, 7, at, before), None);
        let m = expired_message(&r, 7, at, after).unwrap();
        for want in [
            "revision 7",
            "expired at 2026-12-05T12:00:00Z",
            "IMG_AUTHZ_BUNDLE=oci://r.example.com/p:prod",
            "publish one",
            "N > 7",
        ] {
            assert!(m.contains(want), "{want}: {m}");
        }
        assert!(expired_message(&r, 7, "garbage", before).is_some());
    }

    /// M3: a bundle's policy naming a key outside the bundle (absolute, or
    /// through `..`) is refused; the same key inside the bundle loads.
    #[test]
    fn bundle_policy_paths_stay_inside_the_bundle() {
        let key = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cosign/release.pub");
        let d = tempfile::tempdir().unwrap();
        let files = d.path().join("bundle/current/files");
        std::fs::create_dir_all(files.join("keys")).unwrap();
        std::fs::copy(key, files.join("keys/release.pub")).unwrap();
        std::fs::copy(key, d.path().join("host.pub")).unwrap();
        let policy = |k: &str| {
            format!(
                "version = 1\n[[rules]]\nname = \"fleet\"\nrepositories = [\"r.example.com/*\"]\n\
                 verifier = \"cosign\"\n[rules.cosign]\nkeys = [\"{k}\"]\n"
            )
        };
        let p = files.join("policy.toml");
        std::fs::write(&p, policy("keys/release.pub")).unwrap();
        load_bundle_policy(&p).unwrap();
        for outside in [key, "../../../host.pub", "keys/../../../../host.pub"] {
            std::fs::write(&p, policy(outside)).unwrap();
            let e = load_bundle_policy(&p).unwrap_err().to_string();
            assert!(e.contains("points outside the bundle"), "{outside}: {e}");
        }
        // A symlink inside the files directory pointing out is refused too.
        std::os::unix::fs::symlink(d.path().join("host.pub"), files.join("keys/link.pub")).unwrap();
        std::fs::write(&p, policy("keys/link.pub")).unwrap();
        assert!(load_bundle_policy(&p).is_err());
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let j = jittered(Duration::from_secs(60));
            assert!(
                j >= Duration::from_secs(54) && j <= Duration::from_secs(66),
                "{j:?}"
            );
        }
    }

    #[test]
    fn settings() {
        let pin = |k: &str| Pin {
            key: k.into(),
            ..Pin::default()
        };
        let iv = |i: &str| Options {
            interval: i.into(),
            ..Options::default()
        };
        assert!(Settings::parse("", &pin(""), &iv("")).unwrap().is_none());
        assert!(Settings::parse("", &pin("k.pub"), &iv("")).is_err());
        let e = Settings::parse("oci://127.0.0.1:5000/p:t", &pin(""), &iv(""))
            .err()
            .unwrap();
        assert!(matches!(e, SettingsError::Unpinned), "{e}");
        assert!(e.to_string().contains("IMG_AUTHZ_BUNDLE_KEY"), "{e}");
        let key = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/cosign/release.pub");
        let k = key;
        let half = Pin {
            key: k.into(),
            notation_policy: "p.json".into(),
            ..Pin::default()
        };
        assert!(Settings::parse("oci://127.0.0.1:5000/p:t", &half, &iv("")).is_err());
        let k = &pin(k);
        let s = Settings::parse("oci://127.0.0.1:5000/p:t", k, &iv("5"))
            .unwrap()
            .unwrap();
        assert_eq!(s.interval, Duration::from_secs(5));
        assert!(Settings::parse("oci://127.0.0.1:5000/p:t", k, &iv("0")).is_err());
        assert!(Settings::parse("oci://127.0.0.1:5000/p:t", k, &iv("x")).is_err());
        let opts = |c: &str, m: &str| Options {
            channel: c.into(),
            min_revision: m.into(),
            ..Options::default()
        };
        let s = Settings::parse("oci://127.0.0.1:5000/p:t", k, &opts("prod", "12"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.channel.as_deref(), s.min_revision),
            (Some("prod"), Some(12))
        );
        for (c, m) in [
            ("Prod", ""),
            ("oci://r.example.com/p:t", ""),
            ("", "-1"),
            ("", "x"),
        ] {
            assert!(
                Settings::parse("oci://127.0.0.1:5000/p:t", k, &opts(c, m)).is_err(),
                "{c} {m}"
            );
        }
    }
}
