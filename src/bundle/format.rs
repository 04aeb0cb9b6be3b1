//! The bundle as bytes: the OCI manifest, the config blob and the files
//! layer (see the module header of [`crate::bundle`] for the format), built
//! from a directory and parsed back with every limit and path checked.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::BundleError;

/// The `artifactType` of a bundle manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.img-authz.bundle.v1";
/// The media type of the config blob.
pub const CONFIG_TYPE: &str = "application/vnd.img-authz.bundle.config.v1+json";
/// The media type of the one layer: the files, as JSON.
pub const LAYER_TYPE: &str = "application/vnd.img-authz.bundle.files.v1+json";
/// The manifest's own media type.
pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The policy file every bundle holds at its root.
pub const POLICY_FILE: &str = "policy.toml";

/// Largest manifest and config blob.
pub const MAX_MANIFEST: usize = 64 * 1024;
pub const MAX_CONFIG: usize = 64 * 1024;
/// Largest files layer (base64 included) and largest total of file bytes.
pub const MAX_LAYER: usize = 8 * 1024 * 1024;
pub const MAX_FILES_BYTES: usize = 4 * 1024 * 1024;
/// Most files in a bundle, longest path, deepest directory nesting.
pub const MAX_FILES: usize = 512;
pub const MAX_PATH: usize = 255;
pub const MAX_DEPTH: usize = 8;

/// A bundle's content: its revision, where it may be used, until when, and
/// its files by relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub revision: u64,
    /// RFC 3339, when it was built.
    pub created: String,
    /// Where hosts may take it: `oci://HOST/PATH:TAG` references (as
    /// [`super::BundleRef`] prints them) and channel names. Signed with the
    /// rest, so a retag or a copy to another repository does not widen it.
    pub scope: Vec<String>,
    /// RFC 3339: after this, hosts refuse it and stop enforcing it.
    pub expires: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// The config blob.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub revision: u64,
    pub created: String,
    pub policy: String,
    pub scope: Vec<String>,
    pub expires: String,
}

/// Most scope entries, longest channel name.
pub const MAX_SCOPE: usize = 64;
pub const MAX_CHANNEL: usize = 64;

/// Why a scope entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error(transparent)]
    Reference(#[from] super::RefError),
    #[error(
        "scope entry {0:?} is neither an oci://HOST/PATH:TAG reference nor a channel name \
         ([a-z0-9][a-z0-9._-]*, at most {MAX_CHANNEL} bytes)"
    )]
    Neither(String),
}

/// One scope entry in its canonical form: an `oci://` reference (parsed
/// and printed again) or a channel name (`[a-z0-9][a-z0-9._-]*`).
pub fn scope_entry(s: &str) -> Result<String, ScopeError> {
    if s.starts_with("oci://") {
        return Ok(super::BundleRef::parse(s)?.to_string());
    }
    let ok = !s.is_empty()
        && s.len() <= MAX_CHANNEL
        && s.bytes()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c));
    if ok {
        Ok(s.to_string())
    } else {
        Err(ScopeError::Neither(s.to_string()))
    }
}

pub fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    files: Vec<FileEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    path: String,
    data: String,
}

/// An OCI descriptor, as far as we read it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// The bundle manifest, as far as we read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    #[serde(rename = "artifactType", default)]
    pub artifact_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The three blobs of a built bundle, ready to push.
pub struct Encoded {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(b))
}

fn malformed(why: impl Into<String>) -> BundleError {
    BundleError::Malformed(why.into())
}

/// A path inside a bundle: relative, `/`-separated, normalised (no `.`,
/// `..`, empty segment, backslash or control character), not too long or
/// deep. Anything else could write outside the unpack directory or be read
/// differently by another tool: it is refused, never repaired.
pub fn check_path(p: &str) -> Result<(), BundleError> {
    let bad = |why: &str| Err(malformed(format!("bundle path {p:?}: {why}")));
    if p.is_empty() || p.len() > MAX_PATH {
        return bad("empty or longer than 255 bytes");
    }
    if p.starts_with('/') {
        return bad("absolute paths are refused");
    }
    if p.chars().any(|c| c.is_control() || c == '\\' || c == ':') {
        return bad("control characters, '\\' and ':' are refused");
    }
    let segments: Vec<&str> = p.split('/').collect();
    if segments.len() > MAX_DEPTH {
        return bad("nested too deep");
    }
    for s in &segments {
        match *s {
            "" => return bad("empty segment"),
            "." | ".." => return bad("'.' and '..' are refused"),
            _ => {}
        }
    }
    Ok(())
}

/// Files of `files` must not also be directories of others (`a` and `a/b`).
fn check_tree(files: &BTreeMap<String, Vec<u8>>) -> Result<(), BundleError> {
    for p in files.keys() {
        let mut prefix = p.as_str();
        while let Some((dir, _)) = prefix.rsplit_once('/') {
            if files.contains_key(dir) {
                return Err(malformed(format!(
                    "bundle path {dir:?} is both a file and the directory of {p:?}"
                )));
            }
            prefix = dir;
        }
    }
    Ok(())
}

impl Bundle {
    /// Every regular file under `dir`. A symlink or special file anywhere
    /// is refused: the bundle must be exactly what the directory holds.
    pub fn from_dir(
        dir: &Path,
        revision: u64,
        created: String,
        scope: Vec<String>,
        expires: String,
    ) -> Result<Bundle, BundleError> {
        let mut files = BTreeMap::new();
        let mut total = 0usize;
        walk(dir, dir, &mut files, &mut total)?;
        let b = Bundle {
            revision,
            created,
            scope,
            expires,
            files,
        };
        b.check()?;
        Ok(b)
    }

    /// Limits, paths and the policy file.
    pub fn check(&self) -> Result<(), BundleError> {
        if self.files.len() > MAX_FILES {
            return Err(malformed(format!("more than {MAX_FILES} files")));
        }
        let total: usize = self.files.values().map(Vec::len).sum();
        if total > MAX_FILES_BYTES {
            return Err(malformed(format!(
                "{total} bytes of files, more than {MAX_FILES_BYTES}"
            )));
        }
        for p in self.files.keys() {
            check_path(p)?;
        }
        check_tree(&self.files)?;
        if !self.files.contains_key(POLICY_FILE) {
            return Err(malformed(format!("no {POLICY_FILE} at the bundle's root")));
        }
        if self.scope.is_empty() || self.scope.len() > MAX_SCOPE {
            return Err(malformed(format!(
                "the scope must name 1 to {MAX_SCOPE} references or channels"
            )));
        }
        for e in &self.scope {
            if scope_entry(e).as_deref() != Ok(e.as_str()) {
                return Err(malformed(format!(
                    "scope entry {e:?} is not in canonical form (oci://HOST/PATH:TAG or a channel name)"
                )));
            }
        }
        self.expires_at()?;
        Ok(())
    }

    /// When the bundle expires.
    pub fn expires_at(&self) -> Result<time::OffsetDateTime, BundleError> {
        parse_time(&self.expires).ok_or_else(|| {
            malformed(format!(
                "expires {:?} is not an RFC 3339 time",
                self.expires
            ))
        })
    }

    /// Whether a host following `r` (and channel `channel`, if it has one)
    /// may use this bundle.
    pub fn in_scope(&self, r: &super::BundleRef, channel: Option<&str>) -> Result<(), BundleError> {
        let me = r.to_string();
        if self
            .scope
            .iter()
            .any(|e| *e == me || channel.is_some_and(|c| c == e))
        {
            return Ok(());
        }
        Err(BundleError::OutOfScope(format!(
            "revision {} is published for [{}], not for {me}{}: a bundle retagged or copied \
             elsewhere is refused; publish it for this host (img-authz bundle push --scope {me} \
             or --channel NAME with IMG_AUTHZ_BUNDLE_CHANNEL=NAME)",
            self.revision,
            self.scope.join(", "),
            channel.map_or_else(String::new, |c| format!(" (channel {c})")),
        )))
    }

    pub fn encode(&self) -> Result<Encoded, BundleError> {
        self.check()?;
        let config = serde_json::to_vec(&Config {
            revision: self.revision,
            created: self.created.clone(),
            policy: POLICY_FILE.into(),
            scope: self.scope.clone(),
            expires: self.expires.clone(),
        })
        .map_err(|e| malformed(e.to_string()))?;
        let layer = serde_json::to_vec(&Layer {
            files: self
                .files
                .iter()
                .map(|(p, d)| FileEntry {
                    path: p.clone(),
                    data: base64::engine::general_purpose::STANDARD.encode(d),
                })
                .collect(),
        })
        .map_err(|e| malformed(e.to_string()))?;
        if layer.len() > MAX_LAYER {
            return Err(malformed(format!(
                "the files layer exceeds {MAX_LAYER} bytes"
            )));
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: MANIFEST_TYPE.into(),
            artifact_type: ARTIFACT_TYPE.into(),
            config: Descriptor {
                media_type: CONFIG_TYPE.into(),
                digest: sha256(&config),
                size: config.len() as u64,
            },
            layers: vec![Descriptor {
                media_type: LAYER_TYPE.into(),
                digest: sha256(&layer),
                size: layer.len() as u64,
            }],
            annotations: BTreeMap::from([
                (
                    "org.opencontainers.image.created".to_string(),
                    self.created.clone(),
                ),
                (
                    "dev.img-authz.bundle.revision".to_string(),
                    self.revision.to_string(),
                ),
            ]),
        };
        let manifest = serde_json::to_vec(&manifest).map_err(|e| malformed(e.to_string()))?;
        Ok(Encoded {
            manifest,
            config,
            layer,
        })
    }

    /// The bundle of `config` and `layer`, which the caller has already
    /// checked against the manifest's digests.
    pub fn decode(config: &Config, layer: &[u8]) -> Result<Bundle, BundleError> {
        if layer.len() > MAX_LAYER {
            return Err(malformed(format!(
                "the files layer exceeds {MAX_LAYER} bytes"
            )));
        }
        let l: Layer = serde_json::from_slice(layer)
            .map_err(|e| malformed(format!("the files layer is not valid: {e}")))?;
        if l.files.len() > MAX_FILES {
            return Err(malformed(format!("more than {MAX_FILES} files")));
        }
        let mut files = BTreeMap::new();
        for f in l.files {
            check_path(&f.path)?;
            let data = base64::engine::general_purpose::STANDARD
                .decode(f.data.as_bytes())
                .map_err(|e| malformed(format!("{}: invalid base64: {e}", f.path)))?;
            if files.insert(f.path.clone(), data).is_some() {
                return Err(malformed(format!("{} appears twice", f.path)));
            }
        }
        if config.policy != POLICY_FILE {
            return Err(malformed(format!(
                "the config names policy {:?}; this version reads {POLICY_FILE}",
                config.policy
            )));
        }
        let b = Bundle {
            revision: config.revision,
            created: config.created.clone(),
            scope: config.scope.clone(),
            expires: config.expires.clone(),
            files,
        };
        b.check()?;
        Ok(b)
    }

    /// Write the files under `dir` (which must exist and be empty).
    pub fn write_to(&self, dir: &Path) -> Result<(), BundleError> {
        self.check()?;
        for (p, data) in &self.files {
            let target = dir.join(p);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            std::fs::write(&target, data).map_err(|e| io(&target, e))?;
        }
        Ok(())
    }
}

pub fn io(p: &Path, e: std::io::Error) -> BundleError {
    BundleError::Io(format!("{}: {e}", p.display()))
}

fn walk(
    root: &Path,
    dir: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
    total: &mut usize,
) -> Result<(), BundleError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|e| io(dir, e)))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            return Err(malformed(format!(
                "{} is a symlink; bundles hold regular files only",
                path.display()
            )));
        }
        if ft.is_dir() {
            walk(root, &path, files, total)?;
            continue;
        }
        if !ft.is_file() {
            return Err(malformed(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let rel = path
            .strip_prefix(root)
            .map_err(|_| malformed(format!("{} is outside {}", path.display(), root.display())))?;
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(s) => parts.push(
                    s.to_str()
                        .ok_or_else(|| malformed(format!("{} is not UTF-8", path.display())))?,
                ),
                _ => return Err(malformed(format!("{} is not normal", path.display()))),
            }
        }
        *total = total.saturating_add(meta.len() as usize);
        if *total > MAX_FILES_BYTES || files.len() >= MAX_FILES {
            return Err(malformed(format!(
                "{} holds more than {MAX_FILES} files or {MAX_FILES_BYTES} bytes",
                root.display()
            )));
        }
        let data = std::fs::read(&path).map_err(|e| io(&path, e))?;
        files.insert(parts.join("/"), data);
    }
    Ok(())
}

/// Parse and check a manifest: our artifact type, one files layer, sizes
/// within the limits.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, BundleError> {
    if bytes.len() > MAX_MANIFEST {
        return Err(malformed("the manifest is too large"));
    }
    let m: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| malformed(format!("not an OCI manifest: {e}")))?;
    if m.schema_version != 2 || m.media_type != MANIFEST_TYPE {
        return Err(malformed(format!(
            "manifest media type {:?}, expected {MANIFEST_TYPE}",
            m.media_type
        )));
    }
    if m.artifact_type != ARTIFACT_TYPE || m.config.media_type != CONFIG_TYPE {
        return Err(malformed(format!(
            "not an img-authz bundle (artifactType {:?}, config {:?})",
            m.artifact_type, m.config.media_type
        )));
    }
    let [layer] = m.layers.as_slice() else {
        return Err(malformed(format!(
            "a bundle has exactly one layer, this one {}",
            m.layers.len()
        )));
    };
    if layer.media_type != LAYER_TYPE {
        return Err(malformed(format!(
            "layer media type {:?}, expected {LAYER_TYPE}",
            layer.media_type
        )));
    }
    if layer.size > MAX_LAYER as u64 || m.config.size > MAX_CONFIG as u64 {
        return Err(malformed("the config or layer exceeds the size limits"));
    }
    Ok(m)
}

pub fn parse_config(bytes: &[u8]) -> Result<Config, BundleError> {
    serde_json::from_slice(bytes).map_err(|e| malformed(format!("the config is not valid: {e}")))
}

/// Check `blob` against its descriptor (size and digest).
pub fn check_blob(d: &Descriptor, blob: &[u8]) -> Result<(), BundleError> {
    if blob.len() as u64 != d.size || sha256(blob) != d.digest {
        return Err(BundleError::Tampered(format!(
            "blob {} does not match its descriptor (size or digest)",
            d.digest
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(files: &[(&str, &str)]) -> Bundle {
        Bundle {
            revision: 7,
            created: "2026-12-05T00:00:00Z".into(),
            scope: vec!["oci://reg.example.com/fleet/policy:prod".into()],
            expires: "2999-01-01T00:00:00Z".into(),
            files: files
                .iter()
                .map(|(p, d)| (p.to_string(), d.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn encode_then_decode_is_the_same_bundle() {
        let b = bundle(&[("policy.toml", "version = 1\n"), ("keys/a.pub", "PEM")]);
        let e = b.encode().unwrap();
        let m = parse_manifest(&e.manifest).unwrap();
        check_blob(&m.config, &e.config).unwrap();
        check_blob(&m.layers[0], &e.layer).unwrap();
        assert_eq!(m.artifact_type, ARTIFACT_TYPE);
        let c = parse_config(&e.config).unwrap();
        assert_eq!(c.revision, 7);
        assert_eq!(Bundle::decode(&c, &e.layer).unwrap(), b);
        // Deterministic: the same content gives the same digest.
        assert_eq!(sha256(&b.encode().unwrap().manifest), sha256(&e.manifest));
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for p in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "",
            "a\\b",
            "c:x",
            "a/b/c/d/e/f/g/h/i",
            "a\nb",
        ] {
            assert!(check_path(p).is_err(), "{p:?} accepted");
        }
        for p in ["policy.toml", "keys/release.pub", ".hidden", "a/b/c"] {
            check_path(p).unwrap();
        }
        // A decoded layer naming such a path is refused as a whole.
        let layer = br#"{"files":[{"path":"policy.toml","data":""},{"path":"../evil","data":""}]}"#;
        let c = Config {
            revision: 1,
            created: String::new(),
            policy: POLICY_FILE.into(),
            scope: vec!["prod".into()],
            expires: "2999-01-01T00:00:00Z".into(),
        };
        assert!(matches!(
            Bundle::decode(&c, layer),
            Err(BundleError::Malformed(_))
        ));
    }

    #[test]
    fn malformed_bundles_are_refused() {
        let c = Config {
            revision: 1,
            created: String::new(),
            policy: POLICY_FILE.into(),
            scope: vec!["prod".into()],
            expires: "2999-01-01T00:00:00Z".into(),
        };
        // No policy file; a path twice; a file that is also a directory.
        for layer in [
            r#"{"files":[{"path":"x","data":""}]}"#,
            r#"{"files":[{"path":"policy.toml","data":""},{"path":"policy.toml","data":""}]}"#,
            r#"{"files":[{"path":"policy.toml","data":""},{"path":"k","data":""},{"path":"k/x","data":""}]}"#,
            r#"{"files":[{"path":"policy.toml","data":"!!"}]}"#,
            r#"{"files":[{"path":"policy.toml","data":"","mode":7}]}"#,
            r#"[]"#,
        ] {
            assert!(
                Bundle::decode(&c, layer.as_bytes()).is_err(),
                "{layer} accepted"
            );
        }
        // Manifests of anything else.
        let good = bundle(&[("policy.toml", "")]).encode().unwrap();
        let mut m: serde_json::Value = serde_json::from_slice(&good.manifest).unwrap();
        m["artifactType"] = "application/vnd.example".into();
        assert!(parse_manifest(m.to_string().as_bytes()).is_err());
        let mut m: serde_json::Value = serde_json::from_slice(&good.manifest).unwrap();
        let l = m["layers"][0].clone();
        m["layers"] = serde_json::json!([l.clone(), l]);
        assert!(parse_manifest(m.to_string().as_bytes()).is_err());
        // A blob that differs from its descriptor is tampered.
        let man = parse_manifest(&good.manifest).unwrap();
        let mut layer = good.layer.clone();
        layer[3] ^= 1;
        assert!(matches!(
            check_blob(&man.layers[0], &layer),
            Err(BundleError::Tampered(_))
        ));
    }

    #[test]
    fn a_directory_with_a_symlink_is_refused() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("policy.toml"), "version = 1\n").unwrap();
        std::fs::create_dir(d.path().join("keys")).unwrap();
        std::fs::write(d.path().join("keys/a.pub"), "x").unwrap();
        let b = Bundle::from_dir(
            d.path(),
            1,
            String::new(),
            vec!["prod".into()],
            "2999-01-01T00:00:00Z".into(),
        )
        .unwrap();
        assert_eq!(
            b.files.keys().collect::<Vec<_>>(),
            ["keys/a.pub", "policy.toml"]
        );
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("keys/b.pub")).unwrap();
        assert!(matches!(
            Bundle::from_dir(
                d.path(),
                1,
                String::new(),
                vec!["prod".into()],
                "2999-01-01T00:00:00Z".into()
            ),
            Err(BundleError::Malformed(_))
        ));
    }
}
