//! The typed causes, as real verifiers produce them against a registry
//! stand-in on loopback: the kind decides the hint and the caching, so each
//! failure must land in the right one.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::credentials::Credentials;
use crate::http::{HttpClient, HttpError};
use crate::metrics::Upstream;
use crate::registry::RegistryClient;
use crate::request::reference::Reference;
use crate::trust::cosign::discover::tests::stand_in;
use crate::trust::cosign::discover::COSIGN_SIG;
use crate::trust::cosign::signature::SIMPLE_SIGNING;
use crate::trust::cosign::verify::{Evidence, Rejection, Untrusted};
use crate::trust::cosign::{verify_digest, CosignPolicy, Tlog, Why};
use crate::trust::pinned::Pinned;
use crate::trust::Verifier as _;

fn repo(port: u16) -> Reference {
    Reference::parse_normalized(&format!("127.0.0.1:{port}/r")).unwrap()
}

/// A registry 404 for the tag: not signed (nothing to sign), not an outage.
#[tokio::test]
async fn a_tag_the_registry_does_not_have_is_not_in_registry() {
    let port = stand_in::Reg::default().serve();
    let v = Pinned::new([], stand_in::client());
    let e = v.signed_digest(&repo(port), "v1").await.unwrap_err();
    let want = format!("127.0.0.1:{port}/r:v1");
    assert!(
        matches!(&e, TrustError::NotSigned(NotSigned::NotInRegistry { image }) if *image == want),
        "{e:?}"
    );
    assert_eq!(e.to_string(), format!("{want} is not in its registry"));
}

/// A registry that accepts the connection and never answers: the request
/// times out, and that is `Unavailable` (never cached, "make it reachable").
#[tokio::test]
async fn a_registry_that_times_out_is_unavailable() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let http = HttpClient::new(
        Upstream::Registry,
        None,
        Arc::new(Credentials::default()),
        Duration::from_millis(300),
    )
    .unwrap();
    let v = Pinned::new([], RegistryClient::new(Arc::new(http), Vec::new()));
    let e = v.signed_digest(&repo(port), "v1").await.unwrap_err();
    assert!(
        matches!(
            &e,
            TrustError::Unavailable(Unavailable::Registry {
                what: RegistryLookup::ServedDigest { .. },
                source: RegistryError::Http(HttpError::Unreachable { .. }),
            })
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("cannot learn which digest the registry serves for 127.0.0.1:"),
        "{e}"
    );
    assert!(e.to_string().contains("timed out"), "{e}");
    drop(silent);
}

/// Cosign: no signature at all, a signature by nobody trusted, and one
/// whose payload names no image are three different answers: the first
/// two say "sign it", the last "the trust data failed verification".
#[tokio::test]
async fn cosign_files_each_failure_under_its_kind() {
    let mut reg = stand_in::Reg::default();
    let manifest = |n: u8| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{}},"layers":[],"n":{n}}}"#
        )
    };
    let (bare, bad, untrusted) = (
        reg.blob(manifest(1).as_bytes()),
        reg.blob(manifest(2).as_bytes()),
        reg.blob(manifest(3).as_bytes()),
    );
    let sign = |reg: &mut stand_in::Reg, image: &str, payload: &[u8]| {
        let s = stand_in::referrer(
            reg,
            image,
            COSIGN_SIG,
            SIMPLE_SIGNING,
            payload,
            serde_json::json!({"dev.cosignproject.cosign/signature": "AAAA"}),
        );
        reg.put(
            &format!("referrers/{image}"),
            &stand_in::index(&[(&s, COSIGN_SIG)]),
        );
    };
    sign(&mut reg, &bad, br#"{"critical":{}}"#);
    let names = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{untrusted}"}},"type":"cosign container image signature"}}}}"#
    );
    sign(&mut reg, &untrusted, names.as_bytes());
    let port = reg.serve();
    let policy = CosignPolicy {
        keys: Vec::new(),
        identities: Vec::new(),
        threshold: 1,
        root: None,
        tlog: Tlog::Ignore,
        match_reference: false,
    };
    let client = stand_in::client();
    let verify = |d: String| {
        let (policy, client) = (&policy, &client);
        async move { verify_digest(policy, client, &repo(port), &d).await }
    };

    let e = verify(bare.clone()).await.unwrap_err();
    assert!(
        matches!(&e, TrustError::NotSigned(NotSigned::NoCosignSignature { digest, .. }) if *digest == bare),
        "{e:?}"
    );

    let e = verify(untrusted).await.unwrap_err();
    let TrustError::NotSigned(NotSigned::Cosign(f)) = &e else {
        panic!("{e:?}")
    };
    assert!(
        matches!(
            f.why.as_slice(),
            [Why::Rejected {
                rejection: Rejection::Untrusted(Untrusted::NoTrustedKey),
                ..
            }]
        ),
        "{f:?}"
    );

    let e = verify(bad.clone()).await.unwrap_err();
    let TrustError::Invalid(Invalid::Cosign(f)) = &e else {
        panic!("{e:?}")
    };
    let [Why::Rejected {
        rejection: Rejection::Invalid { evidence, .. },
        ..
    }] = f.why.as_slice()
    else {
        panic!("{f:?}")
    };
    assert!(
        matches!(evidence.as_slice(), [Evidence::Payload(_)]),
        "{f:?}"
    );
    assert!(
        e.to_string().starts_with(&format!(
            "no cosign signature of 127.0.0.1:{port}/r@{bad} verifies: referrer "
        )),
        "{e}"
    );
}

/// Several verifiers: an outage wins over invalid data, which wins over
/// "not signed", and each answer keeps its cause.
#[test]
fn several_answers_merge_by_kind_and_keep_their_causes() {
    use fixtures::{down, invalid, unsigned};
    let merged = Several::merge(vec![("notary", unsigned("d")), ("cosign", invalid())]);
    let TrustError::Invalid(Invalid::Several(Several(each))) = &merged else {
        panic!("{merged:?}")
    };
    assert!(matches!(each[0].1, TrustError::NotSigned(_)));
    assert_eq!(
        merged.to_string(),
        "notary: d is not a signed target of r.io/app; \
         cosign: trust data for r.io/app rejected: bad signature: targets"
    );
    assert!(matches!(
        Several::merge(vec![("a", invalid()), ("b", down())]),
        TrustError::Unavailable(Unavailable::Several(_))
    ));
    assert!(matches!(
        Several::merge(vec![("a", unsigned("d"))]),
        TrustError::NotSigned(NotSigned::Several(_))
    ));
}
