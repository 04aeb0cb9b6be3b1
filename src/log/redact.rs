//! Secrets that dockerd's API carries in the query string, kept out of the
//! decision log (stderr, the file, shipped events: they leave the host).
//!
//! - `buildargs` (`POST /build`): a JSON object; its keys stay (they say
//!   what was passed), its values become `REDACTED` (`NPM_TOKEN=…`).
//! - a URL with user information in any value (`remote=` of build and
//!   plugin pulls, `fromSrc=` of image import): the user information
//!   becomes `REDACTED`.
//! - a parameter whose name says secret (`token`, `password`, `secret`,
//!   `auth` but not `author`, `credential`): its whole value.
//!
//! Request bodies and headers (`X-Registry-Auth`, `X-Registry-Config`) are
//! never logged. Names are matched as dockerd reads them (percent- and
//! `+`-decoded, `;` also a separator as in Go before 1.17); a value that
//! cannot be read as expected is masked whole.

use std::borrow::Cow;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

pub const MASK: &str = "REDACTED";

/// Left as-is when a masked value is written back (form encoding's
/// unreserved characters).
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Borrowed when there is nothing to decode (most names and values): every
/// logged decision passes its query through here.
fn form_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['+', '%']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned(),
    )
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, KEEP).to_string()
}

/// A parameter whose value is a secret as a whole.
fn secret_name(k: &str) -> bool {
    // `w` in `k`, ignoring ASCII case (`w` is lower case): no lowered copy.
    let has = |w: &str| {
        k.as_bytes()
            .windows(w.len())
            .any(|x| x.eq_ignore_ascii_case(w.as_bytes()))
    };
    ["token", "password", "passwd", "secret", "credential"]
        .iter()
        .any(|w| has(w))
        // `author` (POST /commit) is not a secret.
        || (has("auth") && !has("author"))
}

/// `uri` with its secrets masked; borrowed when there are none.
pub fn uri(u: &str) -> Cow<'_, str> {
    let Some((path, query)) = u.split_once('?') else {
        return Cow::Borrowed(u);
    };
    // Built from the first masked pair on: nothing is copied otherwise.
    let mut out: Option<String> = None;
    let mut at = path.len() + 1;
    for pair in query.split('&') {
        let masked = pair_masked(pair);
        match (&mut out, masked) {
            (Some(o), m) => {
                o.push('&');
                o.push_str(m.as_deref().unwrap_or(pair));
            }
            (None, Some(m)) => {
                let mut o = String::with_capacity(u.len() + 16);
                o.push_str(u.get(..at).unwrap_or_default());
                o.push_str(&m);
                out = Some(o);
            }
            (None, None) => {}
        }
        at += pair.len() + 1;
    }
    out.map_or(Cow::Borrowed(u), Cow::Owned)
}

/// serde's `serialize_with` for a logged URI.
pub fn serialize_uri<S: serde::Serializer>(u: &&str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&uri(u))
}

/// One `&`-separated pair, masked (`None`: nothing to mask). Each
/// `;`-part is looked at (old Go split there); once a part is secret,
/// everything after its `=` to the end of the pair is masked, since newer
/// Go reads a `;` as part of the value.
fn pair_masked(pair: &str) -> Option<String> {
    let mut start = 0;
    for part in pair.split(';') {
        if let Some((k, _)) = part.split_once('=') {
            let value_at = start + k.len() + 1;
            let value = pair.get(value_at..).unwrap_or_default();
            let name = form_decode(k);
            let masked = if name == "buildargs" {
                Some(buildargs(value))
            } else if secret_name(&name) {
                Some(MASK.to_string())
            } else if could_have_scheme(value) {
                userinfo_masked(&form_decode(value)).map(|v| encode(&v))
            } else {
                None
            };
            if let Some(m) = masked {
                return Some(format!("{}{m}", pair.get(..value_at).unwrap_or_default()));
            }
        }
        start += part.len() + 1;
    }
    None
}

/// Whether form-decoding `raw` could give a `:` (so a `scheme://`): only
/// from `:` or `%3A`. Most values (`fromImage=reg%2Frepo`) are then not
/// decoded at all.
fn could_have_scheme(raw: &str) -> bool {
    raw.contains(':')
        || raw
            .as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(b"%3a"))
}

/// `{"K":"v"}` → `{"K":"REDACTED"}` (null, an unset arg, stays), encoded;
/// anything else is masked whole.
fn buildargs(raw: &str) -> String {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&form_decode(raw)) {
        Ok(mut m) => {
            for v in m.values_mut() {
                if !v.is_null() {
                    *v = serde_json::Value::String(MASK.to_string());
                }
            }
            encode(&serde_json::Value::Object(m).to_string())
        }
        Err(_) => MASK.to_string(),
    }
}

/// `s` with the user information of every `scheme://user:pass@host` in it
/// masked; `None` when there is none.
fn userinfo_masked(s: &str) -> Option<String> {
    if !s.contains("://") {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find(['/', '?', '#']).unwrap_or(tail.len());
        let authority = tail.get(..end).unwrap_or_default();
        match authority.rfind('@') {
            Some(at) => {
                changed = true;
                out.push_str(MASK);
                out.push_str(authority.get(at..).unwrap_or_default());
            }
            None => out.push_str(authority),
        }
        rest = tail.get(end..).unwrap_or_default();
    }
    out.push_str(rest);
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_only_secrets() {
        assert!(matches!(uri("/v1.41/_ping"), Cow::Borrowed(_)));
        let plain = "/v1.41/images/create?fromImage=alpine&tag=3";
        assert!(matches!(uri(plain), Cow::Borrowed(_)));
        let commit = "/v1.41/commit?container=c&author=bob&comment=x";
        assert!(matches!(uri(commit), Cow::Borrowed(_)));
        assert_eq!(uri("/x?registryauth=abc"), "/x?registryauth=REDACTED");
        assert_eq!(
            uri("/build?buildargs=%7B%22A%22%3A%22x%22%2C%22B%22%3Anull%7D&t=a"),
            "/build?buildargs=%7B%22A%22%3A%22REDACTED%22%2C%22B%22%3Anull%7D&t=a"
        );
        assert_eq!(
            uri("/build?remote=https://u:p@h.example/r.git"),
            "/build?remote=https%3A%2F%2FREDACTED%40h.example%2Fr.git"
        );
        assert_eq!(uri("/x?a=1;my_token=abc;b=2"), "/x?a=1;my_token=REDACTED");
        assert_eq!(uri("/build?buildargs=%7Bcut"), "/build?buildargs=REDACTED");
    }

    /// The allocation-free fast paths (borrowed decoding, case-insensitive
    /// search without a lowered copy, the output built only from the first
    /// masked pair) decide exactly as the plain version they replaced, on
    /// 200,000 query strings made of the pieces that matter.
    #[test]
    fn same_as_the_plain_version() {
        fn old_form_decode(s: &str) -> String {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        }
        fn old_secret_name(k: &str) -> bool {
            let k = k.to_ascii_lowercase();
            ["token", "password", "passwd", "secret", "credential"]
                .iter()
                .any(|w| k.contains(w))
                || (k.contains("auth") && !k.contains("author"))
        }
        fn old_pair_masked(pair: &str) -> Option<String> {
            let mut start = 0;
            for part in pair.split(';') {
                if let Some((k, _)) = part.split_once('=') {
                    let value_at = start + k.len() + 1;
                    let value = pair.get(value_at..).unwrap_or_default();
                    let name = old_form_decode(k);
                    let masked = if name == "buildargs" {
                        Some(buildargs(value))
                    } else if old_secret_name(&name) {
                        Some(MASK.to_string())
                    } else {
                        userinfo_masked(&old_form_decode(value)).map(|v| encode(&v))
                    };
                    if let Some(m) = masked {
                        return Some(format!("{}{m}", pair.get(..value_at).unwrap_or_default()));
                    }
                }
                start += part.len() + 1;
            }
            None
        }
        fn old_uri(u: &str) -> String {
            let Some((path, query)) = u.split_once('?') else {
                return u.to_string();
            };
            let pairs: Vec<String> = query
                .split('&')
                .map(|p| old_pair_masked(p).unwrap_or_else(|| p.to_string()))
                .collect();
            format!("{path}?{}", pairs.join("&"))
        }
        let pieces = [
            "a",
            "=",
            "&",
            ";",
            "?",
            "%2B",
            "+",
            "%",
            "%4",
            "://",
            "u:p@",
            "h",
            "/",
            "#",
            "token",
            "ToKeN",
            "AUTH",
            "author",
            "Author%73",
            "auth%6Fr",
            "x-registry-auth",
            "buildargs",
            "build%61rgs",
            "%7B%22A%22%3A%22x%22%7D",
            "{\"B\":null}",
            "remote",
            "PassWord",
            "%3A",
            "%3a",
            "%2F%2F",
            "%2f",
            "%40",
            "https",
            "passwd",
            "SECRET",
            "credential",
            "é",
            "%C3%A9",
            "%FF",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            let mut u = String::from("/v1.41/p?");
            let n = (x >> 60) as usize + 1;
            for _ in 0..n {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                u.push_str(pieces[(x >> 33) as usize % pieces.len()]);
            }
            assert_eq!(uri(&u), old_uri(&u), "{u}");
        }
    }
}
