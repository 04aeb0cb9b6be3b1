//! A rule's `notary` table: server, TLS CA, trust on first use, signers, root pin.

use super::*;

impl Parser<'_> {
    pub(super) fn notary(&mut self, n: Tbl<'_>) -> NotarySpec {
        self.known(
            n,
            "[rules.notary]",
            &[
                "server",
                "tls_ca",
                "trust_on_first_use",
                "signers",
                "root_pin",
            ],
        );
        let server = self.string(n, "server");
        if let Some(s) = &server {
            if !s.starts_with("https://") {
                self.err(
                    n.get("server").and_then(|i| item_span(&i)),
                    "server must be an https:// URL",
                );
            }
        }
        let signers = self.strings(n, "signers").unwrap_or_default();
        for s in &signers {
            if !crate::config::is_delegation_role(s) {
                self.err(
                    n.get("signers").and_then(|i| item_span(&i)),
                    format!("signer {s:?} is not a delegation role (targets/NAME)"),
                );
            }
        }
        let mut root_pin = None;
        if let Some(item) = n.get("root_pin") {
            match Tbl::of(&item) {
                Some(p) => {
                    self.known(p, "root_pin", &["certs", "ca", "key"]);
                    let given = ["certs", "ca", "key"]
                        .iter()
                        .filter(|k| p.get(k).is_some())
                        .count();
                    if given != 1 {
                        self.err(p.span(), "root_pin takes exactly one of certs, ca or key");
                    } else if let Some(ids) = self.strings(p, "certs") {
                        for id in &ids {
                            if !crate::config::is_cert_id(id) {
                                self.err(
                                    p.get("certs").and_then(|i| item_span(&i)),
                                    format!("root certificate ID {id:?} is not 64 hex digits"),
                                );
                            }
                        }
                        root_pin = Some(PinSpec::Certs(
                            ids.iter().map(|i| i.to_ascii_lowercase()).collect(),
                        ));
                    } else if let Some(f) = self.file(p, "ca") {
                        root_pin = Some(PinSpec::Ca(f));
                    } else if let Some(f) = self.file(p, "key") {
                        root_pin = Some(PinSpec::Key(f));
                    }
                }
                None => self.err(item_span(&item), "root_pin must be a table"),
            }
        }
        NotarySpec {
            server,
            tls_ca: self.file(n, "tls_ca"),
            tofu: self.boolean(n, "trust_on_first_use"),
            signers,
            root_pin,
        }
    }
}
