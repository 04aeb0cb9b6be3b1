//! Keys, signature methods and thresholds.

use super::*;

// ------------------------------------------------- keys and signature methods

fn all_key_kinds() -> Vec<TestKey> {
    vec![
        TestKey::ed25519("k-ed"),
        TestKey::p256("k-p256"),
        TestKey::p384("k-p384"),
        TestKey::rsa("k-rsa"),
        TestKey::rsa("k-rsa").with_method("rsapkcs1v15"),
        TestKey::rsa("k-rsa").with_method("pycrypto-pkcs#1 pss"),
        TestKey::p256("k-p256").certified(&CertSpec::new(GUN)),
        TestKey::p384("k-p384").certified(&CertSpec::new(GUN)),
        TestKey::rsa("k-rsa").certified(&CertSpec::new(GUN)),
    ]
}

#[test]
fn every_key_type_and_method_verifies_and_a_flipped_bit_does_not() {
    let signed = some_signed();
    for key in all_key_kinds() {
        let what = format!("{} {}", key.keytype, key.method);
        let role = role_keys("targets", &[&key], 1);
        let file = sign_envelope(&signed, std::slice::from_ref(&key));
        let env = parse_envelope(&file, "targets").unwrap();
        assert_eq!(env.signatures[0].method, key.method, "{what}");
        verify_threshold(&env, &role).unwrap_or_else(|e| panic!("{what}: {e}"));

        let bad = parse_envelope(&corrupt_signatures(&file), "targets").unwrap();
        let k = &role.keys[&key.id()];
        let s = &bad.signatures[0];
        assert_err!(
            k.verify(&s.method, &bad.canonical, &s.sig),
            Signature,
            "does not verify"
        );
        assert_err!(
            verify_threshold(&bad, &role),
            Threshold,
            "0 valid signature(s)"
        );

        // Signatures cover the canonical bytes of `signed`: changing a
        // signed field invalidates them.
        let mut other = signed.clone();
        other["version"] = json!(2);
        let sigs: Value = serde_json::from_slice::<Value>(&file).unwrap()["signatures"].clone();
        let forged =
            parse_envelope(&envelope(&other, sigs.as_array().unwrap()), "targets").unwrap();
        assert_err!(
            verify_threshold(&forged, &role),
            Threshold,
            "does not verify"
        );
    }
}

#[test]
fn ecdsa_signatures_are_raw_r_s_not_der() {
    let key = TestKey::p256("der");
    let signed = some_signed();
    let c = crate::trust::notary::canonical::canonical(&signed).unwrap();
    let der = json!({"keyid": key.id(), "method": "ecdsa", "sig": b64(&key.sign_ecdsa_der(&c))});
    let env = parse_envelope(&envelope(&signed, &[der]), "targets").unwrap();
    let k = parse_key(&key.json()).unwrap();
    let s = &env.signatures[0];
    assert_err!(
        k.verify(&s.method, &env.canonical, &s.sig),
        Signature,
        "not 64 bytes of r‖s"
    );
    // The raw form of the same key verifies.
    assert_eq!(key.sign(&c).len(), 64);
    assert_eq!(TestKey::p384("der").sign(&c).len(), 96);
}

#[test]
fn method_must_fit_the_key() {
    let msg = b"payload";
    let cases = [
        (TestKey::ed25519("m"), "ecdsa"),
        (TestKey::p256("m"), "eddsa"),
        (TestKey::p256("m"), "rsapss"),
        (TestKey::rsa("k-rsa"), "ecdsa"),
        (TestKey::rsa("k-rsa"), "rsa-unknown"),
    ];
    for (key, method) in cases {
        let k = parse_key(&key.json()).unwrap();
        assert_err!(
            k.verify(method, msg, &key.sign(msg)),
            Signature,
            "does not fit"
        );
    }
}

#[test]
fn malformed_keys_are_rejected() {
    let ed = TestKey::ed25519("bad");
    // A private key in metadata.
    let mut with_private = ed.json();
    with_private["keyval"]["private"] = json!("c2VjcmV0");
    assert_err!(parse_key(&with_private), Key, "private key");
    // An ed25519 key declared as ecdsa, and the other way round.
    let mut mislabeled = ed.json();
    mislabeled["keytype"] = json!("ecdsa");
    assert_err!(parse_key(&mislabeled), Key, "unsupported public key");
    let mut mislabeled = TestKey::p256("bad").json();
    mislabeled["keytype"] = json!("ed25519");
    assert_err!(parse_key(&mislabeled), Key, "not 32 bytes");
    // An RSA certificate declared as ecdsa-x509.
    let mut wrong_x509 = TestKey::rsa("k-rsa").certified(&CertSpec::new(GUN)).json();
    wrong_x509["keytype"] = json!("ecdsa-x509");
    assert_err!(parse_key(&wrong_x509), Key, "another kind of key");
    let mut unknown = ed.json();
    unknown["keytype"] = json!("dsa");
    assert_err!(parse_key(&unknown), Key, "unsupported key type");
}

#[tokio::test]
async fn repositories_with_every_key_kind_verify() {
    // RSA everywhere, P-384 snapshot and delegation.
    let mut r = repo();
    r.root.keys = vec![TestKey::rsa("k-rsa").certified(&CertSpec::new(GUN))];
    r.targets.keys = vec![TestKey::rsa("k-rsa").with_method("rsapkcs1v15")];
    r.snapshot.keys = vec![TestKey::p384("snap")];
    r.timestamp.keys = vec![TestKey::rsa("k-rsa").with_method("pycrypto-pkcs#1 pss")];
    r.delegation(RELEASES).role.keys = vec![TestKey::p384("rel")];
    let c = Client::tofu();
    c.publish(&r);
    let t = c.update().await.unwrap();
    assert_eq!(
        resolved(&t, "latest"),
        some(RELEASES, "manifest-releases-latest")
    );

    // `notary init` style: P-384 root certificate, client-side ecdsa snapshot.
    let mut r = repo();
    r.root.keys = vec![TestKey::p384("root384").certified(&CertSpec::new(GUN))];
    r.snapshot.keys = vec![TestKey::p256("snap256")];
    let c = Client::tofu();
    c.publish(&r);
    let t = c.update().await.unwrap();
    assert_eq!(resolved(&t, "v1"), some("targets", "manifest-targets-v1"));
}

#[tokio::test]
async fn key_id_must_match_the_key() {
    let wrong_id = TestKey::p256("someone-else").id();

    // In root's keys.
    let mut r = repo();
    let id = r.root.keys[0].id();
    let wid = wrong_id.clone();
    r.edit("root", move |s| {
        let k = s["keys"].as_object_mut().unwrap().remove(&id).unwrap();
        s["keys"][&wid] = k;
        s["roles"]["root"]["keyids"] = json!([&wid]);
    });
    let c = Client::tofu();
    c.publish(&r);
    assert_err!(c.update().await, Key, "root: key listed as");

    // In targets' delegation keys.
    let mut r = repo();
    let id = r.delegation(RELEASES).role.keys[0].id();
    r.edit("targets", move |s| {
        let d = &mut s["delegations"];
        let k = d["keys"].as_object_mut().unwrap().remove(&id).unwrap();
        d["keys"][&wrong_id] = k;
        d["roles"][0]["keyids"] = json!([&wrong_id]);
    });
    let c = Client::tofu();
    c.publish(&r);
    assert_err!(c.update().await, Key, "targets: key listed as");
}

// ------------------------------------------------------------- thresholds

#[test]
fn threshold_counts_distinct_keys() {
    let (a, b, stranger) = (
        TestKey::p256("a"),
        TestKey::ed25519("b"),
        TestKey::p256("stranger"),
    );
    let role = role_keys("targets", &[&a, &b], 2);
    let signed = some_signed();
    let check = |signers: &[TestKey]| {
        verify_threshold(
            &parse_envelope(&sign_envelope(&signed, signers), "t").unwrap(),
            &role,
        )
    };

    check(&[a.clone(), b.clone()]).unwrap();
    // One key signing twice is one signature.
    assert_err!(
        check(&[a.clone(), a.clone()]),
        Threshold,
        "1 valid signature(s) from its keys, 2 required"
    );
    // Keys the role does not list do not count.
    assert_err!(
        check(&[a.clone(), stranger.clone()]),
        Threshold,
        "1 valid signature(s)"
    );
    // A bad signature by a listed key does not count, and does not spoil a good one.
    let c = crate::trust::notary::canonical::canonical(&signed).unwrap();
    let mut bad_b = signature(&b, &c);
    bad_b["sig"] = json!(b64(&b.sign(b"something else")));
    let env = parse_envelope(&envelope(&signed, &[bad_b.clone(), signature(&a, &c)]), "t").unwrap();
    assert_err!(
        verify_threshold(&env, &role),
        Threshold,
        "1 valid signature(s)"
    );
    let env = parse_envelope(
        &envelope(&signed, &[bad_b, signature(&a, &c), signature(&b, &c)]),
        "t",
    )
    .unwrap();
    verify_threshold(&env, &role).unwrap();
    // A threshold of 0 is never met.
    let zero = RoleKeys {
        threshold: 0,
        ..role.clone()
    };
    let env = parse_envelope(&sign_envelope(&signed, &[a]), "t").unwrap();
    assert_err!(verify_threshold(&env, &zero), Threshold, "threshold is 0");
}

/// A repository whose `role` needs two keys, signed as `signers` says.
fn two_key_role(role: &str, signers: impl Fn(&TestKey, &TestKey) -> Vec<TestKey>) -> Repo {
    let mut r = repo();
    let a = r.role(role).keys[0].clone();
    let b = TestKey::p256(&format!("{role}-second"));
    let spec = r.role(role);
    spec.keys.push(b.clone());
    spec.threshold = 2;
    spec.signers = Some(signers(&a, &b));
    r
}

#[tokio::test]
async fn top_level_roles_need_their_threshold_of_distinct_keys() {
    for role in ["timestamp", "snapshot", "targets"] {
        let ok = Client::tofu();
        ok.publish(&two_key_role(role, |a, b| vec![a.clone(), b.clone()]));
        ok.update().await.unwrap_or_else(|e| panic!("{role}: {e}"));

        let below = Client::tofu();
        below.publish(&two_key_role(role, |a, _| vec![a.clone()]));
        assert_err!(
            below.update().await,
            Threshold,
            format!("{role}: 1 valid signature(s) from its keys, 2 required")
        );

        let twice = Client::tofu();
        twice.publish(&two_key_role(role, |a, _| vec![a.clone(), a.clone()]));
        assert_err!(
            twice.update().await,
            Threshold,
            format!("{role}: 1 valid signature(s)")
        );
    }
}

#[tokio::test]
async fn root_needs_its_threshold_of_certificates() {
    let second = TestKey::root_cert("root-second", GUN);
    let mut r = repo();
    r.root.keys.push(second);
    r.root.threshold = 2;
    let c = Client::tofu();
    c.publish(&r);
    c.update().await.unwrap();

    r.root.signers = Some(vec![r.root.keys[0].clone()]);
    let c = Client::tofu();
    c.publish(&r);
    assert_err!(
        c.update().await,
        Root,
        "root: 1 valid signature(s) from its keys, 2 required"
    );
}

#[tokio::test]
async fn wrong_key_or_corrupt_signature_on_a_top_level_role_is_rejected() {
    for role in ["timestamp", "snapshot", "targets"] {
        let mut r = repo();
        r.role(role).signers = Some(vec![TestKey::p256("intruder")]);
        let c = Client::tofu();
        c.publish(&r);
        assert_err!(
            c.update().await,
            Threshold,
            format!("{role}: 0 valid signature(s)")
        );

        let mut r = repo();
        let good = r.build();
        r.replace
            .insert(role.to_string(), corrupt_signatures(good.file(role)));
        let c = Client::tofu();
        c.publish(&r);
        assert_err!(
            c.update().await,
            Threshold,
            format!("{role}: 0 valid signature(s)")
        );
    }
    // A root signed by a key it does not list.
    let mut r = repo();
    r.root.signers = Some(vec![TestKey::root_cert("intruder-root", GUN)]);
    let c = Client::tofu();
    c.publish(&r);
    assert_err!(c.update().await, Root, "root: 0 valid signature(s)");
}
