//! A rule's `cosign` table: keys, trusted roots, identities, transparency log.

use super::*;

impl Parser<'_> {
    pub(super) fn cosign(&mut self, c: Tbl<'_>) -> CosignSpec {
        self.known(
            c,
            "[rules.cosign]",
            &[
                "keys",
                "identities",
                "trusted_root",
                "threshold",
                "tlog",
                "match_reference",
            ],
        );
        let mut keys = Vec::new();
        if let Some(item) = c.get("keys") {
            match item.as_array() {
                Some(arr) => {
                    for v in arr.iter() {
                        let Some(f) = v.as_str() else {
                            self.err(v.span(), "keys must hold file paths");
                            continue;
                        };
                        let p = self.resolve(f, v.span());
                        if p.as_os_str().is_empty() {
                            continue;
                        }
                        match std::fs::read_to_string(&p) {
                            Err(e) => self.err(v.span(), format!("key {}: {e}", p.display())),
                            Ok(pem) => {
                                match crate::trust::cosign::keys::PublicKey::from_pem(&pem) {
                                    Ok(_) => keys.push(p),
                                    Err(e) => {
                                        self.err(v.span(), format!("key {}: {e}", p.display()))
                                    }
                                }
                            }
                        }
                    }
                }
                None => self.err(
                    item_span(&item),
                    "keys must be a list of PEM public key files",
                ),
            }
        }
        let mut identities = Vec::new();
        if let Some(item) = c.get("identities") {
            let tables: Vec<(Option<Range<usize>>, Option<Tbl<'_>>)> = match &item {
                Item::Value(Value::Array(a)) => a
                    .iter()
                    .map(|v| (v.span(), v.as_inline_table().map(Tbl::Inline)))
                    .collect(),
                Item::ArrayOfTables(a) => a
                    .iter()
                    .map(|t| (t.span(), Some(Tbl::Section(t))))
                    .collect(),
                _ => {
                    self.err(
                        item_span(&item),
                        "identities must be a list of { issuer, subject }",
                    );
                    Vec::new()
                }
            };
            for (span, t) in tables {
                let Some(t) = t else {
                    self.err(
                        span,
                        "an identity is a table { issuer = \"...\", subject = \"...\" }",
                    );
                    continue;
                };
                if let Some(id) = self.identity(t, span) {
                    identities.push(id);
                }
            }
        }
        let trusted_root = self.file(c, "trusted_root");
        if let Some(p) = &trusted_root {
            if let Err(e) = crate::trust::cosign::root::TrustedRoot::load(p) {
                self.err(
                    c.get("trusted_root").and_then(|i| item_span(&i)),
                    e.to_string(),
                );
            }
        }
        let tlog_required = match c.get("tlog") {
            None => false,
            Some(item) => match item.as_str() {
                Some("required") => true,
                Some("ignore") => false,
                _ => {
                    self.err(item_span(&item), "tlog must be \"required\" or \"ignore\"");
                    false
                }
            },
        };
        let authorities = keys.len() + identities.len();
        let threshold = match c.get("threshold") {
            None => 1,
            Some(item) => match item.as_integer() {
                Some(n) if n >= 1 && usize::try_from(n).is_ok_and(|n| n <= authorities.max(1)) => {
                    usize::try_from(n).unwrap_or(1)
                }
                _ => {
                    self.err(
                        item_span(&item),
                        format!("threshold must be between 1 and the number of keys and identities ({authorities})"),
                    );
                    1
                }
            },
        };
        // Empty lists too: a rule that no signature can meet is a typo.
        let listed = |k: &str| {
            c.get(k).is_some_and(|i| match &i {
                Item::Value(Value::Array(a)) => !a.is_empty(),
                Item::ArrayOfTables(a) => !a.is_empty(),
                _ => true,
            })
        };
        if !listed("keys") && !listed("identities") {
            self.err(c.span(), "[rules.cosign] needs keys or identities");
        }
        if !identities.is_empty() && trusted_root.is_none() && c.get("trusted_root").is_none() {
            self.err(c.span(), "keyless identities need a trusted_root");
        }
        if tlog_required && trusted_root.is_none() && c.get("trusted_root").is_none() {
            self.err(
                c.span(),
                "tlog = \"required\" needs a trusted_root with the Rekor key",
            );
        }
        let match_reference = self.boolean(c, "match_reference").unwrap_or(false);
        CosignSpec {
            keys,
            identities,
            threshold,
            trusted_root,
            tlog_required,
            match_reference,
        }
    }

    /// One keyless identity: `issuer` (exact) or `issuer_regexp`, `subject`
    /// (`*` stays inside a path segment) or `subject_regexp` (both anchored),
    /// and optional exact GitHub workflow claims, as cosign's
    /// `--certificate-github-workflow-*` flags.
    pub(super) fn identity(
        &mut self,
        t: Tbl<'_>,
        span: Option<Range<usize>>,
    ) -> Option<crate::trust::cosign::Identity> {
        use crate::trust::cosign::{GithubClaims, Identity, Pattern};
        const GITHUB: [&str; 5] = [
            "github_workflow_repository",
            "github_workflow_ref",
            "github_workflow_name",
            "github_workflow_trigger",
            "github_workflow_sha",
        ];
        let mut allowed = vec!["issuer", "issuer_regexp", "subject", "subject_regexp"];
        allowed.extend(GITHUB);
        self.known(t, "an identity", &allowed);
        let pattern = |me: &mut Self, plain: &str, re: &str, exact: bool| -> Option<Pattern> {
            let item_span = |k: &str| t.get(k).and_then(|i| item_span(&i));
            match (me.string(t, plain), me.string(t, re)) {
                (Some(_), Some(_)) => {
                    me.err(
                        item_span(re),
                        format!("an identity has {plain} or {re}, not both"),
                    );
                    None
                }
                (Some(p), None) if !p.is_empty() => Some(if exact {
                    Pattern::Exact(p)
                } else {
                    Pattern::Glob(p)
                }),
                (None, Some(r)) if !r.is_empty() => match Pattern::regex(&r) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        me.err(item_span(re), format!("{re}: {e}"));
                        None
                    }
                },
                _ => {
                    me.err(
                        span.clone(),
                        format!("an identity needs a non-empty {plain} or {re}"),
                    );
                    None
                }
            }
        };
        let issuer = pattern(self, "issuer", "issuer_regexp", true);
        let subject = pattern(self, "subject", "subject_regexp", false);
        let mut github = GithubClaims::default();
        for (k, slot) in GITHUB.iter().zip([
            &mut github.repository,
            &mut github.git_ref,
            &mut github.name,
            &mut github.trigger,
            &mut github.sha,
        ]) {
            match self.string(t, k) {
                Some(v) if v.is_empty() => self.err(
                    t.get(k).and_then(|i| item_span(&i)),
                    format!("{k} is empty"),
                ),
                v => *slot = v,
            }
        }
        Some(Identity {
            issuer: issuer?,
            subject: subject?,
            github,
        })
    }
}
