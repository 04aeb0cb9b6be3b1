//! Notation's OCI trust policy (`trustpolicy.json` / `trustpolicy.oci.json`,
//! version "1.0"), validated as the Notary Project's trust-store-trust-policy
//! specification and notation-go do, and the choice of the policy for a
//! repository (exact scope first, then the global `*`; none: untrusted).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::dn::Dn;

/// What a validation step failing does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Enforce,
    Log,
    Skip,
}

/// The checks of the specification's level table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Integrity,
    Authenticity,
    AuthenticTimestamp,
    Expiry,
    Revocation,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::Integrity => "integrity",
            Check::Authenticity => "authenticity",
            Check::AuthenticTimestamp => "authenticTimestamp",
            Check::Expiry => "expiry",
            Check::Revocation => "revocation",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Strict,
    Permissive,
    Audit,
    Skip,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Strict => "strict",
            Level::Permissive => "permissive",
            Level::Audit => "audit",
            Level::Skip => "skip",
        }
    }

    /// The specification's table.
    fn default_action(self, c: Check) -> Action {
        use Action::*;
        match (self, c) {
            (Level::Skip, _) => Skip,
            (Level::Strict, _) | (_, Check::Integrity) => Enforce,
            (Level::Permissive, Check::Authenticity) => Enforce,
            _ => Log,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyTimestamp {
    Always,
    AfterCertExpiry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreType {
    Ca,
    SigningAuthority,
    Tsa,
}

impl StoreType {
    pub fn dir(self) -> &'static str {
        match self {
            StoreType::Ca => "ca",
            StoreType::SigningAuthority => "signingAuthority",
            StoreType::Tsa => "tsa",
        }
    }
}

/// `ca:acme` and the like.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoreRef {
    pub kind: StoreType,
    pub name: String,
}

impl std::fmt::Display for StoreRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.dir(), self.name)
    }
}

/// A store name notation-go accepts.
pub fn valid_store_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identities {
    Any,
    Subjects(Vec<Dn>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyStatement {
    pub name: String,
    pub scopes: Vec<String>,
    pub level: Level,
    pub overrides: BTreeMap<&'static str, Action>,
    pub verify_timestamp: VerifyTimestamp,
    pub stores: Vec<StoreRef>,
    pub identities: Identities,
}

impl PolicyStatement {
    /// What failing `c` does under this statement.
    pub fn action(&self, c: Check) -> Action {
        if self.level == Level::Skip {
            return Action::Skip;
        }
        self.overrides
            .get(c.name())
            .copied()
            .unwrap_or_else(|| self.level.default_action(c))
    }

    pub fn stores_of(&self, kind: StoreType) -> impl Iterator<Item = &StoreRef> {
        self.stores.iter().filter(move |s| s.kind == kind)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicy {
    pub statements: Vec<PolicyStatement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDoc {
    version: String,
    #[serde(rename = "trustPolicies")]
    trust_policies: Vec<RawStatement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawStatement {
    name: String,
    registry_scopes: Vec<String>,
    signature_verification: RawVerification,
    #[serde(default)]
    trust_stores: Option<Vec<String>>,
    #[serde(default)]
    trusted_identities: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawVerification {
    level: String,
    #[serde(default)]
    r#override: Option<BTreeMap<String, String>>,
    #[serde(default)]
    verify_timestamp: Option<String>,
}

/// A scope is `registry/repository`, fully qualified, without wildcards.
fn valid_scope(s: &str) -> Result<(), String> {
    if s.contains('*') {
        return Err(format!(
            "registry scope {s:?} has a wildcard; only the global scope \"*\" may"
        ));
    }
    let r = crate::request::reference::Reference::parse_normalized(s)
        .map_err(|e| format!("registry scope {s:?} is not a repository: {e}"))?;
    // Fully qualified and nothing added: `registry` would become
    // docker.io/library/registry:latest.
    if r.name() != s || r.tag.is_some() || r.digest.is_some() {
        return Err(format!(
            "registry scope {s:?} must be a fully qualified repository such as {:?}, without tag or digest",
            r.name()
        ));
    }
    Ok(())
}

fn identities(name: &str, raw: &[String]) -> Result<Identities, String> {
    let p = |m: String| format!("trust policy {name:?}: {m}");
    if raw.iter().any(|s| s == "*") {
        if raw.len() > 1 {
            return Err(p(
                "the wildcard trusted identity \"*\" must be the only one".into(),
            ));
        }
        return Ok(Identities::Any);
    }
    let mut dns: Vec<Dn> = Vec::new();
    for s in raw {
        let Some((prefix, dn)) = s.split_once(':') else {
            return Err(p(format!(
                "trusted identity {s:?} must be \"x509.subject: <DN>\" or \"*\""
            )));
        };
        if prefix.trim() != "x509.subject" {
            return Err(p(format!(
                "trusted identity {s:?}: only the x509.subject identity type is supported"
            )));
        }
        let dn = Dn::parse(dn.trim()).map_err(|e| p(format!("trusted identity {s:?}: {e}")))?;
        for need in ["C", "ST", "O"] {
            if !dn.0.contains_key(need) {
                return Err(p(format!(
                    "trusted identity {s:?} must contain C, ST (or S) and O; it lacks {need}"
                )));
            }
        }
        if let Some(other) = dns
            .iter()
            .find(|o| o.is_subset_of(&dn) || dn.is_subset_of(o))
        {
            return Err(p(format!(
                "trusted identities {:?} and {:?} overlap",
                other.display(),
                dn.display()
            )));
        }
        dns.push(dn);
    }
    Ok(Identities::Subjects(dns))
}

fn statement(r: RawStatement) -> Result<PolicyStatement, String> {
    let name = r.name;
    if name.trim().is_empty() {
        return Err("a trust policy has an empty name".into());
    }
    let p = |m: String| format!("trust policy {name:?}: {m}");
    if r.registry_scopes.is_empty() {
        return Err(p("registryScopes is empty".into()));
    }
    let global = r.registry_scopes.iter().any(|s| s == "*");
    if global && r.registry_scopes.len() > 1 {
        return Err(p(
            "the global scope \"*\" must be the only registry scope of its policy".into(),
        ));
    }
    for (i, s) in r.registry_scopes.iter().enumerate() {
        if !global {
            valid_scope(s).map_err(p)?;
        }
        if r.registry_scopes.iter().take(i).any(|x| x == s) {
            return Err(p(format!("registry scope {s:?} is listed twice")));
        }
    }
    let v = r.signature_verification;
    let level = match v.level.as_str() {
        "strict" => Level::Strict,
        "permissive" => Level::Permissive,
        "audit" => Level::Audit,
        "skip" => Level::Skip,
        l => {
            return Err(p(format!(
                "signature verification level {l:?} is not strict, permissive, audit or skip"
            )))
        }
    };
    let mut overrides = BTreeMap::new();
    if let Some(o) = v.r#override {
        if level == Level::Skip && !o.is_empty() {
            return Err(p("the skip level cannot be overridden".into()));
        }
        for (k, a) in o {
            let key = match k.as_str() {
                "authenticity" => "authenticity",
                "authenticTimestamp" => "authenticTimestamp",
                "expiry" => "expiry",
                "revocation" => "revocation",
                "integrity" => return Err(p("integrity cannot be overridden".into())),
                _ => {
                    return Err(p(format!(
                        "override of unknown validation {k:?} (authenticity, authenticTimestamp, expiry, revocation)"
                    )))
                }
            };
            let action = match (a.as_str(), key) {
                ("enforce", _) => Action::Enforce,
                ("log", _) => Action::Log,
                ("skip", "revocation") => Action::Skip,
                _ => {
                    return Err(p(format!(
                    "override {k:?}: {a:?} is not allowed (enforce or log; revocation also skip)"
                )))
                }
            };
            overrides.insert(key, action);
        }
    }
    let verify_timestamp = match v.verify_timestamp.as_deref() {
        None | Some("always") => VerifyTimestamp::Always,
        Some("afterCertExpiry") => VerifyTimestamp::AfterCertExpiry,
        Some(x) => {
            return Err(p(format!(
                "verifyTimestamp {x:?} is not \"always\" or \"afterCertExpiry\""
            )))
        }
    };
    let raw_stores = r.trust_stores.unwrap_or_default();
    let raw_ids = r.trusted_identities.unwrap_or_default();
    // notation-go allows skip on the global scope of an OCI policy (only
    // the blob policy's global statement may not skip).
    if level == Level::Skip {
        if !raw_stores.is_empty() || !raw_ids.is_empty() {
            return Err(p(
                "a skip policy must not name trust stores or trusted identities".into(),
            ));
        }
        return Ok(PolicyStatement {
            name,
            scopes: r.registry_scopes,
            level,
            overrides,
            verify_timestamp,
            stores: Vec::new(),
            identities: Identities::Any,
        });
    }
    if raw_stores.is_empty() {
        return Err(p("trustStores is empty".into()));
    }
    let mut stores = Vec::new();
    for s in &raw_stores {
        let Some((kind, sname)) = s.split_once(':') else {
            return Err(p(format!("trust store {s:?} is not TYPE:NAME")));
        };
        let kind = match kind {
            "ca" => StoreType::Ca,
            "signingAuthority" => StoreType::SigningAuthority,
            "tsa" => StoreType::Tsa,
            k => {
                return Err(p(format!(
                    "trust store {s:?}: type {k:?} is not ca, signingAuthority or tsa"
                )))
            }
        };
        if !valid_store_name(sname) {
            return Err(p(format!(
                "trust store {s:?}: the name may hold only letters, digits, '_', '.' and '-'"
            )));
        }
        let r = StoreRef {
            kind,
            name: sname.to_string(),
        };
        if stores.contains(&r) {
            return Err(p(format!("trust store {s:?} is listed twice")));
        }
        stores.push(r);
    }
    if raw_ids.is_empty() {
        return Err(p("trustedIdentities is empty".into()));
    }
    let identities = identities(&name, &raw_ids)?;
    Ok(PolicyStatement {
        name,
        scopes: r.registry_scopes,
        level,
        overrides,
        verify_timestamp,
        stores,
        identities,
    })
}

impl TrustPolicy {
    pub fn parse(bytes: &[u8]) -> Result<TrustPolicy, String> {
        let raw: RawDoc = serde_json::from_slice(bytes).map_err(|e| {
            format!("the trust policy is not valid JSON of the expected shape: {e}")
        })?;
        if raw.version != "1.0" {
            return Err(format!(
                "trust policy version {:?} is not supported (only \"1.0\")",
                raw.version
            ));
        }
        if raw.trust_policies.is_empty() {
            return Err("the trust policy has no trustPolicies".into());
        }
        let mut statements: Vec<PolicyStatement> = Vec::new();
        for r in raw.trust_policies {
            let s = statement(r)?;
            if statements.iter().any(|o| o.name == s.name) {
                return Err(format!("two trust policies are named {:?}", s.name));
            }
            for scope in &s.scopes {
                if let Some(o) = statements.iter().find(|o| o.scopes.contains(scope)) {
                    return Err(if scope == "*" {
                        format!(
                            "trust policies {:?} and {:?} both use the global scope \"*\"",
                            o.name, s.name
                        )
                    } else {
                        format!(
                            "registry scope {scope:?} is in trust policies {:?} and {:?}",
                            o.name, s.name
                        )
                    });
                }
            }
            statements.push(s);
        }
        Ok(TrustPolicy { statements })
    }

    /// The statement for `repository` (`registry/path`): its exact scope,
    /// else the global one.
    pub fn select(&self, repository: &str) -> Option<&PolicyStatement> {
        self.statements
            .iter()
            .find(|s| s.scopes.iter().any(|x| x == repository))
            .or_else(|| {
                self.statements
                    .iter()
                    .find(|s| s.scopes.first().is_some_and(|x| x == "*"))
            })
    }

    /// Every store any statement references.
    pub fn referenced_stores(&self) -> Vec<StoreRef> {
        let mut v: Vec<StoreRef> = self
            .statements
            .iter()
            .flat_map(|s| s.stores.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(statements: serde_json::Value) -> Vec<u8> {
        serde_json::json!({"version": "1.0", "trustPolicies": statements})
            .to_string()
            .into_bytes()
    }

    fn st(name: &str, scopes: &[&str], level: &str) -> serde_json::Value {
        serde_json::json!({
            "name": name, "registryScopes": scopes,
            "signatureVerification": {"level": level},
            "trustStores": ["ca:acme"],
            "trustedIdentities": ["x509.subject: C=US, ST=WA, O=acme"],
        })
    }

    fn err(v: serde_json::Value) -> String {
        TrustPolicy::parse(&doc(v)).unwrap_err()
    }

    #[test]
    fn selection_prefers_the_exact_scope_then_the_global_one() {
        let p = TrustPolicy::parse(&doc(serde_json::json!([
            st("global", &["*"], "audit"),
            st(
                "app",
                &["r.io/team/app", "docker.io/library/alpine"],
                "strict"
            ),
        ])))
        .unwrap();
        assert_eq!(p.select("r.io/team/app").unwrap().name, "app");
        assert_eq!(p.select("docker.io/library/alpine").unwrap().name, "app");
        assert_eq!(p.select("r.io/team/other").unwrap().name, "global");
        let p = TrustPolicy::parse(&doc(serde_json::json!([st("app", &["r.io/a"], "strict")])))
            .unwrap();
        assert!(p.select("r.io/b").is_none());
        assert!(p.select("r.io/a/b").is_none());
    }

    #[test]
    fn levels_and_overrides_follow_the_table() {
        let mut s = st("a", &["r.io/a"], "audit");
        s["signatureVerification"]["override"] =
            serde_json::json!({"authenticity": "enforce", "revocation": "skip"});
        let p = TrustPolicy::parse(&doc(serde_json::json!([
            s,
            st("b", &["r.io/b"], "permissive")
        ])))
        .unwrap();
        let a = &p.statements[0];
        assert_eq!(a.action(Check::Integrity), Action::Enforce);
        assert_eq!(a.action(Check::Authenticity), Action::Enforce);
        assert_eq!(a.action(Check::Expiry), Action::Log);
        assert_eq!(a.action(Check::Revocation), Action::Skip);
        let b = &p.statements[1];
        assert_eq!(b.action(Check::Authenticity), Action::Enforce);
        assert_eq!(b.action(Check::AuthenticTimestamp), Action::Log);
        assert_eq!(b.action(Check::Revocation), Action::Log);
    }

    #[test]
    fn invalid_policies_are_rejected_with_the_reason() {
        let mut skip_with_stores = st("s", &["r.io/s"], "skip");
        skip_with_stores["trustStores"] = serde_json::json!(["ca:x"]);
        let mut no_o = st("n", &["r.io/n"], "strict");
        no_o["trustedIdentities"] = serde_json::json!(["x509.subject: C=US, ST=WA, CN=x"]);
        let mut overlap = st("o", &["r.io/o"], "strict");
        overlap["trustedIdentities"] = serde_json::json!([
            "x509.subject: C=US, ST=WA, O=acme",
            "x509.subject: C=US, ST=WA, O=acme, OU=dev"
        ]);
        let mut integrity = st("i", &["r.io/i"], "strict");
        integrity["signatureVerification"]["override"] = serde_json::json!({"integrity": "log"});
        let mut expiry_skip = st("e", &["r.io/e"], "strict");
        expiry_skip["signatureVerification"]["override"] = serde_json::json!({"expiry": "skip"});
        let mut bad_store = st("b", &["r.io/b"], "strict");
        bad_store["trustStores"] = serde_json::json!(["x509:acme"]);
        let mut wild_and_more = st("w", &["r.io/w"], "strict");
        wild_and_more["trustedIdentities"] =
            serde_json::json!(["*", "x509.subject: C=US, ST=WA, O=acme"]);
        let cases = [
            (
                serde_json::json!([st("a", &["*"], "strict"), st("b", &["*"], "audit")]),
                "both use the global scope",
            ),
            (
                serde_json::json!([st("a", &["*", "r.io/a"], "strict")]),
                "must be the only registry scope",
            ),
            (
                serde_json::json!([
                    st("a", &["r.io/a"], "strict"),
                    st("b", &["r.io/a"], "strict")
                ]),
                "is in trust policies",
            ),
            (
                serde_json::json!([
                    st("a", &["r.io/a"], "strict"),
                    st("a", &["r.io/b"], "strict")
                ]),
                "two trust policies are named",
            ),
            (
                serde_json::json!([st("a", &["r.io/*"], "strict")]),
                "wildcard",
            ),
            (
                serde_json::json!([st("a", &["alpine"], "strict")]),
                "fully qualified",
            ),
            (
                serde_json::json!([st("a", &["r.io/a:v1"], "strict")]),
                "without tag",
            ),
            (
                serde_json::json!([st("a", &["r.io/a"], "lenient")]),
                "not strict, permissive",
            ),
            (
                serde_json::json!([skip_with_stores]),
                "must not name trust stores",
            ),
            (serde_json::json!([no_o]), "must contain C, ST (or S) and O"),
            (serde_json::json!([overlap]), "overlap"),
            (
                serde_json::json!([integrity]),
                "integrity cannot be overridden",
            ),
            (serde_json::json!([expiry_skip]), "is not allowed"),
            (
                serde_json::json!([bad_store]),
                "is not ca, signingAuthority or tsa",
            ),
            (serde_json::json!([wild_and_more]), "must be the only one"),
            (serde_json::json!([]), "no trustPolicies"),
        ];
        for (v, want) in cases {
            let e = err(v.clone());
            assert!(e.contains(want), "{v}: {e}");
        }
        assert!(
            TrustPolicy::parse(br#"{"version":"2.0","trustPolicies":[]}"#)
                .unwrap_err()
                .contains("only \"1.0\"")
        );
        assert!(TrustPolicy::parse(br#"{"version":"1.0","trustPolicies":[],"x":1}"#).is_err());
    }
}
