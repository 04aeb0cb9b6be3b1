//! Test-time Notary v1 repositories, written from the format description
//! (not from notary's fixtures, whose root certificate has expired).
//!
//! A [`Repo`] describes one GUN's roles — keys, thresholds, versions,
//! expiries, who actually signs, tags, delegations — and [`Repo::build`]
//! turns it into role files as notary-server serves them:
//!
//! - `{"signed":<canonical JSON>,"signatures":[{"keyid","method","sig"}]}`;
//! - root keys are `ecdsa-x509`/`rsa-x509` certificates (CN = GUN, CA:FALSE,
//!   KU digitalSignature + keyEncipherment, EKU codeSigning), self-signed or
//!   issued by a [`TestCa`];
//! - timestamp and snapshot are `ed25519` (`eddsa`), targets and delegations
//!   `ecdsa` (raw r‖s over SHA-256), unless a test says otherwise;
//! - hashes in `meta` and `targets` are base64.
//!
//! [`Repo::publish`] puts the files into a [`MemFetch`] under `<role>.json`,
//! `<role>.<sha256hex>.json` and `<version>.<role>.json`, keeping the files
//! of earlier publications (as the server keeps files by hash), so tests can
//! replay old metadata.
//!
//! Keys are derived from labels through SHA-2, so every run signs with the
//! same keys; RSA keys (slow to generate) are cached per label. Certificates
//! are made by rcgen, whose ECDSA signatures are randomised: a root key's ID
//! is stable within one [`Repo`] (cloned with it), not across runs.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256, Sha512};
use time::{Duration, OffsetDateTime};

use crate::trust::notary::canonical::canonical;
use crate::trust::notary::keys::hex;

mod fetch;
mod keys;
pub(crate) use fetch::MemFetch;
pub(crate) use keys::*;

/// The repository most tests use: a registry with a port, as Docker names it.
pub(crate) const GUN: &str = "registry.example.com:5000/team/app";

pub(crate) use crate::trust::encoding::b64_encode as b64;

/// The instant every test repository is made at (the wall clock at first
/// use, whole seconds). Expiries are relative to it, so tests inject
/// `base_time() + n days` as `now`.
pub(crate) fn base_time() -> OffsetDateTime {
    static BASE: OnceLock<OffsetDateTime> = OnceLock::new();
    *BASE.get_or_init(|| {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(0).unwrap_or(now)
    })
}

/// `base_time()` plus `n` days (negative: before).
pub(crate) fn day(n: i64) -> OffsetDateTime {
    base_time() + Duration::days(n)
}

/// `sha256:<hex>` of a manifest's bytes.
pub(crate) fn digest_of(manifest: &str) -> String {
    format!("sha256:{}", hex(&Sha256::digest(manifest.as_bytes())))
}

/// One role's keys, threshold, version, expiry, and who actually signs.
#[derive(Clone, Debug)]
pub(crate) struct RoleSpec {
    pub keys: Vec<TestKey>,
    pub threshold: u64,
    pub version: u64,
    pub expires: OffsetDateTime,
    /// Sign with these instead of `keys` (wrong keys, too few, duplicates).
    pub signers: Option<Vec<TestKey>>,
}

impl RoleSpec {
    pub fn new(key: TestKey, expires: OffsetDateTime) -> RoleSpec {
        RoleSpec {
            keys: vec![key],
            threshold: 1,
            version: 1,
            expires,
            signers: None,
        }
    }

    fn signers(&self) -> &[TestKey] {
        self.signers.as_deref().unwrap_or(&self.keys)
    }

    fn keyids(&self) -> Vec<String> {
        self.keys.iter().map(TestKey::id).collect()
    }
}

/// A signed tag: the manifest digest and its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TestTarget {
    pub sha256: [u8; 32],
    pub length: u64,
}

impl TestTarget {
    pub fn of(manifest: &str) -> TestTarget {
        TestTarget {
            sha256: Sha256::digest(manifest.as_bytes()).into(),
            length: manifest.len() as u64,
        }
    }
}

/// A delegation declared in top-level targets, and its own file.
#[derive(Clone, Debug)]
pub(crate) struct Delegation {
    /// `targets/releases`, `targets/<signer>`.
    pub name: String,
    pub role: RoleSpec,
    pub paths: Vec<String>,
    pub tags: BTreeMap<String, TestTarget>,
    /// Listed in targets' `delegations` (false: only its file exists).
    pub declared: bool,
}

type Edit = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// A Notary repository under construction.
#[derive(Clone)]
pub(crate) struct Repo {
    pub gun: String,
    pub root: RoleSpec,
    pub targets: RoleSpec,
    pub snapshot: RoleSpec,
    pub timestamp: RoleSpec,
    /// Tags signed directly by `targets`.
    pub tags: BTreeMap<String, TestTarget>,
    pub delegations: Vec<Delegation>,
    /// Changes applied to a role's `signed` object before signing.
    edits: Vec<(String, Edit)>,
    /// Role files used as-is instead of generated ones (snapshot and
    /// timestamp then list these bytes).
    pub replace: BTreeMap<String, Vec<u8>>,
}

/// Expiry in notary's form: RFC 3339, nanoseconds, a non-UTC offset.
pub(crate) fn expires_str(t: OffsetDateTime) -> String {
    let t = (t + Duration::nanoseconds(123_456_789)).to_offset(time::macros::offset!(-5));
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn meta_entry(bytes: &[u8]) -> Value {
    json!({
        "hashes": {"sha256": b64(&Sha256::digest(bytes)), "sha512": b64(&Sha512::digest(bytes))},
        "length": bytes.len(),
    })
}

fn targets_map(tags: &BTreeMap<String, TestTarget>) -> Value {
    tags.iter()
        .map(|(tag, t)| {
            (
                tag.clone(),
                json!({"hashes": {"sha256": b64(&t.sha256)}, "length": t.length}),
            )
        })
        .collect::<Map<_, _>>()
        .into()
}

/// The signature object of `key` over `canonical` bytes.
pub(crate) fn signature(key: &TestKey, canonical_bytes: &[u8]) -> Value {
    json!({"keyid": key.id(), "method": key.method, "sig": b64(&key.sign(canonical_bytes))})
}

/// A role file as notary serves it: the canonical `signed` and `sigs`.
pub(crate) fn envelope(signed: &Value, sigs: &[Value]) -> Vec<u8> {
    let mut out = b"{\"signed\":".to_vec();
    out.extend(canonical(signed).unwrap());
    out.extend(b",\"signatures\":");
    out.extend(serde_json::to_vec(sigs).unwrap());
    out.push(b'}');
    out
}

/// A role file of `signed`, signed by each of `keys` (in order).
pub(crate) fn sign_envelope(signed: &Value, keys: &[TestKey]) -> Vec<u8> {
    let c = canonical(signed).unwrap();
    let sigs: Vec<Value> = keys.iter().map(|k| signature(k, &c)).collect();
    envelope(signed, &sigs)
}

/// The same file with one bit of every signature flipped.
pub(crate) fn corrupt_signatures(file: &[u8]) -> Vec<u8> {
    let v: Value = serde_json::from_slice(file).unwrap();
    let sigs: Vec<Value> = v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut raw = crate::trust::encoding::b64_decode(s["sig"].as_str().unwrap()).unwrap();
            let mid = raw.len() / 2;
            raw[mid] ^= 0x01;
            let mut s = s.clone();
            s["sig"] = b64(&raw).into();
            s
        })
        .collect();
    envelope(&v["signed"], &sigs)
}

/// The role files of one build.
#[derive(Clone, Debug)]
pub(crate) struct Built {
    /// By role name: `root`, `targets`, `targets/releases`, `snapshot`, `timestamp`.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The version each file was published as.
    pub versions: BTreeMap<String, u64>,
}

impl Built {
    pub fn file(&self, role: &str) -> &[u8] {
        self.files
            .get(role)
            .unwrap_or_else(|| panic!("no {role} in this build"))
    }

    /// `<role>.<sha256hex>.json`, the name a parent's meta fetches.
    pub fn hashed_name(&self, role: &str) -> String {
        format!("{role}.{}.json", hex(&Sha256::digest(self.file(role))))
    }
}

impl Repo {
    /// A repository for `gun` with keys derived from `gun`.
    pub fn new(gun: &str) -> Repo {
        Repo::with_seed(gun, gun)
    }

    /// A repository for `gun` with keys derived from `seed`: notary's
    /// defaults (root P-256 certificate, targets P-256, snapshot and
    /// timestamp Ed25519, a `targets/releases` delegation for all paths),
    /// no tags, every role at version 1.
    pub fn with_seed(gun: &str, seed: &str) -> Repo {
        let k = |role: &str| format!("{seed}#{role}");
        Repo {
            gun: gun.to_string(),
            root: RoleSpec::new(TestKey::root_cert(&k("root"), gun), day(3650)),
            targets: RoleSpec::new(TestKey::p256(&k("targets")), day(1095)),
            snapshot: RoleSpec::new(TestKey::ed25519(&k("snapshot")), day(1095)),
            timestamp: RoleSpec::new(TestKey::ed25519(&k("timestamp")), day(14)),
            tags: BTreeMap::new(),
            delegations: vec![Delegation {
                name: super::update::RELEASES.to_string(),
                role: RoleSpec::new(TestKey::p256(&k("releases")), day(1095)),
                paths: vec![String::new()],
                tags: BTreeMap::new(),
                declared: true,
            }],
            edits: Vec::new(),
            replace: BTreeMap::new(),
        }
    }

    /// Add a delegation `name` with one fresh key, for all paths.
    pub fn add_delegation(&mut self, name: &str, key: TestKey) -> &mut Delegation {
        self.delegations.retain(|d| d.name != name);
        self.delegations.push(Delegation {
            name: name.to_string(),
            role: RoleSpec::new(key, day(1095)),
            paths: vec![String::new()],
            tags: BTreeMap::new(),
            declared: true,
        });
        self.delegations.last_mut().unwrap()
    }

    pub fn delegation(&mut self, name: &str) -> &mut Delegation {
        self.delegations
            .iter_mut()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("no delegation {name}"))
    }

    /// The spec of any role, delegations included.
    pub fn role(&mut self, name: &str) -> &mut RoleSpec {
        match name {
            "root" => &mut self.root,
            "targets" => &mut self.targets,
            "snapshot" => &mut self.snapshot,
            "timestamp" => &mut self.timestamp,
            d => &mut self.delegation(d).role,
        }
    }

    /// Sign `tag` as `manifest`'s digest in `role` (`targets` or a delegation).
    pub fn tag(&mut self, role: &str, tag: &str, manifest: &str) -> &mut Repo {
        let t = TestTarget::of(manifest);
        if role == "targets" {
            self.tags.insert(tag.to_string(), t);
        } else {
            self.delegation(role).tags.insert(tag.to_string(), t);
        }
        self
    }

    /// Change `role`'s `signed` object before it is signed.
    pub fn edit(
        &mut self,
        role: &str,
        f: impl Fn(&mut Value) + Send + Sync + 'static,
    ) -> &mut Repo {
        self.edits.push((role.to_string(), Arc::new(f)));
        self
    }

    /// Bump the version of every role but root (a new publication).
    pub fn bump(&mut self) -> &mut Repo {
        for r in [&mut self.targets, &mut self.snapshot, &mut self.timestamp] {
            r.version += 1;
        }
        for d in &mut self.delegations {
            d.role.version += 1;
        }
        self
    }

    fn all_keys<'a>(specs: impl IntoIterator<Item = &'a RoleSpec>) -> Map<String, Value> {
        specs
            .into_iter()
            .flat_map(|s| s.keys.iter())
            .map(|k| (k.id(), k.json()))
            .collect()
    }

    pub fn root_signed(&self) -> Value {
        let role = |r: &RoleSpec| json!({"keyids": r.keyids(), "threshold": r.threshold});
        json!({
            "_type": "Root",
            "consistent_snapshot": false,
            "expires": expires_str(self.root.expires),
            "keys": Repo::all_keys([&self.root, &self.targets, &self.snapshot, &self.timestamp]),
            "roles": {
                "root": role(&self.root),
                "targets": role(&self.targets),
                "snapshot": role(&self.snapshot),
                "timestamp": role(&self.timestamp),
            },
            "version": self.root.version,
        })
    }

    pub fn targets_signed(&self) -> Value {
        let declared: Vec<&Delegation> = self.delegations.iter().filter(|d| d.declared).collect();
        let roles: Vec<Value> = declared
            .iter()
            .map(|d| {
                json!({
                    "keyids": d.role.keyids(),
                    "name": d.name,
                    "paths": d.paths,
                    "threshold": d.role.threshold,
                })
            })
            .collect();
        json!({
            "_type": "Targets",
            "delegations": {"keys": Repo::all_keys(declared.iter().map(|d| &d.role)), "roles": roles},
            "expires": expires_str(self.targets.expires),
            "targets": targets_map(&self.tags),
            "version": self.targets.version,
        })
    }

    fn delegation_signed(d: &Delegation) -> Value {
        json!({
            "_type": "Targets",
            "delegations": {"keys": {}, "roles": []},
            "expires": expires_str(d.role.expires),
            "targets": targets_map(&d.tags),
            "version": d.role.version,
        })
    }

    /// Sign `signed` as `role`, after this repository's edits, unless the
    /// file is replaced.
    fn file(&self, role: &str, spec: &RoleSpec, mut signed: Value) -> Vec<u8> {
        if let Some(b) = self.replace.get(role) {
            return b.clone();
        }
        for (r, f) in &self.edits {
            if r == role {
                f(&mut signed);
            }
        }
        sign_envelope(&signed, spec.signers())
    }

    /// The root file alone (cheaper than a whole build).
    pub fn root_file(&self) -> Vec<u8> {
        self.file("root", &self.root, self.root_signed())
    }

    /// Every role file, consistent with each other.
    pub fn build(&self) -> Built {
        let mut files = BTreeMap::new();
        let mut versions = BTreeMap::new();
        let mut put = |role: &str, version: u64, bytes: Vec<u8>| {
            files.insert(role.to_string(), bytes);
            versions.insert(role.to_string(), version);
        };
        let root = self.root_file();
        let targets = self.file("targets", &self.targets, self.targets_signed());
        let mut meta = Map::new();
        meta.insert("root".into(), meta_entry(&root));
        meta.insert("targets".into(), meta_entry(&targets));
        for d in &self.delegations {
            let b = self.file(&d.name, &d.role, Repo::delegation_signed(d));
            meta.insert(d.name.clone(), meta_entry(&b));
            put(&d.name, d.role.version, b);
        }
        let snapshot_signed = json!({
            "_type": "Snapshot",
            "expires": expires_str(self.snapshot.expires),
            "meta": meta,
            "version": self.snapshot.version,
        });
        let snapshot = self.file("snapshot", &self.snapshot, snapshot_signed);
        let timestamp_signed = json!({
            "_type": "Timestamp",
            "expires": expires_str(self.timestamp.expires),
            "meta": {"snapshot": meta_entry(&snapshot)},
            "version": self.timestamp.version,
        });
        let timestamp = self.file("timestamp", &self.timestamp, timestamp_signed);
        put("root", self.root.version, root);
        put("targets", self.targets.version, targets);
        put("snapshot", self.snapshot.version, snapshot);
        put("timestamp", self.timestamp.version, timestamp);
        Built { files, versions }
    }

    /// Build and serve every file as notary-server does.
    pub fn publish(&self, fetch: &MemFetch) -> Built {
        let built = self.build();
        fetch.serve(&self.gun, &built);
        built
    }
}
