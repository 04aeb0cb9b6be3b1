//! What a cosign payload says it signs: the exact image digest (simple
//! signing's `docker-manifest-digest`, an in-toto subject, or the digest a
//! bundle signs directly) and, for `match_reference`, which repository.
//! Fields are read as cosign's own decoders (Go's `encoding/json` and
//! protojson) would, and any ambiguity between them is refused.

use crate::request::json as gojson;
use crate::request::reference::Reference;

use super::signature::{Content, INTOTO, SIGN_PREDICATE};

/// Why a payload does not say it signs this image (or this repository).
/// The messages finish "the signature is rejected: ..." as before.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("{0} is not an object")]
    NotAnObject(String),
    /// A field more than one decoder could read (`what`, `field`, the keys).
    #[error("its payload spells {what}.{field} ambiguously ({}), so cosign may read another value than the one checked", quoted(.keys))]
    Ambiguous {
        what: String,
        field: String,
        keys: Vec<String>,
    },
    #[error("its payload's {what}.{field} is not a string")]
    FieldNotString { what: String, field: String },
    #[error("its payload's {what}.{field} is not an object")]
    FieldNotObject { what: String, field: String },
    #[error("only sha256 digests can be checked")]
    NotSha256,
    #[error("its payload is not JSON: {0}")]
    NotJson(gojson::JsonError),
    #[error("its payload is not a JSON object")]
    PayloadNotObject,
    #[error("its payload's optional section is not an object")]
    OptionalNotObject,
    #[error("its payload has no critical section")]
    NoCritical,
    #[error("its payload is not a cosign container image signature")]
    NotImageSignature,
    #[error("its payload names no image digest")]
    NoDigest,
    #[error("its payload is for {named}, not {want}")]
    OtherDigest { named: String, want: String },
    #[error("its DSSE payload type is {0:?}, not in-toto")]
    NotInToto(String),
    #[error("its in-toto statement is not JSON: {0}")]
    StatementNotJson(gojson::JsonError),
    #[error("its statement type {0:?} is not in-toto")]
    StatementType(String),
    #[error("it is an attestation ({0}), not a signature")]
    Attestation(String),
    #[error("its statement's subject is not {0}")]
    OtherSubject(String),
    #[error("its message digest is not {0}")]
    OtherMessageDigest(String),
    #[error("match_reference needs the image's repository")]
    NoRepository,
    #[error("it is a bare message signature, which names no repository (match_reference)")]
    BareMessage,
    #[error(
        "its payload names no repository (docker-reference), and the rule has match_reference"
    )]
    NoReference,
    #[error("its payload is for repository {claimed:?}, not {repo} (match_reference)")]
    OtherRepository { claimed: String, repo: String },
}

fn quoted(keys: &[String]) -> String {
    keys.iter()
        .map(|k| format!("{k:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The one value of `obj`'s field `names[0]`, refusing ambiguity: cosign
/// reads simple-signing payloads with Go's `encoding/json` (keys matched
/// case-insensitively, ſ and K folded, the last duplicate wins) and in-toto
/// statements with protojson (which also takes the proto field names in
/// `names[1..]`), so any key that one of them could read as this field other
/// than one exact `names[0]` could name another value to cosign than to us.
fn field<'a>(
    obj: &'a gojson::Value,
    what: &str,
    names: &[&str],
) -> Result<Option<&'a gojson::Value>, PayloadError> {
    let gojson::Value::Object(members) = obj else {
        return Err(PayloadError::NotAnObject(what.into()));
    };
    let folded: Vec<String> = names.iter().map(|n| gojson::go_fold(n)).collect();
    let hits: Vec<&str> = members
        .iter()
        .filter(|(k, _)| folded.contains(&gojson::go_fold(k)))
        .map(|(k, _)| k.as_str())
        .collect();
    match hits.as_slice() {
        [] => Ok(None),
        [k] if Some(k) == names.first() => Ok(members.iter().find(|(m, _)| m == k).map(|(_, v)| v)),
        _ => Err(PayloadError::Ambiguous {
            what: what.into(),
            field: names.first().copied().unwrap_or_default().into(),
            keys: hits.iter().map(|k| k.to_string()).collect(),
        }),
    }
}

/// A string field as Go decodes it: absent or null is "".
fn string_field(obj: &gojson::Value, what: &str, names: &[&str]) -> Result<String, PayloadError> {
    match field(obj, what, names)? {
        None | Some(gojson::Value::Null) => Ok(String::new()),
        Some(gojson::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(PayloadError::FieldNotString {
            what: what.into(),
            field: names.first().unwrap_or(&"?").to_string(),
        }),
    }
}

/// A struct field as Go decodes it: absent or null is an empty object.
fn object_field<'a>(
    obj: &'a gojson::Value,
    what: &str,
    names: &[&str],
) -> Result<&'a gojson::Value, PayloadError> {
    static EMPTY: gojson::Value = gojson::Value::Object(Vec::new());
    match field(obj, what, names)? {
        None | Some(gojson::Value::Null) => Ok(&EMPTY),
        Some(v @ gojson::Value::Object(_)) => Ok(v),
        Some(_) => Err(PayloadError::FieldNotObject {
            what: what.into(),
            field: names.first().unwrap_or(&"?").to_string(),
        }),
    }
}

/// The payload names `digest` (`sha256:<hex>`) as the signed image. Returns
/// the repositories it claims for it (simple signing's `docker-reference`,
/// the `name` of each in-toto subject with this digest; "" where absent),
/// for `match_reference`.
pub(super) fn names_digest(content: &Content, digest: &str) -> Result<Vec<String>, PayloadError> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or(PayloadError::NotSha256)?;
    match content {
        Content::Simple(payload) => {
            let v = gojson::parse(payload).map_err(PayloadError::NotJson)?;
            if !matches!(v, gojson::Value::Object(_)) {
                return Err(PayloadError::PayloadNotObject);
            }
            // cosign's SimpleContainerImage: {critical:{identity:{docker-reference},
            // image:{docker-manifest-digest}, type}, optional:{...}}.
            if !matches!(
                field(&v, "payload", &["optional"])?,
                None | Some(gojson::Value::Null | gojson::Value::Object(_))
            ) {
                return Err(PayloadError::OptionalNotObject);
            }
            let critical = match field(&v, "payload", &["critical"])? {
                Some(c @ gojson::Value::Object(_)) => c,
                _ => return Err(PayloadError::NoCritical),
            };
            if string_field(critical, "critical", &["type"])? != "cosign container image signature"
            {
                return Err(PayloadError::NotImageSignature);
            }
            let identity = object_field(critical, "critical", &["identity"])?;
            let reference = string_field(identity, "critical.identity", &["docker-reference"])?;
            let image = object_field(critical, "critical", &["image"])?;
            let named = string_field(image, "critical.image", &["docker-manifest-digest"])?;
            if named.is_empty() {
                return Err(PayloadError::NoDigest);
            }
            if named != digest {
                return Err(PayloadError::OtherDigest {
                    named,
                    want: digest.into(),
                });
            }
            Ok(vec![reference])
        }
        Content::Dsse {
            payload_type,
            payload,
        } => {
            if payload_type != INTOTO {
                return Err(PayloadError::NotInToto(payload_type.clone()));
            }
            let v = gojson::parse(payload).map_err(PayloadError::StatementNotJson)?;
            let t = string_field(&v, "statement", &["_type", "type"])?;
            if t != "https://in-toto.io/Statement/v1" && t != "https://in-toto.io/Statement/v0.1" {
                return Err(PayloadError::StatementType(t));
            }
            // Attestations share the format; only cosign's signing predicate
            // means "this image is signed".
            let p = string_field(&v, "statement", &["predicateType", "predicate_type"])?;
            if p != SIGN_PREDICATE {
                return Err(PayloadError::Attestation(p));
            }
            let subjects = match field(&v, "statement", &["subject"])? {
                Some(gojson::Value::Array(s)) => s.as_slice(),
                _ => &[],
            };
            let mut named = Vec::new();
            for s in subjects {
                let d = object_field(s, "statement.subject[]", &["digest"])?;
                if string_field(d, "statement.subject[].digest", &["sha256"])? == hex {
                    named.push(string_field(s, "statement.subject[]", &["name"])?);
                }
            }
            if named.is_empty() {
                return Err(PayloadError::OtherSubject(digest.into()));
            }
            Ok(named)
        }
        Content::Digest(d) => {
            let want = (0..hex.len())
                .step_by(2)
                .map(|i| {
                    hex.get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })
                .collect::<Option<Vec<u8>>>();
            if want.as_deref() != Some(d.as_slice()) {
                return Err(PayloadError::OtherMessageDigest(digest.into()));
            }
            Ok(Vec::new())
        }
    }
}

/// `match_reference`: every repository the payload claims for the digest is
/// `repo` (canonical names: `index.docker.io/library/x`, as cosign writes
/// Docker Hub names, is `docker.io/library/x`).
pub(super) fn same_repository(
    claimed: &[String],
    repo: Option<&Reference>,
) -> Result<(), PayloadError> {
    let repo = repo.ok_or(PayloadError::NoRepository)?;
    if claimed.is_empty() {
        return Err(PayloadError::BareMessage);
    }
    for c in claimed {
        if c.is_empty() {
            return Err(PayloadError::NoReference);
        }
        let same = Reference::parse_normalized(c)
            .is_ok_and(|r| r.tag.is_none() && r.digest.is_none() && r.name() == repo.name());
        if !same {
            return Err(PayloadError::OtherRepository {
                claimed: c.clone(),
                repo: repo.name().to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_must_name_the_exact_digest() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let simple = |digest: &str, ty: &str| {
            Content::Simple(
                format!(r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"{ty}"}},"optional":null}}"#)
                    .into_bytes(),
            )
        };
        let ty = "cosign container image signature";
        assert!(names_digest(&simple(&d, ty), &d).is_ok());
        assert!(names_digest(&simple(&format!("sha256:{}", "cd".repeat(32)), ty), &d).is_err());
        assert!(names_digest(&simple(&d, "something else"), &d).is_err());
        assert!(names_digest(&Content::Simple(b"not json".to_vec()), &d).is_err());

        let stmt = |pred: &str, hex: &str| {
            Content::Dsse {
            payload_type: INTOTO.into(),
            payload: format!(r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"r","digest":{{"sha256":"{hex}"}}}}],"predicateType":"{pred}","predicate":{{}}}}"#).into_bytes(),
        }
        };
        assert!(names_digest(&stmt(SIGN_PREDICATE, &"ab".repeat(32)), &d).is_ok());
        assert!(names_digest(&stmt(SIGN_PREDICATE, &"cd".repeat(32)), &d).is_err());
        let e = names_digest(
            &stmt("https://slsa.dev/provenance/v1", &"ab".repeat(32)),
            &d,
        );
        assert!(e.is_err_and(|e| matches!(e, PayloadError::Attestation(_))));
        let mut other_type = stmt(SIGN_PREDICATE, &"ab".repeat(32));
        if let Content::Dsse { payload_type, .. } = &mut other_type {
            *payload_type = "application/json".into();
        }
        assert!(names_digest(&other_type, &d).is_err());

        assert!(names_digest(&Content::Digest(vec![0xab; 32]), &d).is_ok());
        assert!(names_digest(&Content::Digest(vec![0xab; 31]), &d).is_err());
        assert!(names_digest(&Content::Digest(vec![0xab; 32]), "sha512:ab").is_err());
    }
}

#[cfg(test)]
mod ambiguity {
    use super::*;

    fn d() -> String {
        format!("sha256:{}", "ab".repeat(32))
    }

    fn other() -> String {
        format!("sha256:{}", "cd".repeat(32))
    }

    fn simple(body: &str) -> Content {
        Content::Simple(body.as_bytes().to_vec())
    }

    /// Go's encoding/json (cosign) reads keys case-insensitively and keeps
    /// the last of duplicates; a payload spelling a checked key twice means
    /// one image to one reader and another to the other.
    #[test]
    fn simple_signing_keys_must_be_unambiguous() {
        let ty = "cosign container image signature";
        let (d, o) = (d(), other());
        let cases = [
            // cosign reads the last, case-folded: `o`.
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{d}","Docker-Manifest-Digest":"{o}"}},"type":"{ty}"}}}}"#
            ),
            format!(
                r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{d}","docker-manifest-digest":"{o}"}},"type":"{ty}"}}}}"#
            ),
            format!(
                r#"{{"critical":{{"image":{{"docker-manifest-digest":"{d}"}},"Image":{{"docker-manifest-digest":"{o}"}},"type":"{ty}"}}}}"#
            ),
            format!(
                r#"{{"critical":{{"image":{{"docker-manifest-digest":"{d}"}},"type":"{ty}"}},"CRITICAL":{{"image":{{"docker-manifest-digest":"{o}"}},"type":"{ty}"}}}}"#
            ),
            format!(
                r#"{{"critical":{{"image":{{"docker-manifest-digest":"{d}"}},"type":"{ty}","Type":"x"}}}}"#
            ),
            format!(
                r#"{{"critical":{{"image":{{"docker-manifest-digest":"{d}"}},"type":"{ty}","identity":{{"docker-reference":"a","Docker-Reference":"b"}}}}}}"#
            ),
            // Only Go folds these onto the names (ſ is s, K is k).
            format!(
                r#"{{"critical":{{"image":{{"docker-manifest-digest":"{d}","docker-manifest-digeſt":"{o}"}},"type":"{ty}"}}}}"#
            ),
            // A lone case variant: cosign reads it, so it is checked path too.
            format!(
                r#"{{"critical":{{"image":{{"Docker-Manifest-Digest":"{d}"}},"type":"{ty}"}}}}"#
            ),
        ];
        for c in &cases {
            let e = names_digest(&simple(c), &d);
            assert!(e.is_err(), "accepted: {c}");
        }
        // Duplicates off the checked path do not matter.
        let ok = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"r"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"{ty}"}},"optional":{{"a":1,"A":2}}}}"#
        );
        assert!(names_digest(&simple(&ok), &d).is_ok());
    }

    fn stmt(body: &str) -> Content {
        Content::Dsse {
            payload_type: INTOTO.into(),
            payload: body.as_bytes().to_vec(),
        }
    }

    /// In-toto statements are read by protojson (exact names, plus the proto
    /// field names `type` and `predicate_type`) or by encoding/json (case
    /// folded): any second spelling of a checked key is refused.
    #[test]
    fn in_toto_keys_must_be_unambiguous() {
        let (h, o) = ("ab".repeat(32), "cd".repeat(32));
        let t = "https://in-toto.io/Statement/v1";
        let p = SIGN_PREDICATE;
        let good = format!(
            r#"{{"_type":"{t}","subject":[{{"name":"r","digest":{{"sha256":"{h}"}}}}],"predicateType":"{p}","predicate":{{}}}}"#
        );
        assert!(names_digest(&stmt(&good), &d()).is_ok());
        let cases = [
            format!(
                r#"{{"_type":"{t}","subject":[{{"digest":{{"sha256":"{h}"}}}}],"Subject":[{{"digest":{{"sha256":"{o}"}}}}],"predicateType":"{p}"}}"#
            ),
            format!(
                r#"{{"_type":"{t}","subject":[{{"digest":{{"sha256":"{h}","sha256":"{o}"}}}}],"predicateType":"{p}"}}"#
            ),
            format!(
                r#"{{"_type":"{t}","subject":[{{"digest":{{"sha256":"{h}","SHA256":"{o}"}}}}],"predicateType":"{p}"}}"#
            ),
            format!(
                r#"{{"_type":"{t}","subject":[{{"digest":{{"sha256":"{h}"}},"Digest":{{"sha256":"{o}"}}}}],"predicateType":"{p}"}}"#
            ),
            format!(
                r#"{{"_type":"{t}","subject":[{{"digest":{{"sha256":"{h}"}}}}],"predicateType":"{p}","predicate_type":"https://slsa.dev/provenance/v1"}}"#
            ),
            format!(
                r#"{{"_type":"{t}","subject":[{{"digest":{{"sha256":"{h}"}}}}],"predicateType":"{p}","PredicateType":"https://slsa.dev/provenance/v1"}}"#
            ),
            format!(
                r#"{{"_type":"{t}","type":"x","subject":[{{"digest":{{"sha256":"{h}"}}}}],"predicateType":"{p}"}}"#
            ),
            format!(
                r#"{{"_type":"{t}","_TYPE":"x","subject":[{{"digest":{{"sha256":"{h}"}}}}],"predicateType":"{p}"}}"#
            ),
        ];
        for c in &cases {
            assert!(names_digest(&stmt(c), &d()).is_err(), "accepted: {c}");
        }
    }
}
