//! The checker against a loopback server: OCSP before the CRL, caching,
//! undetermined statuses, the levels, budgets and redirects.

use super::*;

#[tokio::test]
async fn ocsp_is_preferred_crl_is_the_fallback_and_results_are_cached() {
    let ca = ca();
    let srv = server().await;
    let at = now();
    let r = Revocation::new();
    // OCSP says revoked: the chain fails, the CRL is not consulted.
    let p = ca.leaf(
        31,
        Some(&format!("{}/ocsp", srv.base)),
        Some(&format!("{}/ca.crl", srv.base)),
    );
    let (leaf, root) = parsed(&p);
    srv.set(
        "/ocsp",
        ocsp(
            &leaf,
            &root,
            CertStatus::revoked(RevokedInfo {
                revocation_time: gt(at - 100),
                revocation_reason: None,
            }),
            Some(at + 600),
            &ca.key,
            None,
        ),
    );
    srv.set("/ca.crl", ca.crl(&[], at - 60, at + 600));
    let e = r
        .check(&[leaf.clone(), root.clone()], at)
        .await
        .unwrap_err();
    assert!(matches!(e, RevocationError::Revoked { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("is revoked") && text.contains("serial 1f") && text.contains("/ocsp"),
        "{text}"
    );
    // The responder down: the CRL decides (here: revoked too, by CRL).
    let p = ca.leaf(
        32,
        Some(&format!("{}/ocsp", closed_port())),
        Some(&format!("{}/ca.crl", srv.base)),
    );
    let (leaf, root) = parsed(&p);
    srv.set("/ca.crl", ca.crl(&[32], at - 60, at + 600));
    let e = r
        .check(&[leaf, root.clone()], at)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("is revoked") && e.contains("CRL"), "{e}");
    // Good by CRL, then cached: the server may go away.
    let p = ca.leaf(33, None, Some(&format!("{}/ca.crl", srv.base)));
    let (leaf, root) = parsed(&p);
    r.check(&[leaf.clone(), root.clone()], at).await.unwrap();
    let before = srv.hits.load(Ordering::SeqCst);
    srv.task.abort();
    r.check(&[leaf.clone(), root.clone()], at).await.unwrap();
    assert_eq!(
        srv.hits.load(Ordering::SeqCst),
        before,
        "the cached status was not reused"
    );
    // ... until the CRL's nextUpdate.
    let e = r.check(&[leaf, root], at + 601).await.unwrap_err();
    assert!(matches!(e, RevocationError::Undetermined { .. }), "{e}");
}

#[tokio::test]
async fn nothing_answering_is_undetermined_and_no_source_is_not_revoked() {
    let ca = ca();
    let srv = server().await;
    let at = now();
    let r = Revocation::new();
    // No pointers: not revoked, nothing asked.
    let p = ca.leaf(41, None, None);
    let (leaf, root) = parsed(&p);
    r.check(&[leaf, root], at).await.unwrap();
    // Both down / answering 404.
    let p = ca.leaf(
        42,
        Some(&format!("{}/ocsp", closed_port())),
        Some(&format!("{}/missing.crl", srv.base)),
    );
    let (leaf, root) = parsed(&p);
    let e = r.check(&[leaf, root], at).await.unwrap_err().to_string();
    assert!(
        e.contains("cannot be determined")
            && e.contains("OCSP responder")
            && e.contains("HTTP 404"),
        "{e}"
    );
    assert!(e.contains("\"revocation\": \"log\""), "{e}");
    // A responder that never answers is bounded by the OCSP timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/ocsp", silent.local_addr().unwrap());
    let p = ca.leaf(43, Some(&url), None);
    let (leaf, root) = parsed(&p);
    let t = std::time::Instant::now();
    let e = r.check(&[leaf, root], at).await.unwrap_err().to_string();
    assert!(e.contains("no answer within 2 s"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    drop(silent);
}

#[tokio::test]
async fn the_levels_decide_what_a_revoked_signer_means() {
    let ca = ca();
    let srv = server().await;
    let at = now();
    let p = ca.leaf(51, None, Some(&format!("{}/ca.crl", srv.base)));
    srv.set("/ca.crl", ca.crl(&[51], at - 60, at + 600));
    let cand = Candidate {
        origin: "signature x".into(),
        media_type: jws::MEDIA_TYPE.into(),
        bytes: envelope(&p, serde_json::json!({}), &target()).into(),
    };
    let run = |level: &'static str, extra: serde_json::Value| {
        let (d, cfg) = cfg_with(level, extra, &p.root_der);
        let cand = &cand;
        async move {
            let r = Revocation::new();
            let stmt = cfg.policy.select("r.io/app").unwrap();
            let out = evaluate_online(&cfg, stmt, &r, cand, &target(), at).await;
            drop(d);
            out
        }
    };
    let e = run("strict", serde_json::json!({})).await.unwrap_err();
    // The variant decides: the revocation step, enforced, for a revoked signer.
    assert!(
        matches!(
            &e,
            Rejected::Enforced {
                failure: Failure::Revocation(RevocationError::Revoked { .. })
            }
        ),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(
        e.starts_with("revocation check failed") && e.contains("is revoked"),
        "{e}"
    );
    for level in ["permissive", "audit"] {
        let o = run(level, serde_json::json!({})).await.unwrap();
        assert!(
            o.logged
                .iter()
                .any(|l| l.starts_with("revocation") && l.contains("is revoked")),
            "{level}: {:?}",
            o.logged
        );
    }
    let over = serde_json::json!({"signatureVerification": {"level": "permissive", "override": {"revocation": "enforce"}}});
    assert!(run("permissive", over).await.is_err());
    // skip: the CRL is not even fetched.
    let before = srv.hits.load(Ordering::SeqCst);
    let skip = serde_json::json!({"signatureVerification": {"level": "strict", "override": {"revocation": "skip"}}});
    run("strict", skip).await.unwrap();
    assert_eq!(srv.hits.load(Ordering::SeqCst), before);
    // Not revoked: strict passes.
    srv.set("/ca.crl", ca.crl(&[], at - 60, at + 600));
    run("strict", serde_json::json!({})).await.unwrap();
}

#[tokio::test]
async fn a_revoked_intermediate_fails_the_chain() {
    let root = ca();
    let srv = server().await;
    let at = now();
    let ikey = KeyPair::generate().unwrap();
    let mut ip = CertificateParams::new(Vec::<String>::new()).unwrap();
    dn(&mut ip, "acme", "intermediate");
    ip.serial_number = Some(SerialNumber::from(61u64));
    ip.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ip.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ip.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![format!("{}/root.crl", srv.base)],
    }];
    let icert = ip.signed_by(&ikey, &root.cert, &root.key).unwrap();
    let inter = Ca {
        cert: icert,
        key: ikey,
    };
    let p = inter.leaf(62, None, None);
    let chain = vec![
        Cert::parse(&p.leaf_der).unwrap(),
        Cert::parse(inter.cert.der()).unwrap(),
        Cert::parse(root.cert.der()).unwrap(),
    ];
    srv.set("/root.crl", root.crl(&[61], at - 60, at + 600));
    let e = Revocation::new()
        .check(&chain, at)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("CN=intermediate") && e.contains("is revoked"),
        "{e}"
    );
    srv.set("/root.crl", root.crl(&[], at - 60, at + 600));
    Revocation::new().check(&chain, at).await.unwrap();
}

#[tokio::test]
async fn an_expired_cached_crl_is_fetched_again() {
    let ca = ca();
    let srv = server().await;
    let at = now();
    let r = Revocation::new();
    let p = ca.leaf(71, None, Some(&format!("{}/ca.crl", srv.base)));
    let (leaf, root) = parsed(&p);
    let chain = [leaf, root];
    srv.set("/ca.crl", ca.crl(&[], at - 60, at + 600));
    r.check(&chain, at).await.unwrap();
    // The CA revokes the leaf; the cached CRL is good until its nextUpdate.
    srv.set("/ca.crl", ca.crl(&[71], at + 500, at + 1800));
    r.check(&chain, at + 300).await.unwrap();
    let e = r.check(&chain, at + 700).await.unwrap_err();
    assert!(matches!(e, RevocationError::Revoked { .. }), "{e}");
}

#[tokio::test]
async fn an_untrusted_chain_s_responders_are_never_queried() {
    let ca = ca();
    let srv = server().await;
    let at = now();
    let p = ca.leaf(81, None, Some(&format!("{}/ca.crl", srv.base)));
    srv.set("/ca.crl", ca.crl(&[], at - 60, at + 600));
    let cand = Candidate {
        origin: "signature x".into(),
        media_type: jws::MEDIA_TYPE.into(),
        bytes: envelope(&p, serde_json::json!({}), &target()).into(),
    };
    // A store holding another CA: authenticity fails, audit only logs it.
    let other = self::ca();
    let (_d, cfg) = cfg_with("audit", serde_json::json!({}), other.cert.der());
    let stmt = cfg.policy.select("r.io/app").unwrap();
    let r = Revocation::new();
    let o = evaluate_online(&cfg, stmt, &r, &cand, &target(), at)
        .await
        .unwrap();
    assert!(
        o.logged
            .iter()
            .any(|l| l.starts_with("revocation") && l.contains("not queried")),
        "{:?}",
        o.logged
    );
    // Revocation enforced by override: undetermined, so denied.
    let over = serde_json::json!({"signatureVerification": {"level": "audit", "override": {"revocation": "enforce"}}});
    let (_d, cfg) = cfg_with("audit", over, other.cert.der());
    let stmt = cfg.policy.select("r.io/app").unwrap();
    let e = evaluate_online(&cfg, stmt, &r, &cand, &target(), at)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            Rejected::Enforced {
                failure: Failure::UntrustedChain(_)
            }
        ),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(e.contains("not queried"), "{e}");
    assert_eq!(
        srv.hits.load(Ordering::SeqCst),
        0,
        "an untrusted chain's CRL was fetched"
    );
}

#[tokio::test]
async fn revocation_fetches_do_not_follow_redirects() {
    let ca = ca();
    let (front, inner) = (server().await, server().await);
    let at = now();
    let p = ca.leaf(93, None, Some(&format!("{}/ca.crl", front.base)));
    let (leaf, root) = parsed(&p);
    // The CRL host sends us to another (here: loopback) service, which
    // would even answer with a valid CRL.
    inner.set("/ca.crl", ca.crl(&[], at - 60, at + 600));
    front.redirect("/ca.crl", &format!("{}/ca.crl", inner.base));
    let e = Revocation::new()
        .check(&[leaf, root], at)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot be determined") && e.contains("302"),
        "{e}"
    );
    assert_eq!(front.hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        inner.hits.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}

#[tokio::test]
async fn a_silent_responder_is_asked_once_and_remembered_as_undetermined() {
    let ca = ca();
    let (base, hits, task) = silent().await;
    let at = now();
    let p = ca.leaf(94, Some(&format!("{base}/ocsp")), None);
    let (leaf, root) = parsed(&p);
    let chain = [leaf, root];
    let r = Revocation::new();
    // Two verifications at once share one request.
    let (a, b) = tokio::join!(r.check(&chain, at), r.check(&chain, at));
    for e in [a.unwrap_err(), b.unwrap_err()] {
        assert!(matches!(e, RevocationError::Undetermined { .. }), "{e}");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "concurrent checks each asked"
    );
    // Within the negative-cache time: no request, still undetermined
    // (never "good"), and at once.
    let t = std::time::Instant::now();
    let e = r.check(&chain, at).await.unwrap_err();
    assert!(matches!(e, RevocationError::Undetermined { .. }), "{e}");
    assert!(e.to_string().contains("no answer within 2 s"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the failure was not remembered"
    );
    task.abort();
}

#[tokio::test]
async fn a_chain_s_revocation_check_stays_within_its_budget() {
    let ca = ca();
    let (base, _hits, task) = silent().await;
    let at = now();
    // Four silent responders and four silent CRLs: 4 × 2 s + 4 × 5 s
    // without a budget, above the plugin's 10 s decision deadline.
    let key = KeyPair::generate().unwrap();
    let mut lp = CertificateParams::new(Vec::<String>::new()).unwrap();
    dn(&mut lp, "acme", "signer");
    lp.serial_number = Some(SerialNumber::from(95u64));
    lp.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let many = AuthorityInfoAccessSyntax(
        (0..4)
            .map(|i| AccessDescription {
                access_method: AD_OCSP,
                access_location: GeneralName::UniformResourceIdentifier(
                    Ia5String::new(&format!("{base}/ocsp{i}")).unwrap(),
                ),
            })
            .collect(),
    );
    lp.custom_extensions.push(CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 5, 5, 7, 1, 1],
        many.to_der().unwrap(),
    ));
    lp.crl_distribution_points = vec![CrlDistributionPoint {
        uris: (0..4).map(|i| format!("{base}/{i}.crl")).collect(),
    }];
    let leaf = lp.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let chain = [
        Cert::parse(leaf.der()).unwrap(),
        Cert::parse(ca.cert.der()).unwrap(),
    ];
    let t = std::time::Instant::now();
    let e = Revocation::new().check(&chain, at).await.unwrap_err();
    assert!(matches!(e, RevocationError::Undetermined { .. }), "{e}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(9),
        "took {:?}: {e}",
        t.elapsed()
    );
    task.abort();
}
