//! Whether a candidate signature vouches for an image digest, and for whom:
//! the payload must name the exact digest, the signature must verify with a
//! trusted key or with a certificate that chains to the trusted root and
//! names a trusted identity, and the transparency log must have it when the
//! policy (or keyless signing) asks.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::trust::encoding::{b64_decode, hex};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::cert::{glob, GithubClaims, SigningCert};
use super::keys::PublicKey;
use super::rekor::TlogEntry;
use super::root::TrustedRoot;
use super::signature::{Candidate, Content, INTOTO, SIGN_PREDICATE};
use crate::request::json as gojson;
use crate::request::reference::Reference;

/// How an identity's issuer or subject is matched.
#[derive(Debug, Clone)]
pub enum Pattern {
    Exact(String),
    /// `*` matches a run of characters other than `/` and `@` (see [`glob`]).
    Glob(String),
    /// A regular expression that must match the whole value.
    Regex(regex::Regex),
}

impl PartialEq for Pattern {
    fn eq(&self, o: &Pattern) -> bool {
        match (self, o) {
            (Pattern::Exact(a), Pattern::Exact(b)) | (Pattern::Glob(a), Pattern::Glob(b)) => a == b,
            (Pattern::Regex(a), Pattern::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}
impl Eq for Pattern {}

impl Pattern {
    /// `re`, anchored at both ends. Unlike cosign's `--certificate-identity-regexp`
    /// (Go's unanchored `MatchString`), `acme` does not match `evil-acme`.
    pub fn regex(re: &str) -> Result<Pattern, String> {
        let build = |re: &str| {
            regex::RegexBuilder::new(re)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("invalid regular expression {re:?}: {e}"))
        };
        // Compiled alone first: a well-formed expression cannot close the
        // anchoring group early (`a)|(b` would make `^(?:a)|(b)$`).
        build(re)?;
        Ok(Pattern::Regex(build(&format!("^(?:{re})$"))?))
    }

    pub fn matches(&self, s: &str) -> bool {
        match self {
            Pattern::Exact(p) => p == s,
            Pattern::Glob(p) => glob(p, s),
            Pattern::Regex(r) => r.is_match(s),
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::Exact(p) | Pattern::Glob(p) => f.write_str(p),
            Pattern::Regex(r) => {
                let s = r.as_str();
                let inner = s.strip_prefix("^(?:").and_then(|s| s.strip_suffix(")$"));
                write!(f, "/{}/", inner.unwrap_or(s))
            }
        }
    }
}

/// A keyless signer: the OIDC issuer and subject its certificate must name,
/// and the GitHub workflow claims it must carry (none: any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: Pattern,
    pub subject: Pattern,
    pub github: GithubClaims,
}

impl Identity {
    /// An exact issuer and a subject glob, no GitHub constraints.
    pub fn new(issuer: &str, subject: &str) -> Identity {
        Identity {
            issuer: Pattern::Exact(issuer.to_string()),
            subject: Pattern::Glob(subject.to_string()),
            github: GithubClaims::default(),
        }
    }

    fn allows(&self, cert: &SigningCert) -> bool {
        cert.issuer
            .as_deref()
            .is_some_and(|i| self.issuer.matches(i))
            && cert.subjects.iter().any(|s| self.subject.matches(s))
            && self.github.allow(&cert.github)
    }

    pub fn describe(&self) -> String {
        let mut d = format!("identity {} from {}", self.subject, self.issuer);
        if !self.github.is_empty() {
            d.push_str(&format!(" (GitHub {})", self.github.describe()));
        }
        d
    }
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
    /// The payload's `docker-reference` (an in-toto subject's `name`) must
    /// be the image's repository. cosign itself ignores it.
    pub match_reference: bool,
}

/// What one signature proved: who signed and which authorities of the
/// policy that satisfies. The signer of a key-based signature is its key
/// (SubjectPublicKeyInfo); of a keyless one, the certificate's issuer and
/// subjects: keyless signing makes a fresh key each time, so by key one
/// workflow signing twice would count as two signers.
/// Why a candidate signature does not count. The verifier reports only
/// `Untrusted` ones as "not signed": `Invalid` ones mean the trust data
/// failed verification, which re-signing (not signing) fixes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Made by no trusted key or identity: as good as absent.
    #[error("{0}")]
    Untrusted(String),
    /// Its evidence fails: a trusted key's signature the log does not
    /// hold, a certificate that does not verify or chain, a payload naming
    /// another image.
    #[error("{0}")]
    Invalid(String),
}

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
        for &a in edges.get(i).into_iter().flatten() {
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
            Authority::Key(i) => match self.keys.get(i) {
                Some((name, _)) => format!("key {name}"),
                None => format!("key #{i}"),
            },
            Authority::Identity(i) => match self.identities.get(i) {
                Some(id) => id.describe(),
                None => format!("identity #{i}"),
            },
        }
    }

    /// The authorities that `c` shows signed `digest`, or why none.
    pub fn check(&self, c: &Candidate, digest: &str) -> Result<Verified, String> {
        self.check_for(c, None, digest)
    }

    /// [`check`](Self::check) for `repo@digest`: `match_reference` needs
    /// the repository.
    pub fn check_for(
        &self,
        c: &Candidate,
        repo: Option<&Reference>,
        digest: &str,
    ) -> Result<Verified, String> {
        self.verify_candidate(c, repo, digest)
            .map_err(|r| r.to_string())
    }

    /// [`check_for`](Self::check_for), saying whether the candidate is
    /// merely by nobody trusted or fails verification.
    pub fn verify_candidate(
        &self,
        c: &Candidate,
        repo: Option<&Reference>,
        digest: &str,
    ) -> Result<Verified, Rejection> {
        let claimed = names_digest(&c.content, digest).map_err(Rejection::Invalid)?;
        if self.match_reference {
            same_repository(&claimed, repo).map_err(Rejection::Invalid)?;
        }
        let msg = c.content.signed_bytes();
        let verify = |k: &PublicKey| match &c.content {
            Content::Digest(d) => k.verify_prehashed_sha256(d, &c.signature),
            _ => k.verify(&msg, &c.signature),
        };
        let mut found = BTreeSet::new();
        let mut signer = None;
        let mut why = Vec::new();
        let mut invalid = false;
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
                Err(e) => {
                    invalid = true;
                    why.push(format!("signed with key {name}, but {e}"));
                }
            }
        }
        if let (Some(der), false) = (&c.cert, self.identities.is_empty()) {
            match self.keyless(c, der, &verify) {
                Ok((ids, who)) => {
                    found.extend(ids);
                    signer.get_or_insert(who);
                }
                Err(Rejection::Invalid(e)) => {
                    invalid = true;
                    why.push(e);
                }
                Err(Rejection::Untrusted(e)) => why.push(e),
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
            let why = why.join("; ");
            return Err(if invalid {
                Rejection::Invalid(why)
            } else {
                Rejection::Untrusted(why)
            });
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
    ) -> Result<(Vec<Authority>, Vec<u8>), Rejection> {
        // Returns the identities matched and the signer (see `Verified`).
        // Every failure before the identity check is evidence that fails.
        let invalid = |e: &str| Rejection::Invalid(e.to_string());
        let root = self
            .root
            .as_ref()
            .ok_or_else(|| invalid("keyless signatures need a trusted root (trusted_root)"))?;
        let cert = SigningCert::parse(der).map_err(Rejection::Invalid)?;
        if !verify(&cert.key) {
            return Err(invalid(
                "its signature does not verify with its certificate",
            ));
        }
        // The short-lived certificate was valid when the log saw the
        // signature: the log's signed time is the only trusted clock.
        let t = self
            .logged(c, &cert.key.spki(), Some(der))
            .map_err(Rejection::Invalid)?
            .ok_or_else(|| {
                invalid(
                    "its Rekor entry has no signed time (SET), so the certificate cannot be dated",
                )
            })?;
        if !cert.valid_at(t) {
            return Err(invalid(
                "its certificate was not valid when the signature was logged",
            ));
        }
        let issuer_spki = cert
            .verify_chain(root, t)
            .map_err(|e| Rejection::Invalid(format!("its certificate is not trusted: {e}")))?;
        if root.ctlogs.is_empty() {
            return Err(invalid(
                "the trusted root names no CT log to check the certificate's SCT",
            ));
        }
        cert.verify_sct(root, &issuer_spki)
            .map_err(|e| Rejection::Invalid(format!("its certificate's SCT: {e}")))?;
        let issuer = cert.issuer.as_deref().unwrap_or("");
        let ids: Vec<Authority> = self
            .identities
            .iter()
            .enumerate()
            .filter(|(_, id)| id.allows(&cert))
            .map(|(i, _)| Authority::Identity(i))
            .collect();
        if ids.is_empty() {
            let gh = if cert.github.is_empty() {
                String::new()
            } else {
                format!(" (GitHub {})", cert.github.describe())
            };
            return Err(Rejection::Untrusted(format!(
                "its certificate is for {} from issuer {:?}{gh}, not a trusted identity",
                cert.subjects.join(", "),
                issuer
            )));
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
) -> Result<Option<&'a gojson::Value>, String> {
    let gojson::Value::Object(members) = obj else {
        return Err(format!("{what} is not an object"));
    };
    let folded: Vec<String> = names.iter().map(|n| gojson::go_fold(n)).collect();
    let hits: Vec<&str> = members
        .iter()
        .filter(|(k, _)| folded.contains(&gojson::go_fold(k)))
        .map(|(k, _)| k.as_str())
        .collect();
    match hits.as_slice() {
        [] => Ok(None),
        [k] if Some(k) == names.first() => Ok(members
            .iter()
            .find(|(m, _)| m == k)
            .map(|(_, v)| v)),
        _ => Err(format!(
            "its payload spells {what}.{} ambiguously ({}), so cosign may read another value than the one checked",
            names.first().copied().unwrap_or_default(),
            hits.iter()
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// A string field as Go decodes it: absent or null is "".
fn string_field(obj: &gojson::Value, what: &str, names: &[&str]) -> Result<String, String> {
    match field(obj, what, names)? {
        None | Some(gojson::Value::Null) => Ok(String::new()),
        Some(gojson::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!(
            "its payload's {what}.{} is not a string",
            names.first().unwrap_or(&"?")
        )),
    }
}

/// A struct field as Go decodes it: absent or null is an empty object.
fn object_field<'a>(
    obj: &'a gojson::Value,
    what: &str,
    names: &[&str],
) -> Result<&'a gojson::Value, String> {
    static EMPTY: gojson::Value = gojson::Value::Object(Vec::new());
    match field(obj, what, names)? {
        None | Some(gojson::Value::Null) => Ok(&EMPTY),
        Some(v @ gojson::Value::Object(_)) => Ok(v),
        Some(_) => Err(format!(
            "its payload's {what}.{} is not an object",
            names.first().unwrap_or(&"?")
        )),
    }
}

/// The payload names `digest` (`sha256:<hex>`) as the signed image. Returns
/// the repositories it claims for it (simple signing's `docker-reference`,
/// the `name` of each in-toto subject with this digest; "" where absent),
/// for `match_reference`.
fn names_digest(content: &Content, digest: &str) -> Result<Vec<String>, String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or("only sha256 digests can be checked")?;
    match content {
        Content::Simple(payload) => {
            let v = gojson::parse(payload).map_err(|e| format!("its payload is not JSON: {e}"))?;
            if !matches!(v, gojson::Value::Object(_)) {
                return Err("its payload is not a JSON object".into());
            }
            // cosign's SimpleContainerImage: {critical:{identity:{docker-reference},
            // image:{docker-manifest-digest}, type}, optional:{...}}.
            if !matches!(
                field(&v, "payload", &["optional"])?,
                None | Some(gojson::Value::Null | gojson::Value::Object(_))
            ) {
                return Err("its payload's optional section is not an object".into());
            }
            let critical = match field(&v, "payload", &["critical"])? {
                Some(c @ gojson::Value::Object(_)) => c,
                _ => return Err("its payload has no critical section".into()),
            };
            if string_field(critical, "critical", &["type"])? != "cosign container image signature"
            {
                return Err("its payload is not a cosign container image signature".into());
            }
            let identity = object_field(critical, "critical", &["identity"])?;
            let reference = string_field(identity, "critical.identity", &["docker-reference"])?;
            let image = object_field(critical, "critical", &["image"])?;
            let named = string_field(image, "critical.image", &["docker-manifest-digest"])?;
            if named.is_empty() {
                return Err("its payload names no image digest".into());
            }
            if named != digest {
                return Err(format!("its payload is for {named}, not {digest}"));
            }
            Ok(vec![reference])
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
            let v = gojson::parse(payload)
                .map_err(|e| format!("its in-toto statement is not JSON: {e}"))?;
            let t = string_field(&v, "statement", &["_type", "type"])?;
            if t != "https://in-toto.io/Statement/v1" && t != "https://in-toto.io/Statement/v0.1" {
                return Err(format!("its statement type {t:?} is not in-toto"));
            }
            // Attestations share the format; only cosign's signing predicate
            // means "this image is signed".
            let p = string_field(&v, "statement", &["predicateType", "predicate_type"])?;
            if p != SIGN_PREDICATE {
                return Err(format!("it is an attestation ({p}), not a signature"));
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
                return Err(format!("its statement's subject is not {digest}"));
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
                return Err(format!("its message digest is not {digest}"));
            }
            Ok(Vec::new())
        }
    }
}

/// `match_reference`: every repository the payload claims for the digest is
/// `repo` (canonical names: `index.docker.io/library/x`, as cosign writes
/// Docker Hub names, is `docker.io/library/x`).
fn same_repository(claimed: &[String], repo: Option<&Reference>) -> Result<(), String> {
    let repo = repo.ok_or("match_reference needs the image's repository")?;
    if claimed.is_empty() {
        return Err(
            "it is a bare message signature, which names no repository (match_reference)".into(),
        );
    }
    for c in claimed {
        if c.is_empty() {
            return Err("its payload names no repository (docker-reference), and the rule has match_reference".into());
        }
        let same = Reference::parse_normalized(c)
            .is_ok_and(|r| r.tag.is_none() && r.digest.is_none() && r.name() == repo.name());
        if !same {
            return Err(format!(
                "its payload is for repository {c:?}, not {} (match_reference)",
                repo.name()
            ));
        }
    }
    Ok(())
}

/// A log entry is about `c`: same signature, same content, same signer.
/// Without this, any logged entry could vouch for any signature.
fn bound(e: &TlogEntry, c: &Candidate, key_spki: &[u8], cert: Option<&[u8]>) -> Result<(), String> {
    let v: Value =
        serde_json::from_slice(&e.body).map_err(|_| "its Rekor entry body is not JSON")?;
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let spec = v.get("spec").ok_or("its Rekor entry has no spec")?;
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

#[cfg(test)]
mod identities {
    use super::*;

    const ISSUER: &str = "https://token.actions.githubusercontent.com";
    const SUBJECT: &str =
        "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";

    /// A certificate as Fulcio issues for a GitHub workflow: URI SAN, issuer
    /// (DER UTF8String) and the raw-string workflow claims.
    fn cert(claims: &[(u64, &str)]) -> SigningCert {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names = vec![rcgen::SanType::URI(SUBJECT.try_into().unwrap())];
        let mut issuer = vec![0x0c, u8::try_from(ISSUER.len()).unwrap()];
        issuer.extend_from_slice(ISSUER.as_bytes());
        p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 57264, 1, 8],
            issuer,
        )];
        for (n, v) in claims {
            p.custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 4, 1, 57264, 1, *n],
                    v.as_bytes().to_vec(),
                ));
        }
        let kp = rcgen::KeyPair::generate().unwrap();
        SigningCert::parse(p.self_signed(&kp).unwrap().der()).unwrap()
    }

    fn full() -> SigningCert {
        cert(&[
            (2, "push"),
            (3, "0123abcd"),
            (4, "release"),
            (5, "acme/app"),
            (6, "refs/heads/main"),
        ])
    }

    #[test]
    fn github_claims_are_read_and_constrain() {
        let c = full();
        assert_eq!(c.github.repository.as_deref(), Some("acme/app"));
        assert_eq!(c.github.git_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(c.github.trigger.as_deref(), Some("push"));
        let any = Identity::new(
            ISSUER,
            "https://github.com/acme/*/.github/workflows/*@refs/heads/*",
        );
        assert!(any.allows(&c));
        let with = |f: fn(&mut GithubClaims) -> &mut Option<String>, v: &str| {
            let mut id = any.clone();
            *f(&mut id.github) = Some(v.to_string());
            id
        };
        assert!(with(|g| &mut g.repository, "acme/app").allows(&c));
        assert!(!with(|g| &mut g.repository, "acme/other").allows(&c));
        assert!(with(|g| &mut g.git_ref, "refs/heads/main").allows(&c));
        assert!(!with(|g| &mut g.git_ref, "refs/heads/dev").allows(&c));
        assert!(with(|g| &mut g.name, "release").allows(&c));
        assert!(!with(|g| &mut g.name, "nightly").allows(&c));
        assert!(with(|g| &mut g.trigger, "push").allows(&c));
        assert!(!with(|g| &mut g.trigger, "pull_request_target").allows(&c));
        assert!(with(|g| &mut g.sha, "0123abcd").allows(&c));
        assert!(!with(|g| &mut g.sha, "0123").allows(&c));
        // A claim the certificate lacks is not met.
        let bare = cert(&[]);
        assert!(any.allows(&bare));
        assert!(!with(|g| &mut g.repository, "acme/app").allows(&bare));
        // Patterns: `*` does not cross `/` or `@`; regexps are anchored.
        assert!(!Identity::new(ISSUER, "https://github.com/acme/*").allows(&c));
        let re = |s: &str| Identity {
            subject: Pattern::regex(s).unwrap(),
            ..any.clone()
        };
        assert!(re(r"https://github\.com/acme/.*").allows(&c));
        assert!(!re(r"github\.com/acme/.*").allows(&c));
        assert!(!re(r"https://github\.com/acme/app").allows(&c));
        assert!(Pattern::regex("a)|(b").is_err());
    }

    #[test]
    fn a_repeated_claim_is_refused() {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        for v in ["acme/app", "evil/app"] {
            p.custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 4, 1, 57264, 1, 5],
                    v.as_bytes().to_vec(),
                ));
        }
        let kp = rcgen::KeyPair::generate().unwrap();
        let der = p.self_signed(&kp).unwrap().der().to_vec();
        assert!(SigningCert::parse(&der).is_err());
    }

    #[test]
    fn match_reference_compares_canonical_repositories() {
        let repo = Reference::parse_normalized("docker.io/library/alpine").unwrap();
        let r = |s: &str| same_repository(&[s.to_string()], Some(&repo));
        assert!(r("index.docker.io/library/alpine").is_ok());
        assert!(r("docker.io/library/alpine").is_ok());
        assert!(r("alpine").is_ok());
        assert!(r("index.docker.io/library/busybox").is_err());
        assert!(r("evil.io/library/alpine").is_err());
        assert!(r("alpine:3").is_err());
        assert!(r("").is_err());
        assert!(r("not a reference").is_err());
        assert!(same_repository(&[], Some(&repo)).is_err());
        assert!(same_repository(&["alpine".into()], None).is_err());
        // Every subject naming the digest must be this repository.
        let both = ["alpine".to_string(), "busybox".to_string()];
        assert!(same_repository(&both, Some(&repo)).is_err());
    }

    #[test]
    fn match_reference_is_checked_only_when_asked() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let c = Candidate {
            origin: "t".into(),
            content: Content::Simple(
                format!(r#"{{"critical":{{"identity":{{"docker-reference":"evil.io/x"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}}}}"#)
                    .into_bytes(),
            ),
            signature: Vec::new(),
            cert: None,
            tlog: Vec::new(),
        };
        let mut p = CosignPolicy {
            keys: Vec::new(),
            identities: Vec::new(),
            threshold: 1,
            root: None,
            tlog: Tlog::Ignore,
            match_reference: false,
        };
        let repo = Reference::parse_normalized("r.io/app").unwrap();
        // Off: the digest check passes, and the signature (none) fails.
        let e = p.check_for(&c, Some(&repo), &d).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        p.match_reference = true;
        let e = p.check_for(&c, Some(&repo), &d).unwrap_err();
        assert!(e.contains("match_reference"), "{e}");
    }
}
