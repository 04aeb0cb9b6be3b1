//! What a host keeps of its bundles, under `IMG_AUTHZ_STATE_DIR/bundle/`:
//! - `revision.json`: the highest revision accepted and its digest (the
//!   rollback ratchet), replaced atomically (write, fsync, rename);
//! - `current/`: the last known good bundle, its three blobs
//!   (`manifest.json`, `config.json`, `layer.json`), the signature it was
//!   verified on (`signature.json`, [`super::evidence`]) and its files
//!   unpacked under `files/`. It is built in a staging directory and renamed into
//!   place, so a crash leaves the old or the new bundle, never a mix.
//!
//! At boot the stored signature is verified again, offline, against the
//! host's pin, the blobs are checked against the manifest it signs, and
//! the files are rewritten from the layer, so that `files/` is exactly
//! what was verified.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::evidence::{self, Evidence};
use super::fetch::{Fetched, Signer};
use super::format::{io, POLICY_FILE};
use super::{BundleError, BundleRef};

/// The signature the bundle in `current/` was verified on.
const SIGNATURE_FILE: &str = "signature.json";

/// The ratchet: the highest revision accepted, and its manifest digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub revision: u64,
    pub digest: String,
}

/// Whether a bundle of `revision` and `digest` may replace what `seen`
/// records: a higher revision, or the very bundle already accepted.
pub fn admit(seen: Option<&Seen>, revision: u64, digest: &str) -> Result<(), BundleError> {
    let Some(s) = seen else { return Ok(()) };
    if revision > s.revision || (revision == s.revision && digest == s.digest) {
        return Ok(());
    }
    Err(BundleError::Rollback(if revision == s.revision {
        format!(
            "revision {revision} is already in force as {}, and {digest} is other content under \
             the same revision; publish a higher revision",
            s.digest
        )
    } else {
        format!(
            "revision {revision} is older than revision {} already accepted; publish a revision \
             above {} to change the policy (rolling back = republishing old content under a new revision)",
            s.revision, s.revision
        )
    }))
}

/// What a host expects of any bundle it puts in force, beyond the ratchet.
#[derive(Debug, Clone)]
pub struct Expect {
    /// `IMG_AUTHZ_BUNDLE`: the bundle's scope must name it…
    pub reference: super::BundleRef,
    /// …or `IMG_AUTHZ_BUNDLE_CHANNEL`.
    pub channel: Option<String>,
    /// `IMG_AUTHZ_BUNDLE_MIN_REVISION`: the floor while no revision was
    /// ever accepted (a wiped host must not take the oldest signed bundle).
    pub min_revision: Option<u64>,
}

/// Scope, expiry and the first-use floor; the ratchet is [`admit`].
pub fn accept(
    seen: Option<&Seen>,
    b: &super::Bundle,
    expect: &Expect,
    now: time::OffsetDateTime,
) -> Result<(), BundleError> {
    b.in_scope(&expect.reference, expect.channel.as_deref())?;
    let expires = b.expires_at()?;
    if expires <= now {
        return Err(BundleError::Expired(format!(
            "revision {} expired at {}; publish a new revision (img-authz bundle push \
             --revision N --expires DURATION) and sign it",
            b.revision, b.expires
        )));
    }
    if let (None, Some(min)) = (seen, expect.min_revision) {
        if b.revision < min {
            return Err(BundleError::Rollback(format!(
                "revision {} is below IMG_AUTHZ_BUNDLE_MIN_REVISION={min} (no revision accepted \
                 yet on this host); publish revision {min} or higher",
                b.revision
            )));
        }
    }
    Ok(())
}

pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// `state_dir` is the plugin's (`IMG_AUTHZ_STATE_DIR`).
    pub fn new(state_dir: &Path) -> Store {
        Store {
            dir: state_dir.join("bundle"),
        }
    }

    fn current(&self) -> PathBuf {
        self.dir.join("current")
    }

    /// The ratchet. A file that does not parse is an error, never "none":
    /// that would re-open rollback.
    pub fn seen(&self) -> Result<Option<Seen>, BundleError> {
        let p = self.dir.join("revision.json");
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| BundleError::Io(format!("{}: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&p, e)),
        }
    }

    fn write_seen(&self, s: &Seen) -> Result<(), BundleError> {
        let p = self.dir.join("revision.json");
        let tmp = self
            .dir
            .join(format!("revision.json.{}", std::process::id()));
        let text = serde_json::to_vec(s).map_err(|e| BundleError::Io(e.to_string()))?;
        write_synced(&tmp, &text)?;
        std::fs::rename(&tmp, &p).map_err(|e| io(&p, e))
    }

    /// The last known good bundle, checked again as at pull time, offline:
    /// its stored signature against the host's pin `signer` (for the
    /// reference the host follows), the manifest's digest against what the
    /// signature names, the config and layer against the manifest. `None`
    /// when there is none. The directory must also stay private to the
    /// plugin's user: the ratchet is not signed, and the signature alone
    /// cannot tell an older signed revision from the newest.
    pub fn last_known_good(
        &self,
        signer: &Signer,
        reference: &BundleRef,
    ) -> Result<Option<Fetched>, BundleError> {
        let cur = self.current();
        if !cur.exists() {
            return Ok(None);
        }
        let uid = effective_uid()?;
        // Whoever can write the state directory can rename another (older,
        // signed) copy of `bundle/` into place, its ratchet included.
        if let Some(parent) = self.dir.parent() {
            private_parent(parent, uid)?;
        }
        for p in [
            self.dir.clone(),
            cur.clone(),
            self.dir.join("revision.json"),
            cur.join("manifest.json"),
            cur.join("config.json"),
            cur.join("layer.json"),
        ] {
            private(&p, uid)?;
        }
        let sig = cur.join(SIGNATURE_FILE);
        if !sig.exists() {
            return Err(BundleError::Unsigned(format!(
                "{}: the last known good has no stored signature (written by an older \
                 img-authz?), so it cannot be verified offline; it is fetched again when the \
                 registry answers",
                sig.display()
            )));
        }
        private(&sig, uid)?;
        let read = |n: &str| std::fs::read(cur.join(n)).map_err(|e| io(&cur.join(n), e));
        let manifest = read("manifest.json")?;
        let evidence = Evidence::from_json(&read(SIGNATURE_FILE)?)?;
        let digest = super::format::sha256(&manifest);
        evidence::verify_offline(signer, reference, &digest, &manifest, &evidence)?;
        let f = Fetched::from_parts(
            manifest,
            read("config.json")?,
            read("layer.json")?,
            evidence,
        )?;
        Ok(Some(f))
    }

    /// Admit `f` against the ratchet, stage it, let `build` judge the
    /// staged policy file, put it in place, build it there, and only then
    /// advance the ratchet; any failure restores the previous bundle.
    pub fn install<T, E: std::fmt::Display>(
        &self,
        f: &Fetched,
        expect: &Expect,
        build: impl Fn(&Path) -> Result<T, E>,
    ) -> Result<(T, PathBuf), BundleError> {
        let seen = self.seen()?;
        admit(seen.as_ref(), f.bundle.revision, &f.digest)?;
        accept(
            seen.as_ref(),
            &f.bundle,
            expect,
            time::OffsetDateTime::now_utc(),
        )?;
        private_dir_all(&self.dir)?;
        let nonce = format!(
            "{}.{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let staging = self.dir.join(format!("staging.{nonce}"));
        let result = self.stage(&staging, f, &build);
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        let cur = self.current();
        let old = self.dir.join(format!("old.{nonce}"));
        let had_old = cur.exists();
        if had_old {
            std::fs::rename(&cur, &old).map_err(|e| io(&cur, e))?;
        }
        // Put the previous bundle back rather than leave none or a failing one.
        let restore = || {
            let _ = std::fs::remove_dir_all(&cur);
            if had_old {
                let _ = std::fs::rename(&old, &cur);
            }
        };
        if let Err(e) = std::fs::rename(&staging, &cur) {
            let _ = std::fs::remove_dir_all(&staging);
            restore();
            return Err(io(&cur, e));
        }
        // Build at the final path *before* the ratchet moves: a policy that
        // fails there must not become what the next boot loads.
        let policy = cur.join("files").join(POLICY_FILE);
        let built = match build(&policy) {
            Ok(b) => b,
            Err(e) => {
                restore();
                return Err(BundleError::Policy(e.to_string()));
            }
        };
        if let Err(e) = self.write_seen(&Seen {
            revision: f.bundle.revision,
            digest: f.digest.clone(),
        }) {
            restore();
            return Err(e);
        }
        let _ = std::fs::remove_dir_all(&old);
        Ok((built, policy))
    }

    fn stage<T, E: std::fmt::Display>(
        &self,
        staging: &Path,
        f: &Fetched,
        build: &impl Fn(&Path) -> Result<T, E>,
    ) -> Result<(), BundleError> {
        let files = staging.join("files");
        private_dir_all(&files)?;
        write_synced(&staging.join("manifest.json"), &f.manifest)?;
        write_synced(&staging.join("config.json"), &f.config)?;
        write_synced(&staging.join("layer.json"), &f.layer)?;
        write_synced(&staging.join(SIGNATURE_FILE), &f.evidence.to_json()?)?;
        f.bundle.write_to(&files)?;
        build(&files.join(POLICY_FILE)).map_err(|e| BundleError::Policy(e.to_string()))?;
        Ok(())
    }
}

/// The plugin's effective uid, from /proc (no libc call needed).
fn effective_uid() -> Result<u32, BundleError> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| io(Path::new("/proc/self/status"), e))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
        .ok_or_else(|| BundleError::Io("/proc/self/status: no effective uid".into()))
}

/// `p` exists, is owned by `uid` and is not writable by group or others.
fn private(p: &Path, uid: u32) -> Result<(), BundleError> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::symlink_metadata(p).map_err(|e| io(p, e))?;
    if m.file_type().is_symlink() || m.uid() != uid || m.mode() & 0o022 != 0 {
        return Err(BundleError::Io(format!(
            "{}: the last known good bundle is not used: it must be owned by the plugin's user \
             (uid {uid}; it is {}), not a symlink, and not writable by group or others (mode \
             {:o}), else anyone who can write it could install any policy; fix the ownership \
             and mode of IMG_AUTHZ_STATE_DIR/bundle (chown -R, chmod -R go-w) or remove it to \
             fetch the bundle again",
            p.display(),
            m.uid(),
            m.mode() & 0o7777
        )));
    }
    Ok(())
}

/// The state directory holding `bundle/`: owned by the plugin's user or
/// root, and not writable by group or others.
fn private_parent(p: &Path, uid: u32) -> Result<(), BundleError> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(p).map_err(|e| io(p, e))?;
    if (m.uid() != uid && m.uid() != 0) || m.mode() & 0o022 != 0 {
        return Err(BundleError::Io(format!(
            "{}: the last known good bundle is not used: IMG_AUTHZ_STATE_DIR must be owned by \
             the plugin's user (uid {uid}) or root (it is {}) and not writable by group or \
             others (mode {:o}), else anyone who can write it could put another bundle \
             directory in place; fix its ownership and mode (chmod go-w)",
            p.display(),
            m.uid(),
            m.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Directories of the last known good are made 0700 whatever the umask:
/// a group-writable umask would otherwise make the next boot refuse them.
fn private_dir_all(p: &Path) -> Result<(), BundleError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
        .map_err(|e| io(p, e))
}

/// Files of the last known good are created 0600 whatever the umask.
fn write_synced(p: &Path, data: &[u8]) -> Result<(), BundleError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(p)
        .map_err(|e| io(p, e))?;
    f.write_all(data).map_err(|e| io(p, e))?;
    f.sync_all().map_err(|e| io(p, e))
}

#[cfg(test)]
mod tests;
