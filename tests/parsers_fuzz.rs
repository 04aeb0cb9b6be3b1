//! Every parser on a request path, on generated and mutated input: no panic,
//! and no allow on malformed input (see TESTING.md). The same checks run as
//! libFuzzer targets under `fuzz/` in `make fuzz`.
//!
//! Deterministic by default: PARSER_FUZZ_CASES (default 3000 per parser)
//! and PARSER_FUZZ_SEED choose how many inputs and which.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a panic is how a test fails"
)]

#[path = "differential/parsers.rs"]
mod parsers;

use std::path::Path;
use std::sync::Arc;

use img_authz::protocol::{self, Authorize, AuthzRequest, AuthzResponse, Phase, ServerOptions};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Inputs every parser starts from: well-formed examples of each format and
/// known hostile shapes; the generator splices, truncates and flips them.
const SEEDS: &[&str] = &[
    "\x01/v1.41/containers/create?name=x\nContent-Type: application/json\nContent-Length: 40\n\n{\"Image\":\"a\",\"HostConfig\":{\"Privileged\":true}}",
    "\x01/v1.41/images/create?fromImage=127.0.0.1:5000/a&tag=v1\nContent-Type: text/plain\nContent-Length: 0\n\n",
    "\x01/v1.41/services/create\nContent-Type: application/json\nContent-Length: 60\n\n{\"TaskTemplate\":{\"ContainerSpec\":{\"Image\":\"a\",\"Mounts\":[{}]}}}",
    "\x01/v1.23/containers/c/start\nContent-Type: application/json\nContent-Length: 20\n\n{\"Binds\":[\"/:/h\"]}",
    r#"{"RequestMethod":"POST","RequestUri":"/v1.41/containers/create","RequestBody":"eyJJbWFnZSI6ImEifQ==","RequestHeaders":{"Content-Type":"application/json","Content-Length":"13"}}"#,
    r#"{"RequestMethod":"GET","RequestUri":"/_ping","RequestBody":"!!","RequestHeaders":null,"ResponseStatusCode":"x"}"#,
    "/v1.41/containers%2Fcreate?fromImage=a&fromImage=b;c&%zz&x=%ff",
    "http://h/v1.41/../x/%2e%2e/images/create#f?q",
    "fromImage=a+b&tag=%26&=&&k&a=%2",
    r#"{"Image":"a","\u0049mage":"b","HostConfig":{"Bind\u017f":["/"],"Privileged":null},"x":[1,-2.5e3,true,null,"\ud800"]}"#,
    "docker.io/library/busybox:latest@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
    "127.0.0.1:5000/a/b:v1\u{0}sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
    "[::1]:5000/UPPER/x:tag",
    "LOCALHOST:027000/acc/lapp:v1",
    "[FC00:0:0::1]:443/a/b",
    "Registry-1.Docker.IO/x",
    "0x7f.1:5000/a",
    r#"{"signed":{"_type":"Root","version":1,"expires":"2030-01-01T00:00:00Z","keys":{"k":{"keytype":"ed25519","keyval":{"public":"AAAA","private":null}}},"roles":{"root":{"keyids":["k"],"threshold":1}}},"signatures":[{"keyid":"k","method":"ed25519","sig":"AAAA"}]}"#,
    r#"{"signed":{"_type":"Targets","version":2,"expires":"2030-01-01T00:00:00Z","targets":{"v1":{"length":1,"hashes":{"sha256":"AAAA"}}},"delegations":{"keys":{},"roles":[{"name":"targets/releases","keyids":[],"threshold":1,"paths":[""]}]}},"signatures":[]}"#,
    r#"{"signed":{"_type":"Snapshot","version":1,"expires":"2030-01-01T00:00:00Z","meta":{"targets":{"length":10,"hashes":{"sha256":"AA=="}}}},"signatures":[]}"#,
    r#"{"keytype":"ecdsa-x509","keyval":{"public":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUI=","private":null}}"#,
    r#"{"auths":{"registry.example.com":{"auth":"dXNlcjpwYXNz"},"https://index.docker.io/v1/":{"username":"u","password":"p","identitytoken":"t"}}}"#,
    r#"Bearer realm="https://auth.example.com/token",service="registry",scope="repository:a:pull""#,
    "Basic realm=x, Bearer realm=\"a\\\"b\"",
    "sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582",
    // Cosign signatures by the independent test signer (tests/cosign).
    include_str!("fixtures/cosign/cases/bundle-keyless.json"),
    include_str!("fixtures/cosign/cases/simple-p256-tlog.json"),
    include_str!("fixtures/cosign/cases/simple-keyless.json"),
    // Notation: a DN with escapes, and a JWS envelope's shape (unsigned).
    r"C=US, S=WA, O=a\, b\2c, CN=\ x\ , 2.5.4.5=#0102",
    r#"{"payload":"eyJ0YXJnZXRBcnRpZmFjdCI6e319","protected":"eyJhbGciOiJQUzI1NiIsImN0eSI6ImFwcGxpY2F0aW9uL3ZuZC5jbmNmLm5vdGFyeS5wYXlsb2FkLnYxK2pzb24iLCJjcml0IjpbImlvLmNuY2Yubm90YXJ5LnNpZ25pbmdTY2hlbWUiXSwiaW8uY25jZi5ub3Rhcnkuc2lnbmluZ1NjaGVtZSI6Im5vdGFyeS54NTA5In0","header":{"x5c":["MIIB"]},"signature":"AAAA"}"#,
    // An RFC 3161 token over b"signature" made by `openssl ts -reply` (a
    // test TSA), base64.
    "MIIHQgYJKoZIhvcNAQcCoIIHMzCCBy8CAQMxDzANBglghkgBZQMEAgEFADB3BgsqhkiG9w0BCRABBKBoBGYwZAIBAQYEKgMEATAxMA0GCWCGSAFlAwQCAQUABCAaL8Jtx+paKkdIt8srHvGT2WqyyZ+TCS9p5jB1so0SeAIBAxgPMjAyNjEyMDUyMjA1MjNaMAcCAQGAAgH0AgkA1RAnGqdIzrKgggVhMIICUDCCATigAwIBAgIUIFVX+V8TxRzzwoMOgsKAle6DTfEwDQYJKoZIhvcNAQELBQAwDDEKMAgGA1UEAwwBUjAeFw0yNjEyMDUyMTU2MzBaFw0yNjEyMTAyMTU2MzBaMAwxCjAIBgNVBAMMAVQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQgs+g6JoGRHMWATHAU8ppm1MJmeoUiOOGfl+VLl1/XzPQ5f9q1LTvOjKdQ1QbCJ2XDtchqEKIEeP/hjp4HJCe+o3UwczAJBgNVHRMEAjAAMA4GA1UdDwEB/wQEAwIHgDAWBgNVHSUBAf8EDDAKBggrBgEFBQcDCDAdBgNVHQ4EFgQUdeWkRMcl+SogBUdyn8PmRz8PtDEwHwYDVR0jBBgwFoAU7OwDqjo/FOgFlnYW20fVqIGfgXEwDQYJKoZIhvcNAQELBQADggEBAKtKuCsKrkdZxMz1cQXu0ZBH7J6Q5uQkDB+LwYG7p6Ndb7OR9zHn9wOFB3M5gOplboBQxn3ySL7kdzB8N3XpEN4AxF4kjqCJv29SBv8BbbopLnVmCVLbbFfLxjs0pFetQHq9O8tmp6GP5emk8JCDMI3iBaGYkP18ZWBb2V/9ZHXTR30TFwUKSPYKl8zOC5uJbBGQ4lvCM4C8NO5mJ5/D1tNttYEIAEk6tOo5pTeia/g33zQUC4itgOLGfbcdE9eA4fZU19NCJhvg8sLu2+11UzO0Vx4vtXHrKbyGUpoElGVQ/srtDhboY2dJU7lz+Kv3N5mFvFUXv1Z0hy1/92J/kpYwggMJMIIB8aADAgECAhRaNjV3dXihrE6H57Qv4ZqblCVpKDANBgkqhkiG9w0BAQsFADAMMQowCAYDVQQDDAFSMB4XDTI2MTIwNTIxNTYyOVoXDTI2MTIxNTIxNTYyOVowDDEKMAgGA1UEAwwBUjCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBALIzzzWcdulEVXNQxK5x4pdSotCeToNJuU426OrVLkM9MfqSmDRIa1e1clw+wdH0xo0CdSP1dANN8AWE1AnnBAPAdaL0waSjAcQTmee1hRID+ZeaRa0qWQzx1gJaNkOVtVEvqpsMfCCcJ7JWe03QTC8fxFLlhSdnt8DK2Qte+fQrFeaVnozTDY+F9ZvN+sT2kk1VBBiAe/POVZrnVg+QgvVkZjlsFRv8WfO9CYHehgImDSJ3+6Vt3noghjqV6H+kQ97lmW1kCl5R6AvYAHcxjyRYVbcCuESDrT+A2wHXxbLQuG5adcgnDxpsKoutAhbXwPpcM47zFcrJh5cMU8q5Mv0CAwEAAaNjMGEwHQYDVR0OBBYEFOzsA6o6PxToBZZ2FttH1aiBn4FxMB8GA1UdIwQYMBaAFOzsA6o6PxToBZZ2FttH1aiBn4FxMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgIEMA0GCSqGSIb3DQEBCwUAA4IBAQAjKQPQWTVOLta0b0xdvyrxNrx0COZt8gwEIT6w2smkXZHcBOXZpwLMsQa942vq/yVzwZYgLJmxTPO8Gn9A9aihQNrJbMn1zuTa0u92PWW586j0biC1IwPSIg8pTBo6dhgkC4IHEFvCMq4PnymVB6mciL71Trvo8RWr2Hx/y1lFmoCz9Rf2i1IE2dX7xlvWjIAxDTARIjxx96qNfE9P+7jOquZuIUesaL2KhooJL+m2AJixYVl3V/EmPO/lm7E2OYhk+PJFESd90ZQOMfxgStJBJkZ3I1mK2yRstF2jaDtZP+KbzLa7dU2b/a63RIB60RVlwfGFyqL34gUtwFZAxCgIMYIBOTCCATUCAQEwJDAMMQowCAYDVQQDDAFSAhQgVVf5XxPFHPPCgw6CwoCV7oNN8TANBglghkgBZQMEAgEFAKCBpDAaBgkqhkiG9w0BCQMxDQYLKoZIhvcNAQkQAQQwHAYJKoZIhvcNAQkFMQ8XDTI2MTIwNTIyMDUyM1owLwYJKoZIhvcNAQkEMSIEIIUEMHlu/jCBYan225YYsQsW+eeCEDakg15dfHI1Q6t3MDcGCyqGSIb3DQEJEAIvMSgwJjAkMCIEIPwezm0Y6phEo/aBwL5lRykqcJObShOKVz1ycbatW3v8MAoGCCqGSM49BAMCBEgwRgIhAMjrbbNOGOcOMDyfy4gaEhZs+pcsfVg6fgXXG3LreJaAAiEArqZJWkySGOITR9aqVjnyBBEf4byEvGz0BSpJ/RTzj0o=",
];

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (
            0..SEEDS.len(),
            0..SEEDS.len(),
            any::<u16>(),
            any::<u16>(),
            proptest::collection::vec((any::<u16>(), any::<u8>()), 0..6),
        )
            .prop_map(|(a, b, cut, at, flips)| {
                let (a, b) = (SEEDS[a].as_bytes(), SEEDS[b].as_bytes());
                let cut = usize::from(cut) % (a.len() + 1);
                let at = usize::from(at) % (b.len() + 1);
                // Either a seed with a tail of another, or a flipped seed.
                let mut v = if flips.is_empty() {
                    [&a[..cut], &b[at..]].concat()
                } else {
                    a.to_vec()
                };
                for (i, byte) in flips {
                    if !v.is_empty() {
                        let i = usize::from(i) % v.len();
                        v[i] = byte;
                    }
                }
                v
            }),
    ]
}

fn env_u64(k: &str, default: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: env_u64("PARSER_FUZZ_CASES", 3000) as u32,
        rng_seed: RngSeed::Fixed(env_u64("PARSER_FUZZ_SEED", 0x5eed)),
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn every_parser_on_seeds_and_mutants() {
    for (name, check) in parsers::ALL {
        // The seeds themselves first, whole.
        for s in SEEDS {
            check(s.as_bytes());
        }
        let mut r = runner();
        let res = r.run(&input(), |data| {
            let outcome = std::panic::catch_unwind(|| check(&data));
            prop_assert!(
                outcome.is_ok(),
                "{name} panicked on {:?}",
                String::from_utf8_lossy(&data)
            );
            Ok(())
        });
        if let Err(e) = res {
            panic!("{name}: {e}");
        }
    }
}

/// Inputs libFuzzer found (`make fuzz`), replayed through every check.
#[test]
fn past_fuzz_findings() {
    // A number beyond f64: valid JSON syntax (Go's json.Valid agrees), but
    // serde_json refuses it, which the body_json oracle first took for a
    // parser disagreement.
    let found: &[&[u8]] = &[b"1E22222222000861293337707076028"];
    for input in found {
        assert!(img_authz::request::json::parse(input).is_ok());
        for (_, check) in parsers::ALL {
            check(input);
        }
    }
}

/// The loop above must be able to fail: a check that panics on some input
/// the generator produces is reported, not swallowed.
#[test]
fn a_panicking_check_fails_the_run() {
    fn fragile(data: &[u8]) {
        assert!(!data.contains(&b'{'), "found a brace");
    }
    let mut r = runner();
    let res = r.run(&input(), |data| {
        let outcome = std::panic::catch_unwind(|| fragile(&data));
        prop_assert!(outcome.is_ok());
        Ok(())
    });
    assert!(res.is_err(), "a panicking check went unnoticed");
    // And the request builder puts URI, headers and body where they belong.
    let req = parsers::request_from(b"\x01/v1.41/x?y\nContent-Type: a/b\n\n{}");
    assert_eq!(
        (
            req.request_method.as_str(),
            req.request_uri.as_str(),
            req.header("content-type"),
            req.request_body.as_deref()
        ),
        ("POST", "/v1.41/x?y", Some("a/b"), Some(&b"{}"[..]))
    );
}

// --- The envelope through the real server --------------------------------------

/// Allows every call it is given: whatever is denied below is denied by the
/// server's own handling of the envelope.
struct AllowAll;

impl Authorize for AllowAll {
    async fn authorize(&self, _phase: Phase, _req: AuthzRequest) -> AuthzResponse {
        AuthzResponse::allow()
    }
}

async fn post(sock: &Path, body: &[u8]) -> AuthzResponse {
    let mut s = UnixStream::connect(sock).await.expect("connect");
    let head = format!(
        "POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: p\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    let text = String::from_utf8_lossy(&out);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).expect("the server always answers an AuthzResponse")
}

/// A call that is not an object that deserializes as an AuthZReq is denied,
/// whatever the authorizer would say; one that is reaches the authorizer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_envelopes_are_denied_by_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("p.sock");
    let listener = protocol::bind(&sock).expect("bind");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(protocol::serve(
        listener,
        Arc::new(AllowAll),
        ServerOptions::default(),
        async {
            let _ = rx.await;
        },
    ));
    let mut bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        br#"["POST","/x"]"#.to_vec(),
        b"\"x\"".to_vec(),
        b"{".to_vec(),
        br#"{"RequestBody":"!!!"}"#.to_vec(),
        br#"{"RequestMethod":1}"#.to_vec(),
        br#"{"RequestHeaders":[]}"#.to_vec(),
        br#"{"RequestUri":"/x"} {}"#.to_vec(),
        b"\xff\xfe{}".to_vec(),
        br#"{"RequestMethod":"GET","RequestUri":"/_ping"}"#.to_vec(),
    ];
    // And mutants of a valid call.
    let mut runner = runner();
    let valid = br#"{"RequestMethod":"GET","RequestUri":"/_ping","RequestBody":"e30=","RequestHeaders":{"A":"b"}}"#;
    for _ in 0..env_u64("PARSER_FUZZ_CASES", 3000) / 10 {
        let flips = proptest::collection::vec((any::<u16>(), any::<u8>()), 1..4)
            .new_tree(&mut runner)
            .expect("strategy")
            .current();
        let mut v = valid.to_vec();
        for (i, b) in flips {
            let i = usize::from(i) % v.len();
            v[i] = b;
        }
        bodies.push(v);
    }
    let (mut allowed, mut denied) = (0, 0);
    for b in &bodies {
        let resp = post(&sock, b).await;
        let is_object = b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{');
        let valid = is_object && serde_json::from_slice::<AuthzRequest>(b).is_ok();
        assert_eq!(
            resp.allow,
            valid,
            "{:?} was {}",
            String::from_utf8_lossy(b),
            if resp.allow { "allowed" } else { "denied" }
        );
        if resp.allow {
            allowed += 1;
        } else {
            denied += 1;
        }
    }
    assert!(
        allowed > 0 && denied > 10,
        "{allowed} allowed, {denied} denied"
    );
    let _ = tx.send(());
    server.await.expect("join").expect("serve");
}
