//! The request target as dockerd's Go HTTP server and gorilla/mux see it.
//!
//! `RequestUri` is the raw request target: origin form (`/v1.41/x?y`) or
//! absolute form (`http://host/v1.41/x?y`), still percent-encoded. Go's
//! `url.ParseRequestURI` decodes the path exactly once (so `%2F` becomes `/`
//! and `/containers/%63reate` is `create`), mux matches on that decoded path,
//! and a path that `path.Clean` would change gets a redirect, not a handler.

use super::query::{Query, QueryError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("the request URI is empty")]
    Empty,
    #[error("the request URI contains a control character")]
    ControlChar,
    #[error("the request URI is not a path or an absolute URL: {0:?}")]
    NotAPath(String),
    #[error("invalid percent-escape in path {0:?}")]
    BadEscape(String),
    #[error("the decoded path is not valid UTF-8")]
    NotUtf8,
    #[error("the path {0:?} is not clean; dockerd redirects it instead of serving it")]
    NotClean(String),
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// A decoded request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Percent-decoded path, including any `/vX.Y` prefix.
    pub path: String,
    /// Parsed query.
    pub query: Query,
    /// The raw query text, for logs.
    pub raw_query: String,
}

/// Parse a raw `RequestUri` as `url.ParseRequestURI` would, then apply the
/// mux clean-path rule.
pub fn parse_target(raw: &str) -> Result<Target, UriError> {
    if raw.is_empty() {
        return Err(UriError::Empty);
    }
    // Go rejects any byte < 0x20 and 0x7f anywhere in the target.
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(UriError::ControlChar);
    }
    let rest = if raw.starts_with('/') {
        raw
    } else {
        strip_scheme_and_authority(raw)?
    };
    // ParseRequestURI does not treat '#' specially: it stays in path or query.
    let (raw_path, raw_query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    let path = unescape_path(raw_path)?;
    if !is_clean(&path) {
        return Err(UriError::NotClean(path));
    }
    let query = Query::parse(raw_query)?;
    Ok(Target {
        path,
        query,
        raw_query: raw_query.to_string(),
    })
}

/// `scheme://authority/path` → `/path`; `scheme:/path` → `/path`.
fn strip_scheme_and_authority(raw: &str) -> Result<&str, UriError> {
    let not_path = || UriError::NotAPath(raw.to_string());
    let colon = raw.find(':').ok_or_else(not_path)?;
    let scheme = &raw[..colon];
    let valid_scheme = scheme.bytes().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || (i > 0 && (c.is_ascii_digit() || b"+-.".contains(&c)))
    });
    if scheme.is_empty() || !valid_scheme {
        return Err(not_path());
    }
    let rest = &raw[colon + 1..];
    if let Some(after) = rest.strip_prefix("//") {
        // The authority ends at the first '/'; a query straight after the
        // host means an empty path, which mux never routes.
        let end = after.find('/').ok_or_else(not_path)?;
        if after[..end].contains('?') {
            return Err(not_path());
        }
        Ok(&after[end..])
    } else if rest.starts_with('/') {
        Ok(rest)
    } else {
        Err(not_path())
    }
}

/// Go's `unescape(s, encodePath)`: `%XX` must be two hex digits; `+` stays.
fn unescape_path(s: &str) -> Result<String, UriError> {
    if !s.contains('%') {
        // Nothing to decode (nearly every call): one copy.
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            match (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(UriError::BadEscape(s.to_string())),
            }
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UriError::NotUtf8)
}

/// `clean_path(p) == p`, without building the clean path: every call
/// asks. A path is its own clean form when it is rooted and has no empty
/// (but a trailing), `.` or `..` segment: cleaning removes exactly those.
pub fn is_clean(p: &str) -> bool {
    let Some(rest) = p.strip_prefix('/') else {
        return false;
    };
    let n = rest.split('/').count();
    rest.split('/')
        .enumerate()
        .all(|(i, seg)| !matches!(seg, "." | "..") && (!seg.is_empty() || i + 1 == n))
}

/// gorilla/mux `cleanPath`: Go's `path.Clean`, keeping a trailing slash.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return "/".to_string();
    }
    let p = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut np = format!("/{}", parts.join("/"));
    if p.ends_with('/') && np != "/" {
        np.push('/');
    }
    np
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_and_absolute_forms() {
        let t = parse_target("/v1.41/containers/%63reate?name=x").unwrap();
        assert_eq!(t.path, "/v1.41/containers/create");
        assert_eq!(t.query.get("name"), "x");
        let t = parse_target("http://evil/v1.41/containers/json?all=1").unwrap();
        assert_eq!(t.path, "/v1.41/containers/json");
        let t = parse_target("unix:/v1.41/info").unwrap();
        assert_eq!(t.path, "/v1.41/info");
        // '#' is not a fragment for a request target.
        let t = parse_target("/v1.41/images/a#b/json").unwrap();
        assert_eq!(t.path, "/v1.41/images/a#b/json");
        // %2F is a slash once decoded; '+' stays '+' in a path.
        assert_eq!(
            parse_target("/images/a%2Fb+c/json").unwrap().path,
            "/images/a/b+c/json"
        );
    }

    #[test]
    fn refuses_what_never_reaches_a_handler() {
        assert!(matches!(parse_target(""), Err(UriError::Empty)));
        assert!(matches!(parse_target("/a\nb"), Err(UriError::ControlChar)));
        assert!(matches!(parse_target("/a%zz"), Err(UriError::BadEscape(_))));
        assert!(matches!(
            parse_target("/v1.41//containers/json"),
            Err(UriError::NotClean(_))
        ));
        assert!(matches!(
            parse_target("/v1.41/containers/./json"),
            Err(UriError::NotClean(_))
        ));
        assert!(matches!(
            parse_target("/v1.41/x/%2e%2e/containers/create"),
            Err(UriError::NotClean(_))
        ));
        assert!(matches!(
            parse_target("//evil/v1.41/info"),
            Err(UriError::NotClean(_))
        ));
        assert!(matches!(parse_target("*"), Err(UriError::NotAPath(_))));
        assert!(matches!(
            parse_target("http://host?x=1"),
            Err(UriError::NotAPath(_))
        ));
        assert!(matches!(parse_target("/x?a;b"), Err(UriError::Query(_))));
    }

    #[test]
    fn clean_path_matches_mux() {
        assert_eq!(clean_path("/a/b/"), "/a/b/");
        assert_eq!(clean_path("/a/../b"), "/b");
        assert_eq!(clean_path(""), "/");
        assert_eq!(clean_path("/.."), "/");
    }

    #[test]
    fn is_clean_agrees_with_clean_path() {
        // Every string of up to 7 characters over the bytes that matter.
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..7 {
            last = last
                .iter()
                .flat_map(|s| ["/", ".", "a"].map(|c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        for p in &all {
            assert_eq!(is_clean(p), clean_path(p) == *p, "{p:?}");
        }
    }
}
