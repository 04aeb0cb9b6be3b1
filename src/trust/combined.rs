//! Several verifiers as one: a rule may require Notary and cosign both, or
//! accept either.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Signed, TrustError, Verifier};
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

/// One error for several: unreachable servers win (retrying may help), then
/// invalid trust data, then "not signed".
fn merge(errors: Vec<(&'static str, TrustError)>) -> TrustError {
    let text = errors
        .iter()
        .map(|(n, e)| format!("{n}: {e}"))
        .collect::<Vec<_>>()
        .join("; ");
    if errors
        .iter()
        .any(|(_, e)| matches!(e, TrustError::Unavailable(_)))
    {
        TrustError::Unavailable(text)
    } else if errors
        .iter()
        .any(|(_, e)| matches!(e, TrustError::Invalid(_)))
    {
        TrustError::Invalid(text)
    } else {
        TrustError::NotSigned(text)
    }
}

fn joined(signed: Vec<Signed>, digest: String) -> Signed {
    Signed {
        digest,
        signer: signed
            .into_iter()
            .map(|s| s.signer)
            .collect::<Vec<_>>()
            .join(" and "),
    }
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

    fn cache_figures(&self) -> Vec<crate::metrics::CacheFigures> {
        self.verifiers
            .iter()
            .flat_map(|v| v.cache_figures())
            .collect()
    }

    async fn signed_digest(&self, repo: &Reference, tag: &str) -> Result<Signed, TrustError> {
        match self.require {
            Require::All => {
                let Some((first, rest)) = self.verifiers.split_first() else {
                    return Err(TrustError::NotSigned("the rule names no verifier".into()));
                };
                let s = first
                    .signed_digest(repo, tag)
                    .await
                    .map_err(|e| merge(vec![(first.name(), e)]))?;
                let mut all = vec![s.clone()];
                for v in rest {
                    let r = if v.binds_tags() {
                        v.signed_digest(repo, tag).await.and_then(|o| {
                            if o.digest == s.digest {
                                Ok(o)
                            } else {
                                Err(TrustError::NotSigned(format!(
                                    "{}:{tag} is signed as {} by {} but as {} by {}",
                                    repo.name(),
                                    s.digest,
                                    first.name(),
                                    o.digest,
                                    v.name()
                                )))
                            }
                        })
                    } else {
                        v.digest_signed(repo, &s.digest).await
                    };
                    all.push(r.map_err(|e| merge(vec![(v.name(), e)]))?);
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
                Err(merge(errors))
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
                Err(e) if self.require == Require::All => return Err(merge(vec![(v.name(), e)])),
                Err(e) => errors.push((v.name(), e)),
            }
        }
        if self.require == Require::Any || ok.is_empty() {
            return Err(merge(errors));
        }
        Ok(joined(ok, digest.to_string()))
    }
}
