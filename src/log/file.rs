//! The decision-log file, reopened when it is rotated.
//!
//! logrotate (create mode), journald-style collectors, Fluent Bit and Vector
//! move or delete the file they tail; a writer that kept its descriptor
//! would write on into the rotated (or deleted) file. So the path is
//! re-checked (one `stat`, at most every [`LogFile::check_every`]) on a
//! write, the file reopened when the path names another inode or nothing,
//! on a failed write, and on SIGHUP ([`LogFile::reopen`]). Copy-truncate
//! rotation needs nothing: the file is opened with `O_APPEND`.
//!
//! Whoever can write the log directory could plant something at the path
//! after a rotation: the path is opened with `O_NOFOLLOW | O_NONBLOCK` (a
//! symlink is refused, a FIFO does not block the open) and must then be a
//! regular file (`fstat`); anything else is refused with an error log and
//! the lines go on to the old descriptor and stderr. Only the writer
//! thread ([`super::writer`]) calls this: a stalled file system stalls it,
//! not requests.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
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
    /// Why the path was last refused (logged once).
    refused: Option<String>,
}

fn open(path: &Path) -> std::io::Result<(File, (u64, u64))> {
    let refused = |what: &str| {
        std::io::Error::other(format!(
            "{} is {what}, not a regular file; refusing to write decisions to it",
            path.display()
        ))
    };
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refused("a symbolic link"),
            // O_NONBLOCK write-open of a FIFO nobody reads.
            Some(libc::ENXIO) => refused("a FIFO or device"),
            _ => e,
        })?;
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Err(refused("a FIFO, socket or device"));
    }
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
                refused: None,
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

    /// Append one line or several, each with its newline (one `write`).
    /// Errors are returned to be counted; a decision never depends on them.
    pub fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.checked.elapsed() >= self.check_every {
            g.checked = Instant::now();
            // Not following a symlink: one planted there counts as moved
            // (and is then refused).
            let moved = match std::fs::symlink_metadata(&self.path) {
                Ok(m) => (m.dev(), m.ino()) != g.id,
                Err(_) => true,
            };
            if moved {
                match Self::reopen_locked(&self.path, &mut g) {
                    Ok(()) => g.refused = None,
                    Err(e) => {
                        // Once per different error, not once a second.
                        let e = e.to_string();
                        if g.refused.as_deref() != Some(e.as_str()) {
                            tracing::error!(file = %self.path.display(), error = %e, "decision log rotated but cannot be reopened; writing to the old file and stderr");
                            g.refused = Some(e);
                        }
                    }
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
