//! Signatures stored next to an image in its registry, the layer cosign and
//! Notation discovery share: the lenient OCI JSON types (a mistyped or
//! oversized entry spoils that entry, not the document), the referrers
//! indexes of an image (the OCI 1.1 referrers API, whose `Link` pages the
//! registry client follows up to its bound, else the referrers tag scheme
//! `sha256-<hex>`), the subject check every referrer must pass, and which
//! registry errors spoil one signature rather than the whole lookup.
//! Which entries count as signatures is each format's business.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::de::{
    value::MapAccessDeserializer, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;

use crate::http::HttpError;
use crate::registry::{RegistryClient, RegistryError};

/// Entries of a signature manifest or referrers index looked at, of any
/// kind: bounds the parsing before filtering. Entries past it are skipped
/// unparsed ([`IgnoredAny`]), so half a million tiny objects cost nothing.
pub const MAX_DESCRIPTORS: usize = 1024;

/// A string, or `None` for any other JSON value (skipped unparsed): a
/// mistyped field of one entry makes that entry useless, not the document.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Lenient(pub Option<String>);

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Lenient, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Lenient;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Lenient, E> {
                Ok(Lenient(Some(v.to_string())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E>(self) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Lenient, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Lenient, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// An object parsed as `T`, or `None` for any other JSON value.
#[derive(Debug)]
pub struct Obj<T>(pub Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Obj<T>, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(a)).map(|t| Obj(Some(t)))
            }
            fn visit_str<E>(self, _: &str) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_unit<E>(self) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Obj<T>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Obj(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<T> Default for Obj<T> {
    fn default() -> Obj<T> {
        Obj(None)
    }
}

/// The first [`MAX_DESCRIPTORS`] entries of a JSON array (anything but an
/// array: none). Later entries are skipped without being kept or typed.
#[derive(Debug)]
pub struct Bounded<T>(pub Vec<T>);

impl<T> Default for Bounded<T> {
    fn default() -> Bounded<T> {
        Bounded(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Bounded<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Bounded<T>, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Bounded<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Bounded<T>, A::Error> {
                // No capacity from size_hint: the document chooses it.
                let mut out = Vec::new();
                while out.len() < MAX_DESCRIPTORS {
                    match a.next_element::<T>()? {
                        Some(x) => out.push(x),
                        None => return Ok(Bounded(out)),
                    }
                }
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Bounded(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Bounded<T>, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Bounded(Vec::new()))
            }
            fn visit_str<E>(self, _: &str) -> Result<Bounded<T>, E> {
                Ok(Bounded(Vec::new()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Bounded<T>, E> {
                Ok(Bounded(Vec::new()))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Bounded<T>, E> {
                Ok(Bounded(Vec::new()))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Bounded<T>, E> {
                Ok(Bounded(Vec::new()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Bounded<T>, E> {
                Ok(Bounded(Vec::new()))
            }
            fn visit_unit<E>(self) -> Result<Bounded<T>, E> {
                Ok(Bounded(Vec::new()))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// String annotations; other values are skipped.
#[derive(Debug, Default)]
pub struct Annotations(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for Annotations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Annotations, D::Error> {
        let m = Obj::<BTreeMap<String, Lenient>>::deserialize(d)?;
        Ok(Annotations(
            m.0.unwrap_or_default()
                .into_iter()
                .filter_map(|(k, v)| v.0.map(|v| (k, v)))
                .collect(),
        ))
    }
}

/// A descriptor: only what discovery reads; unknown fields (annotations
/// included: an index entry's are never read) are skipped unparsed.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: Lenient,
    #[serde(default)]
    pub artifact_type: Lenient,
    #[serde(default)]
    pub digest: Lenient,
}

/// A referrers index (up to 4 MiB): only its entries' types and digests.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub media_type: Lenient,
    #[serde(default)]
    pub manifests: Bounded<Obj<Descriptor>>,
}

/// A JSON object (never the sequence form serde would also accept).
pub fn object<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Option<T> {
    serde_json::from_slice::<Obj<T>>(bytes).ok()?.0
}

impl Index {
    pub fn parse(bytes: &[u8]) -> Option<Index> {
        object(bytes)
    }
}

/// Missing, corrupt, oversized or refused signature material is the
/// signer's problem (that signature does not count, the others still do);
/// a registry that cannot be reached at all is ours.
pub fn soft<T>(r: Result<T, RegistryError>) -> Result<Result<T, RegistryError>, RegistryError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e @ RegistryError::Http(HttpError::Unreachable { .. } | HttpError::Tls(_))) => Err(e),
        Err(e) => Ok(Err(e)),
    }
}

/// The media type of an OCI image index, the only form a referrers index
/// takes.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

impl Index {
    /// Whether this is a referrers index rather than an image: a manifest
    /// or a manifest list under the tag-scheme tag refers to nothing.
    pub fn is_referrers_index(&self) -> bool {
        self.media_type.0.as_deref().is_none_or(|t| t == OCI_INDEX)
    }
}

/// The referrers tag scheme's tag for `digest` (`sha256:<hex>` →
/// `sha256-<hex>`); cosign's classic `.sig` tag extends it.
pub fn referrer_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// The referrers indexes of `domain/path@digest`, each with where it came
/// from for messages: the pages of the referrers API, else the index under
/// the tag scheme's tag (none when the tag is absent, or when the registry
/// resolves it to the image itself, as GitLab does).
///
/// The tag is asked for together with the API's first page: a registry
/// without the API (distribution 2.x, many mirrors) would otherwise cost a
/// first pull one more round trip after the API's 404. Its answer, error
/// included, is used only when the registry has no referrers API.
pub async fn referrer_indexes(
    registry: &RegistryClient,
    domain: &str,
    path: &str,
    digest: &str,
) -> Result<Vec<(String, Bytes)>, RegistryError> {
    let tag = referrer_tag(digest);
    let (api, by_tag) = tokio::join!(
        registry.referrers(domain, path, digest),
        registry.get_manifest(domain, path, &tag)
    );
    Ok(match api? {
        Some(pages) => pages
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("referrers page {}", i + 1), p))
            .collect(),
        None => match by_tag? {
            None => Vec::new(),
            Some((d, _)) if d == digest => Vec::new(),
            Some((_, b)) => vec![(format!("tag {tag}"), b)],
        },
    })
}

/// A referrer names `digest` as its subject: the tag scheme's index is
/// written by clients, so the artifact must itself say which image it is
/// about.
pub fn is_subject(subject: &Obj<Descriptor>, digest: &str) -> bool {
    subject.0.as_ref().and_then(|s| s.digest.0.as_deref()) == Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::Duration;

    use crate::credentials::Credentials;
    use crate::http::HttpClient;
    use crate::metrics::Upstream;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// A plain-HTTP registry stand-in for repository `r` with the API's
    /// first page and the tag scheme's tag as given (status, body). The
    /// API's answer waits until the tag was asked for (at most 10 s: a
    /// liveness bound, not a measurement) and records whether it was.
    struct Reg {
        referrers: (u16, Vec<u8>),
        tag: (u16, Vec<u8>),
        tag_asked: Mutex<bool>,
        asked: Condvar,
        overlapped: Mutex<Option<bool>>,
    }

    impl Reg {
        fn new(referrers: (u16, &[u8]), tag: (u16, &[u8])) -> Arc<Reg> {
            Arc::new(Reg {
                referrers: (referrers.0, referrers.1.to_vec()),
                tag: (tag.0, tag.1.to_vec()),
                tag_asked: Mutex::new(false),
                asked: Condvar::new(),
                overlapped: Mutex::new(None),
            })
        }

        fn answer(&self, target: &str) -> (u16, Vec<u8>) {
            if target.starts_with("/v2/r/referrers/") {
                let g = self.tag_asked.lock().unwrap();
                let (g, _) = self
                    .asked
                    .wait_timeout_while(g, Duration::from_secs(10), |asked| !*asked)
                    .unwrap();
                *self.overlapped.lock().unwrap() = Some(*g);
                self.referrers.clone()
            } else if target == format!("/v2/r/manifests/{}", referrer_tag(DIGEST)) {
                *self.tag_asked.lock().unwrap() = true;
                self.asked.notify_all();
                self.tag.clone()
            } else {
                (404, Vec::new())
            }
        }

        fn serve(self: &Arc<Reg>) -> String {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let reg = self.clone();
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
                        loop {
                            let mut h = String::new();
                            if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                                break;
                            }
                        }
                        let target = line.split(' ').nth(1).unwrap_or("").to_string();
                        let (status, body) = reg.answer(&target);
                        let head = format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = w.write_all(head.as_bytes());
                        let _ = w.write_all(&body);
                    });
                }
            });
            format!("127.0.0.1:{port}")
        }
    }

    async fn indexes(reg: &Arc<Reg>) -> Result<Vec<(String, Bytes)>, RegistryError> {
        let http = HttpClient::new(
            Upstream::Registry,
            None,
            Arc::new(Credentials::default()),
            Duration::from_secs(20),
        )
        .unwrap();
        let registry = RegistryClient::new(Arc::new(http), Vec::new());
        referrer_indexes(&registry, &reg.serve(), "r", DIGEST).await
    }

    const API_INDEX: &[u8] =
        br#"{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    const TAG_INDEX: &[u8] = br#"{"schemaVersion":2,"manifests":[]}"#;

    /// A registry without the referrers API: the tag's index is used, and
    /// it was asked for before the API's 404 came back (one round trip,
    /// not two; asked after the 404 before, so this waited 10 s and failed).
    #[tokio::test]
    async fn the_tag_is_asked_for_while_the_api_answers() {
        let reg = Reg::new((404, b""), (200, TAG_INDEX));
        let got = indexes(&reg).await.unwrap();
        let want = [(
            format!("tag {}", referrer_tag(DIGEST)),
            Bytes::from(TAG_INDEX),
        )];
        assert_eq!(got, want);
        assert_eq!(*reg.overlapped.lock().unwrap(), Some(true));
    }

    /// Both exist: the referrers API wins; the tag's answer, an error
    /// included, is not used.
    #[tokio::test]
    async fn the_referrers_api_is_preferred_over_the_tag() {
        for tag in [(200, TAG_INDEX), (403, &b""[..]), (500, &b""[..])] {
            let reg = Reg::new((200, API_INDEX), tag);
            let got = indexes(&reg).await.unwrap();
            assert_eq!(
                got,
                [("referrers page 1".to_string(), Bytes::from(API_INDEX))],
                "tag answered {}",
                tag.0
            );
        }
    }

    /// No referrers API: the tag's answer counts, its error fails the
    /// lookup, and no tag (or the image itself under it) is no index.
    #[tokio::test]
    async fn without_the_api_the_tag_decides() {
        let reg = Reg::new((404, b""), (403, b""));
        assert!(indexes(&reg).await.is_err());
        let reg = Reg::new((405, b""), (404, b""));
        assert_eq!(indexes(&reg).await.unwrap(), []);
    }
}
