use super::*;
use crate::bundle::evidence::testkit::{pin, sign};
use crate::bundle::Bundle;

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
}

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
    let d = tempfile::tempdir().unwrap();
    let store = Store::new(d.path());
    store
        .install(&fetched(1, "one"), &expect(), read_policy)
        .unwrap();
    let chmod = |p: &str, m: u32| chmod(&d.path().join(p), m);
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

/// Review 2 L3: a state directory others can write lets them swap the
/// whole `bundle/` directory (ratchet included) for an older signed
/// copy, so it is refused (failed before: only `bundle/` down was
/// checked).
#[test]
fn a_state_directory_others_can_write_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let store = Store::new(d.path());
    store
        .install(&fetched(1, "one"), &expect(), read_policy)
        .unwrap();
    let chmod = |m: u32| chmod(d.path(), m);
    chmod(0o755);
    assert!(lkg(&store).unwrap().is_some());
    for bad in [0o777, 0o775, 0o757] {
        chmod(bad);
        let e = lkg(&store).unwrap_err();
        assert!(
            e.to_string().contains("IMG_AUTHZ_STATE_DIR must be owned"),
            "{bad:o}: {e}"
        );
    }
    chmod(0o700);
    assert!(lkg(&store).unwrap().is_some());
}

/// Review 2 L4: what `install` writes is private whatever the umask
/// (failed before: files and directories took the umask's 0644/0755,
/// or 0664/0775 under umask 002, which the next boot refuses).
#[test]
fn the_last_known_good_is_written_private() {
    use std::os::unix::fs::MetadataExt as _;
    let d = tempfile::tempdir().unwrap();
    let store = Store::new(d.path());
    store
        .install(&fetched(1, "one"), &expect(), read_policy)
        .unwrap();
    let mode = |p: &str| std::fs::metadata(d.path().join(p)).unwrap().mode() & 0o777;
    for p in ["bundle", "bundle/current", "bundle/current/files"] {
        assert_eq!(mode(p), 0o700, "{p}");
    }
    for p in [
        "bundle/revision.json",
        "bundle/current/manifest.json",
        "bundle/current/config.json",
        "bundle/current/layer.json",
        "bundle/current/signature.json",
    ] {
        assert_eq!(mode(p), 0o600, "{p}");
    }
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
