//! TUF metadata as Notary v1 writes it: envelopes, roles, meta hashes.
//!
//! Every role file is `{"signed":{…},"signatures":[{"keyid","method","sig"}]}`;
//! the signed bytes are the canonical form of `signed`. Parsing works on the
//! generic JSON value that was hashed, so the fields we read are the fields
//! that were signed.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest as _, Sha256, Sha512};
use time::OffsetDateTime;

use super::canonical::canonical;
use super::keys::{parse_key, short, Key};
use super::TufError;

/// One signature of an envelope.
#[derive(Debug, Clone)]
pub struct Sig {
    pub keyid: String,
    pub method: String,
    pub sig: Vec<u8>,
}

/// A parsed role file.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub signed: Value,
    /// Canonical bytes of `signed`: what the signatures cover.
    pub canonical: Vec<u8>,
    pub signatures: Vec<Sig>,
    /// Size of the file as served.
    pub len: usize,
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, TufError> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| TufError::Format(format!("{what} is not base64")))
}

fn str_field<'a>(v: &'a Value, k: &str, what: &str) -> Result<&'a str, TufError> {
    v.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| TufError::Format(format!("{what}: missing string {k:?}")))
}

fn u64_field(v: &Value, k: &str, what: &str) -> Result<u64, TufError> {
    v.get(k)
        .and_then(Value::as_u64)
        .ok_or_else(|| TufError::Format(format!("{what}: missing unsigned integer {k:?}")))
}

fn obj<'a>(
    v: &'a Value,
    k: &str,
    what: &str,
) -> Result<&'a serde_json::Map<String, Value>, TufError> {
    v.get(k)
        .and_then(Value::as_object)
        .ok_or_else(|| TufError::Format(format!("{what}: missing object {k:?}")))
}

pub fn parse_envelope(bytes: &[u8], role: &str) -> Result<Envelope, TufError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| TufError::Format(format!("{role}: not JSON: {e}")))?;
    let signed = v
        .get("signed")
        .filter(|s| s.is_object())
        .cloned()
        .ok_or_else(|| TufError::Format(format!("{role}: no signed object")))?;
    let mut signatures = Vec::new();
    for s in v
        .get("signatures")
        .and_then(Value::as_array)
        .ok_or_else(|| TufError::Format(format!("{role}: no signatures array")))?
    {
        signatures.push(Sig {
            keyid: str_field(s, "keyid", role)?.to_string(),
            method: str_field(s, "method", role)?.to_string(),
            sig: b64(str_field(s, "sig", role)?, "signature")?,
        });
    }
    Ok(Envelope {
        canonical: canonical(&signed)?,
        signed,
        signatures,
        len: bytes.len(),
    })
}

/// The keys and threshold that may sign a role.
#[derive(Debug, Clone)]
pub struct RoleKeys {
    pub name: String,
    pub keys: BTreeMap<String, Key>,
    pub threshold: usize,
}

/// At least `threshold` distinct keys of the role signed the canonical bytes.
/// Signatures by unknown keys, and bad signatures, do not count.
pub fn verify_threshold(env: &Envelope, role: &RoleKeys) -> Result<(), TufError> {
    if role.threshold == 0 {
        return Err(TufError::Threshold(format!(
            "{}: threshold is 0",
            role.name
        )));
    }
    // Distinct public keys, not key IDs: one key listed twice (as `ecdsa`
    // and `ecdsa-x509`, or in two certificates) is one signer.
    let mut good: Vec<Vec<u8>> = Vec::new();
    let mut errors = Vec::new();
    for s in &env.signatures {
        let Some(k) = role.keys.get(&s.keyid) else {
            continue;
        };
        let who = k.verifier.identity();
        if good.contains(&who) {
            continue;
        }
        match k.verify(&s.method, &env.canonical, &s.sig) {
            Ok(()) => good.push(who),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if good.len() >= role.threshold {
        return Ok(());
    }
    let mut why = format!(
        "{}: {} valid signature(s) from its keys, {} required",
        role.name,
        good.len(),
        role.threshold
    );
    if let Some(e) = errors.first() {
        why.push_str(&format!(" ({e})"));
    }
    Err(TufError::Threshold(why))
}

/// `_type`, `version` and `expires`, common to every role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    pub version: u64,
    pub expires: OffsetDateTime,
}

pub fn common(signed: &Value, ty: &str, role: &str) -> Result<Common, TufError> {
    let t = str_field(signed, "_type", role)?;
    if t != ty {
        return Err(TufError::Format(format!(
            "{role}: _type is {t:?}, expected {ty:?}"
        )));
    }
    let expires = str_field(signed, "expires", role)?;
    let expires = OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
        .map_err(|e| TufError::Format(format!("{role}: bad expires {expires:?}: {e}")))?;
    Ok(Common {
        version: u64_field(signed, "version", role)?,
        expires,
    })
}

impl Common {
    pub fn check_expiry(&self, role: &str, now: OffsetDateTime) -> Result<(), TufError> {
        if self.expires <= now {
            Err(TufError::Expired(format!(
                "{role} expired at {}",
                self.expires
            )))
        } else {
            Ok(())
        }
    }
}

/// Length and hashes of another role file, as snapshot and timestamp list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaEntry {
    pub length: u64,
    pub sha256: Option<Vec<u8>>,
    pub sha512: Option<Vec<u8>>,
}

fn meta_entry(v: &Value, what: &str) -> Result<MetaEntry, TufError> {
    let hashes = obj(v, "hashes", what)?;
    let get = |alg: &str, len: usize| -> Result<Option<Vec<u8>>, TufError> {
        match hashes.get(alg).and_then(Value::as_str) {
            None => Ok(None),
            Some(s) => {
                let h = b64(s, &format!("{what} {alg} hash"))?;
                if h.len() != len {
                    return Err(TufError::Format(format!(
                        "{what}: {alg} hash of wrong length"
                    )));
                }
                Ok(Some(h))
            }
        }
    };
    let e = MetaEntry {
        length: u64_field(v, "length", what)?,
        sha256: get("sha256", 32)?,
        sha512: get("sha512", 64)?,
    };
    if e.sha256.is_none() && e.sha512.is_none() {
        return Err(TufError::Format(format!(
            "{what}: neither sha256 nor sha512 hash"
        )));
    }
    Ok(e)
}

impl MetaEntry {
    /// notary's CheckHashes plus the length: every listed hash must match.
    pub fn check(&self, bytes: &[u8], what: &str) -> Result<(), TufError> {
        if bytes.len() as u64 != self.length {
            return Err(TufError::Hash(format!(
                "{what}: {} bytes, expected {}",
                bytes.len(),
                self.length
            )));
        }
        if let Some(h) = &self.sha256 {
            if Sha256::digest(bytes)[..] != h[..] {
                return Err(TufError::Hash(format!("{what}: sha256 does not match")));
            }
        }
        if let Some(h) = &self.sha512 {
            if Sha512::digest(bytes)[..] != h[..] {
                return Err(TufError::Hash(format!("{what}: sha512 does not match")));
            }
        }
        Ok(())
    }

    /// Lower-case hex sha256, for fetching `<role>.<hash>.json`.
    pub fn sha256_hex(&self) -> Option<String> {
        self.sha256.as_deref().map(super::keys::hex)
    }
}

/// Keys listed in a `keys` object, each ID checked against its content.
fn keys_map(
    v: &serde_json::Map<String, Value>,
    what: &str,
) -> Result<HashMap<String, Key>, TufError> {
    let mut out = HashMap::new();
    for (id, kv) in v {
        let k = parse_key(kv)?;
        if k.id != *id {
            return Err(TufError::Key(format!(
                "{what}: key listed as {} has ID {}",
                short(id),
                short(&k.id)
            )));
        }
        out.insert(id.clone(), k);
    }
    Ok(out)
}

/// `{"keyids":[…],"threshold":N}`.
fn role_keys(
    name: &str,
    def: &Value,
    keys: &HashMap<String, Key>,
    what: &str,
) -> Result<RoleKeys, TufError> {
    let ids = def
        .get("keyids")
        .and_then(Value::as_array)
        .ok_or_else(|| TufError::Format(format!("{what}: role {name} has no keyids")))?;
    let mut rk = BTreeMap::new();
    for id in ids {
        let id = id.as_str().ok_or_else(|| {
            TufError::Format(format!("{what}: role {name}: key ID is not a string"))
        })?;
        // A listed key that is missing cannot sign; it is simply not usable.
        if let Some(k) = keys.get(id) {
            rk.insert(id.to_string(), k.clone());
        }
    }
    let threshold = usize::try_from(u64_field(def, "threshold", what)?).unwrap_or(usize::MAX);
    Ok(RoleKeys {
        name: name.to_string(),
        keys: rk,
        threshold,
    })
}

#[derive(Debug, Clone)]
pub struct Root {
    pub common: Common,
    pub keys: HashMap<String, Key>,
    /// `root`, `targets`, `snapshot`, `timestamp`.
    pub roles: HashMap<String, RoleKeys>,
    /// The root-role keys that counted as root certificates when this root
    /// was validated (expiry aside): the only keys that may sign a
    /// successor. Empty until [`super::root::validate_root`] fills it.
    pub root_certs: RoleKeys,
}

pub fn parse_root(env: &Envelope) -> Result<Root, TufError> {
    let s = &env.signed;
    let common = common(s, "Root", "root")?;
    let keys = keys_map(obj(s, "keys", "root")?, "root")?;
    let mut roles = HashMap::new();
    let defs = obj(s, "roles", "root")?;
    for name in ["root", "targets", "snapshot", "timestamp"] {
        let def = defs
            .get(name)
            .ok_or_else(|| TufError::Format(format!("root: no {name} role")))?;
        roles.insert(name.to_string(), role_keys(name, def, &keys, "root")?);
    }
    let root_certs = RoleKeys {
        name: "root".into(),
        keys: BTreeMap::new(),
        threshold: roles.get("root").map_or(usize::MAX, |r| r.threshold),
    };
    Ok(Root {
        common,
        keys,
        roles,
        root_certs,
    })
}

impl Root {
    pub fn role(&self, name: &str) -> Result<&RoleKeys, TufError> {
        self.roles
            .get(name)
            .ok_or_else(|| TufError::Format(format!("root: no {name} role")))
    }
}

#[derive(Debug, Clone)]
pub struct Timestamp {
    pub common: Common,
    pub snapshot: MetaEntry,
}

pub fn parse_timestamp(env: &Envelope) -> Result<Timestamp, TufError> {
    let s = &env.signed;
    let meta = obj(s, "meta", "timestamp")?;
    let snap = meta
        .get("snapshot")
        .ok_or_else(|| TufError::Format("timestamp: no snapshot meta".into()))?;
    Ok(Timestamp {
        common: common(s, "Timestamp", "timestamp")?,
        snapshot: meta_entry(snap, "timestamp meta for snapshot")?,
    })
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub common: Common,
    pub meta: HashMap<String, MetaEntry>,
}

pub fn parse_snapshot(env: &Envelope) -> Result<Snapshot, TufError> {
    let s = &env.signed;
    let mut meta = HashMap::new();
    for (k, v) in obj(s, "meta", "snapshot")? {
        meta.insert(k.clone(), meta_entry(v, &format!("snapshot meta for {k}"))?);
    }
    Ok(Snapshot {
        common: common(s, "Snapshot", "snapshot")?,
        meta,
    })
}

/// One signed target: a tag and the manifest it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub length: u64,
    /// `sha256:<hex>` of the manifest, when the target carries a sha256.
    pub digest: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DelegatedRole {
    pub keys: RoleKeys,
    pub paths: Vec<String>,
}

impl DelegatedRole {
    /// notary's `CheckPaths`: a target name matches a path prefix ("" is
    /// every name). notary ignores `path_hash_prefixes`, and so do we: a
    /// role limited only by hash prefixes signs nothing.
    pub fn allows(&self, target: &str) -> bool {
        self.paths.iter().any(|p| target.starts_with(p.as_str()))
    }
}

#[derive(Debug, Clone)]
pub struct Targets {
    pub common: Common,
    pub targets: HashMap<String, Target>,
    pub delegations: Vec<DelegatedRole>,
}

pub fn parse_targets(env: &Envelope, role: &str) -> Result<Targets, TufError> {
    let s = &env.signed;
    let mut targets = HashMap::new();
    for (name, t) in obj(s, "targets", role)? {
        let what = format!("{role} target {name:?}");
        let hashes = obj(t, "hashes", &what)?;
        let digest = match hashes.get("sha256").and_then(Value::as_str) {
            Some(h) => {
                let raw = b64(h, &what)?;
                if raw.len() != 32 {
                    return Err(TufError::Format(format!("{what}: sha256 of wrong length")));
                }
                Some(format!("sha256:{}", super::keys::hex(&raw)))
            }
            None => None,
        };
        targets.insert(
            name.clone(),
            Target {
                length: u64_field(t, "length", &what)?,
                digest,
            },
        );
    }
    let mut delegations = Vec::new();
    if let Some(d) = s.get("delegations").filter(|d| !d.is_null()) {
        let keys = match d.get("keys").and_then(Value::as_object) {
            Some(k) => keys_map(k, role)?,
            None => HashMap::new(),
        };
        for r in d
            .get("roles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = str_field(r, "name", role)?;
            // A delegation may only name a role below its parent.
            if !name.starts_with(&format!("{role}/"))
                || name.matches('/').count() != role.matches('/').count() + 1
            {
                return Err(TufError::Format(format!(
                    "{role}: delegates to invalid role {name:?}"
                )));
            }
            let strs = |k: &str| -> Vec<String> {
                r.get(k)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            delegations.push(DelegatedRole {
                keys: role_keys(name, r, &keys, role)?,
                paths: strs("paths"),
            });
        }
    }
    Ok(Targets {
        common: common(s, "Targets", role)?,
        targets,
        delegations,
    })
}
