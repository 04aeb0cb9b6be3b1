//! TUF metadata as Notary v1 writes it: envelopes, roles, meta hashes.
//!
//! Every role file is `{"signed":{…},"signatures":[{"keyid","method","sig"}]}`;
//! the signed bytes are the canonical form of `signed`. The server chooses
//! these files, so they are read in memory proportional to their size: the
//! canonical form is written straight from the text (no JSON tree, which
//! costs tens of times the text), and the fields we use are then read, in
//! typed form, from those canonical bytes, so that they are the fields that
//! were signed. Every map and list keeps at most a bounded number of
//! entries; unknown fields are skipped without being kept.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, IgnoredAny};
use serde::Deserialize;
use sha2::{Digest as _, Sha256, Sha512};
use time::OffsetDateTime;

use super::canonical::Canon;
use super::keys::{key_from_parts, short, Key};
use super::TufError;

/// At most this many signatures, keys, key IDs, delegated roles, paths and
/// hashes per role file; listed roles in a snapshot; targets in a targets
/// file. Real repositories stay far below (a few roles, thousands of tags).
pub const MAX_SIGNATURES: usize = 64;
pub const MAX_KEYS: usize = 256;
pub const MAX_DELEGATIONS: usize = 1024;
pub const MAX_PATHS: usize = 1024;
pub const MAX_META: usize = 4096;
pub const MAX_TARGETS: usize = 200_000;

/// A list that refuses more than `N` entries (and so never holds them).
#[derive(Debug)]
pub struct BoundedVec<T, const N: usize>(pub Vec<T>);

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for BoundedVec<T, N> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> de::Visitor<'de> for V<T, N> {
            type Value = BoundedVec<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a list of at most {N} entries")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = a.next_element()? {
                    if out.len() == N {
                        return Err(de::Error::custom(format!("more than {N} list entries")));
                    }
                    out.push(x);
                }
                Ok(BoundedVec(out))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

/// A map that refuses more than `N` entries (and so never holds them).
#[derive(Debug)]
pub struct BoundedMap<T, const N: usize>(pub BTreeMap<String, T>);

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for BoundedMap<T, N> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> de::Visitor<'de> for V<T, N> {
            type Value = BoundedMap<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an object of at most {N} entries")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(k) = a.next_key::<String>()? {
                    if out.len() == N {
                        return Err(de::Error::custom(format!("more than {N} object entries")));
                    }
                    let v = a.next_value()?;
                    // Canonical input has no duplicate keys; refuse them anyway.
                    if out.insert(k, v).is_some() {
                        return Err(de::Error::custom("duplicate key"));
                    }
                }
                Ok(BoundedMap(out))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// One signature of an envelope.
#[derive(Debug, Clone)]
pub struct Sig {
    pub keyid: String,
    pub method: String,
    pub sig: Vec<u8>,
}

#[derive(Deserialize)]
struct RawSig {
    keyid: String,
    method: String,
    sig: String,
}

/// A parsed role file.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Canonical bytes of `signed`: what the signatures cover, and what the
    /// role's fields are read from.
    pub canonical: Vec<u8>,
    pub signatures: Vec<Sig>,
    /// Size of the file as served.
    pub len: usize,
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, TufError> {
    crate::trust::encoding::b64_decode(s)
        .map_err(|_| TufError::Format(format!("{what} is not base64")))
}

/// The top level of a role file: `signed` canonicalised as it streams by,
/// `signatures` bounded, anything else skipped.
struct EnvelopeVisitor;

type RawEnvelope = (Option<Vec<u8>>, Option<BoundedVec<RawSig, MAX_SIGNATURES>>);

impl<'de> de::Visitor<'de> for EnvelopeVisitor {
    type Value = RawEnvelope;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a role file object")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> Result<RawEnvelope, A::Error> {
        let (mut signed, mut sigs) = (None, None);
        while let Some(k) = a.next_key::<std::borrow::Cow<'de, str>>()? {
            match k.as_ref() {
                "signed" if signed.is_none() => {
                    let mut out = Vec::new();
                    a.next_value_seed(Canon { out: &mut out })?;
                    signed = Some(out);
                }
                "signatures" if sigs.is_none() => sigs = Some(a.next_value()?),
                "signed" | "signatures" => {
                    return Err(de::Error::custom(format!("duplicate {k:?}")))
                }
                _ => {
                    a.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((signed, sigs))
    }
}

pub fn parse_envelope(bytes: &[u8], role: &str) -> Result<Envelope, TufError> {
    let mut d = serde_json::Deserializer::from_slice(bytes);
    let (signed, sigs) = de::Deserializer::deserialize_map(&mut d, EnvelopeVisitor)
        .and_then(|v| d.end().map(|()| v))
        .map_err(|e| TufError::Format(format!("{role}: not a role file: {e}")))?;
    let canonical = signed
        .filter(|c| c.first() == Some(&b'{'))
        .ok_or_else(|| TufError::Format(format!("{role}: no signed object")))?;
    let sigs = sigs.ok_or_else(|| TufError::Format(format!("{role}: no signatures array")))?;
    let mut signatures = Vec::with_capacity(sigs.0.len());
    for s in sigs.0 {
        signatures.push(Sig {
            keyid: s.keyid,
            method: s.method,
            sig: b64(&s.sig, "signature")?,
        });
    }
    Ok(Envelope {
        canonical,
        signatures,
        len: bytes.len(),
    })
}

/// The typed fields of `signed`, read from its canonical bytes.
fn typed<'a, T: Deserialize<'a>>(env: &'a Envelope, role: &str) -> Result<T, TufError> {
    serde_json::from_slice(&env.canonical).map_err(|e| TufError::Format(format!("{role}: {e}")))
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

/// `_type`, `expires` and `version` as they appear in every role.
#[derive(Deserialize)]
struct CommonWire {
    #[serde(rename = "_type")]
    ty: String,
    expires: String,
    version: u64,
}

fn common(c: &CommonWire, ty: &str, role: &str) -> Result<Common, TufError> {
    if c.ty != ty {
        return Err(TufError::Format(format!(
            "{role}: _type is {:?}, expected {ty:?}",
            c.ty
        )));
    }
    let expires = OffsetDateTime::parse(&c.expires, &time::format_description::well_known::Rfc3339)
        .map_err(|e| TufError::Format(format!("{role}: bad expires {:?}: {e}", c.expires)))?;
    Ok(Common {
        version: c.version,
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

/// Hashes by algorithm; others are skipped.
#[derive(Deserialize, Default)]
struct HashesWire {
    sha256: Option<String>,
    sha512: Option<String>,
}

#[derive(Deserialize)]
struct MetaWire {
    length: u64,
    hashes: HashesWire,
}

fn meta_entry(v: &MetaWire, what: &str) -> Result<MetaEntry, TufError> {
    let get = |h: &Option<String>, alg: &str, len: usize| -> Result<Option<Vec<u8>>, TufError> {
        match h {
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
        length: v.length,
        sha256: get(&v.hashes.sha256, "sha256", 32)?,
        sha512: get(&v.hashes.sha512, "sha512", 64)?,
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

#[derive(Deserialize)]
struct KeyValWire {
    public: String,
    /// Present and not null: a private key, refused.
    #[serde(default)]
    private: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct KeyWire {
    keytype: String,
    keyval: KeyValWire,
}

type KeysWire = BoundedMap<KeyWire, MAX_KEYS>;

/// Keys listed in a `keys` object, each ID checked against its content.
fn keys_map(v: &KeysWire, what: &str) -> Result<HashMap<String, Key>, TufError> {
    let mut out = HashMap::new();
    for (id, kv) in &v.0 {
        let k = key_from_parts(&kv.keytype, &kv.keyval.public, kv.keyval.private.is_some())?;
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
#[derive(Deserialize)]
struct RoleWire {
    keyids: BoundedVec<String, MAX_KEYS>,
    threshold: u64,
}

fn role_keys(name: &str, def: &RoleWire, keys: &HashMap<String, Key>) -> RoleKeys {
    let mut rk = BTreeMap::new();
    for id in &def.keyids.0 {
        // A listed key that is missing cannot sign; it is simply not usable.
        if let Some(k) = keys.get(id) {
            rk.insert(id.to_string(), k.clone());
        }
    }
    RoleKeys {
        name: name.to_string(),
        keys: rk,
        threshold: usize::try_from(def.threshold).unwrap_or(usize::MAX),
    }
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

#[derive(Deserialize)]
struct RootWire {
    #[serde(rename = "_type")]
    ty: String,
    expires: String,
    version: u64,
    keys: KeysWire,
    roles: BoundedMap<RoleWire, 16>,
}

pub fn parse_root(env: &Envelope) -> Result<Root, TufError> {
    let w: RootWire = typed(env, "root")?;
    let common = common(
        &CommonWire {
            ty: w.ty,
            expires: w.expires,
            version: w.version,
        },
        "Root",
        "root",
    )?;
    let keys = keys_map(&w.keys, "root")?;
    let mut roles = HashMap::new();
    for name in ["root", "targets", "snapshot", "timestamp"] {
        let def = w
            .roles
            .0
            .get(name)
            .ok_or_else(|| TufError::Format(format!("root: no {name} role")))?;
        roles.insert(name.to_string(), role_keys(name, def, &keys));
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

#[derive(Deserialize)]
struct MetaRoleWire {
    #[serde(rename = "_type")]
    ty: String,
    expires: String,
    version: u64,
    meta: BoundedMap<MetaWire, MAX_META>,
}

impl MetaRoleWire {
    fn common(&self, ty: &str, role: &str) -> Result<Common, TufError> {
        common(
            &CommonWire {
                ty: self.ty.clone(),
                expires: self.expires.clone(),
                version: self.version,
            },
            ty,
            role,
        )
    }
}

pub fn parse_timestamp(env: &Envelope) -> Result<Timestamp, TufError> {
    let w: MetaRoleWire = typed(env, "timestamp")?;
    let snap = w
        .meta
        .0
        .get("snapshot")
        .ok_or_else(|| TufError::Format("timestamp: no snapshot meta".into()))?;
    Ok(Timestamp {
        common: w.common("Timestamp", "timestamp")?,
        snapshot: meta_entry(snap, "timestamp meta for snapshot")?,
    })
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub common: Common,
    pub meta: HashMap<String, MetaEntry>,
}

pub fn parse_snapshot(env: &Envelope) -> Result<Snapshot, TufError> {
    let w: MetaRoleWire = typed(env, "snapshot")?;
    let common = w.common("Snapshot", "snapshot")?;
    let mut meta = HashMap::new();
    for (k, v) in &w.meta.0 {
        meta.insert(k.clone(), meta_entry(v, &format!("snapshot meta for {k}"))?);
    }
    Ok(Snapshot { common, meta })
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

#[derive(Deserialize)]
struct DelegatedRoleWire {
    name: String,
    keyids: BoundedVec<String, MAX_KEYS>,
    threshold: u64,
    #[serde(default)]
    paths: Option<BoundedVec<String, MAX_PATHS>>,
}

#[derive(Deserialize)]
struct DelegationsWire {
    #[serde(default)]
    keys: Option<KeysWire>,
    #[serde(default)]
    roles: Option<BoundedVec<DelegatedRoleWire, MAX_DELEGATIONS>>,
}

#[derive(Deserialize)]
struct TargetsWire {
    #[serde(rename = "_type")]
    ty: String,
    expires: String,
    version: u64,
    targets: BoundedMap<MetaWire, MAX_TARGETS>,
    #[serde(default)]
    delegations: Option<DelegationsWire>,
}

pub fn parse_targets(env: &Envelope, role: &str) -> Result<Targets, TufError> {
    let w: TargetsWire = typed(env, role)?;
    let common = common(
        &CommonWire {
            ty: w.ty,
            expires: w.expires,
            version: w.version,
        },
        "Targets",
        role,
    )?;
    let mut targets = HashMap::with_capacity(w.targets.0.len());
    for (name, t) in w.targets.0 {
        let what = format!("{role} target {name:?}");
        let digest = match &t.hashes.sha256 {
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
            name,
            Target {
                length: t.length,
                digest,
            },
        );
    }
    let mut delegations = Vec::new();
    if let Some(d) = w.delegations {
        let keys = match &d.keys {
            Some(k) => keys_map(k, role)?,
            None => HashMap::new(),
        };
        for r in d.roles.map(|r| r.0).unwrap_or_default() {
            let name = r.name.as_str();
            // A delegation may only name a role below its parent.
            if !name.starts_with(&format!("{role}/"))
                || name.matches('/').count() != role.matches('/').count() + 1
            {
                return Err(TufError::Format(format!(
                    "{role}: delegates to invalid role {name:?}"
                )));
            }
            let def = RoleWire {
                keyids: r.keyids,
                threshold: r.threshold,
            };
            delegations.push(DelegatedRole {
                keys: role_keys(name, &def, &keys),
                paths: r.paths.map(|p| p.0).unwrap_or_default(),
            });
        }
    }
    Ok(Targets {
        common,
        targets,
        delegations,
    })
}
