//! Query strings parsed as Go's `url.ParseQuery` and read as `url.Values.Get`.
//!
//! dockerd reads every parameter with `r.Form.Get(key)`: the *first* value
//! wins, `+` is a space, values are percent-decoded exactly once. A `;` makes
//! Go fail the whole parse (dockerd answers 400), and so does a bad escape.
//! We refuse both, so a query the daemon might read differently never passes.

/// Why a query is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("the query contains ';', which dockerd rejects (invalid semicolon separator)")]
    Semicolon,
    #[error("invalid percent-escape in query: {0:?}")]
    BadEscape(String),
    #[error("query value is not valid UTF-8 after decoding: {0:?}")]
    NotUtf8(String),
    #[error(
        "the query has more than {MAX_PAIRS} parameters; newer Go versions then ignore all of them"
    )]
    TooMany,
}

/// Go 1.24+ (GODEBUG urlmaxqueryparams) drops a query with more pairs than
/// this altogether, so the daemon would see none of what we check.
const MAX_PAIRS: usize = 10_000;

/// Parsed query: pairs in their original order, duplicates kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parse a raw query (the part after `?`, still encoded).
    pub fn parse(raw: &str) -> Result<Query, QueryError> {
        let mut pairs = Vec::new();
        for part in raw.split('&') {
            // Go checks for ';' before skipping empty parts and before the
            // key/value split, and rejects the whole query.
            if part.contains(';') {
                return Err(QueryError::Semicolon);
            }
            if part.is_empty() {
                continue;
            }
            if pairs.len() == MAX_PAIRS {
                return Err(QueryError::TooMany);
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((unescape(k)?, unescape(v)?));
        }
        Ok(Query { pairs })
    }

    /// `url.Values.Get`: the first value, or "" when absent.
    pub fn get(&self, key: &str) -> &str {
        self.first(key).unwrap_or("")
    }

    /// The first value, or `None` when the key is absent (Go's `Has`).
    pub fn first(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `httputils.BoolValue`: anything but "", "0", "no", "false", "none"
    /// (case-insensitive, trimmed) is true.
    pub fn bool_value(&self, key: &str) -> bool {
        let v = self.get(key).trim().to_lowercase();
        !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Go's `QueryUnescape`: `+` is a space, `%XX` needs two hex digits.
fn unescape(s: &str) -> Result<String, QueryError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(QueryError::BadEscape(s.to_string())),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| QueryError::NotUtf8(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins_and_decodes_once() {
        let q = Query::parse("fromImage=a&fromImage=b&tag=x+y&e=%2Fz&k").unwrap();
        assert_eq!(q.get("fromImage"), "a");
        assert_eq!(q.all("fromImage").collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(q.get("tag"), "x y");
        assert_eq!(q.get("e"), "/z");
        assert_eq!(q.first("k"), Some(""));
        assert_eq!(q.first("missing"), None);
        // Decoded exactly once: %2526 is "%26", never "&".
        let q = Query::parse("x=%2526fromImage%253Devil&fromImage=ok").unwrap();
        assert_eq!(q.get("fromImage"), "ok");
        assert_eq!(q.get("x"), "%26fromImage%3Devil");
        // An encoded '&' does not split.
        let q = Query::parse("x=%26fromImage%3Devil&fromImage=ok").unwrap();
        assert_eq!(q.get("fromImage"), "ok");
    }

    #[test]
    fn refuses_what_go_rejects() {
        assert_eq!(Query::parse("a=1;b=2"), Err(QueryError::Semicolon));
        assert_eq!(Query::parse("a=1&;"), Err(QueryError::Semicolon));
        assert_eq!(Query::parse("a=%3B"), Ok(Query::parse("a=%3b").unwrap()));
        assert!(matches!(
            Query::parse("a=%zz"),
            Err(QueryError::BadEscape(_))
        ));
        assert!(matches!(
            Query::parse("a=%4"),
            Err(QueryError::BadEscape(_))
        ));
        assert!(matches!(Query::parse("a=%ff"), Err(QueryError::NotUtf8(_))));
        assert!(Query::parse("").unwrap().is_empty());
        assert!(Query::parse("&&").unwrap().is_empty());
    }

    #[test]
    fn bool_value_like_moby() {
        let q = Query::parse("a=1&b=0&c=FALSE&d=%20no%20&e=none&f=yes&g=").unwrap();
        assert!(q.bool_value("a"));
        assert!(!q.bool_value("b"));
        assert!(!q.bool_value("c"));
        assert!(!q.bool_value("d"));
        assert!(!q.bool_value("e"));
        assert!(q.bool_value("f"));
        assert!(!q.bool_value("g"));
        assert!(!q.bool_value("missing"));
    }
}
