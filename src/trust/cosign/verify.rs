//! Whether a candidate signature vouches for an image digest, and for whom:
//! the payload must name the exact digest, the signature must verify with a
//! trusted key or with a certificate that chains to the trusted root and
//! names a trusted identity, and the transparency log must have it when the
//! policy (or keyless signing) asks.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::cert::{glob, SigningCert};
use super::keys::PublicKey;
use super::rekor::TlogEntry;
use super::root::TrustedRoot;
use super::signature::{Candidate, Content, INTOTO, SIGN_PREDICATE};

/// A keyless signer: the OIDC issuer and subject (`*` globs) its
/// certificate must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
}

/// Whether key-based signatures must be in the transparency log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tlog {
    /// Offline sites sign without Rekor (`cosign sign --tlog-upload=false`).
    #[default]
    Ignore,
    Required,
}

/// The trusted signers of a rule.
#[derive(Debug, Clone)]
pub struct CosignPolicy {
    /// Public keys, with names (file names) for messages.
    pub keys: Vec<(String, PublicKey)>,
    pub identities: Vec<Identity>,
    /// Distinct keys or identities that must have signed.
    pub threshold: usize,
    /// Needed for keyless signatures and for `Tlog::Required`.
    pub root: Option<Arc<TrustedRoot>>,
    pub tlog: Tlog,
}

/// What one signature proved: who signed and which authorities of the
/// policy that satisfies. The signer of a key-based signature is its key
/// (SubjectPublicKeyInfo); of a keyless one, the certificate's issuer and
/// subjects: keyless signing makes a fresh key each time, so by key one
/// workflow signing twice would count as two signers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub signer: Vec<u8>,
    pub authorities: BTreeSet<Authority>,
}

/// The authorities satisfied by distinct signers: one signer (one key, one
/// keyless identity) counts for at most one authority, however many
/// signatures it made or identities its certificate matches. A maximum
/// bipartite matching of signers to authorities.
pub fn distinct_authorities(found: &[Verified]) -> BTreeSet<Authority> {
    let mut by_signer: Vec<(&[u8], BTreeSet<Authority>)> = Vec::new();
    for v in found {
        match by_signer
            .iter_mut()
            .find(|(s, _)| *s == v.signer.as_slice())
        {
            Some((_, a)) => a.extend(v.authorities.iter().copied()),
            None => by_signer.push((&v.signer, v.authorities.clone())),
        }
    }
    let edges: Vec<Vec<Authority>> = by_signer
        .into_iter()
        .map(|(_, a)| a.into_iter().collect())
        .collect();
    // owner[authority] = signer index it is matched to.
    let mut owner: std::collections::BTreeMap<Authority, usize> = Default::default();
    fn augment(
        i: usize,
        edges: &[Vec<Authority>],
        seen: &mut BTreeSet<Authority>,
        owner: &mut std::collections::BTreeMap<Authority, usize>,
    ) -> bool {
        for &a in &edges[i] {
            if !seen.insert(a) {
                continue;
            }
            let free = match owner.get(&a) {
                None => true,
                Some(&j) => augment(j, edges, seen, owner),
            };
            if free {
                owner.insert(a, i);
                return true;
            }
        }
        false
    }
    for i in 0..edges.len() {
        augment(i, &edges, &mut BTreeSet::new(), &mut owner);
    }
    owner.into_keys().collect()
}

/// An authority of the policy: key `i` or identity `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Authority {
    Key(usize),
    Identity(usize),
}

impl CosignPolicy {
    pub fn describe(&self, a: Authority) -> String {
        match a {
            Authority::Key(i) => format!("key {}", self.keys[i].0),
            Authority::Identity(i) => format!(
                "identity {} from {}",
                self.identities[i].subject, self.identities[i].issuer
            ),
        }
    }

    /// The authorities that `c` shows signed `digest`, or why none.
    pub fn check(&self, c: &Candidate, digest: &str) -> Result<Verified, String> {
        names_digest(&c.content, digest)?;
        let msg = c.content.signed_bytes();
        let verify = |k: &PublicKey| match &c.content {
            Content::Digest(d) => k.verify_prehashed_sha256(d, &c.signature),
            _ => k.verify(&msg, &c.signature),
        };
        let mut found = BTreeSet::new();
        let mut signer = None;
        let mut why = Vec::new();
        for (i, (name, key)) in self.keys.iter().enumerate() {
            if !verify(key) {
                continue;
            }
            let logged = match self.tlog {
                Tlog::Ignore => Ok(None),
                Tlog::Required => self.logged(c, &key.spki(), None),
            };
            match logged {
                Ok(_) => {
                    found.insert(Authority::Key(i));
                    signer = Some(key.spki());
                }
                Err(e) => why.push(format!("signed with key {name}, but {e}")),
            }
        }
        if let (Some(der), false) = (&c.cert, self.identities.is_empty()) {
            match self.keyless(c, der, &verify) {
                Ok((ids, who)) => {
                    found.extend(ids);
                    signer.get_or_insert(who);
                }
                Err(e) => why.push(e),
            }
        }
        if found.is_empty() {
            if why.is_empty() {
                why.push(if c.cert.is_some() && !self.identities.is_empty() {
                    "its certificate names none of the trusted identities".into()
                } else {
                    "it does not verify with any trusted key".into()
                });
            }
            return Err(why.join("; "));
        }
        Ok(Verified {
            signer: signer.unwrap_or_default(),
            authorities: found,
        })
    }

    fn keyless(
        &self,
        c: &Candidate,
        der: &[u8],
        verify: &dyn Fn(&PublicKey) -> bool,
    ) -> Result<(Vec<Authority>, Vec<u8>), String> {
        // Returns the identities matched and the signer (see `Verified`).
        let root = self
            .root
            .as_ref()
            .ok_or("keyless signatures need a trusted root (trusted_root)")?;
        let cert = SigningCert::parse(der)?;
        if !verify(&cert.key) {
            return Err("its signature does not verify with its certificate".into());
        }
        // The short-lived certificate was valid when the log saw the
        // signature: the log's signed time is the only trusted clock.
        let t = self.logged(c, &cert.key.spki(), Some(der))?.ok_or(
            "its Rekor entry has no signed time (SET), so the certificate cannot be dated",
        )?;
        if !cert.valid_at(t) {
            return Err("its certificate was not valid when the signature was logged".into());
        }
        let issuer_spki = cert
            .verify_chain(root, t)
            .map_err(|e| format!("its certificate is not trusted: {e}"))?;
        if root.ctlogs.is_empty() {
            return Err("the trusted root names no CT log to check the certificate's SCT".into());
        }
        cert.verify_sct(root, &issuer_spki)
            .map_err(|e| format!("its certificate's SCT: {e}"))?;
        let issuer = cert.issuer.as_deref().unwrap_or("");
        let ids: Vec<Authority> = self
            .identities
            .iter()
            .enumerate()
            .filter(|(_, id)| {
                id.issuer == issuer && cert.subjects.iter().any(|s| glob(&id.subject, s))
            })
            .map(|(i, _)| Authority::Identity(i))
            .collect();
        if ids.is_empty() {
            return Err(format!(
                "its certificate is for {} from issuer {:?}, not a trusted identity",
                cert.subjects.join(", "),
                issuer
            ));
        }
        let mut who = format!("keyless\0{issuer}").into_bytes();
        for s in &cert.subjects {
            who.push(0);
            who.extend_from_slice(s.as_bytes());
        }
        Ok((ids, who))
    }

    /// A Rekor entry of `c` that verifies and is about this very signature,
    /// content and signer. Returns the log's signed time, if it has one.
    fn logged(
        &self,
        c: &Candidate,
        key_spki: &[u8],
        cert: Option<&[u8]>,
    ) -> Result<Option<i64>, String> {
        let root = self.root.as_ref().ok_or(
            "the transparency log cannot be checked without a trusted root (trusted_root)",
        )?;
        if c.tlog.is_empty() {
            return Err("it is not in the transparency log".into());
        }
        let mut why = String::new();
        let mut best: Option<Option<i64>> = None;
        for e in &c.tlog {
            if let Err(w) = bound(e, c, key_spki, cert) {
                why = w;
                continue;
            }
            match e.verify(root) {
                Ok(l) => {
                    if l.signed_time.is_some() {
                        return Ok(l.signed_time);
                    }
                    best = Some(None);
                }
                Err(w) => why = w,
            }
        }
        best.ok_or(why)
    }
}

/// The payload names `digest` (`sha256:<hex>`) as the signed image.
fn names_digest(content: &Content, digest: &str) -> Result<(), String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or("only sha256 digests can be checked")?;
    match content {
        Content::Simple(payload) => {
            let v: Value = serde_json::from_slice(payload)
                .map_err(|_| "its payload is not JSON".to_string())?;
            let critical = v
                .get("critical")
                .ok_or("its payload has no critical section")?;
            if critical.get("type").and_then(Value::as_str)
                != Some("cosign container image signature")
            {
                return Err("its payload is not a cosign container image signature".into());
            }
            let named = critical
                .get("image")
                .and_then(|i| i.get("docker-manifest-digest"))
                .and_then(Value::as_str)
                .ok_or("its payload names no image digest")?;
            if named != digest {
                return Err(format!("its payload is for {named}, not {digest}"));
            }
            Ok(())
        }
        Content::Dsse {
            payload_type,
            payload,
        } => {
            if payload_type != INTOTO {
                return Err(format!(
                    "its DSSE payload type is {payload_type:?}, not in-toto"
                ));
            }
            let v: Value = serde_json::from_slice(payload)
                .map_err(|_| "its in-toto statement is not JSON".to_string())?;
            let t = v.get("_type").and_then(Value::as_str).unwrap_or("");
            if t != "https://in-toto.io/Statement/v1" && t != "https://in-toto.io/Statement/v0.1" {
                return Err(format!("its statement type {t:?} is not in-toto"));
            }
            // Attestations share the format; only cosign's signing predicate
            // means "this image is signed".
            let p = v.get("predicateType").and_then(Value::as_str).unwrap_or("");
            if p != SIGN_PREDICATE {
                return Err(format!("it is an attestation ({p}), not a signature"));
            }
            let subjects = v.get("subject").and_then(Value::as_array);
            let names = subjects.is_some_and(|s| {
                s.iter().any(|s| {
                    s.get("digest")
                        .and_then(|d| d.get("sha256"))
                        .and_then(Value::as_str)
                        == Some(hex)
                })
            });
            if !names {
                return Err(format!("its statement's subject is not {digest}"));
            }
            Ok(())
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
                return Err(format!("its message digest is not {digest}"));
            }
            Ok(())
        }
    }
}

/// A log entry is about `c`: same signature, same content, same signer.
/// Without this, any logged entry could vouch for any signature.
fn bound(e: &TlogEntry, c: &Candidate, key_spki: &[u8], cert: Option<&[u8]>) -> Result<(), String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let v: Value =
        serde_json::from_slice(&e.body).map_err(|_| "its Rekor entry body is not JSON")?;
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let spec = v.get("spec").ok_or("its Rekor entry has no spec")?;
    let signer_matches = |pem_b64: Option<&str>| -> bool {
        let Some(pem) = pem_b64.and_then(|s| b64.decode(s).ok()) else {
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
        |s: Option<&str>| s.and_then(|s| b64.decode(s).ok()).as_deref() == Some(&c.signature[..]);
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
                            == Some(
                                d.iter()
                                    .map(|x| format!("{x:02x}"))
                                    .collect::<String>()
                                    .as_str(),
                            )
                }
                Content::Dsse { .. } => false,
            };
            if !hashed {
                return Err("its Rekor entry is for other content".into());
            }
            if !sig_is(spec.pointer("/signature/content").and_then(Value::as_str)) {
                return Err("its Rekor entry is for another signature".into());
            }
            if !signer_matches(
                spec.pointer("/signature/publicKey/content")
                    .and_then(Value::as_str),
            ) {
                return Err("its Rekor entry is for another signer".into());
            }
            Ok(())
        }
        ("dsse", Content::Dsse { payload, .. }) => {
            if !hash_is(spec.get("payloadHash"), payload) {
                return Err("its Rekor entry is for other content".into());
            }
            let sigs = spec.get("signatures").and_then(Value::as_array);
            let ok = sigs.is_some_and(|s| {
                s.iter().any(|s| {
                    sig_is(s.get("signature").and_then(Value::as_str))
                        && signer_matches(s.get("verifier").and_then(Value::as_str))
                })
            });
            if !ok {
                return Err("its Rekor entry is for another signature or signer".into());
            }
            Ok(())
        }
        _ => Err(format!(
            "its Rekor entry is of a kind ({kind:?}) that does not match the signature"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_signers_are_matched_to_authorities() {
        use Authority::{Identity as I, Key as K};
        let v = |s: u8, a: &[Authority]| Verified {
            signer: vec![s],
            authorities: a.iter().copied().collect(),
        };
        // S1 could be A or B, S2 only A: both count, by giving S1 B.
        assert_eq!(
            distinct_authorities(&[v(1, &[I(0), I(1)]), v(2, &[I(0)])]).len(),
            2
        );
        // One signer, many signatures and authorities: one.
        assert_eq!(
            distinct_authorities(&[v(1, &[I(0), I(1)]), v(1, &[K(0)])]).len(),
            1
        );
        // Three signers over two authorities: two.
        assert_eq!(
            distinct_authorities(&[v(1, &[K(0)]), v(2, &[K(0)]), v(3, &[K(1)])]).len(),
            2
        );
        assert!(distinct_authorities(&[]).is_empty());
    }

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
        assert!(e.is_err_and(|e| e.contains("attestation")));
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
