//! The decision-log file, reopened when it is rotated.
//!
//! logrotate (create mode), journald-style collectors, Fluent Bit and Vector
//! move or delete the file they tail; a writer that kept its descriptor
//! would write on into the rotated (or deleted) file. So the path is
//! re-checked (one `stat`, at most every [`LogFile::check_every`]) on a
//! write, the file reopened when the path names another inode or nothing,
//! on a failed write, and on SIGHUP ([`LogFile::reopen`]). Copy-truncate
//! rotation needs nothing: the file is opened with `O_APPEND`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a write re-checks that the path still names the open file.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// An append-only JSON-lines file that follows rotation.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    check_every: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    /// (device, inode) of `file`.
    id: (u64, u64),
    checked: Instant,
}

fn open(path: &Path) -> std::io::Result<(File, (u64, u64))> {
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    let m = f.metadata()?;
    Ok((f, (m.dev(), m.ino())))
}

impl LogFile {
    /// Open (create) `path` for appending; an error here is a start-up error.
    pub fn open(path: &Path, check_every: Duration) -> std::io::Result<LogFile> {
        let (file, id) = open(path)?;
        Ok(LogFile {
            path: path.to_path_buf(),
            check_every,
            inner: Mutex::new(Inner {
                file,
                id,
                checked: Instant::now(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open the path afresh (SIGHUP, rotation seen). When that fails the
    /// old descriptor stays: lines keep going somewhere.
    pub fn reopen(&self) -> std::io::Result<()> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Self::reopen_locked(&self.path, &mut g)
    }

    fn reopen_locked(path: &Path, g: &mut Inner) -> std::io::Result<()> {
        let (file, id) = open(path)?;
        g.file = file;
        g.id = id;
        g.checked = Instant::now();
        Ok(())
    }

    /// Append one line (with its newline). Errors are returned to be
    /// counted; a decision never depends on them.
    pub fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.checked.elapsed() >= self.check_every {
            g.checked = Instant::now();
            let moved = match std::fs::metadata(&self.path) {
                Ok(m) => (m.dev(), m.ino()) != g.id,
                Err(_) => true,
            };
            if moved {
                if let Err(e) = Self::reopen_locked(&self.path, &mut g) {
                    tracing::warn!(file = %self.path.display(), error = %e, "decision log rotated but cannot be reopened; writing to the old file");
                }
            }
        }
        if g.file.write_all(line).is_ok() {
            return Ok(());
        }
        // A write error (file system gone, descriptor revoked): reopen once.
        Self::reopen_locked(&self.path, &mut g)?;
        g.file.write_all(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(p: &Path) -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_renamed_file_is_followed_by_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.log");
        let rotated = dir.path().join("decisions.log.1");
        let f = LogFile::open(&path, Duration::ZERO).unwrap();
        f.write_line(b"one\n").unwrap();
        std::fs::rename(&path, &rotated).unwrap();
        f.write_line(b"two\n").unwrap();
        assert_eq!(lines(&rotated), ["one"]);
        assert_eq!(lines(&path), ["two"], "the next line goes to a new file");
    }

    #[test]
    fn a_deleted_file_is_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.log");
        let f = LogFile::open(&path, Duration::ZERO).unwrap();
        f.write_line(b"one\n").unwrap();
        std::fs::remove_file(&path).unwrap();
        f.write_line(b"two\n").unwrap();
        assert_eq!(lines(&path), ["two"]);
    }

    #[test]
    fn between_checks_only_reopen_moves_to_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.log");
        let rotated = dir.path().join("decisions.log.1");
        let f = LogFile::open(&path, Duration::from_secs(3600)).unwrap();
        f.write_line(b"one\n").unwrap();
        std::fs::rename(&path, &rotated).unwrap();
        f.write_line(b"two\n").unwrap();
        assert_eq!(lines(&rotated), ["one", "two"], "not checked yet");
        f.reopen().unwrap();
        f.write_line(b"three\n").unwrap();
        assert_eq!(lines(&path), ["three"]);
    }
}
