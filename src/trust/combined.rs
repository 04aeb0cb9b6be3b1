//! Several verifiers as one: a rule may require Notary and cosign both, or
//! accept either.

use std::sync::Arc;

use async_trait::async_trait;

use super::{NotSigned, Several, Signed, TrustError, Verifier};
use crate::request::reference::Reference;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Require {
    /// Every verifier must vouch for the same digest.
    #[default]
    All,
    /// One verifier is enough.
    Any,
}

pub struct Combined {
    /// Verifiers that sign tags come first: they decide which digest a tag
    /// means, and the others must sign that digest.
    verifiers: Vec<Arc<dyn Verifier>>,
    require: Require,
}

impl Combined {
    pub fn new(mut verifiers: Vec<Arc<dyn Verifier>>, require: Require) -> Combined {
        verifiers.sort_by_key(|v| !v.binds_tags());
        Combined { verifiers, require }
    }
}

fn joined(signed: Vec<Signed>, digest: String) -> Signed {
    let signer = signed
        .into_iter()
        .map(|s| s.signer)
        .collect::<Vec<_>>()
        .join(" and ");
    Signed::new(digest, signer)
}

#[async_trait]
impl Verifier for Combined {
    fn name(&self) -> &'static str {
        match self.require {
            Require::All => "all-of",
            Require::Any => "any-of",
        }
    }

    fn server(&self) -> String {
        self.verifiers
            .iter()
            .map(|v| v.server())
            .collect::<Vec<_>>()
            .join(" and ")
    }

    fn binds_tags(&self) -> bool {
        match self.require {
            Require::All => self.verifiers.iter().any(|v| v.binds_tags()),
            Require::Any => self.verifiers.iter().all(|v| v.binds_tags()),
        }
    }

    /// Only when every one of them asks the registry: a digest Notary
    /// signed for the tag may not be the one served.
    fn judges_served_digest(&self) -> bool {
        self.verifiers.iter().all(|v| v.judges_served_digest())
    }

    fn unsigned_hint(&self, image: &str) -> String {
        let hints: Vec<String> = self
            .verifiers
            .iter()
            .map(|v| v.unsigned_hint(image))
            .collect();
        match self.require {
            Require::All => format!("the rule needs every signature: {}", hints.join("; and ")),
            Require::Any => format!("the rule needs one signature: {}", hints.join("; or ")),
        }
    }

    fn unavailable_hint(&self) -> String {
        self.verifiers
            .iter()
            .map(|v| v.unavailable_hint())
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn invalid_hint(&self) -> String {
        let mut hints: Vec<String> = self.verifiers.iter().map(|v| v.invalid_hint()).collect();
        hints.dedup();
        hints.join("; ")
    }

    fn cache_figures(&self) -> Vec<crate::trust::cache::CacheStats> {
        self.verifiers
            .iter()
            .flat_map(|v| v.cache_figures())
            .collect()
    }

    async fn signed_digest(&self, repo: &Reference, tag: &str) -> Result<Signed, TrustError> {
        match self.require {
            Require::All => {
                let Some((first, rest)) = self.verifiers.split_first() else {
                    return Err(NotSigned::NoVerifier.into());
                };
                let s = first
                    .signed_digest(repo, tag)
                    .await
                    .map_err(|e| Several::merge(vec![(first.name(), e)]))?;
                let mut all = vec![s.clone()];
                for v in rest {
                    let r = if v.binds_tags() {
                        v.signed_digest(repo, tag).await.and_then(|o| {
                            if o.digest == s.digest {
                                Ok(o)
                            } else {
                                Err(NotSigned::Disagree {
                                    image: format!("{}:{tag}", repo.name()),
                                    first: first.name(),
                                    first_digest: s.digest.clone(),
                                    other: v.name(),
                                    other_digest: o.digest,
                                }
                                .into())
                            }
                        })
                    } else {
                        v.digest_signed(repo, &s.digest).await
                    };
                    all.push(r.map_err(|e| Several::merge(vec![(v.name(), e)]))?);
                }
                Ok(joined(all, s.digest))
            }
            Require::Any => {
                let mut errors = Vec::new();
                for v in &self.verifiers {
                    match v.signed_digest(repo, tag).await {
                        Ok(s) => return Ok(s),
                        Err(e) => errors.push((v.name(), e)),
                    }
                }
                Err(Several::merge(errors))
            }
        }
    }

    async fn digest_signed(&self, repo: &Reference, digest: &str) -> Result<Signed, TrustError> {
        let mut ok = Vec::new();
        let mut errors = Vec::new();
        for v in &self.verifiers {
            match v.digest_signed(repo, digest).await {
                Ok(s) if self.require == Require::Any => return Ok(s),
                Ok(s) => ok.push(s),
                Err(e) if self.require == Require::All => {
                    return Err(Several::merge(vec![(v.name(), e)]))
                }
                Err(e) => errors.push((v.name(), e)),
            }
        }
        if self.require == Require::Any || ok.is_empty() {
            return Err(Several::merge(errors));
        }
        Ok(joined(ok, digest.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::error::fixtures::{down, unsigned};

    /// A verifier with fixed answers: tags it signs, digests it signs.
    struct Fixed {
        name: &'static str,
        tags: bool,
        tag_digest: Option<&'static str>,
        digests: Vec<&'static str>,
        down: bool,
    }

    #[async_trait]
    impl Verifier for Fixed {
        fn name(&self) -> &'static str {
            self.name
        }
        fn server(&self) -> String {
            self.name.into()
        }
        fn binds_tags(&self) -> bool {
            self.tags
        }
        fn judges_served_digest(&self) -> bool {
            !self.tags
        }
        async fn signed_digest(&self, repo: &Reference, _tag: &str) -> Result<Signed, TrustError> {
            if self.down {
                return Err(down());
            }
            match self.tag_digest {
                Some(d) => self.digest_signed(repo, d).await,
                None => Err(unsigned("no tag")),
            }
        }
        async fn digest_signed(&self, _repo: &Reference, d: &str) -> Result<Signed, TrustError> {
            if self.down {
                return Err(down());
            }
            if self.digests.contains(&d) {
                Ok(Signed::new(d.into(), self.name.into()))
            } else {
                Err(unsigned(d))
            }
        }
    }

    fn notary(tag: Option<&'static str>, digests: &[&'static str]) -> Arc<dyn Verifier> {
        Arc::new(Fixed {
            name: "notary",
            tags: true,
            tag_digest: tag,
            digests: digests.to_vec(),
            down: false,
        })
    }

    /// Like cosign: the tag means what the registry serves (`served`).
    fn cosign(served: &'static str, digests: &[&'static str]) -> Arc<dyn Verifier> {
        Arc::new(Fixed {
            name: "cosign",
            tags: false,
            tag_digest: Some(served),
            digests: digests.to_vec(),
            down: false,
        })
    }

    fn repo() -> Reference {
        Reference::parse_normalized("r.io/app").unwrap()
    }

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// A pull skips its own look-up of the tag only when every verifier of
    /// the rule judged the registry's digest: with Notary in it, the digest
    /// may be the one Notary signed, not the one served.
    #[test]
    fn a_rule_judges_the_served_digest_only_without_notary() {
        for require in [Require::All, Require::Any] {
            let mixed = Combined::new(
                vec![cosign("B", &["B"]), notary(Some("A"), &["A"])],
                require,
            );
            assert!(!mixed.judges_served_digest());
            let registry_only =
                Combined::new(vec![cosign("B", &["B"]), cosign("B", &["B"])], require);
            assert!(registry_only.judges_served_digest());
        }
    }

    #[test]
    fn all_needs_every_verifier_on_the_same_digest() {
        // Cosign is listed first but the tag-signing verifier decides the digest.
        let c = Combined::new(
            vec![cosign("B", &["A", "B"]), notary(Some("A"), &["A"])],
            Require::All,
        );
        let s = block(c.signed_digest(&repo(), "v1")).unwrap();
        assert_eq!(s.digest, "A");
        assert_eq!(s.signer, "notary and cosign");
        assert!(c.binds_tags());
        // The tag's Notary digest is not cosign-signed.
        let c = Combined::new(
            vec![notary(Some("A"), &["A"]), cosign("A", &["B"])],
            Require::All,
        );
        assert!(
            matches!(block(c.signed_digest(&repo(), "v1")), Err(TrustError::NotSigned(m)) if m.to_string().contains("cosign"))
        );
        assert!(block(c.digest_signed(&repo(), "A")).is_err());
        // Two tag-signing verifiers must agree.
        let c = Combined::new(
            vec![
                notary(Some("A"), &["A", "B"]),
                notary(Some("B"), &["A", "B"]),
            ],
            Require::All,
        );
        assert!(block(c.signed_digest(&repo(), "v1")).is_err());
        assert!(block(c.digest_signed(&repo(), "B")).is_ok());
    }

    #[test]
    fn any_needs_one_and_explains_all() {
        let c = Combined::new(vec![notary(None, &[]), cosign("B", &["B"])], Require::Any);
        assert_eq!(block(c.signed_digest(&repo(), "v1")).unwrap().digest, "B");
        assert_eq!(
            block(c.digest_signed(&repo(), "B")).unwrap().signer,
            "cosign"
        );
        assert!(!c.binds_tags());
        let c = Combined::new(vec![notary(None, &[]), cosign("B", &[])], Require::Any);
        let e = block(c.digest_signed(&repo(), "B")).unwrap_err();
        assert!(
            matches!(&e, TrustError::NotSigned(NotSigned::Several(m)) if m.to_string().contains("notary:") && m.to_string().contains("cosign:")),
            "{e}"
        );
        // An unreachable server makes the whole answer "unavailable".
        let down: Arc<dyn Verifier> = Arc::new(Fixed {
            name: "notary",
            tags: true,
            tag_digest: None,
            digests: vec![],
            down: true,
        });
        let c = Combined::new(vec![down, cosign("B", &[])], Require::Any);
        assert!(matches!(
            block(c.signed_digest(&repo(), "v1")),
            Err(TrustError::Unavailable(_))
        ));
    }
}
