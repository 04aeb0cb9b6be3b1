//! Who created which container and exec instance (`[ownership]` of the
//! policy file), kept in the state directory as `ownership.json`.
//!
//! Every change is written before the plugin answers the call that caused
//! it: the whole map goes to a temporary file that is fsynced, renamed over
//! the old one, and the directory fsynced, so a crash leaves the old map or
//! the new one, never a torn one. Writers take an exclusive lock on
//! `ownership.lock` and re-read the file first, so two plugin processes on
//! one state directory (a restart overlapping the old process) lose no
//! entry. Container IDs are 64 random hex digits that dockerd never reuses,
//! so an entry left behind by a container removed without our seeing it is
//! harmless; such entries are pruned against dockerd's list.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The map as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owners {
    /// Full container ID → user.
    #[serde(default)]
    pub containers: BTreeMap<String, String>,
    /// Full exec ID → the container it runs in and the user who made it.
    #[serde(default)]
    pub execs: BTreeMap<String, ExecOwner>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOwner {
    pub container: String,
    pub owner: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read the ownership record {path}: {why}")]
    Read { path: String, why: String },
    #[error("cannot write the ownership record {path}: {why}")]
    Write { path: String, why: String },
}

/// What identifies one version of the file (a rename gives a new inode).
type Stamp = (u64, u64, Option<SystemTime>);

#[derive(Default)]
struct Cached {
    owners: Owners,
    stamp: Option<Stamp>,
}

pub struct OwnerStore {
    path: PathBuf,
    lock: PathBuf,
    dir: PathBuf,
    cache: Mutex<Cached>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).ok()?;
    Some((m.ino(), m.len(), m.modified().ok()))
}

impl OwnerStore {
    /// The record in `state_dir` (created on the first write).
    pub fn new(state_dir: &Path) -> OwnerStore {
        OwnerStore {
            path: state_dir.join("ownership.json"),
            lock: state_dir.join("ownership.lock"),
            dir: state_dir.to_path_buf(),
            cache: Mutex::new(Cached::default()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_err(&self, why: impl ToString) -> StoreError {
        StoreError::Read {
            path: self.path.display().to_string(),
            why: why.to_string(),
        }
    }

    fn write_err(&self, why: impl ToString) -> StoreError {
        StoreError::Write {
            path: self.path.display().to_string(),
            why: why.to_string(),
        }
    }

    /// The file's content; a missing file is an empty map, an unreadable
    /// or corrupt one an error (owners would otherwise be forgotten).
    fn read_file(&self) -> Result<Owners, StoreError> {
        match fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| self.read_err(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Owners::default()),
            Err(e) => Err(self.read_err(e)),
        }
    }

    /// `f` of the current map, re-read when another writer replaced the file.
    fn with<R>(&self, f: impl FnOnce(&Owners) -> R) -> Result<R, StoreError> {
        let mut c = self
            .cache
            .lock()
            .map_err(|_| self.read_err("lock poisoned"))?;
        let now = stamp(&self.path);
        if c.stamp.is_none() || c.stamp != now {
            c.owners = self.read_file()?;
            c.stamp = now;
        }
        Ok(f(&c.owners))
    }

    /// A copy of the current map.
    pub fn snapshot(&self) -> Result<Owners, StoreError> {
        self.with(Owners::clone)
    }

    /// How many containers are recorded.
    pub fn containers(&self) -> Result<usize, StoreError> {
        self.with(|o| o.containers.len())
    }

    pub fn container_owner(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.with(|o| o.containers.get(id).cloned())
    }

    pub fn exec(&self, id: &str) -> Result<Option<ExecOwner>, StoreError> {
        self.with(|o| o.execs.get(id).cloned())
    }

    /// Read, change and durably replace the map, under the lock file.
    fn update(&self, change: impl FnOnce(&mut Owners)) -> Result<(), StoreError> {
        let mut c = self
            .cache
            .lock()
            .map_err(|_| self.write_err("lock poisoned"))?;
        fs::create_dir_all(&self.dir).map_err(|e| self.write_err(e))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(|e| self.write_err(e))?;
        lock.lock().map_err(|e| self.write_err(e))?;
        let mut owners = self.read_file()?;
        change(&mut owners);
        let body = serde_json::to_vec(&owners).map_err(|e| self.write_err(e))?;
        let tmp = self
            .dir
            .join(format!("ownership.json.tmp.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            // The rename itself must survive a crash.
            File::open(&self.dir)?.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(self.write_err(e));
        }
        c.stamp = stamp(&self.path);
        c.owners = owners;
        // The lock file's lock ends when `lock` is dropped.
        drop(lock);
        Ok(())
    }

    pub fn record_container(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        self.update(|o| {
            o.containers.insert(id.to_string(), owner.to_string());
        })
    }

    pub fn record_exec(&self, id: &str, container: &str, owner: &str) -> Result<(), StoreError> {
        self.update(|o| {
            o.execs.insert(
                id.to_string(),
                ExecOwner {
                    container: container.to_string(),
                    owner: owner.to_string(),
                },
            );
        })
    }

    /// Forget the containers for which `gone` holds, and their execs.
    pub fn forget(&self, gone: impl Fn(&str) -> bool) -> Result<(), StoreError> {
        let any = self.with(|o| {
            o.containers.keys().any(|k| gone(k)) || o.execs.values().any(|e| gone(&e.container))
        })?;
        if !any {
            return Ok(());
        }
        self.update(|o| {
            o.containers.retain(|k, _| !gone(k));
            o.execs.retain(|_, e| !gone(&e.container));
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_new_instance_and_sees_other_writers() {
        let d = tempfile::tempdir().unwrap();
        let a = OwnerStore::new(d.path());
        assert_eq!(a.container_owner("c1").unwrap(), None);
        a.record_container("c1", "alice").unwrap();
        a.record_exec("e1", "c1", "alice").unwrap();
        // A second process on the same directory.
        let b = OwnerStore::new(d.path());
        assert_eq!(b.container_owner("c1").unwrap().as_deref(), Some("alice"));
        b.record_container("c2", "bob").unwrap();
        // The first sees the second's write, and keeps its own.
        assert_eq!(a.container_owner("c2").unwrap().as_deref(), Some("bob"));
        a.forget(|id| id == "c1").unwrap();
        let c = OwnerStore::new(d.path());
        assert_eq!(c.container_owner("c1").unwrap(), None);
        assert_eq!(c.exec("e1").unwrap(), None);
        assert_eq!(c.container_owner("c2").unwrap().as_deref(), Some("bob"));
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    }

    #[test]
    fn a_corrupt_record_is_an_error_not_an_empty_map() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("ownership.json"), b"{\"containers\":{\"c1\":").unwrap();
        let s = OwnerStore::new(d.path());
        assert!(s.container_owner("c1").is_err());
        assert!(s.record_container("c2", "bob").is_err());
    }
}
