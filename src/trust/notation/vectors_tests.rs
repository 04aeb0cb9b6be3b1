//! The trust-policy cases of the public Notary Project test vectors (notation
//! `test/e2e/testdata/config/trustpolicies/*.json`, one case per file, named
//! after it), rewritten here as our own JSON: what notation accepts, we
//! accept; what it refuses, we refuse (with the reason's gist). Cases that
//! need a signature (identity mismatch, no applicable scope, levels) are
//! covered by the tests named in TESTING.md.

use super::policy::TrustPolicy;

/// One statement with the e2e defaults, `patch` merged over it.
fn st(patch: serde_json::Value) -> serde_json::Value {
    let mut s = serde_json::json!({
        "name": "e2e", "registryScopes": ["*"],
        "signatureVerification": {"level": "strict"},
        "trustStores": ["ca:e2e"], "trustedIdentities": ["*"],
    });
    for (k, v) in patch.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

fn doc(statements: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::json!({"version": "1.0", "trustPolicies": statements})
        .to_string()
        .into_bytes()
}

const ID: &str = "x509.subject: CN=e2e,O=Notary,L=Seattle,ST=WA,C=US";

#[test]
fn the_notation_e2e_trust_policy_cases() {
    use serde_json::json;
    let sv = |v: serde_json::Value| json!({"signatureVerification": v});
    let valid: Vec<(&str, Vec<u8>)> = vec![
        ("trustpolicy", doc(vec![st(json!({}))])),
        ("any_registry_scope_trust_policy", doc(vec![st(json!({}))])),
        (
            "generate_test_trustpolicy",
            doc(vec![st(
                json!({"name": "sKey", "trustStores": ["ca:sKey"]}),
            )]),
        ),
        (
            "quickstart_trustpolicy",
            doc(vec![st(
                json!({"name": "wabbit-networks-images", "trustStores": ["ca:wabbit-networks.io"]}),
            )]),
        ),
        (
            "audit_trustpolicy",
            doc(vec![st(sv(json!({"level": "audit"})))]),
        ),
        (
            "permissive_trustpolicy",
            doc(vec![st(sv(json!({"level": "permissive"})))]),
        ),
        (
            "skip_trustpolicy",
            doc(vec![
                json!({"name": "e2e", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}}),
            ]),
        ),
        (
            "registry_scope_trustpolicy",
            doc(vec![st(
                json!({"registryScopes": ["localhost:5000/test-repo"]}),
            )]),
        ),
        (
            "invalid_registry_scope_trustpolicy (valid; no scope for other repos)",
            doc(vec![st(
                json!({"registryScopes": ["localhost:5000/invalid-test-repo"]}),
            )]),
        ),
        (
            "multiple_registry_scope_trustpolicy",
            doc(vec![st(
                json!({"registryScopes": ["localhost:5000/test-repo3", "localhost:5000/test-repo2"]}),
            )]),
        ),
        (
            "multi_statements_with_wildcard_registry_scope_trustpolicy",
            doc(vec![
                st(json!({"registryScopes": ["localhost:5000/test-repo9"]})),
                st(json!({"name": "e2e2"})),
            ]),
        ),
        (
            "multiple_trust_store_trustpolicy",
            doc(vec![st(json!({"trustStores": ["ca:e2e", "ca:e2e-new"]}))]),
        ),
        (
            "valid_trusted_identity_trustpolicy",
            doc(vec![st(json!({"trustedIdentities": [ID]}))]),
        ),
        (
            "invalid_trusted_identity_trustpolicy (valid; C=USB mismatches at verification)",
            doc(vec![st(
                json!({"trustedIdentities": ["x509.subject: CN=e2e,O=Notary,L=Seattle,ST=WA,C=USB"]}),
            )]),
        ),
        (
            "multiple_trusted_identity_trustpolicy",
            doc(vec![st(
                json!({"trustedIdentities": [ID, "x509.subject: O=Internet Widgits Pty Ltd,ST=Some-State,C=AU"]}),
            )]),
        ),
        (
            "override_audit_trustpolicy",
            doc(vec![st(sv(
                json!({"level": "audit", "override": {"revocation": "enforce", "expiry": "enforce", "authenticTimestamp": "enforce", "authenticity": "enforce"}}),
            ))]),
        ),
        (
            "override_permissive_trustpolicy",
            doc(vec![st(sv(
                json!({"level": "permissive", "override": {"revocation": "enforce", "expiry": "enforce", "authenticTimestamp": "enforce", "authenticity": "log"}}),
            ))]),
        ),
        (
            "override_strict_trustpolicy",
            doc(vec![st(sv(
                json!({"level": "strict", "override": {"revocation": "log", "expiry": "log", "authenticTimestamp": "log", "authenticity": "log"}}),
            ))]),
        ),
        (
            "timestamp_trustpolicy",
            doc(vec![st(
                json!({"trustStores": ["ca:e2e", "tsa:e2e"], "signatureVerification": {"level": "strict", "verifyTimestamp": "always"}}),
            )]),
        ),
        (
            "timestamp_after_cert_expiry_trustpolicy",
            doc(vec![st(
                json!({"trustStores": ["ca:e2e", "tsa:e2e"], "signatureVerification": {"level": "strict", "verifyTimestamp": "afterCertExpiry"}}),
            )]),
        ),
        (
            "timestamp_skip_revocation_trustpolicy",
            doc(vec![st(
                json!({"trustStores": ["ca:e2e", "tsa:e2e"], "signatureVerification": {"level": "strict", "override": {"revocation": "skip"}}}),
            )]),
        ),
    ];
    for (name, bytes) in &valid {
        if let Err(e) = TrustPolicy::parse(bytes) {
            panic!("{name}: notation accepts it, we refuse: {e}");
        }
    }
    let invalid: Vec<(&str, Vec<u8>, &str)> = vec![
        ("invalid_format_trustpolicy", br#"{"version": "1.0", "trustPolicies": [ {"name": "e2e", "registryScopes": ["*"] }} ] }"#.to_vec(), ""),
        ("blob_trust_policy (no registryScopes: not an OCI policy)", doc(vec![json!({"name": "b", "globalPolicy": true, "signatureVerification": {"level": "audit"}, "trustStores": ["ca:acme-rockets"], "trustedIdentities": ["*"]})]), ""),
        ("empty_registry_scope_trustpolicy", doc(vec![st(json!({"registryScopes": []}))]), ""),
        ("malformed_registry_scope_trustpolicy", doc(vec![st(json!({"registryScopes": ["localhost:5000\\test-repo"]}))]), ""),
        ("overlapped_registry_scope_trustpolicy", doc(vec![st(json!({"registryScopes": ["localhost:5000/test-repo6", "localhost:5000/test-repo6"]}))]), "twice"),
        ("wildcard_plus_other_registry_scope_trustpolicy", doc(vec![st(json!({"registryScopes": ["*", "localhost:5000/test-repo7"]}))]), ""),
        ("multi_statements_with_multi_wildcard_registry_scope_trustpolicy", doc(vec![st(json!({})), st(json!({"name": "e2e2"}))]), "global"),
        ("multi_statements_with_the_same_name_trustpolicy", doc(vec![
            st(json!({"registryScopes": ["localhost:5000/test-repo10"]})),
            st(json!({"registryScopes": ["localhost:5000/test-repo11"]})),
        ]), "named"),
        ("multi_statements_with_the_same_registry_scope_trustpolicy", doc(vec![
            st(json!({"registryScopes": ["localhost:5000/test-repo8"]})),
            st(json!({"name": "e2e2", "registryScopes": ["localhost:5000/test-repo8"]})),
        ]), "test-repo8"),
        ("unset_trust_store_trustpolicy", doc(vec![st(json!({"trustStores": []}))]), ""),
        ("malformed_trust_store_trustpolicy", doc(vec![st(json!({"trustStores": ["ca:"]}))]), ""),
        ("wildcard_trust_store_trustpolicy", doc(vec![st(json!({"trustStores": ["*"]}))]), ""),
        ("unset_trusted_identity_trustpolicy", doc(vec![st(json!({"trustedIdentities": []}))]), ""),
        ("empty_trusted_identity_trustpolicy", doc(vec![st(json!({"trustedIdentities": [""]}))]), ""),
        ("malformed_trusted_identity_trustpolicy", doc(vec![st(json!({"trustedIdentities": ["x509.subject CN=e2e,O=Notary,L=Seattle,ST=WA,C=US"]}))]), ""),
        ("missing_country_trusted_identity_trustpolicy", doc(vec![st(json!({"trustedIdentities": ["x509.subject: CN=e2e,O=Notary,L=Seattle,ST=WA"]}))]), ""),
        ("missing_organization_trusted_identity_trustpolicy", doc(vec![st(json!({"trustedIdentities": ["x509.subject: CN=e2e,L=Seattle,ST=WA,C=US"]}))]), ""),
        ("missing_state_trusted_identity_trustpolicy", doc(vec![st(json!({"trustedIdentities": ["x509.subject: CN=e2e,O=Notary,L=Seattle,C=US"]}))]), ""),
        ("overlapped_trusted_identity_trustpolicy", doc(vec![st(json!({"trustedIdentities": [ID, "x509.subject: CN=e2e,O=Notary,ST=WA,C=US"]}))]), "overlap"),
        ("wildcard_plus_other_trusted_identity_trustpolicy", doc(vec![st(json!({"trustedIdentities": ["*", ID]}))]), ""),
        ("override_integrity_for_permissive_trustpolicy", doc(vec![st(sv(json!({"level": "permissive", "override": {"integrity": "enforce", "authenticity": "log"}})))]), "integrity"),
    ];
    for (name, bytes, why) in &invalid {
        match TrustPolicy::parse(bytes) {
            Ok(_) => panic!("{name}: notation refuses it, we accept it"),
            Err(e) => assert!(
                e.to_string().contains(why),
                "{name}: {e} (expected {why:?})"
            ),
        }
    }
}

#[test]
fn trust_store_cases_missing_and_overlapped_stores() {
    // invalid_trust_store_trustpolicy: a store the policy names must exist.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("truststore/x509/ca")).unwrap();
    let policy = dir.path().join("trustpolicy.json");
    std::fs::write(
        &policy,
        doc(vec![st(
            serde_json::json!({"trustStores": ["ca:invalid_store"]}),
        )]),
    )
    .unwrap();
    let e = super::NotationConfig::load(&policy, &dir.path().join("truststore"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid_store"), "{e}");
    // overlapped_trust_store_trustpolicy: notation's e2e skips the case
    // ("overlapped trust stores were not checked"); we refuse the duplicate.
    let e = TrustPolicy::parse(&doc(vec![st(
        serde_json::json!({"trustStores": ["ca:e2e", "ca:e2e"]}),
    )]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("\"ca:e2e\" is listed twice"), "{e}");
}
