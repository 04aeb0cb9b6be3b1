//! Rekor transparency-log entries: the Signed Entry Timestamp (a signed
//! promise of inclusion, and the only signed time keyless signatures have),
//! and the inclusion proof with its signed checkpoint; and whether an entry
//! is about the very signature it is offered for ([`bound`]).

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use serde_json::Value;

use super::cert::SigningCert;
use super::keys::PublicKey;
use super::root::{LogKey, TrustedRoot};
use super::signature::{Candidate, Content};

use crate::trust::encoding::{b64_decode, b64_encode, hex};

/// Why a Rekor entry does not vouch for a signature; each message finishes
/// "the signature is rejected: ..." as before.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekorError {
    #[error("the Rekor entry is from a log the trusted root does not name")]
    UnknownLog,
    #[error("the Rekor entry's time is out of range")]
    TimeOutOfRange,
    #[error("the Rekor entry's time is outside its log's validity")]
    OutsideLogValidity,
    #[error("the Rekor entry has neither a SET nor an inclusion proof")]
    NoSetNorProof,
    #[error("the Rekor SET does not verify")]
    BadSet,
    #[error("the Rekor entry has only an inclusion proof, and its log's key is no longer current")]
    ProofWithRetiredKey,
    #[error("the Rekor inclusion proof is malformed")]
    MalformedProof,
    #[error("the Rekor inclusion proof does not lead to its root hash")]
    ProofMismatch,
    #[error("the Rekor checkpoint is for another tree")]
    CheckpointOtherTree,
    #[error("the Rekor checkpoint {0}")]
    BadCheckpoint(CheckpointFault),
    #[error("its Rekor entry body is not JSON")]
    BodyNotJson,
    #[error("its Rekor entry has no spec")]
    NoSpec,
    #[error("its Rekor entry is for other content")]
    OtherContent,
    #[error("its Rekor entry is for another signature")]
    OtherSignature,
    #[error("its Rekor entry is for another signer")]
    OtherSigner,
    #[error("its Rekor entry is for another signature or signer")]
    OtherSignatureOrSigner,
    #[error("its Rekor entry is of a kind ({0:?}) that does not match the signature")]
    KindMismatch(String),
}

/// What is wrong with a checkpoint (signed note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointFault {
    #[error("has no signature")]
    NoSignature,
    #[error("is empty")]
    Empty,
    #[error("has no tree size")]
    NoTreeSize,
    #[error("has no root hash")]
    NoRootHash,
    #[error("is not signed by its log")]
    NotSignedByLog,
}

/// A log entry as carried by a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    /// The canonicalized entry body (JSON).
    pub body: Vec<u8>,
    pub integrated_time: i64,
    pub log_index: i64,
    /// sha256 of the log's public key.
    pub log_id: Vec<u8>,
    pub set: Option<Vec<u8>>,
    pub proof: Option<InclusionProof>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub log_index: u64,
    pub tree_size: u64,
    pub root_hash: Vec<u8>,
    pub hashes: Vec<Vec<u8>>,
    pub checkpoint: String,
}

/// What a verified entry proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged {
    /// The log signed this time (SET); `None` when only an inclusion proof
    /// was checked, whose time is not signed.
    pub signed_time: Option<i64>,
}

impl TlogEntry {
    /// Verify the entry against the logs of `root`: its SET, else its
    /// inclusion proof and checkpoint.
    pub fn verify(&self, root: &TrustedRoot) -> Result<Logged, RekorError> {
        let log = root.tlog(&self.log_id).ok_or(RekorError::UnknownLog)?;
        let t = OffsetDateTime::from_unix_timestamp(self.integrated_time)
            .map_err(|_| RekorError::TimeOutOfRange)?;
        if !log.valid_at(t) {
            return Err(RekorError::OutsideLogValidity);
        }
        let mut why = RekorError::NoSetNorProof;
        if let Some(set) = &self.set {
            if log.key.verify(&self.set_payload(), set) {
                return Ok(Logged {
                    signed_time: Some(self.integrated_time),
                });
            }
            why = RekorError::BadSet;
        }
        if let Some(p) = &self.proof {
            // `integratedTime` is unsigned here, so it cannot show the entry
            // predates the end of a retired log key: only a current key's
            // checkpoint counts.
            if !log.valid_at(OffsetDateTime::now_utc()) {
                return Err(RekorError::ProofWithRetiredKey);
            }
            p.verify(&self.body, log)?;
            return Ok(Logged { signed_time: None });
        }
        Err(why)
    }

    /// What the SET signs: canonical JSON (sorted keys, no spaces).
    fn set_payload(&self) -> Vec<u8> {
        format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            b64_encode(&self.body),
            self.integrated_time,
            hex(&self.log_id),
            self.log_index
        )
        .into_bytes()
    }
}

fn node(l: &[u8], r: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().to_vec()
}

/// RFC 9162 §2.1.3.2: the root a leaf's audit path leads to.
fn root_from_path(index: u64, size: u64, leaf: Vec<u8>, path: &[Vec<u8>]) -> Option<Vec<u8>> {
    if index >= size {
        return None;
    }
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

impl InclusionProof {
    fn verify(&self, body: &[u8], log: &LogKey) -> Result<(), RekorError> {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(body);
        let leaf = h.finalize().to_vec();
        let root = root_from_path(self.log_index, self.tree_size, leaf, &self.hashes)
            .ok_or(RekorError::MalformedProof)?;
        if root != self.root_hash {
            return Err(RekorError::ProofMismatch);
        }
        let (size, cp_root) =
            verify_checkpoint(&self.checkpoint, log).map_err(RekorError::BadCheckpoint)?;
        if size != self.tree_size || cp_root != self.root_hash {
            return Err(RekorError::CheckpointOtherTree);
        }
        Ok(())
    }
}

/// A signed note (`origin\nsize\nroot\n...\n\n— name sig\n`), signed by
/// `log`. Returns its tree size and root hash.
fn verify_checkpoint(note: &str, log: &LogKey) -> Result<(u64, Vec<u8>), CheckpointFault> {
    let split = note.find("\n\n").ok_or(CheckpointFault::NoSignature)?;
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    let mut lines = text.lines();
    let _origin = lines.next().ok_or(CheckpointFault::Empty)?;
    let size: u64 = lines
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or(CheckpointFault::NoTreeSize)?;
    let root = lines
        .next()
        .and_then(|l| b64_decode(l).ok())
        .ok_or(CheckpointFault::NoRootHash)?;
    let hint = log.log_id.get(..4).unwrap_or_default();
    for line in sigs.lines() {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            continue;
        };
        let Some((_name, sig)) = rest.rsplit_once(' ') else {
            continue;
        };
        let Ok(sig) = b64_decode(sig) else { continue };
        let split = sig.split_at_checked(4).filter(|(_, s)| !s.is_empty());
        if split.is_some_and(|(h, s)| h == hint && log.key.verify(text.as_bytes(), s)) {
            return Ok((size, root));
        }
    }
    Err(CheckpointFault::NotSignedByLog)
}

/// A log entry is about `c`: same signature, same content, same signer.
/// Without this, any logged entry could vouch for any signature.
pub(super) fn bound(
    e: &TlogEntry,
    c: &Candidate,
    key_spki: &[u8],
    cert: Option<&[u8]>,
) -> Result<(), RekorError> {
    let v: Value = serde_json::from_slice(&e.body).map_err(|_| RekorError::BodyNotJson)?;
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let spec = v.get("spec").ok_or(RekorError::NoSpec)?;
    let signer_matches = |pem_b64: Option<&str>| -> bool {
        let Some(pem) = pem_b64.and_then(|s| b64_decode(s).ok()) else {
            return false;
        };
        let Ok(pem) = String::from_utf8(pem) else {
            return false;
        };
        match cert {
            Some(der) => rustls_pemfile::certs(&mut pem.as_bytes())
                .next()
                .and_then(Result::ok)
                .is_some_and(|c| c.as_ref() == der),
            None => {
                PublicKey::from_pem(&pem).is_ok_and(|k| k.spki() == key_spki)
                    || rustls_pemfile::certs(&mut pem.as_bytes())
                        .next()
                        .and_then(Result::ok)
                        .and_then(|c| SigningCert::parse(c.as_ref()).ok())
                        .is_some_and(|c| c.key.spki() == key_spki)
            }
        }
    };
    let sig_is =
        |s: Option<&str>| s.and_then(|s| b64_decode(s).ok()).as_deref() == Some(&c.signature[..]);
    let hash_is = |h: Option<&Value>, data: &[u8]| {
        let want = format!("{:x}", Sha256::digest(data));
        h.and_then(|h| {
            (h.get("algorithm").and_then(Value::as_str) == Some("sha256"))
                .then(|| h.get("value").and_then(Value::as_str))
                .flatten()
        }) == Some(want.as_str())
    };
    match (kind, &c.content) {
        ("hashedrekord", content @ (Content::Simple(_) | Content::Digest(_))) => {
            let hashed = match content {
                Content::Simple(p) => hash_is(spec.pointer("/data/hash"), p),
                Content::Digest(d) => {
                    spec.pointer("/data/hash/algorithm").and_then(Value::as_str) == Some("sha256")
                        && spec.pointer("/data/hash/value").and_then(Value::as_str)
                            == Some(hex(d).as_str())
                }
                Content::Dsse { .. } => false,
            };
            if !hashed {
                return Err(RekorError::OtherContent);
            }
            if !sig_is(spec.pointer("/signature/content").and_then(Value::as_str)) {
                return Err(RekorError::OtherSignature);
            }
            if !signer_matches(
                spec.pointer("/signature/publicKey/content")
                    .and_then(Value::as_str),
            ) {
                return Err(RekorError::OtherSigner);
            }
            Ok(())
        }
        ("dsse", Content::Dsse { payload, .. }) => {
            if !hash_is(spec.get("payloadHash"), payload) {
                return Err(RekorError::OtherContent);
            }
            let sigs = spec.get("signatures").and_then(Value::as_array);
            let ok = sigs.is_some_and(|s| {
                s.iter().any(|s| {
                    sig_is(s.get("signature").and_then(Value::as_str))
                        && signer_matches(s.get("verifier").and_then(Value::as_str))
                })
            });
            if !ok {
                return Err(RekorError::OtherSignatureOrSigner);
            }
            Ok(())
        }
        _ => Err(RekorError::KindMismatch(kind.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(b: &[u8]) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(b);
        h.finalize().to_vec()
    }

    #[test]
    fn audit_paths_of_rfc9162() {
        // A tree of 3 leaves: root = H(H(l0, l1), l2).
        let l: Vec<_> = [b"a", b"b", b"c"].iter().map(|x| leaf(*x)).collect();
        let n01 = node(&l[0], &l[1]);
        let root = node(&n01, &l[2]);
        assert_eq!(
            root_from_path(0, 3, l[0].clone(), &[l[1].clone(), l[2].clone()]),
            Some(root.clone())
        );
        assert_eq!(
            root_from_path(2, 3, l[2].clone(), std::slice::from_ref(&n01)),
            Some(root.clone())
        );
        // Wrong sibling, wrong index, index beyond the tree, extra hashes.
        assert_ne!(
            root_from_path(0, 3, l[0].clone(), &[l[2].clone(), l[1].clone()]),
            Some(root.clone())
        );
        assert_ne!(
            root_from_path(1, 3, l[0].clone(), &[l[1].clone(), l[2].clone()]),
            Some(root.clone())
        );
        assert_eq!(root_from_path(3, 3, l[0].clone(), &[]), None);
        assert_eq!(
            root_from_path(2, 3, l[2].clone(), &[n01.clone(), n01]),
            None
        );
        assert_eq!(root_from_path(0, 1, l[0].clone(), &[]), Some(l[0].clone()));
    }
}
