//! The decision log's writer thread: stderr and the file are written off
//! the request path.
//!
//! A request only makes a non-blocking send of its line on a bounded
//! channel; a full channel (stderr or the file system stalled) counts the
//! line as dropped ([`dropped`]: metrics, `img-authz status`) and the
//! decision goes on. A hung file system, a full pipe on stderr or a FIFO
//! planted at the log path can stall this thread, never a request.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use super::file::LogFile;

/// Lines waiting for the writer.
pub const QUEUE: usize = 8192;

static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Lines lost because the writer fell behind (or is gone), process-wide.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Prometheus text for `/metrics`.
pub fn render(out: &mut String) {
    out.push_str("# HELP img_authz_decision_log_lines_dropped_total Decision-log lines lost because stderr or the file could not keep up.\n");
    out.push_str("# TYPE img_authz_decision_log_lines_dropped_total counter\n");
    out.push_str(&format!(
        "img_authz_decision_log_lines_dropped_total {}\n",
        dropped()
    ));
}

enum Msg {
    Line(Vec<u8>),
    /// Reopen the file (SIGHUP).
    Reopen,
    /// Answer once everything sent before is written (tests, shutdown).
    Flush(SyncSender<()>),
}

/// The request path's end of the writer thread.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: SyncSender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Line(_) => "Line",
            Msg::Reopen => "Reopen",
            Msg::Flush(_) => "Flush",
        })
    }
}

impl Writer {
    /// Start the thread writing to stderr and, when given, to `file`.
    pub fn start(file: Option<Arc<LogFile>>) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
        std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || {
                // The last error logged, so a stuck path is reported once
                // per change rather than per line.
                let mut last: Option<String> = None;
                for m in rx {
                    match m {
                        Msg::Line(l) => {
                            // A failed write must not change anything else.
                            let _ = std::io::stderr().lock().write_all(&l);
                            if let Some(f) = &file {
                                let r = f.write_line(&l).map_err(|e| e.to_string());
                                report(f, r.err(), &mut last);
                            }
                        }
                        Msg::Reopen => {
                            if let Some(f) = &file {
                                match f.reopen() {
                                    Ok(()) => {
                                        tracing::info!(file = %f.path().display(), "decision log reopened (SIGHUP)");
                                        last = None;
                                    }
                                    Err(e) => {
                                        tracing::error!(file = %f.path().display(), error = %e, "decision log not reopened; writing to the old file and stderr")
                                    }
                                }
                            }
                        }
                        Msg::Flush(ack) => {
                            let _ = ack.send(());
                        }
                    }
                }
            })?;
        Ok(Writer { tx })
    }

    /// Hand a line (with its newline) to the writer without waiting.
    pub fn write(&self, line: Vec<u8>) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.tx.try_send(Msg::Line(line))
        {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Ask for the file to be reopened (SIGHUP); never waits.
    pub fn reopen(&self) {
        let _ = self.tx.try_send(Msg::Reopen);
    }

    /// Wait, at most `timeout`, until every line sent before is written.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (ack, done) = mpsc::sync_channel(1);
        if self.tx.try_send(Msg::Flush(ack)).is_err() {
            return false;
        }
        done.recv_timeout(timeout).is_ok()
    }
}

fn report(f: &LogFile, err: Option<String>, last: &mut Option<String>) {
    if err == *last {
        return;
    }
    if let Some(e) = &err {
        tracing::error!(file = %f.path().display(), error = %e, "decision log file not written; decisions still go to stderr");
    }
    *last = err;
}
