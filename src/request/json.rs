//! JSON decoding with Go `encoding/json` semantics.
//!
//! dockerd decodes request bodies into Go structs. Go matches object keys to
//! struct fields case-insensitively (including the Unicode folds `ſ`→`s` and
//! Kelvin `K`→`k`), lets the *last* duplicate win, replaces invalid UTF-8 with
//! U+FFFD and (on 20.10) ignores anything after the first value. A plugin that
//! reads the body differently can be bypassed (`{"hostconfig":{"privileged":true}}`).
//!
//! So we parse into a tree that keeps every key, in order, and look fields up
//! the way Go would. Where Go's answer depends on which of several keys wins,
//! we refuse to guess: a field we check that appears more than once (exactly or
//! as a case variant) is an error, and so is trailing data.

use std::fmt;

/// Nesting limit. Go allows 10000 levels; no Docker request body comes
/// near 20, and a recursive parser must not exhaust a worker's stack, so we
/// refuse anything deeper than this (a deny, which is always safe).
const MAX_DEPTH: usize = 128;

/// Values per document. Each costs tens to hundreds of bytes in the tree,
/// so a 4 MiB body of tiny objects (over half a million values) would cost
/// 200 MiB; no Docker request body comes near this many, and refusing is a
/// deny (tests/memory_cosign.rs measures the bound on a running plugin).
const MAX_VALUES: usize = 100_000;

/// A decoded JSON value that keeps object members in order, duplicates included.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number's literal text; we never need its value as a float.
    Number(String),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// Why a body is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("invalid JSON at byte {offset}: {what}")]
    Syntax { offset: usize, what: &'static str },
    #[error("unexpected data after the JSON value at byte {offset}")]
    TrailingData { offset: usize },
    #[error("the body is empty")]
    Empty,
    #[error("key {key:?} appears more than once (as {variants}); dockerd would silently keep one or merge them")]
    DuplicateKey { key: String, variants: String },
    #[error("key {key:?} is not ASCII; dockerd may fold it onto a field name")]
    NonAsciiKey { key: String },
    #[error("field {field:?} must be {expected}")]
    Type {
        field: String,
        expected: &'static str,
    },
}

impl Value {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// Parse exactly one JSON value; only whitespace may follow it.
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    let mut p = Parser {
        s: input,
        i: 0,
        values: 0,
    };
    p.skip_ws();
    if p.i == p.s.len() {
        return Err(JsonError::Empty);
    }
    let v = p.value(0)?;
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(JsonError::TrailingData { offset: p.i });
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    values: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError::Syntax {
            offset: self.i,
            what,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// The unread input (empty once the cursor is past the end).
    fn rest(&self) -> &[u8] {
        self.s.get(self.i..).unwrap_or_default()
    }

    // Go's scanner treats exactly these four bytes as whitespace.
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn expect_lit(&mut self, lit: &'static [u8], v: Value) -> Result<Value, JsonError> {
        if self.rest().starts_with(lit) {
            self.i += lit.len();
            Ok(v)
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(self.err("too many values"));
        }
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.expect_lit(b"true", Value::Bool(true)),
            Some(b'f') => self.expect_lit(b"false", Value::Bool(false)),
            Some(b'n') => self.expect_lit(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.i += 1; // '{'
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.skip_ws();
            let v = self.value(depth)?;
            members.push((key, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.i += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("invalid number"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
        }
        // Only ASCII digits and signs were consumed, so this cannot fail.
        let text =
            String::from_utf8_lossy(self.s.get(start..self.i).unwrap_or_default()).into_owned();
        Ok(Value::Number(text))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("invalid \\u escape")),
            };
            v = v * 16 + u32::from(d);
            self.i += 1;
        }
        Ok(v)
    }

    /// A string, unquoted as Go does: invalid UTF-8 bytes and lone surrogates
    /// each become U+FFFD; raw control characters are a syntax error.
    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            out.push(self.surrogate_pair(hi)?);
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                0x00..=0x1f => return Err(self.err("control character in string")),
                0x20..=0x7f => {
                    out.push(char::from(c));
                    self.i += 1;
                }
                _ => {
                    let (ch, n) = decode_utf8(self.rest());
                    out.push(ch);
                    self.i += n;
                }
            }
        }
    }

    fn surrogate_pair(&mut self, hi: u32) -> Result<char, JsonError> {
        if !(0xD800..0xDC00).contains(&hi) {
            // A lone low surrogate is not a char: Go yields U+FFFD.
            return Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'));
        }
        // Go combines only a directly following \uDC00-\uDFFF escape.
        if self.rest().starts_with(b"\\u") {
            let save = self.i;
            self.i += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            self.i = save;
        }
        Ok('\u{FFFD}')
    }
}

/// Decode one UTF-8 sequence the way Go's `utf8.DecodeRune` does: on any
/// error exactly one byte is consumed and U+FFFD returned.
fn decode_utf8(s: &[u8]) -> (char, usize) {
    let n = match s.first() {
        Some(0xC2..=0xDF) => 2,
        Some(0xE0..=0xEF) => 3,
        Some(0xF0..=0xF4) => 4,
        _ => return ('\u{FFFD}', 1),
    };
    match s.get(..n).map(std::str::from_utf8) {
        Some(Ok(t)) => t.chars().next().map_or(('\u{FFFD}', 1), |c| (c, n)),
        _ => ('\u{FFFD}', 1),
    }
}

/// Fold a key the way Go's `encoding/json` compares keys with field names:
/// ASCII case-insensitive, plus the two non-ASCII runes that fold onto ASCII
/// letters (U+017F LATIN SMALL LETTER LONG S → s, U+212A KELVIN SIGN → k).
/// Any other non-ASCII rune cannot match an ASCII field name and is kept.
pub fn go_fold(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{017F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// `go_fold(key) == go_fold(name)` without allocating: this runs for every
/// key of every object we read, and a hostile body can have many.
fn fold_eq(key: &str, name: &str) -> bool {
    let mut a = key.chars().map(|c| match c {
        '\u{017F}' => 's',
        '\u{212A}' => 'k',
        c => c.to_ascii_lowercase(),
    });
    let mut b = name.chars().map(|c| c.to_ascii_lowercase());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

/// A JSON object viewed as a Go struct: fields are looked up as Go would
/// assign them, refusing any ambiguity.
#[derive(Debug, Clone)]
pub struct Struct<'a> {
    /// Dotted path of this object in the body, for error messages.
    path: String,
    members: &'a [(String, Value)],
}

impl<'a> Struct<'a> {
    /// View `v` as a struct. `null` is an absent struct (Go leaves the pointer
    /// nil); anything but an object is a type error. Keys that are not ASCII
    /// are refused: no Docker field is, and Go might fold them onto one.
    pub fn of(path: impl Into<String>, v: &'a Value) -> Result<Option<Struct<'a>>, JsonError> {
        let path = path.into();
        match v {
            Value::Null => Ok(None),
            Value::Object(members) => {
                if let Some((k, _)) = members.iter().find(|(k, _)| !k.is_ascii()) {
                    return Err(JsonError::NonAsciiKey { key: k.clone() });
                }
                Ok(Some(Struct { path, members }))
            }
            _ => Err(JsonError::Type {
                field: path,
                expected: "an object",
            }),
        }
    }

    /// The body's top-level object.
    pub fn root(v: &'a Value) -> Result<Option<Struct<'a>>, JsonError> {
        Struct::of("", v)
    }

    /// The value Go would decode into field `name`, if any key maps onto it.
    /// More than one such key (duplicate or case variant) is refused.
    pub fn field(&self, name: &str) -> Result<Option<&'a Value>, JsonError> {
        let mut found: Option<&'a Value> = None;
        let mut variants: Vec<&str> = Vec::new();
        for (k, v) in self.members {
            if fold_eq(k, name) {
                variants.push(k);
                found = Some(v);
            }
        }
        if variants.len() > 1 {
            return Err(JsonError::DuplicateKey {
                key: self.name(name),
                variants: variants
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(found)
    }

    fn name(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_string()
        } else {
            format!("{}.{}", self.path, field)
        }
    }

    fn type_err(&self, field: &str, expected: &'static str) -> JsonError {
        JsonError::Type {
            field: self.name(field),
            expected,
        }
    }

    /// A nested struct field (`null` or absent is `None`).
    pub fn sub(&self, field: &str) -> Result<Option<Struct<'a>>, JsonError> {
        match self.field(field)? {
            None => Ok(None),
            Some(v) => Struct::of(self.name(field), v),
        }
    }

    /// A `bool` field: `null` or absent is false, as Go leaves the zero value.
    pub fn bool(&self, field: &str) -> Result<bool, JsonError> {
        match self.field(field)? {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.type_err(field, "a boolean")),
        }
    }

    /// A `string` field: `null` or absent is "".
    pub fn string(&self, field: &str) -> Result<String, JsonError> {
        match self.field(field)? {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.type_err(field, "a string")),
        }
    }

    /// A `[]string` field: `null` or absent is empty.
    pub fn strings(&self, field: &str) -> Result<Vec<String>, JsonError> {
        match self.field(field)? {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    // Go decodes a null element of []string as "".
                    Value::Null => Ok(String::new()),
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.type_err(field, "an array of strings")),
                })
                .collect(),
            Some(_) => Err(self.type_err(field, "an array of strings")),
        }
    }

    /// A `[]Struct` field; `null` elements are zero structs in Go and skipped.
    pub fn structs(&self, field: &str) -> Result<Vec<Struct<'a>>, JsonError> {
        match self.field(field)? {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, v) in items.iter().enumerate() {
                    if let Some(s) = Struct::of(format!("{}[{i}]", self.name(field)), v)? {
                        out.push(s);
                    }
                }
                Ok(out)
            }
            Some(_) => Err(self.type_err(field, "an array of objects")),
        }
    }

    /// The keys of a `map[string]*Struct` field (values objects or null).
    /// Go keeps the last of duplicate keys; we return every key.
    pub fn struct_map_keys(&self, field: &str) -> Result<Vec<String>, JsonError> {
        match self.field(field)? {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(members)) => members
                .iter()
                .map(|(k, v)| match v {
                    Value::Object(_) | Value::Null => Ok(k.clone()),
                    _ => Err(self.type_err(field, "an object of objects")),
                })
                .collect(),
            Some(_) => Err(self.type_err(field, "an object of objects")),
        }
    }

    /// A `map[string]string` field. Go keeps the last of duplicate keys; we
    /// return every pair so that callers can check all of them.
    pub fn string_map(&self, field: &str) -> Result<Vec<(String, String)>, JsonError> {
        match self.field(field)? {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(members)) => members
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    Value::Null => Ok((k.clone(), String::new())),
                    _ => Err(self.type_err(field, "an object of strings")),
                })
                .collect(),
            Some(_) => Err(self.type_err(field, "an object of strings")),
        }
    }

    /// Whether any key maps onto `field` with a non-null value.
    pub fn has(&self, field: &str) -> Result<bool, JsonError> {
        Ok(!matches!(self.field(field)?, None | Some(Value::Null)))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(s: &str) -> Value {
        parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn parses_json_like_go() {
        assert_eq!(parse(b" {} \n").unwrap(), Value::Object(vec![]));
        assert_eq!(parse(b"[1,-2.5e3,true,null]").unwrap().kind(), "an array");
        assert!(matches!(parse(b""), Err(JsonError::Empty)));
        assert!(matches!(parse(b"  "), Err(JsonError::Empty)));
        assert!(matches!(
            parse(b"{} {}"),
            Err(JsonError::TrailingData { .. })
        ));
        assert!(matches!(parse(b"{}}"), Err(JsonError::TrailingData { .. })));
        assert!(matches!(parse(b"{}]"), Err(JsonError::TrailingData { .. })));
        for bad in [
            &b"{"[..],
            b"{\"a\"}",
            b"[1,]",
            b"{\"a\":1,}",
            b"01",
            b"1.",
            b"-",
            b"tru",
            b"\"\x01\"",
            b"\xef\xbb\xbf{}",
        ] {
            assert!(
                parse(bad).is_err(),
                "{:?} must not parse",
                String::from_utf8_lossy(bad)
            );
        }
        // Deep nesting is refused rather than overflowing the stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(ok.as_bytes()).is_ok());
        // So is a body of more values than any Docker request has.
        let wide = format!("[{}0]", "0,".repeat(MAX_VALUES - 2));
        assert!(parse(wide.as_bytes()).is_ok());
        let wider = format!("[{}0]", "0,".repeat(MAX_VALUES - 1));
        assert!(parse(wider.as_bytes()).is_err());
    }

    #[test]
    fn strings_unquote_like_go() {
        assert_eq!(root(r#""\u0049mage""#), Value::String("Image".into()));
        assert_eq!(root(r#""\ud83d\ude00""#), Value::String("\u{1F600}".into()));
        // Lone surrogates and invalid UTF-8 become U+FFFD, one per bad byte.
        assert_eq!(root(r#""\ud800x""#), Value::String("\u{FFFD}x".into()));
        assert_eq!(
            parse(b"\"a\xff\xfeb\"").unwrap(),
            Value::String("a\u{FFFD}\u{FFFD}b".into())
        );
        assert_eq!(
            parse(b"\"\xe2\x82\"").unwrap(),
            Value::String("\u{FFFD}\u{FFFD}".into())
        );
    }

    #[test]
    fn fields_fold_case_like_go() {
        let v = root(r#"{"image":"a","hostconfig":{"PRIVILEGED":true}}"#);
        let s = Struct::root(&v).unwrap().unwrap();
        assert_eq!(s.string("Image").unwrap(), "a");
        assert!(s
            .sub("HostConfig")
            .unwrap()
            .unwrap()
            .bool("Privileged")
            .unwrap());
        assert_eq!(go_fold("Bind\u{017F}"), "binds");
        assert_eq!(go_fold("\u{212A}ey"), "key");
    }

    #[test]
    fn ambiguous_keys_are_refused() {
        let dup = root(r#"{"Privileged":false,"privileged":true}"#);
        let s = Struct::root(&dup).unwrap().unwrap();
        assert!(matches!(
            s.bool("Privileged"),
            Err(JsonError::DuplicateKey { .. })
        ));
        let exact_dup = root(r#"{"Image":"a","Image":"b"}"#);
        let s = Struct::root(&exact_dup).unwrap().unwrap();
        assert!(matches!(
            s.string("Image"),
            Err(JsonError::DuplicateKey { .. })
        ));
        // A duplicate of a field we do not read is none of our business.
        let other = root(r#"{"Tty":true,"tty":false,"Image":"a"}"#);
        assert_eq!(
            Struct::root(&other)
                .unwrap()
                .unwrap()
                .string("Image")
                .unwrap(),
            "a"
        );
        // Non-ASCII keys in a struct are refused outright (ſ folds to s).
        let uni = root("{\"Bind\u{017F}\":[\"/:/h\"]}");
        assert!(matches!(
            Struct::root(&uni),
            Err(JsonError::NonAsciiKey { .. })
        ));
    }

    #[test]
    fn types_and_nulls_follow_go() {
        let v = root(r#"{"A":null,"B":"x","C":[null,"y"],"D":{"k":"v","n":null},"E":1}"#);
        let s = Struct::root(&v).unwrap().unwrap();
        assert!(!s.bool("A").unwrap());
        assert_eq!(s.string("A").unwrap(), "");
        assert!(s.bool("B").is_err());
        assert_eq!(
            s.strings("C").unwrap(),
            vec!["".to_string(), "y".to_string()]
        );
        assert_eq!(s.string_map("D").unwrap().len(), 2);
        assert!(s.string("E").is_err());
        assert!(s.strings("B").is_err());
        assert!(!s.has("A").unwrap());
        assert!(s.has("B").unwrap());
        assert!(s.sub("A").unwrap().is_none());
        assert!(s.sub("B").is_err());
    }
}
