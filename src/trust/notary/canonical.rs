//! Canonical JSON as notary signs it (`docker/go/canonical/json`).
//!
//! `olpc-cjson` produces the same bytes for what Notary metadata contains:
//! sorted keys, integers, and strings with only `"` and `\` escaped. Where
//! the two could differ (non-ASCII, which olpc-cjson NFC-normalises; control
//! characters; keys with bytes that sort differently once quoted; floats)
//! the metadata is refused instead of risking a signature over other bytes.

use serde::Serialize;
use serde_json::Value;

use super::TufError;

fn safe_str(s: &str, is_key: bool) -> bool {
    // Quoted-key sorting equals Go's string sorting only if no key byte
    // sorts below '"'.
    let lo = if is_key { 0x23 } else { 0x20 };
    s.bytes()
        .all(|b| (lo..0x7f).contains(&b) || (!is_key && b == b'"'))
}

fn check(v: &Value) -> Result<(), TufError> {
    match v {
        Value::String(s) if !safe_str(s, false) => Err(TufError::Format(format!(
            "string {s:?} has characters whose canonical form is ambiguous"
        ))),
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => {
            Err(TufError::Format(format!("non-integer number {n}")))
        }
        Value::Array(a) => a.iter().try_for_each(check),
        Value::Object(o) => o.iter().try_for_each(|(k, v)| {
            if safe_str(k, true) {
                check(v)
            } else {
                Err(TufError::Format(format!(
                    "key {k:?} has characters whose canonical form is ambiguous"
                )))
            }
        }),
        _ => Ok(()),
    }
}

/// The canonical bytes of `v`.
pub fn canonical(v: &Value) -> Result<Vec<u8>, TufError> {
    check(v)?;
    let mut out = Vec::new();
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    v.serialize(&mut ser)
        .map_err(|e| TufError::Format(format!("cannot canonicalise: {e}")))?;
    Ok(out)
}

/// Canonical bytes written straight from JSON text, without a tree: what
/// [`canonical`] gives for the same value, in memory proportional to the
/// input (a parsed `Value` costs tens of times its text). Duplicate keys
/// are refused: the canonical form of such an object is not well defined.
pub struct Canon<'a> {
    pub out: &'a mut Vec<u8>,
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

impl<'de> serde::de::DeserializeSeed<'de> for Canon<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Writes one object key, quoted, and the colon.
struct KeySeed<'a> {
    out: &'a mut Vec<u8>,
}

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KeySeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<(), E> {
        if !safe_str(k, true) {
            return Err(E::custom(format!(
                "key {k:?} has characters whose canonical form is ambiguous"
            )));
        }
        write_str(self.out, k);
        self.out.push(b':');
        Ok(())
    }
}

impl<'de> serde::de::Visitor<'de> for Canon<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.out
            .extend_from_slice(if b { b"true".as_slice() } else { b"false" });
        Ok(())
    }
    fn visit_u64<E>(self, n: u64) -> Result<(), E> {
        self.out.extend_from_slice(n.to_string().as_bytes());
        Ok(())
    }
    fn visit_i64<E>(self, n: i64) -> Result<(), E> {
        self.out.extend_from_slice(n.to_string().as_bytes());
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<(), E> {
        Err(E::custom(format!("non-integer number {n}")))
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<(), E> {
        if !safe_str(s, false) {
            return Err(E::custom(format!(
                "string {s:?} has characters whose canonical form is ambiguous"
            )));
        }
        write_str(self.out, s);
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.out.push(b',');
            }
            if seq.next_element_seed(Canon { out: self.out })?.is_none() {
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error as _;
        // Members are written in input order, then reordered: each is
        // (start, end of its quoted key, end), offsets into `out`.
        let base = self.out.len();
        let mut members: Vec<(u32, u32, u32)> = Vec::new();
        let off = |n: usize| u32::try_from(n).map_err(|_| A::Error::custom("object too large"));
        let base32 = off(base)?;
        while map.next_key_seed(KeySeed { out: self.out })?.is_some() {
            // The key as written, quotes included, without the colon.
            let key_end = self.out.len() - 1;
            map.next_value_seed(Canon { out: self.out })?;
            let start = members.last().map_or(base32, |m| m.2);
            members.push((start, off(key_end)?, off(self.out.len())?));
        }
        let region = self.out.split_off(base);
        let key = |m: &(u32, u32, u32)| {
            let (s, k) = (m.0 as usize - base, m.1 as usize - base);
            region.get(s..k).unwrap_or_default()
        };
        members.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        if members
            .windows(2)
            .any(|w| matches!(w, [a, b] if key(a) == key(b)))
        {
            return Err(A::Error::custom("duplicate key in an object"));
        }
        self.out.push(b'{');
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            let member = region
                .get(m.0 as usize - base..m.2 as usize - base)
                .ok_or_else(|| A::Error::custom("object member out of range"))?;
            self.out.extend_from_slice(member);
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// The canonical bytes of the JSON text `json`, streamed (see [`Canon`]).
#[cfg(test)]
pub fn canonical_json(json: &[u8]) -> Result<Vec<u8>, TufError> {
    use serde::de::DeserializeSeed as _;
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(json);
    Canon { out: &mut out }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| TufError::Format(format!("cannot canonicalise: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn streamed_form_equals_the_tree_form() {
        for v in [
            json!({"b": 1, "a": [true, null, "x\"y\\z/<>&"], "ab": {"d": -2, "c": "q"}}),
            json!({"a\\b": 1, "a": {}, "a]": [], "a\\": [[], {}, 0], "z": {"y": {"x": [1, {"b": 2, "a": 3}]}}}),
            json!([]),
            json!("s"),
        ] {
            let text = serde_json::to_vec_pretty(&v).unwrap();
            assert_eq!(
                String::from_utf8(canonical_json(&text).unwrap()).unwrap(),
                String::from_utf8(canonical(&v).unwrap()).unwrap()
            );
        }
        // Escaped input is written in canonical form.
        assert_eq!(
            canonical_json(br#"{"k":"\u0041\/"}"#).unwrap(),
            br#"{"k":"A/"}"#
        );
    }

    #[test]
    fn streamed_form_refuses_what_the_tree_form_refuses_and_duplicates() {
        for bad in [
            &br#"{"a":"\u00e9"}"#[..],
            br#"{"a":"tab\there"}"#,
            br#"{"a b":1}"#,
            br#"{"a":1.5}"#,
            br#"{"a":1,"a":2}"#,
            br#"{"x":{"b":1,"a":2,"b":3}}"#,
            br#"{"a":1} trailing"#,
        ] {
            assert!(
                canonical_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn sorted_compact_minimal_escapes() {
        let v = json!({"b": 1, "a": [true, null, "x\"y\\z/<>&"], "ab": {"d": -2, "c": "q"}});
        assert_eq!(
            String::from_utf8(canonical(&v).unwrap()).unwrap(),
            r#"{"a":[true,null,"x\"y\\z/<>&"],"ab":{"c":"q","d":-2},"b":1}"#
        );
    }

    #[test]
    fn refuses_ambiguous_input() {
        assert!(canonical(&json!({"a": "é"})).is_err());
        assert!(canonical(&json!({"a": "tab\there"})).is_err());
        assert!(canonical(&json!({"a b": 1})).is_err());
        assert!(canonical(&json!({"a!": 1})).is_err());
        assert!(canonical(&json!({"a": 1.5})).is_err());
        assert!(canonical(&json!({"a": "space ok"})).is_ok());
    }
}
