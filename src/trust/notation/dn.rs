//! Distinguished names as Notation's `trustedIdentities` use them: the
//! RFC 4514 subset notation-go accepts (one attribute per RDN, no `#` hex
//! values, no repeated attribute), and the subset match of a policy DN
//! against a certificate subject (every attribute the policy names must be
//! in the subject with exactly the same value).

use std::collections::BTreeMap;

/// Attributes by upper-case type (`S` is stored as `ST`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dn(pub BTreeMap<String, String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnError {
    #[error("the distinguished name is empty")]
    Empty,
    #[error("{0:?} is not `TYPE=value`")]
    NoEquals(String),
    #[error("attribute type {0:?} is not a keyword or an OID")]
    BadType(String),
    #[error("attribute {0} appears twice")]
    Duplicate(String),
    #[error("multi-valued RDNs (`+`) are not supported")]
    MultiValued,
    #[error("hex-encoded values (`=#...`) are not supported")]
    Hex,
    #[error("invalid escape in {0:?}")]
    Escape(String),
    #[error("unescaped special character {1:?} in {0:?}")]
    Special(String, char),
}

fn attribute_type(t: &str) -> Result<String, DnError> {
    let t = t.trim_matches(' ');
    let keyword = t.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = !t.is_empty()
        && t.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !keyword && !oid {
        return Err(DnError::BadType(t.to_string()));
    }
    let up = t.to_ascii_uppercase();
    Ok(if up == "S" { "ST".into() } else { up })
}

/// One attribute value, unescaped (RFC 4514 §3: `\` + special or two hex
/// digits; unescaped leading/trailing spaces are not part of the value).
fn value(raw: &str) -> Result<String, DnError> {
    let trimmed = raw.trim_start_matches(' ');
    if trimmed.starts_with('#') {
        return Err(DnError::Hex);
    }
    let mut out: Vec<u8> = Vec::new();
    // Bytes up to here are escaped and must survive trimming.
    let mut kept = 0;
    let b = trimmed.as_bytes();
    let mut i = 0;
    while let Some(&byte) = b.get(i) {
        match byte {
            b'\\' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (b.get(i + 1), b.get(i + 2)) {
                    (Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                        let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                        out.push(u8::try_from(v).unwrap_or(0));
                        i += 3;
                    }
                    (Some(&c), _) if b" \"#+,;<=>\\".contains(&c) => {
                        out.push(c);
                        i += 2;
                    }
                    _ => return Err(DnError::Escape(raw.to_string())),
                }
                kept = out.len();
            }
            c @ (b'"' | b'<' | b'>' | b';' | b'=') => {
                return Err(DnError::Special(raw.to_string(), c as char))
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    while out.len() > kept && out.last() == Some(&b' ') {
        out.pop();
    }
    String::from_utf8(out).map_err(|_| DnError::Escape(raw.to_string()))
}

/// Split on unescaped `sep`.
fn split(s: &str, sep: u8) -> Vec<&str> {
    let b = s.as_bytes();
    let (mut parts, mut start, mut i) = (Vec::new(), 0, 0);
    while let Some(&c) = b.get(i) {
        if c == b'\\' {
            i += 2;
            continue;
        }
        if c == sep {
            parts.push(s.get(start..i).unwrap_or_default());
            start = i + 1;
        }
        i += 1;
    }
    parts.push(&s[start.min(s.len())..]);
    parts
}

impl Dn {
    /// Parse `C=US, ST=WA, O=acme` as notation-go does.
    pub fn parse(s: &str) -> Result<Dn, DnError> {
        if s.trim().is_empty() {
            return Err(DnError::Empty);
        }
        let mut map = BTreeMap::new();
        for rdn in split(s, b',') {
            if split(rdn, b'+').len() > 1 {
                return Err(DnError::MultiValued);
            }
            let Some(eq) = rdn.find('=') else {
                return Err(DnError::NoEquals(rdn.trim().to_string()));
            };
            let t = attribute_type(&rdn[..eq])?;
            let v = value(&rdn[eq + 1..])?;
            if map.insert(t.clone(), v).is_some() {
                return Err(DnError::Duplicate(t));
            }
        }
        Ok(Dn(map))
    }

    /// Every attribute of `self` is in `other` with the same value.
    pub fn is_subset_of(&self, other: &Dn) -> bool {
        self.0.iter().all(|(k, v)| other.0.get(k) == Some(v))
    }

    /// `C=US, ST=WA, O=acme` (for messages).
    pub fn display(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dn(s: &str) -> Dn {
        Dn::parse(s).unwrap()
    }

    #[test]
    fn parses_the_rfc4514_subset() {
        let d = dn("C=US, S=WA, L=Seattle, O=wabbit-networks.io, OU=Security Tools");
        assert_eq!(d.0.get("ST").map(String::as_str), Some("WA"));
        assert_eq!(d.0.get("OU").map(String::as_str), Some("Security Tools"));
        let d = dn(r"c=US,st=WA,o=a\, b\;c\\d,CN=\ x\ ,2.5.4.5=12");
        assert_eq!(d.0["O"], r"a, b;c\d");
        assert_eq!(d.0["CN"], " x ");
        assert_eq!(d.0["2.5.4.5"], "12");
        assert_eq!(dn(r"CN=caf\c3\a9").0["CN"], "café");
        for (bad, want) in [
            ("", DnError::Empty),
            ("C=US, C=DE", DnError::Duplicate("C".into())),
            ("C=US+ST=WA", DnError::MultiValued),
            ("CN=#0403616263", DnError::Hex),
            ("CN=a\\", DnError::Escape("a\\".into())),
            ("CN", DnError::NoEquals("CN".into())),
            ("C N=x", DnError::BadType("C N".into())),
            ("CN=a=b", DnError::Special("a=b".into(), '=')),
            ("CN=a;O=b", DnError::Special("a;O=b".into(), ';')),
        ] {
            assert_eq!(Dn::parse(bad), Err(want), "{bad}");
        }
    }

    #[test]
    fn subset_match_is_exact_and_case_sensitive() {
        let subject = dn("C=US, ST=WA, L=Seattle, O=Notary, CN=e2e");
        assert!(dn("C=US, ST=WA, O=Notary").is_subset_of(&subject));
        assert!(dn("CN=e2e, O=Notary, ST=WA, C=US, L=Seattle").is_subset_of(&subject));
        assert!(!dn("C=US, ST=WA, O=notary").is_subset_of(&subject));
        assert!(!dn("C=US, ST=WA, O=Notary, OU=x").is_subset_of(&subject));
    }
}
