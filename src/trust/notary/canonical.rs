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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
