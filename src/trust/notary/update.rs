//! The client update procedure: timestamp → snapshot → targets and its
//! delegations, each fetched by the hash and length its parent lists, each
//! checked for signatures, threshold, rollback and expiry.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::client::Fetch;
use super::metadata::{
    parse_envelope, parse_snapshot, parse_targets, parse_timestamp, verify_threshold, MetaEntry,
    Root, Target,
};
use super::root::{validate_root, Check, PinRule, RootPolicy};
use super::state::{RepoState, StateStore};
use super::TufError;

/// notary's size limit for timestamp.json, and ours for root.json (whose
/// length nothing lists on first contact).
pub const MAX_TIMESTAMP: usize = 1024 * 1024;
pub const MAX_ROOT: usize = 1024 * 1024;
/// Largest snapshot, targets or delegation file accepted by default. The
/// server holds the timestamp (and often the snapshot) key, so it chooses
/// what these files hold and how long they are; real repositories' files
/// are kilobytes (a targets file of thousands of tags stays under a MiB).
pub const DEFAULT_MAX_ROLE: u64 = 4 * 1024 * 1024;
/// The setting that changes [`DEFAULT_MAX_ROLE`] (validated in `config.rs`).
pub const MAX_ROLE_ENV: &str = "IMG_AUTHZ_NOTARY_MAX_ROLE_BYTES";

/// A bound on a process-wide resource, set once from the validated
/// configuration when the trust clients are built.
static MAX_ROLE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(DEFAULT_MAX_ROLE);

/// The largest snapshot, targets or delegation file accepted.
pub fn max_role() -> u64 {
    MAX_ROLE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Set [`max_role`] (from `TrustConfig::notary_max_role`).
pub fn set_max_role(bytes: u64) {
    MAX_ROLE.store(bytes, std::sync::atomic::Ordering::Relaxed);
}

/// Repository updates running at once, whatever the number of requests:
/// each holds up to a few role files and their parsed forms, so this bounds
/// the memory a hostile server can make the plugin hold.
static UPDATES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
/// Rotations walked in one update at most.
pub const MAX_ROTATIONS: u64 = 256;

pub const RELEASES: &str = "targets/releases";

/// What a repository's verified metadata says.
#[derive(Debug, Clone)]
pub struct RepoTrust {
    pub gun: String,
    /// Signed targets by role: `targets`, and each verified delegation.
    pub roles: HashMap<String, HashMap<String, Target>>,
    /// The earliest expiry among the metadata used: nothing derived from it
    /// may be used past this instant.
    pub expires: OffsetDateTime,
    /// How the root was trusted.
    pub root_source: RootSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// Matched a configured pin.
    Pinned,
    /// Trusted on first use (or a rotation of such a root).
    FirstUse,
}

impl RepoTrust {
    /// The tag as Docker resolves it: `targets/releases`, then `targets`.
    pub fn resolve(&self, tag: &str) -> Option<(&'static str, &Target)> {
        for role in [RELEASES, "targets"] {
            if let Some(t) = self.roles.get(role).and_then(|m| m.get(tag)) {
                return Some((role, t));
            }
        }
        None
    }

    /// Whether `digest` is a signed target (of any tag) in one of `roles`.
    pub fn signs_digest(&self, role: &str, digest: &str) -> Option<&str> {
        self.roles
            .get(role)?
            .iter()
            .find(|(_, t)| t.digest.as_deref() == Some(digest))
            .map(|(name, _)| name.as_str())
    }
}

/// Fetch `file`, requiring its presence.
async fn must(
    fetch: &dyn Fetch,
    gun: &str,
    file: &str,
    limit: usize,
) -> Result<bytes::Bytes, TufError> {
    fetch
        .fetch(gun, file, limit)
        .await?
        .ok_or_else(|| TufError::Missing(format!("{file} of {gun}")))
}

/// Fetch a role file by the hash its parent lists, and check it.
async fn by_hash(
    fetch: &dyn Fetch,
    gun: &str,
    role: &str,
    e: &MetaEntry,
) -> Result<bytes::Bytes, TufError> {
    let hex = e
        .sha256_hex()
        .ok_or_else(|| TufError::Format(format!("{role} is listed without a sha256")))?;
    // The server holds the timestamp and snapshot keys: it could list a
    // huge length. No Docker repository's metadata comes near this.
    let max = max_role();
    if e.length > max {
        return Err(TufError::TooLarge(format!(
            "{role} is listed as {} bytes, more than the {max} allowed ({MAX_ROLE_ENV})",
            e.length
        )));
    }
    let limit = usize::try_from(e.length).unwrap_or(usize::MAX);
    let b = must(fetch, gun, &format!("{role}.{hex}.json"), limit).await?;
    e.check(&b, role)?;
    Ok(b)
}

/// Under which name the trust state of `gun` is kept. Roots trusted on
/// first use and roots a pin admits are separate histories (each pin its
/// own): otherwise a first-use rule could store a server's impostor root,
/// and ratchet versions under it, for a repository that a pinned rule on
/// the same server then refuses forever. First-use state keeps the plain
/// name, as before.
pub fn state_key(gun: &str, pin: Option<&PinRule>) -> String {
    match pin {
        None => gun.to_string(),
        Some(p) => format!("{gun} (pinned {})", p.pin.fingerprint()),
    }
}

/// Update `gun` and return what its metadata signs.
///
/// `extra_roles`: delegations to verify besides `targets/releases` (the
/// signer roles a rule requires).
pub async fn update(
    fetch: &dyn Fetch,
    gun: &str,
    policy: &RootPolicy,
    store: &StateStore,
    extra_roles: &[String],
    now: OffsetDateTime,
) -> Result<RepoTrust, TufError> {
    let _permit = UPDATES
        .acquire()
        .await
        .map_err(|_| TufError::Unavailable(super::Unreachable::ShutDown))?;
    let pin = policy.pin_for(gun);
    let mut st = store.load(&state_key(gun, pin))?;
    // What is stored already; an update that learns nothing new is not
    // written again (see the save below).
    let loaded = st.clone();
    let source = if pin.is_some() {
        RootSource::Pinned
    } else {
        RootSource::FirstUse
    };

    // The root: the one trusted before, or the server's, which must satisfy
    // the pin or be trusted on first use. A stored root is checked in full
    // again (its certificates may have expired since); if that fails, a
    // rotation it vouches for may still replace it.
    let (mut root_bytes, mut root) = match st.root_bytes()? {
        Some(b) => {
            let env = parse_envelope(&b, "root")?;
            match validate_root(&env, gun, pin, None, now, Check::Full) {
                Ok(r) => (b, r),
                Err(full) => {
                    let mut r = validate_root(&env, gun, pin, None, now, Check::Rotation)?;
                    let mut bytes = b;
                    if !rotate(fetch, gun, pin, &mut r, &mut bytes, &mut st, now).await? {
                        return Err(full);
                    }
                    (bytes, r)
                }
            }
        }
        None => {
            if pin.is_none() && !policy.tofu {
                return Err(TufError::Root(format!(
                    "no root of trust for {gun}: no pin applies and trust on first use is off"
                )));
            }
            let b = must(fetch, gun, "root.json", MAX_ROOT).await?.to_vec();
            let env = parse_envelope(&b, "root")?;
            let r = validate_root(&env, gun, pin, None, now, Check::Full)?;
            st.ratchet("root", r.common.version)?;
            st.set_root(&b);
            (b, r)
        }
    };

    let result = match attempt(fetch, gun, &root, &root_bytes, &mut st, extra_roles, now).await {
        // The root may have rotated: walk to the newest, then try once more.
        Err(e) if e.suggests_new_root() => {
            if !rotate(fetch, gun, pin, &mut root, &mut root_bytes, &mut st, now).await? {
                return Err(e);
            }
            attempt(fetch, gun, &root, &root_bytes, &mut st, extra_roles, now).await
        }
        r => r,
    };
    let mut trust = result?;
    trust.root_source = source;
    trust.expires = trust.expires.min(root.common.expires);
    // Saves only raise what is stored (they merge under a lock), so a state
    // equal to the one loaded has nothing to add: skipping the write and
    // its fsync keeps them off the path of every uncached pull without
    // weakening rollback protection.
    if st != loaded {
        store.save(&st)?;
    }
    Ok(trust)
}

/// Walk the root versions after `root`, each signed by the threshold of
/// its predecessor's keys and its own. Only the last one must be unexpired.
/// Returns whether the root changed.
async fn rotate(
    fetch: &dyn Fetch,
    gun: &str,
    pin: Option<&PinRule>,
    root: &mut Root,
    root_bytes: &mut Vec<u8>,
    st: &mut RepoState,
    now: OffsetDateTime,
) -> Result<bool, TufError> {
    let start = root.common.version;
    let last = start.saturating_add(MAX_ROTATIONS);
    let mut v = start;
    while v < last {
        v += 1;
        let Some(b) = fetch
            .fetch(gun, &format!("{v}.root.json"), MAX_ROOT)
            .await?
        else {
            break;
        };
        let env = parse_envelope(&b, "root")?;
        let next = validate_root(&env, gun, pin, Some(root), now, Check::Rotation)?;
        if next.common.version != v {
            return Err(TufError::Format(format!(
                "{v}.root.json holds version {}",
                next.common.version
            )));
        }
        *root = next;
        *root_bytes = b.to_vec();
    }
    if root.common.version == start {
        return Ok(false);
    }
    // The root we end on is the one we use: check it in full.
    let env = parse_envelope(root_bytes, "root")?;
    *root = validate_root(&env, gun, pin, None, now, Check::Full)?;
    st.ratchet("root", root.common.version)?;
    st.set_root(root_bytes);
    Ok(true)
}

async fn attempt(
    fetch: &dyn Fetch,
    gun: &str,
    root: &Root,
    root_bytes: &[u8],
    st: &mut RepoState,
    extra_roles: &[String],
    now: OffsetDateTime,
) -> Result<RepoTrust, TufError> {
    // Timestamp: always fetched fresh.
    let tb = must(fetch, gun, "timestamp.json", MAX_TIMESTAMP).await?;
    let tenv = parse_envelope(&tb, "timestamp")?;
    verify_threshold(&tenv, root.role("timestamp")?)?;
    let ts = parse_timestamp(&tenv)?;
    st.ratchet("timestamp", ts.common.version)?;
    ts.common.check_expiry("timestamp", now)?;

    // Snapshot, by the timestamp's hash and length.
    let sb = by_hash(fetch, gun, "snapshot", &ts.snapshot).await?;
    let senv = parse_envelope(&sb, "snapshot")?;
    verify_threshold(&senv, root.role("snapshot")?)?;
    let snap = parse_snapshot(&senv)?;
    st.ratchet("snapshot", snap.common.version)?;
    snap.common.check_expiry("snapshot", now)?;

    // The root we trust must be the root the snapshot lists.
    if let Some(re) = snap.meta.get("root") {
        re.check(root_bytes, "root")
            .map_err(|_| TufError::RootMismatch("the snapshot lists another root".into()))?;
    }

    // Targets and the delegations we use, fetched in parallel: all their
    // hashes are known from the snapshot.
    let targets_meta = snap
        .meta
        .get("targets")
        .ok_or_else(|| TufError::Format("snapshot lists no targets".into()))?;
    let mut wanted: Vec<String> = vec![RELEASES.to_string()];
    for r in extra_roles {
        if !wanted.contains(r) {
            wanted.push(r.clone());
        }
    }
    let meta = &snap.meta;
    let deleg_fetches = wanted.iter().map(|r| async move {
        match meta.get(r) {
            Some(e) => by_hash(fetch, gun, r, e).await.map(Some),
            None => Ok(None),
        }
    });
    let (tb, dbs) = tokio::join!(
        by_hash(fetch, gun, "targets", targets_meta),
        futures_util::future::join_all(deleg_fetches)
    );
    let tb = tb?;
    let tenv = parse_envelope(&tb, "targets")?;
    verify_threshold(&tenv, root.role("targets")?)?;
    let targets = parse_targets(&tenv, "targets")?;
    st.ratchet("targets", targets.common.version)?;
    targets.common.check_expiry("targets", now)?;

    let mut expires = ts
        .common
        .expires
        .min(snap.common.expires)
        .min(targets.common.expires);
    let mut roles = HashMap::new();
    for (name, bytes) in wanted.iter().zip(dbs) {
        let Some(bytes) = bytes? else { continue };
        // Only delegations the top-level targets declares, verified with
        // the keys and threshold it gives them.
        let Some(d) = targets.delegations.iter().find(|d| d.keys.name == *name) else {
            continue;
        };
        let env = parse_envelope(&bytes, name)?;
        if let Err(e) = verify_threshold(&env, &d.keys) {
            // As notary: an invalid delegation is skipped, not fatal.
            tracing::warn!(gun, role = %name, error = %e, "skipping delegation");
            continue;
        }
        let dt = parse_targets(&env, name)?;
        st.ratchet(name, dt.common.version)?;
        if dt.common.check_expiry(name, now).is_err() {
            tracing::warn!(gun, role = %name, "skipping expired delegation");
            continue;
        }
        expires = expires.min(dt.common.expires);
        let allowed: HashMap<String, Target> = dt
            .targets
            .into_iter()
            .filter(|(t, _)| d.allows(t))
            .collect();
        roles.insert(name.clone(), allowed);
    }
    roles.insert("targets".to_string(), targets.targets);
    Ok(RepoTrust {
        gun: gun.to_string(),
        roles,
        expires,
        root_source: RootSource::FirstUse,
    })
}
