//! Repository patterns and user patterns, and the order of precedence.
//!
//! A repository pattern is `*` (every repository), a repository
//! (`registry.example.com/team/app`), or a prefix ending in `/*`
//! (`registry.example.com/team/*`, `registry.example.com/*`). Patterns are
//! fully qualified: Docker Hub images are `docker.io/library/busybox`.
//!
//! For a repository, the most specific matching rule wins: an exact
//! repository beats any prefix, a longer prefix beats a shorter one, and
//! `*` comes last. Among equally specific rules, the first in the file
//! wins. No matching rule: the image is denied.
//!
//! Patterns are loaded in canonical form (registry host in lower case, no
//! `:443`, ...: `reference::canonical_domain`) and compare exactly; images
//! whose registry is spelled otherwise match no rule at all.

use crate::request::reference::{canonical_domain, RefError, Reference};

/// Why a repository pattern is invalid (the policy file's error quotes it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("'*' may only be the whole pattern or follow the last '/'")]
    Star,
    #[error("patterns start with a registry host (docker.io/library/... for Docker Hub)")]
    NoRegistry,
    #[error("{0:?} is not a registry host[:port]")]
    NotAHost(String),
    #[error("a pattern names a repository, without tag or digest")]
    TagOrDigest,
    #[error(transparent)]
    Reference(#[from] RefError),
    #[error("registry {domain:?} is {why}")]
    Registry { domain: String, why: &'static str },
}

/// The pattern in canonical form, or why it is invalid.
pub fn check_pattern(p: &str) -> Result<String, PatternError> {
    if p == "*" {
        return Ok(p.to_string());
    }
    let (stem, prefix) = match p.strip_suffix("/*") {
        Some(s) => (s, true),
        None => (p, false),
    };
    if stem.contains('*') {
        return Err(PatternError::Star);
    }
    let first = stem.split('/').next().unwrap_or_default();
    let is_domain = first.contains(['.', ':']) || first.eq_ignore_ascii_case("localhost");
    if !is_domain {
        return Err(PatternError::NoRegistry);
    }
    if prefix && !stem.contains('/') {
        // `host/*`: the host alone must be a valid registry.
        let probe = format!("{stem}/x");
        return match Reference::parse_normalized(&probe) {
            Ok(r) if r.domain == stem => Ok(format!("{}/*", canonical(stem)?)),
            _ => Err(PatternError::NotAHost(stem.to_string())),
        };
    }
    if prefix {
        // A prefix is a namespace, not a repository: `docker.io/library` as
        // an image would be normalised to `docker.io/library/library`.
        let probe = format!("{stem}/x");
        return match Reference::parse_normalized(&probe) {
            Ok(r) if r.tag.is_none() && r.digest.is_none() && r.name() == probe => {
                let path = r.path.strip_suffix("/x").unwrap_or(&r.path);
                Ok(format!("{}/{path}/*", canonical(&r.domain)?))
            }
            Ok(_) => Err(PatternError::TagOrDigest),
            Err(e) => Err(e.into()),
        };
    }
    match Reference::parse_normalized(stem) {
        Ok(r) if r.tag.is_none() && r.digest.is_none() && r.name() == stem => {
            Ok(format!("{}/{}", canonical(&r.domain)?, r.path))
        }
        Ok(_) => Err(PatternError::TagOrDigest),
        Err(e) => Err(e.into()),
    }
}

fn canonical(domain: &str) -> Result<String, PatternError> {
    canonical_domain(domain).map_err(|why| PatternError::Registry {
        domain: domain.to_string(),
        why,
    })
}

/// How specific a canonical pattern is ([`RepoPattern::specificity`]).
#[cfg(test)]
pub fn specificity(p: &str) -> (u8, usize) {
    RepoPattern::from_canonical(p).specificity()
}

/// A rule's repository pattern, parsed once: `*`, a namespace (`stem/*`,
/// matching only below a `/`), or one repository. This is the grammar of
/// rules; the environment's root pins and signers keep a raw-prefix grammar
/// of their own ([`crate::trust::pattern::PrefixPattern`]), with the same
/// precedence ([`crate::trust::pattern::most_specific`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoPattern {
    Any,
    /// Every repository under `stem/`.
    Under(String),
    Exact(String),
}

impl RepoPattern {
    /// A pattern as written: checked and put in canonical form.
    pub fn parse(p: &str) -> Result<RepoPattern, PatternError> {
        check_pattern(p).map(|c| RepoPattern::from_canonical(&c))
    }

    /// A pattern already in canonical form (as [`check_pattern`] returns,
    /// or `host/*` of an authorized registry).
    pub fn from_canonical(p: &str) -> RepoPattern {
        if p == "*" {
            return RepoPattern::Any;
        }
        match p.strip_suffix("/*") {
            Some(stem) => RepoPattern::Under(stem.to_string()),
            None => RepoPattern::Exact(p.to_string()),
        }
    }

    /// Whether `repo` (a canonical `domain/path` name) matches. Exact:
    /// case-insensitive hosts made `REG.io` a second identity of `reg.io`
    /// (another GUN, trust state, first-use root).
    pub fn matches(&self, repo: &str) -> bool {
        match self {
            RepoPattern::Any => true,
            RepoPattern::Under(stem) => {
                repo.len() > stem.len() + 1
                    && repo.as_bytes().get(stem.len()) == Some(&b'/')
                    && repo.starts_with(stem.as_str())
            }
            RepoPattern::Exact(name) => name == repo,
        }
    }

    /// How specific the pattern is, for precedence (higher wins): an exact
    /// repository beats any namespace, a longer namespace a shorter one,
    /// and `*` comes last. Ties: the first rule wins
    /// ([`crate::trust::pattern::most_specific`]).
    pub fn specificity(&self) -> (u8, usize) {
        match self {
            RepoPattern::Any => (0, 0),
            RepoPattern::Under(stem) => (1, stem.len() + 2),
            RepoPattern::Exact(name) => (2, name.len()),
        }
    }

    /// The registry host the pattern is limited to; `None` for `*`.
    pub fn registry(&self) -> Option<&str> {
        match self {
            RepoPattern::Any => None,
            RepoPattern::Under(p) | RepoPattern::Exact(p) => p.split('/').next(),
        }
    }
}

impl std::fmt::Display for RepoPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepoPattern::Any => f.write_str("*"),
            RepoPattern::Under(stem) => write!(f, "{stem}/*"),
            RepoPattern::Exact(name) => f.write_str(name),
        }
    }
}

/// Whether `repo` matches the canonical pattern `p` ([`RepoPattern::matches`]).
#[cfg(test)]
pub fn pattern_matches(p: &str, repo: &str) -> bool {
    RepoPattern::from_canonical(p).matches(repo)
}

/// Whether `user` matches one of `patterns` (`*`, `prefix*`, `*suffix`,
/// or exact). No patterns: everyone.
pub fn user_matches(patterns: &[String], user: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| {
            if p == "*" {
                true
            } else if let Some(prefix) = p.strip_suffix('*') {
                user.starts_with(prefix)
            } else if let Some(suffix) = p.strip_prefix('*') {
                user.ends_with(suffix)
            } else {
                p == user
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        for ok in [
            "*",
            "reg.io/*",
            "reg.io:5000/*",
            "localhost/*",
            "reg.io/team/*",
            "reg.io/team/app",
            "docker.io/library/busybox",
            "docker.io/library/*",
            "docker.io/acme/*",
            "127.0.0.1:5000/a/b",
        ] {
            assert_eq!(check_pattern(ok).as_deref(), Ok(ok), "{ok}");
        }
        // Other spellings of a registry load as its canonical one.
        for (alias, canonical) in [
            ("REG.io/*", "reg.io/*"),
            ("LOCALHOST:27000/acc/*", "localhost:27000/acc/*"),
            ("Reg.IO:443/team/app", "reg.io/team/app"),
            ("reg.io:05000/*", "reg.io:5000/*"),
            ("registry-1.docker.io/library/*", "docker.io/library/*"),
            ("[FC00:0::1]:5000/a", "[fc00::1]:5000/a"),
        ] {
            assert_eq!(check_pattern(alias).as_deref(), Ok(canonical), "{alias}");
        }
        for bad in [
            "busybox",
            "team/*",
            "reg.io/*/x",
            "*x",
            "reg.io/Team/*",
            "reg.io/app:v1",
            "reg.io/a@sha256:0",
            "re g.io/*",
            "",
            "127.1:5000/*",
            "2130706433:5000/a",
            "reg.io:0/*",
            "reg.io:70000/a",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_and_precedence() {
        assert!(pattern_matches("reg.io/*", "reg.io/a/b"));
        // Exact: a name in another spelling is another identity, never
        // matched (and refused before matching).
        assert!(!pattern_matches("reg.io/*", "REG.io/a"));
        assert!(!pattern_matches(
            "localhost:27000/*",
            "LOCALHOST:27000/acc/lapp"
        ));
        assert!(!pattern_matches("reg.io/team/app", "Reg.io/team/app"));
        assert!(!pattern_matches("reg.io/*", "reg.iox/a"));
        assert!(!pattern_matches("reg.io/team/*", "reg.io/team"));
        assert!(pattern_matches("reg.io/team/*", "reg.io/team/x"));
        assert!(!pattern_matches("reg.io/team/*", "reg.io/teams/x"));
        assert!(pattern_matches("reg.io/team/app", "reg.io/team/app"));
        assert!(!pattern_matches("reg.io/team/app", "reg.io/team/app2"));
        assert!(pattern_matches("*", "anything/at/all"));
        let mut ps = ["*", "reg.io/*", "reg.io/team/app", "reg.io/team/*"];
        ps.sort_by_key(|p| std::cmp::Reverse(specificity(p)));
        assert_eq!(ps, ["reg.io/team/app", "reg.io/team/*", "reg.io/*", "*"]);
    }

    #[test]
    fn users() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(user_matches(&[], "anyone"));
        assert!(user_matches(&p(&["ci-*"]), "ci-bot"));
        assert!(!user_matches(&p(&["ci-*"]), "alice"));
        assert!(user_matches(&p(&["*@example.com"]), "a@example.com"));
        assert!(user_matches(&p(&["alice", "bob"]), "bob"));
        assert!(!user_matches(&p(&["alice"]), ""));
    }
}
