//! Finding an image's cosign signatures in its registry: the classic
//! `sha256-<hex>.sig` tag, and Sigstore bundles among the image's referrers
//! (OCI 1.1 referrers API, or the referrers tag scheme `sha256-<hex>` where
//! the registry has no such API, as the Debian registry 2.8 does not).

use serde_json::Value;

use super::signature::{from_bundle, from_simple_layer, Candidate, BUNDLE_PREFIX, SIMPLE_SIGNING};
use crate::registry::{RegistryClient, RegistryError};

/// Signatures looked at per image and format; more are ignored.
pub const MAX_SIGNATURES: usize = 32;
/// A simple-signing payload or a bundle larger than this is refused.
pub const MAX_SIGNATURE_BLOB: usize = 1024 * 1024;

/// Everything found, and what could not be read (for messages).
#[derive(Debug, Default)]
pub struct Found {
    pub candidates: Vec<Candidate>,
    pub unreadable: Vec<String>,
}

fn descriptors<'a>(v: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    v.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_SIGNATURES)
}

/// Missing or corrupt signature material is the signer's problem (the
/// signature does not count); a registry that cannot be asked is ours.
fn soft<T>(r: Result<T, RegistryError>) -> Result<Result<T, String>, RegistryError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e @ (RegistryError::NotFound { .. } | RegistryError::BadDigest { .. })) => {
            Ok(Err(e.to_string()))
        }
        Err(e) => Err(e),
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// All signatures of `domain/path@digest`.
pub async fn find(
    registry: &RegistryClient,
    domain: &str,
    path: &str,
    digest: &str,
) -> Result<Found, RegistryError> {
    let mut found = Found::default();
    let tag = digest.replacen(':', "-", 1);
    // Classic: one manifest, one layer per signature.
    let sig_tag = format!("{tag}.sig");
    if let Some((_, bytes)) = registry.get_manifest(domain, path, &sig_tag).await? {
        match serde_json::from_slice::<Value>(&bytes) {
            Err(_) => found.unreadable.push(format!("{sig_tag} is not JSON")),
            Ok(m) => {
                for (i, layer) in descriptors(&m, "layers").enumerate() {
                    if str_of(layer, "mediaType") != Some(SIMPLE_SIGNING) {
                        continue;
                    }
                    let origin = format!("{sig_tag} layer {}", i + 1);
                    let Some(d) = str_of(layer, "digest") else {
                        found.unreadable.push(format!("{origin} has no digest"));
                        continue;
                    };
                    let payload =
                        match soft(registry.get_blob(domain, path, d, MAX_SIGNATURE_BLOB).await)? {
                            Ok(p) => p,
                            Err(e) => {
                                found.unreadable.push(format!("{origin}: {e}"));
                                continue;
                            }
                        };
                    let empty = serde_json::Map::new();
                    let ann = layer
                        .get("annotations")
                        .and_then(Value::as_object)
                        .unwrap_or(&empty);
                    match from_simple_layer(origin.clone(), payload.to_vec(), ann) {
                        Ok(c) => found.candidates.push(c),
                        Err(e) => found.unreadable.push(format!("{origin}: {e}")),
                    }
                }
            }
        }
    }
    // Bundles: the referrers API, else the tag scheme.
    let index = match registry.referrers(domain, path, digest).await? {
        Some(i) => Some(("referrers".to_string(), i)),
        None => registry
            .get_manifest(domain, path, &tag)
            .await?
            .map(|(_, b)| (tag.clone(), b)),
    };
    let Some((where_, index)) = index else {
        return Ok(found);
    };
    let Ok(index) = serde_json::from_slice::<Value>(&index) else {
        found.unreadable.push(format!("{where_} is not JSON"));
        return Ok(found);
    };
    for desc in descriptors(&index, "manifests") {
        if !str_of(desc, "artifactType").is_some_and(|t| t.starts_with(BUNDLE_PREFIX)) {
            continue;
        }
        let Some(md) = str_of(desc, "digest") else {
            continue;
        };
        let origin = format!("bundle {md}");
        let bytes = match soft(registry.get_manifest(domain, path, md).await)? {
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
        let Ok(m) = serde_json::from_slice::<Value>(&bytes) else {
            found.unreadable.push(format!("{origin} is not JSON"));
            continue;
        };
        // The tag scheme's index is written by clients; the artifact must
        // itself say which image it is about.
        if m.pointer("/subject/digest").and_then(Value::as_str) != Some(digest) {
            found
                .unreadable
                .push(format!("{origin} is about another image"));
            continue;
        }
        let Some(layer) = descriptors(&m, "layers")
            .find(|l| str_of(l, "mediaType").is_some_and(|t| t.starts_with(BUNDLE_PREFIX)))
        else {
            found.unreadable.push(format!("{origin} holds no bundle"));
            continue;
        };
        let Some(bd) = str_of(layer, "digest") else {
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
            Ok(cs) => found.candidates.extend(cs),
            Err(e) => found.unreadable.push(format!("{origin}: {e}")),
        }
    }
    Ok(found)
}
