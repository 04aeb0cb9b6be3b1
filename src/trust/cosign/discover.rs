//! Finding an image's cosign signatures in its registry: the classic
//! `sha256-<hex>.sig` tag, and among the image's referrers Sigstore bundles
//! and cosign's OCI 1.1 simple-signing manifests (OCI 1.1 referrers API with
//! `Link` pages, or the referrers tag scheme `sha256-<hex>` where the
//! registry has no such API, as the Debian registry 2.8 does not). Each
//! referrer is judged by its own manifest and must name the image as its
//! subject.

use serde::Deserialize;

use super::signature::{
    from_bundle, from_simple_layer, Candidate, SignatureError, BUNDLE_PREFIX, SIMPLE_SIGNING,
};
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
    pub unreadable: Vec<Unreadable>,
}

/// Signature material that does not count because it cannot be read: the
/// signer's problem, said in the deny message (`origin` names the tag,
/// referrer or layer).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Unreadable {
    /// The registry refused it, or it is too large (not: unreachable).
    #[error("{origin}: {source}")]
    Registry {
        origin: String,
        source: RegistryError,
    },
    /// Its signature layer or bundle cannot be read.
    #[error("{origin}: {source}")]
    Signature {
        origin: String,
        source: std::sync::Arc<SignatureError>,
    },
    #[error("{origin} is not an index")]
    NotAnIndex { origin: String },
    #[error("{origin} is not a manifest")]
    NotAManifest { origin: String },
    #[error("{origin} is listed but missing")]
    Missing { origin: String },
    #[error("{origin} is about another image")]
    OtherSubject { origin: String },
    #[error("{origin} has no digest")]
    NoDigest { origin: String },
    #[error("{origin} holds no bundle")]
    NoBundle { origin: String },
    #[error("{origin} has no bundle digest")]
    NoBundleDigest { origin: String },
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
            found.unreadable.push(Unreadable::NoDigest { origin });
            continue;
        };
        let payload = match soft(registry.get_blob(domain, path, d, MAX_SIGNATURE_BLOB).await)? {
            Ok(p) => p,
            Err(source) => {
                found
                    .unreadable
                    .push(Unreadable::Registry { origin, source });
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
            Err(e) => found.unreadable.push(Unreadable::Signature {
                origin,
                source: e.into(),
            }),
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
                found
                    .unreadable
                    .push(Unreadable::NotAnIndex { origin: where_ });
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
        Err(source) => found.unreadable.push(Unreadable::Registry {
            origin: sig_tag.clone(),
            source,
        }),
        Ok(None) => {}
        Ok(Some((_, bytes))) => match Manifest::parse(&bytes) {
            None => found.unreadable.push(Unreadable::NotAManifest {
                origin: sig_tag.clone(),
            }),
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
                found.unreadable.push(Unreadable::Missing { origin });
                continue;
            }
            Err(source) => {
                found
                    .unreadable
                    .push(Unreadable::Registry { origin, source });
                continue;
            }
        };
        let Some(m) = Manifest::parse(&bytes) else {
            found.unreadable.push(Unreadable::NotAManifest { origin });
            continue;
        };
        let kind = kind_of(&m);
        if kind == Kind::Other {
            continue;
        }
        // The tag scheme's index is written by clients; the artifact must
        // itself say which image it is about.
        if !is_subject(&m.subject, digest) {
            found.unreadable.push(Unreadable::OtherSubject { origin });
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
            found.unreadable.push(Unreadable::NoBundle { origin });
            continue;
        };
        let Some(bd) = &layer.digest.0 else {
            found.unreadable.push(Unreadable::NoBundleDigest { origin });
            continue;
        };
        let blob = match soft(
            registry
                .get_blob(domain, path, bd, MAX_SIGNATURE_BLOB)
                .await,
        )? {
            Ok(b) => b,
            Err(source) => {
                found
                    .unreadable
                    .push(Unreadable::Registry { origin, source });
                continue;
            }
        };
        match from_bundle(&origin, &blob) {
            Ok(c) => found.candidates.push(c),
            Err(e) => found.unreadable.push(Unreadable::Signature {
                origin,
                source: e.into(),
            }),
        }
    }
    Ok(found)
}

#[cfg(test)]
#[path = "discover_tests.rs"]
pub(crate) mod tests;
