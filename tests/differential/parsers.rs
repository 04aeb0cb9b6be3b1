//! One check per parser on a request path, shared by `tests/parsers_fuzz.rs`
//! (proptest, stable Rust, in `make test`) and the libFuzzer targets under
//! `fuzz/` (`make fuzz`). Each takes arbitrary bytes and must not panic; the
//! asserts are the "no allow on malformed input" properties of each parser.

#![allow(dead_code, reason = "included by several crates; each uses a part")]

use std::collections::BTreeMap;

use img_authz::protocol::AuthzRequest;
use img_authz::request::action::Action;
use img_authz::request::query::Query;
use img_authz::request::reference::{canonical_domain, validate_digest, Reference, Spelling};
use img_authz::request::uri::{clean_path, parse_target};
use img_authz::request::{decode, json, pull_reference};
use img_authz::verify::notary;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The AuthZReq envelope as the server reads it: only a JSON object is a
/// call, and a call that does not deserialize is never decoded (the server
/// denies it). Whatever deserializes must decode or be refused, not panic.
pub fn envelope(data: &[u8]) {
    let is_object = data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if let Ok(req) = serde_json::from_slice::<AuthzRequest>(data) {
        if is_object {
            let _ = decode(&req);
        }
    }
}

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "post",
];

/// An authorization call built from bytes: a method, a URI line, header
/// lines, an empty line and the body.
pub fn request_from(data: &[u8]) -> AuthzRequest {
    let method = METHODS[usize::from(data.first().copied().unwrap_or(0)) % METHODS.len()];
    let rest = data.get(1..).unwrap_or(&[]);
    let mut parts = rest.splitn(2, |&b| b == b'\n');
    let uri = text(parts.next().unwrap_or(&[]));
    let rest = parts.next().unwrap_or(&[]);
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], Some(rest[i + 2..].to_vec())),
        None => (rest, None),
    };
    let mut headers = BTreeMap::new();
    for line in head.split(|&b| b == b'\n') {
        let line = text(line);
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    AuthzRequest {
        request_method: method.into(),
        request_uri: uri,
        request_body: body.filter(|b| !b.is_empty()),
        request_headers: Some(headers),
        ..Default::default()
    }
}

/// The whole decoder. A decoded body-reading action implies its body was
/// seen and is valid JSON (a body we cannot read is never allowed).
pub fn decode_request(data: &[u8]) {
    let req = request_from(data);
    let Ok(d) = decode(&req) else { return };
    let body = req.request_body.as_deref().unwrap_or(&[]);
    let reads_json = matches!(
        d.action,
        Action::ContainerCreate(_)
            | Action::ContainerUpdate { .. }
            | Action::ExecCreate { .. }
            | Action::VolumeCreate { .. }
            | Action::Service(_)
    );
    if reads_json {
        let cl = req.header("Content-Length").map(str::trim);
        assert!(
            json::parse(body).is_ok() || (body.is_empty() && cl == Some("0")),
            "{} decoded from a body it could not read",
            d.action.kind()
        );
    }
    assert!(
        parse_target(&req.request_uri).is_ok(),
        "decoded a URI that does not parse"
    );
}

/// `url.ParseRequestURI` + mux's clean-path rule: what parses is a clean,
/// decoded path without control characters.
pub fn uri(data: &[u8]) {
    let s = text(data);
    if let Ok(t) = parse_target(&s) {
        assert_eq!(clean_path(&t.path), t.path, "unclean path accepted");
        assert!(!s.bytes().any(|b| b < 0x20 || b == 0x7f));
    }
}

/// `url.ParseQuery`: a raw ';' is always refused; first value wins.
pub fn query(data: &[u8]) {
    let s = text(data);
    if let Ok(q) = Query::parse(&s) {
        assert!(!s.contains(';'), "a ';' query was accepted");
        if let Some(v) = q.first("fromImage") {
            assert_eq!(q.all("fromImage").next(), Some(v));
        }
    }
}

/// Body JSON: parse errors, never panics; what parses is one value.
pub fn body_json(data: &[u8]) {
    if let Ok(v) = json::parse(data) {
        // Whatever we accept as UTF-8 JSON without escapes, serde_json
        // (a strict RFC 8259 parser) accepts too.
        if std::str::from_utf8(data).is_ok()
            && !data.contains(&b'\\')
            && !data.starts_with(b"\xef\xbb\xbf")
        {
            // serde_json also refuses numbers beyond f64 (`1E2222…`), which
            // are valid JSON text to Go's scanner and to us; libFuzzer found
            // that, and it is not a syntax disagreement.
            let serde = serde_json::from_slice::<serde_json::Value>(data);
            assert!(
                serde.is_ok()
                    || serde
                        .as_ref()
                        .is_err_and(|e| e.to_string().contains("number out of range"))
                    || data.iter().filter(|&&b| b == b'[' || b == b'{').count() > 120,
                "img-authz parsed JSON that serde_json rejects"
            );
        }
        if let Ok(Some(s)) = json::Struct::root(&v) {
            let _ = s.string("Image");
            let _ = s.sub("HostConfig");
        }
    }
}

/// Image references: a parsed reference prints to itself.
pub fn reference(data: &[u8]) {
    let s = text(data);
    if let Ok(r) = Reference::parse_normalized(&s) {
        let again =
            Reference::parse_normalized(&r.to_string()).expect("a printed reference parses");
        assert_eq!(again, r, "normalisation is not idempotent for {s:?}");
        // The spelling a deny tells the user to write is a valid, canonical one.
        if let Ok(c) = canonical_domain(&r.domain) {
            let fixed = Reference::parse_normalized(&format!("{c}/{}", r.path))
                .expect("a canonical spelling parses");
            assert_eq!(fixed.spelling(), Spelling::Canonical, "{s:?} -> {c:?}");
            // (Docker Hub's official images gain their `library/`.)
            let official = c == "docker.io" && fixed.path == format!("library/{}", r.path);
            assert!(fixed.path == r.path || official, "{s:?}");
        }
    }
    let (a, b) = s.split_once('\u{0}').unwrap_or((&s, ""));
    let _ = pull_reference(a, b);
    let _ = validate_digest(&s);
}

/// Notary metadata: every role parser on any envelope that parses.
pub fn notary_metadata(data: &[u8]) {
    let Ok(env) = notary::parse_envelope(data, "targets") else {
        return;
    };
    assert!(
        serde_json::from_slice::<serde_json::Value>(data).is_ok(),
        "non-JSON metadata parsed"
    );
    let _ = notary::parse_root(&env);
    let _ = notary::parse_timestamp(&env);
    let _ = notary::parse_snapshot(&env);
    let _ = notary::parse_targets(&env, "targets");
    let _ = notary::parse_targets(&env, "targets/releases");
}

/// Notary keys: any JSON value as a key object.
pub fn notary_key(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = notary::parse_key(&v);
    }
}

/// Docker config.json credentials.
pub fn credentials(data: &[u8]) {
    let _ = img_authz::upstream::Credentials::parse(data);
}

/// Registry and Notary responses: the WWW-Authenticate challenge and the
/// Docker-Content-Digest header.
pub fn registry_response(data: &[u8]) {
    let s = text(data);
    if let Some(c) = img_authz::upstream::parse_challenge(&s) {
        assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
    }
    if validate_digest(s.trim()).is_ok() {
        assert!(
            s.trim().contains(':'),
            "a digest without an algorithm was accepted"
        );
    }
}

/// The fixture policy for cosign: a trusted key, a trusted keyless identity
/// with its trusted root, and the transparency log required.
fn cosign_policy() -> &'static img_authz::verify::cosign::CosignPolicy {
    use img_authz::verify::cosign::PublicKey;
    use img_authz::verify::cosign::TrustedRoot;
    use img_authz::verify::cosign::{CosignPolicy, Identity, Tlog};
    static P: std::sync::OnceLock<CosignPolicy> = std::sync::OnceLock::new();
    P.get_or_init(|| CosignPolicy {
        keys: vec![(
            "p256.pub".into(),
            PublicKey::from_pem(include_str!("../fixtures/cosign/keys/p256.pub"))
                .expect("fixture key"),
        )],
        identities: vec![Identity::new(
            "https://token.actions.githubusercontent.com",
            "https://github.com/acme/*/.github/workflows/*@refs/heads/*",
        )],
        threshold: 1,
        root: Some(std::sync::Arc::new(
            TrustedRoot::parse(include_bytes!("../fixtures/cosign/trusted_root.json"))
                .expect("fixture root"),
        )),
        tlog: Tlog::Required,
        match_reference: false,
    })
}

/// Cosign signature material from a registry (a Sigstore bundle, a
/// simple-signing layer with its annotations, a trusted root): no panic,
/// and nothing vouches for a digest that nobody signed.
pub fn cosign_signature(data: &[u8]) {
    use base64::Engine as _;
    use img_authz::verify::cosign::TrustedRoot;
    use img_authz::verify::cosign::{from_bundle, from_simple_layer};
    let mut candidates: Vec<_> = from_bundle("fuzz", data).into_iter().collect();
    if let Ok(serde_json::Value::Object(v)) = serde_json::from_slice(data) {
        let payload = v
            .get("payload")
            .and_then(|p| p.as_str())
            .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok());
        match (payload, v.get("annotations").and_then(|a| a.as_object())) {
            (Some(p), Some(a)) => candidates.extend(from_simple_layer("fuzz".into(), p, a).ok()),
            _ => candidates.extend(from_simple_layer("fuzz".into(), data.to_vec(), &v).ok()),
        }
    }
    let nobody = format!("sha256:{}", "0".repeat(64));
    for c in &candidates {
        assert!(
            cosign_policy().check(c, &nobody).is_err(),
            "a cosign signature was accepted for a digest nobody signed"
        );
    }
    let _ = TrustedRoot::parse(data);
}

/// Notation material from a registry or a policy: the JWS
/// and COSE envelopes (`jws::verify`, `cose::verify`: integrity only), RFC 4514 DNs (`Dn::parse`, alone and as
/// `x509.subject:` identities of a trust policy) and `TrustPolicy::parse`.
/// No panic; nothing parsed from junk verifies.
pub fn notation(data: &[u8]) {
    use img_authz::verify::notation::{cose, jws, Dn, TrustPolicy};
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(d) = Dn::parse(s) {
            assert!(d.is_subset_of(&d), "a DN is not a subset of itself");
        }
        let doc = serde_json::json!({"version": "1.0", "trustPolicies": [{
            "name": "f", "registryScopes": ["r.io/a"],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:x"], "trustedIdentities": [format!("x509.subject: {s}")],
        }]});
        let _ = TrustPolicy::parse(doc.to_string().as_bytes());
    }
    if let Ok(v) = jws::verify(data) {
        assert!(!v.chain.is_empty(), "an envelope verified without a chain");
    }
    if let Ok(v) = cose::verify(data) {
        assert!(!v.chain.is_empty(), "an envelope verified without a chain");
    }
    let _ = TrustPolicy::parse(data);
}

/// RFC 3161 timestamp tokens (`notation::timestamp::verify`), raw or
/// base64 (as the JWS header carries them): no panic, and nothing verifies
/// without a trusted TSA root.
pub fn notation_timestamp(data: &[u8]) {
    use base64::Engine as _;
    use img_authz::verify::notation::timestamp;
    let decoded = base64::engine::general_purpose::STANDARD.decode(data).ok();
    for t in std::iter::once(data).chain(decoded.as_deref()) {
        assert!(
            timestamp::verify(t, b"signature", &[]).is_err(),
            "a timestamp verified without a trusted root"
        );
    }
}

/// A named check.
pub type Check = (&'static str, fn(&[u8]));

pub const ALL: &[Check] = &[
    ("envelope", envelope),
    ("decode", decode_request),
    ("uri", uri),
    ("query", query),
    ("body_json", body_json),
    ("reference", reference),
    ("notary_metadata", notary_metadata),
    ("notary_key", notary_key),
    ("credentials", credentials),
    ("registry_response", registry_response),
    ("cosign_signature", cosign_signature),
    ("notation", notation),
    ("notation_timestamp", notation_timestamp),
];
