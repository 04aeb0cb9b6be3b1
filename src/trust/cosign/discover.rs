//! Finding an image's cosign signatures in its registry: the classic
//! `sha256-<hex>.sig` tag, and Sigstore bundles among the image's referrers
//! (OCI 1.1 referrers API, or the referrers tag scheme `sha256-<hex>` where
//! the registry has no such API, as the Debian registry 2.8 does not).

use serde_json::Value;

use super::signature::{from_bundle, from_simple_layer, Candidate, BUNDLE_PREFIX, SIMPLE_SIGNING};
use crate::http::HttpError;
use crate::registry::{RegistryClient, RegistryError};

/// Signatures looked at per image and format; more are ignored.
pub const MAX_SIGNATURES: usize = 32;
/// Entries of a signature manifest or referrers index looked at, of any
/// kind: bounds the parsing before filtering.
const MAX_DESCRIPTORS: usize = 1024;
/// A simple-signing payload or a bundle larger than this is refused.
pub const MAX_SIGNATURE_BLOB: usize = 1024 * 1024;

/// Everything found, and what could not be read (for messages).
#[derive(Debug, Default)]
pub struct Found {
    pub candidates: Vec<Candidate>,
    pub unreadable: Vec<String>,
}

/// The first `MAX_SIGNATURES` entries of `field` whose `type_field` is
/// what `wanted` accepts. Filtering comes first, so unrelated entries
/// (attestations, SBOMs, junk pushed by anyone) cannot crowd out signatures.
fn descriptors<'a>(
    v: &'a Value,
    field: &str,
    type_field: &'a str,
    wanted: impl Fn(&str) -> bool + 'a,
) -> impl Iterator<Item = &'a Value> + 'a {
    v.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_DESCRIPTORS)
        .filter(move |d| str_of(d, type_field).is_some_and(&wanted))
        .take(MAX_SIGNATURES)
}

/// Missing, corrupt, oversized or refused signature material is the
/// signer's problem (that signature does not count, the others still do);
/// a registry that cannot be reached at all is ours.
fn soft<T>(r: Result<T, RegistryError>) -> Result<Result<T, String>, RegistryError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e @ RegistryError::Http(HttpError::Unreachable { .. } | HttpError::Tls(_))) => Err(e),
        Err(e) => Ok(Err(e.to_string())),
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
                let simple = descriptors(&m, "layers", "mediaType", |t| t == SIMPLE_SIGNING);
                for (i, layer) in simple.enumerate() {
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
    let bundles = descriptors(&index, "manifests", "artifactType", |t| {
        t.starts_with(BUNDLE_PREFIX)
    });
    for desc in bundles {
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
        let Some(layer) =
            descriptors(&m, "layers", "mediaType", |t| t.starts_with(BUNDLE_PREFIX)).next()
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
            Ok(c) => found.candidates.push(c),
            Err(e) => found.unreadable.push(format!("{origin}: {e}")),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtering_comes_before_the_limit() {
        let mut manifests: Vec<Value> = (0..100)
            .map(|i| serde_json::json!({"artifactType": "application/spdx+json", "digest": format!("junk{i}")}))
            .collect();
        manifests.push(serde_json::json!({
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json", "digest": "real"
        }));
        let index = serde_json::json!({ "manifests": manifests });
        let got: Vec<_> = descriptors(&index, "manifests", "artifactType", |t| {
            t.starts_with(BUNDLE_PREFIX)
        })
        .filter_map(|d| str_of(d, "digest"))
        .collect();
        assert_eq!(got, ["real"]);
        let many = serde_json::json!({ "layers": vec![serde_json::json!({"mediaType": SIMPLE_SIGNING}); 100] });
        assert_eq!(
            descriptors(&many, "layers", "mediaType", |t| t == SIMPLE_SIGNING).count(),
            MAX_SIGNATURES
        );
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
}
