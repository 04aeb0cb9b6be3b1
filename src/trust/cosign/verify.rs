//! Whether a candidate signature vouches for an image digest, and for whom:
//! the payload must name the exact digest, the signature must verify with a
//! trusted key or with a certificate that chains to the trusted root and
//! names a trusted identity, and the transparency log must have it when the
//! policy (or keyless signing) asks.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::cert::{glob, GithubClaims, SigningCert};
use super::keys::PublicKey;
use super::payload::{names_digest, same_repository};
pub use super::rejection::{Evidence, Rejection, Untrusted};
use super::rekor::bound;
use super::root::TrustedRoot;
use super::signature::{Candidate, Content};
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

/// An identity regular expression that does not compile (the text that
/// failed, which may be the anchored form).
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {source}")]
pub struct PatternError {
    pub pattern: String,
    pub source: regex::Error,
}

/// Why no Rekor entry vouches for a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    #[error("the transparency log cannot be checked without a trusted root (trusted_root)")]
    NoTrustedRoot,
    #[error("it is not in the transparency log")]
    NotLogged,
    /// The reason the last entry offered failed.
    #[error(transparent)]
    Rekor(#[from] super::rekor::RekorError),
}

impl Pattern {
    /// `re`, anchored at both ends. Unlike cosign's `--certificate-identity-regexp`
    /// (Go's unanchored `MatchString`), `acme` does not match `evil-acme`.
    pub fn regex(re: &str) -> Result<Pattern, PatternError> {
        let build = |re: &str| {
            regex::RegexBuilder::new(re)
                .size_limit(1 << 20)
                .build()
                .map_err(|source| PatternError {
                    pattern: re.to_string(),
                    source,
                })
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

    /// The authorities that `c` shows signed `digest`, or why none (no
    /// repository: `match_reference` then refuses).
    pub fn check(&self, c: &Candidate, digest: &str) -> Result<Verified, Rejection> {
        self.verify_candidate(c, None, digest)
    }

    /// The authorities that `c` shows signed `repo@digest`, or why none:
    /// merely by nobody trusted, or failing verification.
    pub fn verify_candidate(
        &self,
        c: &Candidate,
        repo: Option<&Reference>,
        digest: &str,
    ) -> Result<Verified, Rejection> {
        let claimed = names_digest(&c.content, digest).map_err(Evidence::from)?;
        if self.match_reference {
            same_repository(&claimed, repo).map_err(Evidence::from)?;
        }
        let msg = c.content.signed_bytes();
        let verify = |k: &PublicKey| match &c.content {
            Content::Digest(d) => k.verify_prehashed_sha256(d, &c.signature),
            _ => k.verify(&msg, &c.signature),
        };
        let mut found = BTreeSet::new();
        let mut signer = None;
        let mut evidence = Vec::new();
        let mut untrusted = None;
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
                Err(source) => evidence.push(Evidence::KeyNotLogged {
                    key: name.clone(),
                    source,
                }),
            }
        }
        if let (Some(der), false) = (&c.cert, self.identities.is_empty()) {
            match self.keyless(c, der, &verify) {
                Ok((ids, who)) => {
                    found.extend(ids);
                    signer.get_or_insert(who);
                }
                Err(Rejection::Invalid {
                    evidence: e,
                    untrusted: u,
                }) => {
                    evidence.extend(e);
                    untrusted = u;
                }
                Err(Rejection::Untrusted(u)) => untrusted = Some(u),
            }
        }
        if found.is_empty() {
            return Err(match (evidence.is_empty(), untrusted) {
                (false, untrusted) => Rejection::Invalid {
                    evidence,
                    untrusted,
                },
                (true, Some(u)) => Rejection::Untrusted(u),
                (true, None) if c.cert.is_some() && !self.identities.is_empty() => {
                    Rejection::Untrusted(Untrusted::NoTrustedIdentity)
                }
                (true, None) => Rejection::Untrusted(Untrusted::NoTrustedKey),
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
        let root = self.root.as_ref().ok_or(Evidence::NoTrustedRoot)?;
        let cert = SigningCert::parse(der).map_err(|e| Evidence::Cert(Arc::new(e)))?;
        if !verify(&cert.key) {
            return Err(Evidence::CertSignature.into());
        }
        // The short-lived certificate was valid when the log saw the
        // signature: the log's signed time is the only trusted clock.
        let t = self
            .logged(c, &cert.key.spki(), Some(der))
            .map_err(Evidence::Tlog)?
            .ok_or(Evidence::NoSignedTime)?;
        if !cert.valid_at(t) {
            return Err(Evidence::CertNotValidWhenLogged.into());
        }
        let issuer_spki = cert
            .verify_chain(root, t)
            .map_err(|e| Evidence::Chain(Arc::new(e)))?;
        if root.ctlogs.is_empty() {
            return Err(Evidence::NoCtLog.into());
        }
        cert.verify_sct(root, &issuer_spki)
            .map_err(|e| Evidence::Sct(Arc::new(e)))?;
        let issuer = cert.issuer.as_deref().unwrap_or("");
        let ids: Vec<Authority> = self
            .identities
            .iter()
            .enumerate()
            .filter(|(_, id)| id.allows(&cert))
            .map(|(i, _)| Authority::Identity(i))
            .collect();
        if ids.is_empty() {
            let github = if cert.github.is_empty() {
                String::new()
            } else {
                cert.github.describe()
            };
            return Err(Rejection::Untrusted(Untrusted::OtherIdentity {
                subjects: cert.subjects.clone(),
                issuer: issuer.to_string(),
                github,
            }));
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
    ) -> Result<Option<i64>, TlogError> {
        let root = self.root.as_ref().ok_or(TlogError::NoTrustedRoot)?;
        if c.tlog.is_empty() {
            return Err(TlogError::NotLogged);
        }
        // Every entry that neither returns nor sets `best` sets this.
        let mut why = TlogError::NotLogged;
        let mut best: Option<Option<i64>> = None;
        for e in &c.tlog {
            if let Err(w) = bound(e, c, key_spki, cert) {
                why = w.into();
                continue;
            }
            match e.verify(root) {
                Ok(l) => {
                    if l.signed_time.is_some() {
                        return Ok(l.signed_time);
                    }
                    best = Some(None);
                }
                Err(w) => why = w.into(),
            }
        }
        best.ok_or(why)
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
        let e = p.verify_candidate(&c, Some(&repo), &d).unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
        p.match_reference = true;
        let e = p.verify_candidate(&c, Some(&repo), &d).unwrap_err();
        assert!(e.to_string().contains("match_reference"), "{e}");
    }
}
