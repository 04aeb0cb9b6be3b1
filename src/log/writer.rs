//! The decision log's writer thread: stderr and the file are written off
//! the request path.
//!
//! A request only makes a non-blocking send of its line on a bounded
//! channel; a full channel (stderr or the file system stalled) counts the
//! line as dropped ([`dropped`]: metrics, `img-authz status`) and the
//! decision goes on. A hung file system, a full pipe on stderr or a FIFO
//! planted at the log path can stall this thread, never a request.
//!
//! Lines are written in batches: after the first line of a batch the
//! thread waits [`LINGER`] (not parked on the channel, so senders wake
//! nobody), then takes every line queued meanwhile and writes them with
//! one `write` per [`PIPE_BUF`] bytes of whole lines to stderr and one to
//! the file. A wake-up and a `write` per line cost a cached pull decision
//! about a third of its CPU (BENCHMARKS.md, 2026-12-06 profiles).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::file::LogFile;

/// Lines waiting for the writer.
pub const QUEUE: usize = 8192;

/// How long a batch gathers after its first line: what an idle decision
/// waits at most before it is written (a shutdown flushes at once).
pub const LINGER: Duration = Duration::from_millis(2);

/// Writes to stderr carry at most this many bytes of whole lines: a pipe
/// (journald, dockerd) takes them atomically, so the lines other threads
/// write to stderr (tracing) never land inside a decision line.
pub const PIPE_BUF: usize = 4096;

/// A batch is written out once it holds this many bytes.
const MAX_BATCH: usize = 256 * 1024;

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
        Writer::start_to(Box::new(std::io::stderr()), file)
    }

    /// [`Writer::start`] with `stderr` standing for the process's stderr.
    fn start_to(
        stderr: Box<dyn Write + Send>,
        file: Option<Arc<LogFile>>,
    ) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
        std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || Batches::new(stderr, file).run(&rx))?;
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
    /// A full queue is waited for too (it was refused at once before).
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (ack, done) = mpsc::sync_channel(1);
        let mut msg = Msg::Flush(ack);
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return false,
            }
        }
        done.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

/// The writer thread's state: the lines taken but not yet written.
struct Batches {
    stderr: Box<dyn Write + Send>,
    file: Option<Arc<LogFile>>,
    batch: Vec<u8>,
    /// Where each line of `batch` ends.
    ends: Vec<usize>,
    /// The last error logged, so a stuck path is reported once per
    /// change rather than per line.
    last: Option<String>,
}

impl Batches {
    fn new(stderr: Box<dyn Write + Send>, file: Option<Arc<LogFile>>) -> Batches {
        Batches {
            stderr,
            file,
            batch: Vec::with_capacity(64 * 1024),
            ends: Vec::new(),
            last: None,
        }
    }

    fn run(mut self, rx: &Receiver<Msg>) {
        while let Ok(first) = rx.recv() {
            if matches!(first, Msg::Line(_)) {
                // Let the lines of a busy moment gather (see the module).
                std::thread::sleep(LINGER);
            }
            let mut next = Some(first);
            loop {
                let m = match next.take().map_or_else(|| rx.try_recv(), Ok) {
                    Ok(m) => m,
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                };
                match m {
                    Msg::Line(l) => {
                        self.batch.extend_from_slice(&l);
                        self.ends.push(self.batch.len());
                        if self.batch.len() >= MAX_BATCH {
                            self.write_out();
                        }
                    }
                    Msg::Reopen => {
                        self.write_out();
                        if let Some(f) = &self.file {
                            match f.reopen() {
                                Ok(()) => {
                                    tracing::info!(file = %f.path().display(), "decision log reopened (SIGHUP)");
                                    self.last = None;
                                }
                                Err(e) => {
                                    tracing::error!(file = %f.path().display(), error = %e, "decision log not reopened; writing to the old file and stderr")
                                }
                            }
                        }
                    }
                    Msg::Flush(ack) => {
                        self.write_out();
                        let _ = ack.send(());
                    }
                }
            }
            self.write_out();
        }
    }

    /// Write the batch to stderr and the file, in order.
    fn write_out(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        for piece in pieces(&self.batch, &self.ends, PIPE_BUF) {
            // A failed write must not change anything else.
            let _ = self.stderr.write_all(piece);
        }
        if let Some(f) = &self.file {
            let r = f.write_line(&self.batch).map_err(|e| e.to_string());
            report(f, r.err(), &mut self.last);
        }
        self.batch.clear();
        self.ends.clear();
    }
}

/// `batch` cut after whole lines (`ends`: where each line ends) into
/// pieces of at most `max` bytes; a longer line is a piece of its own.
fn pieces<'a>(batch: &'a [u8], ends: &[usize], max: usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let (mut start, mut cut) = (0, 0);
    for &e in ends {
        if e - start > max && cut > start {
            out.extend(batch.get(start..cut));
            start = cut;
        }
        cut = e;
    }
    if cut > start {
        out.extend(batch.get(start..cut));
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Told when the first write starts; that write waits for the second.
    type Gate = (mpsc::Sender<()>, Receiver<()>);

    /// What the writer wrote to "stderr", write by write; the first write
    /// can be held until the test lets it go.
    #[derive(Clone, Default)]
    struct Sink {
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        /// (tell the test the first write started, wait for this).
        gate: Arc<Mutex<Option<Gate>>>,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let gate = self.gate.lock().unwrap().take();
            if let Some((started, release)) = gate {
                started.send(()).unwrap();
                release.recv().unwrap();
            }
            self.writes.lock().unwrap().push(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line(i: usize) -> Vec<u8> {
        format!(
            "{{\"decision\":\"allow\",\"n\":{i},\"pad\":\"{}\"}}\n",
            "x".repeat(i % 150)
        )
        .into_bytes()
    }

    #[test]
    fn pieces_are_whole_lines_of_at_most_max_bytes() {
        let lines: Vec<Vec<u8>> = [3, 5, 2, 9, 1, 4, 4]
            .iter()
            .map(|&n| {
                let mut l = vec![b'a'; n - 1];
                l.push(b'\n');
                l
            })
            .collect();
        let batch = lines.concat();
        let ends: Vec<usize> = lines
            .iter()
            .scan(0, |at, l| {
                *at += l.len();
                Some(*at)
            })
            .collect();
        let got = pieces(&batch, &ends, 8);
        // 3+5 fit; 2 alone (2+9 > 8); 9 is longer than 8: alone; 1+4; 4.
        let sizes: Vec<usize> = got.iter().map(|p| p.len()).collect();
        assert_eq!(sizes, [8, 2, 9, 5, 4]);
        assert_eq!(got.concat(), batch, "every byte once, in order");
        assert!(
            got.iter().all(|p| p.ends_with(b"\n")),
            "cut after lines only"
        );
        assert!(pieces(&[], &[], 8).is_empty());
    }

    /// Every line reaches stderr and the file, in order, in writes of whole
    /// lines no larger than PIPE_BUF, and lines queued while the writer is
    /// busy share writes instead of costing one each (they cost one each
    /// before batching).
    #[test]
    fn every_line_is_written_in_order_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decisions.log");
        let file = Arc::new(LogFile::open(&path, Duration::from_secs(3600)).unwrap());
        let sink = Sink::default();
        let (started, wait_started) = mpsc::channel();
        let (release, wait_release) = mpsc::channel();
        *sink.gate.lock().unwrap() = Some((started, wait_release));
        let w = Writer::start_to(Box::new(sink.clone()), Some(file)).unwrap();
        let n = 2000;
        w.write(line(0));
        // The writer is now inside its first write: the rest queue up.
        wait_started.recv().unwrap();
        for i in 1..n {
            w.write(line(i));
        }
        release.send(()).unwrap();
        assert!(w.flush(Duration::from_secs(10)), "the writer is stuck");
        let want: Vec<u8> = (0..n).flat_map(line).collect();
        let writes = sink.writes.lock().unwrap().clone();
        assert_eq!(writes.concat(), want, "stderr: every line, in order");
        assert_eq!(std::fs::read(&path).unwrap(), want, "the file: the same");
        assert!(
            writes
                .iter()
                .all(|w| w.len() <= PIPE_BUF && w.ends_with(b"\n")),
            "a write larger than PIPE_BUF or cutting a line"
        );
        assert!(
            writes.len() <= 2 + want.len() / (PIPE_BUF - 200),
            "{} writes for {n} queued lines: not batched",
            writes.len()
        );
    }

    /// While stderr is stalled, the queue fills and every line past it is
    /// counted as dropped; the queued ones are written once it resumes.
    #[test]
    fn a_stalled_writer_counts_each_dropped_line() {
        let sink = Sink::default();
        let (started, wait_started) = mpsc::channel();
        let (release, wait_release) = mpsc::channel();
        *sink.gate.lock().unwrap() = Some((started, wait_release));
        let w = Writer::start_to(Box::new(sink.clone()), None).unwrap();
        w.write(line(0));
        wait_started.recv().unwrap();
        let before = dropped();
        for i in 1..=QUEUE + 5 {
            w.write(line(i));
        }
        assert_eq!(dropped() - before, 5, "the lines past the queue");
        release.send(()).unwrap();
        assert!(w.flush(Duration::from_secs(10)), "the writer is stuck");
        let want: Vec<u8> = (0..=QUEUE).flat_map(line).collect();
        assert_eq!(sink.writes.lock().unwrap().concat(), want);
    }
}
