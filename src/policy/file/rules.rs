//! `[[rule]]`: repositories, users, mode, allowed operations and the
//! verifiers a rule names.

use super::*;

impl Parser<'_> {
    pub(super) fn rule(&mut self, t: &Table) -> Option<RuleSpec> {
        let r = Tbl::Section(t);
        self.known(
            r,
            "[[rules]]",
            &[
                "name",
                "repositories",
                "users",
                "verifier",
                "require",
                "mode",
                "allow",
                "notary",
                "cosign",
                "digests",
                "digests_file",
                "notation",
            ],
        );
        let line = self.locate(t.span()).0;
        let repositories = match self.strings(r, "repositories") {
            Some(v) if !v.is_empty() => v,
            Some(_) => {
                self.err(t.span(), "a rule needs at least one repository pattern");
                Vec::new()
            }
            None => {
                self.err(
                    t.span(),
                    "a rule needs repositories = [\"host/path/*\", ...]",
                );
                Vec::new()
            }
        };
        let mut repositories = repositories;
        for pat in &mut repositories {
            match crate::policy::rules::check_pattern(pat) {
                Ok(canonical) => *pat = canonical,
                Err(why) => {
                    let span = r.get("repositories").and_then(|i| item_span(&i));
                    self.err(span, format!("repository pattern {pat:?}: {why}"));
                }
            }
        }
        let verifiers = self.verifiers(r, t);
        let digests = self.digests(r, t, &verifiers);
        let require = match r.get("require") {
            None => Require::All,
            Some(item) => match item.as_str() {
                Some("all") => Require::All,
                Some("any") => Require::Any,
                _ => {
                    self.err(item_span(&item), "require must be \"all\" or \"any\"");
                    Require::All
                }
            },
        };
        let notary = self.verifier_table(
            r,
            t,
            "notary",
            VerifierKind::Notary,
            &verifiers,
            None,
            Self::notary,
        );
        let cosign = self.verifier_table(
            r,
            t,
            "cosign",
            VerifierKind::Cosign,
            &verifiers,
            Some("the cosign verifier needs [rules.cosign] with keys or identities"),
            Self::cosign,
        );
        let notation = self.verifier_table(
            r,
            t,
            "notation",
            VerifierKind::Notation,
            &verifiers,
            Some("the notation verifier needs [rules.notation] with trust_policy and trust_store"),
            Self::notation,
        );
        Some(RuleSpec {
            name: self
                .string(r, "name")
                .unwrap_or_else(|| format!("rule at line {line}")),
            repositories,
            users: self.strings(r, "users").unwrap_or_default(),
            verifiers,
            require,
            mode: self.mode(r),
            allow: self.ops(r),
            notary,
            cosign,
            digests,
            notation,
            line,
        })
    }

    /// A rule's `[rules.<key>]`, read by `parse`: it must be a table, its
    /// verifier must be among the rule's, and where `needed` says so the
    /// verifier needs it.
    #[expect(
        clippy::too_many_arguments,
        reason = "the rule, its verifiers and what to say are all per call"
    )]
    pub(super) fn verifier_table<S: Default>(
        &mut self,
        r: Tbl<'_>,
        t: &Table,
        key: &str,
        kind: VerifierKind,
        verifiers: &[VerifierKind],
        needed: Option<&str>,
        parse: impl FnOnce(&mut Self, Tbl<'_>) -> S,
    ) -> S {
        let Some(item) = r.get(key) else {
            if let Some(why) = needed.filter(|_| verifiers.contains(&kind)) {
                self.err(t.span(), why);
            }
            return S::default();
        };
        let spec = match Tbl::of(&item) {
            Some(x) => parse(self, x),
            None => {
                self.err(item_span(&item), format!("[rules.{key}] must be a table"));
                S::default()
            }
        };
        if !verifiers.contains(&kind) {
            self.err(
                item_span(&item),
                format!("[rules.{key}] is given but the rule's verifiers do not include {key}"),
            );
        }
        spec
    }

    /// `verifier = "notary" | "cosign" | "none"`, or a list of the first two.
    pub(super) fn verifiers(&mut self, r: Tbl<'_>, t: &Table) -> Vec<VerifierKind> {
        let Some(item) = r.get("verifier") else {
            // Pins need no other verifier: giving them says which.
            if r.get("digests").is_some() || r.get("digests_file").is_some() {
                return vec![VerifierKind::Digests];
            }
            self.err(
                t.span(),
                "a rule must name its verifier (notary, cosign or none)",
            );
            return Vec::new();
        };
        let one = |s: &str| match s {
            "notary" => Some(VerifierKind::Notary),
            "cosign" => Some(VerifierKind::Cosign),
            "digests" => Some(VerifierKind::Digests),
            "notation" => Some(VerifierKind::Notation),
            _ => None,
        };
        if item.as_str() == Some("none") {
            return Vec::new();
        }
        if let Some(k) = item.as_str().and_then(one) {
            return vec![k];
        }
        let mut out = Vec::new();
        match item.as_array() {
            Some(arr) if !arr.is_empty() => {
                for v in arr.iter() {
                    match v.as_str().and_then(one) {
                        Some(k) if !out.contains(&k) => out.push(k),
                        Some(_) => self.err(v.span(), "a verifier is listed twice"),
                        None => self.err(
                            v.span(),
                            "a verifier list holds \"notary\", \"cosign\", \"notation\" and/or \"digests\"",
                        ),
                    }
                }
            }
            _ => self.err(
                item_span(&item),
                "verifier must be \"notary\", \"cosign\", \"notation\", \"digests\", \"none\" or a list like [\"notary\", \"cosign\"]",
            ),
        }
        out
    }

    /// `digests = ["sha256:…"]` and/or `digests_file = "FILE"` (one digest
    /// a line, `#` comments). An empty list is allowed and pins nothing: a
    /// catch-all rule that denies, with the digest to pin in its hint.
    pub(super) fn digests(
        &mut self,
        r: Tbl<'_>,
        t: &Table,
        verifiers: &[VerifierKind],
    ) -> Vec<String> {
        let mut out = Vec::new();
        let given = r.get("digests").is_some() || r.get("digests_file").is_some();
        if let Some(item) = r.get("digests") {
            match item.as_array() {
                Some(arr) => {
                    for v in arr.iter() {
                        match v
                            .as_str()
                            .map(|d| (d, crate::trust::pinned::check_digest(d)))
                        {
                            Some((d, Ok(()))) => out.push(d.to_string()),
                            Some((_, Err(e))) => self.err(v.span(), format!("digests: {e}")),
                            None => self.err(v.span(), "digests must hold only strings"),
                        }
                    }
                }
                None => self.err(
                    item_span(&item),
                    "digests must be a list like [\"sha256:…\"]",
                ),
            }
        }
        if let Some(p) = self.file(r, "digests_file") {
            let span = r.get("digests_file").and_then(|i| item_span(&i));
            match std::fs::read_to_string(&p) {
                Err(e) => self.err(span, format!("digests_file {}: {e}", p.display())),
                Ok(text) => match crate::trust::pinned::parse_digest_file(&text) {
                    Ok(ds) => out.extend(ds),
                    Err(errs) => {
                        for (line, e) in errs {
                            self.err(
                                span.clone(),
                                format!("digests_file {}:{line}: {e}", p.display()),
                            );
                        }
                    }
                },
            }
        }
        if given && !verifiers.contains(&VerifierKind::Digests) {
            self.err(
                r.get("digests")
                    .or_else(|| r.get("digests_file"))
                    .and_then(|i| item_span(&i)),
                "digests are given but the rule's verifiers do not include \"digests\"",
            );
        }
        if !given && verifiers.contains(&VerifierKind::Digests) {
            self.err(
                t.span(),
                "the digests verifier needs digests = [\"sha256:…\"] or digests_file = \"FILE\"",
            );
        }
        out.sort();
        out.dedup();
        out
    }
}
