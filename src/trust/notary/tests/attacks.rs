//! TUF attacks on the chain: delegations, rollback, expiry, mix-and-match
//! and size limits.

use super::*;

// ------------------------------------------------------------- delegations

#[tokio::test]
async fn invalid_delegations_are_skipped_for_targets() {
    // Signed by a key the delegation does not list.
    let mut wrong_key = repo();
    wrong_key.delegation(RELEASES).role.signers = Some(vec![TestKey::p256("intruder")]);
    // Below its threshold.
    let mut below = repo();
    let d = below.delegation(RELEASES);
    d.role.signers = Some(d.role.keys.clone());
    d.role.keys.push(TestKey::p256("releases-second"));
    d.role.threshold = 2;
    // Expired (at day 2).
    let mut expired = repo();
    expired.delegation(RELEASES).role.expires = day(1);
    // Not declared by targets at all.
    let mut undeclared = repo();
    undeclared.delegation(RELEASES).declared = false;

    for (what, r) in [
        ("wrong key", wrong_key),
        ("below threshold", below),
        ("expired", expired),
        ("undeclared", undeclared),
    ] {
        let c = Client::tofu();
        c.publish(&r);
        let t = c
            .update_at(day(2))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(!t.roles.contains_key(RELEASES), "{what}");
        assert_eq!(
            resolved(&t, "latest"),
            some("targets", "manifest-targets-latest"),
            "{what}"
        );
    }
}

#[tokio::test]
async fn delegation_paths_restrict_what_it_may_sign() {
    let mut r = repo();
    r.delegation(RELEASES).paths = vec!["v1".to_string()];
    r.tag(RELEASES, "latest", "manifest-evil")
        .tag(RELEASES, "v1", "manifest-releases-v1");
    let c = Client::tofu();
    c.publish(&r);
    let t = c.update().await.unwrap();
    assert_eq!(
        resolved(&t, "latest"),
        some("targets", "manifest-targets-latest")
    );
    assert_eq!(resolved(&t, "v1"), some(RELEASES, "manifest-releases-v1"));
    assert!(!t.roles[RELEASES].contains_key("latest"));

    // Without a fallback in targets, the tag is simply not signed.
    r.tags.remove("latest");
    r.bump();
    c.publish(&r);
    let t = c.update().await.unwrap();
    assert_eq!(resolved(&t, "latest"), None);
    assert_eq!(t.signs_digest(RELEASES, &digest_of("manifest-evil")), None);
}

// ------------------------------------------------------------------ rollback

/// A client that has seen version 2 of everything, then a server replaying
/// `role` at version 1: the old file itself for the timestamp, or a newly
/// signed parent (the server holds timestamp and snapshot keys) listing
/// the old file for the others.
async fn replay_old(role: &str, restart: bool) -> Result<RepoTrust, TufError> {
    let mut c = Client::tofu();
    let mut r = repo();
    let v1 = c.publish(&r);
    r.tag("targets", "latest", "manifest-targets-2")
        .tag(RELEASES, "latest", "manifest-releases-2");
    r.bump();
    c.publish(&r);
    let t = c.update().await.unwrap();
    assert_eq!(
        resolved(&t, "latest"),
        some(RELEASES, "manifest-releases-2")
    );
    if restart {
        c.restart();
    }
    r.bump();
    if role == "timestamp" {
        c.fetch.put(GUN, "timestamp.json", v1.file("timestamp"));
    } else {
        r.replace.insert(role.to_string(), v1.file(role).to_vec());
        c.publish(&r);
    }
    c.update().await
}

#[tokio::test]
async fn rollback_of_any_role_is_rejected() {
    for role in ["timestamp", "snapshot", "targets", RELEASES] {
        assert_err!(
            replay_old(role, false).await,
            Rollback,
            format!("{role} version 1 is older than version 2")
        );
    }
}

/// An update that learns nothing new leaves the stored state alone (no
/// write, no fsync on the request path); one that sees new versions still
/// stores them, and they survive a restart.
#[tokio::test]
async fn unchanged_state_is_not_rewritten() {
    use std::os::unix::fs::MetadataExt;
    let mut c = Client::tofu();
    let mut r = repo();
    c.publish(&r);
    c.update().await.unwrap();
    let file = || {
        let mut files: Vec<_> = std::fs::read_dir(c.dir.path().join("notary"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files.pop().unwrap()
    };
    let ino = |p: &std::path::Path| std::fs::metadata(p).unwrap().ino();
    let first = ino(&file());
    c.update().await.unwrap();
    assert_eq!(ino(&file()), first, "an unchanged state was rewritten");
    r.bump();
    c.publish(&r);
    c.update().await.unwrap();
    assert_ne!(ino(&file()), first, "new versions were not stored");
    c.restart();
    assert_eq!(
        c.store.load(GUN).unwrap().versions.get("timestamp"),
        Some(&2)
    );
}

#[tokio::test]
async fn rollback_protection_survives_restarts() {
    for role in ["timestamp", "snapshot", "targets", RELEASES] {
        assert_err!(
            replay_old(role, true).await,
            Rollback,
            format!("{role} version 1 is older than version 2")
        );
    }
}

#[tokio::test]
async fn versions_are_remembered_only_after_a_successful_update() {
    // A bad update at version 5 must not poison the ratchet: the good
    // server's version 2 is still accepted afterwards.
    let c = Client::tofu();
    let mut r = repo();
    c.publish(&r);
    c.update().await.unwrap();
    let mut bad = r.clone();
    bad.timestamp.version = 5;
    bad.snapshot.version = 5;
    bad.targets.signers = Some(vec![TestKey::p256("intruder")]);
    bad.publish(&c.fetch);
    assert_err!(c.update().await, Threshold, "targets");
    r.bump();
    c.publish(&r);
    c.update().await.unwrap();
}

// ------------------------------------------------------------------- expiry

#[tokio::test]
async fn expired_timestamp_is_a_freeze_attack() {
    let c = Client::tofu();
    c.publish(&repo());
    c.update_at(day(13)).await.unwrap();
    assert_err!(c.update_at(day(15)).await, Expired, "timestamp expired at");
}

#[tokio::test]
async fn expired_snapshot_targets_and_root_are_rejected() {
    for role in ["snapshot", "targets", "root"] {
        let mut r = repo();
        r.timestamp.expires = day(60);
        r.role(role).expires = day(5);
        let c = Client::tofu();
        c.publish(&r);
        c.update_at(day(4))
            .await
            .unwrap_or_else(|e| panic!("{role}: {e}"));
        assert_err!(
            c.update_at(day(6)).await,
            Expired,
            format!("{role} expired at")
        );
        // A fresh client is refused just the same.
        let fresh = Client::tofu();
        fresh.publish(&r);
        assert_err!(
            fresh.update_at(day(6)).await,
            Expired,
            format!("{role} expired at")
        );
    }
}

// ----------------------------------------------------------- mix and match

#[tokio::test]
async fn snapshot_other_than_the_timestamp_lists_is_rejected() {
    let c = Client::tofu();
    let mut r = repo();
    let v1 = c.publish(&r);
    r.tag(RELEASES, "latest", "manifest-releases-later2");
    r.bump();
    let v2 = c.publish(&r);
    assert_eq!(v1.file("snapshot").len(), v2.file("snapshot").len());
    c.fetch
        .put(GUN, &v2.hashed_name("snapshot"), v1.file("snapshot"));
    assert_err!(c.update().await, Hash, "snapshot: sha256 does not match");
}

#[tokio::test]
async fn targets_from_another_version_is_rejected() {
    let c = Client::tofu();
    let mut r = repo();
    let v1 = c.publish(&r);
    r.tag("targets", "latest", "manifest-targets-later2");
    r.bump();
    let v2 = c.publish(&r);
    assert_eq!(v1.file("targets").len(), v2.file("targets").len());
    c.fetch
        .put(GUN, &v2.hashed_name("targets"), v1.file("targets"));
    assert_err!(c.update().await, Hash, "targets: sha256 does not match");

    // Same for a delegation.
    c.publish(&r);
    let mut r3 = r.clone();
    r3.tag(RELEASES, "latest", "manifest-releases-later2");
    r3.bump();
    let v3 = c.publish(&r3);
    c.fetch
        .put(GUN, &v3.hashed_name(RELEASES), v2.file(RELEASES));
    assert_err!(
        c.update().await,
        Hash,
        format!("{RELEASES}: sha256 does not match")
    );
}

#[tokio::test]
async fn targets_swapped_between_repositories_is_rejected() {
    let other_gun = "registry.example.com:5000/team/other";
    let mut b = Repo::new(other_gun);
    b.tag("targets", "latest", "manifest-of-b");
    let b_files = b.build();
    let a = repo();

    // B's valid targets served where A's snapshot points.
    let c = Client::tofu();
    let a_files = c.publish(&a);
    c.fetch.put(
        GUN,
        &a_files.hashed_name("targets"),
        b_files.file("targets"),
    );
    assert!(b_files.file("targets").len() < a_files.file("targets").len());
    assert_err!(c.update().await, Hash, "targets: ");

    // A server that re-signs A's snapshot and timestamp (it holds those
    // keys) to list B's targets: B's targets key is not A's.
    let mut forged = a.clone();
    forged
        .replace
        .insert("targets".into(), b_files.file("targets").to_vec());
    let c = Client::tofu();
    c.publish(&forged);
    assert_err!(c.update().await, Threshold, "targets: 0 valid signature(s)");
}

#[tokio::test]
async fn snapshot_listing_another_root_is_rejected() {
    // A server that keeps root.json but lists another root in the
    // snapshot, with no rotation to explain it.
    let c = Client::tofu();
    let mut r = repo();
    c.publish(&r);
    c.update().await.unwrap();
    r.edit("root", |s| s["consistent_snapshot"] = json!(true));
    r.bump();
    c.publish(&r);
    assert_err!(
        c.update().await,
        RootMismatch,
        "the snapshot lists another root"
    );
}

#[tokio::test]
async fn every_listed_hash_must_match_and_hashes_are_base64() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit, TufError); 4] = [
        // sha256 right, sha512 wrong: none may mismatch.
        (
            "snapshot",
            |s| s["meta"]["targets"]["hashes"]["sha512"] = json!(b64(&[0u8; 64])),
            TufError::Hash("targets: sha512 does not match".into()),
        ),
        (
            "timestamp",
            |s| s["meta"]["snapshot"]["hashes"]["sha512"] = json!(b64(&[0u8; 64])),
            TufError::Hash("snapshot: sha512 does not match".into()),
        ),
        // Only sha512 listed: the file cannot be fetched by its sha256.
        (
            "snapshot",
            |s| {
                let h = s["meta"]["targets"]["hashes"].as_object_mut().unwrap();
                h.remove("sha256");
            },
            TufError::Format("targets is listed without a sha256".into()),
        ),
        // Hex where notary writes base64.
        (
            "snapshot",
            |s| s["meta"]["targets"]["hashes"]["sha256"] = json!("ab".repeat(32)),
            TufError::Format("snapshot meta for targets: sha256 hash of wrong length".into()),
        ),
    ];
    for (role, edit, expected) in cases {
        let mut r = repo();
        r.edit(role, edit);
        let c = Client::tofu();
        c.publish(&r);
        assert_eq!(c.update().await.map(|_| ()), Err(expected));
    }
}

#[tokio::test]
async fn a_file_of_another_type_is_rejected() {
    for role in ["root", "timestamp", "snapshot", "targets", RELEASES] {
        let mut r = repo();
        r.edit(role, |s| s["_type"] = json!("Other"));
        let c = Client::tofu();
        c.publish(&r);
        assert_err!(c.update().await, Format, "_type is \"Other\"");
    }
}

#[test]
fn signatures_cover_the_canonical_form_not_the_served_bytes() {
    let key = TestKey::p256("canonical");
    let role = role_keys("targets", &[&key], 1);
    let file = sign_envelope(&some_signed(), std::slice::from_ref(&key));
    // The same document, pretty-printed: other bytes, same canonical form.
    let v: Value = serde_json::from_slice(&file).unwrap();
    let pretty = serde_json::to_vec_pretty(&v).unwrap();
    assert_ne!(pretty, file);
    verify_threshold(&parse_envelope(&pretty, "targets").unwrap(), &role).unwrap();
}

// ----------------------------------------------------------------- size limits

#[tokio::test]
async fn oversized_timestamp_is_rejected() {
    let mut r = repo();
    r.edit("timestamp", |s| {
        s["padding"] = json!("x".repeat(1024 * 1024))
    });
    let c = Client::tofu();
    c.publish(&r);
    assert_err!(
        c.update().await,
        TooLarge,
        "timestamp.json is larger than 1048576 bytes"
    );
}

#[tokio::test]
async fn metadata_longer_or_shorter_than_listed_is_rejected() {
    for role in ["snapshot", "targets", RELEASES] {
        let c = Client::tofu();
        let built = c.publish(&repo());
        let file = built.file(role);
        let name = built.hashed_name(role);

        c.fetch.put(GUN, &name, [file, b" "].concat());
        assert_err!(
            c.update().await,
            TooLarge,
            format!("{name} is larger than {} bytes", file.len())
        );

        c.fetch.put(GUN, &name, &file[..file.len() - 1]);
        assert_err!(
            c.update().await,
            Hash,
            format!("{role}: {} bytes, expected {}", file.len() - 1, file.len())
        );
    }
}
