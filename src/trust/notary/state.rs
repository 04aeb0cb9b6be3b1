//! What must survive restarts: each repository's trusted root (first use or
//! pinned) and the highest metadata versions seen (rollback protection),
//! per Notary server: the same repository name on two servers is two
//! different trust histories.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
            Some(b) => crate::trust::encoding::b64_decode(b)
                .map(Some)
                .map_err(|_| TufError::State(format!("stored root of {} is corrupt", self.gun))),
        }
    }

    pub fn set_root(&mut self, bytes: &[u8]) {
        self.root = Some(crate::trust::encoding::b64_encode(bytes));
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
/// On disk the files are the truth: every load reads them, and every save
/// merges with them under a lock file, so other stores (after a policy
/// reload) and other processes (`img-authz check`) can never lower them.
#[derive(Debug)]
pub struct StateStore {
    dir: Option<PathBuf>,
    /// The state when there is no directory.
    mem: Mutex<HashMap<String, RepoState>>,
    /// Serialises read-merge-write in `save` within this process.
    write_lock: Mutex<()>,
}

fn create_private_dir(d: &Path) -> Result<(), TufError> {
    std::fs::create_dir_all(d).map_err(|e| TufError::State(format!("{}: {e}", d.display())))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

impl StateStore {
    /// State under `dir/notary` (created 0700); `None` keeps it in memory.
    pub fn new(dir: Option<&Path>) -> Result<StateStore, TufError> {
        let dir = match dir {
            Some(d) => {
                let nd = d.join("notary");
                create_private_dir(&nd)?;
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

    /// The state of the Notary server `server` under `dir`:
    /// `dir/notary/<hash of the URL>/`, with the URL in a `server` file.
    /// `adopt_legacy`: this is the configured default server, which takes
    /// over state files of the earlier layout (`dir/notary/*.json`, one
    /// history for every server) so that an upgrade keeps its roots and
    /// versions.
    pub fn for_server(
        dir: &Path,
        server: &str,
        adopt_legacy: bool,
    ) -> Result<StateStore, TufError> {
        // One history per server however its URL is spelled.
        let server = server.trim().trim_end_matches('/').to_ascii_lowercase();
        let h = super::keys::hex(&Sha256::digest(server.as_bytes()));
        let top = dir.join("notary");
        let sd = top.join(&h[..32]);
        create_private_dir(&sd)?;
        if adopt_legacy {
            let err =
                |p: &Path, e: std::io::Error| TufError::State(format!("{}: {e}", p.display()));
            for entry in std::fs::read_dir(&top).map_err(|e| err(&top, e))? {
                let p = entry.map_err(|e| err(&top, e))?.path();
                let Some(name) = p.file_name() else { continue };
                if p.is_file() && p.extension().is_some_and(|x| x == "json") {
                    let to = sd.join(name);
                    if !to.exists() {
                        std::fs::rename(&p, &to).map_err(|e| err(&p, e))?;
                    }
                }
            }
        }
        let named = sd.join("server");
        if !named.exists() {
            std::fs::write(&named, format!("{server}\n"))
                .map_err(|e| TufError::State(format!("{}: {e}", named.display())))?;
        }
        Ok(StateStore {
            dir: Some(sd),
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
        let fresh = RepoState {
            gun: gun.to_string(),
            ..Default::default()
        };
        let Some(p) = self.path(gun) else {
            return Ok(self
                .mem
                .lock()
                .ok()
                .and_then(|m| m.get(gun).cloned())
                .unwrap_or(fresh));
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
        // Held until the end of the function: other processes merge after us.
        let _file_lock = match &self.dir {
            Some(d) => {
                let lp = d.join(".lock");
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lp)
                    .map_err(|e| TufError::State(format!("{}: {e}", lp.display())))?;
                f.lock()
                    .map_err(|e| TufError::State(format!("{}: {e}", lp.display())))?;
                Some(f)
            }
            None => None,
        };
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
        if self.dir.is_none() {
            if let Ok(mut m) = self.mem.lock() {
                m.insert(merged.gun.clone(), merged);
            }
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

    #[test]
    fn another_store_cannot_lower_what_one_saved() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            StateStore::new(Some(dir.path())).unwrap(),
            StateStore::new(Some(dir.path())).unwrap(),
        );
        // b read the state before a saved a higher version.
        let stale = b.load("reg/x").unwrap();
        let mut s = a.load("reg/x").unwrap();
        s.ratchet("snapshot", 9).unwrap();
        a.save(&s).unwrap();
        // b sees it at once, and its stale save keeps it.
        assert_eq!(b.load("reg/x").unwrap().versions.get("snapshot"), Some(&9));
        b.save(&stale).unwrap();
        assert_eq!(a.load("reg/x").unwrap().versions.get("snapshot"), Some(&9));
    }

    #[test]
    fn each_server_has_its_own_history() {
        let dir = tempfile::tempdir().unwrap();
        let one = StateStore::for_server(dir.path(), "https://notary.one", false).unwrap();
        let two = StateStore::for_server(dir.path(), "https://notary.two", false).unwrap();
        let mut s = one.load("reg/x").unwrap();
        s.set_root(b"first root");
        s.ratchet("timestamp", u64::MAX).unwrap();
        one.save(&s).unwrap();
        let other = two.load("reg/x").unwrap();
        assert_eq!(other.root, None);
        assert!(other.versions.is_empty());
        let again = StateStore::for_server(dir.path(), "HTTPS://Notary.One/", false).unwrap();
        assert_eq!(
            again.load("reg/x").unwrap().root_bytes().unwrap().unwrap(),
            b"first root"
        );
    }

    #[test]
    fn the_default_server_adopts_the_earlier_layout() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = StateStore::new(Some(dir.path())).unwrap();
        let mut s = legacy.load("reg/x").unwrap();
        s.set_root(b"old root");
        legacy.save(&s).unwrap();
        // Another server does not take it; the default one does.
        let other = StateStore::for_server(dir.path(), "https://other", false).unwrap();
        assert_eq!(other.load("reg/x").unwrap().root, None);
        let default = StateStore::for_server(dir.path(), "https://notary.one", true).unwrap();
        assert_eq!(
            default
                .load("reg/x")
                .unwrap()
                .root_bytes()
                .unwrap()
                .unwrap(),
            b"old root"
        );
    }
}
