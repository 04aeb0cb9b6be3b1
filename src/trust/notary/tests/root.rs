//! The root of trust: rotation, root certificates, pins, first use, and
//! issue 13 (thresholds count keys, not key IDs).

use super::*;

// ------------------------------------------------------------- root of trust

#[tokio::test]
async fn root_rotation_signed_by_old_and_new_keys_is_accepted() {
    let mut c = Client::tofu();
    let mut r = repo();
    c.publish(&r);
    c.update().await.unwrap();

    let old = r.root.keys.clone();
    let new = TestKey::root_cert("rotated-root", GUN);
    r.root.keys = vec![new.clone()];
    r.root.version = 2;
    r.root.signers = Some([old, vec![new]].concat());
    // The rotation also replaces the targets key.
    r.targets.keys = vec![TestKey::p256("rotated-targets")];
    r.tag("targets", "v1", "manifest-targets-v1-rotated");
    r.bump();
    let v2 = c.publish(&r);

    let t = c.update().await.unwrap();
    assert_eq!(
        resolved(&t, "v1"),
        some("targets", "manifest-targets-v1-rotated")
    );
    assert_eq!(c.stored_root().as_deref(), Some(v2.file("root")));
    assert!(c.fetch.requests().contains(&format!("{GUN}/2.root.json")));

    // The rotated root is what is trusted from now on, across restarts.
    c.restart();
    c.update().await.unwrap();
    assert_eq!(c.store.load(GUN).unwrap().versions["root"], 2);
}

/// A client trusting root 1, and a server whose root 2 (new key) is
/// signed by `signers(old, new)`.
async fn rotate(
    signers: impl Fn(&TestKey, &TestKey) -> Vec<TestKey>,
) -> Result<RepoTrust, TufError> {
    let c = Client::tofu();
    let mut r = repo();
    c.publish(&r);
    c.update().await.unwrap();
    let old = r.root.keys[0].clone();
    let new = TestKey::root_cert("rotated-root", GUN);
    r.root.keys = vec![new.clone()];
    r.root.version = 2;
    r.root.signers = Some(signers(&old, &new));
    r.bump();
    c.publish(&r);
    c.update().await
}

#[tokio::test]
async fn root_rotation_must_meet_old_and_new_thresholds() {
    assert!(rotate(|old, new| vec![old.clone(), new.clone()])
        .await
        .is_ok());
    assert_err!(
        rotate(|_, new| vec![new.clone()]).await,
        Root,
        "the new root is not signed by the trusted root's keys"
    );
    assert_err!(
        rotate(|old, _| vec![old.clone()]).await,
        Root,
        "root: 0 valid signature(s)"
    );
}

#[tokio::test]
async fn root_rotation_walk_is_bounded() {
    let c = Client::tofu();
    let mut r = repo();
    c.publish(&r);
    c.update().await.unwrap();
    // More new root versions, each properly signed by its predecessor's
    // key, than one update may walk.
    let max = crate::trust::notary::update::MAX_ROTATIONS;
    for v in 2..=max + 6 {
        r.root.version = v;
        c.fetch.serve_role(GUN, "root", v, &r.root_file());
    }
    r.bump();
    c.publish(&r);
    assert_err!(c.update().await, RootMismatch, "another root");
    let requests = c.fetch.requests();
    assert!(requests.contains(&format!("{GUN}/{}.root.json", max + 1)));
    assert!(!requests.contains(&format!("{GUN}/{}.root.json", max + 2)));
}

#[tokio::test]
async fn expired_root_certificate_is_rejected() {
    // On first contact.
    let mut r = repo();
    r.root.keys = vec![root_key(
        "old-cert",
        CertSpec::new(GUN).valid(day(-400), day(-1)),
    )];
    let c = Client::tofu();
    c.publish(&r);
    assert_err!(c.update().await, Root, "expired at");

    // Trusted while valid, refused once it has expired, even after a restart.
    let mut r = repo();
    r.root.keys = vec![root_key(
        "short-cert",
        CertSpec::new(GUN).valid(day(-1), day(30)),
    )];
    r.timestamp.expires = day(60);
    let mut c = Client::tofu();
    c.publish(&r);
    c.update_at(day(29)).await.unwrap();
    c.restart();
    assert_err!(c.update_at(day(31)).await, Root, "expired at");
}

#[tokio::test]
async fn root_certificate_validity_start_allows_one_day_of_skew() {
    for (starts, ok) in [(day(0) + time::Duration::hours(23), true), (day(2), false)] {
        let mut r = repo();
        r.root.keys = vec![root_key(
            "future-cert",
            CertSpec::new(GUN).valid(starts, day(365)),
        )];
        let c = Client::tofu();
        c.publish(&r);
        expect_root(c.update().await, ok, "is not valid yet", "NotBefore");
    }
}

#[tokio::test]
async fn root_certificate_must_name_the_repository() {
    for (cn, ok) in [
        ("registry.example.com:5000/team/other", false),
        ("registry.example.com:5000/team", false),
        ("registry.example.com:5000/team/*", true),
        ("registry.example.com:5000/*", true),
        ("registry.example.com:5000/other/*", false),
    ] {
        let mut r = repo();
        r.root.keys = vec![root_key("cn-cert", CertSpec::new(cn))];
        let c = Client::tofu();
        c.publish(&r);
        expect_root(
            c.update().await,
            ok,
            &format!("names {cn:?}, not {GUN:?}"),
            cn,
        );
    }
}

#[tokio::test]
async fn root_keys_must_be_leaf_certificates() {
    // A plain key.
    let mut r = repo();
    r.root.keys = vec![TestKey::p256("plain-root")];
    let c = Client::tofu();
    c.publish(&r);
    assert_err!(c.update().await, Root, "is not an X.509 certificate");

    // A CA certificate.
    let mut r = repo();
    r.root.keys = vec![root_key("ca-root", CertSpec::new(GUN).ca_certificate())];
    let c = Client::tofu();
    c.publish(&r);
    assert_err!(c.update().await, Root, "is a CA certificate");
}

// -------------------------------------------------------------------- pins

#[tokio::test]
async fn certs_pin_by_notary_canonical_id_or_tuf_id() {
    let r = repo();
    let root = &r.root.keys[0];
    for id in [root.canonical_id(), root.id()] {
        let c = Client::pinned(GUN, Pin::Certs(vec![id]));
        c.publish(&r);
        assert_eq!(c.update().await.unwrap().root_source, RootSource::Pinned);
    }
    let c = Client::pinned(
        "registry.example.com:5000/*",
        Pin::Certs(vec![TestKey::p256("other").canonical_id()]),
    );
    c.publish(&r);
    assert_err!(
        c.update().await,
        Root,
        "does not satisfy the pin for \"registry.example.com:5000/*\""
    );
}

#[tokio::test]
async fn ca_pin_accepts_leaves_it_issued() {
    let ca = TestCa::root("pinned");
    let intermediate = ca.intermediate("pinned-intermediate");
    let other = TestCa::root("other");
    let with_root = |spec: CertSpec| {
        let mut r = repo();
        r.root.keys = vec![root_key("ca-issued", spec)];
        r
    };
    let cases = [
        (
            "issued by the CA",
            with_root(CertSpec::new(GUN).issued_by(&ca)),
            true,
        ),
        (
            "through an intermediate",
            with_root(CertSpec::new(GUN).issued_by(&intermediate)),
            true,
        ),
        (
            "issued by another CA",
            with_root(CertSpec::new(GUN).issued_by(&other)),
            false,
        ),
        ("self-signed", repo(), false),
    ];
    for (what, r, ok) in cases {
        let c = Client::pinned(GUN, Pin::Ca(vec![ca.der()]));
        c.publish(&r);
        expect_root(c.update().await, ok, "does not satisfy the pin", what);
    }
}

#[tokio::test]
async fn public_key_pin() {
    let r = repo();
    let c = Client::pinned(GUN, Pin::Keys(vec![r.root.keys[0].spki_der()]));
    c.publish(&r);
    assert_eq!(c.update().await.unwrap().root_source, RootSource::Pinned);

    let c = Client::pinned(GUN, Pin::Keys(vec![TestKey::p256("other").spki_der()]));
    c.publish(&r);
    assert_err!(c.update().await, Root, "does not satisfy the pin");
}

#[tokio::test]
async fn a_stored_root_is_rechecked_against_the_pin() {
    // Trusted on first use, then a pin is configured that it fails.
    let mut c = Client::tofu();
    c.publish(&repo());
    c.update().await.unwrap();
    c.policy = RootPolicy {
        pins: vec![PinRule {
            pattern: GUN.into(),
            pin: Pin::Certs(vec![TestKey::p256("other").canonical_id()]),
        }],
        tofu: true,
    };
    assert_err!(c.update().await, Root, "does not satisfy the pin");
}

#[tokio::test]
async fn without_tofu_a_pin_is_required() {
    let c = Client::with_policy(RootPolicy {
        pins: vec![PinRule {
            pattern: "registry.example.com:5000/elsewhere/*".into(),
            pin: Pin::Certs(vec![repo().root.keys[0].canonical_id()]),
        }],
        tofu: false,
    });
    c.publish(&repo());
    assert_err!(
        c.update().await,
        Root,
        "no pin applies and trust on first use is off"
    );
    assert!(c.fetch.requests().is_empty(), "nothing is fetched");
}

#[tokio::test]
async fn tofu_root_is_persisted_and_an_impostor_is_rejected() {
    let mut c = Client::tofu();
    let built = c.publish(&repo());
    c.update().await.unwrap();
    let files: Vec<_> = std::fs::read_dir(c.dir.path().join("notary"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(files.len(), 1);
    c.restart();
    assert_eq!(c.stored_root().as_deref(), Some(built.file("root")));

    // The server now serves another repository under the same name, with
    // keys of its own.
    c.fetch.clear(GUN);
    let mut impostor = Repo::with_seed(GUN, "impostor");
    impostor.tag("targets", "latest", "manifest-evil");
    c.publish(&impostor);
    c.fetch.clear_requests();
    assert_err!(
        c.update().await,
        Threshold,
        "timestamp: 0 valid signature(s)"
    );
    assert!(!c.fetch.requests().contains(&format!("{GUN}/root.json")));

    // Even with a "rotation" to its own root.
    impostor.root.version = 2;
    c.publish(&impostor);
    assert_err!(
        c.update().await,
        Root,
        "the new root is not signed by the trusted root's keys"
    );

    // A client without the persisted state would have trusted it.
    let naive = Client::tofu();
    impostor.publish(&naive.fetch);
    naive.update().await.unwrap();
}

// ------------------------------------------- issue 13: rotation and thresholds

/// A client that trusted a root listing the real certificate and `extra`
/// (counted or not), and a server whose root 2 names an attacker's
/// certificate and is signed by `extra` and the attacker.
async fn rotate_with_extra_old_key(extra: TestKey) -> Result<RepoTrust, TufError> {
    let c = Client::tofu();
    let mut r = repo();
    let real = r.root.keys[0].clone();
    r.root.keys = vec![real.clone(), extra.clone()];
    r.root.signers = Some(vec![real]);
    c.publish(&r);
    c.update()
        .await
        .expect("the first root is trusted on its real certificate");
    let attacker = TestKey::root_cert("attacker-root", GUN);
    r.root.keys = vec![attacker.clone()];
    r.root.version = 2;
    r.root.signers = Some(vec![extra, attacker]);
    r.targets.keys = vec![TestKey::p256("attacker-targets")];
    r.tag("targets", "latest", "manifest-evil");
    r.bump();
    c.publish(&r);
    c.update().await
}

#[tokio::test]
async fn rotation_is_vouched_for_only_by_counted_root_certificates() {
    // Each of these sits in the trusted root without counting as a root
    // certificate; none may sign its successor.
    for (what, extra) in [
        ("a plain key", TestKey::p256("plain-extra")),
        (
            "a CA certificate",
            root_key("ca-extra", CertSpec::new(GUN).ca_certificate()),
        ),
        (
            "a certificate for another repository",
            TestKey::root_cert("other-extra", "registry.example.com:5000/team/other"),
        ),
    ] {
        let r = rotate_with_extra_old_key(extra).await;
        match r {
            Err(TufError::Root(m)) if m.contains("not signed by the trusted root's keys") => {}
            other => panic!(
                "{what}: rotation accepted or wrong error: {:?}",
                other.map(|_| ())
            ),
        }
    }
    // A counted certificate still vouches for a rotation.
    let second = TestKey::root_cert("second-real", GUN);
    rotate_with_extra_old_key(second).await.unwrap();
}

#[test]
fn one_key_listed_twice_is_one_key() {
    let a = TestKey::p256("twice");
    let signed = some_signed();
    let forms: [(&str, TestKey, TestKey); 2] = [
        (
            "ecdsa and ecdsa-x509",
            a.clone(),
            a.certified(&CertSpec::new("alice")),
        ),
        (
            "two certificates",
            a.certified(&CertSpec::new("alice")),
            a.certified(&CertSpec::new("alice-again")),
        ),
    ];
    for (what, x, y) in forms {
        assert_ne!(x.id(), y.id(), "{what}: two key IDs");
        let role = role_keys("targets", &[&x, &y], 2);
        let env = parse_envelope(&sign_envelope(&signed, &[x.clone(), y.clone()]), "t").unwrap();
        match verify_threshold(&env, &role) {
            Err(TufError::Threshold(m)) if m.contains("1 valid signature(s)") => {}
            other => panic!("{what}: {other:?}"),
        }
        // With a second, distinct key the threshold is met.
        let b = TestKey::ed25519("other");
        let role = role_keys("targets", &[&x, &y, &b], 2);
        let env = parse_envelope(&sign_envelope(&signed, &[x, y, b]), "t").unwrap();
        verify_threshold(&env, &role).unwrap();
    }
}

#[tokio::test]
async fn every_threshold_counts_keys_not_key_ids() {
    // Top-level roles: the second "key" is the first in x509 form.
    for role in ["timestamp", "snapshot", "targets"] {
        let mut r = repo();
        let a = r.role(role).keys[0].clone();
        let b = match a.keytype.as_str() {
            "ed25519" => continue,
            _ => a.certified(&CertSpec::new("same-key")),
        };
        let spec = r.role(role);
        spec.keys.push(b.clone());
        spec.threshold = 2;
        spec.signers = Some(vec![a, b]);
        let c = Client::tofu();
        c.publish(&r);
        assert_err!(c.update().await, Threshold, format!("{role}: 1 valid"));
    }
    // Root: two certificates for one key.
    let mut r = repo();
    let k = TestKey::p256("root-twice");
    r.root.keys = vec![
        k.certified(&CertSpec::new(GUN)),
        k.certified(&CertSpec::new(GUN).valid(day(-2), day(700))),
    ];
    r.root.threshold = 2;
    let c = Client::tofu();
    c.publish(&r);
    assert_err!(c.update().await, Root, "root: 1 valid signature(s)");

    // A delegation (a required signer role is one): under its threshold it
    // signs nothing, so `latest` falls back to the targets role.
    let mut r = repo();
    let d = r.delegation(RELEASES);
    let a = d.role.keys[0].clone();
    let b = a.certified(&CertSpec::new("releaser"));
    d.role.keys.push(b.clone());
    d.role.threshold = 2;
    d.role.signers = Some(vec![a, b]);
    let c = Client::tofu();
    c.publish(&r);
    let t = c.update().await.unwrap();
    assert_eq!(
        resolved(&t, "latest"),
        some("targets", "manifest-targets-latest")
    );
}

#[tokio::test]
async fn a_first_use_root_cannot_lock_out_a_pinned_rule() {
    // One server, one state store, two rules: one trusts on first use, the
    // other pins the real root certificate.
    let real = repo();
    let mut c = Client::tofu();
    // The server first serves an impostor to the first-use rule...
    let mut impostor = Repo::with_seed(GUN, "impostor");
    impostor.tag("targets", "latest", "manifest-evil");
    c.publish(&impostor);
    c.update().await.unwrap();
    // ...then the real repository; the pinned rule must still reach it.
    c.fetch.clear(GUN);
    c.publish(&real);
    c.policy = RootPolicy {
        pins: vec![PinRule {
            pattern: GUN.into(),
            pin: Pin::Certs(vec![real.root.keys[0].canonical_id()]),
        }],
        tofu: false,
    };
    let t = c.update().await.unwrap();
    assert_eq!(t.root_source, RootSource::Pinned);
    assert_eq!(
        resolved(&t, "latest"),
        some(RELEASES, "manifest-releases-latest")
    );
    // And the pinned rule's trust does not leak into the first-use rule's.
    c.restart();
    c.policy = RootPolicy {
        pins: Vec::new(),
        tofu: true,
    };
    assert_err!(
        c.update().await,
        Threshold,
        "timestamp: 0 valid signature(s)"
    );
}

#[tokio::test]
async fn role_files_above_the_size_limit_are_not_fetched() {
    // A snapshot just over the limit, validly listed and signed.
    let max = crate::trust::notary::update::max_role();
    let mut r = repo();
    r.edit("snapshot", move |s| {
        s["padding"] = json!("x".repeat(usize::try_from(max).unwrap()))
    });
    let c = Client::tofu();
    c.publish(&r);
    assert_err!(
        c.update().await,
        TooLarge,
        format!("snapshot is listed as {}", {
            let b = r.build();
            b.file("snapshot").len()
        })
    );
    assert!(
        !c.fetch.requests().iter().any(|p| p.contains("snapshot.")),
        "{:?}",
        c.fetch.requests()
    );
}
