//! The trace recorder: every request as a [`RequestRecord`] and every
//! interval as a [`Snapshot`], written by a background thread to rotating
//! files that `poolcast-datasets` reads (`read_recorder_requests`,
//! `read_recorder_snapshots`); `poolcast train` takes a directory of
//! snapshot files as one run, to fit a model to the traffic the pool
//! served.
//!
//! - `requests-000001.csv`: `arrival_ns,class,pattern_hash,acquire_wait_ns,hold_ns,outcome,category,client`
//!   (`class`, `outcome` and `category` by name, as in the Parquet
//!   telemetry; `client` a hash of the calling tokio task, 0 outside one);
//! - `snapshots-000001.jsonl`: one JSON [`Snapshot`] per line.
//!
//! Memory is bounded: records go through a channel of `capacity` entries
//! and are dropped (and counted) when the writer falls behind, so the
//! pool never blocks on the disk. Files rotate after `max_rows` rows; only
//! the newest `max_files` of each kind are kept.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use crate::core::config_error::{ConfigError, join};
use crate::core::telemetry::RecorderFile;
use crate::core::{RequestRecord, Snapshot};

/// Settings of a [`TraceRecorder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Directory of the trace files (created if missing).
    pub dir: PathBuf,
    /// Records buffered between the pool and the writer thread.
    pub capacity: usize,
    /// Rows per file before rotating.
    pub max_rows: u64,
    /// Files of each kind kept; older ones are deleted.
    pub max_files: usize,
}

/// The most records a recorder buffers (about 64 bytes each).
pub const MAX_RECORDER_CAPACITY: usize = 1 << 24;

/// The most files of each kind a recorder keeps.
pub const MAX_RECORDER_FILES: usize = 100_000;

impl RecorderConfig {
    /// Checks the sizes: `capacity` in 1..=[`MAX_RECORDER_CAPACITY`],
    /// `max_rows` at least 1, `max_files` in 1..=[`MAX_RECORDER_FILES`]
    /// (0 would delete every file as soon as it is written).
    ///
    /// # Errors
    /// Names the field and the range expected.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let out_of = |field: &str, v: u64, max: u64, why: &str| {
            Err(ConfigError::new(
                join("recorder", field),
                format!("expected 1..={max}{why}, found {v}"),
            ))
        };
        if !(1..=MAX_RECORDER_CAPACITY).contains(&self.capacity) {
            return out_of(
                "capacity",
                self.capacity as u64,
                MAX_RECORDER_CAPACITY as u64,
                "",
            );
        }
        if self.max_rows == 0 {
            return out_of("max_rows", 0, u64::MAX, "");
        }
        if !(1..=MAX_RECORDER_FILES).contains(&self.max_files) {
            return out_of(
                "max_files",
                self.max_files as u64,
                MAX_RECORDER_FILES as u64,
                " (0 would delete every file as soon as it is written)",
            );
        }
        Ok(())
    }

    /// Defaults: 65,536 buffered records, 1,000,000 rows per file, 10 files.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RecorderConfig {
            dir: dir.into(),
            capacity: 65_536,
            max_rows: 1_000_000,
            max_files: 10,
        }
    }
}

enum Msg {
    Request(RequestRecord),
    Snapshot(Box<Snapshot>),
    Flush(SyncSender<()>),
}

/// A handle on the recorder thread; clones share it. The thread flushes
/// and ends when the last handle is dropped.
#[derive(Clone)]
pub struct TraceRecorder {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
}

impl std::fmt::Debug for TraceRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceRecorder")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

/// The CSV header of request files.
pub use crate::core::telemetry::REQUEST_CSV_HEADER as REQUEST_HEADER;

struct Rotating {
    dir: PathBuf,
    kind: RecorderFile,
    header: Option<&'static str>,
    max_rows: u64,
    max_files: usize,
    seq: u64,
    rows: u64,
    out: Option<BufWriter<File>>,
}

impl Rotating {
    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(self.kind.name(seq))
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.out.is_none() || self.rows >= self.max_rows {
            if let Some(mut w) = self.out.take() {
                w.flush()?;
            }
            self.seq += 1;
            self.rows = 0;
            let mut w = BufWriter::new(File::create(self.path(self.seq))?);
            if let Some(h) = self.header {
                writeln!(w, "{h}")?;
            }
            self.out = Some(w);
            if self.seq > self.max_files as u64 {
                let old = self.path(self.seq - self.max_files as u64);
                let _ = std::fs::remove_file(old);
            }
        }
        self.rows += 1;
        // Just set above.
        Ok(self.out.as_mut().expect("writer opened above"))
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

fn first_free_seq(dir: &Path, kind: RecorderFile) -> u64 {
    // Continue after files a previous process left, never overwrite them.
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| kind.seq(e.file_name().to_str()?))
        .max()
        .unwrap_or(0)
}

fn write_loop(rx: Receiver<Msg>, cfg: RecorderConfig, errors: Arc<AtomicU64>) {
    let mut req = Rotating {
        seq: first_free_seq(&cfg.dir, RecorderFile::Requests),
        dir: cfg.dir.clone(),
        kind: RecorderFile::Requests,
        header: Some(REQUEST_HEADER),
        max_rows: cfg.max_rows,
        max_files: cfg.max_files,
        rows: 0,
        out: None,
    };
    let mut snap = Rotating {
        seq: first_free_seq(&cfg.dir, RecorderFile::Snapshots),
        dir: cfg.dir.clone(),
        kind: RecorderFile::Snapshots,
        header: None,
        max_rows: cfg.max_rows,
        max_files: cfg.max_files,
        rows: 0,
        out: None,
    };
    let mut warned = false;
    let mut fail = |e: io::Error| {
        errors.fetch_add(1, Ordering::Relaxed);
        if !warned {
            tracing::error!(error = %e, dir = %cfg.dir.display(), "trace recorder cannot write; records are lost");
            warned = true;
        }
    };
    while let Ok(msg) = rx.recv() {
        let r = match msg {
            Msg::Request(r) => req.writer().and_then(|w| {
                writeln!(
                    w,
                    "{},{},{},{},{},{},{},{}",
                    r.arrival_ns,
                    r.class.name(),
                    r.pattern_hash,
                    r.acquire_wait_ns,
                    r.hold_ns,
                    r.outcome.name(),
                    r.outcome.category().map_or("", |c| c.name()),
                    r.client
                )
            }),
            Msg::Snapshot(s) => snap.writer().and_then(|w| {
                serde_json::to_writer(&mut *w, &*s).map_err(io::Error::other)?;
                writeln!(w)
            }),
            Msg::Flush(ack) => {
                let r = req.flush().and(snap.flush());
                let _ = ack.send(());
                r
            }
        };
        if let Err(e) = r {
            fail(e);
        }
    }
    if let Err(e) = req.flush().and(snap.flush()) {
        fail(e);
    }
}

impl TraceRecorder {
    /// Starts the writer thread.
    ///
    /// # Errors
    /// When a size is out of range ([`RecorderConfig::validate`], as
    /// `InvalidInput`) or the directory cannot be created.
    pub fn start(cfg: RecorderConfig) -> io::Result<Self> {
        cfg.validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        std::fs::create_dir_all(&cfg.dir)?;
        let (tx, rx) = sync_channel(cfg.capacity);
        let errors = Arc::new(AtomicU64::new(0));
        let e = Arc::clone(&errors);
        std::thread::Builder::new()
            .name("poolcast-trace".into())
            .spawn(move || write_loop(rx, cfg, e))?;
        Ok(TraceRecorder {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
            errors,
        })
    }

    fn send(&self, m: Msg) {
        match self.tx.try_send(m) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Records one request (never blocks; dropped when the buffer is full).
    pub fn request(&self, r: RequestRecord) {
        self.send(Msg::Request(r));
    }

    /// Records one snapshot (never blocks; dropped when the buffer is full).
    pub fn snapshot(&self, s: &Snapshot) {
        self.send(Msg::Snapshot(Box::new(s.clone())));
    }

    /// Writes everything buffered so far to disk (waits up to 5 s).
    pub fn flush(&self) {
        let (ack, done) = sync_channel(1);
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(Duration::from_secs(5));
        }
    }

    /// Records dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Write errors so far.
    pub fn write_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}
