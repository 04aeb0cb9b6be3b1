//! The bounded on-disk buffer of decision events waiting to be shipped.
//!
//! Events are appended (one JSON object per line) to an open segment
//! `NNNNNNNNNNNNNNNN.open`; a segment is sealed (renamed `.seg`) when it
//! reaches the batch size or age, and a sealed segment is one POST. It is
//! deleted only after the collector answered 2xx. Segments left by an
//! earlier run (sealed or open) are shipped after a restart. The buffer
//! never holds more than its byte limit: to make room the oldest segment
//! not being sent is deleted, and every event lost that way, or too large
//! to fit at all, is counted as dropped.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A sealed segment: one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    seq: u64,
    bytes: u64,
    events: u64,
}

#[derive(Debug)]
struct OpenSegment {
    seq: u64,
    file: File,
    bytes: u64,
    events: u64,
    since: Instant,
}

/// A batch handed to the sender.
#[derive(Debug)]
pub struct Batch {
    pub seq: u64,
    pub events: u64,
    /// JSON objects, one per line.
    pub lines: Vec<u8>,
}

#[derive(Debug)]
pub struct Buffer {
    dir: PathBuf,
    limit: u64,
    sealed: VecDeque<Segment>,
    open: Option<OpenSegment>,
    next_seq: u64,
    in_flight: Option<u64>,
    bytes: u64,
    /// Held for the buffer's life: one shipper per directory.
    _lock: File,
}

fn name(dir: &Path, seq: u64, ext: &str) -> PathBuf {
    dir.join(format!("{seq:016}.{ext}"))
}

/// Why the buffer cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error("{}: {source}", dir.display())]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is used by another img-authz; give each one its own \
         IMG_AUTHZ_DECISION_LOG_BUFFER_DIR",
        .0.display()
    )]
    Locked(PathBuf),
}

impl Buffer {
    /// Open (create) the buffer in `dir`, taking over what an earlier run
    /// left there.
    pub fn open(dir: &Path, limit: u64) -> Result<Buffer, BufferError> {
        let ctx = |source: std::io::Error| BufferError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(ctx)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(ctx)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(BufferError::Locked(dir.to_path_buf()))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(ctx(e)),
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(ctx)? {
            let path = entry.map_err(ctx)?.path();
            let (Some(stem), Some(ext)) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            let Ok(seq) = stem.parse::<u64>() else {
                continue;
            };
            if ext != "seg" && ext != "open" {
                continue;
            }
            let data = std::fs::read(&path).map_err(ctx)?;
            // A line cut by a crash is not an event: drop the tail.
            let whole = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let events = data.iter().filter(|&&b| b == b'\n').count() as u64;
            if ext == "open" || whole != data.len() {
                let sealed = name(dir, seq, "seg");
                std::fs::write(&sealed, data.get(..whole).unwrap_or_default()).map_err(ctx)?;
                if ext == "open" {
                    std::fs::remove_file(&path).map_err(ctx)?;
                }
            }
            if events == 0 {
                let _ = std::fs::remove_file(name(dir, seq, "seg"));
                continue;
            }
            found.push(Segment {
                seq,
                bytes: whole as u64,
                events,
            });
        }
        found.sort_by_key(|s| s.seq);
        let next_seq = found.last().map_or(1, |s| s.seq + 1);
        let bytes = found.iter().map(|s| s.bytes).sum();
        let mut b = Buffer {
            dir: dir.to_path_buf(),
            limit,
            sealed: found.into(),
            open: None,
            next_seq,
            in_flight: None,
            bytes,
            _lock: lock,
        };
        // A smaller limit than last run's: keep the newest.
        let dropped = b.make_room(0);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "decision-log buffer larger than IMG_AUTHZ_DECISION_LOG_BUFFER_BYTES; oldest events dropped"
            );
            super::ship::STATS.dropped(super::ship::DropReason::BufferFull, dropped);
        }
        Ok(b)
    }

    /// Bytes held (sealed and open).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Events held.
    pub fn events(&self) -> u64 {
        self.sealed.iter().map(|s| s.events).sum::<u64>()
            + self.open.as_ref().map_or(0, |o| o.events)
    }

    /// Delete the oldest segments not being sent until `need` more bytes
    /// fit; returns the events deleted.
    fn make_room(&mut self, need: u64) -> u64 {
        let mut dropped = 0;
        while self.bytes + need > self.limit {
            let victim = self
                .sealed
                .iter()
                .position(|s| Some(s.seq) != self.in_flight);
            match victim {
                Some(i) => {
                    if let Some(s) = self.sealed.remove(i) {
                        let _ = std::fs::remove_file(name(&self.dir, s.seq, "seg"));
                        self.bytes -= s.bytes;
                        dropped += s.events;
                    }
                }
                None if self.open.as_ref().is_some_and(|o| o.events > 0) => self.seal(),
                None => break,
            }
        }
        dropped
    }

    /// Append one event (a JSON object without newline). Returns how many
    /// events were dropped to hold it, or it, when it cannot fit.
    pub fn append(&mut self, event: &[u8]) -> u64 {
        let need = event.len() as u64 + 1;
        if need > self.limit {
            return 1;
        }
        let dropped = self.make_room(need);
        if self.bytes + need > self.limit {
            return dropped + 1;
        }
        if self.open.is_none() {
            let seq = self.next_seq;
            self.next_seq += 1;
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(name(&self.dir, seq, "open"));
            match file {
                Ok(file) => {
                    self.open = Some(OpenSegment {
                        seq,
                        file,
                        bytes: 0,
                        events: 0,
                        since: Instant::now(),
                    })
                }
                Err(e) => {
                    tracing::warn!(error = %e, dir = %self.dir.display(), "decision-log buffer: cannot create a segment; event dropped");
                    return dropped + 1;
                }
            }
        }
        let Some(o) = self.open.as_mut() else {
            return dropped + 1;
        };
        let mut line = Vec::with_capacity(event.len() + 1);
        line.extend_from_slice(event);
        line.push(b'\n');
        if let Err(e) = o.file.write_all(&line) {
            // The segment may now end in a partial line (the sender skips
            // it); seal what it had.
            tracing::warn!(error = %e, dir = %self.dir.display(), "decision-log buffer: write failed; event dropped");
            self.seal();
            return dropped + 1;
        }
        o.bytes += need;
        o.events += 1;
        self.bytes += need;
        dropped
    }

    /// Seal the open segment when it holds `batch_bytes` or is older than
    /// `flush`. Returns whether a batch became ready.
    pub fn seal_due(&mut self, batch_bytes: u64, flush: Duration) -> bool {
        let due = self.open.as_ref().is_some_and(|o| {
            o.events > 0 && (o.bytes >= batch_bytes || o.since.elapsed() >= flush)
        });
        if due {
            self.seal();
        }
        due
    }

    fn seal(&mut self) {
        let Some(o) = self.open.take() else {
            return;
        };
        drop(o.file);
        let from = name(&self.dir, o.seq, "open");
        if o.events == 0 {
            let _ = std::fs::remove_file(&from);
            return;
        }
        if let Err(e) = std::fs::rename(&from, name(&self.dir, o.seq, "seg")) {
            tracing::warn!(error = %e, "decision-log buffer: cannot seal a segment");
        }
        self.sealed.push_back(Segment {
            seq: o.seq,
            bytes: o.bytes,
            events: o.events,
        });
    }

    /// The oldest sealed batch, now in flight. `None` when there is none or
    /// one is already being sent.
    pub fn take(&mut self) -> Option<Batch> {
        if self.in_flight.is_some() {
            return None;
        }
        loop {
            let s = self.sealed.front()?.clone();
            match std::fs::read(name(&self.dir, s.seq, "seg")) {
                Ok(lines) => {
                    self.in_flight = Some(s.seq);
                    return Some(Batch {
                        seq: s.seq,
                        events: s.events,
                        lines,
                    });
                }
                Err(e) => {
                    // Deleted under us: those events are lost; say so.
                    tracing::warn!(error = %e, "decision-log buffer: a segment vanished");
                    self.sealed.pop_front();
                    self.bytes -= s.bytes;
                    super::ship::STATS.dropped(super::ship::DropReason::BufferFull, s.events);
                }
            }
        }
    }

    /// The collector took `seq` (2xx): delete it.
    pub fn delivered(&mut self, seq: u64) {
        if self.in_flight == Some(seq) {
            self.in_flight = None;
        }
        if let Some(i) = self.sealed.iter().position(|s| s.seq == seq) {
            if let Some(s) = self.sealed.remove(i) {
                self.bytes -= s.bytes;
                let _ = std::fs::remove_file(name(&self.dir, s.seq, "seg"));
            }
        }
    }

    /// Sending `seq` failed: it stays, oldest first.
    pub fn failed(&mut self, seq: u64) {
        if self.in_flight == Some(seq) {
            self.in_flight = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u32) -> Vec<u8> {
        format!("{{\"n\":{i:04}}}").into_bytes() // 10 bytes + newline = 11
    }

    #[test]
    fn batches_by_size_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Buffer::open(dir.path(), 10_000).unwrap();
        for i in 0..3 {
            assert_eq!(b.append(&ev(i)), 0);
        }
        assert!(!b.seal_due(34, Duration::from_secs(60)), "33 bytes < 34");
        assert!(b.take().is_none(), "nothing sealed yet");
        b.append(&ev(3));
        assert!(b.seal_due(34, Duration::from_secs(60)));
        let batch = b.take().unwrap();
        assert_eq!(batch.events, 4);
        assert_eq!(batch.lines.split(|&c| c == b'\n').count(), 5);
        b.append(&ev(4));
        assert!(b.seal_due(1_000, Duration::ZERO), "aged");
        assert!(b.take().is_none(), "one batch in flight at a time");
        b.delivered(batch.seq);
        let next = b.take().unwrap();
        assert_eq!(next.events, 1);
        assert_eq!(b.bytes(), 11);
        b.failed(next.seq);
        assert_eq!(
            b.take().unwrap().seq,
            next.seq,
            "a failed batch is retried first"
        );
    }

    #[test]
    fn full_buffer_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Buffer::open(dir.path(), 55).unwrap(); // room for 5 events
        let mut dropped = 0;
        for i in 0..5 {
            dropped += b.append(&ev(i));
            b.seal_due(22, Duration::from_secs(60)); // 2 events a batch
        }
        assert_eq!(dropped, 0);
        assert_eq!(b.bytes(), 55);
        dropped += b.append(&ev(5));
        assert_eq!(dropped, 2, "the oldest batch (2 events) made room");
        assert!(b.bytes() <= 55);
        assert_eq!(b.events() + dropped, 6, "every event is held or counted");
        // A batch being sent is never the one deleted.
        let sending = b.take().unwrap();
        for i in 6..20 {
            dropped += b.append(&ev(i));
            b.seal_due(22, Duration::from_secs(60));
        }
        assert!(b.bytes() <= 55);
        assert_eq!(b.events() + dropped, 20);
        b.delivered(sending.seq);
        assert!(!dir.path().join(format!("{:016}.seg", sending.seq)).exists());
        // An event larger than the whole buffer is dropped alone.
        assert_eq!(b.append(&[b'x'; 60]), 1);
    }

    #[test]
    fn a_restart_ships_what_was_left() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut b = Buffer::open(dir.path(), 10_000).unwrap();
            b.append(&ev(1));
            b.seal_due(0, Duration::ZERO);
            b.append(&ev(2)); // still open at "exit"
            assert!(
                Buffer::open(dir.path(), 10_000).is_err(),
                "a second shipper on the same buffer is refused"
            );
        }
        let mut b = Buffer::open(dir.path(), 10_000).unwrap();
        assert_eq!(b.events(), 2);
        let first = b.take().unwrap();
        assert_eq!(first.lines, b"{\"n\":0001}\n");
        b.delivered(first.seq);
        assert_eq!(b.take().unwrap().lines, b"{\"n\":0002}\n");
        b.append(&ev(3));
        assert!(b.seal_due(0, Duration::ZERO));
    }
}
