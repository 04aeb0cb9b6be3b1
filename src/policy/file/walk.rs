//! The TOML walker: tables written as sections or inline, typed getters
//! that record every error with its location instead of stopping.

use super::*;

/// A table, whether written as a section or inline.
#[derive(Clone, Copy)]
pub(super) enum Tbl<'a> {
    Section(&'a Table),
    Inline(&'a InlineTable),
}

impl<'a> Tbl<'a> {
    pub(super) fn of(item: &'a Item) -> Option<Tbl<'a>> {
        match item {
            Item::Table(t) => Some(Tbl::Section(t)),
            Item::Value(Value::InlineTable(t)) => Some(Tbl::Inline(t)),
            _ => None,
        }
    }

    pub(super) fn keys(&self) -> Vec<(String, Option<Range<usize>>)> {
        match self {
            Tbl::Section(t) => t
                .iter()
                .map(|(k, _)| (k.to_string(), t.key(k).and_then(|k| k.span())))
                .collect(),
            Tbl::Inline(t) => t
                .iter()
                .map(|(k, _)| (k.to_string(), t.key(k).and_then(|k| k.span())))
                .collect(),
        }
    }

    pub(super) fn get(&self, k: &str) -> Option<Item> {
        match self {
            Tbl::Section(t) => t.get(k).cloned(),
            Tbl::Inline(t) => t.get(k).map(|v| Item::Value(v.clone())),
        }
    }

    pub(super) fn span(&self) -> Option<Range<usize>> {
        match self {
            Tbl::Section(t) => t.span(),
            Tbl::Inline(t) => t.span(),
        }
    }
}

pub(super) fn item_span(i: &Item) -> Option<Range<usize>> {
    match i {
        Item::Value(v) => v.span(),
        Item::Table(t) => t.span(),
        Item::ArrayOfTables(a) => a.span(),
        Item::None => None,
    }
}

impl Parser<'_> {
    pub(super) fn locate(&self, span: Option<Range<usize>>) -> (usize, usize) {
        let Some(s) = span else { return (0, 0) };
        let before = &self.text[..s.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    pub(super) fn err(&mut self, span: Option<Range<usize>>, message: impl Into<String>) {
        let (line, column) = self.locate(span);
        self.errors.push(PolicyError {
            line,
            column,
            message: message.into(),
        });
    }

    /// Unknown keys are errors: a misspelt setting must not silently be off.
    pub(super) fn known(&mut self, t: Tbl<'_>, what: &str, allowed: &[&str]) {
        for (k, span) in t.keys() {
            if !allowed.contains(&k.as_str()) {
                self.err(
                    span,
                    format!(
                        "unknown key {k:?} in {what} (known: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    pub(super) fn string(&mut self, t: Tbl<'_>, k: &str) -> Option<String> {
        let item = t.get(k)?;
        match item.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                self.err(item_span(&item), format!("{k} must be a string"));
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, t: Tbl<'_>, k: &str) -> Option<bool> {
        let item = t.get(k)?;
        match item.as_bool() {
            Some(b) => Some(b),
            None => {
                self.err(item_span(&item), format!("{k} must be true or false"));
                None
            }
        }
    }

    pub(super) fn strings(&mut self, t: Tbl<'_>, k: &str) -> Option<Vec<String>> {
        let item = t.get(k)?;
        let Some(arr) = item.as_array() else {
            self.err(item_span(&item), format!("{k} must be a list of strings"));
            return None;
        };
        Some(self.array_strings(arr, k))
    }

    pub(super) fn array_strings(&mut self, arr: &Array, k: &str) -> Vec<String> {
        let mut out = Vec::new();
        for v in arr.iter() {
            match v.as_str() {
                Some(s) => out.push(s.to_string()),
                None => self.err(v.span(), format!("{k} must hold only strings")),
            }
        }
        out
    }

    pub(super) fn mode(&mut self, t: Tbl<'_>) -> Option<Mode> {
        let item = t.get("mode")?;
        match item.as_str() {
            Some("enforce") => Some(Mode::Enforce),
            Some("audit") => Some(Mode::Audit),
            _ => {
                self.err(item_span(&item), "mode must be \"enforce\" or \"audit\"");
                None
            }
        }
    }

    pub(super) fn ops(&mut self, t: Tbl<'_>) -> Vec<Op> {
        let Some(item) = t.get("allow") else {
            return Vec::new();
        };
        let Some(arr) = item.as_array() else {
            self.err(item_span(&item), "allow must be a list of operations");
            return Vec::new();
        };
        let mut out = Vec::new();
        for v in arr.iter() {
            match v.as_str().and_then(Op::parse) {
                Some(op) => out.push(op),
                None => self.err(
                    v.span(),
                    format!(
                        "unknown operation {} (known: {})",
                        v.as_str()
                            .map_or_else(|| "(not a string)".to_string(), |s| format!("{s:?}")),
                        Op::known()
                    ),
                ),
            }
        }
        out
    }

    /// A path relative to the policy file. Confined (a bundle's policy): an
    /// absolute path, `..`, or anything not under the bundle once symlinks
    /// are resolved is an error, and an empty path (which reads as nothing)
    /// is returned so that no host file is opened.
    pub(super) fn resolve(&mut self, s: &str, span: Option<Range<usize>>) -> PathBuf {
        let p = if Path::new(s).is_absolute() {
            PathBuf::from(s)
        } else {
            self.base.join(s)
        };
        let Some(root) = self.confine.clone() else {
            return p;
        };
        let lexical = !Path::new(s).is_absolute()
            && Path::new(s).components().all(|c| {
                matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            });
        let under = match (p.canonicalize(), root.canonicalize()) {
            (Ok(p), Ok(root)) => p.starts_with(root),
            // Missing: reported by the reader; lexically it stays inside.
            (Err(_), _) => true,
            (Ok(_), Err(_)) => false,
        };
        if lexical && under {
            return p;
        }
        self.err(
            span,
            format!(
                "{s:?} points outside the bundle: a bundle's policy may only name files inside \
                 the bundle, by relative paths without '..'"
            ),
        );
        PathBuf::new()
    }

    /// A file path, relative to the policy file, that must exist.
    pub(super) fn file(&mut self, t: Tbl<'_>, k: &str) -> Option<PathBuf> {
        let item = t.get(k)?;
        let Some(s) = item.as_str() else {
            self.err(item_span(&item), format!("{k} must be a file path"));
            return None;
        };
        let p = self.resolve(s, item_span(&item));
        if p.as_os_str().is_empty() {
            return None;
        }
        if !p.is_file() {
            self.err(
                item_span(&item),
                format!("{k}: {} does not exist or is not a file", p.display()),
            );
            return None;
        }
        Some(p)
    }
}
