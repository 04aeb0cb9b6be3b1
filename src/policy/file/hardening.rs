//! `[hardening]` and its `[[hardening.overrides]]`.

use super::*;

impl Parser<'_> {
    /// A driver allowlist: names only, never a path (dockerd would load a
    /// plugin from a path, which no policy may allow).
    pub(super) fn driver_names(&mut self, h: Tbl<'_>, key: &str) -> Option<Vec<String>> {
        let names = self.strings(h, key);
        if let Some(arr) = h.get(key).as_ref().and_then(|i| i.as_array()) {
            for v in arr.iter() {
                let Some(n) = v.as_str() else { continue };
                if n.is_empty() || n.contains('/') || n.contains("..") {
                    self.err(
                        v.span(),
                        format!("{key}: {n:?} is not a driver name (no '/', no '..', not empty)"),
                    );
                }
            }
        }
        names
    }

    /// A `[hardening]` table (or an override): every key by its kind
    /// (`hardening_table!`), then the checks of particular keys.
    pub(super) fn hardening_spec(&mut self, h: Tbl<'_>) -> HardeningSpec {
        let mut spec = self.hardening_fields(h);
        for p in spec.bind_mounts.iter().flatten() {
            if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
                self.err(
                    h.get("bind_mounts").and_then(|i| item_span(&i)),
                    format!("bind mount path {p:?} must be absolute, without '..'"),
                );
            }
        }
        for d in spec.seccomp_profiles.iter_mut().flatten() {
            match crate::policy::seccomp::parse_digest(d) {
                Some(ok) => *d = ok,
                None => self.err(
                    h.get("seccomp_profiles").and_then(|i| item_span(&i)),
                    format!("seccomp profile digest {d:?} must be sha256: and 64 hex digits"),
                ),
            }
        }
        spec
    }

    pub(super) fn hardening(&mut self, h: Tbl<'_>) -> Hardening {
        let mut keys: Vec<&str> = HARDENING_KEYS.to_vec();
        keys.extend(["mode", "overrides"]);
        self.known(h, "[hardening]", &keys);
        let mut out = Hardening {
            mode: self.mode(h).unwrap_or_default(),
            base: self.hardening_spec(h),
            overrides: Vec::new(),
        };
        if let Some(item) = h.get("overrides") {
            match &item {
                Item::ArrayOfTables(a) => {
                    for t in a.iter() {
                        let o = Tbl::Section(t);
                        let mut keys: Vec<&str> = HARDENING_KEYS.to_vec();
                        keys.push("users");
                        self.known(o, "[[hardening.overrides]]", &keys);
                        let users = self.strings(o, "users").unwrap_or_default();
                        if users.is_empty() {
                            self.err(t.span(), "an override needs users = [...]");
                        }
                        out.overrides.push(HardeningOverride {
                            users,
                            spec: self.hardening_spec(o),
                        });
                    }
                }
                other => self.err(
                    item_span(other),
                    "overrides must be [[hardening.overrides]] tables",
                ),
            }
        }
        out
    }
}
