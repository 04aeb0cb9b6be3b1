//! What must survive restarts: each repository's trusted root (first use or
//! pinned) and the highest metadata versions seen (rollback protection).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::TufError;

/// The persisted state of one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoState {
    pub gun: String,
    /// The trusted root file, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Highest version seen, by role.
    #[serde(default)]
    pub versions: BTreeMap<String, u64>,
}

impl RepoState {
    pub fn root_bytes(&self) -> Result<Option<Vec<u8>>, TufError> {
        match &self.root {
            None => Ok(None),
            Some(b) => base64::engine::general_purpose::STANDARD
                .decode(b)
                .map(Some)
                .map_err(|_| TufError::State(format!("stored root of {} is corrupt", self.gun))),
        }
    }

    pub fn set_root(&mut self, bytes: &[u8]) {
        self.root = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
    }

    /// Refuse a version below the highest seen; remember a higher one.
    pub fn ratchet(&mut self, role: &str, version: u64) -> Result<(), TufError> {
        let seen = self.versions.get(role).copied().unwrap_or(0);
        if version < seen {
            return Err(TufError::Rollback(format!(
                "{role} version {version} is older than version {seen} already seen"
            )));
        }
        self.versions.insert(role.to_string(), version);
        Ok(())
    }
}

/// Repository states, in a directory (one file each) or in memory only.
#[derive(Debug)]
pub struct StateStore {
    dir: Option<PathBuf>,
    mem: Mutex<HashMap<String, RepoState>>,
    /// Serialises read-merge-write in `save`.
    write_lock: Mutex<()>,
}

impl StateStore {
    /// State under `dir` (created 0700); `None` keeps it in memory.
    pub fn new(dir: Option<&Path>) -> Result<StateStore, TufError> {
        let dir = match dir {
            Some(d) => {
                let nd = d.join("notary");
                std::fs::create_dir_all(&nd)
                    .map_err(|e| TufError::State(format!("{}: {e}", nd.display())))?;
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&nd, std::fs::Permissions::from_mode(0o700));
                Some(nd)
            }
            None => None,
        };
        Ok(StateStore {
            dir,
            mem: Mutex::new(HashMap::new()),
            write_lock: Mutex::new(()),
        })
    }

    fn path(&self, gun: &str) -> Option<PathBuf> {
        let h = super::keys::hex(&Sha256::digest(gun.as_bytes()));
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{}.json", &h[..32])))
    }

    pub fn load(&self, gun: &str) -> Result<RepoState, TufError> {
        if let Some(s) = self.mem.lock().ok().and_then(|m| m.get(gun).cloned()) {
            return Ok(s);
        }
        let fresh = RepoState {
            gun: gun.to_string(),
            ..Default::default()
        };
        let Some(p) = self.path(gun) else {
            return Ok(fresh);
        };
        match std::fs::read(&p) {
            Ok(b) => {
                let s: RepoState = serde_json::from_slice(&b)
                    .map_err(|e| TufError::State(format!("{}: {e}", p.display())))?;
                if s.gun != gun {
                    return Err(TufError::State(format!(
                        "{} belongs to {}",
                        p.display(),
                        s.gun
                    )));
                }
                Ok(s)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(fresh),
            Err(e) => Err(TufError::State(format!("{}: {e}", p.display()))),
        }
    }

    /// Save atomically (write, fsync, rename) so a crash never leaves a
    /// half-written root. Versions merge with what is stored, keeping the
    /// highest, so that two updates racing cannot lower them; the root with
    /// the higher version wins.
    pub fn save(&self, s: &RepoState) -> Result<(), TufError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut merged = self.load(&s.gun)?;
        let stored_root = merged.versions.get("root").copied().unwrap_or(0);
        let new_root = s.versions.get("root").copied().unwrap_or(0);
        if merged.root.is_none() || new_root >= stored_root {
            merged.root = s.root.clone();
        }
        for (role, v) in &s.versions {
            let e = merged.versions.entry(role.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
        if let Some(p) = self.path(&merged.gun) {
            let err = |e: std::io::Error| TufError::State(format!("{}: {e}", p.display()));
            let tmp = p.with_extension("json.tmp");
            let body =
                serde_json::to_vec_pretty(&merged).map_err(|e| TufError::State(e.to_string()))?;
            let mut f = std::fs::File::create(&tmp).map_err(err)?;
            f.write_all(&body).map_err(err)?;
            f.sync_all().map_err(err)?;
            std::fs::rename(&tmp, &p).map_err(err)?;
        }
        if let Ok(mut m) = self.mem.lock() {
            m.insert(merged.gun.clone(), merged);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_restarts_and_ratchets() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(Some(dir.path())).unwrap();
        let mut s = store.load("reg/x").unwrap();
        s.set_root(b"root-bytes");
        s.ratchet("timestamp", 5).unwrap();
        store.save(&s).unwrap();
        let again = StateStore::new(Some(dir.path())).unwrap();
        let mut s2 = again.load("reg/x").unwrap();
        assert_eq!(s2.root_bytes().unwrap().unwrap(), b"root-bytes");
        assert!(matches!(
            s2.ratchet("timestamp", 4),
            Err(TufError::Rollback(_))
        ));
        s2.ratchet("timestamp", 5).unwrap();
        assert_eq!(again.load("reg/other").unwrap().root, None);
    }
}
