//! Image references parsed and normalised as Docker does
//! (`github.com/distribution/reference`: `ParseNormalizedNamed`).
//!
//! `busybox` → `docker.io/library/busybox`, `index.docker.io/x/y` →
//! `docker.io/x/y`; the first path component is a registry only if it holds a
//! `.` or `:`, is `localhost`, or has an upper-case letter. Anything the
//! grammar rejects is an error: dockerd would reject it too, and we refuse to
//! guess what it means.
//!
//! Parsing keeps the registry as written, as dockerd does; [`Reference::spelling`]
//! tells whether that is the registry's one canonical spelling (policy refuses
//! the others, so that a repository has one identity).

use std::fmt;

pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const NAME_TOTAL_LENGTH_MAX: usize = 255;
pub const DEFAULT_TAG: &str = "latest";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("invalid reference format: {0:?}")]
    Format(String),
    #[error("invalid reference format: repository name must be lowercase: {0:?}")]
    Uppercase(String),
    #[error("repository name is longer than 255 characters: {0:?}")]
    TooLong(String),
    #[error("invalid repository name {0:?}: a 64-character hex string is an image ID, not a name")]
    Identifier(String),
    #[error("invalid digest {0:?}")]
    Digest(String),
    #[error("invalid tag {0:?}")]
    Tag(String),
}

/// A normalised, fully-qualified image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host and optional port, e.g. `docker.io`, `127.0.0.1:5000`.
    pub domain: String,
    /// Repository path inside the registry, e.g. `library/busybox`.
    pub path: String,
    pub tag: Option<String>,
    /// `algorithm:hex`, e.g. `sha256:…`.
    pub digest: Option<String>,
}

impl Reference {
    /// `reference.ParseNormalizedNamed`.
    pub fn parse_normalized(s: &str) -> Result<Reference, RefError> {
        if is_identifier(s) {
            return Err(RefError::Identifier(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder.split(':').next().unwrap_or(&remainder);
        if remote.to_lowercase() != remote {
            return Err(RefError::Uppercase(s.to_string()));
        }
        let full = format!("{domain}/{remainder}");
        let r = parse(&full).map_err(|e| match e {
            RefError::Format(_) => RefError::Format(s.to_string()),
            e => e,
        })?;
        Ok(r)
    }

    /// `domain/path`: the repository without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The same repository with `tag` (keeping any digest, like `reference.WithTag`).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, RefError> {
        if !is_tag(tag) {
            return Err(RefError::Tag(tag.to_string()));
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// The bare repository with `digest` (`reference.WithDigest(TrimNamed(r))`).
    pub fn trimmed_with_digest(&self, digest: &str) -> Result<Reference, RefError> {
        validate_digest(digest)?;
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest.to_string()),
        })
    }

    /// The repository alone: no tag, no digest.
    pub fn repository(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// `reference.TagNameOnly`: add `:latest` when neither tag nor digest is set.
    pub fn tag_name_only(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// How a reference spells its registry, against the one spelling that
/// identifies the repository (see [`canonical_domain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spelling {
    /// The canonical spelling.
    Canonical,
    /// Another spelling of the registry `canonical`.
    Alias { canonical: String },
    /// A host that stands for an address no reference can spell
    /// canonically (`[::ffff:7f00:1]`, `127.1`): refused outright.
    Ambiguous { why: &'static str },
}

impl Reference {
    /// Whether this reference spells its registry canonically. dockerd
    /// keeps the spelling it was given (its image store, RepoDigests, and the
    /// GUN Docker Content Trust signs under), yet reaches the same registry
    /// through every alias: identity (rules, trust state, GUN, pins, caches)
    /// is only ever taken from the canonical spelling, and other spellings
    /// are refused.
    pub fn spelling(&self) -> Spelling {
        // Checked on every pull: most registries are spelled canonically,
        // which is decided without allocating or parsing an address.
        if plainly_canonical(&self.domain) {
            return Spelling::Canonical;
        }
        match canonical_domain(&self.domain) {
            Ok(c) if c == self.domain => Spelling::Canonical,
            Ok(canonical) => Spelling::Alias { canonical },
            Err(why) => Spelling::Ambiguous { why },
        }
    }
}

/// Hosts that serve Docker Hub's registry, which dockerd knows as `docker.io`
/// (it rewrites only `index.docker.io` itself).
const HUB_ALIASES: [&str; 3] = [
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// The one spelling of a registry `host[:port]` (already valid reference
/// grammar), so that every name dockerd reaches the same registry by has one
/// identity:
/// - the host in lower case (DNS and HTTP ignore its case; dockerd does not);
/// - the port without leading zeros (Go dials `:05000` as `:5000`), and
///   without `:443`, where dockerd's HTTPS goes anyway (unless the host
///   alone would not read as a registry);
/// - no registry that only its upper case makes one (`LOCALDOMAIN/x`; in
///   lower case that is a Docker Hub repository);
/// - Docker Hub's registry hosts as `docker.io`;
/// - IPv6 addresses in RFC 5952 form (`[fc00::1]`, not `[FC00:0::1]`);
/// - a host made of numbers only must be a dotted-quad IPv4 address: the C
///   resolver reads `127.1`, `2130706433` or `0x7f.0.0.1` as 127.0.0.1.
///
/// `:80` stays distinct (dockerd tries HTTPS on the port first), and so do
/// `localhost`, `127.0.0.1` and `[::1]`: different names to DNS, which an
/// allowlist should not list side by side.
pub fn canonical_domain(domain: &str) -> Result<String, &'static str> {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("an unterminated IPv6 address")?;
        let addr: std::net::Ipv6Addr = v6.parse().map_err(|_| "not an IPv6 address")?;
        let shown = addr.to_string();
        if shown.contains('.') {
            return Err("an IPv6 address that embeds an IPv4 one; name the IPv4 address");
        }
        (format!("[{shown}]"), after.strip_prefix(':'))
    } else {
        let (h, p) = match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        };
        let h = h.to_ascii_lowercase();
        let numeric = h.split('.').all(|c| {
            c.bytes().all(|b| b.is_ascii_digit())
                || c.strip_prefix("0x")
                    .is_some_and(|x| x.bytes().all(|b| b.is_ascii_hexdigit()))
        });
        if numeric {
            match h.parse::<std::net::Ipv4Addr>() {
                Ok(a) if a.to_string() == h => {}
                _ => return Err("a numeric host that is not a dotted-quad IPv4 address"),
            }
        }
        (h, p)
    };
    // Without a port, only a host with a dot (or `localhost`, or IPv6) is
    // read as a registry; `myreg:443/x` without its port would be the
    // Docker Hub repository `myreg/x`.
    let alone = host.contains('.') || host == "localhost" || host.starts_with('[');
    let port = match port {
        None if alone => None,
        // `LOCALDOMAIN/x`: a registry only by its upper case (dockerd 28;
        // 20.10 refuses it); in lower case a Docker Hub repository.
        None => return Err("a registry only because of its upper-case letters"),
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err("a port outside 1-65535"),
            Ok(443) if alone => None,
            Ok(n) => Some(n),
        },
    };
    let host = if port.is_none() && HUB_ALIASES.contains(&host.as_str()) {
        DEFAULT_DOMAIN.to_string()
    } else {
        host
    };
    Ok(match port {
        Some(n) => format!("{host}:{n}"),
        None => host,
    })
}

/// Whether `canonical_domain(domain)` is certainly `Ok(domain)`, decided
/// without allocating: false only means "ask `canonical_domain`" (upper case,
/// IPv6, a port with leading zeros, Docker Hub aliases, ...). Kept equal to
/// it by the unit test `plainly_canonical_agrees_with_canonical_domain`.
fn plainly_canonical(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return false;
    }
    // The same test as `canonical_domain`'s: a host of numbers only must
    // be a dotted quad, here without leading zeros and each part <= 255
    // (what `Ipv4Addr` prints).
    let numeric = host.split('.').all(|c| {
        c.bytes().all(|b| b.is_ascii_digit())
            || c.strip_prefix("0x")
                .is_some_and(|x| x.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    if numeric {
        let mut parts = 0;
        for c in host.split('.') {
            parts += 1;
            let decimal = !c.is_empty()
                && c.len() <= 3
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'));
            if !decimal || c.parse::<u16>().map_or(true, |n| n > 255) {
                return false;
            }
        }
        if parts != 4 {
            return false;
        }
    }
    let alone = host.contains('.') || host == "localhost";
    match port {
        None => alone && !HUB_ALIASES.contains(&host),
        Some(p) => {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && !p.starts_with('0')
                && p.parse::<u16>().is_ok_and(|n| !(n == 443 && alone))
        }
    }
}

/// `^[a-f0-9]{64}$`: an image ID, never a name.
pub fn is_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// `reference.Parse` on an already-qualified string: `name[:tag][@digest]`
/// where name = `domain/path`.
fn parse(s: &str) -> Result<Reference, RefError> {
    let bad = || RefError::Format(s.to_string());
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    // The tag is after the last ':' that follows the last '/', so that a
    // registry port is not mistaken for a tag.
    let last_slash = rest.rfind('/').ok_or_else(bad)?;
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    let (domain, path) = name.split_once('/').ok_or_else(bad)?;
    if !is_domain(domain) {
        return Err(bad());
    }
    if !path.split('/').all(is_path_component) {
        if path.to_lowercase() != path && path.to_lowercase().split('/').all(is_path_component) {
            return Err(RefError::Uppercase(s.to_string()));
        }
        return Err(bad());
    }
    if name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(RefError::TooLong(s.to_string()));
    }
    if let Some(t) = tag {
        if !is_tag(t) {
            return Err(bad());
        }
    }
    if let Some(d) = digest {
        if !digest_syntax(d) {
            return Err(bad());
        }
        validate_digest(d)?;
    }
    Ok(Reference {
        domain: domain.to_string(),
        path: path.to_string(),
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

/// `domain := host [':' port]`, host a DNS name, IPv4 address or `[IPv6]`.
fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, after)) => {
                if v6.is_empty() || !v6.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
                    return false;
                }
                match after {
                    "" => return true,
                    a => match a.strip_prefix(':') {
                        Some(p) => ("", Some(p)),
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    if host.is_empty() {
        return d.starts_with('[');
    }
    host.split('.').all(|c| {
        let b = c.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric)
            && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
    })
}

/// `path-component := [a-z0-9]+ (separator [a-z0-9]+)*`,
/// `separator := [_.] | __ | [-]+`.
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !b.first().is_some_and(|&x| alnum(x)) || !b.last().is_some_and(|&x| alnum(x)) {
        return false;
    }
    let mut i = 0;
    while let Some(&x) = b.get(i) {
        if alnum(x) {
            i += 1;
            continue;
        }
        let start = i;
        while b.get(i).is_some_and(|&x| !alnum(x)) {
            i += 1;
        }
        let sep = c.get(start..i).unwrap_or_default();
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `tag := [\w][\w.-]{0,127}`.
pub fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    match b.split_first() {
        Some((&first, rest)) => {
            b.len() <= 128 && word(first) && rest.iter().all(|&x| word(x) || x == b'.' || x == b'-')
        }
        None => false,
    }
}

/// The reference grammar's digest: `alg(sep alg)* ':' hex{32,}`.
fn digest_syntax(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let comp_ok = |c: &str| {
        let b = c.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphabetic)
            && b.iter().all(|x| x.is_ascii_alphanumeric())
    };
    alg.split(['-', '_', '+', '.']).all(comp_ok)
        && hex.len() >= 32
        && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// `go-digest` `Validate`: a known algorithm with lower-case hex of its size.
pub fn validate_digest(d: &str) -> Result<(), RefError> {
    let bad = || RefError::Digest(d.to_string());
    let (alg, hex) = d.split_once(':').ok_or_else(bad)?;
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(bad()),
    };
    if hex.len() == len && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
#[path = "reference_tests.rs"]
mod tests;
