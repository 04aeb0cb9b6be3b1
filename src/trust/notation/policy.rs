//! Notation's OCI trust policy (`trustpolicy.json` / `trustpolicy.oci.json`,
//! version "1.0"), validated as the Notary Project's trust-store-trust-policy
//! specification and notation-go do, and the choice of the policy for a
//! repository (exact scope first, then the global `*`; none: untrusted).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::dn::{Dn, DnError};

/// Why a trust policy document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the trust policy is not valid JSON of the expected shape: {0}")]
    Json(String),
    #[error("trust policy version {0:?} is not supported (only \"1.0\")")]
    Version(String),
    #[error("the trust policy has no trustPolicies")]
    NoStatements,
    #[error("a trust policy has an empty name")]
    EmptyName,
    #[error("two trust policies are named {0:?}")]
    DuplicateName(String),
    #[error("trust policies {first:?} and {second:?} both use the global scope \"*\"")]
    TwoGlobal { first: String, second: String },
    #[error("registry scope {scope:?} is in trust policies {first:?} and {second:?}")]
    SharedScope {
        scope: String,
        first: String,
        second: String,
    },
    /// A statement (`name`) breaks a rule of its own.
    #[error("trust policy {name:?}: {problem}")]
    Statement {
        name: String,
        problem: StatementError,
    },
}

/// What is wrong inside one trust policy statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("registryScopes is empty")]
    NoScopes,
    #[error("the global scope \"*\" must be the only registry scope of its policy")]
    GlobalNotAlone,
    #[error("registry scope {0:?} has a wildcard; only the global scope \"*\" may")]
    ScopeWildcard(String),
    #[error("registry scope {scope:?} is not a repository: {why}")]
    ScopeNotRepository { scope: String, why: String },
    #[error("registry scope {scope:?} must be a fully qualified repository such as {normalized:?}, without tag or digest")]
    ScopeNotQualified { scope: String, normalized: String },
    #[error("registry scope {0:?} is listed twice")]
    ScopeTwice(String),
    #[error("signature verification level {0:?} is not strict, permissive, audit or skip")]
    Level(String),
    #[error("the skip level cannot be overridden")]
    SkipOverridden,
    #[error("integrity cannot be overridden")]
    IntegrityOverridden,
    #[error("override of unknown validation {0:?} (authenticity, authenticTimestamp, expiry, revocation)")]
    UnknownOverride(String),
    #[error(
        "override {check:?}: {action:?} is not allowed (enforce or log; revocation also skip)"
    )]
    OverrideAction { check: String, action: String },
    #[error("verifyTimestamp {0:?} is not \"always\" or \"afterCertExpiry\"")]
    VerifyTimestamp(String),
    #[error("a skip policy must not name trust stores or trusted identities")]
    SkipWithTrust,
    #[error("trustStores is empty")]
    NoStores,
    #[error("trust store {0:?} is not TYPE:NAME")]
    StoreForm(String),
    #[error("trust store {store:?}: type {kind:?} is not ca, signingAuthority or tsa")]
    StoreType { store: String, kind: String },
    #[error("trust store {0:?}: the name may hold only letters, digits, '_', '.' and '-'")]
    StoreName(String),
    #[error("trust store {0:?} is listed twice")]
    StoreTwice(String),
    #[error("trustedIdentities is empty")]
    NoIdentities,
    #[error("the wildcard trusted identity \"*\" must be the only one")]
    WildcardNotAlone,
    #[error("trusted identity {0:?} must be \"x509.subject: <DN>\" or \"*\"")]
    IdentityForm(String),
    #[error("trusted identity {0:?}: only the x509.subject identity type is supported")]
    IdentityType(String),
    #[error("trusted identity {identity:?}: {source}")]
    IdentityDn { identity: String, source: DnError },
    #[error("trusted identity {identity:?} must contain C, ST (or S) and O; it lacks {lacks}")]
    IdentityIncomplete {
        identity: String,
        lacks: &'static str,
    },
    #[error("trusted identities {0:?} and {1:?} overlap")]
    IdentitiesOverlap(String, String),
}

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
fn valid_scope(s: &str) -> Result<(), StatementError> {
    if s.contains('*') {
        return Err(StatementError::ScopeWildcard(s.to_string()));
    }
    let r = crate::request::reference::Reference::parse_normalized(s).map_err(|e| {
        StatementError::ScopeNotRepository {
            scope: s.to_string(),
            why: e.to_string(),
        }
    })?;
    // Fully qualified and nothing added: `registry` would become
    // docker.io/library/registry:latest.
    if r.name() != s || r.tag.is_some() || r.digest.is_some() {
        return Err(StatementError::ScopeNotQualified {
            scope: s.to_string(),
            normalized: r.name(),
        });
    }
    Ok(())
}

fn identities(raw: &[String]) -> Result<Identities, StatementError> {
    if raw.iter().any(|s| s == "*") {
        if raw.len() > 1 {
            return Err(StatementError::WildcardNotAlone);
        }
        return Ok(Identities::Any);
    }
    let mut dns: Vec<Dn> = Vec::new();
    for s in raw {
        let Some((prefix, dn)) = s.split_once(':') else {
            return Err(StatementError::IdentityForm(s.clone()));
        };
        if prefix.trim() != "x509.subject" {
            return Err(StatementError::IdentityType(s.clone()));
        }
        let dn = Dn::parse(dn.trim()).map_err(|source| StatementError::IdentityDn {
            identity: s.clone(),
            source,
        })?;
        for need in ["C", "ST", "O"] {
            if !dn.0.contains_key(need) {
                return Err(StatementError::IdentityIncomplete {
                    identity: s.clone(),
                    lacks: need,
                });
            }
        }
        if let Some(other) = dns
            .iter()
            .find(|o| o.is_subset_of(&dn) || dn.is_subset_of(o))
        {
            return Err(StatementError::IdentitiesOverlap(
                other.display(),
                dn.display(),
            ));
        }
        dns.push(dn);
    }
    Ok(Identities::Subjects(dns))
}

fn statement(r: RawStatement) -> Result<PolicyStatement, PolicyError> {
    if r.name.trim().is_empty() {
        return Err(PolicyError::EmptyName);
    }
    let name = r.name.clone();
    statement_body(r).map_err(|problem| PolicyError::Statement { name, problem })
}

/// The rules of one named statement.
fn statement_body(r: RawStatement) -> Result<PolicyStatement, StatementError> {
    use StatementError as E;
    let name = r.name;
    if r.registry_scopes.is_empty() {
        return Err(E::NoScopes);
    }
    let global = r.registry_scopes.iter().any(|s| s == "*");
    if global && r.registry_scopes.len() > 1 {
        return Err(E::GlobalNotAlone);
    }
    for (i, s) in r.registry_scopes.iter().enumerate() {
        if !global {
            valid_scope(s)?;
        }
        if r.registry_scopes.iter().take(i).any(|x| x == s) {
            return Err(E::ScopeTwice(s.clone()));
        }
    }
    let v = r.signature_verification;
    let level = match v.level.as_str() {
        "strict" => Level::Strict,
        "permissive" => Level::Permissive,
        "audit" => Level::Audit,
        "skip" => Level::Skip,
        l => return Err(E::Level(l.to_string())),
    };
    let mut overrides = BTreeMap::new();
    if let Some(o) = v.r#override {
        if level == Level::Skip && !o.is_empty() {
            return Err(E::SkipOverridden);
        }
        for (k, a) in o {
            let key = match k.as_str() {
                "authenticity" => "authenticity",
                "authenticTimestamp" => "authenticTimestamp",
                "expiry" => "expiry",
                "revocation" => "revocation",
                "integrity" => return Err(E::IntegrityOverridden),
                _ => return Err(E::UnknownOverride(k)),
            };
            let action = match (a.as_str(), key) {
                ("enforce", _) => Action::Enforce,
                ("log", _) => Action::Log,
                ("skip", "revocation") => Action::Skip,
                _ => {
                    return Err(E::OverrideAction {
                        check: k,
                        action: a,
                    })
                }
            };
            overrides.insert(key, action);
        }
    }
    let verify_timestamp = match v.verify_timestamp.as_deref() {
        None | Some("always") => VerifyTimestamp::Always,
        Some("afterCertExpiry") => VerifyTimestamp::AfterCertExpiry,
        Some(x) => return Err(E::VerifyTimestamp(x.to_string())),
    };
    let raw_stores = r.trust_stores.unwrap_or_default();
    let raw_ids = r.trusted_identities.unwrap_or_default();
    // notation-go allows skip on the global scope of an OCI policy (only
    // the blob policy's global statement may not skip).
    if level == Level::Skip {
        if !raw_stores.is_empty() || !raw_ids.is_empty() {
            return Err(E::SkipWithTrust);
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
        return Err(E::NoStores);
    }
    let mut stores = Vec::new();
    for s in &raw_stores {
        let Some((kind, sname)) = s.split_once(':') else {
            return Err(E::StoreForm(s.clone()));
        };
        let kind = match kind {
            "ca" => StoreType::Ca,
            "signingAuthority" => StoreType::SigningAuthority,
            "tsa" => StoreType::Tsa,
            k => {
                return Err(E::StoreType {
                    store: s.clone(),
                    kind: k.to_string(),
                })
            }
        };
        if !valid_store_name(sname) {
            return Err(E::StoreName(s.clone()));
        }
        let r = StoreRef {
            kind,
            name: sname.to_string(),
        };
        if stores.contains(&r) {
            return Err(E::StoreTwice(s.clone()));
        }
        stores.push(r);
    }
    if raw_ids.is_empty() {
        return Err(E::NoIdentities);
    }
    let identities = identities(&raw_ids)?;
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
    pub fn parse(bytes: &[u8]) -> Result<TrustPolicy, PolicyError> {
        let raw: RawDoc =
            serde_json::from_slice(bytes).map_err(|e| PolicyError::Json(e.to_string()))?;
        if raw.version != "1.0" {
            return Err(PolicyError::Version(raw.version));
        }
        if raw.trust_policies.is_empty() {
            return Err(PolicyError::NoStatements);
        }
        let mut statements: Vec<PolicyStatement> = Vec::new();
        for r in raw.trust_policies {
            let s = statement(r)?;
            if statements.iter().any(|o| o.name == s.name) {
                return Err(PolicyError::DuplicateName(s.name));
            }
            for scope in &s.scopes {
                if let Some(o) = statements.iter().find(|o| o.scopes.contains(scope)) {
                    return Err(if scope == "*" {
                        PolicyError::TwoGlobal {
                            first: o.name.clone(),
                            second: s.name,
                        }
                    } else {
                        PolicyError::SharedScope {
                            scope: scope.clone(),
                            first: o.name.clone(),
                            second: s.name,
                        }
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
        TrustPolicy::parse(&doc(v)).unwrap_err().to_string()
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
                .to_string()
                .contains("only \"1.0\"")
        );
        assert!(TrustPolicy::parse(br#"{"version":"1.0","trustPolicies":[],"x":1}"#).is_err());
    }
}
