//! A rule's `notation` table.

use super::*;

impl Parser<'_> {
    /// `[rules.notation]`: `trust_policy` (a file) and `trust_store` (the
    /// `truststore` directory), loaded now so that errors are reported.
    pub(super) fn notation(&mut self, n: Tbl<'_>) -> NotationSpec {
        self.known(n, "[rules.notation]", &["trust_policy", "trust_store"]);
        let policy = self.file(n, "trust_policy");
        let store = match n.get("trust_store") {
            Some(item) => match item.as_str() {
                Some(s) => Some((self.resolve(s, item_span(&item)), item_span(&item))),
                None => {
                    self.err(item_span(&item), "trust_store must be a directory path");
                    None
                }
            },
            None => {
                self.err(n.span(), "[rules.notation] needs trust_store");
                None
            }
        };
        if n.get("trust_policy").is_none() {
            self.err(n.span(), "[rules.notation] needs trust_policy");
        }
        let (Some(trust_policy), Some((trust_store, span))) = (policy, store) else {
            return NotationSpec::default();
        };
        if let Err(e) = crate::trust::notation::NotationConfig::load(&trust_policy, &trust_store) {
            self.err(span, e.to_string());
        }
        NotationSpec {
            trust_policy,
            trust_store,
        }
    }
}
