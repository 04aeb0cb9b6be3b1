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
        std::fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
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
        std::fs::create_dir_all(&files).map_err(|e| io(&files, e))?;
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

fn write_synced(p: &Path, data: &[u8]) -> Result<(), BundleError> {
    use std::io::Write as _;
    let mut f = std::fs::File::create(p).map_err(|e| io(p, e))?;
    f.write_all(data).map_err(|e| io(p, e))?;
    f.sync_all().map_err(|e| io(p, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::evidence::testkit::{pin, sign};
    use crate::bundle::Bundle;

    const PROD: &str = "oci://reg.example.com/platform/img-authz:prod";

    /// The last known good as a host pinning key 1 and following PROD reads it.
    fn lkg(store: &Store) -> Result<Option<Fetched>, BundleError> {
        store.last_known_good(&pin(1), &expect().reference)
    }

    fn expect() -> Expect {
        Expect {
            reference: crate::bundle::BundleRef::parse(PROD).unwrap(),
            channel: None,
            min_revision: None,
        }
    }

    fn fetched(revision: u64, policy: &str) -> Fetched {
        fetched_with(revision, policy, PROD, "2999-01-01T00:00:00Z")
    }

    fn fetched_with(revision: u64, policy: &str, scope: &str, expires: &str) -> Fetched {
        let b = Bundle {
            revision,
            created: "2026-12-05T00:00:00Z".into(),
            scope: vec![scope.into()],
            expires: expires.into(),
            files: [
                ("policy.toml".to_string(), policy.as_bytes().to_vec()),
                ("keys/k.pub".to_string(), b"K".to_vec()),
            ]
            .into(),
        };
        let e = b.encode().unwrap();
        let signed = sign(1, &crate::bundle::format::sha256(&e.manifest));
        Fetched::from_parts(e.manifest, e.config, e.layer, signed).unwrap()
    }

    fn read_policy(p: &Path) -> Result<String, String> {
        let t = std::fs::read_to_string(p).map_err(|e| e.to_string())?;
        if t.contains("bad") {
            return Err("bad policy".into());
        }
        Ok(t)
    }

    #[test]
    fn the_revision_ratchet() {
        let s = Seen {
            revision: 5,
            digest: "sha256:a".into(),
        };
        admit(None, 0, "sha256:x").unwrap();
        admit(Some(&s), 6, "sha256:b").unwrap();
        admit(Some(&s), 5, "sha256:a").unwrap();
        assert!(matches!(
            admit(Some(&s), 5, "sha256:b"),
            Err(BundleError::Rollback(_))
        ));
        assert!(matches!(
            admit(Some(&s), 4, "sha256:a"),
            Err(BundleError::Rollback(_))
        ));
    }

    #[test]
    fn install_persists_and_refuses_rollback_and_bad_policies() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        assert!(lkg(&store).unwrap().is_none());
        let (p, path) = store
            .install(&fetched(2, "two"), &expect(), read_policy)
            .unwrap();
        assert_eq!(p, "two");
        assert!(path.ends_with("bundle/current/files/policy.toml"));
        assert_eq!(
            std::fs::read(d.path().join("bundle/current/files/keys/k.pub")).unwrap(),
            b"K"
        );
        // Older, or other content under revision 2: refused, nothing moves.
        for f in [fetched(1, "one"), fetched(2, "other two")] {
            assert!(matches!(
                store.install(&f, &expect(), read_policy),
                Err(BundleError::Rollback(_))
            ));
        }
        // A policy that does not load: refused before anything is replaced.
        assert!(matches!(
            store.install(&fetched(3, "bad"), &expect(), read_policy),
            Err(BundleError::Policy(_))
        ));
        assert_eq!(store.seen().unwrap().unwrap().revision, 2);
        // A new store (a restarted plugin) finds the last known good.
        let again = Store::new(d.path());
        let lkg = lkg(&again).unwrap().unwrap();
        assert_eq!(lkg.bundle.revision, 2);
        let (p, _) = again.install(&lkg, &expect(), read_policy).unwrap();
        assert_eq!(p, "two");
        again
            .install(&fetched(3, "three"), &expect(), read_policy)
            .unwrap();
        assert_eq!(again.seen().unwrap().unwrap().revision, 3);
        // No staging or old directory is left behind.
        let left: Vec<_> = std::fs::read_dir(d.path().join("bundle"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(
            left.iter().all(|n| n == "current" || n == "revision.json"),
            "{left:?}"
        );
    }

    /// The policy must build where it will live before the ratchet moves:
    /// a build failing at the final path leaves the ratchet and `current/`
    /// as they were (else the next boot would load a failing policy).
    #[test]
    fn a_build_failing_in_place_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        store
            .install(&fetched(2, "two"), &expect(), read_policy)
            .unwrap();
        let calls = std::cell::Cell::new(0);
        let second_fails = |p: &Path| {
            calls.set(calls.get() + 1);
            if calls.get() >= 2 {
                return Err("fails in place".to_string());
            }
            read_policy(p)
        };
        assert!(matches!(
            store.install(&fetched(3, "three"), &expect(), second_fails),
            Err(BundleError::Policy(_))
        ));
        assert_eq!(store.seen().unwrap().unwrap().revision, 2);
        assert_eq!(
            std::fs::read_to_string(d.path().join("bundle/current/files/policy.toml")).unwrap(),
            "two"
        );
        assert_eq!(lkg(&store).unwrap().unwrap().bundle.revision, 2);
        let left: Vec<_> = std::fs::read_dir(d.path().join("bundle"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(
            left.iter().all(|n| n == "current" || n == "revision.json"),
            "{left:?}"
        );
    }

    /// H1: a bundle signed for :canary, retagged as :prod, is refused by a
    /// :prod host (the signature only covers the digest, which follows).
    #[test]
    fn a_bundle_published_for_another_tag_or_repository_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        store
            .install(&fetched(4, "four"), &expect(), read_policy)
            .unwrap();
        for other in [
            "oci://reg.example.com/platform/img-authz:canary",
            "oci://reg.example.com/other/img-authz:prod",
            "canary",
        ] {
            let e = store
                .install(
                    &fetched_with(5, "five", other, "2999-01-01T00:00:00Z"),
                    &expect(),
                    read_policy,
                )
                .unwrap_err();
            assert!(matches!(e, BundleError::OutOfScope(_)), "{other}: {e}");
        }
        assert_eq!(store.seen().unwrap().unwrap().revision, 4);
        // A channel the host follows is in scope.
        let mut ch = expect();
        ch.channel = Some("prod".into());
        store
            .install(
                &fetched_with(5, "five", "prod", "2999-01-01T00:00:00Z"),
                &ch,
                read_policy,
            )
            .unwrap();
        assert_eq!(store.seen().unwrap().unwrap().revision, 5);
    }

    /// M2: an expired bundle is refused; a fresh host with a floor refuses
    /// older revisions; the floor does not apply once a revision was seen.
    #[test]
    fn expired_bundles_and_the_first_use_floor() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        let e = store
            .install(
                &fetched_with(3, "three", PROD, "2020-01-01T00:00:00Z"),
                &expect(),
                read_policy,
            )
            .unwrap_err();
        assert!(matches!(e, BundleError::Expired(_)), "{e}");
        assert!(e.to_string().contains("publish a new revision"), "{e}");
        let mut floor = expect();
        floor.min_revision = Some(5);
        let e = store
            .install(&fetched(3, "three"), &floor, read_policy)
            .unwrap_err();
        assert!(
            e.to_string().contains("IMG_AUTHZ_BUNDLE_MIN_REVISION=5"),
            "{e}"
        );
        assert!(store.seen().unwrap().is_none());
        store
            .install(&fetched(5, "five"), &floor, read_policy)
            .unwrap();
        // The ratchet governs from now on.
        store
            .install(&fetched(6, "six"), &floor, read_policy)
            .unwrap();
    }

    /// L5: a state directory others can write is not trusted at boot.
    #[test]
    fn a_last_known_good_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        store
            .install(&fetched(1, "one"), &expect(), read_policy)
            .unwrap();
        let chmod = |p: &str, m: u32| {
            std::fs::set_permissions(d.path().join(p), std::fs::Permissions::from_mode(m)).unwrap()
        };
        chmod("bundle", 0o700);
        chmod("bundle/current", 0o700);
        chmod("bundle/current/layer.json", 0o600);
        assert!(lkg(&store).unwrap().is_some());
        for (p, bad, good) in [
            ("bundle", 0o777, 0o700),
            ("bundle/current", 0o770, 0o700),
            ("bundle/current/layer.json", 0o666, 0o600),
        ] {
            chmod(p, bad);
            let e = lkg(&store).unwrap_err();
            assert!(
                e.to_string().contains("not writable by group or others"),
                "{p}: {e}"
            );
            chmod(p, good);
        }
        assert!(lkg(&store).unwrap().is_some());
    }

    /// L5: someone able to write the state directory rewrites the last
    /// known good consistently (manifest, config and layer re-hashed, a
    /// higher revision): its blobs agree with each other, but the stored
    /// signature is for another digest, or by a key the host does not pin,
    /// or missing: the boot refuses it (failed before: only the blobs were
    /// checked against each other, and the rewrite was put in force).
    #[test]
    fn a_last_known_good_rewritten_or_signed_by_another_key_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        store
            .install(&fetched(1, "one"), &expect(), read_policy)
            .unwrap();
        let cur = d.path().join("bundle/current");
        let sig = cur.join(SIGNATURE_FILE);
        let kept = std::fs::read(&sig).unwrap();
        let evil = fetched(2, "allow everything");
        std::fs::write(cur.join("manifest.json"), &evil.manifest).unwrap();
        std::fs::write(cur.join("config.json"), &evil.config).unwrap();
        std::fs::write(cur.join("layer.json"), &evil.layer).unwrap();
        // The signature of revision 1 does not cover revision 2's manifest.
        let e = lkg(&store).unwrap_err();
        assert!(matches!(e, BundleError::Unsigned(_)), "{e}");
        // A valid signature of revision 2, by a key the host does not pin.
        std::fs::write(&sig, sign(2, &evil.digest).to_json().unwrap()).unwrap();
        let e = lkg(&store).unwrap_err();
        assert!(matches!(e, BundleError::Unsigned(_)), "{e}");
        assert!(e.to_string().contains("cosign key k1.pub"), "{e}");
        // No stored signature at all (an older img-authz wrote it).
        std::fs::remove_file(&sig).unwrap();
        let e = lkg(&store).unwrap_err();
        assert!(e.to_string().contains("no stored signature"), "{e}");
        // The bytes of revision 1 with their signature: taken again.
        let one = fetched(1, "one");
        std::fs::write(cur.join("manifest.json"), &one.manifest).unwrap();
        std::fs::write(cur.join("config.json"), &one.config).unwrap();
        std::fs::write(cur.join("layer.json"), &one.layer).unwrap();
        std::fs::write(&sig, &kept).unwrap();
        assert_eq!(lkg(&store).unwrap().unwrap().bundle.revision, 1);
        // A host pinning another key refuses it.
        let e = store
            .last_known_good(&pin(2), &expect().reference)
            .unwrap_err();
        assert!(matches!(e, BundleError::Unsigned(_)), "{e}");
    }

    /// L5: the last known good swapped for an older revision signed by the
    /// pinned key verifies, and is refused by the ratchet at boot, as at
    /// pull time (so is one past its expiry).
    #[test]
    fn a_last_known_good_swapped_for_an_older_or_expired_revision_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        let older = tempfile::tempdir().unwrap();
        let old_store = Store::new(older.path());
        old_store
            .install(&fetched(1, "one"), &expect(), read_policy)
            .unwrap();
        store
            .install(&fetched(2, "two"), &expect(), read_policy)
            .unwrap();
        let cur = d.path().join("bundle/current");
        std::fs::remove_dir_all(&cur).unwrap();
        std::fs::rename(older.path().join("bundle/current"), &cur).unwrap();
        let f = lkg(&store).unwrap().unwrap();
        assert_eq!(f.bundle.revision, 1);
        let e = store.install(&f, &expect(), read_policy).unwrap_err();
        assert!(matches!(e, BundleError::Rollback(_)), "{e}");
        // Expired since it was pulled: refused at boot too.
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
        let soon = soon
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        store
            .install(
                &fetched_with(3, "three", PROD, &soon),
                &expect(),
                read_policy,
            )
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let f = lkg(&store).unwrap().unwrap();
        let e = store.install(&f, &expect(), read_policy).unwrap_err();
        assert!(matches!(e, BundleError::Expired(_)), "{e}");
    }

    #[test]
    fn a_tampered_last_known_good_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path());
        store
            .install(&fetched(1, "one"), &expect(), read_policy)
            .unwrap();
        let layer = d.path().join("bundle/current/layer.json");
        let mut b = std::fs::read(&layer).unwrap();
        b[5] ^= 1;
        std::fs::write(&layer, b).unwrap();
        assert!(matches!(lkg(&store), Err(BundleError::Tampered(_))));
        // A corrupt ratchet is an error, not "no revision seen".
        std::fs::write(d.path().join("bundle/revision.json"), "{").unwrap();
        assert!(store.seen().is_err());
    }
}
