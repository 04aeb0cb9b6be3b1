//! Finding an image's cosign signatures in its registry: the classic
//! `sha256-<hex>.sig` tag, and among the image's referrers Sigstore bundles
//! and cosign's OCI 1.1 simple-signing manifests (OCI 1.1 referrers API with
//! `Link` pages, or the referrers tag scheme `sha256-<hex>` where the
//! registry has no such API, as the Debian registry 2.8 does not). Each
//! referrer is judged by its own manifest and must name the image as its
//! subject.

use serde::Deserialize;

use super::signature::{from_bundle, from_simple_layer, Candidate, BUNDLE_PREFIX, SIMPLE_SIGNING};
use crate::registry::{RegistryClient, RegistryError};
use crate::trust::discovery::{
    is_subject, object, referrer_indexes, referrer_tag, soft, Annotations, Bounded, Descriptor,
    Index, Lenient, Obj, MAX_DESCRIPTORS,
};

/// Signatures looked at per image and format; more are ignored.
pub const MAX_SIGNATURES: usize = 32;
/// A simple-signing payload or a bundle larger than this is refused. Real
/// ones are under 16 KiB (a bundle with a certificate chain and an
/// inclusion proof); [`MAX_SIGNATURES`] of each stay a few MiB in memory.
pub const MAX_SIGNATURE_BLOB: usize = 128 * 1024;
/// A `.sig` manifest or a bundle's artifact manifest larger than this is
/// refused (the registry's own manifest limit is 4 MiB). cosign's are under
/// 64 KiB: a layer per signature of a few KiB with its certificate and Rekor
/// bundle annotations, so this leaves room for dozens of keyless signatures.
pub const MAX_SIGNATURE_MANIFEST: usize = 256 * 1024;
/// cosign's OCI 1.1 signature manifests (`--registry-referrers-mode=oci-1-1`).
pub const COSIGN_SIG: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
const _: () = assert!(MAX_SIGNATURE_MANIFEST <= crate::registry::MAX_MANIFEST / 16);

/// Everything found, and what could not be read (for messages).
#[derive(Debug, Default)]
pub struct Found {
    pub candidates: Vec<Candidate>,
    pub unreadable: Vec<String>,
}

/// A layer of a signature manifest: a descriptor with its annotations
/// (where simple signing keeps the signature and certificate).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    #[serde(default)]
    pub media_type: Lenient,
    #[serde(default)]
    pub digest: Lenient,
    #[serde(default)]
    pub annotations: Annotations,
}

/// A `.sig` or referrer manifest (at most [`MAX_SIGNATURE_MANIFEST`]).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(default)]
    pub artifact_type: Lenient,
    #[serde(default)]
    pub config: Obj<Descriptor>,
    #[serde(default)]
    pub layers: Bounded<Obj<Layer>>,
    #[serde(default)]
    pub subject: Obj<Descriptor>,
}

impl Manifest {
    pub fn parse(bytes: &[u8]) -> Option<Manifest> {
        object(bytes)
    }
}

/// The first `MAX_SIGNATURES` of `list` whose type (`type_of`) is what
/// `wanted` accepts. Filtering comes first, so unrelated entries
/// (attestations, SBOMs, junk pushed by anyone) cannot crowd out signatures.
fn descriptors<'a, T>(
    list: &'a Bounded<Obj<T>>,
    type_of: fn(&T) -> &Lenient,
    wanted: impl Fn(&str) -> bool + 'a,
) -> impl Iterator<Item = &'a T> + 'a {
    list.0
        .iter()
        .filter_map(|d| d.0.as_ref())
        .filter(move |d| type_of(d).0.as_deref().is_some_and(&wanted))
        .take(MAX_SIGNATURES)
}

fn media_type(d: &Layer) -> &Lenient {
    &d.media_type
}

#[cfg(test)]
fn artifact_type(d: &Descriptor) -> &Lenient {
    &d.artifact_type
}

/// What a referrer manifest holds, judged by the manifest itself (its
/// `artifactType`, `config.mediaType` and layer types): an index entry's
/// `artifactType` is written by whoever pushed the index, and cosign 3.1
/// lists its bundles there as `application/vnd.oci.empty.v1+json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A Sigstore bundle (cosign 3's default).
    Bundle,
    /// Simple-signing layers attached as a referrer (cosign's OCI 1.1 mode,
    /// the way Docker Hardened Images are signed).
    Simple,
    /// Anything else (SBOMs, attestations of other tools ...).
    Other,
}

fn kind_of(m: &Manifest) -> Kind {
    let types = || {
        [
            m.artifact_type.0.as_deref(),
            m.config.0.as_ref().and_then(|c| c.media_type.0.as_deref()),
        ]
        .into_iter()
        .flatten()
    };
    let layers = || {
        m.layers
            .0
            .iter()
            .filter_map(|l| l.0.as_ref()?.media_type.0.as_deref())
    };
    if types().any(|t| t.starts_with(BUNDLE_PREFIX)) {
        Kind::Bundle
    } else if types().any(|t| t == COSIGN_SIG) {
        Kind::Simple
    } else if layers().any(|t| t.starts_with(BUNDLE_PREFIX)) {
        Kind::Bundle
    } else if layers().any(|t| t == SIMPLE_SIGNING) {
        Kind::Simple
    } else {
        Kind::Other
    }
}

/// Reads the simple-signing layers of `m` (a `.sig` manifest or a cosign
/// OCI 1.1 referrer), at most `budget` of them.
async fn read_simple(
    registry: &RegistryClient,
    domain: &str,
    path: &str,
    name: &str,
    m: &Manifest,
    budget: &mut usize,
    found: &mut Found,
) -> Result<(), RegistryError> {
    let simple = descriptors(&m.layers, media_type, |t| t == SIMPLE_SIGNING);
    for (i, layer) in simple.enumerate() {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        let origin = format!("{name} layer {}", i + 1);
        let Some(d) = &layer.digest.0 else {
            found.unreadable.push(format!("{origin} has no digest"));
            continue;
        };
        let payload = match soft(registry.get_blob(domain, path, d, MAX_SIGNATURE_BLOB).await)? {
            Ok(p) => p,
            Err(e) => {
                found.unreadable.push(format!("{origin}: {e}"));
                continue;
            }
        };
        let ann: serde_json::Map<String, serde_json::Value> = layer
            .annotations
            .0
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        match from_simple_layer(origin.clone(), payload.to_vec(), &ann) {
            Ok(c) => found.candidates.push(c),
            Err(e) => found.unreadable.push(format!("{origin}: {e}")),
        }
    }
    Ok(())
}

/// The digests of the manifests that may refer to `digest`: the pages of
/// the referrers API, else the referrers tag scheme's index. Entries typed
/// as signatures come first (they cannot be crowded out by SBOMs); the
/// others follow, since the entry's type is not to be trusted alone.
async fn referrer_digests(
    registry: &RegistryClient,
    domain: &str,
    path: &str,
    digest: &str,
    found: &mut Found,
) -> Result<Vec<String>, RegistryError> {
    let pages = referrer_indexes(registry, domain, path, digest).await?;
    let mut signatures = Vec::new();
    let mut others = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut entries = 0;
    for (where_, bytes) in pages {
        let index = match Index::parse(&bytes) {
            None => {
                found.unreadable.push(format!("{where_} is not an index"));
                continue;
            }
            // An image under the tag refers to nothing.
            Some(index) if !index.is_referrers_index() => continue,
            Some(index) => index,
        };
        for d in index.manifests.0.iter().filter_map(|d| d.0.as_ref()) {
            entries += 1;
            if entries > MAX_DESCRIPTORS {
                break;
            }
            let Some(md) = d.digest.0.as_deref() else {
                continue;
            };
            if md == digest || !seen.insert(md.to_string()) {
                continue;
            }
            let t = d.artifact_type.0.as_deref().unwrap_or_default();
            if t.starts_with(BUNDLE_PREFIX) || t == COSIGN_SIG {
                signatures.push(md.to_string());
            } else {
                others.push(md.to_string());
            }
        }
    }
    signatures.extend(others);
    signatures.truncate(MAX_SIGNATURES);
    Ok(signatures)
}

/// All signatures of `domain/path@digest`.
pub async fn find(
    registry: &RegistryClient,
    domain: &str,
    path: &str,
    digest: &str,
) -> Result<Found, RegistryError> {
    let mut found = Found::default();
    // Classic: one manifest, one layer per signature.
    let sig_tag = format!("{}.sig", referrer_tag(digest));
    let sig = soft(
        registry
            .get_manifest_limited(domain, path, &sig_tag, MAX_SIGNATURE_MANIFEST)
            .await,
    )?;
    match sig {
        Err(e) => found.unreadable.push(format!("{sig_tag}: {e}")),
        Ok(None) => {}
        Ok(Some((_, bytes))) => match Manifest::parse(&bytes) {
            None => found
                .unreadable
                .push(format!("{sig_tag} is not a manifest")),
            Some(m) => {
                let mut budget = MAX_SIGNATURES;
                read_simple(
                    registry,
                    domain,
                    path,
                    &sig_tag,
                    &m,
                    &mut budget,
                    &mut found,
                )
                .await?;
            }
        },
    }
    // Referrers: bundles and OCI 1.1 simple-signing manifests, at most
    // MAX_SIGNATURES manifests and MAX_SIGNATURES signatures in all.
    let mut budget = MAX_SIGNATURES;
    for md in referrer_digests(registry, domain, path, digest, &mut found).await? {
        if budget == 0 {
            break;
        }
        let origin = format!("referrer {md}");
        let bytes = match soft(
            registry
                .get_manifest_limited(domain, path, &md, MAX_SIGNATURE_MANIFEST)
                .await,
        )? {
            Ok(Some((_, b))) => b,
            Ok(None) => {
                found
                    .unreadable
                    .push(format!("{origin} is listed but missing"));
                continue;
            }
            Err(e) => {
                found.unreadable.push(format!("{origin}: {e}"));
                continue;
            }
        };
        let Some(m) = Manifest::parse(&bytes) else {
            found.unreadable.push(format!("{origin} is not a manifest"));
            continue;
        };
        let kind = kind_of(&m);
        if kind == Kind::Other {
            continue;
        }
        // The tag scheme's index is written by clients; the artifact must
        // itself say which image it is about.
        if !is_subject(&m.subject, digest) {
            found
                .unreadable
                .push(format!("{origin} is about another image"));
            continue;
        }
        if kind == Kind::Simple {
            read_simple(registry, domain, path, &origin, &m, &mut budget, &mut found).await?;
            continue;
        }
        budget -= 1;
        let Some(layer) =
            descriptors(&m.layers, media_type, |t| t.starts_with(BUNDLE_PREFIX)).next()
        else {
            found.unreadable.push(format!("{origin} holds no bundle"));
            continue;
        };
        let Some(bd) = &layer.digest.0 else {
            found
                .unreadable
                .push(format!("{origin} has no bundle digest"));
            continue;
        };
        let blob = match soft(
            registry
                .get_blob(domain, path, bd, MAX_SIGNATURE_BLOB)
                .await,
        )? {
            Ok(b) => b,
            Err(e) => {
                found.unreadable.push(format!("{origin}: {e}"));
                continue;
            }
        };
        match from_bundle(&origin, &blob) {
            Ok(c) => found.candidates.push(c),
            Err(e) => found.unreadable.push(format!("{origin}: {e}")),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
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
    mod stand_in {
        use std::collections::HashMap;
        use std::io::{BufRead, BufReader, Write};
        use std::net::TcpListener;
        use std::sync::Arc;

        use sha2::{Digest as _, Sha256};

        use super::super::*;
        use crate::credentials::Credentials;
        use crate::http::HttpClient;
        use crate::metrics::Upstream;

        const IMAGE: &str = "application/vnd.oci.image.manifest.v1+json";

        pub fn sha(b: &[u8]) -> String {
            format!("sha256:{:x}", Sha256::digest(b))
        }

        /// path (after `/v2/r/`) -> (status, extra headers, body).
        #[derive(Default, Clone)]
        pub struct Reg(pub HashMap<String, (u16, String, Vec<u8>)>);

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
                            let target = line.split(' ').nth(1).unwrap_or("").to_string();
                            loop {
                                let mut h = String::new();
                                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                                    break;
                                }
                            }
                            let what = target.strip_prefix("/v2/r/").unwrap_or("");
                            let (status, extra, body) = reg.0.get(what).cloned().unwrap_or((
                                404,
                                String::new(),
                                Vec::new(),
                            ));
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
        assert_eq!(
            f.unreadable,
            [format!("referrer {} is about another image", entries[3].0)]
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
}
