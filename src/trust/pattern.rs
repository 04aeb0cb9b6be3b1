//! Root-pin and signer patterns, and the one precedence rule shared with
//! the policy's repository rules.
//!
//! Pins and signers (`IMG_AUTHZ_ROOT_PINS`, `IMG_AUTHZ_SIGNERS`) keep their
//! documented raw-prefix grammar rather than the rules' `host/path/*`
//! ([`crate::policy::rules::RepoPattern`]): `*`, a repository, or a prefix
//! ending in `*` that matches any name starting with it, so
//! `reg.io/team*` covers `reg.io/team/app` *and* `reg.io/teams-x/app`.
//!
//! Precedence, for both grammars ([`most_specific`]): the most specific
//! matching pattern wins (an exact name beats any prefix, a longer prefix a
//! shorter one, `*` comes last); among equally specific ones, the first.

/// A pin or signer pattern, in canonical form (registry host as a GUN
/// spells it; `config.rs` checks and canonicalises it when loading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixPattern(String);

impl PrefixPattern {
    /// Whether the pattern covers `gun`.
    pub fn matches(&self, gun: &str) -> bool {
        let gun = lower_host(gun);
        match self.0.strip_suffix('*') {
            Some(prefix) => gun.starts_with(&lower_host(prefix)),
            None => gun == lower_host(&self.0),
        }
    }

    /// How specific the pattern is (higher wins): an exact name beats any
    /// prefix, a longer prefix a shorter one; `*` is the empty prefix.
    pub fn specificity(&self) -> (u8, usize) {
        match self.0.strip_suffix('*') {
            Some(prefix) => (1, prefix.len()),
            None => (2, self.0.len()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for PrefixPattern {
    fn from(p: String) -> Self {
        PrefixPattern(p)
    }
}

impl From<&str> for PrefixPattern {
    fn from(p: &str) -> Self {
        PrefixPattern(p.to_owned())
    }
}

impl std::fmt::Display for PrefixPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The item with the highest specificity; the first among equals (the
/// order of the file or the environment variable).
pub fn most_specific<K: Ord, T>(items: impl IntoIterator<Item = (K, T)>) -> Option<T> {
    let mut best: Option<(K, T)> = None;
    for (k, t) in items {
        if best.as_ref().is_none_or(|(b, _)| k > *b) {
            best = Some((k, t));
        }
    }
    best.map(|(_, t)| t)
}

/// The registry host of a name in lower case; paths are case-sensitive.
/// Patterns are loaded in canonical form as GUNs are, so this is a second
/// guard only: the registry allowlist does not ignore case, it refuses
/// other spellings.
fn lower_host(s: &str) -> String {
    match s.split_once('/') {
        Some((h, rest)) => format!("{}/{rest}", h.to_ascii_lowercase()),
        None => s.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::{most_specific, PrefixPattern};

    fn p(s: &str) -> PrefixPattern {
        s.into()
    }

    #[test]
    fn hosts_match_without_case_paths_with_it() {
        assert!(p("reg.io/team/*").matches("REG.IO/team/app"));
        assert!(p("REG.io/team/app").matches("reg.IO/team/app"));
        assert!(!p("reg.io/team/*").matches("reg.io/Team/app"));
        assert!(!p("reg.io/team/app").matches("reg.io/team/app2"));
        assert!(p("reg.io/team/app*").matches("reg.io/team/app2"));
        assert!(p("reg.io/team*").matches("reg.io/teams-x/app"));
        assert!(p("*").matches("anything/at/all"));
    }

    #[test]
    fn first_among_equals() {
        assert_eq!(
            most_specific([(1, "a"), (2, "b"), (2, "c"), (0, "d")]),
            Some("b")
        );
        assert_eq!(most_specific(Vec::<(u8, &str)>::new()), None);
    }
}
