//! The switchable operations: ways to bring in or run an image other than a
//! verified pull, each denied unless switched on (`IMG_AUTHZ_ALLOW`, a
//! policy file's `allow = [...]`). One list: names, parser and messages
//! all come from [`Op::ALL`]. A leaf module, so that the environment's
//! configuration and the policy file share it.

use std::fmt;
use std::str::FromStr;

/// Operations that bypass verification, switchable globally or per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// `docker import` (`images/create?fromSrc=`).
    Import,
    /// `docker load`.
    Load,
    /// `docker build`: `/build`, and BuildKit's `/session` and `/grpc`.
    Build,
    /// `docker commit`.
    Commit,
    /// Plugin install, create, upgrade, configuration; driver plugins.
    Plugins,
    /// Naming a local image into a repository under a trust rule.
    Tag,
    /// Joining a swarm, whose managers then schedule tasks here unchecked.
    Swarm,
    /// `docker cp` into a container (under hardening only).
    Cp,
    /// `docker push` to a registry no rule authorizes.
    Push,
}

impl Op {
    /// Every operation, in the order messages list them.
    pub const ALL: [Op; 9] = [
        Op::Import,
        Op::Load,
        Op::Build,
        Op::Commit,
        Op::Plugins,
        Op::Tag,
        Op::Swarm,
        Op::Cp,
        Op::Push,
    ];

    /// The name settings and messages use.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Import => "import",
            Op::Load => "load",
            Op::Build => "build",
            Op::Commit => "commit",
            Op::Plugins => "plugins",
            Op::Tag => "tag",
            Op::Swarm => "swarm",
            Op::Cp => "cp",
            Op::Push => "push",
        }
    }

    /// An operation by its exact name (the policy file's spelling).
    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// `import, load, ...`: the known names, for error messages.
    pub fn known() -> String {
        Op::ALL.map(Op::as_str).join(", ")
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation {0:?} (known: {known})", known = Op::known())]
pub struct UnknownOp(pub String);

impl FromStr for Op {
    type Err = UnknownOp;

    fn from_str(s: &str) -> Result<Op, UnknownOp> {
        Op::parse(s).ok_or_else(|| UnknownOp(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_listed() {
        for op in Op::ALL {
            assert_eq!(op.as_str().parse::<Op>(), Ok(op));
        }
        assert_eq!(
            Op::known(),
            "import, load, build, commit, plugins, tag, swarm, cp, push"
        );
        assert!("Load".parse::<Op>().is_err());
    }
}
