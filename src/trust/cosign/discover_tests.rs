//! Tests of [`super`] (cosign discovery), kept apart so the module stays
//! readable.

use super::*;
use crate::http::HttpError;

fn parse(v: &serde_json::Value) -> Manifest {
    Manifest::parse(v.to_string().as_bytes()).unwrap()
}

fn index(v: &serde_json::Value) -> Index {
    Index::parse(v.to_string().as_bytes()).unwrap()
}

#[test]
fn filtering_comes_before_the_limit() {
    let mut manifests: Vec<serde_json::Value> = (0..100)
        .map(|i| serde_json::json!({"artifactType": "application/spdx+json", "digest": format!("junk{i}")}))
        .collect();
    manifests.push(serde_json::json!({
        "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json", "digest": "real"
    }));
    let index = index(&serde_json::json!({ "manifests": manifests }));
    let got: Vec<_> = descriptors(&index.manifests, artifact_type, |t| {
        t.starts_with(BUNDLE_PREFIX)
    })
    .filter_map(|d| d.digest.0.as_deref())
    .collect();
    assert_eq!(got, ["real"]);
    let many = parse(
        &serde_json::json!({ "layers": vec![serde_json::json!({"mediaType": SIMPLE_SIGNING}); 100] }),
    );
    assert_eq!(
        descriptors(&many.layers, media_type, |t| t == SIMPLE_SIGNING).count(),
        MAX_SIGNATURES
    );
}

/// Hole 5 of issue 13: entries are typed as they are read and only the
/// first MAX_DESCRIPTORS are kept; the rest are skipped unparsed.
#[test]
fn huge_lists_keep_a_bounded_number_of_entries() {
    let n = 500_000;
    let mut text = String::from(r#"{"schemaVersion":2,"manifests":["#);
    text.push_str(&vec!["{}"; n].join(","));
    text.push_str(r#"],"layers":["#);
    text.push_str(&vec!["[]"; n].join(","));
    text.push_str("]}");
    let i = Index::parse(text.as_bytes()).unwrap();
    assert_eq!(i.manifests.0.len(), MAX_DESCRIPTORS);
    assert!(i.manifests.0.capacity() < 4 * MAX_DESCRIPTORS);
    let m = Manifest::parse(text.as_bytes()).unwrap();
    assert_eq!(m.layers.0.len(), MAX_DESCRIPTORS);
    assert!(m.layers.0.iter().all(|d| d.0.is_none()));
    // A signature past the bound is not looked at.
    let mut late: Vec<serde_json::Value> = vec![serde_json::json!({}); MAX_DESCRIPTORS];
    late.push(serde_json::json!({"mediaType": SIMPLE_SIGNING, "digest": "d"}));
    let m = parse(&serde_json::json!({ "layers": late }));
    assert_eq!(
        descriptors(&m.layers, media_type, |t| t == SIMPLE_SIGNING).count(),
        0
    );
}

/// Mistyped fields make an entry useless, never the whole document
/// (which would let one junk entry hide every signature).
#[test]
fn mistyped_entries_are_skipped() {
    let m = parse(&serde_json::json!({
        "layers": [
            5, "x", null, [1, 2],
            {"mediaType": 7, "digest": "a"},
            {"mediaType": SIMPLE_SIGNING, "digest": {"x": 1}},
            {"mediaType": SIMPLE_SIGNING, "digest": "b",
             "annotations": {"k": "v", "n": 1, "o": {"deep": [1]}}},
        ],
        "subject": "not an object",
    }));
    let got: Vec<_> = descriptors(&m.layers, media_type, |t| t == SIMPLE_SIGNING).collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].digest.0, None);
    assert_eq!(got[1].digest.0.as_deref(), Some("b"));
    assert_eq!(got[1].annotations.0.len(), 1);
    assert!(m.subject.0.is_none());
    let odd = parse(&serde_json::json!({"layers": {"a": 1}}));
    assert!(odd.layers.0.is_empty());
    assert!(index(&serde_json::json!({"manifests": "x"}))
        .manifests
        .0
        .is_empty());
    assert!(Manifest::parse(b"[]").is_none());
    assert!(Manifest::parse(b"not json").is_none());
    assert!(Manifest::parse(br#"{"layers":[],"layers":[]}"#).is_none());
}

#[test]
fn only_an_unreachable_registry_fails_the_lookup() {
    let status = RegistryError::Status {
        registry: "r".into(),
        reference: "x".into(),
        status: 500,
    };
    assert!(matches!(soft::<()>(Err(status)), Ok(Err(_))));
    let big = RegistryError::Http(HttpError::TooLarge {
        url: "u".into(),
        limit: 1,
    });
    assert!(matches!(soft::<()>(Err(big)), Ok(Err(_))));
    let down = RegistryError::Http(HttpError::Unreachable {
        url: "u".into(),
        why: "refused".into(),
    });
    assert!(soft::<()>(Err(down)).is_err());
}

/// A registry stand-in on 127.0.0.1 (plain HTTP; loopback registries
/// are insecure, as to dockerd). It exists because the stack's
/// registry, distribution 2.8, has no referrers API: the API path
/// (with `Link` pagination) can only be exercised here.
/// Also Notation's discovery tests' registry.
pub(crate) mod stand_in {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use sha2::{Digest as _, Sha256};

    use super::super::*;
    use crate::credentials::Credentials;
    use crate::http::HttpClient;
    use crate::metrics::Upstream;

    const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";

    pub fn sha(b: &[u8]) -> String {
        format!("sha256:{:x}", Sha256::digest(b))
    }

    /// path (after `/v2/r/`) -> (status, extra headers, body); and every
    /// request served, as `METHOD path`, in order.
    #[derive(Default, Clone)]
    pub struct Reg(
        pub HashMap<String, (u16, String, Vec<u8>)>,
        pub Arc<Mutex<Vec<String>>>,
    );

    impl Reg {
        pub fn put(&mut self, what: &str, body: &[u8]) {
            self.0
                .insert(what.to_string(), (200, String::new(), body.to_vec()));
        }
        /// Stores `body` as manifest and blob under its digest.
        pub fn blob(&mut self, body: &[u8]) -> String {
            let d = sha(body);
            self.put(&format!("manifests/{d}"), body);
            self.put(&format!("blobs/{d}"), body);
            d
        }
        pub fn serve(self) -> u16 {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let reg = Arc::new(self);
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
                    let reg = reg.clone();
                    std::thread::spawn(move || {
                        // Refuse TLS: the client falls back to HTTP.
                        let mut first = [0u8; 1];
                        if s.peek(&mut first).is_err() || first[0] == 0x16 {
                            return;
                        }
                        let Ok(mut w) = s.try_clone() else { return };
                        let mut r = BufReader::new(s);
                        let mut line = String::new();
                        let _ = r.read_line(&mut line);
                        let mut words = line.split(' ');
                        let method = words.next().unwrap_or("").to_string();
                        let target = words.next().unwrap_or("").to_string();
                        loop {
                            let mut h = String::new();
                            if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                                break;
                            }
                        }
                        let what = target.strip_prefix("/v2/r/").unwrap_or("");
                        reg.1.lock().unwrap().push(format!("{method} {what}"));
                        let (status, extra, body) =
                            reg.0
                                .get(what)
                                .cloned()
                                .unwrap_or((404, String::new(), Vec::new()));
                        let head = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
                            body.len()
                        );
                        let _ = w.write_all(head.as_bytes());
                        let _ = w.write_all(&body);
                    });
                }
            });
            port
        }
    }

    pub fn client() -> RegistryClient {
        let http = HttpClient::new(
            Upstream::Registry,
            None,
            Arc::new(Credentials::default()),
            std::time::Duration::from_secs(10),
        )
        .unwrap();
        RegistryClient::new(Arc::new(http), Vec::new())
    }

    /// A referrer manifest about `subject`, written as cosign 3.1 does.
    pub fn referrer(
        reg: &mut Reg,
        subject: &str,
        artifact_type: &str,
        layer_type: &str,
        layer: &[u8],
        annotations: serde_json::Value,
    ) -> String {
        let ld = reg.blob(layer);
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": IMAGE, "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                       "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
            "layers": [{"mediaType": layer_type, "size": layer.len(), "digest": ld,
                        "annotations": annotations}],
            "subject": {"mediaType": IMAGE, "size": 415, "digest": subject},
        });
        reg.blob(m.to_string().as_bytes())
    }

    pub fn index(entries: &[(&str, &str)]) -> Vec<u8> {
        let m: Vec<_> = entries
            .iter()
            .map(|(d, t)| serde_json::json!({"mediaType": IMAGE, "size": 1, "digest": d, "artifactType": t}))
            .collect();
        serde_json::json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": m})
        .to_string()
        .into_bytes()
    }
}

const EMPTY: &str = "application/vnd.oci.empty.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A registry holding an image, a cosign 3.1 bundle referrer (listed as
/// `empty`), a cosign OCI 1.1 simple-signing referrer, a bundle about
/// another image and an SBOM. Returns (registry, image digest, the
/// index entries).
fn signed_registry() -> (stand_in::Reg, String, Vec<(String, &'static str)>) {
    let mut reg = stand_in::Reg::default();
    let image = reg.blob(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#);
    let bundle = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"hint":"k"}},"dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AAAA","keyid":""}]}}"#;
    let b = stand_in::referrer(
        &mut reg,
        &image,
        BUNDLE,
        BUNDLE,
        bundle,
        serde_json::json!({}),
    );
    let simple = stand_in::referrer(
        &mut reg,
        &image,
        COSIGN_SIG,
        SIMPLE_SIGNING,
        b"{\"critical\":{}}",
        serde_json::json!({"dev.cosignproject.cosign/signature": "AAAA"}),
    );
    let other = format!("sha256:{}", "0".repeat(64));
    let elsewhere = stand_in::referrer(
        &mut reg,
        &other,
        BUNDLE,
        BUNDLE,
        bundle,
        serde_json::json!({}),
    );
    let sbom = stand_in::referrer(
        &mut reg,
        &image,
        "application/spdx+json",
        "application/spdx+json",
        b"{}",
        serde_json::json!({}),
    );
    let entries = vec![
        (sbom, "application/spdx+json"),
        (b, EMPTY),
        (simple, COSIGN_SIG),
        (elsewhere, BUNDLE),
    ];
    (reg, image, entries)
}

fn origins(f: &Found) -> Vec<String> {
    let mut o: Vec<String> = f.candidates.iter().map(|c| c.origin.clone()).collect();
    o.sort();
    o
}

fn expect(f: &Found, entries: &[(String, &str)]) {
    let mut want = vec![
        format!("referrer {}", entries[1].0),
        format!("referrer {} layer 1", entries[2].0),
    ];
    want.sort();
    assert_eq!(origins(f), want, "{:?}", f.unreadable);
    assert!(
        matches!(f.unreadable.as_slice(), [Unreadable::OtherSubject { .. }]),
        "{:?}",
        f.unreadable
    );
    assert_eq!(
        f.unreadable[0].to_string(),
        format!("referrer {} is about another image", entries[3].0)
    );
}

/// Issue 16: the referrers API, over two pages joined by `Link`. The
/// bundle is listed as `empty`, as cosign 3.1 lists it.
#[tokio::test]
async fn referrers_api_pages_are_followed_and_manifests_judged_by_themselves() {
    let (mut reg, image, entries) = signed_registry();
    let e: Vec<(&str, &str)> = entries.iter().map(|(d, t)| (d.as_str(), *t)).collect();
    reg.put(&format!("referrers/{image}"), &stand_in::index(&e[..2]));
    reg.0.get_mut(&format!("referrers/{image}")).unwrap().1 =
        format!("Link: </v2/r/referrers/{image}?n=2&last=x>; rel=\"next\"\r\n");
    reg.put(
        &format!("referrers/{image}?n=2&last=x"),
        &stand_in::index(&e[2..]),
    );
    let port = reg.serve();
    let f = find(
        &stand_in::client(),
        &format!("127.0.0.1:{port}"),
        "r",
        &image,
    )
    .await
    .unwrap();
    expect(&f, &entries);
}

/// Issue 16: without the API (distribution 2.8), the `sha256-<hex>`
/// index; its entries' types are not trusted alone.
#[tokio::test]
async fn the_tag_scheme_is_read_when_the_api_is_missing() {
    let (mut reg, image, entries) = signed_registry();
    let e: Vec<(&str, &str)> = entries.iter().map(|(d, t)| (d.as_str(), *t)).collect();
    reg.put(
        &image
            .replacen(':', "-", 1)
            .replace("sha256-", "manifests/sha256-"),
        &stand_in::index(&e),
    );
    let port = reg.serve();
    let f = find(
        &stand_in::client(),
        &format!("127.0.0.1:{port}"),
        "r",
        &image,
    )
    .await
    .unwrap();
    expect(&f, &entries);
}

/// Issue 16: GitLab resolves `sha256-<hex>` to the image itself; that is
/// no referrers index and no signature.
#[tokio::test]
async fn a_digest_tag_resolving_to_the_image_is_no_index() {
    let mut reg = stand_in::Reg::default();
    let image_body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","size":1}]}"#;
    let image = reg.blob(image_body);
    reg.put(
        &format!("manifests/{}", image.replacen(':', "-", 1)),
        image_body,
    );
    let port = reg.serve();
    let f = find(
        &stand_in::client(),
        &format!("127.0.0.1:{port}"),
        "r",
        &image,
    )
    .await
    .unwrap();
    assert!(f.candidates.is_empty() && f.unreadable.is_empty(), "{f:?}");
}
